"""Connection limits of a real `loader start` process: slow heads, idle connections, head size,
concurrency (``project.http``: header_timeout, keep_alive_timeout, max_head_size, limit_concurrency)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from tests.runtime.test_start import free_port, wait_for

from loader import ConfigError, load_project
from loader.config.models import HttpConfig
from loader.runtime.server import HeadTimeoutH11Protocol, server_config

pytestmark = pytest.mark.slow

REQUEST = b"GET /ok HTTP/1.1\r\nHost: test\r\n\r\n"


@contextmanager
def loader_start(root: Path, http: str) -> Iterator[tuple[str, Path]]:
    """Serve ``root`` with ``project.http`` set to ``http``; yields the base URL and the file
    the server's output goes to."""
    (root / "src/api/ok").mkdir(parents=True, exist_ok=True)
    (root / "src/api/ok/route.py").write_text(
        "async def GET(request):\n    return {'ok': True}\n\n"
        "async def POST(request):\n    return {'size': len(await request.body())}\n"
    )
    (root / "loader_config.py").write_text(f"from loader import define_config\n\nconfig = define_config(project={{'http': {http}}})\n")
    port = free_port()
    log = root / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "loader", "start", str(root), "--port", str(port)],
            stdout=sink, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}", log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()


def connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (reading and dropping what it sends)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True
    return False


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a content-length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("limited")
    with loader_start(root, "{'header_timeout': 1, 'keep_alive_timeout': 1, 'max_head_size': 2048}") as served:
        yield served


def test_a_client_trickling_its_head_is_cut_off_while_others_are_served(limited: tuple[str, Path]) -> None:
    base, _ = limited
    slow = connect(base)
    slow.sendall(b"GET /ok HTTP/1.1\r\n")
    served_meanwhile = 0
    cut_off = False
    deadline = time.monotonic() + 10
    lines = 0
    while time.monotonic() < deadline and not cut_off:
        try:
            slow.sendall(f"X-Line-{lines}: {'a' * 10}\r\n".encode())  # one header line every 0.5 s
        except ConnectionError:
            cut_off = True
            break
        lines += 1
        cut_off = closed_within(slow, 0.5)
        assert httpx.get(f"{base}/ok", timeout=5).json() == {"ok": True}
        served_meanwhile += 1
    slow.close()
    assert cut_off, f"the slow client still connected after {lines} header lines"
    assert served_meanwhile >= 1


def test_the_head_of_a_later_request_on_a_kept_alive_connection_is_timed_too(limited: tuple[str, Path]) -> None:
    base, _ = limited
    with connect(base) as sock:
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /ok HTTP/1.1\r\n")
        cut_off = False
        for line in range(20):  # 10 s at most
            try:
                sock.sendall(f"X-Line-{line}: a\r\n".encode())
            except ConnectionError:
                cut_off = True
                break
            if closed_within(sock, 0.5):
                cut_off = True
                break
        assert cut_off


def test_a_slow_body_is_not_cut_off_once_the_head_is_complete(limited: tuple[str, Path]) -> None:
    base, _ = limited
    with connect(base) as sock:
        sock.sendall(b"POST /ok HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n")
        for byte in b"1234":  # 2 s for the body, twice the header timeout
            time.sleep(0.5)
            sock.sendall(bytes([byte]))
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b'{"size":4}')


def test_a_connection_that_sends_nothing_is_closed_and_logged(limited: tuple[str, Path]) -> None:
    base, log = limited
    with connect(base) as silent:
        client = "%s:%d" % silent.getsockname()
        assert closed_within(silent, 10)
    expected = f"Closed the connection of {client}: no complete request head within 1s (project.http.header_timeout)."
    assert expected in log.read_text()


def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(limited: tuple[str, Path]) -> None:
    base, _ = limited
    with connect(base) as idle:
        idle.sendall(REQUEST)
        assert read_response(idle).startswith(b"HTTP/1.1 200")
        idle.sendall(REQUEST)  # the connection is kept alive between requests
        assert read_response(idle).startswith(b"HTTP/1.1 200")
        assert closed_within(idle, 10)


