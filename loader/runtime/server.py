"""The HTTP server's settings: one uvicorn ``Config`` from ``project.http``, for ``loader start``
and ``loader develop`` alike.

uvicorn closes a keep-alive connection left idle between requests (``timeout_keep_alive``) and
bounds the size of a request head (h11's ``max_incomplete_event_size``), but it has no limit on
the *time* a client takes to send that head: its keep-alive timer is cancelled by the first byte
received, so a client that sends one header line every few seconds holds its connection, and
with ``limit_concurrency`` a slot, for as long as it likes (the "slowloris" attack; uvicorn
0.55 has no setting for it). :class:`HeadTimeoutH11Protocol` is uvicorn's own h11 protocol plus
that one timer; everything else (parsing, keep-alive, 503s past ``limit_concurrency``, graceful
shutdown) is uvicorn's.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from loader.config.models import HttpConfig

__all__ = ["server_config", "HeadTimeoutH11Protocol"]


def server_config(app: ASGIApp, http: HttpConfig, **options: Any) -> uvicorn.Config:
    """The uvicorn config that serves ``app`` with the connection settings of ``http``.

    Args:
        app: The ASGI application (``Application.asgi``).
        http: ``project.http`` of the project's config.
        **options: Any other ``uvicorn.Config`` argument (host, port, log level, ...).
    """

    class Protocol(HeadTimeoutH11Protocol):
        header_timeout = http.header_timeout
        max_head_size = http.max_head_size

    settings: dict[str, Any] = {
        "lifespan": "on",
        "http": Protocol,
        # uvicorn annotates it int but only hands it to loop.call_later, which takes seconds as float
        "timeout_keep_alive": http.keep_alive_timeout,
        "limit_concurrency": http.limit_concurrency,
        "h11_max_incomplete_event_size": http.max_head_size,
    }
    return uvicorn.Config(app, **{**settings, **options})


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that closes a connection whose request head is late.

    The clock starts when the connection opens, or when the first byte of a later request on it
    arrives, and stops when the head (request line and headers) is complete. A connection that
    never sends a byte is closed after the same time. The body is not timed (a slow upload is
    legitimate); its size is bounded by ``project.http.max_body_size``.
    """

    #: Seconds allowed for a request head (``project.http.header_timeout``).
    header_timeout: ClassVar[float] = 10.0
    #: Bytes allowed for a request head (``project.http.max_head_size``); also given to h11.
    max_head_size: ClassVar[int] = 16 * 1024

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            # h11 refuses a head past its limit only while it is incomplete: one that arrives
            # whole in a single read (up to 256 KiB on asyncio) would pass. So it is handed the
            # bytes up to the limit first: a longer head is then incomplete and past the limit,
            # and h11 refuses it (uvicorn answers 400 and closes).
            room = self.max_head_size + 1 - len(self.conn.trailing_data[0])
            if len(data) > room:
                super().data_received(data[:room])
                if self.transport.is_closing():
                    return
                data = data[room:]
        super().data_received(data)
        # h11 leaves IDLE once it has parsed a whole request head: a head that arrived in one
        # piece costs this one test and no timer.
        if self.conn.their_state is h11.IDLE:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)
        elif self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        client = "%s:%d" % self.client if self.client else "a client"
        self.logger.warning(
            "Closed the connection of %s: no complete request head within %gs (project.http.header_timeout).",
            client, self.header_timeout,
        )
        self.timeout_keep_alive_handler()  # uvicorn's own way of closing an idle connection
