"""``loader develop``'s parent: holds the socket, watches files, drives the server child.

- The parent binds the listening socket once and hands it to every child (``spawn``): a
  restart never frees the port, so no connection is refused and no port is ever bound twice.
- One reload at a time: while the child works on one, watchfiles keeps collecting changes,
  which arrive together as the next batch (a branch checkout is one reload or one restart).
- A child that exits is noticed at once (its sentinel wakes the watcher; the request that finds it
  gone waits in the socket's backlog) and started again at once.
- A child that must go gets SIGINT (uvicorn's graceful stop), then SIGKILL after a timeout,
  and the parent waits for it before starting the next.
- With the ``backend_hmr`` flag off, every change restarts the child (uvicorn ``--reload``
  style).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import watchfiles
from watchfiles import Change
from watchfiles._rust_notify import RustNotify  # watchfiles' documented Rust backend

from loader.dev.channel import ChildFailed, ChildReady, ChildStart, HmrReload, HmrResult, Message, ProtocolError, from_wire, to_wire
from loader.dev.child import run_child
from loader.dev.doorbell import open_doorbell
from loader.dev.plan import FileChange
from loader.dev.settings import DevSettings, read_settings
from loader.dev.watcher import ProjectFilter, to_file_changes
from loader.runtime.sockets import listen
from loader.types import shown_relative

__all__ = ["Supervisor"]

Echo = Callable[[str], None]


class Supervisor:
    """Runs one project under ``loader develop``.

    Args:
        project: The project folder.
        host, port: Where to listen (127.0.0.1 by default: a dev server is not for the network).
        echo: Where the one-line messages go.
        reload_timeout: Seconds to wait for an answer before restarting the child.
        stop_timeout: Seconds between SIGINT and SIGKILL.
        step_ms: How long the watcher waits for quiet before handing a batch over. With the
            doorbell (Linux) an idle watcher does not wake at all; without one, watchfiles wakes
            every step while idle (~70 µs each: 5 ms cost ~1.4% of a core, uvicorn's 50 ms
            ~0.15% and 50–100 ms more per reload).
        warm_spare: Keep the next child started and waiting (see ``_spawn``).
    """

    def __init__(
        self, project: Path, host: str, port: int, *, echo: Echo = print,
        reload_timeout: float = 30.0, stop_timeout: float = 5.0, step_ms: int = 5,
        warm_spare: bool = True,
    ) -> None:
        self.project, self.echo = project, echo
        self.reload_timeout, self.stop_timeout, self.step_ms = reload_timeout, stop_timeout, step_ms
        self.settings = self._read_settings(None)
        self.socket = listen(host, port)
        self.address = self.socket.getsockname()[:2]
        self._ids = itertools.count(1)
        self._child: BaseProcess | None = None
        self._conn: Connection | None = None
        #: The next child, started ahead of need: a restart then waits for the project's boot
        #: only, not for a new interpreter and its imports of uvicorn, Starlette and loader.
        self._spare: tuple[BaseProcess, Connection] | None = None
        self.warm_spare = warm_spare
        self.stop_event = threading.Event()
        self._wake = os.pipe()  # written by stop(): a wait on the doorbell ends at once
        self._boot_failed = False
        self._early_exits = 0
        #: Files whose import hung (absolute path → what the child reported): the next child
        #: boots without them, until one is saved again.
        self.set_aside: dict[str, dict[str, Any]] = {}

    @property
    def hot_reload(self) -> bool:
        return self.settings.hot_reload

    def _read_settings(self, previous: DevSettings | None) -> DevSettings:
        settings = read_settings(self.project, previous)
        if settings.problem is not None:
            self.echo(f"error: {settings.problem.format()}")
        return settings

    # -- the child ------------------------------------------------------------------------
    def start_child(self) -> None:
        message = self._spawn()
        while isinstance(message, ChildFailed) and message.hung is not None and message.hung["source"] not in self.set_aside:
            self._set_aside(message.hung)
            self.stop_child(kill=True)  # its import is still running: no graceful stop
            message = self._spawn()
        self._boot_failed = isinstance(message, ChildFailed)
        if message is None:  # it died (or hung) before it was ready: start it again, a few times
            self._early_exits += 1
            code = self._child.exitcode if self._child is not None else None
            self.echo(f"the server exited while starting (code {code})")
            if self._early_exits >= 3:
                self._boot_failed = True
                self.echo("it keeps failing to start; waiting for a change to try again")
            return
        self._early_exits = 0
        if isinstance(message, ChildReady):
            extra = f"; {len(message.errors)} error(s):" if message.errors else ""
            self.echo(f"serving {self.project.name} on http://{self.address[0]}:{self.address[1]} (booted in {message.boot_ms:.0f} ms{extra})")
            for error in message.errors:
                self.echo(f"  {error}")
        elif isinstance(message, ChildFailed):
            self.echo(f"error: {message.error}")
            self.echo("waiting for a change to try again")

    def _spawn(self) -> Message | None:
        """Start the next child (the warm spare when there is one) and wait until it serves."""
        spare, self._spare = self._spare, None
        if spare is None or not spare[0].is_alive():
            self._drop(spare)
            spare = self._start_process()
        self._child, self._conn = spare
        try:
            self._conn.send(to_wire(ChildStart(dict(os.environ), dict(self.set_aside))))
        except OSError:  # it died meanwhile: _receive sees it
            pass
        message = self._receive(timeout=120.0)
        if self.warm_spare:
            self._spare = self._start_process()  # warms up while this child serves
        return message

    def _start_process(self) -> tuple[BaseProcess, Connection]:
        """A child process, importing the server and loader, then waiting for ``child-start``."""
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        process = context.Process(target=run_child, args=(str(self.project), self.socket, child_end), name="loader-child")
        # An ignored signal stays ignored across exec: the child starts deaf to Ctrl-C (which a
        # terminal sends to the whole process group) until run_child has done its imports; the
        # parent stops its children itself. Only the main thread may set a handler.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            process.start()
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
        child_end.close()
        return process, parent_end

    def discard_spare(self) -> None:
        """Drop the warm child: what it imported may be stale (dependencies changed)."""
        spare, self._spare = self._spare, None
        self._drop(spare)

    @staticmethod
    def _drop(spare: tuple[BaseProcess, Connection] | None) -> None:
        if spare is None:
            return
        process, conn = spare
        conn.close()  # a waiting spare ends on EOF; kill in case it is still importing
        if process.is_alive():
            process.kill()
        process.join(5.0)

    def _set_aside(self, hung: dict[str, Any]) -> None:
        self.set_aside[hung["source"]] = hung
        where = f"{hung['path']}:{hung['line']}" if hung.get("line") else hung["path"]
        self.echo(f"error: {where}: {hung['message']}")
        self.echo(f"set aside {shown_relative(Path(hung['source']), self.project)} (save it to retry); restarting without it")

    def stop_child(self, *, kill: bool = False) -> None:
        child, self._child = self._child, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if child is None or not child.is_alive():
            return
        if kill:
            child.kill()
            child.join(self.stop_timeout)
            return
        if child.pid is not None:
            os.kill(child.pid, signal.SIGINT)
        child.join(self.stop_timeout)
        if child.is_alive():
            self.echo(f"the server did not stop within {self.stop_timeout:g} s; killing it")
            child.kill()
            child.join(self.stop_timeout)

    def restart(self, reason: str, *, kill: bool = False) -> None:
        self.echo(f"restarting: {reason}")
        self.stop_child(kill=kill)
        self.settings = self._read_settings(self.settings)  # .env or config may have changed
        self.start_child()

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        """Watch and serve until ``stop_event`` is set or Ctrl-C."""
        for signum in (signal.SIGINT, signal.SIGTERM):  # stop watching cleanly, then stop the child
            signal.signal(signum, lambda *_: self.stop())
        mode = "hot reload" if self.hot_reload else "restart on every change"
        self.echo(f"loader develop: {mode} (backend_hmr from {self.settings.hot_reload_source}); watching {', '.join(map(str, self.settings.watch))}")
        watch_filter = ProjectFilter(self.settings.watch)
        try:
            for raw in self._batches(watch_filter):
                # The child starts once the watcher is live (its first tick), so no save made
                # after "serving" is printed can be missed; what changed before, it boots with.
                if self._child is None and not self._boot_failed:
                    self.start_child()
                    continue
                child = self._child
                if child is not None and not child.is_alive() and not self._boot_failed:
                    self.restart(f"the server exited (code {child.exitcode})")
                    continue
                changes = [c for c in to_file_changes(raw, watch_filter) if _relevant(c)]
                if changes:
                    self.handle(changes)
        finally:
            self.stop_child()
            self.discard_spare()
            self.socket.close()
            for fd in self._wake:
                os.close(fd)
            self._wake = (-1, -1)  # a late stop() must never write to a reused descriptor
            self.echo("stopped")

    def stop(self) -> None:
        """Stop watching (then the child): from a signal handler or another thread."""
        self.stop_event.set()
        try:
            os.write(self._wake[1], b"!")  # ends the doorbell's wait at once
        except OSError:
            pass

    def _batches(self, watch_filter: ProjectFilter) -> Iterator[set[tuple[Change, str]]]:
        """watchfiles' batches of changes, and an empty one when the child exits or every ~2 s
        (then the loop checks on the child). The first comes at once: the watcher is live.

        With a doorbell (Linux), the wait between batches is a ``poll()`` that costs nothing
        while idle; watchfiles is asked for the batch once it rang (and, in case a ring was
        missed, on every periodic wake). Without one, watchfiles polls at its step.
        """
        paths = self.settings.watch
        doorbell = open_doorbell(paths, lambda path: not watch_filter(Change.added, path))
        if doorbell is None:
            yield from watchfiles.watch(
                *paths, watch_filter=watch_filter, step=self.step_ms, rust_timeout=200,
                yield_on_timeout=True, stop_event=self.stop_event, raise_interrupt=False,
            )
            return
        with doorbell, RustNotify([str(p) for p in paths], False, False, 300, True, False) as notify:
            yield set()
            while not self.stop_event.is_set():
                # Idle, nothing wakes the parent: the bell, the child's exit (its sentinel) or,
                # every 2 s, the clock (a Ctrl-C is seen then at the latest).
                child = self._child
                exits = [child.sentinel] if child is not None and child.is_alive() else []
                rang = doorbell.wait(2.0, also=[*exits, self._wake[0]])
                # After a ring: the batch once quiet for a step (or "timeout" if watchfiles saw
                # nothing worth reporting). Else one step, to drain what a missed ring left.
                raw = notify.watch(1600, self.step_ms, 200 if rang else 1, self.stop_event)
                if raw in ("stop", "signal"):
                    return
                if isinstance(raw, str):  # "timeout"
                    yield set()
                    continue
                yield {(Change(change), path) for change, path in raw if watch_filter(Change(change), path)}

    def handle(self, changes: list[FileChange]) -> None:
        """One batch of changes: reload in place, or restart with the reason."""
        for change in changes:  # a set-aside file saved again is tried again
            self.set_aside.pop(str(change.path), None)
        if any(c.path.name == "pyproject.toml" for c in changes):  # dependencies may have changed
            self.discard_spare()
        if self._child is None or not self._child.is_alive() or self._conn is None:
            self.restart(f"{shown_relative(changes[0].path, self.project)} changed" if self._boot_failed else "the server was not running")
            return
        if not self.hot_reload:
            shown = ", ".join(shown_relative(c.path, self.project) for c in changes[:3]) + (" …" if len(changes) > 3 else "")
            self.restart(f"{shown} changed (backend_hmr is off)")
            return
        request = HmrReload(next(self._ids), [(c.kind, str(c.path)) for c in changes])
        self._conn.send(to_wire(request))
        result = self._receive(timeout=self.reload_timeout, expect=request.id)
        if not isinstance(result, HmrResult):
            self.restart("the server did not answer the reload" if result is None else "the server exited during a reload")
            return
        report = result.report or {}
        if result.hung is not None:
            self._set_aside(result.hung)
            self.stop_child(kill=True)
            self.start_child()
            return
        if result.restart_reason:
            self.restart(result.restart_reason)
            return
        summary = str(report.get("summary", "reloaded"))
        if report.get("changes") or report.get("errors"):
            self.echo(summary)
        for error in report.get("errors", [])[1:]:
            self.echo(f"  {error['location']}: {error['message']}")

    def _receive(self, timeout: float, expect: int | None = None) -> Message | None:
        """The next message from the child, or None on timeout or when the child died."""
        if self._conn is None or self._child is None:
            return None
        while True:
            ready = wait([self._conn, self._child.sentinel], timeout)
            if not ready:
                return None
            if self._conn not in ready:
                return None  # only the sentinel: the child exited
            try:
                message = from_wire(self._conn.recv())
            except (EOFError, OSError):
                return None
            except ProtocolError as exc:  # a child of another loader version: treat it as gone
                self.echo(f"error: the server child sent what this loader cannot read ({exc}); restarting it")
                return None
            if expect is None or (isinstance(message, HmrResult) and message.id == expect):
                return message


def _relevant(change: FileChange) -> bool:
    # Python files, the files that restart, and folders that went away (with files in them);
    # a README or an image never reloads anything.
    path = change.path
    if change.kind == "deleted" and not path.suffix:
        return True
    return path.suffix == ".py" or path.name.startswith(".env") or path.name == "pyproject.toml"
