"""Running project imports off the caller's thread, within a time limit.

A file can do anything at import: loop forever, sleep, wait on a socket. Loader imports run in
a worker thread; the caller (the CLI's main thread, or the dev server's event loop, which keeps
answering requests meanwhile) watches an :class:`ImportClock` the worker updates around each
file. When one file's import runs past the limit, the caller gets an
:class:`~loader.errors.ImportTimeoutError` naming the file and the line the worker is executing
at that moment (read from ``sys._current_frames``), and the worker is asked to stop (an
asynchronous exception: it ends a busy loop, not a blocking system call). The limit is
``LOADER_IMPORT_TIMEOUT`` seconds (default 10; ``0`` turns it off).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from loader.core.importer import Display, ImportAbandoned
from loader.core.tracebacks import deepest_user_frame_of_stack
from loader.config.env import env_seconds
from loader.errors import ImportTimeoutError

__all__ = ["ImportClock", "ImportAbandoned", "import_timeout", "run_limited", "run_limited_async"]

T = TypeVar("T")

DEFAULT_IMPORT_TIMEOUT = 10.0
_TICK = 0.05  # how often the caller looks at the clock; it costs nothing when imports are quick



def import_timeout(environ: Mapping[str, str] | None = None) -> float:
    """The limit in seconds from ``LOADER_IMPORT_TIMEOUT`` (0: no limit).

    Raises:
        ConfigError: the value is not a number of seconds >= 0.
    """
    return env_seconds("LOADER_IMPORT_TIMEOUT", DEFAULT_IMPORT_TIMEOUT, environ, zero="0 turns the limit off")


@dataclass(frozen=True)
class _Importing:
    shown: str | Callable[[], str]  # computed only for a file that overruns: most never do
    path: Path
    since: float

    @property
    def display(self) -> str:
        return self.shown if isinstance(self.shown, str) else self.shown()


class ImportClock:
    """Which file the worker is importing and since when; the watching side reads it."""

    def __init__(self) -> None:
        self._current: _Importing | None = None

    @contextmanager
    def importing(self, display: str | Callable[[], str], path: Path) -> Iterator[None]:
        outer = self._current
        if outer is None:  # a file imported while another is importing counts as that one
            self._current = _Importing(display, path, time.monotonic())
        try:
            yield
        finally:
            self._current = outer

    def overdue(self, limit: float) -> _Importing | None:
        current = self._current
        if current is None or limit <= 0 or time.monotonic() - current.since < limit:
            return None
        return current


def _timeout_error(worker: threading.Thread, late: _Importing, limit: float, display: Display) -> ImportTimeoutError:
    frame = sys._current_frames().get(worker.ident or -1)
    place = deepest_user_frame_of_stack(frame) if frame is not None else None
    path, line = (display(place[0]), place[1]) if place else (late.display, None)
    return ImportTimeoutError(
        f"still importing after {limit:g} s (LOADER_IMPORT_TIMEOUT); the file loops, sleeps or waits at import",
        path=path, line=line, source_path=late.path, source_display=late.display,
    )


def _abandon(worker: threading.Thread) -> None:
    """Ask the worker to stop: an exception raised in it at its next bytecode (best effort)."""
    if worker.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(ImportAbandoned))


class _Worker(threading.Thread):
    def __init__(self, work: Callable[[], T], on_done: Callable[[], None] | None = None) -> None:
        # daemon: a worker stuck in a file must never keep the process alive
        super().__init__(name="loader-import", daemon=True)
        self.work, self.on_done = work, on_done
        self.result: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as exc:  # handed to the caller, who raises it
            self.error = exc
        finally:
            if self.on_done is not None:
                self.on_done()

    def outcome(self) -> object:
        if self.error is not None:
            raise self.error
        return self.result


def run_limited(work: Callable[[], T], clock: ImportClock, limit: float, display: Display) -> T:
    """Run ``work`` in a worker thread; raise :class:`ImportTimeoutError` if one import overruns."""
    worker = _Worker(work)
    worker.start()
    while True:
        worker.join(_TICK)
        if not worker.is_alive():
            return worker.outcome()  # type: ignore[return-value]
        late = clock.overdue(limit)
        if late is not None:
            error = _timeout_error(worker, late, limit, display)
            _abandon(worker)
            raise error


async def run_limited_async(work: Callable[[], T], clock: ImportClock, limit: float, display: Display) -> T:
    """:func:`run_limited` for an event loop: the loop goes on serving while ``work`` runs."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def wake_the_loop() -> None:
        try:
            loop.call_soon_threadsafe(done.set)
        except RuntimeError:  # the loop is closed: nobody waits for this worker any more
            pass

    worker = _Worker(work, on_done=wake_the_loop)
    worker.start()
    while True:
        try:
            await asyncio.wait_for(done.wait(), _TICK)
        except asyncio.TimeoutError:
            late = clock.overdue(limit)
            if late is not None:
                error = _timeout_error(worker, late, limit, display)
                _abandon(worker)
                raise error from None
            continue
        worker.join()
        return worker.outcome()  # type: ignore[return-value]
