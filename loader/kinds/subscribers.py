"""Event subscribers: functions marked with ``@subscriber`` in ``subscribers/``.

Example (``sample_project/src/subscribers/post_created.py``)::

    @subscriber("post.created")
    async def log_new_post(event, container): ...

The default subscriber id is stable and namespaced: ``<origin>:<file>:<function>``, so two
plugins that both name a handler ``on_order_placed`` never collide.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar, overload

from loader.errors import LoaderError
from loader.kinds.base import BaseBinding, BaseKind, KindChange, Runtime, defined_in, line_of
from loader.types import Resource, SourceFile

__all__ = ["SubscriberSpec", "subscriber", "SubscriberKind", "SUBSCRIBER_ATTR"]

SUBSCRIBER_ATTR = "__loader_subscriber__"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class SubscriberSpec:
    """What ``@subscriber`` attached to a function."""

    events: tuple[str, ...]
    subscriber_id: str | None = None


@overload
def subscriber(event: F) -> F: ...
@overload
def subscriber(event: str | list[str] | tuple[str, ...] | None = None, *, subscriber_id: str | None = None) -> Callable[[F], F]: ...
def subscriber(event: Any = None, *, subscriber_id: str | None = None) -> Any:
    """Mark a function as a subscriber of one event or a list of events.

    Args:
        event: ``"order.placed"``, ``["a", "b"]``, or ``"*"`` for every event.
        subscriber_id: A stable id; defaults to ``<origin>:<file>:<function>``.
    """
    if callable(event):  # used bare, as @subscriber: no event given (reported when collected)
        setattr(event, SUBSCRIBER_ATTR, SubscriberSpec((), subscriber_id))
        return event
    events = (event,) if isinstance(event, str) else tuple(event or ())

    def mark(func: F) -> F:
        setattr(func, SUBSCRIBER_ATTR, SubscriberSpec(events, subscriber_id))
        return func

    return mark


class SubscriberBinding(BaseBinding):
    """Subscribers → the event bus, by subscriber id: the old ones out, then the new ones in,
    with no await between, so an event is never delivered to two versions."""

    kinds = frozenset({"subscriber"})

    async def prepare(self, runtime: Runtime, change: KindChange) -> list[LoaderError]:
        change.state = [(r, handler_of(r, runtime)) for r in change.added]
        return []

    def commit(self, runtime: Runtime, change: KindChange) -> None:
        bus = runtime.event_bus
        for resource in change.removed:
            for event in resource.meta["events"]:
                bus.unsubscribe(event, resource.id)
        for resource, handler in change.state:
            for event in resource.meta["events"]:
                bus.subscribe(event, handler, resource.id, source=str(resource.location), replace=True)


def handler_of(resource: Resource, runtime: Runtime) -> Callable[[Any], Any]:
    """The event-bus handler of a subscriber: ``fn(event, container[, options])``.

    A plugin's subscriber that declares ``options`` gets the plugin's options.
    """
    fn = resource.obj
    wants_options = "options" in inspect.signature(fn).parameters
    options = resource.source.root.options if resource.origin.kind == "plugin" else {}
    container = runtime.container

    def handle(event: Any) -> Any:
        return fn(event, container, options=options) if wants_options else fn(event, container)

    return handle


class SubscriberKind(BaseKind):
    name = "subscriber"
    folder = "subscribers"
    binding = SubscriberBinding()

    def collect(self, module: ModuleType, source: SourceFile) -> list[Resource]:
        resources = []
        for export, func in defined_in(module, lambda o: callable(o) and hasattr(o, SUBSCRIBER_ATTR)):
            spec: SubscriberSpec = getattr(func, SUBSCRIBER_ATTR)
            line = line_of(func)
            if not spec.events:
                raise self.invalid(source, line, f"subscriber {export}() has no event; expected @subscriber(\"order.placed\") or a list of events")
            bad = [e for e in spec.events if not isinstance(e, str) or not e]
            if bad:
                raise self.invalid(source, line, f"subscriber {export}() has invalid event name(s) {bad!r}; expected non-empty strings")
            sid = spec.subscriber_id or f"{source.root.origin}:{source.relpath.removesuffix('.py')}:{export}"
            resources.append(self.resource(source, sid, func, export, line, events=list(spec.events)))
        return resources
