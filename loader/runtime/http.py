"""HTTP: a Starlette route table built from the registry snapshot, edited in place on reload.

:class:`HttpApp` is the ASGI application uvicorn serves. It holds the current
:class:`RouteTable`: a reload plans an edit of it (the changed URL paths, built) and applies it
in place, or swaps in a whole new table when the middlewares changed; either way a request in
flight finishes on the handler it matched. Each route's call chain (middlewares, body/query
validation, response conversion, error handling) is prepared when its route is built, not per
request. What no route answers (404, 405, ``OPTIONS``) goes through the same middlewares, prepared
when it happens (:meth:`RouteTable.answer`).
"""

from __future__ import annotations

import asyncio
import bisect
import inspect
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from loader.config.models import DEFAULT_MAX_BODY_SIZE, CorsConfig
from loader.errors import LoaderError
from loader.kinds.middlewares import MiddlewareRoute, compile_matcher
from loader.runtime.handlers import error_response, http_error, prepare_handler, response_for
from loader.types import HTTP_METHODS, Resource

__all__ = ["HttpApp", "RouteTable", "TableEdit", "build_route_table"]


Endpoint = Callable[[Request], Awaitable[Response]]
Lifespan = Callable[[], Awaitable[Any]]


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _route_sort_key(path: str) -> tuple[int, ...]:
    # Static segments beat parameters at the same place, whatever root a route came from.
    return tuple(1 if segment.startswith("{") else 0 for segment in path.strip("/").split("/"))


@dataclass(frozen=True)
class TableEdit:
    """A change of handlers, prepared against one table: the changed URL paths, built.

    ``handlers`` maps each changed path to its handlers afterwards (empty: the path goes);
    ``routes`` holds the Starlette route of every path that stays.
    """

    version: int
    handlers: dict[str, dict[str, Resource]]
    routes: dict[str, Route]