def test_a_head_larger_than_max_head_size_is_refused(limited: tuple[str, Path]) -> None:
    base, _ = limited
    with connect(base) as big:
        big.sendall(b"GET /ok HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 4096 + b"\r\n\r\n")
        big.settimeout(10)
        assert big.recv(65536).startswith(b"HTTP/1.1 400")
        assert closed_within(big, 10)
    with connect(base) as fits:  # a head under the limit is served
        fits.sendall(b"GET /ok HTTP/1.1\r\nHost: test\r\nX-Fits: " + b"a" * 1024 + b"\r\n\r\n")
        assert read_response(fits).startswith(b"HTTP/1.1 200")


def test_past_limit_concurrency_requests_get_a_503(tmp_path: Path) -> None:
    with loader_start(tmp_path, "{'limit_concurrency': 2, 'keep_alive_timeout': 60}") as (base, log):
        # uvicorn counts the connection a request arrives on: with 2, one connection is served
        deadline = time.monotonic() + 10
        holder = None
        while holder is None and time.monotonic() < deadline:
            sock = connect(base)
            sock.sendall(REQUEST)
            if read_response(sock).startswith(b"HTTP/1.1 200"):
                holder = sock  # kept open (keep-alive): it holds the one slot
            else:
                sock.close()  # the health check's connection was not yet gone
                time.sleep(0.05)
        assert holder is not None
        refused = httpx.get(f"{base}/ok", timeout=5)
        assert refused.status_code == 503
        holder.close()
        served = None
        while time.monotonic() < deadline + 10:
            served = httpx.get(f"{base}/ok", timeout=5)
            if served.status_code == 200:
                break
            time.sleep(0.05)
        assert served is not None and served.status_code == 200
        assert "Exceeded concurrency limit." in log.read_text()


def test_server_config_carries_every_setting_of_project_http() -> None:
    http = HttpConfig(keep_alive_timeout=7.5, header_timeout=3, max_head_size=4096, limit_concurrency=50)
    config = server_config(Starlette(), http, host="0.0.0.0", port=8123, log_level="warning")
    assert (config.timeout_keep_alive, config.limit_concurrency, config.h11_max_incomplete_event_size) == (7.5, 50, 4096)
    assert (config.host, config.port, config.lifespan) == ("0.0.0.0", 8123, "on")
    assert isinstance(config.http, type) and issubclass(config.http, HeadTimeoutH11Protocol)
    assert config.http.header_timeout == 3
    defaults = server_config(Starlette(), HttpConfig())
    assert (defaults.timeout_keep_alive, defaults.limit_concurrency, defaults.h11_max_incomplete_event_size) == (5.0, None, 16384)
    assert defaults.http.header_timeout == 10.0  # type: ignore[union-attr]


def test_develop_serves_with_the_same_limits(make_project) -> None:
    from tests.dev.test_develop_e2e import DevServer, stop_and_check

    root = make_project({
        "loader_config.py": "from loader import define_config\n\nconfig = define_config(project={'http': {'header_timeout': 1}})\n",
        "src/api/ok/route.py": "async def GET(request):\n    return {'ok': True}\n",
    })
    server = DevServer(root, hmr=True).start()
    try:
        assert server.get("/ok").json() == {"ok": True}
        with connect(server.url) as silent:
            assert closed_within(silent, 10)
    finally:
        stop_and_check(server)


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("header_timeout", "0", "greater than 0"),
    ("header_timeout", "-1", "greater than 0"),
    ("header_timeout", "float('nan')", "finite number"),
    ("header_timeout", "float('inf')", "finite number"),
    ("header_timeout", "'10'", "valid number"),
    ("header_timeout", "True", "valid number"),
    ("keep_alive_timeout", "0", "greater than 0"),
    ("keep_alive_timeout", "86400", "less than or equal to 3600"),
    ("keep_alive_timeout", "None", "valid number"),
    ("limit_concurrency", "1", "greater than or equal to 2"),
    ("limit_concurrency", "0", "greater than or equal to 2"),
    ("limit_concurrency", "100.0", "valid integer"),
    ("max_head_size", "100", "greater than or equal to 1024"),
    ("max_head_size", "2**30", "less than or equal to 1048576"),
    ("max_head_size", "'16k'", "valid integer"),
])
def test_bad_server_settings_are_config_errors(make_project, field: str, value: str, expected: str) -> None:
    root = make_project({"loader_config.py": f"""
        from loader import define_config

        config = define_config(project={{"http": {{"{field}": {value}}}}})
    """})
    with pytest.raises(ConfigError) as info:
        load_project(root)
    assert info.value.location == "loader_config.py:3"
    assert f"config field project.http.{field}: got " in info.value.message and expected in info.value.message
