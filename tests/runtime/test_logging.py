"""Logging (docs/logging.md), in process: the formats, the settings and their precedence, the
opt-out, the access log and its request id, subscriber and job runs, what the boot logs. The
real servers are in ``test_logging_servers.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from loader import logs
from loader.config.loading import define_config
from loader.config.models import LoggingConfig
from loader.errors import ConfigError
from loader.kinds.jobs import JobSpec
from loader.logs import ConsoleFormatter, JsonFormatter, apply_requested, configure_logging, request_server_logging
from loader.runtime.access_log import AccessLog, with_access_log
from loader.runtime.application import Application
from loader.runtime.events import LocalEventBus
from loader.runtime.scheduler import ScheduledJob, Scheduler
from tests.runtime.conftest import serve
from tests.runtime.test_scheduler import until

CONSOLE_LINE = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: ")
DATED_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: ")


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger with no handler, put back as it was after, and no pending request.

    A context manager, not a fixture: pytest puts its capturing handler on the root logger
    once the fixtures are set up."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    uvicorn_level = logging.getLogger("uvicorn.error").level
    root.handlers = []
    try:
        yield root
    finally:
        root.handlers = saved
        root.setLevel(level)
        logging.getLogger("uvicorn.error").setLevel(uvicorn_level)
        logs._requested = logs._applied = None


def record(message: str = "hello %s", *args: Any, level: int = logging.INFO, **extra: Any) -> logging.LogRecord:
    rec = logging.getLogger("src.api.thing").makeRecord("src.api.thing", level, "route.py", 3, message, args or ("world",), None, extra=extra)
    return rec


# -- formats ---------------------------------------------------------------------------------
def test_json_line_has_time_level_logger_message_extras_and_exception() -> None:
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        rec = logging.getLogger("src.api.thing").makeRecord(
            "src.api.thing", logging.ERROR, "route.py", 3, "failed: %s\nsecond line é", ("x",), sys.exc_info(),
            extra={"request_id": "abc", "status": 500, "time": "not the time", "thing": object()},
        )
    line = JsonFormatter().format(rec)
    assert "\n" not in line and line.isascii()
    data = json.loads(line)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", data["time"])
    assert (data["level"], data["logger"], data["message"]) == ("error", "src.api.thing", "failed: x\nsecond line é")
    assert (data["request_id"], data["status"]) == ("abc", 500)
    assert data["thing"].startswith("<object object")  # anything else is shown as its str
    assert "Traceback" in data["exception"] and "ZeroDivisionError: division by zero" in data["exception"]
    assert "color_message" not in data and "args" not in data and "msg" not in data


@pytest.mark.parametrize("extra", [{"ratio": float("nan")}, {"data": {(1, 2): 3}}, {"big": 10**5000}], ids=["nan", "tuple-key", "huge-int"])
def test_json_lines_stay_valid_json_whatever_an_extra_holds(extra: dict[str, Any]) -> None:
    # json.dumps writes NaN (not JSON) and raises on a tuple key or a huge int: the line was lost.
    line = JsonFormatter().format(record(**extra))
    data = json.loads(line, parse_constant=lambda constant: pytest.fail(f"{constant} in {line}"))
    assert data["message"] == "hello world" and list(extra)[0] in data


def test_console_line_reads_time_level_logger_message() -> None:
    assert CONSOLE_LINE.match(ConsoleFormatter().format(record()))
    assert ConsoleFormatter().format(record()).endswith(" INFO    src.api.thing: hello world")
    assert DATED_LINE.match(ConsoleFormatter(dated=True).format(record()))
    colored = ConsoleFormatter(color=True).format(record(level=logging.WARNING))
    assert "\x1b[33mWARNING\x1b[0m src.api.thing" in colored
    # a newline inside a message cannot pass for a line of its own
    forged = ConsoleFormatter().format(record("GET %s failed", "/a\n12:00:00.000 ERROR   loader.http: forged"))
    assert forged.splitlines()[1].startswith("  12:00:00.000 ERROR")


# -- set-up, settings, opt-out ---------------------------------------------------------------
def test_configure_logging_installs_one_handler_and_leaves_anothers_alone() -> None:
    with bare_root() as root:
        assert configure_logging("debug", "json") is True
        assert configure_logging("warning", "console") is True  # again: replaced, not added
        assert len(root.handlers) == 1 and root.level == logging.WARNING
        assert isinstance(root.handlers[0].formatter, ConsoleFormatter)

        root.handlers = []
        theirs = logging.StreamHandler()
        root.addHandler(theirs)
        root.setLevel(logging.ERROR)
        assert configure_logging("debug", "json") is False
        assert root.handlers == [theirs] and root.level == logging.ERROR


def test_nothing_happens_unless_a_server_asked() -> None:
    with bare_root() as root:
        assert apply_requested(LoggingConfig(), {"LOADER_LOG_LEVEL": "nonsense"}) is None
        assert root.handlers == []


def test_precedence_flag_then_environment_then_config_then_default() -> None:
    with bare_root() as root:
        request_server_logging("start")
        settings = apply_requested(LoggingConfig(), {})
        assert settings == logs.LogSettings(True, "info", "console", False)
        assert logs.server_logging() == settings and root.level == logging.INFO

        request_server_logging("start")
        config = LoggingConfig(level="error", format="json", access_log=True)
        assert apply_requested(config, {}) == logs.LogSettings(True, "error", "json", True)
        assert isinstance(root.handlers[0].formatter, JsonFormatter)

        request_server_logging("start", format="console", access_log=False)
        assert apply_requested(config, {"LOADER_LOG_LEVEL": "DEBUG"}) == logs.LogSettings(True, "debug", "console", False)
        assert root.level == logging.DEBUG

        request_server_logging("develop")
        assert apply_requested(LoggingConfig(), {}) == logs.LogSettings(True, "info", "console", True)
        assert logging.getLogger("uvicorn.error").level == logging.WARNING  # the parent says what serves where
        request_server_logging("develop")
        assert apply_requested(LoggingConfig(access_log=False), {}).access_log is False  # type: ignore[union-attr]
        assert apply_requested(LoggingConfig(), {}) is None  # a request is applied once


@pytest.mark.parametrize(("config", "environ"), [
    (LoggingConfig(configure=False), {}),
    (LoggingConfig(), {"LOADER_LOG_CONFIG": "0"}),
    (LoggingConfig(), {"LOADER_LOG_CONFIG": "off"}),
])
def test_opting_out_touches_nothing(config: LoggingConfig, environ: dict[str, str]) -> None:
    with bare_root() as root:
        root.setLevel(logging.CRITICAL)
        request_server_logging("start", format="json", access_log=True)
        settings = apply_requested(config, environ)
        assert settings is not None and settings.configured is False and settings.access_log is True
        assert root.handlers == [] and root.level == logging.CRITICAL


def test_the_environment_overrides_what_config_says() -> None:
    with bare_root() as root:
        request_server_logging("start")
        settings = apply_requested(LoggingConfig(configure=False), {"LOADER_LOG_CONFIG": "yes"})
        assert settings is not None and settings.configured is True and len(root.handlers) == 1


@pytest.mark.parametrize(("name", "value", "message"), [
    ("LOADER_LOG_LEVEL", "loud", "LOADER_LOG_LEVEL='loud' is not valid; expected one of debug, info, warning, error, critical (any case)"),
    ("LOADER_LOG_LEVEL", "10", "LOADER_LOG_LEVEL='10' is not valid"),
    ("LOADER_LOG_LEVEL", "x" * 5000, "LOADER_LOG_LEVEL='" + "x" * 40 + "...' is not valid"),
    ("LOADER_LOG_LEVEL", "info\n<script>", r"LOADER_LOG_LEVEL='info\n<script>' is not valid"),
    ("LOADER_LOG_CONFIG", "maybe", "LOADER_LOG_CONFIG='maybe' is not a boolean"),
])
def test_a_bad_variable_is_one_clear_error(name: str, value: str, message: str) -> None:
    with bare_root() as root:
        request_server_logging("start")
        with pytest.raises(ConfigError) as caught:
            apply_requested(LoggingConfig(), {name: value})
        assert message in caught.value.format() and "\n" not in caught.value.format()
        assert root.handlers == []


def test_the_level_may_come_from_dot_env_and_a_bad_one_stops_the_boot(make_project) -> None:
    root = make_project({".env": "LOADER_LOG_LEVEL=Warning\n", "src/api/ok/route.py": "async def GET(request):\n    return 1\n"})
    with bare_root() as logger:
        request_server_logging("start")
        Application(root).boot()
        assert logs.server_logging() == logs.LogSettings(True, "warning", "console", False) and logger.level == logging.WARNING
    os.environ.pop("LOADER_LOG_LEVEL", None)
    (root / ".env").write_text("LOADER_LOG_LEVEL=chatty\n")
    with bare_root() as logger:
        request_server_logging("start")
        with pytest.raises(ConfigError, match=r"^LOADER_LOG_LEVEL='chatty' is not valid"):
            Application(root).boot()
        assert logger.handlers == []


@pytest.mark.parametrize(("logging_config", "expected"), [
    ({"level": "loud"}, "config field project.logging.level: got 'loud'"),
    ({"level": "INFO"}, "config field project.logging.level: got 'INFO'"),
    ({"format": "xml"}, "config field project.logging.format: got 'xml'"),
    ({"access_log": "yes"}, "config field project.logging.access_log: got 'yes'"),
    ({"colour": True}, "unknown key 'colour' in project.logging"),
    ("off", "config field project.logging: got 'off'"),
])
def test_bad_project_logging_values_name_the_field(logging_config: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        define_config(project={"logging": logging_config})


def test_false_is_short_for_configure_false() -> None:
    assert define_config(project={"logging": False}).project.logging == LoggingConfig(configure=False)


# -- the access log, in process --------------------------------------------------------------
def test_access_lines_carry_the_request_id_of_the_error_response(make_project, caplog: pytest.LogCaptureFixture) -> None:
    root = make_project({
        "src/api/ok/route.py": "async def GET(request):\n    return {'ok': True}\n",
        "src/api/boom/route.py": "async def GET(request):\n    return 1 / 0\n",
    })
    assert with_access_log(app := object(), False) is app  # off: nothing wraps the app

    async def main() -> list[httpx.Response]:
        application = Application(root).boot()
        await application.start()
        transport = httpx.ASGITransport(app=AccessLog(application.asgi))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                return [
                    await http.get("/ok?token=secret", headers={"x-request-id": "client-42"}),
                    await http.get("/boom"),
                    await http.get("/boom", headers={"x-request-id": "<script>alert(1)</script>"}),
                    await http.get("/nowhere"),
                ]
        finally:
            await application.stop()

    with caplog.at_level(logging.INFO):
        ok, boom, hostile, missing = asyncio.run(main())
    access = [r for r in caplog.records if r.name == "loader.access"]
    assert [(r.method, r.path, r.status) for r in access] == [  # type: ignore[attr-defined]
        ("GET", "/ok", 200), ("GET", "/boom", 500), ("GET", "/boom", 500), ("GET", "/nowhere", 404),
    ]
    assert access[0].request_id == "client-42"  # type: ignore[attr-defined]
    assert all(isinstance(r.duration_ms, float) for r in access)  # type: ignore[attr-defined]
    assert not [r for r in access if "secret" in r.getMessage()]  # no query string
    for response, line in ((boom, access[1]), (hostile, access[2])):
        rid = response.json()["request_id"]
        assert line.request_id == rid and re.fullmatch(r"[0-9a-f]{16}", rid)  # type: ignore[attr-defined]
        assert f"(request id {rid})" in line.getMessage()
        assert any(r.name == "loader.http" and rid in r.getMessage() and r.exc_info for r in caplog.records)
    assert "<script>" not in caplog.text
    assert ok.status_code == 200 and missing.status_code == 404


def test_a_failing_request_logs_its_path_as_sent_no_escape_codes_or_newlines(make_project, caplog: pytest.LogCaptureFixture) -> None:
    # The error line of a 500 names the path: decoded, a client's %1b and %0a would reach the
    # operator's terminal as escape codes and as a forged line of its own.
    root = make_project({"src/api/boom/[name]/route.py": "async def GET(request):\n    return 1 / 0\n"})

    async def scenario(http, app):
        return await http.get("/boom/%1b%5b2J%0a12:00:00.000%20ERROR")

    with caplog.at_level(logging.ERROR):
        response = serve(root, scenario)
    assert response.status_code == 500
    [line] = [r.getMessage() for r in caplog.records if r.name == "loader.http"]
    assert "GET /boom/%1b%5b2J%0a12:00:00.000%20ERROR failed in the handler" in line
    assert "\x1b" not in line and "\n" not in line


def test_console_lines_escape_control_characters() -> None:
    line = ConsoleFormatter().format(record("job %s done", "\x1b[2J\x1b[31mred\x07"))
    assert line.endswith("job \\x1b[2J\\x1b[31mred\\x07 done")
    try:
        raise ValueError("no post named \x1b[2Jwiped")  # a handler quoting a path parameter
    except ValueError:
        failed = logging.getLogger("x").makeRecord("x", logging.ERROR, "route.py", 3, "failed", (), sys.exc_info())
    assert ConsoleFormatter().format(failed).endswith("ValueError: no post named \\x1b[2Jwiped")


# -- what the runtime logs -------------------------------------------------------------------
def test_subscriber_runs_are_logged_with_their_id(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        bus = LocalEventBus()
        bus.subscribe("order.placed", lambda event: None, "project:subscribers/orders:fine", source="src/subscribers/orders.py:4")
        bus.subscribe("order.placed", lambda event: 1 / 0, "project:subscribers/orders:broken", source="src/subscribers/orders.py:9")
        await bus.emit("order.placed", {"id": 1})
        await bus.drain()

    with caplog.at_level(logging.DEBUG, logger="loader.events"):
        asyncio.run(main())
    handled = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert [r.subscriber_id for r in handled] == ["project:subscribers/orders:fine"]  # type: ignore[attr-defined]
    assert "subscriber 'project:subscribers/orders:fine' handled event 'order.placed' in" in handled[0].getMessage()
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.subscriber_id for r in failed] == ["project:subscribers/orders:broken"]  # type: ignore[attr-defined]
    assert failed[0].exc_info and failed[0].event == "order.placed"  # type: ignore[attr-defined]


def test_job_runs_are_logged_with_their_id(caplog: pytest.LogCaptureFixture) -> None:
    runs = iter([None, ZeroDivisionError("boom")])

    async def run() -> None:
        outcome = next(runs)
        if outcome is not None:
            raise outcome

    job = ScheduledJob("job:project:jobs/sync.py:sync", "sync", JobSpec(name="sync", schedule=0.01, number_of_executions=2), run, "src/jobs/sync.py:5")

    async def main() -> None:
        scheduler = Scheduler()
        scheduler.reconcile([job])
        await scheduler.start()
        await until(lambda: scheduler.runs(job.id) >= 2)
        await scheduler.stop()

    with caplog.at_level(logging.INFO, logger="loader.scheduler"):
        asyncio.run(main())
    ran = [r for r in caplog.records if "ran in" in r.getMessage()]
    assert len(ran) == 1 and ran[0].levelno == logging.INFO and ran[0].job_id == job.id  # type: ignore[attr-defined]
    assert ran[0].getMessage().startswith("job 'sync' [job:project:jobs/sync.py:sync] ran in ")
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failed) == 1 and failed[0].exc_info and failed[0].job_id == job.id  # type: ignore[attr-defined]
    assert "job 'sync' [job:project:jobs/sync.py:sync] (src/jobs/sync.py:5) failed" == failed[0].getMessage()


def test_the_boot_logs_overrides_and_disabled_files(make_project, caplog: pytest.LogCaptureFixture) -> None:
    root = make_project({
        "loader_config.py": "from loader import define_config\n\nconfig = define_config(plugins=['greetings'])\n",
        "src/api/greetings/route.py": "async def GET(request):\n    return 'mine'\n",
        "src/api/gated/route.py": "from loader import define_file_config\n\ndefine_file_config(is_disabled=lambda: True)\n\nasync def GET(request):\n    return 'on'\n",
    })
    with caplog.at_level(logging.INFO, logger="loader.registry"):
        Application(root).boot()
    messages = [r.getMessage() for r in caplog.records if r.name == "loader.registry"]
    assert any(m.startswith("route GET /greetings from src/api/greetings/route.py:1 overrides ") and "loader_plugin_greetings" in m for m in messages), messages
    assert "src/api/gated/route.py disabled: is_disabled() returned True" in messages


def test_a_flag_flip_logs_the_files_it_disables_and_enables(make_project, caplog: pytest.LogCaptureFixture) -> None:
    flag = "from loader import FlagSettings\nf = FlagSettings(key='beta', default_val={on}, env_key='LOADER_FF_BETA_LOGS')\n"
    root = make_project({
        "src/feature_flags/beta.py": flag.format(on=False),
        "src/api/beta/route.py": (
            "from loader import FeatureFlag, define_file_config\n"
            "define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled('beta'))\n\n"
            "async def GET(request):\n    return 'beta'\n"
        ),
    })

    async def flip(on: bool) -> None:
        (root / "src/feature_flags/beta.py").write_text(flag.format(on=on))
        assert (await app.reload([root / "src/feature_flags/beta.py"])).ok

    with caplog.at_level(logging.INFO, logger="loader.registry"):
        app = Application(root).boot()
        asyncio.run(flip(True))
        asyncio.run(flip(False))
    assert [r.getMessage() for r in caplog.records if r.name == "loader.registry"] == [
        "src/api/beta/route.py disabled: is_disabled() returned True (flags read: beta=off)",
        "src/api/beta/route.py enabled again",
        "src/api/beta/route.py disabled: is_disabled() returned True (flags read: beta=off)",
    ]
