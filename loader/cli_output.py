"""What every ``loader`` command shares: the consoles, and one clear line per ``LoaderError``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from rich.console import Console

from loader.errors import LoaderError

__all__ = ["out", "err", "clean_errors"]

F = TypeVar("F", bound=Callable[..., Any])
# Piped output (CI logs, `| less`) gets wide tables rather than rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 220
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def clean_errors(func: F) -> F:
    """A ``LoaderError`` is printed as ``error: path:line: message`` (no traceback), exit status 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LoaderError as exc:
            err.print(f"[red]error:[/red] {exc.format()}", markup=True, highlight=False)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
