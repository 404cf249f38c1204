"""`loader start` as a real process on a free port: serve, then SIGTERM and a graceful stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{process.communicate()[0]}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"server did not answer {url} within {timeout}s")


def test_start_serves_and_shuts_down_gracefully_on_sigterm(make_project, tmp_path: Path) -> None:
    marker = tmp_path / "shutdown.txt"
    root = make_project({
        "src/api/store/hello/route.py": "async def GET(request):\n    return {'message': 'hello'}\n",
        "src/api/frozen/route.py": "import gc\n\nasync def GET(request):\n    return gc.get_freeze_count()\n",
        "src/api/slow/route.py": "import asyncio\n\nasync def GET(request):\n    await asyncio.sleep(0.5)\n    return {'slow': 'done'}\n",
        "src/modules/audit/__init__.py": f"""
            from loader import Module

            class Audit:
                async def on_shutdown(self):
                    with open({str(marker)!r}, "w") as handle:
                        handle.write("module stopped")

            module = Module("audit", service=Audit)
        """,
    })
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loader", "start", str(root), "--port", str(port), "--grace", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/health", process)
        assert httpx.get(f"{base}/store/hello").json() == {"message": "hello"}
        assert httpx.get(f"{base}/frozen").json() > 10_000  # booted objects frozen (gc_pause.freeze_boot_heap)

        slow: dict[str, object] = {}
        thread = threading.Thread(target=lambda: slow.update(response=httpx.get(f"{base}/slow", timeout=10)))
        thread.start()
        time.sleep(0.2)  # the slow request is in flight
        process.send_signal(signal.SIGTERM)
        thread.join(timeout=15)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert slow["response"].json() == {"slow": "done"}  # type: ignore[attr-defined]
    # uvicorn re-raises the signal once shutdown is complete, so supervisors see "stopped by SIGTERM"
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert marker.read_text() == "module stopped"
    assert f"serving {root.name} on http://127.0.0.1:{port}" in output


def test_start_on_a_folder_that_is_not_a_project(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "loader", "start", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "is not a loader project" in result.stderr and "Traceback" not in result.stderr


def test_start_refuses_a_project_with_errors(make_project) -> None:
    root = make_project({"src/api/bad/route.py": "async def GET(request)\n"})
    result = subprocess.run([sys.executable, "-m", "loader", "start", str(root), "--port", str(free_port())], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "src/api/bad/route.py:1: syntax error" in result.stderr and "not serving" in result.stderr


def test_start_exits_with_the_module_that_failed_to_start(make_project) -> None:
    root = make_project({
        "src/modules/pay/__init__.py": """
            from loader import Module

            class Pay:
                async def on_start(self):
                    raise ConnectionError("gateway unreachable")

            module = Module("pay", service=Pay)
        """,
    })
    result = subprocess.run([sys.executable, "-m", "loader", "start", str(root), "--port", str(free_port())], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    message = "src/modules/pay/__init__.py:7: module 'pay': service Pay failed to start: ConnectionError: gateway unreachable"
    assert result.stderr.count(message) == 1 and "Traceback" not in result.stderr


def test_start_refuses_pending_migrations_and_says_what_to_run(make_project) -> None:
    root = make_project({
        "src/modules/blog/__init__.py": "from loader import Module\n\nclass Blog: ...\n\nmodule = Module('blog', service=Blog)\n",
        "src/modules/blog/migrations/Migration20250101000000.py": (
            "from loader import Migration\n\nclass Migration20250101000000(Migration):\n"
            "    def up(self, db):\n        pass\n\n    def down(self, db):\n        pass\n"
        ),
    })
    result = subprocess.run([sys.executable, "-m", "loader", "start", str(root), "--port", str(free_port())], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "blog:Migration20250101000000" in result.stderr and f"run `loader db migrate {root}` first" in result.stderr
    assert not (root / ".loader" / "loader.db").exists()  # the check never creates the database


def test_start_in_safe_mode_serves_a_project_listing_a_missing_plugin(make_project) -> None:
    root = make_project({
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['not-installed'])\n",
        "src/api/ok/route.py": "async def GET(request):\n    return {'ok': True}\n",
    })
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loader", "start", str(root), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "LOADER_SAFE_MODE": "1"},
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
        assert httpx.get(f"http://127.0.0.1:{port}/ok").json() == {"ok": True}
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "loader: safe mode (LOADER_SAFE_MODE): no plugin loaded (1 listed in loader_config.py not loaded)" in output
    assert "not serving" not in output


def _start(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loader", "start", str(root), *args], capture_output=True, text=True, timeout=60)


def test_start_and_develop_on_a_port_in_use_say_so_in_one_line(make_project) -> None:
    root = make_project({"src/api/hi/route.py": "async def GET(request):\n    return {}\n"})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for command in ("start", "develop"):
            result = subprocess.run([sys.executable, "-m", "loader", command, str(root), "--port", port], capture_output=True, text=True, timeout=60)
            assert result.returncode == 1, command
            assert result.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: the address is already in use (another server runs there? choose another with --port)"
            assert "serving" not in result.stdout


def test_start_refuses_a_port_out_of_range_and_a_missing_folder(make_project, tmp_path: Path) -> None:
    root = make_project({"src/api/hi/route.py": "async def GET(request):\n    return {}\n"})
    result = _start(root, "--port", "99999")
    assert result.returncode == 2 and "'--port': 99999 is not in the range 0<=x<=65535" in result.stderr
    assert "Traceback" not in result.stderr
    result = _start(tmp_path / "nope")
    assert result.returncode == 1 and result.stderr.strip() == f"error: no such folder: {tmp_path / 'nope'}"


def test_start_says_serving_once_it_serves_and_ctrl_c_exits_130_quietly(make_project) -> None:
    root = make_project({"src/api/hi/route.py": "async def GET(request):\n    return {'hi': 1}\n"})
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loader", "start", str(root), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # a real Ctrl-C reaches a process whose SIGINT is not ignored (a shell's background job's is)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/hi", process)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "Aborted" not in output and "Traceback" not in output
    lines = output.splitlines()
    serving = next(i for i, line in enumerate(lines) if f"serving proj on http://127.0.0.1:{port}" in line)
    started = next(i for i, line in enumerate(lines) if "Application startup complete" in line)
    assert serving > started  # said once the application has started, never before


def test_h_is_help_everywhere() -> None:
    for args in (["-h"], ["start", "-h"], ["db", "migrate", "-h"], ["inspect", "-h"]):
        result = subprocess.run([sys.executable, "-m", "loader", *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stdout.startswith("Usage: loader"), args


def test_a_second_ctrl_c_exits_at_once_without_a_traceback(make_project) -> None:
    # An open keep-alive connection makes uvicorn wait; a second SIGINT forces the exit, and the
    # loop's teardown cancels the lifespan task: that must not print uvicorn's traceback of it.
    root = make_project({"src/api/hi/route.py": "async def GET(request):\n    return {'hi': 1}\n"})
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loader", "start", str(root), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/hi", process)
        with socket.create_connection(("127.0.0.1", port)) as kept_alive:
            kept_alive.sendall(b"GET /hi HTTP/1.1\r\nHost: x\r\n\r\n")
            kept_alive.recv(1000)
            process.send_signal(signal.SIGINT)
            time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "Traceback" not in output and "Aborted" not in output
