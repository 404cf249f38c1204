"""Typed, versioned messages between the dev server's parent (watcher) and child (server).

They travel over a ``multiprocessing`` pipe as plain dicts (``to_wire``/``from_wire``), never
through environment variables, and carry a request id so an answer is never taken for another.

| message | direction | fields |
|---|---|---|
| ``child-start`` | parent → child | ``environ`` (the environment to boot with), ``set_aside`` (see :func:`hung_file`) |
| ``hmr-reload`` | parent → child | ``id``, ``changes`` (``[kind, path]`` pairs) |
| ``hmr-result`` | child → parent | ``id``, ``ok``, ``report``, ``restart_reason``, ``error``, ``duration_ms``, ``hung`` |
| ``child-ready`` | child → parent | ``pid``, ``errors`` (boot errors, one line each), ``boot_ms`` |
| ``child-failed`` | child → parent | ``error``: the child could not boot (a broken config); ``hung``: a file whose import hung |
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Union

from loader.errors import ImportTimeoutError

__all__ = [
    "PROTOCOL_VERSION", "ChildStart", "HmrReload", "HmrResult", "ChildReady", "ChildFailed", "Message", "to_wire", "from_wire", "ProtocolError",
    "hung_file", "set_aside_errors",
]

PROTOCOL_VERSION = 2


class ProtocolError(ValueError):
    """A message of an unknown type or version (a parent and child of different loaders)."""


@dataclass(frozen=True)
class ChildStart:
    """Boot now. A child is started ahead of need (warm: its imports done) and waits for this."""

    type: ClassVar[str] = "child-start"
    environ: dict[str, str]
    set_aside: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class HmrReload:
    type: ClassVar[str] = "hmr-reload"
    id: int
    changes: list[tuple[str, str]]  # ("modified", "/abs/path.py")


@dataclass(frozen=True)
class HmrResult:
    type: ClassVar[str] = "hmr-result"
    id: int
    ok: bool
    report: dict[str, Any] | None = None
    restart_reason: str | None = None
    error: str | None = None
    duration_ms: float = 0.0
    hung: dict[str, Any] | None = None  # a file whose import hung: set it aside (see hung_file)


@dataclass(frozen=True)
class ChildReady:
    type: ClassVar[str] = "child-ready"
    pid: int
    errors: list[str] = field(default_factory=list)
    boot_ms: float = 0.0


@dataclass(frozen=True)
class ChildFailed:
    type: ClassVar[str] = "child-failed"
    error: str
    hung: dict[str, Any] | None = None


def hung_file(error: ImportTimeoutError) -> dict[str, Any]:
    """An import that ran past the time limit, as the parent keeps it to set the file aside."""
    return {"source": str(error.source_path), "path": error.path, "line": error.line, "message": error.message}


def set_aside_errors(hung: dict[str, dict[str, Any]]) -> dict[Path, ImportTimeoutError]:
    """What :func:`hung_file` sent, as ``Application(set_aside=...)`` takes it."""
    return {
        Path(source): ImportTimeoutError(h["message"], path=h["path"], line=h["line"], source_path=Path(source))
        for source, h in hung.items()
    }


Message = Union[ChildStart, HmrReload, HmrResult, ChildReady, ChildFailed]
_TYPES: dict[str, type[Message]] = {cls.type: cls for cls in (ChildStart, HmrReload, HmrResult, ChildReady, ChildFailed)}


def to_wire(message: Message) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": message.type, **asdict(message)}


def from_wire(data: dict[str, Any]) -> Message:
    """Decode a message, refusing other protocol versions and unknown types."""
    if data.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"dev server protocol version {data.get('v')!r}; expected {PROTOCOL_VERSION}")
    cls = _TYPES.get(str(data.get("type")))
    if cls is None:
        raise ProtocolError(f"unknown dev server message type {data.get('type')!r}")
    fields = {k: v for k, v in data.items() if k not in ("v", "type")}
    return cls(**fields)
