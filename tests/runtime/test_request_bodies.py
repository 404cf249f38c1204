"""Request bodies a hostile or careless client sends: too large, not JSON, badly encoded, too deep."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.runtime.conftest import serve
from tests.runtime.test_start import free_port, wait_for

ECHO = """
    from pydantic import BaseModel

    class Note(BaseModel):
        text: str = ""
        extra: dict = {}

    async def POST(request, body: Note):
        return {"text": body.text, "raw": len(await request.body())}
"""
RAW = "async def POST(request):\n    return {'size': len(await request.body())}\n"
SMALL_LIMIT = 'from loader import define_config\nconfig = define_config(project={"http": {"max_body_size": 100}})\n'


def project(make_project, limit: bool = True) -> Path:
    files = {"src/api/notes/route.py": ECHO, "src/api/raw/route.py": RAW}
    if limit:
        files["loader_config.py"] = SMALL_LIMIT
    return make_project(files)


def chunks(total: int, size: int = 40):
    async def generate():
        for start in range(0, total, size):
            yield b"x" * min(size, total - start)
    return generate()


def test_a_body_over_the_limit_is_a_413_whether_declared_or_streamed(make_project) -> None:
    root = project(make_project)

    async def scenario(http, app):
        declared = await http.post("/raw", content=b"x" * 101)
        streamed = await http.post("/raw", content=chunks(200))  # chunked: no content-length
        modelled = await http.post("/notes", content=chunks(200), headers={"content-type": "application/json"})
        within = await http.post("/raw", content=b"x" * 100)
        return declared, streamed, modelled, within

    declared, streamed, modelled, within = serve(root, scenario)
    for response in (declared, streamed, modelled):
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "content_too_large"
        assert "larger than 100 bytes (project.http.max_body_size)" in response.json()["message"]
    assert within.status_code == 200 and within.json() == {"size": 100}


@pytest.mark.parametrize(("content", "content_type", "status", "message"), [
    (b'{"text": "hi"}', "text/plain", 415, "must be JSON"),
    (b"text=hi", "application/x-www-form-urlencoded", 415, "must be JSON"),
    (b'{"text": "hi"}', None, 415, "must be JSON"),
    (b'{"text": "\xff\xfe"}', "application/json", 400, "not valid UTF-8"),
    (b"[" * 3000 + b"]" * 3000, "application/json", 400, "nested too deeply"),
    (b'{"text": ', "application/json", 400, "not valid JSON"),
    (b'{"text": "hi", "n": ' + b"1" * 5000 + b"}", "application/json", 400, "number with more than 4300 digits"),
    # a lone surrogate escape: echoed back (the handler returns it) it failed to encode, a 500
    (b'{"text": "\\ud800"}', "application/json", 400, "lone UTF-16 surrogate"),
    (b'{"text": "ok", "extra": {"\\uDFFF": 1}}', "application/json", 400, "lone UTF-16 surrogate"),
])
def test_bodies_that_are_not_json_are_refused_with_a_4xx(make_project, content: bytes, content_type: str | None, status: int, message: str) -> None:
    root = project(make_project, limit=False)

    async def scenario(http, app):
        headers = {"content-type": content_type} if content_type else {}
        return await http.post("/notes", content=content, headers=headers)

    response = serve(root, scenario)
    assert response.status_code == status, response.text
    assert message in response.json()["message"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"])
def test_json_content_types_are_accepted_and_the_handler_can_still_read_the_body(make_project, content_type: str) -> None:
    root = project(make_project, limit=False)

    async def scenario(http, app):
        return await http.post("/notes", content=b'{"text": "hi"}', headers={"content-type": content_type})

    response = serve(root, scenario)
    assert response.status_code == 200 and response.json() == {"text": "hi", "raw": 14}


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_300_mb_body_is_refused_while_it_streams_and_the_server_barely_grows(make_project) -> None:
    root = make_project({"src/api/raw/route.py": RAW})  # the default limit, 1 MiB
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loader", "start", str(root), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
        before = _peak_rss_mb(process.pid)

        def body():
            block = b"x" * 65536
            for _ in range(300 * 16):  # 300 MB, chunked
                yield block

        try:
            response = httpx.post(f"http://127.0.0.1:{port}/raw", content=body(), timeout=60)
            status = response.status_code
        except (httpx.RemoteProtocolError, httpx.WriteError):  # the server may close mid-upload
            status = 413
        grown = _peak_rss_mb(process.pid) - before
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert status == 413
    assert grown < 20, f"the server's peak RSS grew by {grown:.1f} MB"


def test_a_client_gone_mid_body_is_no_error_of_the_handler(make_project, caplog: pytest.LogCaptureFixture) -> None:
    # Starlette raises ClientDisconnect from the body read: it was logged as the handler failing
    # (an ERROR with a traceback), so any client that hangs up mid-upload filled the error log.
    root = project(make_project, limit=False)

    async def scenario(http, app):
        statuses = []
        for path in ("/notes", "/raw"):
            messages = iter([{"type": "http.request", "body": b'{"text": "he', "more_body": True}, {"type": "http.disconnect"}])

            async def receive():
                return next(messages)

            async def send(message):
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
                     "headers": [(b"content-type", b"application/json"), (b"content-length", b"900")],
                     "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 1), "root_path": "",
                     "http_version": "1.1", "asgi": {"version": "3.0"}}
            await app.asgi(scope, receive, send)
        return statuses

    with caplog.at_level(logging.INFO, logger="loader.http"):
        statuses = serve(root, scenario)
    assert statuses == [499, 499]  # nginx's "client closed request": what an access log line shows
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_surrogate_pair_is_one_character_and_accepted(make_project) -> None:
    root = project(make_project, limit=False)

    async def scenario(http, app):
        return await http.post("/notes", content=b'{"text": "\\ud83d\\ude00"}', headers={"content-type": "application/json"})

    response = serve(root, scenario)
    assert response.status_code == 200 and response.json()["text"] == "\U0001f600"
