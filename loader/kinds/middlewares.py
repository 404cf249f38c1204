"""``api/middlewares.py``: one per ``api/`` root; route matchers with middleware callables.

Example (``sample_project/src/api/middlewares.py``)::

    middlewares = define_middlewares([
        MiddlewareRoute(matcher="/store/*", middlewares=[add_powered_by]),
    ])

A middleware is ``async def mw(request, call_next) -> Response``, Starlette's
``BaseHTTPMiddleware`` dispatch shape; the runtime applies it to the routes it matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from loader.kinds.base import BaseKind, defined_in
from loader.kinds.routes import HTTP_METHODS, RouteKind
from loader.types import Resource, SourceFile, caller_location

__all__ = ["MiddlewareRoute", "Middlewares", "define_middlewares", "MiddlewaresKind", "compile_matcher"]


@dataclass(frozen=True)
class MiddlewareRoute:
    """Applies ``middlewares`` to the requests whose path matches ``matcher``.

    Args:
        matcher: A path where ``*`` matches anything (``"/store/*"``) or a compiled regex.
        methods: Only these HTTP methods; all when empty.
        middlewares: ``async def mw(request, call_next)`` callables, outermost first.
    """

    matcher: str | re.Pattern[str]
    middlewares: Sequence[Callable[..., Any]] = ()
    methods: Sequence[str] = ()


@dataclass
class Middlewares:
    """What ``define_middlewares`` returns; collected from ``api/middlewares.py``."""

    routes: list[Any]
    line: int | None = None
    defined_in: str | None = field(default=None, repr=False)


def define_middlewares(routes: Sequence[MiddlewareRoute | dict[str, Any]]) -> Middlewares:
    """Declare the middlewares of one ``api/`` root. Validated when the file is collected."""
    _, line, module = caller_location()
    return Middlewares(list(routes), line, module)


def compile_matcher(matcher: str | re.Pattern[str]) -> re.Pattern[str]:
    if isinstance(matcher, re.Pattern):
        return matcher
    pattern = "".join(".*" if ch == "*" else re.escape(ch) for ch in matcher)
    return re.compile(f"^{pattern}$")


class MiddlewaresKind(BaseKind):
    name = "middlewares"
    folder = "api"
    binding = RouteKind.binding  # one route table for both kinds

    def claims(self, relpath: str) -> bool:
        return relpath == "api/middlewares.py"

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:
        found = list(defined_in(module, lambda o: isinstance(o, Middlewares)))
        if not found:
            raise self.invalid(source, 1, "middlewares.py defines nothing; expected `middlewares = define_middlewares([...])`")
        export, declared = found[0]
        routes = [self._validate(source, declared.line, entry) for entry in declared.routes]
        return [self.resource(source, f"{source.root.origin} middlewares", routes, export, declared.line, count=len(routes))]

    def _validate(self, source: SourceFile, line: int | None, entry: MiddlewareRoute | dict[str, Any]) -> MiddlewareRoute:
        if isinstance(entry, dict):
            unknown = set(entry) - {"matcher", "middlewares", "methods"}
            if unknown:
                raise self.invalid(source, line, f"unknown middleware route key(s) {sorted(unknown)}; expected matcher, methods, middlewares")
            if "matcher" not in entry:
                raise self.invalid(source, line, "middleware route has no 'matcher'; expected a path like '/store/*' or a regex")
            entry = MiddlewareRoute(**entry)
        if not isinstance(entry, MiddlewareRoute):
            raise self.invalid(source, line, f"expected MiddlewareRoute or dict, got {entry!r}")
        bad = [m for m in entry.methods if m.upper() not in HTTP_METHODS]
        if bad:
            raise self.invalid(source, line, f"unknown HTTP method(s) {bad}; expected some of {', '.join(HTTP_METHODS)}")
        if not all(callable(m) for m in entry.middlewares):
            raise self.invalid(source, line, "every middleware must be callable: async def mw(request, call_next)")
        return entry