class RouteTable:
    """The route table: a Starlette Router plus what it was built from.

    Building a Starlette ``Route`` (compiling its path, preparing its endpoint) is most of the
    cost of a table. A reload changes it in two steps, so that its cost follows the change and
    not the project's size: :meth:`plan` builds the routes of the changed URL paths (the part
    that can fail) and touches nothing; :meth:`apply` then puts them in place, by bisection into
    the sorted route list, where nothing can fail. Requests are served on the one event loop that
    applies the edit, and Starlette's Router matches a request without awaiting, so no request
    sees half an edit, and a request in flight finishes on the endpoint it matched. A change of
    middlewares (or the boot) builds every route: a new table, swapped by one reference.
    """

    def __init__(self, routes: list[Resource], middlewares: list[Resource], version: int = 0) -> None:
        self.version = version
        self._middleware_key: tuple[int, ...] = tuple(id(mw.obj) for mw in middlewares)
        self._candidates = _candidates(middlewares)
        self._handlers: dict[str, dict[str, Resource]] = {}
        for resource in routes:
            self._handlers.setdefault(resource.meta["path"], {})[resource.meta["method"]] = resource
        self._keys = sorted(_route_key(p) for p in self._handlers)  # (shape, path), sorted
        self._health = Route("/health", _with_middlewares(_health, _for_method(self._candidates, "GET")), methods=["GET"])
        # The router's own list, in the order of _keys, with /health last: edited in place.
        self.router = Router(
            routes=[*(self._route(path, self._handlers[path], self._candidates) for _, path in self._keys), self._health],
            default=self._not_found,
        )

    @property
    def resources(self) -> tuple[Resource, ...]:
        """Every handler the table serves, in the order of its URL paths."""
        return tuple(r for _, path in self._keys for r in self._handlers[path].values())

    def plan(
        self, removed: list[Resource], added: list[Resource], middlewares: list[Resource], version: int
    ) -> TableEdit | RouteTable:
        """The edit that takes ``removed`` handlers out and puts ``added`` ones in; a whole new
        table when the middlewares changed. Nothing is changed yet."""
        if tuple(id(mw.obj) for mw in middlewares) != self._middleware_key:
            gone = {id(r) for r in removed}
            kept = [r for r in self.resources if id(r) not in gone]
            return RouteTable([*kept, *added], middlewares, version)
        handlers: dict[str, dict[str, Resource]] = {}

        def current(path: str) -> dict[str, Resource]:
            return handlers[path] if path in handlers else self._handlers.get(path, {})

        for resource in removed:
            path, method = resource.meta["path"], resource.meta["method"]
            if current(path).get(method) is resource:
                handlers[path] = {m: r for m, r in current(path).items() if m != method}
        for resource in added:
            path = resource.meta["path"]
            handlers[path] = {**current(path), resource.meta["method"]: resource}
        routes = {path: self._route(path, methods, self._candidates) for path, methods in handlers.items() if methods}
        return TableEdit(version, handlers, routes)

    def apply(self, edit: TableEdit) -> None:
        """Put a planned edit in place (see :meth:`plan`). Nothing here can fail."""
        self.version = edit.version
        routes = self.router.routes  # [..., /health]
        if len(edit.handlers) > 32:  # the boot or a large change: rebuild the list, sort once
            by_path = {path: route for (_, path), route in zip(self._keys, routes)}
            for path, methods in edit.handlers.items():
                if methods:
                    self._handlers[path], by_path[path] = methods, edit.routes[path]
                else:
                    self._handlers.pop(path, None)
                    by_path.pop(path, None)
            self._keys = sorted(_route_key(p) for p in by_path)
            routes[:] = [*(by_path[path] for _, path in self._keys), self._health]
            return
        for path, methods in edit.handlers.items():
            key = _route_key(path)
            at = bisect.bisect_left(self._keys, key)
            present = at < len(self._keys) and self._keys[at] == key
            if not methods:
                self._handlers.pop(path, None)
                if present:
                    del self._keys[at], routes[at]
                continue
            self._handlers[path] = methods
            if present:
                routes[at] = edit.routes[path]
            else:
                self._keys.insert(at, key)
                routes.insert(at, edit.routes[path])

    @staticmethod
    def _route(path: str, handlers: dict[str, Resource], candidates: list[Any]) -> Route:
        prepared: dict[str, Endpoint] = {}
        for method, resource in handlers.items():
            prepared[method] = _with_middlewares(prepare_handler(resource), _for_method(candidates, method))
        if "GET" in prepared and "HEAD" not in prepared:
            prepared["HEAD"] = prepared["GET"]

        async def dispatch(request: Request) -> Response:
            return await prepared[request.method](request)

        return Route(path, dispatch, methods=list(prepared))

    # -- the answers no route gives: 404, 405, OPTIONS ---------------------------------------
    # They run through the middlewares whose matcher covers the path, like a route's response,
    # but are prepared per request: they are the rare path, and the common one stays as it was.

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The router's default: no route matches the path. loader's own pages that a project
        route may take over (``/openapi.json``, ``/docs``: :attr:`HttpApp.fallback`) come first."""
        if scope["type"] == "websocket":  # no route takes one: closed, as Starlette's own router does
            await WebSocketClose()(scope, receive, send)
            return
        fallback = getattr(scope.get("app"), "fallback", None)
        endpoint = fallback.get(scope.get("path", "")) if fallback else None
        if endpoint is not None and scope["type"] == "http":
            await (await endpoint(Request(scope, receive)))(scope, receive, send)
            return
        text = f"no route for {scope.get('method', '')} {scope.get('path', '')}"
        await self.answer(scope, receive, send, lambda: error_response(404, "not_found", text))

    async def not_allowed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A route matches the path but none serves the method: a 405, or for ``OPTIONS`` a 204.

        Both carry ``Allow``: every method some route serves at this URL (see :meth:`allowed`).
        """
        allow = ", ".join(self.allowed(scope))
        if scope["method"] == "OPTIONS":  # the route file defines no OPTIONS: say what it serves
            await self.answer(scope, receive, send, lambda: Response(status_code=204, headers={"Allow": allow}))
        else:
            await self.answer(scope, receive, send, lambda: http_error(HTTPException(405, headers={"Allow": allow})))

    def allowed(self, scope: Scope) -> list[str]:
        """The methods served at the request's URL, as Starlette's matching serves them.

        Starlette tries the routes in order and takes the first that matches path and method, so
        a method the static route ``/posts/new`` lacks is served by ``/posts/{id}`` if that has
        it: both routes' methods are served at ``/posts/new``. ``OPTIONS`` always is.
        """
        served = {"OPTIONS"}
        for route in self.router.routes:
            if isinstance(route, Route) and route.methods and route.matches(scope)[0] is not Match.NONE:
                served |= route.methods
        return [method for method in HTTP_METHODS if method in served]

    async def answer(self, scope: Scope, receive: Receive, send: Send, make: Callable[[], Response]) -> None:
        """Send ``make()`` through the middlewares that cover the request, as a route's response."""
        if not self._candidates:
            await make()(scope, receive, send)
            return

        async def respond(request: Request) -> Response:
            return make()

        endpoint = _with_middlewares(respond, _for_method(self._candidates, scope["method"]))
        response = await endpoint(Request(scope, receive))
        await response(scope, receive, send)

    def __repr__(self) -> str:
        return f"<RouteTable v{self.version}: {sum(map(len, self._handlers.values()))} handlers>"


