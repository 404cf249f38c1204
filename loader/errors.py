"""The exception family of loader.

Every error loader raises about user input derives from :class:`LoaderError` and carries the
place it is about (``path`` and ``line``), so the CLI can print one line,
``path:line: message``, with no traceback.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TextIO

__all__ = [
    "LoaderError",
    "ConfigError",
    "FeatureFlagError",
    "DiscoveryError",
    "ResourceImportError",
    "ImportTimeoutError",
    "ResourceValidationError",
    "DuplicateResourceError",
    "PluginLoadError",
    "MigrationError",
    "ReloadError",
    "LoaderWarning",
    "warn",
    "one_line_warnings",
]


class LoaderError(Exception):
    """Root of every error loader raises about a project, a plugin or a file.

    Attributes:
        message: What went wrong and what was expected, without the location.
        path: The file the error is about, if any.
        line: The 1-based line in ``path``, if known.
        source_line: The text of that line, when it helps (syntax errors).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        source_line: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.source_line = source_line
        super().__init__(message)

    def __str__(self) -> str:
        return self.format()

    @property
    def location(self) -> str | None:
        """``path:line`` (or just ``path``) when the error has a place."""
        if self.path is None:
            return None
        return f"{self.path}:{self.line}" if self.line else self.path

    def format(self) -> str:
        """The one-line form the CLI prints: ``path:line: message``."""
        where = self.location
        text = f"{where}: {self.message}" if where else self.message
        if self.source_line:
            text += f"\n    {self.source_line.strip()}"
        return text

    def to_dict(self) -> dict[str, object]:
        """A JSON-able view, as ``loader inspect --json`` prints it."""
        return {
            "type": type(self).__name__,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "location": self.location,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.format()!r})"


class ConfigError(LoaderError):
    """``loader_config.py`` or an ``.env`` value is not what loader expects."""


class FeatureFlagError(ConfigError):
    """A feature flag definition or value is invalid (a bad env value, a clashing key…)."""


class DiscoveryError(LoaderError):
    """A file found by the scan breaks a convention (a route without verbs, a bad cron…)."""


class ResourceImportError(LoaderError):
    """A discovered file raised while it was being imported (syntax error, import error…)."""


class ImportTimeoutError(ResourceImportError):
    """A file was still importing when the time limit (``LOADER_IMPORT_TIMEOUT``) ran out.

    ``path:line`` is where the import was at that moment; ``source_path`` and
    ``source_display`` name the discovered file whose import it was (the one set aside).
    """

    def __init__(
        self, message: str, *, path: str | Path | None = None, line: int | None = None,
        source_path: Path | None = None, source_display: str | None = None,
    ) -> None:
        super().__init__(message, path=path, line=line)
        self.source_path, self.source_display = source_path, source_display


class ResourceValidationError(DiscoveryError):
    """An object a file defines is marked but invalid (no event, bad schedule…)."""


class DuplicateResourceError(LoaderError):
    """Two resources of one origin claim the same id; the message names both places."""


class PluginLoadError(LoaderError):
    """A plugin could not be loaded: not installed, incompatible, or raised on import."""


class MigrationError(LoaderError):
    """A migration or data script failed, the database is unreachable, or the lock timed out.

    ``path:line`` points at the migration file (the raising line inside it when known).
    """


class ReloadError(LoaderError):
    """A hot reload could not be applied; the old version keeps serving."""


class LoaderWarning(UserWarning):
    """Base class of the warnings loader emits (things that work, but probably not as meant).

    Like :class:`LoaderError` it carries its place: ``str()`` is ``path:line: message``.

    Attributes:
        message: What was noticed and what loader did about it, without the location.
        path: The file or folder it is about (relative to the project), if any.
        line: The 1-based line in ``path``, if known.
    """

    def __init__(self, message: str = "", *, path: str | Path | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(message)

    @property
    def location(self) -> str | None:
        if self.path is None:
            return None
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


def warn(message: str, *, path: str | Path | None = None, line: int | None = None) -> None:
    """Emit a :class:`LoaderWarning` about ``path:line`` (shown once per message and process)."""
    warnings.warn(LoaderWarning(message, path=path, line=line), stacklevel=2)


def one_line_warnings() -> None:
    """Show each :class:`LoaderWarning` as one line, ``warning: path:line: message``, on stderr.

    The CLI and the ``loader develop`` child call this: Python's own format adds the place in
    loader's code that warned and that line's text, which tell a user nothing. Other warnings
    keep Python's format.
    """
    shown = warnings.showwarning
    if getattr(shown, "_loader_one_line", False):
        return

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        if not issubclass(category, LoaderWarning):
            return shown(message, category, filename, lineno, file, line)
        stream = file if file is not None else sys.stderr
        try:
            stream.write(f"warning: {message}\n")
        except (OSError, ValueError):  # a closed stderr must not turn a warning into a crash
            pass

    setattr(show, "_loader_one_line", True)
    warnings.showwarning = show


for _cls in (
    LoaderError,
    ConfigError,
    FeatureFlagError,
    DiscoveryError,
    ResourceImportError,
    ImportTimeoutError,
    ResourceValidationError,
    DuplicateResourceError,
    PluginLoadError,
    MigrationError,
    ReloadError,
    LoaderWarning,
):
    _cls.__module__ = "loader"
