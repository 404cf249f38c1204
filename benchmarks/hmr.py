"""Hot reload benchmark (DESIGN §4, P1–P3, P5, R1, R3): `loader develop` vs `uvicorn --reload`.

Generated projects: N route files ``src/api/r<i:05d>/route.py`` (``async def GET(request):
return {"v": "<version>"}``) and a ``loader_config.py`` with ``define_config()``. Measures:

edit   (P1, P2) Save one route file → first response with the new body, at 10 and 1,000 routes,
       for three servers, one at a time, each on its own free port on 127.0.0.1: ``loader develop``
       with ``LOADER_FF_BACKEND_HMR=true`` (hot reload), the same with ``false`` (restart on every
       change) and ``uvicorn --reload`` serving a generated plain Starlette ``app.py`` that imports
       every route module's ``GET`` (wrapped in ``JSONResponse``). Servers run in rounds, the
       order rotating, so noise hits each alike; each start waits until it serves and makes one
       untimed warm-up edit. An edit writes a new version into one of four route files in place
       (one ``write``), then polls ``GET`` of that route (a keep-alive httpx client, 1 ms sleeps,
       30 s bound) until the body has the new version: the latency is write-returned → that body.
       Refused, reset and non-200 answers while polling are counted. 250 ms between edits.
       A version's length alternates between saves of a file, so a ``.pyc`` (trusted on mtime
       seconds + size) can never pass for the new source in the servers that restart.
inproc ``await app.reload([route])`` vs a plain fresh import of the same module (evicted from
       ``sys.modules``, ``importlib.import_module``), in process at 1,000 routes, interleaved, the
       file rewritten before each; bytecode off (``__pycache__`` removed, ``dont_write_bytecode``)
       so both compile the source, as loader's reload always does.
helper (P3) 100 of 1,000 routes import ``src/lib/shared.py``: ``app.reload([shared.py])`` vs
       evicting those 101 modules and importing them again with ``importlib`` (bytecode off likewise).
leak   (P5) 1,000 reloads of one route in process: RSS (``/proc/self/statm``) and the live
       ``src.*`` module objects (``gc.get_objects()``) after 50 warm-up reloads + ``gc.collect()``,
       then after the 1,000.
load   (R1) hot reload on 1,000 routes; a second process (``--load``) sends GETs to the route being
       reloaded over 16 keep-alive connections while this one edits it 200 times (each time
       waiting for the new body); non-200 answers and connection errors are failures.
crash  (R3) SIGKILL the child of ``loader develop`` (its pid from a ``/pid`` route) once it has
       served for 1 s; time until a request (fresh connection) gets the new child's 200, and
       whether any was refused.

Medians and nearest-rank p95 of one run; the machine is a noisy, shared 2 cores (the poller and
the server share them). In-process measures run in fresh subprocesses. Run
``python benchmarks/hmr.py`` (30 edits per server and size), ``--quick`` (10; 8 for uvicorn),
``--only NAME``, ``--no-docs``; the summary is printed and written between the ``hmr`` markers
of ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import importlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from perfdoc import DOCS, write_section  # benchmarks/perfdoc.py (scripts run from benchmarks/)

HOST = "127.0.0.1"
SERVERS = ("loader-hmr", "loader-restart", "uvicorn")
MEASURES = ("edit", "inproc", "helper", "leak", "load", "crash")
EDIT_LIMIT, POLL_SLEEP, EDIT_GAP = 30.0, 0.001, 0.25
Result = dict[str, Any]


# --- projects --------------------------------------------------------------------------------
def route_path(project: Path, i: int) -> Path:
    return project / "src" / "api" / f"r{i:05d}" / "route.py"


def route_source(version: str, helper: bool = False) -> str:
    if helper:
        return f'from src.lib.shared import VALUE\n\n\nasync def GET(request):\n    return {{"v": VALUE, "s": "{version}"}}\n'
    return f'async def GET(request):\n    return {{"v": "{version}"}}\n'


def generate(parent: Path, name: str, count: int, *, helper_users: int = 0, pid_route: bool = False) -> Path:
    project = parent / name
    (project / "src" / "api").mkdir(parents=True)
    (project / "loader_config.py").write_text("from loader import define_config\nconfig = define_config()\n")
    for i in range(1, count + 1):
        route_path(project, i).parent.mkdir()
        route_path(project, i).write_text(route_source("v0", helper=i <= helper_users))
    if helper_users:
        (project / "src" / "lib").mkdir()
        (project / "src" / "lib" / "shared.py").write_text('VALUE = "v0"\n')
    if pid_route:
        (project / "src" / "api" / "pid").mkdir()
        (project / "src" / "api" / "pid" / "route.py").write_text("import os\n\n\nasync def GET(request):\n    return {\"pid\": os.getpid()}\n")
    imports = "".join(f"from src.api.r{i:05d}.route import GET as h{i:05d}\n" for i in range(1, count + 1))
    routes = "".join(f'    Route("/r{i:05d}", endpoint(h{i:05d})),\n' for i in range(1, count + 1))
    (project / "app.py").write_text(
        "from starlette.applications import Starlette\nfrom starlette.responses import JSONResponse\n"
        f"from starlette.routing import Route\n{imports}\n\ndef endpoint(handler):\n    async def call(request):\n"
        f"        return JSONResponse(await handler(request))\n    return call\n\n\napp = Starlette(routes=[\n{routes}])\n"
    )
    return project


class Editor:
    """Writes new versions; a file's version length alternates between its saves (see above)."""

    def __init__(self) -> None:
        self.count, self.saves = 0, Counter[Path]()

    def write(self, path: Path, helper_value: bool = False) -> str:
        self.count += 1
        self.saves[path] += 1
        version = f"e{self.count:06d}" + "x" * (self.saves[path] % 2)
        path.write_bytes((f'VALUE = "{version}"\n' if helper_value else route_source(version)).encode())
        return version