def _route_key(path: str) -> tuple[tuple[int, ...], str]:
    return _route_sort_key(path), path


def _candidates(middlewares: list[Resource]) -> list[Any]:
    return [
        (compile_matcher(entry.matcher), {m.upper() for m in entry.methods}, [(m, _where(m, mw)) for m in entry.middlewares])
        for mw in middlewares
        for entry in mw.obj
        if isinstance(entry, MiddlewareRoute)
    ]


def _where(middleware: Any, declared: Resource) -> str:
    """``forgot_return at src/api/middlewares.py:4``: the middleware's name and ``path:line``."""
    code = getattr(inspect.unwrap(middleware), "__code__", None)
    name = getattr(middleware, "__qualname__", None) or type(middleware).__name__
    if code is None:  # a callable object: where it was declared
        return f"{name} at {declared.location}"
    same = os.path.abspath(code.co_filename) == os.path.abspath(declared.source.path)
    return f"{name} at {declared.source.display if same else code.co_filename}:{code.co_firstlineno}"


def _for_method(candidates: list[Any], method: str) -> list[tuple[Any, list[Any]]]:
    """The middleware entries that apply to ``method`` (their path is checked per request)."""
    return [(pattern, mws) for pattern, methods, mws in candidates if not methods or method in methods]


def _with_middlewares(endpoint: Endpoint, candidates: list[tuple[Any, list[Any]]]) -> Endpoint:
    """Wrap an endpoint in the middlewares whose matcher fits the request path (outermost first)."""
    if not candidates:
        return endpoint

    async def call(request: Request) -> Response:
        chain = endpoint
        for pattern, mws in reversed(candidates):
            if pattern.match(request.url.path):
                for mw, where in reversed(mws):
                    chain = _link(mw, where, chain)
        try:
            return await chain(request)
        except Exception as exc:  # a middleware that raises: mapped as a handler's exception
            return response_for(request, exc, "in a middleware")

    return call


def _link(middleware: Callable[..., Awaitable[Response]], where: str, call_next: Endpoint) -> Endpoint:
    async def linked(request: Request) -> Response:
        response = await middleware(request, call_next)
        if not isinstance(response, Response):  # else the server fails sending it, naming no file
            raise TypeError(
                f"the middleware {where} returned {'None' if response is None else type(response).__name__}, not a Response "
                "(expected `return await call_next(request)` or a Starlette Response)"
            )
        return response

    return linked


