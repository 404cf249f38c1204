"""The container's ``database`` service: the project's SQLAlchemy engine, made on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["LazyEngine"]


class LazyEngine:
    """The container's ``database``: a SQLAlchemy ``Engine`` made on first use.

    A project that never touches its database (or a test of something else) opens no file and
    no connection. ``connect()``/``begin()`` and every other ``Engine`` attribute are the
    engine's own.
    """

    def __init__(self, factory: Callable[[], Engine]) -> None:
        self._factory = factory
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._factory()
        return self._engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __repr__(self) -> str:
        return f"<LazyEngine {'connected' if self._engine else 'not used yet'}>"