def drop_bytecode(project: Path) -> None:
    for cache in project.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


# --- servers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(kind: str, project: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if kind == "uvicorn":
        cmd = [sys.executable, "-m", "uvicorn", "app:app", "--reload", "--host", HOST, "--port", str(port), "--log-level", "warning"]
    else:
        env["LOADER_FF_BACKEND_HMR"] = "true" if kind == "loader-hmr" else "false"
        cmd = [sys.executable, "-m", "loader", "develop", str(project), "--host", HOST, "--port", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, port


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT, wait, then SIGKILL; then whatever is left in the session it leads (ours)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_serving(client: httpx.Client, url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before serving {url}")
        try:
            if client.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} not served after {timeout:.0f} s")


def poll_new(client: httpx.Client, url: str, version: str, start: float, fails: Counter[str], limit: float = EDIT_LIMIT) -> float | None:
    """Seconds from ``start`` to the first 200 whose body has ``version``; None after ``limit``."""
    needle = f'"{version}"'.encode()
    while (elapsed := time.perf_counter() - start) < limit:
        try:
            response = client.get(url, timeout=max(0.5, limit - elapsed))
            if response.status_code != 200:
                fails["non-200"] += 1
            elif needle in response.content:
                return time.perf_counter() - start
        except httpx.ConnectError:
            fails["refused"] += 1
        except httpx.TransportError:
            fails["reset"] += 1
        time.sleep(POLL_SLEEP)
    return None


def edit_series(kind: str, project: Path, count: int, edits: int, editor: Editor, log: Path) -> tuple[list[float], list[float], Counter[str]]:
    """Start one server, time ``edits`` saves; also 20 idle GETs (the server's plain round trip)."""
    files = sorted({1 + k * (count - 1) // 3 for k in range(4)})
    samples: list[float] = []
    idle: list[float] = []
    fails: Counter[str] = Counter()
    proc, port = start_server(kind, project, log)
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}") as client:
            wait_serving(client, f"/r{files[0]:05d}", proc)
            for _ in range(10):  # warm-up, untimed; the watcher may start a moment after serving
                if poll_new(client, f"/r{files[0]:05d}", editor.write(route_path(project, files[0])), time.perf_counter(), Counter(), 10) is not None:
                    break
            for _ in range(20):
                start = time.perf_counter()
                client.get(f"/r{files[0]:05d}")
                idle.append(time.perf_counter() - start)
            time.sleep(EDIT_GAP)
            for n in range(edits):
                i = files[(n + 1) % len(files)]
                version = editor.write(route_path(project, i))
                took = poll_new(client, f"/r{i:05d}", version, time.perf_counter(), fails)
                if took is None:
                    fails["missed"] += 1
                else:
                    samples.append(took)
                time.sleep(EDIT_GAP)
    finally:
        stop_server(proc)
    return samples, idle, fails


def measure_edit(workdir: Path, quick: bool, log: Path) -> Result:
    rounds = 2 if quick else 3
    per_round = {"loader-hmr": 5, "loader-restart": 5, "uvicorn": 4} if quick else dict.fromkeys(SERVERS, 10)
    editor, out = Editor(), {}
    for count in (10, 1_000):
        project = generate(workdir, f"edit_{count}", count)
        samples: dict[str, list[float]] = {k: [] for k in SERVERS}
        idle: dict[str, list[float]] = {k: [] for k in SERVERS}
        fails: dict[str, Counter[str]] = {k: Counter() for k in SERVERS}
        for r in range(rounds):
            for kind in SERVERS[r % 3:] + SERVERS[:r % 3]:
                print(f"… edit: {count:,} routes, {kind}, round {r + 1}/{rounds}", file=sys.stderr, flush=True)
                got, waited, failed = edit_series(kind, project, count, per_round[kind], editor, log)
                samples[kind] += got
                idle[kind] += waited
                fails[kind] += failed
        out[str(count)] = {k: {"samples": samples[k], "idle": idle[k], "fails": dict(fails[k])} for k in SERVERS}
    return out


# --- in process (each in a fresh subprocess) -------------------------------------------------
async def _asgi_body(app: Any, path: str) -> bytes:
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
             "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": [], "server": ("b", 80), "client": ("127.0.0.1", 1)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def _loader_reload(app: Any, path: Path, check: str, version: str) -> float:
    start = time.perf_counter()
    report = await app.reload([path])
    took = time.perf_counter() - start
    if not report.ok or f'"{version}"'.encode() not in await _asgi_body(app.asgi, check):
        raise SystemExit(f"reload of {path} did not serve {version}: {report!r}")
    return took


def _plain_import(names: list[str]) -> float:
    for name in names:
        sys.modules.pop(name, None)
    start = time.perf_counter()
    for name in names:
        importlib.import_module(name)
    return time.perf_counter() - start


async def inproc(name: str, project: Path, n: int) -> Result:
    from loader.runtime.application import Application

    sys.dont_write_bytecode = True
    app = Application(project).boot()
    await app.start()
    editor, out = Editor(), {"loader": list[float](), "plain": list[float]()}
    try:
        if name == "leak":
            return await _leak(app, project, n, editor)
        if name == "helper":
            target, helper = project / "src" / "lib" / "shared.py", True
            names = ["src.lib.shared"] + [f"src.api.r{i:05d}.route" for i in range(1, 101)]
        else:
            target, helper, names = route_path(project, 1), False, ["src.api.r00001.route"]
        for i in range(n + 5):  # 5 untimed warm-up pairs
            for variant in ("loader", "plain") if i % 2 else ("plain", "loader"):
                version = editor.write(target, helper_value=helper)
                if variant == "loader":
                    took = await _loader_reload(app, target, "/r00001", version)
                else:
                    took = _plain_import(names)
                    if (await sys.modules[names[-1]].GET(None))["v"] != version:
                        raise SystemExit(f"plain import of {names[-1]} did not give {version}")
                if i >= 5:
                    out[variant].append(took)
    finally:
        await app.stop()
    return out


def _live() -> tuple[float, int]:
    gc.collect()
    rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return rss, sum(1 for o in gc.get_objects() if isinstance(o, types.ModuleType) and o.__name__.startswith("src."))


async def _leak(app: Any, project: Path, n: int, editor: Editor) -> Result:
    path, trend = route_path(project, 1), []
    for i in range(1, n + 51):
        await _loader_reload(app, path, "/r00001", editor.write(path))
        if i == 50 or (i - 50) % (n // 4) == 0:
            trend.append((i - 50, *_live()))
    return {"trend": trend}


def run_inproc(name: str, project: Path, n: int) -> Result:
    drop_bytecode(project)
    cmd = [sys.executable, __file__, "--inproc", name, str(project), str(n)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=project)
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    result: Result = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- R1: steady load while reloading ---------------------------------------------------------
async def load_main(port: int, path: str, limit: float, connections: int = 16) -> Result:
    """Child side: GETs until stdin closes (or ``limit`` s / 2M requests); prints counts."""
    stop = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + limit

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30) as client:
            while not stop.is_set() and time.monotonic() < deadline and sum(counts.values()) < 2_000_000:
                try:
                    response = await client.get(path)
                    counts["ok" if response.status_code == 200 else f"status {response.status_code}"] += 1
                except httpx.TransportError as exc:
                    counts[type(exc).__name__] += 1

    print("ready", flush=True)
    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return {"counts": dict(counts), "seconds": time.monotonic() - start}


def measure_load(workdir: Path, edits: int, log: Path) -> Result:
    project = generate(workdir, "load_1000", 1_000)
    proc, port = start_server("loader-hmr", project, log)
    editor, fails, samples, load = Editor(), Counter[str](), [], None
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}") as client:
            wait_serving(client, "/r00001", proc)
            load = subprocess.Popen([sys.executable, __file__, "--load", str(port), "/r00001", "600"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert load.stdin is not None and load.stdout is not None
            load.stdout.readline()
            time.sleep(0.5)
            for _ in range(edits):
                version = editor.write(route_path(project, 1))
                took = poll_new(client, "/r00001", version, time.perf_counter(), fails)
                if took is None:
                    fails["missed"] += 1
                else:
                    samples.append(took)
                time.sleep(0.05)
            time.sleep(0.5)
            out, _ = load.communicate(timeout=60)
    finally:
        if load is not None and load.poll() is None:
            load.kill()
        stop_server(proc)
    result: Result = json.loads(out.strip().splitlines()[-1])
    return {**result, "poller_fails": dict(fails), "samples": samples, "edits": edits}


# --- R3: a crashed child ---------------------------------------------------------------------
def measure_crash(workdir: Path, repeats: int, log: Path) -> Result:
    project = generate(workdir, "crash_1000", 1_000, pid_route=True)
    proc, port = start_server("loader-hmr", project, log)
    times: list[float] = []
    fails: Counter[str] = Counter()
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", limits=httpx.Limits(max_keepalive_connections=0)) as client:
            for _ in range(repeats):
                wait_serving(client, "/pid", proc)
                time.sleep(1.0)  # a crash while serving: the child may answer a moment before it reports ready
                old = client.get("/pid").json()["pid"]
                os.kill(old, signal.SIGKILL)
                start = time.perf_counter()
                while time.perf_counter() - start < EDIT_LIMIT:
                    try:
                        response = client.get("/pid", timeout=EDIT_LIMIT)
                        if response.status_code == 200 and response.json()["pid"] != old:
                            times.append(time.perf_counter() - start)
                            break
                        fails["non-200" if response.status_code != 200 else "old pid"] += 1
                    except httpx.ConnectError:
                        fails["refused"] += 1
                    except httpx.TransportError:
                        fails["reset"] += 1
                    time.sleep(POLL_SLEEP)
                else:
                    fails["missed"] += 1
                time.sleep(0.5)
    finally:
        stop_server(proc)
    return {"times": times, "fails": dict(fails)}


# --- summary ---------------------------------------------------------------------------------
def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] if ordered else math.nan


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}" if not math.isnan(seconds) else "n/a"


def med(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def render(results: Result, errors: dict[str, str], command: str, total: float, quick: bool) -> str:
    lines = [f"HMR benchmark — {datetime.date.today().isoformat()}, Python {platform.python_version()}, `{command}`, "
             f"whole run {total / 60:.1f} min (method: the docstring of `benchmarks/hmr.py`).", ""]
    checks: list[tuple[str, str, str, bool]] = []
    if "edit" in results:
        lines += ["### Save → first response with the new body", "",
                  "| routes | server | edits | p50 ms | p95 ms | failed polls (refused / reset / non-200) | missed | idle GET p50 ms |",
                  "|---:|---|---:|---:|---:|---|---:|---:|"]
        p50: dict[tuple[str, str], float] = {}
        for size, servers in results["edit"].items():
            for kind, data in servers.items():
                s, f = data["samples"], Counter(data["fails"])
                p50[size, kind] = med(s)
                lines.append(f"| {int(size):,} | {kind} | {len(s)} | {ms(med(s))} | {ms(p95(s))} | "
                             f"{f['refused']} / {f['reset']} / {f['non-200']} | {f['missed']} | {ms(med(data['idle']))} |")
        lines += ["", "| routes | uvicorn / loader-hmr (p50) | loader-restart / loader-hmr (p50) |", "|---:|---:|---:|"]
        for size in results["edit"]:
            lines.append(f"| {int(size):,} | {p50[size, 'uvicorn'] / p50[size, 'loader-hmr']:,.0f}× | "
                         f"{p50[size, 'loader-restart'] / p50[size, 'loader-hmr']:,.1f}× |")
        hmr, ratio = p50["1000", "loader-hmr"], p50["1000", "uvicorn"] / p50["1000", "loader-hmr"]
        growth = hmr / p50["10", "loader-hmr"]
        checks += [("P1", "loader-hmr p50 at 1,000 routes ≤ 50 ms", f"{ms(hmr)} ms", hmr <= 0.050),
                   ("P1", "uvicorn --reload / loader-hmr p50 at 1,000 routes ≥ 50×", f"{ratio:,.0f}×", ratio >= 50),
                   ("P2", "loader-hmr p50 1,000 / 10 routes ≤ 1.5×", f"{growth:.2f}×", growth <= 1.5)]
    if "inproc" in results or "helper" in results:
        lines += ["", "### `app.reload()` vs plain import (in process, 1,000 routes, from source)", "",
                  "| change | samples | `app.reload` p50 ms | p95 ms | plain import p50 ms | p95 ms | reload / plain |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for key, label in (("inproc", "one route (1 module)"), ("helper", "helper imported by 100 routes (101 modules)")):
            if key in results:
                lo, pl = results[key]["loader"], results[key]["plain"]
                lines.append(f"| {label} | {len(lo)} | {ms(med(lo))} | {ms(p95(lo))} | {ms(med(pl))} | {ms(p95(pl))} | {med(lo) / med(pl):.2f}× |")
        if "helper" in results:
            lo, pl = med(results["helper"]["loader"]), med(results["helper"]["plain"])
            checks.append(("P3", "helper: reload ≤ 1.2 × plain + 10 ms", f"{ms(lo)} ms vs bound {ms(1.2 * pl + 0.010)} ms", lo <= 1.2 * pl + 0.010))
    if "leak" in results:
        trend = results["leak"]["trend"]
        lines += ["", "### 1,000 reloads of one route (after 50 warm-up reloads; `gc.collect()` before each reading)", "",
                  "| reloads | RSS MB | live `src.*` module objects |", "|---:|---:|---:|"]
        lines += [f"| {n:,} | {rss:,.1f} | {mods:,} |" for n, rss, mods in trend]
        grown, mods = trend[-1][1] - trend[0][1], {t[2] for t in trend}
        checks.append(("P5", "RSS growth ≤ 5 MB, module objects constant", f"+{grown:.1f} MB; modules {sorted(mods)}", grown <= 5 and len(mods) == 1))
    if "load" in results:
        r = results["load"]
        counts = Counter(r["counts"])
        bad = sum(counts.values()) - counts["ok"]
        lines += ["", "### Steady load while the route is reloaded (hot reload, 1,000 routes)", "",
                  "| edits | load requests | req/s | failed (non-200 or connection error) | edit p50 ms under load | poller failures |",
                  "|---:|---:|---:|---:|---:|---|", f"| {r['edits']} | {sum(counts.values()):,} | {sum(counts.values()) / r['seconds']:,.0f} | "
                  f"{bad}{' ' + str(dict(counts)) if bad else ''} | {ms(med(r['samples']))} | {r['poller_fails'] or 0} |"]
        checks.append(("R1", f"{r['edits']} reloads under load: zero failed requests", f"{bad} failed", bad == 0 and not r["poller_fails"]))
    if "crash" in results:
        c = results["crash"]
        f = Counter(c["fails"])
        lines += ["", "### Child killed with SIGKILL (hot reload, 1,000 routes)", "",
                  "| kills | back in p50 ms | max ms | refused | reset / other |", "|---:|---:|---:|---:|---|",
                  f"| {len(c['times'])} | {ms(med(c['times']))} | {ms(max(c['times'], default=math.nan))} | {f['refused']} | {dict(f) or 0} |"]
        worst = max(c["times"], default=math.inf)
        checks.append(("R3", "serving again ≤ 2 s, no refused connection", f"max {ms(worst)} ms, {f['refused']} refused", worst <= 2 and not f["refused"] and not f["missed"]))
    targets = {"edit": "P1", "helper": "P3", "leak": "P5", "load": "R1", "crash": "R3", "inproc": "—"}
    checks += [(targets[name], f"the `{name}` measure ran", f"error: {error}", False) for name, error in errors.items()]
    lines += ["", "| target | condition | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {t} | {cond} | {got} | {'PASS' if ok else 'FAIL'} |" for t, cond, got, ok in checks]
    verdicts = {t: all(ok for n, _, _, ok in checks if n == t) for t in dict.fromkeys(c[0] for c in checks if c[0] != "—")}
    lines += [""] + [f"**{t}: {'PASS' if ok else 'FAIL'}**" for t, ok in verdicts.items()]
    lines += ["", "R2 (a broken edit keeps the old version serving, reports `path:line`, the next good save recovers) is "
              "covered by tests (`tests/runtime/test_reload.py`), not timed here."]
    if quick:
        lines += ["", "_`--quick` run: too few samples for the p95 to mean much._"]
    return "\n".join(lines) + "\n"


def write_docs(section: str) -> None:
    write_section('hmr', 'Hot reload (`loader develop`)', section)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--inproc", nargs=3, metavar=("NAME", "PROJECT", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=3, metavar=("PORT", "PATH", "SECONDS"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer edits, reloads and samples")
    parser.add_argument("--only", choices=MEASURES, help="run one measure (printed only, docs untouched)")
    parser.add_argument("--no-docs", action="store_true", help=f"do not update {DOCS.name}")
    args = parser.parse_args(argv)
    if args.inproc:
        name, project, n = args.inproc
        print(json.dumps(asyncio.run(inproc(name, Path(project), int(n)))))
        return
    if args.load:
        print(json.dumps(asyncio.run(load_main(int(args.load[0]), args.load[1], float(args.load[2])))))
        return

    began = time.perf_counter()
    command = "python benchmarks/hmr.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    workdir = Path(tempfile.mkdtemp(prefix="loader-hmr-"))
    log = workdir / "servers.log"
    wanted = [args.only] if args.only else list(MEASURES)
    results: Result = {}
    errors: dict[str, str] = {}
    try:
        for name in wanted:
            print(f"… {name}", file=sys.stderr, flush=True)
            try:
                results[name] = run_measure(name, workdir, args.quick, log)
            except (Exception, SystemExit) as exc:  # one broken measure must not hide the others
                errors[name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
                print(f"{name} failed: {exc}\n{log.read_text()[-3000:] if log.exists() else ''}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    section = render(results, errors, command, time.perf_counter() - began, args.quick)
    print(section)
    if not args.no_docs and not args.only:
        write_docs(section)


def run_measure(name: str, workdir: Path, quick: bool, log: Path) -> Result:
    if name == "edit":
        return measure_edit(workdir, quick, log)
    if name in ("inproc", "helper", "leak"):
        n = (200 if quick else 1_000) if name == "leak" else (20 if quick else 50)
        project = generate(workdir, f"{name}_1000", 1_000, helper_users=100 if name == "helper" else 0)
        return run_inproc(name, project, n)
    if name == "load":
        return measure_load(workdir, 50 if quick else 200, log)
    return measure_crash(workdir, 2 if quick else 5, log)


if __name__ == "__main__":
    main()
