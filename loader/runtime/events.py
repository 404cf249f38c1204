"""The in-process event bus: the default provider of the ``event_bus`` module.

Subscribers are keyed by ``(event, subscriber_id)``, so hot reload can swap one subscriber's
handler in place (``replace=True``) or drop everything a subscriber id registered
(:meth:`LocalEventBus.unsubscribe_all`) without touching anyone else.

Delivery is fire-and-forget: :meth:`LocalEventBus.emit` starts one asyncio task per subscriber
and returns at once, so a slow or failing subscriber never slows or fails the code that emitted.
The tasks are kept in a set (not only referenced by the loop, which holds tasks weakly) so they
are not garbage-collected mid-flight and so :meth:`LocalEventBus.drain` can wait for them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from loader.core.awaitables import resolve
from loader.errors import DuplicateResourceError
from loader.types import SourceLocation

__all__ = ["Event", "Handler", "LocalEventBus", "WILDCARD"]

WILDCARD = "*"
"""Subscribing to this event name receives every event."""


@dataclass(frozen=True, slots=True)
class Event:
    """What a subscriber receives.

    Attributes:
        name: The event name, such as ``"order.placed"``.
        data: The payload the emitter passed.
        metadata: Free-form extra information (correlation ids, the emitter…).
    """

    name: str
    data: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Event], Awaitable[None] | None]
"""A subscriber: a sync or async callable taking the :class:`Event`."""


@dataclass(frozen=True, slots=True)
class _Subscription:
    event: str
    subscriber_id: str
    handler: Handler
    source: str | None


def _split_source(source: str | None) -> tuple[str | None, int | None]:
    """``"path:line"`` -> ``(path, line)``."""
    if source is None:
        return None, None
    place = SourceLocation.parse(source)
    return place.path, place.line


class LocalEventBus:
    """The in-process event bus (the default provider of the event_bus module).

    Args:
        logger: Where subscriber failures are logged; ``loader.events`` by default.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger("loader.events")
        # event -> subscriber id -> subscription. Dicts keep insertion order, so subscribers are
        # started in the order they subscribed, and a replace keeps its place.
        self._subscriptions: dict[str, dict[str, _Subscription]] = {}
        self._in_flight: set[asyncio.Task[None]] = set()

    def subscribe(
        self,
        event: str,
        handler: Handler,
        subscriber_id: str,
        *,
        source: str | None = None,
        replace: bool = False,
    ) -> None:
        """Subscribe ``handler`` to ``event`` (or to every event with ``"*"``).

        Args:
            event: The event name, or ``"*"`` for every event.
            handler: A sync or async callable taking the :class:`Event`.
            subscriber_id: Stable id; unique per event.
            source: ``"path:line"`` where the handler is defined, for errors and logs.
            replace: Swap the handler of an existing ``(event, subscriber_id)`` in place
                instead of raising (what hot reload uses). Subscribes normally if absent.

        Raises:
            DuplicateResourceError: ``subscriber_id`` is already subscribed to ``event`` and
                ``replace`` is false. The message names both sources.
            ValueError: ``event`` or ``subscriber_id`` is empty.
            TypeError: ``handler`` is not callable.
        """
        if not event or not subscriber_id:
            raise ValueError(f"event and subscriber_id must be non-empty (got {event!r}, {subscriber_id!r})")
        if not callable(handler):
            raise TypeError(f"handler for subscriber {subscriber_id!r} is not callable: {handler!r}")
        by_id = self._subscriptions.setdefault(event, {})
        existing = by_id.get(subscriber_id)
        if existing is not None and not replace:
            path, line = _split_source(source)
            raise DuplicateResourceError(
                f"subscriber id {subscriber_id!r} is already subscribed to {event!r} "
                f"(first at {existing.source or '<unknown>'}, again at {source or '<unknown>'})",
                path=path,
                line=line,
            )
        by_id[subscriber_id] = _Subscription(event, subscriber_id, handler, source)

    def unsubscribe(self, event: str, subscriber_id: str) -> bool:
        """Remove one subscription; True if there was one.

        Deliveries already started keep running on the handler they were started with.
        """
        by_id = self._subscriptions.get(event)
        if by_id is None or by_id.pop(subscriber_id, None) is None:
            return False
        if not by_id:
            del self._subscriptions[event]
        return True

    def unsubscribe_all(self, subscriber_id: str) -> int:
        """Remove ``subscriber_id`` from every event (wildcard included); return how many."""
        removed = 0
        for event in list(self._subscriptions):
            removed += self.unsubscribe(event, subscriber_id)
        return removed

    async def emit(self, name: str, data: Any = None, metadata: dict[str, Any] | None = None) -> None:
        """Deliver an event to the subscribers of ``name`` and of ``"*"``, without waiting.

        Each subscriber runs in its own task; this returns as soon as they are created. The list
        of subscribers is taken now: a subscriber added or removed later does not change this
        delivery.

        Args:
            name: The event name.
            data: The payload.
            metadata: Extra information; copied, so the caller may reuse its dict.
        """
        event = Event(name, data, dict(metadata or {}))
        targets = list(self._subscriptions.get(name, {}).values())
        if name != WILDCARD:  # emitting "*" itself must not deliver twice to wildcard subscribers
            targets += self._subscriptions.get(WILDCARD, {}).values()
        for sub in targets:
            task = asyncio.create_task(self._deliver(sub, event), name=f"loader-event:{name}:{sub.subscriber_id}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _deliver(self, sub: _Subscription, event: Event) -> None:
        started = time.perf_counter()
        try:
            await resolve(sub.handler(event))
        except Exception:
            # Never propagate: the task's exception would otherwise go unretrieved, and one
            # subscriber must not affect the others.
            self._logger.exception(
                "subscriber %r (%s) failed handling event %r",
                sub.subscriber_id,
                sub.source or "<unknown source>",
                event.name,
                extra={"subscriber_id": sub.subscriber_id, "event": event.name},
            )
            return
        # Debug: a busy event stream would drown everything else at info.
        if self._logger.isEnabledFor(logging.DEBUG):
            took = (time.perf_counter() - started) * 1000
            self._logger.debug(
                "subscriber %r handled event %r in %.1f ms", sub.subscriber_id, event.name, took,
                extra={"subscriber_id": sub.subscriber_id, "event": event.name, "duration_ms": round(took, 3)},
            )

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for the deliveries in flight, including those they emit meanwhile.

        Args:
            timeout: Seconds to wait at most; forever when None.

        Returns:
            True when nothing is left in flight, False if the timeout passed first. Deliveries
            still running then are left running (not cancelled).
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._in_flight:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            # Snapshot: a subscriber may emit, adding tasks; the loop picks those up next round.
            await asyncio.wait(set(self._in_flight), timeout=remaining)
        return True

    @property
    def in_flight(self) -> int:
        """How many deliveries are running."""
        return len(self._in_flight)

    def subscriptions(self) -> list[tuple[str, str, str | None]]:
        """Every subscription as ``(event, subscriber_id, source)``, sorted by event then id."""
        return sorted(
            ((s.event, s.subscriber_id, s.source) for by_id in self._subscriptions.values() for s in by_id.values()),
            key=lambda row: (row[0], row[1]),
        )

    def __repr__(self) -> str:
        count = sum(len(by_id) for by_id in self._subscriptions.values())
        return (
            f"<LocalEventBus events={len(self._subscriptions)} subscriptions={count} "
            f"in_flight={len(self._in_flight)}>"
        )
