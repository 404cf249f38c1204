"""Modules at run time: services built from discovery and config, bound in the container.

A service class asks for what it needs by naming constructor parameters; loader passes only
those it declares:

- ``options``: the module's options (config ``modules={"blog": {"options": ...}}``; a plugin's
  modules get the plugin's options);
- ``container``: the container, to resolve other services at call time;
- ``providers``: ``{provider id: provider service}`` of this module;
- ``provider``: the default provider's service (the one with ``is_default``, or the only one).

Providers get ``options`` (their own) and ``container``. Lifecycle: on start, each module's
``loaders`` run (``loader(container, options)``), then the service's ``on_start()``; on
shutdown, ``on_shutdown()`` in reverse order. Both may be async.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

from loader.core.awaitables import resolve
from loader.errors import LoaderError
from loader.runtime.container import Container
from loader.types import Resource

__all__ = ["ModuleStartError", "ModuleInstance", "ModuleRuntime", "instantiate"]

log = logging.getLogger("loader.modules")


class ModuleStartError(LoaderError):
    """A module's service could not be built or started; names the module and its file."""


@dataclass
class ModuleInstance:
    """One running module: its service and its providers' services."""

    name: str
    resource: Resource
    service: Any
    providers: dict[str, Any] = field(default_factory=dict)
    started: bool = False


def instantiate(cls: type, **available: Any) -> Any:
    """Build ``cls`` passing only the keyword arguments its constructor declares."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return cls()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return cls(**available)
    return cls(**{k: v for k, v in available.items() if k in params})


class ModuleRuntime:
    """Builds, starts and stops the modules of one application."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.modules: dict[str, ModuleInstance] = {}

    def build_instance(self, resource: Resource, providers: list[Resource]) -> ModuleInstance:
        """Build a module's service and its providers' (nothing is registered). Raises ModuleStartError."""
        built: dict[str, Any] = {}
        default: Any = None
        for provider in providers:
            settings = provider.source.root.options
            service = self._construct(provider, provider.obj.service, options=settings.get("options", {}), container=self.container)
            built[settings["id"]] = service
            if settings["is_default"]:
                default = service
        service = self._construct(
            resource, resource.obj.service,
            options=resource.meta.get("options", {}), container=self.container, providers=built, provider=default,
        )
        return ModuleInstance(resource.id, resource, service, built)

    def _construct(self, resource: Resource, cls: type, **available: Any) -> Any:
        try:
            return instantiate(cls, **available)
        except Exception as exc:
            raise self._error(resource, "could not be built", exc) from exc

    @staticmethod
    def _error(resource: Resource, what: str, exc: BaseException) -> ModuleStartError:
        kind = "provider" if resource.kind == "provider" else "module"
        return ModuleStartError(
            f"{kind} {resource.id!r}: service {resource.meta.get('service', '?')} {what}: {type(exc).__name__}: {exc}",
            path=resource.source.display,
            line=resource.line,
        )

    def install(self, instance: ModuleInstance) -> None:
        """Make ``instance`` the module's running service (it replaces any previous one)."""
        self.modules[instance.name] = instance
        self._bind(instance)

    def uninstall(self, module_id: str) -> ModuleInstance | None:
        """Take a module out of the container; returns its instance (to shut down)."""
        instance = self.modules.pop(module_id, None)
        if instance is not None:
            self.container.unregister(module_id)
            for provider_id in instance.providers:
                self.container.unregister(f"{module_id}.{provider_id}")
        return instance

    def _bind(self, instance: ModuleInstance) -> None:
        self.container.register(instance.name, instance.service, source=str(instance.resource.location), replace=True)
        for provider_id, service in instance.providers.items():
            self.container.register(f"{instance.name}.{provider_id}", service, replace=True)

    async def start(self) -> None:
        """Run each module's loaders and ``on_start``, in load order.

        Raises:
            ModuleStartError: the first module that fails, by name and file.
        """
        for instance in self.modules.values():
            await self.start_instance(instance)

    async def start_instance(self, instance: ModuleInstance) -> None:
        """Run one module's loaders and ``on_start``. Raises ModuleStartError."""
        options = instance.resource.meta.get("options", {})
        try:
            for loader_fn in instance.resource.obj.loaders:
                await resolve(loader_fn(self.container, options))
            for service in (*instance.providers.values(), instance.service):
                hook = getattr(service, "on_start", None)
                if callable(hook):
                    await resolve(hook())
        except Exception as exc:
            raise self._error(instance.resource, "failed to start", exc) from exc
        instance.started = True

    async def stop(self) -> None:
        """``on_shutdown`` of every started module, in reverse order; failures are logged."""
        for instance in reversed(list(self.modules.values())):
            await self.shutdown_instance(instance)

    async def shutdown_instance(self, instance: ModuleInstance) -> None:
        """``on_shutdown`` of one started module; failures are logged, never raised."""
        if not instance.started:
            return
        for service in (instance.service, *instance.providers.values()):
            hook = getattr(service, "on_shutdown", None)
            if not callable(hook):
                continue
            try:
                await resolve(hook())
            except Exception:
                log.exception("module %r: on_shutdown failed (%s)", instance.name, instance.resource.location)
        instance.started = False
