"""Logging through real ``loader start`` and ``loader develop`` processes (docs/logging.md): the
JSON lines, the console lines, uvicorn's lines in the same shape, the access log, a level from
the environment, a bad level, and the opt-out leaving a project's own set-up alone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.runtime.test_logging import CONSOLE_LINE, DATED_LINE
from tests.runtime.test_start import free_port, wait_for

pytestmark = pytest.mark.slow

# -- real servers ----------------------------------------------------------------------------
SERVER_FILES = {
    "loader_config.py": "from loader import define_config\n\nconfig = define_config(plugins=['greetings'])\n",
    "src/api/greetings/route.py": "async def GET(request):\n    return 'mine'\n",
    "src/api/store/hello/route.py": """
        import logging

        log = logging.getLogger(__name__)

        async def GET(request):
            log.info("saying hello")
            log.warning("careful: %s", "hot")
            return {"message": "hello"}
    """,
    "src/api/boom/route.py": "async def GET(request):\n    return 1 / 0\n",
    "src/api/things/route.py": """
        async def POST(request):
            await request.app.state.container.resolve("event_bus").emit("thing.done", {"n": 7})
            return {"ok": True}
    """,
    "src/subscribers/things.py": """
        import logging

        from loader import subscriber

        log = logging.getLogger(__name__)

        @subscriber("thing.done")
        async def on_thing(event, container):
            log.info("thing %s done", event.data["n"])
    """,
    "src/api/gated/route.py": "from loader import define_file_config\n\ndefine_file_config(is_disabled=lambda: True)\n\nasync def GET(request):\n    return 'on'\n",
}


def run_server(root: Path, *args: str, env: dict[str, str] | None = None, requests: Any = None) -> tuple[str, str, Any]:
    """``loader start`` ROOT on a free port; run ``requests(base_url)``, SIGTERM; (stdout, stderr, result)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loader", "start", str(root), "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/health", process)
        result = requests(base) if requests else None
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return out, err, result


def exchange(base: str) -> dict[str, Any]:
    return {
        "hello": httpx.get(f"{base}/store/hello", headers={"x-request-id": "client-42"}),
        "boom": httpx.get(f"{base}/boom").json()["request_id"],
        "thing": httpx.post(f"{base}/things"),
    }


def test_start_json_lines(make_project) -> None:
    root = make_project(SERVER_FILES)
    out, err, sent = run_server(root, "--log-format", "json", "--access-log", requests=exchange)
    assert sent["hello"].status_code == 200 and sent["thing"].status_code == 200
    assert out == ""  # everything is a log line on stderr
    lines = [json.loads(line) for line in err.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)

    def find(logger: str, text: str) -> dict[str, Any]:
        found = [line for line in lines if line["logger"] == logger and text in line["message"]]
        assert found, f"no {logger} line with {text!r} in:\n{err}"
        return found[0]

    hello = find("loader.access", "GET /store/hello 200")
    assert (hello["method"], hello["path"], hello["status"], hello["request_id"]) == ("GET", "/store/hello", 200, "client-42")
    assert isinstance(hello["duration_ms"], float)
    boom = find("loader.access", "GET /boom 500")
    assert boom["request_id"] == sent["boom"]
    failure = find("loader.http", f"(request id {sent['boom']})")
    assert failure["level"] == "error" and "ZeroDivisionError" in failure["exception"]
    assert find("src.subscribers.things", "thing 7 done")["level"] == "info"
    assert find("src.api.store.hello.route", "saying hello")["level"] == "info"
    assert find("loader.registry", "route GET /greetings from src/api/greetings/route.py:1 overrides ")
    assert find("loader.registry", "src/api/gated/route.py disabled: is_disabled() returned True")
    assert find("loader.server", f"serving {root.name} on http://127.0.0.1:")
    assert find("uvicorn.error", "Application startup complete")
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    assert len(lines) == len({json.dumps(line, sort_keys=True) for line in lines})  # nothing twice


