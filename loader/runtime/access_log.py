"""The access log: one line per HTTP request on the ``loader.access`` logger.

``GET /store/hello 200 in 1.2 ms (request id 3f2a9c1d0e4b5a67)``, with ``method``, ``path``,
``status``, ``duration_ms`` and ``request_id`` as fields of the record (JSON lines show them).
The request id is the one an error response of that request carries
(:func:`~loader.runtime.handlers.scope_request_id`).

:class:`AccessLog` wraps the ASGI app only when the access log is on, so that a server without
it pays nothing per request. uvicorn's own access logger stays off (it cannot know the request
id).
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loader.runtime.handlers import logged_path, scope_request_id

__all__ = ["AccessLog", "with_access_log"]

log = logging.getLogger("loader.access")


class AccessLog:
    """ASGI middleware logging each HTTP request once its response is sent (or has failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __repr__(self) -> str:
        return f"<AccessLog around {self.app!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # An app that raises before it answers gets the server's 500, and so does one that
        # returns without answering: that is what the client sees.
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if log.isEnabledFor(logging.INFO):
                _log_request(scope, status, (time.perf_counter() - started) * 1000)


def _log_request(scope: Scope, status: int, duration_ms: float) -> None:
    path = logged_path(scope)
    method, rid = scope.get("method", ""), scope_request_id(scope)
    log.info(
        "%s %s %d in %.1f ms (request id %s)", method, path, status, duration_ms, rid,
        extra={"method": method, "path": path, "status": status, "duration_ms": round(duration_ms, 3), "request_id": rid},
    )


def with_access_log(app: ASGIApp, on: bool) -> ASGIApp:
    """``app`` wrapped in :class:`AccessLog` when ``on``; ``app`` itself otherwise."""
    return AccessLog(app) if on else app
