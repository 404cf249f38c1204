"""HTTP: a Starlette route table built from the registry snapshot, swapped by one reference.

:class:`HttpApp` is the ASGI application uvicorn serves. It holds the current
:class:`RouteTable`; :meth:`HttpApp.swap` replaces it with one assignment, so a request that
started on the old table finishes on the old handler. Each route's call chain (middlewares,
body/query validation, response conversion, error handling) is prepared when the table is
built, not per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from loader.errors import LoaderError
from loader.kinds.middlewares import MiddlewareRoute, compile_matcher
from loader.runtime.handlers import error_response, internal_error, prepare_handler
from loader.types import Resource

__all__ = ["HttpApp", "RouteTable", "build_route_table"]


Endpoint = Callable[[Request], Awaitable[Response]]
Lifespan = Callable[[], Awaitable[Any]]


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


_HEALTH = Route("/health", _health, methods=["GET"])


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(404, "not_found", f"no route for {scope.get('method', '')} {scope.get('path', '')}")
    await response(scope, receive, send)


def _route_sort_key(path: str) -> tuple[int, ...]:
    # Static segments beat parameters at the same place, whatever root a route came from.
    return tuple(1 if segment.startswith("{") else 0 for segment in path.strip("/").split("/"))


class RouteTable:
    """An immutable route table: a Starlette Router plus what it was built from.

    Building a Starlette ``Route`` (compiling its path, preparing its endpoint) is most of the
    cost of a table. Given ``previous`` and the paths that changed (``changed_paths``), a new
    table rebuilds those paths only and reuses every other prepared route and the order, so a
    reload of one route file costs one route, whatever the size of the project. Without them
    (at boot, or when middlewares change) every route is built.
    """

    def __init__(
        self,
        routes: list[Resource],
        middlewares: list[Resource],
        version: int = 0,
        previous: RouteTable | None = None,
        changed_paths: set[str] | None = None,
    ) -> None:
        self.version = version
        self.resources = tuple(routes)
        self._middleware_key: tuple[int, ...] = tuple(id(mw.obj) for mw in middlewares)
        incremental = previous is not None and changed_paths is not None and previous._middleware_key == self._middleware_key
        wanted = changed_paths if incremental and changed_paths is not None else None
        by_path: dict[str, dict[str, Resource]] = {}
        for resource in routes:
            path = resource.meta["path"]
            if wanted is None or path in wanted:
                by_path.setdefault(path, {})[resource.meta["method"]] = resource
        candidates = [
            (compile_matcher(entry.matcher), {m.upper() for m in entry.methods}, list(entry.middlewares))
            for mw in middlewares
            for entry in mw.obj
            if isinstance(entry, MiddlewareRoute)
        ]
        self._routes: dict[str, Route] = dict(previous._routes) if incremental and previous is not None else {}
        order: list[str] | None = None
        if incremental and previous is not None and wanted is not None:
            gone = [p for p in wanted if p in self._routes and p not in by_path]
            new = [p for p in by_path if p not in self._routes]
            for path in gone:
                del self._routes[path]
            order = previous._order if not gone and not new else None  # same paths: same order
        for path, handlers in by_path.items():
            self._routes[path] = self._route(path, handlers, candidates)
        self._order: list[str] = order if order is not None else sorted(self._routes, key=lambda p: (_route_sort_key(p), p))
        self.router = Router(routes=[*(self._routes[p] for p in self._order), _HEALTH], default=_not_found)

    @staticmethod
    def _route(path: str, handlers: dict[str, Resource], candidates: list[Any]) -> Route:
        prepared: dict[str, Endpoint] = {}
        for method, resource in handlers.items():
            relevant = [(pattern, mws) for pattern, methods, mws in candidates if not methods or method in methods]
            prepared[method] = _with_middlewares(prepare_handler(resource), relevant)
        if "GET" in prepared and "HEAD" not in prepared:
            prepared["HEAD"] = prepared["GET"]

        async def dispatch(request: Request) -> Response:
            return await prepared[request.method](request)

        return Route(path, dispatch, methods=list(prepared))

    def __repr__(self) -> str:
        return f"<RouteTable v{self.version}: {len(self.resources)} handlers>"


def _with_middlewares(endpoint: Endpoint, candidates: list[tuple[Any, list[Any]]]) -> Endpoint:
    """Wrap an endpoint in the middlewares whose matcher fits the request path (outermost first)."""
    if not candidates:
        return endpoint

    async def call(request: Request) -> Response:
        chain = endpoint
        for pattern, mws in reversed(candidates):
            if pattern.match(request.url.path):
                for mw in reversed(mws):
                    chain = _link(mw, chain)
        try:
            return await chain(request)
        except Exception as exc:  # a middleware that raises is a 500 like a handler
            return internal_error(request, "in a middleware", exc)

    return call


def _link(middleware: Callable[..., Awaitable[Response]], call_next: Endpoint) -> Endpoint:
    async def linked(request: Request) -> Response:
        return await middleware(request, call_next)

    return linked


def build_route_table(
    routes: list[Resource], middlewares: list[Resource], version: int = 0,
    previous: RouteTable | None = None, changed_paths: set[str] | None = None,
) -> RouteTable:
    return RouteTable(routes, middlewares, version, previous, changed_paths)


class HttpApp:
    """The ASGI app: lifespan, the current route table, JSON errors for 404/405."""

    def __init__(self, table: RouteTable, *, on_startup: Lifespan | None = None, on_shutdown: Lifespan | None = None) -> None:
        self.table = table
        self.state = State()
        #: Paths loader answers itself before the route table, e.g. ``/_loader/inspect`` in develop.
        self.internal: dict[str, Endpoint] = {}
        self._on_startup, self._on_shutdown = on_startup, on_shutdown

    def next_table(
        self, routes: list[Resource], middlewares: list[Resource], version: int, changed_paths: set[str] | None = None
    ) -> RouteTable:
        """A new table from the current one; only ``changed_paths`` are built again (all when None)."""
        return RouteTable(routes, middlewares, version, self.table, changed_paths)

    def swap(self, table: RouteTable) -> None:
        """Serve ``table`` from the next request on; requests in flight keep the old one."""
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        scope["app"] = self
        internal = self.internal.get(scope.get("path", "")) if self.internal else None
        if internal is not None and scope["type"] == "http":
            response = await internal(Request(scope, receive))
            await response(scope, receive, send)
            return
        router = self.table.router  # one read: this request uses this table to the end
        try:
            await router(scope, receive, send)
        except HTTPException as exc:  # Starlette raises 405 as an exception when scope has "app"
            allowed = (exc.headers or {}).get("Allow", "")
            extra = {"allowed": [m.strip() for m in allowed.split(",") if m.strip()]} if exc.status_code == 405 else {}
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
            response = error_response(exc.status_code, code, str(exc.detail), **extra)
            if exc.headers:
                response.headers.update(exc.headers)
            await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._on_startup:
                        await self._on_startup()
                except Exception as exc:
                    # the server prints this message (uvicorn: "ERROR: <message>") and exits
                    text = exc.format() if isinstance(exc, LoaderError) else f"{type(exc).__name__}: {exc}"
                    await send({"type": "lifespan.startup.failed", "message": text})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    if self._on_shutdown:
                        await self._on_shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

