"""Calling plugin hooks: a plugin that raises is reported at its own line, never fatal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

from loader.core.importer import describe_import_failure
from loader.errors import LoaderError, PluginLoadError

__all__ = ["call_hook", "call_hook_error"]


def call_hook_error(name: str, exc: Exception, display: Callable[[str], str] = str) -> list[LoaderError]:
    if isinstance(exc, LoaderError):
        return [exc]
    path, line, text = describe_import_failure(exc, display)
    return [PluginLoadError(f"a plugin's {name} hook raised {type(exc).__name__}: {exc}", path=path, line=line, source_line=text)]


def call_hook(pm: pluggy.PluginManager, name: str, display: Callable[[str], str], **kwargs: Any) -> list[LoaderError]:
    """Call a hook; a plugin that raises is reported (at its own line), never fatal to the boot."""
    try:
        getattr(pm.hook, name)(**kwargs)
    except Exception as exc:
        return call_hook_error(name, exc, display)
    return []
