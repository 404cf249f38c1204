"""EventBusService: what ``container.resolve("event_bus")`` returns; it delegates to a provider."""

from __future__ import annotations

from typing import Any

from loader.runtime.events import Handler, LocalEventBus


class EventBusService:
    """The event bus API (``emit``, ``subscribe``, ``unsubscribe``, ``drain``…) over a provider.

    Args:
        provider: The default provider's service; the in-process ``LocalEventBus`` when none
            is configured.
    """

    def __init__(self, provider: Any = None) -> None:
        self.provider = provider if provider is not None else LocalEventBus()

    async def emit(self, name: str, data: Any = None, metadata: dict[str, Any] | None = None) -> None:
        await self.provider.emit(name, data, metadata)

    def subscribe(self, event: str, handler: Handler, subscriber_id: str, *, source: str | None = None, replace: bool = False) -> None:
        self.provider.subscribe(event, handler, subscriber_id, source=source, replace=replace)

    def unsubscribe(self, event: str, subscriber_id: str) -> bool:
        return bool(self.provider.unsubscribe(event, subscriber_id))

    def unsubscribe_all(self, subscriber_id: str) -> int:
        return int(self.provider.unsubscribe_all(subscriber_id))

    async def drain(self, timeout: float | None = None) -> bool:
        return bool(await self.provider.drain(timeout))

    def subscriptions(self) -> list[tuple[str, str, str | None]]:
        return list(self.provider.subscriptions())

    def __repr__(self) -> str:
        return f"<EventBusService provider={self.provider!r}>"
