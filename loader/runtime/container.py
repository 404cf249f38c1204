"""The container: services by name, resolved at call time.

Routes, subscribers and jobs call ``container.resolve("blog")`` each time they need the
service, never keep it: a module reloaded later is then seen everywhere without reloading
what uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from loader.errors import LoaderError

__all__ = ["Container", "ContainerError"]


class ContainerError(LoaderError):
    """A service was asked for by a name nothing registered."""


class Container:
    """Named services. ``register``/``unregister``/``resolve``/``names``; names are unique."""

    def __init__(self) -> None:
        self._services: dict[str, Any] = {}
        self._sources: dict[str, str | None] = {}

    def register(self, name: str, service: Any, *, source: str | None = None, replace: bool = False) -> None:
        """Register ``service`` under ``name``; ``replace=True`` rebinds an existing name.

        Raises:
            ContainerError: the name is taken and ``replace`` was not asked for.
        """
        if name in self._services and not replace:
            raise ContainerError(
                f"service {name!r} is already registered (from {self._sources[name] or 'loader'}); "
                "pass replace=True to rebind it"
            )
        self._services[name] = service
        self._sources[name] = source

    def unregister(self, name: str) -> Any:
        self._sources.pop(name, None)
        return self._services.pop(name, None)

    def resolve(self, name: str) -> Any:
        """The service registered under ``name``.

        Raises:
            ContainerError: nothing is registered under that name; the message lists what is.
        """
        try:
            return self._services[name]
        except KeyError:
            known = ", ".join(sorted(self._services)) or "nothing"
            raise ContainerError(f"no service named {name!r} in the container (registered: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._services)

    def __contains__(self, name: object) -> bool:
        return name in self._services

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"<Container {self.names()}>"