def build_route_table(routes: list[Resource], middlewares: list[Resource], version: int = 0) -> RouteTable:
    return RouteTable(routes, middlewares, version)


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"request body larger than {limit:,} bytes (project.http.max_body_size)")


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises a 413 once the body read so far passes ``limit``: a chunked or
    lying client is stopped while it streams, never buffered whole. Whoever reads the body
    (loader's body validation or a handler's ``await request.body()``) gets the exception, and
    the one exception mapping answers it."""
    seen = 0

    async def receive_within_limit() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)
        return message

    return receive_within_limit


class HttpApp:
    """The ASGI app: lifespan, CORS when configured, the body limit, the current route table.

    Args:
        table: The route table to serve.
        on_startup: Awaited on the server's lifespan startup.
        on_shutdown: Awaited on the server's lifespan shutdown.
        max_body_size: ``project.http.max_body_size``.
        cors: ``project.http.cors``: when set, Starlette's ``CORSMiddleware`` answers preflight
            requests and adds its headers to every response, around everything else.
    """

    def __init__(
        self, table: RouteTable, *, on_startup: Lifespan | None = None, on_shutdown: Lifespan | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE, cors: CorsConfig | None = None,
    ) -> None:
        self.table = table
        self.max_body_size = max_body_size
        self.state = State()
        #: Paths loader answers itself before the route table, e.g. ``/_loader/inspect`` in develop.
        self.internal: dict[str, Endpoint] = {}
        #: Paths loader answers when no route matches (``/openapi.json``, ``/docs``): a project
        #: route at the same path wins, and a request that a route serves never looks here.
        self.fallback: dict[str, Endpoint] = {}
        self._on_startup, self._on_shutdown = on_startup, on_shutdown
        # Built once: the config cannot change while a server runs (a change restarts it).
        self._cors: ASGIApp | None = CORSMiddleware(self, **cors.middleware_options()) if cors else None

    def plan_routes(
        self, removed: list[Resource], added: list[Resource], middlewares: list[Resource], version: int
    ) -> TableEdit | RouteTable:
        """What a change of handlers does to the current table (see :meth:`RouteTable.plan`)."""
        return self.table.plan(removed, added, middlewares, version)

    def apply_routes(self, planned: TableEdit | RouteTable) -> None:
        """Serve what :meth:`plan_routes` planned from the next request on."""
        if isinstance(planned, RouteTable):
            self.swap(planned)
        else:
            self.table.apply(planned)

    def swap(self, table: RouteTable) -> None:
        """Serve ``table`` from the next request on; requests in flight keep the old one."""
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self._cors is not None and "loader.cors" not in scope:
            # CORS wraps this same method (it calls back with the mark set), so that without
            # CORS a request pays for this test only, not for one more call.
            scope["loader.cors"] = True
            await self._cors(scope, receive, send)
            return
        scope["app"] = self
        internal = self.internal.get(scope.get("path", "")) if self.internal else None
        if internal is not None and scope["type"] == "http":
            response = await internal(Request(scope, receive))
            await response(scope, receive, send)
            return
        table = self.table  # one read: this request uses this table to the end
        if scope["type"] == "http":
            receive = _limited(receive, self.max_body_size)
            for name, value in scope.get("headers", ()):
                if name == b"content-length":
                    if value.isdigit() and int(value) > self.max_body_size:  # refused before reading a byte
                        too_large = _too_large(self.max_body_size)
                        await table.answer(scope, receive, send, lambda: http_error(too_large))
                        return
                    break
        try:
            await table.router(scope, receive, send)
        except HTTPException as exc:  # Starlette raises 405 as an exception when scope has "app"
            if exc.status_code == 405:
                await table.not_allowed(scope, receive, send)
            else:
                await http_error(exc)(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            try:
                message = await receive()
            except asyncio.CancelledError:
                # A second Ctrl-C: uvicorn exits at once, skipping the shutdown, and the loop's
                # teardown cancels this wait; ending here spares the user uvicorn's traceback of it.
                return
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