def test_start_console_lines_and_a_warning_level(make_project) -> None:
    root = make_project(SERVER_FILES)
    out, err, sent = run_server(root, requests=exchange)
    assert f"loader: serving {root.name} on http://127.0.0.1:" in out
    log_lines = [line for line in err.splitlines() if DATED_LINE.match(line)]
    assert any(re.search(r" INFO    src\.api\.store\.hello\.route: saying hello$", line) for line in log_lines), err
    assert any(re.search(r" INFO    src\.subscribers\.things: thing 7 done$", line) for line in log_lines), err
    assert any(re.search(r" INFO    uvicorn\.error: Application startup complete\.$", line) for line in log_lines), err
    assert any(f"(request id {sent['boom']})" in line and " ERROR   loader.http: " in line for line in log_lines), err
    assert "loader.access" not in err  # off by default under start

    out, err, _ = run_server(root, env={"LOADER_LOG_LEVEL": "warning"}, requests=exchange)
    assert "saying hello" not in err and "thing 7 done" not in err and "Application startup complete" not in err
    assert any(re.search(r" WARNING src\.api\.store\.hello\.route: careful: hot$", line) for line in err.splitlines()), err


def test_start_refuses_an_unknown_log_format(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loader", "start", str(tmp_path), "--log-format", "xml"], capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "Invalid value for '--log-format': 'xml' is not one of 'console', 'json'" in result.stderr


def test_start_with_a_bad_log_level_is_one_clear_line(make_project) -> None:
    root = make_project(SERVER_FILES)
    result = subprocess.run(
        [sys.executable, "-m", "loader", "start", str(root), "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, env={**os.environ, "LOADER_LOG_LEVEL": "loud"},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: LOADER_LOG_LEVEL='loud' is not valid; expected one of debug, info, warning, error, critical (any case)"
    )


def test_a_project_that_configures_logging_keeps_its_set_up(make_project) -> None:
    root = make_project({
        **SERVER_FILES,
        "loader_config.py": """
            import logging

            from loader import define_config

            logging.basicConfig(level=logging.INFO, format="PROJECT|%(levelname)s|%(name)s|%(message)s")

            config = define_config(plugins=["greetings"])
        """,
    })
    _, err, _ = run_server(root, "--access-log", requests=exchange)
    lines = err.splitlines()
    assert "PROJECT|INFO|src.subscribers.things|thing 7 done" in lines, err
    assert "PROJECT|INFO|uvicorn.error|Application startup complete." in lines, err
    assert any(line.startswith("PROJECT|INFO|loader.access|GET /store/hello 200 in ") for line in lines), err
    assert any(line.startswith("PROJECT|INFO|loader.registry|route GET /greetings from ") for line in lines), err
    assert not [line for line in lines if DATED_LINE.match(line)], err  # loader added no handler of its own
    assert len(lines) == len(set(lines)), err


def test_loader_log_config_0_leaves_logging_unconfigured(make_project) -> None:
    root = make_project(SERVER_FILES)
    _, err, _ = run_server(root, env={"LOADER_LOG_CONFIG": "0"}, requests=exchange)
    # Python's own last resort: warnings and errors, the bare message, nothing at info
    assert "careful: hot" in err.splitlines() and "saying hello" not in err and "thing 7 done" not in err
    assert not [line for line in err.splitlines() if DATED_LINE.match(line)], err


def test_develop_logs_requests_and_project_lines_in_the_console_format(make_project) -> None:
    from tests.dev.test_develop_e2e import DevServer, stop_and_check

    root = make_project(SERVER_FILES)
    server = DevServer(root).start()
    try:
        assert server.get("/store/hello").status_code == 200
        server.wait_for_line("loader.access: GET /store/hello 200 in ")
        server.wait_for_line("src.api.store.hello.route: saying hello")
        lines = server.output().splitlines()
        access = next(line for line in lines if "loader.access: GET /store/hello" in line)
        assert CONSOLE_LINE.match(access), access
        assert any(CONSOLE_LINE.match(line) and "route GET /greetings from src/api/greetings/route.py:1 overrides" in line for line in lines)
        assert f"serving {root.name} on {server.url}" in "\n".join(lines)  # the parent's own lines stay as they were
        assert "Uvicorn running" not in server.output() and "Application startup complete" not in server.output()
    finally:
        stop_and_check(server)
