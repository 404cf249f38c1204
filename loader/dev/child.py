"""The dev server's child: boots the project, serves it on the parent's socket, and applies
``hmr-reload`` messages with ``app.reload`` inside the server's event loop.

It runs in a process started with the ``spawn`` context, so it imports the project fresh, and it
serves on the listening socket the parent holds: a restart never closes the port, and a request
that arrives meanwhile waits in the socket's backlog instead of being refused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
import time
import warnings
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from loader.dev.channel import (
    ChildFailed, ChildReady, ChildStart, HmrReload, HmrResult, ProtocolError, from_wire, hung_file, set_aside_errors, to_wire,
)
from loader.dev.plan import FileChange
from loader.errors import ImportTimeoutError, LoaderError, LoaderWarning, one_line_warnings

__all__ = ["run_child"]

log = logging.getLogger("loader.develop")


def run_child(project: str, sock: socket.socket, conn: Connection) -> None:
    """Process entry point (must be importable for the spawn context).

    The child is started ahead of need: it imports the server and loader (most of a fresh
    interpreter's start-up), then waits for ``child-start``, which brings the environment to
    boot with (the parent's, ``.env`` applied, as read at that moment) and the files set aside
    (:func:`hung_file`: their import hung in an earlier child; this one boots without them and
    lists each as an error). A parent that goes away first ends it.
    """
    import uvicorn

    from loader.logs import request_server_logging, server_logging
    from loader.runtime.access_log import with_access_log
    from loader.runtime.application import Application
    from loader.runtime.server import server_config

    # The parent started this process with SIGINT ignored (see Supervisor._start_process), so
    # that Ctrl-C, which reaches the whole process group, cannot interrupt the interpreter's
    # start-up and the imports above with a traceback. From here on it is an interruption again.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        start = from_wire(conn.recv())
    except (EOFError, OSError, KeyboardInterrupt):
        # The parent is gone or no longer needs this spare; Ctrl-C in a terminal reaches the
        # whole process group, the waiting spare included: no traceback for it.
        os._exit(0)
    except ProtocolError as exc:
        conn.send(to_wire(ChildFailed(str(exc))))
        return
    if not isinstance(start, ChildStart):
        conn.send(to_wire(ChildFailed(f"expected child-start, got {start.type}")))
        return
    os.environ.clear()
    os.environ.update(start.environ)
    one_line_warnings()  # a spawned process: the parent's warning format is not inherited
    # The parent read the .env files first and already warned about what they could not set.
    warnings.filterwarnings("ignore", message=r"\.env", category=LoaderWarning)
    started = time.perf_counter()
    request_server_logging("develop")  # applied by the boot, once loader_config.py has run
    try:
        app = Application(project, set_aside=set_aside_errors(start.set_aside)).boot()
        app.serve_dev_inspect()
    except ImportTimeoutError as exc:
        conn.send(to_wire(ChildFailed(exc.format(), hung_file(exc))))
        os._exit(3)  # the import is still running in its thread: nothing here is worth a clean exit
    except LoaderError as exc:
        conn.send(to_wire(ChildFailed(exc.format())))
        return
    logs = server_logging()
    # log_config=None: uvicorn's loggers go through the root logger (loader's set-up or the
    # project's); access_log=False: loader's own access log carries the request id.
    served = with_access_log(app.asgi, bool(logs and logs.access_log))
    config = server_config(served, app.project.config.project.http, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    boot_errors = [e.format() for e in app.errors]

    async def main() -> None:
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.005)
        if server.started:
            # SIGINT/SIGTERM from the parent: a graceful stop, ours rather than uvicorn's (which
            # would re-raise the signal once done and end the process with a traceback).
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: setattr(server, "should_exit", True))
            conn.send(to_wire(ChildReady(os.getpid(), boot_errors, (time.perf_counter() - started) * 1000)))
            loop = asyncio.get_running_loop()
            # A daemon thread waits on the pipe: it must never keep the process alive on exit.
            threading.Thread(target=_listen, args=(conn, app, loop, server), daemon=True).start()
        await serving

    asyncio.run(main())
    # Served and shut down gracefully (requests finished, modules stopped). A full interpreter
    # teardown would now cost 0.2–0.75 s while the next child waits for this one to go: skip it.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _listen(conn: Connection, app: Any, loop: asyncio.AbstractEventLoop, server: Any) -> None:
    while True:
        try:
            message = from_wire(conn.recv())
        except (EOFError, OSError):  # the parent is gone: stop serving
            server.should_exit = True
            return
        except ProtocolError:  # not for this child: the parent times out and restarts it
            continue
        if not isinstance(message, HmrReload):
            continue
        changes = [FileChange(kind, Path(path)) for kind, path in message.changes]  # type: ignore[arg-type]
        future = asyncio.run_coroutine_threadsafe(app.reload(changes), loop)
        try:
            report = future.result()
            hung = next((hung_file(e) for e in report.errors if isinstance(e, ImportTimeoutError)), None)
            result = HmrResult(
                message.id, report.ok, report.to_dict(), report.restart_reason, None, report.duration_ms, hung
            )
        except Exception as exc:  # a bug in loader: the parent restarts the child
            result = HmrResult(message.id, False, None, f"the reload crashed ({type(exc).__name__}: {exc})", repr(exc))
        conn.send(to_wire(result))
