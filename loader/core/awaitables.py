"""User callables may be sync or async; loader awaits what needs awaiting, in one place."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["resolve"]


async def resolve(value: Any) -> Any:
    """``value`` itself, or what it gives once awaited when it is awaitable."""
    return await value if inspect.isawaitable(value) else value
