"""HTTP routes: ``api/**/route.py`` files whose ``GET``/``POST``/… functions are handlers.

``api/store/posts/[id]/route.py`` serves ``/store/posts/{id}``. Each handler's signature is
read when its file is collected (:func:`loader.runtime.signature.analyse`): one that cannot be
called is a load error at its ``path:line``. Two routes of one origin that
differ only in parameter names (``[id]`` and ``[slug]`` at the same place) are duplicates; a
project route may override a plugin's or the framework's (logged).
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import ClassVar

from loader.core.registry import ConflictPolicy

from loader.errors import LoaderError
from loader.kinds.base import BaseBinding, BaseKind, KindChange, Runtime, line_of
from loader.types import HTTP_METHODS, Resource, SourceFile

__all__ = ["RouteKind", "HTTP_METHODS", "url_path_of", "route_shape"]

_PARAM = re.compile(r"^\[([A-Za-z_][A-Za-z0-9_]*)\]$")
_STATIC = re.compile(r"^[A-Za-z0-9_.~-]+$")


def url_path_of(relpath: str) -> tuple[str, str | None]:
    """``("/store/posts/{id}", None)`` for ``api/store/posts/[id]/route.py``, or an error text."""
    segments = relpath.split("/")[1:-1]  # drop "api" and "route.py"
    parts: list[str] = []
    seen: set[str] = set()
    for segment in segments:
        param = _PARAM.match(segment)
        if param:
            name = param.group(1)
            if name in seen:
                return "", f"path parameter [{name}] appears twice in {relpath}"
            seen.add(name)
            parts.append("{" + name + "}")
        elif _STATIC.match(segment):
            parts.append(segment)
        else:
            return "", (
                f"folder {segment!r} is not a valid URL segment; expected letters, digits, '-', '_', '.' "
                "or a parameter like [id]"
            )
    return "/" + "/".join(parts), None


def route_shape(path: str) -> str:
    """The path with parameter names erased: what two routes must not share."""
    return re.sub(r"\{[^}]+\}", "{}", path)


class RouteTableBinding(BaseBinding):
    """Routes and middlewares → the HTTP route table.

    ``prepare`` plans the edit (only the URL paths whose routes changed are built, unless the
    middlewares changed: then every route is, into a new table); ``commit`` applies it, which
    cannot fail. A process that serves no routes (``worker`` mode) keeps an empty table.
    """

    kinds = frozenset({"route", "middlewares"})

    async def prepare(self, runtime: Runtime, change: KindChange) -> list[LoaderError]:
        if not runtime.serves_routes:
            return []
        removed = [r for r in change.removed if r.kind == "route"]
        added = [r for r in change.added if r.kind == "route"]
        change.state = runtime.asgi.plan_routes(removed, added, list(change.snapshot.of("middlewares")), change.snapshot.version)
        return []

    def commit(self, runtime: Runtime, change: KindChange) -> None:
        if change.state is not None:
            runtime.asgi.apply_routes(change.state)


class RouteKind(BaseKind):
    name = "route"
    folder = "api"
    conflict_policy: ClassVar[ConflictPolicy] = "override"
    binding = RouteTableBinding()

    def claims(self, relpath: str) -> bool:
        return relpath.startswith("api/") and relpath.endswith("/route.py")

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:
        path, problem = url_path_of(source.relpath)
        if problem:
            raise self.invalid(source, 1, problem)
        # The signature code (pydantic adapters) loads with the first route file, not with ``import loader``.
        from loader.runtime.signature import SignatureError, analyse

        resources = []
        for method in HTTP_METHODS:
            handler = module.__dict__.get(method)
            if handler is None:
                continue
            if not callable(handler):
                raise self.invalid(source, None, f"{method} must be a function (async def {method}(request)), got {handler!r}")
            line = line_of(handler)
            try:
                # Read once, here: a signature loader cannot call is a load error at the handler's
                # line (the file stays out of the route table), never a 500 at request time.
                signature = analyse(handler, path)
            except SignatureError as exc:
                raise self.invalid(source, line, f"{method}: {exc}") from None
            resources.append(
                self.resource(source, f"{method} {path}", handler, method, line, method=method, path=path, signature=signature)
            )
        if not resources:
            raise self.invalid(
                source,
                1,
                "route file defines no handler; expected a function named one of " + ", ".join(HTTP_METHODS),
            )
        return resources

    def conflict_key(self, resource: Resource) -> object:
        return (resource.meta["method"], route_shape(resource.meta["path"]))
