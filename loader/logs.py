"""Logging for the servers: loader sets up Python's ``logging`` for ``loader start`` and
``loader develop`` unless the project does (see ``docs/logging.md``).

A server command asks for it before the boot (:func:`request_server_logging`); the boot
applies the request right after ``loader_config.py`` has run (:func:`apply_requested`), so that
the project's ``project.logging`` settings, its ``.env`` and any logging the config file set up
itself are known, and so that what the boot logs (a route override, a disabled file) shows.
Nothing happens when no server asked: an ``Application`` booted in a test or by a user's own
script leaves logging as it found it.

One handler on the root logger writes one line per record to stderr: a console line
(``time level logger: message``) or a JSON object. uvicorn's own loggers propagate to it (the
servers pass ``log_config=None``), so every line has the same shape. This module imports
neither rich nor uvicorn (nor json until a JSON line is written): ``import loader`` stays fast.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, get_args

from loader.config.env import env_bool, env_choice
from loader.config.models import LoggingConfig, LogLevel

__all__ = [
    "ConsoleFormatter", "JsonFormatter", "LogSettings", "apply_requested", "configure_logging",
    "request_server_logging", "server_logging",
]

Command = Literal["start", "develop"]
Format = Literal["console", "json"]


class LogSettings(NamedTuple):
    """What a server runs with, resolved from flags, the environment, config and defaults.

    Attributes:
        configured: loader installed its handler (False: the project's logging is left alone).
        level: The root logger's level name (``"info"``...), when loader configured logging.
        format: ``"console"`` or ``"json"``.
        access_log: One line per request on ``loader.access``.
    """

    configured: bool
    level: str
    format: Format
    access_log: bool


class _Request(NamedTuple):
    command: Command
    format: Format | None
    access_log: bool | None


_requested: _Request | None = None
_applied: LogSettings | None = None


def request_server_logging(command: Command, *, format: Format | None = None, access_log: bool | None = None) -> None:
    """Ask the next project boot to set up logging for a server (``format`` and ``access_log``
    are the command-line flags; None when not given)."""
    global _requested, _applied
    _requested, _applied = _Request(command, format, access_log), None


def server_logging() -> LogSettings | None:
    """What the boot applied for the server that asked, or None (nobody asked, or no boot yet)."""
    return _applied


def apply_requested(config: LoggingConfig, environ: Mapping[str, str] | None = None) -> LogSettings | None:
    """Called by the boot once the project's config is read: set up logging if a server asked.

    Precedence: command-line flag, then environment (``LOADER_LOG_LEVEL``, ``LOADER_LOG_CONFIG``),
    then ``project.logging``, then the default.

    Raises:
        ConfigError: ``LOADER_LOG_LEVEL`` or ``LOADER_LOG_CONFIG`` has a value they do not accept.
    """
    global _requested, _applied
    asked = _requested
    if asked is None:
        return None
    env = os.environ if environ is None else environ
    level = env_choice("LOADER_LOG_LEVEL", get_args(LogLevel), environ=env) or config.level
    wanted = env_bool("LOADER_LOG_CONFIG", default=config.configure, environ=env)
    format: Format = asked.format or config.format
    access_log = next(v for v in (asked.access_log, config.access_log, asked.command == "develop") if v is not None)
    configured = wanted and configure_logging(level, format, dated=asked.command == "start")
    if configured and asked.command == "develop" and level != "debug":
        # The dev server's parent prints what serves where; uvicorn's start-up lines would repeat it.
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    _requested, _applied = None, LogSettings(configured, level, format, access_log)
    return _applied


def configure_logging(level: str = "info", format: Format = "console", *, dated: bool = True) -> bool:
    """Put loader's handler on the root logger at ``level``; False, and nothing changed, when the
    root logger already has another handler (whoever put it there configured logging).

    Calling it again replaces loader's handler: it never adds a second one.
    """
    root = logging.getLogger()
    if any(not isinstance(h, _StderrHandler) for h in root.handlers):
        return False
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = _StderrHandler()
    if format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(ConsoleFormatter(dated=dated, color=_wants_color()))
    root.addHandler(handler)
    root.setLevel(level.upper())
    return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler on whatever ``sys.stderr`` is when a record is written (as Python's
    last-resort handler does): a test runner or click may swap the stream after set-up."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr


def _wants_color() -> bool:
    # NO_COLOR (https://no-color.org) wins; a pipe or a CI log file gets no escape codes.
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


_COLORS = {"WARNING": "\x1b[33m", "ERROR": "\x1b[31m", "CRITICAL": "\x1b[1;31m", "DEBUG": "\x1b[2m"}


#: C0 and C1 control characters but the newline (the indented lines above are meant).
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _escaped(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


class ConsoleFormatter(logging.Formatter):
    """``16:48:03.123 INFO    loader.access: GET /store/hello 200 in 1.2 ms (request id …)``.

    One line per record, readable at 80 columns and in a CI log; a traceback follows on the
    next lines, and so do a message's own further lines, indented: a newline smuggled into a
    message (a decoded URL path) cannot pass for a line of its own. ``dated`` puts the date in
    front of the time (``loader start``: a server's log spans days); ``color`` colors the
    level name (only on a terminal).
    """

    def __init__(self, *, dated: bool = False, color: bool = False) -> None:
        super().__init__()
        self._time_format = "%Y-%m-%d %H:%M:%S" if dated else "%H:%M:%S"
        self.color = color

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return f"{time.strftime(self._time_format, time.localtime(record.created))}.{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        message = record.message = record.getMessage()
        if "\n" in message or "\r" in message:
            message = "\n  ".join(message.splitlines())
        if not message.isprintable():  # escape codes from a client's input would drive the terminal
            message = _CONTROL.sub(_escaped, message)
        level = record.levelname
        shown = f"{_COLORS[level]}{level}\x1b[0m" if self.color and level in _COLORS else level
        line = f"{self.formatTime(record)} {shown}{' ' * max(1, 8 - len(level))}{record.name}: {message}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # its last line is the exception's message, which may quote a client's input
            line += "\n" + _CONTROL.sub(_escaped, record.exc_text.replace("\r\n", "\n"))
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


#: What every LogRecord carries: not copied into a JSON line as an extra field. uvicorn's
#: ``color_message`` (the same message with escape codes) is left out too.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``,
    ``message``, then the record's extra fields (an access line's ``request_id``, ``method``,
    ``path``, ``status``, ``duration_ms``; a subscriber's ``subscriber_id``...), then
    ``exception`` (the traceback) when there is one. Non-ASCII and newlines are escaped, so a
    line is always one line of ASCII, whatever a message holds."""

    def format(self, record: logging.LogRecord) -> str:
        import json  # here: json costs ~2 ms to import, and `import loader` must stay fast

        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data.setdefault(key, value)  # an extra named "time" or "level" never hides the real one
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        try:
            return json.dumps(data, default=str, allow_nan=False)
        except (TypeError, ValueError):  # an extra json cannot write (NaN, a tuple key, a huge int): its str
            return json.dumps({key: _json_or_str(value) for key, value in data.items()}, default=str)


def _json_or_str(value: Any) -> Any:
    import json

    try:
        json.dumps(value, default=str, allow_nan=False)
    except (TypeError, ValueError):
        try:
            return str(value)
        except ValueError:  # an int past Python's digit limit has no str either
            return f"<{type(value).__name__}>"
    return value
