"""The in-process event bus: delivery, isolation of failures, subscription bookkeeping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from loader.errors import DuplicateResourceError
from loader.runtime.events import Event, LocalEventBus


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def recorder(log: list[tuple[str, str]], tag: str) -> Callable[[Event], Awaitable[None]]:
    async def handle(event: Event) -> None:
        log.append((tag, event.name))

    return handle


def test_emit_reaches_subscribers_of_the_event_and_of_the_wildcard() -> None:
    log: list[tuple[str, str]] = []
    bus = LocalEventBus()
    bus.subscribe("order.placed", recorder(log, "a"), "a")
    bus.subscribe("order.shipped", recorder(log, "b"), "b")
    bus.subscribe("*", recorder(log, "all"), "all")

    async def main() -> None:
        await bus.emit("order.placed", {"id": 1})
        await bus.emit("user.created")
        assert await bus.drain(timeout=5)

    run(main)
    assert sorted(log) == [("a", "order.placed"), ("all", "order.placed"), ("all", "user.created")]


def test_event_carries_data_and_a_copy_of_metadata() -> None:
    seen: list[Event] = []
    bus = LocalEventBus()
    bus.subscribe("x", seen.append, "sync")
    meta = {"trace": "t1"}

    async def main() -> None:
        await bus.emit("x", data=[1, 2], metadata=meta)
        meta["trace"] = "changed"
        assert await bus.drain(timeout=5)

    run(main)
    assert seen == [Event("x", [1, 2], {"trace": "t1"})]


def test_emitter_does_not_wait_for_a_slow_subscriber_and_drain_does() -> None:
    done: list[str] = []
    bus = LocalEventBus()

    async def slow(event: Event) -> None:
        await asyncio.sleep(0.05)
        done.append(event.name)

    bus.subscribe("tick", slow, "slow")

    async def main() -> None:
        await bus.emit("tick")
        assert done == []  # emit returned; the subscriber has not even started
        assert bus.in_flight == 1
        assert await bus.drain(timeout=5) is True
        assert done == ["tick"]
        assert bus.in_flight == 0

    run(main)


def test_drain_waits_for_events_emitted_by_subscribers() -> None:
    log: list[tuple[str, str]] = []
    bus = LocalEventBus()

    async def relay(event: Event) -> None:
        await asyncio.sleep(0.01)
        await bus.emit("second")

    bus.subscribe("first", relay, "relay")
    bus.subscribe("second", recorder(log, "end"), "end")

    async def main() -> None:
        await bus.emit("first")
        assert await bus.drain(timeout=5)

    run(main)
    assert log == [("end", "second")]


def test_a_raising_subscriber_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    log: list[tuple[str, str]] = []
    bus = LocalEventBus()

    async def broken(event: Event) -> None:
        raise RuntimeError("boom")

    def broken_sync(event: Event) -> None:
        raise KeyError("sync boom")

    bus.subscribe("e", broken, "shop:subscribers/broken:broken", source="src/subscribers/broken.py:7")
    bus.subscribe("e", broken_sync, "sync-broken", source="src/subscribers/other.py:3")
    bus.subscribe("e", recorder(log, "ok"), "ok")

    async def main() -> None:
        await bus.emit("e")  # does not raise
        assert await bus.drain(timeout=5)

    with caplog.at_level(logging.ERROR, logger="loader.events"):
        run(main)
    assert log == [("ok", "e")]
    messages = [r.getMessage() for r in caplog.records]
    assert any("shop:subscribers/broken:broken" in m and "src/subscribers/broken.py:7" in m for m in messages)
    assert any("sync-broken" in m and "src/subscribers/other.py:3" in m for m in messages)
    assert all(r.exc_info for r in caplog.records)  # the traceback is logged too


def test_duplicate_id_on_one_event_names_both_sources() -> None:
    bus = LocalEventBus()
    bus.subscribe("e", recorder([], "1"), "sid", source="src/subscribers/a.py:4")
    with pytest.raises(DuplicateResourceError) as info:
        bus.subscribe("e", recorder([], "2"), "sid", source="src/subscribers/b.py:9")
    err = info.value
    assert "src/subscribers/a.py:4" in str(err) and "src/subscribers/b.py:9" in str(err)
    assert (err.path, err.line) == ("src/subscribers/b.py", 9)
    assert bus.subscriptions() == [("e", "sid", "src/subscribers/a.py:4")]  # unchanged


def test_same_id_on_two_events_is_fine() -> None:
    bus = LocalEventBus()
    bus.subscribe("a", recorder([], "x"), "sid", source="s.py:1")
    bus.subscribe("b", recorder([], "x"), "sid", source="s.py:1")
    assert bus.subscriptions() == [("a", "sid", "s.py:1"), ("b", "sid", "s.py:1")]


def test_replace_swaps_the_handler_in_place() -> None:
    log: list[tuple[str, str]] = []
    bus = LocalEventBus()
    old, new = recorder(log, "old"), recorder(log, "new")
    bus.subscribe("e", old, "first")
    bus.subscribe("e", recorder(log, "other"), "second")
    bus.subscribe("e", new, "first", source="v2.py:2", replace=True)
    assert not hasattr(new, "__loader_subscriber__") and vars(new) == {}  # handlers are not mutated

    async def main() -> None:
        await bus.emit("e")
        assert await bus.drain(timeout=5)

    run(main)
    assert sorted(log) == [("new", "e"), ("other", "e")]
    assert bus.subscriptions() == [("e", "first", "v2.py:2"), ("e", "second", None)]


def test_unsubscribe_and_unsubscribe_all() -> None:
    log: list[tuple[str, str]] = []
    bus = LocalEventBus()
    bus.subscribe("a", recorder(log, "x"), "x")
    bus.subscribe("b", recorder(log, "x"), "x")
    bus.subscribe("*", recorder(log, "x"), "x")
    bus.subscribe("a", recorder(log, "y"), "y")

    assert bus.unsubscribe("a", "y") is True
    assert bus.unsubscribe("a", "y") is False
    assert bus.unsubscribe("nope", "y") is False
    assert bus.unsubscribe_all("x") == 3
    assert bus.unsubscribe_all("x") == 0
    assert bus.subscriptions() == []

    async def main() -> None:
        await bus.emit("a")
        assert await bus.drain(timeout=5)

    run(main)
    assert log == []


def test_deliveries_snapshot_subscribers_at_emit_time() -> None:
    log: list[tuple[str, str]] = []
    bus = LocalEventBus()
    bus.subscribe("e", recorder(log, "early"), "early")

    async def main() -> None:
        await bus.emit("e")
        bus.unsubscribe("e", "early")  # already started deliveries still happen
        bus.subscribe("e", recorder(log, "late"), "late")  # and do not include newcomers
        assert await bus.drain(timeout=5)

    run(main)
    assert log == [("early", "e")]


def test_sync_handlers_work() -> None:
    seen: list[str] = []
    bus = LocalEventBus()
    bus.subscribe("e", lambda event: seen.append(event.name), "lambda")

    async def main() -> None:
        await bus.emit("e")
        assert seen == []  # called inside the delivery task, not by emit
        assert await bus.drain(timeout=5)

    run(main)
    assert seen == ["e"]


def test_drain_timeout_returns_false() -> None:
    bus = LocalEventBus()

    async def main() -> None:
        gate = asyncio.Event()

        async def stuck(event: Event) -> None:
            await gate.wait()

        bus.subscribe("e", stuck, "stuck")
        await bus.emit("e")
        assert await bus.drain(timeout=0.02) is False
        assert bus.in_flight == 1
        gate.set()
        assert await bus.drain(timeout=5) is True

    run(main)


def test_drain_with_nothing_in_flight_and_repr() -> None:
    bus = LocalEventBus()
    bus.subscribe("a", recorder([], "x"), "x")
    bus.subscribe("*", recorder([], "x"), "x")

    async def main() -> None:
        assert await bus.drain() is True

    run(main)
    assert repr(bus) == "<LocalEventBus events=2 subscriptions=2 in_flight=0>"


def test_invalid_subscriptions_are_rejected() -> None:
    bus = LocalEventBus()
    with pytest.raises(ValueError):
        bus.subscribe("", recorder([], "x"), "x")
    with pytest.raises(ValueError):
        bus.subscribe("e", recorder([], "x"), "")
    with pytest.raises(TypeError):
        bus.subscribe("e", "not callable", "x")  # type: ignore[arg-type]
