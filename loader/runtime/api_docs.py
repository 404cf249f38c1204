"""Serving the API's description: ``GET /openapi.json``, the docs page ``GET /docs`` and its assets.

The document is built from the route table being served when it is first asked for, then
kept until the table changes (a reload edits it and bumps its version; a change of
middlewares swaps it): a normal request never pays for it, and under ``loader develop`` it
follows every reload. The docs page is Swagger UI, vendored in ``loader/runtime/swagger_ui``
and served by loader itself, so it works offline. These paths are answered only when no route
matches (:attr:`HttpApp.fallback`): a project route at ``/docs`` wins.
"""

from __future__ import annotations

import html
import tomllib
from collections.abc import Awaitable, Callable
from functools import cached_property
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from loader.runtime.handlers import error_response
from loader.runtime.http import HttpApp

__all__ = ["ApiDocs", "OPENAPI_PATH", "DOCS_PATH", "SWAGGER_UI_VERSION", "project_version"]

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
SWAGGER_UI_VERSION = "5.36.0"
ASSETS = Path(__file__).parent / "swagger_ui"
#: What the page loads, all from this server: name → media type.
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "loader-init.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
#: The page and its assets come from this server only; Swagger UI styles with inline styles
#: and shows schemas' images as data URLs.
_PAGE_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'self'"

Endpoint = Callable[[Request], Awaitable[Response]]


def project_version(root: Path) -> str:
    """``[project].version`` of the project's ``pyproject.toml``, else ``0.0.0``: ``info.version``."""
    try:
        with open(root / "pyproject.toml", "rb") as file:
            version = tomllib.load(file).get("project", {}).get("version")
    except (OSError, tomllib.TOMLDecodeError):
        return "0.0.0"
    return version if isinstance(version, str) and version else "0.0.0"


class ApiDocs:
    """The OpenAPI document of what ``http`` serves, cached per route table version.

    Nothing is read or built at boot: the version, the document and the OpenAPI code itself
    wait for the first request that asks for them.

    Args:
        http: The ASGI app whose current route table is described.
        title: ``info.title`` (the project folder's name).
        root: The project folder, whose ``pyproject.toml`` gives ``info.version``.
    """

    def __init__(self, http: HttpApp, title: str, root: Path) -> None:
        self.http, self.title, self.root = http, title, root
        # The id, not the table: a table swapped out (new middlewares) must not be kept alive
        # here with its handlers. A new table always comes with a new version, so the pair
        # cannot match a table it was not taken from.
        self._built_for: tuple[int, int] | None = None
        self._body = b""

    @cached_property
    def version(self) -> str:
        """``info.version``: read once, when first needed."""
        return project_version(self.root)

    async def document_bytes(self) -> bytes:
        """The document as JSON, built again only when the route table changed since last time."""
        from loader.runtime.openapi import openapi_document, openapi_json  # on first use, not at boot

        table = self.http.table
        key = (id(table), table.version)
        if key != self._built_for:
            resources = table.resources  # read here, on the loop that edits the table
            document = await run_in_threadpool(openapi_document, resources, title=self.title, version=self.version)
            self._body = openapi_json(document)
            self._built_for = key
        return self._body

    def endpoints(self, page: bool) -> dict[str, Endpoint]:
        """Path → endpoint: the document, and with ``page`` the docs page and its assets."""
        found: dict[str, Endpoint] = {OPENAPI_PATH: self._document}
        if page:
            found[DOCS_PATH] = self._page
            for name, media_type in _ASSETS.items():
                found[f"{DOCS_PATH}/{name}"] = _asset(ASSETS / name, media_type)
        return found

    async def _document(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed()
        return Response(await self.document_bytes(), media_type="application/json")

    async def _page(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed()
        title = html.escape(f"{self.title} {self.version} — API docs")
        # Relative URLs: the page works behind a path prefix too.
        page = (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{title}</title>\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<link rel="icon" type="image/png" href="docs/favicon-32x32.png">\n'
            '<link rel="stylesheet" href="docs/swagger-ui.css">\n</head>\n'
            f'<body data-openapi-url="{OPENAPI_PATH.lstrip("/")}">\n<div id="swagger-ui"></div>\n'
            '<script src="docs/swagger-ui-bundle.js"></script>\n'
            '<script src="docs/loader-init.js"></script>\n</body>\n</html>\n'
        )
        return HTMLResponse(page, headers={"content-security-policy": _PAGE_POLICY})


def _asset(path: Path, media_type: str) -> Endpoint:
    async def serve(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _method_not_allowed()
        return FileResponse(path, media_type=media_type, headers={"cache-control": "public, max-age=3600"})

    return serve


def _method_not_allowed() -> Response:
    response = error_response(405, "method_not_allowed", "Method Not Allowed", allowed=["GET", "HEAD"])
    response.headers["allow"] = "GET, HEAD"
    return response
