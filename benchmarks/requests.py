"""Requests benchmark (DESIGN §4, P6): a trivial route through loader vs bare Starlette.

One handler, ``GET /bench`` → ``{"ok": true}``, two ways, side by side in one run: ``loader``
(a generated project whose ``src/api/bench/route.py`` returns the dict; loader makes it a
``JSONResponse``, booted with ``Application(project).boot()``) and ``starlette``
(``Starlette(routes=[Route("/bench", endpoint)])``, the endpoint returning the same
``JSONResponse``).

(1) In process: N sequential direct ASGI calls (a fresh copy of one GET /bench scope, an
empty-body ``receive``, a discarding ``send``; status and body checked once first) in one event
loop in this process: the framework's own per-request cost, no server, no network. Both apps
share the process and its GC state on purpose; runs alternate and the app going first swaps
every repeat, so machine drift hits both alike.
(2) Over HTTP: each app under uvicorn (warning log level, no access log; both on uvicorn's h11
protocol, loader with the settings ``loader start`` uses: ``loader/runtime/server.py``'s
subclass that times request heads, keep-alive and head-size limits) in its own subprocess
on 127.0.0.1 — one server at a time, a fresh one per run, warmed up — driven from this process
by ``wrk -t1 -c32`` if on PATH, else by a built-in asyncio generator (C keep-alive raw-socket
connections, responses read by Content-Length, 200s with the right body counted until the
deadline; bounded in time and count). Runs alternate. This shows what is left of the difference
once a real server and HTTP parser are in the path.

The machine is a noisy, shared 2 cores (over HTTP the generator and the server share them), so
figures are medians of several runs and only ratios within one run mean anything.
Like with like: ``Starlette(routes=...)`` runs its ServerErrorMiddleware and ExceptionMiddleware
around the router (an exception becomes a 500 or its HTTPException response); loader's
``HttpApp`` does the same duties in its own code (one mapping of exceptions, request ids) and
also enforces ``project.http.max_body_size``, so the anchor is Starlette with its default stack.
Target P6: loader ≥ 0.9 × bare Starlette requests/s, in process and over HTTP, taken at the
worst of the per-run ratios (each loader run against the Starlette run beside it).
Run ``python benchmarks/requests.py`` (7 × 20,000 calls in process, 5 × 5 s over HTTP) or with
``--quick`` (3 × 5,000, 2 × 2 s); the table is printed and, unless ``--no-docs``, written between
the ``requests`` markers of ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import importlib.util
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Scope

from perfdoc import DOCS, write_section  # benchmarks/perfdoc.py (scripts run from benchmarks/)

APPS = ("loader", "starlette")
TARGET = 0.9
HOST = "127.0.0.1"
BODY = b'{"ok":true}'
REQUEST = b"GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
MAX_REQUESTS = 5_000_000  # per load run, a bound besides the duration
SCOPE: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
                "path": "/bench", "raw_path": b"/bench", "root_path": "", "query_string": b"", "headers": [(b"host", b"bench")],
                "server": ("bench", 80), "client": ("127.0.0.1", 50000)}


def generate(parent: Path) -> Path:
    project = parent / "bench_project"
    (project / "src" / "api" / "bench").mkdir(parents=True)
    (project / "loader_config.py").write_text("from loader import define_config\nconfig = define_config()\n")
    (project / "src" / "api" / "bench" / "route.py").write_text('async def GET(request):\n    return {"ok": True}\n')
    return project


async def _endpoint(request: Request) -> Response:
    return JSONResponse({"ok": True})


def starlette_app() -> Starlette:
    return Starlette(routes=[Route("/bench", _endpoint)])


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: Message) -> None:
    pass


async def _check(name: str, app: ASGIApp) -> None:
    sent: list[Message] = []

    async def keep(message: Message) -> None:
        sent.append(message)

    await app(dict(SCOPE), _receive, keep)
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    if status != 200 or body != BODY:
        raise SystemExit(f"{name}: GET /bench gave {status} {body!r}, expected 200 {BODY!r}")


async def _calls(app: ASGIApp, n: int) -> float:
    """Requests per second of ``n`` sequential calls."""
    start = time.perf_counter()
    for _ in range(n):
        await app(dict(SCOPE), _receive, _discard)
    return n / (time.perf_counter() - start)


async def in_process(project: Path, n: int, repeats: int) -> dict[str, list[float]]:
    from loader.runtime.application import Application

    application = Application(project).boot()
    await application.start()
    apps: dict[str, ASGIApp] = {"loader": application.asgi, "starlette": starlette_app()}
    samples: dict[str, list[float]] = {name: [] for name in APPS}
    try:
        for name, app in apps.items():
            await _check(name, app)
            await _calls(app, max(n // 10, 100))  # warm-up
        for r in range(repeats):
            for name in APPS if r % 2 == 0 else APPS[::-1]:
                samples[name].append(await _calls(apps[name], n))
    finally:
        await application.stop()
    return samples


def serve(kind: str, project: Path, port: int) -> None:
    """Child side: serve one app under uvicorn until terminated."""
    import uvicorn

    options = {"host": HOST, "port": port, "log_level": "warning", "access_log": False}
    if kind == "loader":  # as `loader start` serves it: its protocol (an h11 subclass timing request heads) and limits
        from loader.runtime.application import Application
        from loader.runtime.server import server_config

        application = Application(project, openapi_default=False).boot()  # lifespan runs start() / stop()
        config = server_config(application.asgi, application.project.config.project.http, **options)
    else:
        config = uvicorn.Config(starlette_app(), http="h11", **options)
    uvicorn.Server(config).run()


async def _client(port: int, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.perf_counter() < deadline and counts[0] + counts[1] < MAX_REQUESTS:
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = CONTENT_LENGTH.search(head)
            body = await reader.readexactly(int(length.group(1)) if length else 0)
            if time.perf_counter() <= deadline:  # only count what completed in the window
                counts[0 if head.startswith(b"HTTP/1.1 200") and body == BODY else 1] += 1
    finally:
        writer.close()


async def _load(port: int, connections: int, duration: float) -> tuple[float, int]:
    """Built-in load generator: (requests/s of good responses, number of bad ones)."""
    counts = [0, 0]
    deadline = time.perf_counter() + duration
    await asyncio.wait_for(asyncio.gather(*(_client(port, deadline, counts) for _ in range(connections))), duration + 30)
    return counts[0] / duration, counts[1]


def _wrk(port: int, connections: int, duration: float) -> tuple[float, int]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", f"http://{HOST}:{port}/bench"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=duration + 60).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if rate is None:
        raise SystemExit(f"cannot read wrk output:\n{out}")
    return float(rate.group(1)), int(bad.group(1)) if bad else 0


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before serving")
        try:
            if asyncio.run(_load(port, 1, 0.05))[0] > 0:
                return
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"server on port {port} not ready after {timeout:.0f} s")


def http_run(kind: str, project: Path, connections: int, duration: float, log: Path) -> tuple[float, int]:
    with socket.socket() as sock:  # a free port; the child binds it a moment later
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    cmd = [sys.executable, __file__, "--serve", kind, str(project), str(port)]
    with log.open("ab") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=project)
    try:
        _wait_ready(proc, port)
        asyncio.run(_load(port, connections, min(1.0, duration / 2)))  # warm-up, untimed
        if shutil.which("wrk"):
            return _wrk(port, connections, duration)
        return asyncio.run(_load(port, connections, duration))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def render(inproc: dict[str, list[float]], http: dict[str, list[float]], bad: int, n: int, conns: int, duration: float, command: str) -> str:
    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"

    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    generator = "`wrk -t1`" if shutil.which("wrk") else "the built-in asyncio generator (raw sockets)"
    lines = [
        f"Requests benchmark — {datetime.date.today().isoformat()}, Python {platform.python_version()}, `{command}` "
        "(medians, min–max in brackets; loader and Starlette runs interleaved).",
        f"In process: {len(inproc['loader'])} runs of {n:,} sequential direct ASGI calls of GET /bench in one event loop. "
        f"Over HTTP: {len(http['loader'])} runs, each a fresh uvicorn {importlib.metadata.version('uvicorn')} subprocess "
        f"({parser}, {loop} loop) on loopback, driven for {duration:g} s by {generator} over {conns} keep-alive "
        f"connections; the generator and the server share the 2 cores. Failed or wrong responses: {bad}.",
        "",
        "| mode | loader req/s | bare Starlette req/s | loader / Starlette, per run: median (min–max) |",
        "|---|---:|---:|---:|",
    ]
    worst = {}
    for mode, samples in (("in process (direct ASGI calls)", inproc), ("over HTTP (uvicorn, loopback)", http)):
        # Runs alternate, so run i of loader and run i of Starlette saw the same machine.
        paired = [a / b for a, b in zip(samples["loader"], samples["starlette"])]
        worst[mode] = min(paired)
        lines.append(
            f"| {mode} | {cell(samples['loader'])} | {cell(samples['starlette'])} | "
            f"{statistics.median(paired):.2f}× ({min(paired):.2f}–{max(paired):.2f}) |"
        )
    lines += ["", "| target | measured (worst run) | verdict |", "|---|---|---|"]
    for mode, ratio in worst.items():
        lines.append(f"| P6 {mode.split(' (')[0]}: loader ≥ {TARGET} × Starlette | {ratio:.2f}× | {'PASS' if ratio >= TARGET else 'FAIL'} |")
    passed = all(r >= TARGET for r in worst.values()) and bad == 0
    lines += ["", f"**P6: {'PASS' if passed else 'FAIL'}** (≥ {TARGET}× bare Starlette in process and over HTTP in every run, no failed responses)"]
    return "\n".join(lines) + "\n"


def write_docs(section: str) -> None:
    write_section('requests', 'Requests per second (trivial route)', section)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--serve", nargs=3, metavar=("APP", "PROJECT", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="3 × 5,000 calls in process, 2 × 2 s over HTTP")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections over HTTP (default 32)")
    parser.add_argument("--no-docs", action="store_true", help=f"do not update {DOCS.name}")
    args = parser.parse_args(argv)
    if args.serve:
        kind, project, port = args.serve
        serve(kind, Path(project), int(port))
        return

    n, repeats = (5_000, 3) if args.quick else (20_000, 7)
    http_repeats, duration = (2, 2.0) if args.quick else (5, 5.0)
    command = "python benchmarks/requests.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    workdir = Path(tempfile.mkdtemp(prefix="loader-requests-"))
    log = workdir / "servers.log"
    try:
        project = generate(workdir)
        print(f"… in process: {repeats} × {n:,} calls per app", file=sys.stderr, flush=True)
        inproc = asyncio.run(in_process(project, n, repeats))
        print(f"… over HTTP: {http_repeats} × {duration:g} s per app", file=sys.stderr, flush=True)
        http: dict[str, list[float]] = {name: [] for name in APPS}
        bad = 0
        for r in range(http_repeats):
            for name in APPS if r % 2 == 0 else APPS[::-1]:
                rate, failed = http_run(name, project, args.connections, duration, log)
                http[name].append(rate)
                bad += failed
    except BaseException:
        if log.exists():
            print(log.read_text()[-4000:], file=sys.stderr)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    section = render(inproc, http, bad, n, args.connections, duration, command)
    print(section)
    if not args.no_docs:
        write_docs(section)


if __name__ == "__main__":
    main()
