"""Timers of the workflow engine: "at time T, do X for execution E", in one place.

Every delayed action of the engine goes through :class:`Timers`: re-invoking a waiting async
step (``retry_interval_awaiting``), timing out a waiting execution (a workflow ``timeout``),
deleting a finished one (``retention``). A :class:`Timer` is a plain value (its fields are the
columns a ``workflow_timer`` table would have), and the engine's ``fire(timer)`` re-checks the
stored execution before acting, so a timer that comes late or twice does nothing wrong.

Here timers live in this process (``loop.call_later``): they are lost when it stops. A durable
implementation keeps the same ``schedule`` / ``cancel`` / ``close`` and writes rows instead,
polled by the engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Timer", "Timers"]

log = logging.getLogger("loader.workflows")


@dataclass(frozen=True, slots=True)
class Timer:
    """One scheduled action.

    Attributes:
        at: When, in seconds since the epoch (``time.time()``).
        action: ``awaiting_retry``, ``workflow_timeout`` or ``retention``.
        workflow: The workflow's name.
        transaction_id: The execution's transaction id.
        position: The step's position, for step actions.
        guard: What the record held when scheduled (the step's ``attempts``; for ``retention``
            the execution's ``revision``): a timer for a record that moved on does nothing.
    """

    at: float
    action: str
    workflow: str
    transaction_id: str
    position: str | None = None
    guard: int = 0


class Timers:
    """In-process timers: ``schedule`` runs ``fire(timer)`` at ``timer.at`` in a task of its own.

    Args:
        fire: The engine's handler; its exceptions are logged, never raised.
    """

    def __init__(self, fire: Callable[[Timer], Awaitable[None]]) -> None:
        self._fire = fire
        self._pending: dict[Timer, asyncio.TimerHandle] = {}
        # (workflow, transaction id) -> its pending timers: cancelling them costs what they are.
        self._by_execution: dict[tuple[str, str], set[Timer]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def schedule(self, timer: Timer) -> None:
        """Run the timer's action at ``timer.at`` (now if that is past). The same timer twice is one."""
        if timer in self._pending:
            return
        loop = asyncio.get_running_loop()
        self._pending[timer] = loop.call_later(max(0.0, timer.at - time.time()), self._start, timer)
        self._by_execution.setdefault((timer.workflow, timer.transaction_id), set()).add(timer)

    def cancel(self, workflow: str, transaction_id: str, action: str | None = None) -> None:
        """Drop the execution's pending timers (of one action, or all)."""
        for timer in list(self._by_execution.get((workflow, transaction_id), ())):
            if action is None or timer.action == action:
                self._forget(timer)
                self._pending.pop(timer).cancel()

    def _forget(self, timer: Timer) -> None:
        key = (timer.workflow, timer.transaction_id)
        timers = self._by_execution.get(key)
        if timers is not None:
            timers.discard(timer)
            if not timers:
                del self._by_execution[key]

    def pending(self, workflow: str | None = None, transaction_id: str | None = None) -> list[Timer]:
        """Timers not fired yet, soonest first."""
        return sorted(
            (t for t in self._pending if workflow in (None, t.workflow) and transaction_id in (None, t.transaction_id)),
            key=lambda t: t.at,
        )

    def _start(self, timer: Timer) -> None:
        self._pending.pop(timer, None)
        self._forget(timer)
        task = asyncio.get_running_loop().create_task(self._run(timer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, timer: Timer) -> None:
        try:
            await self._fire(timer)
        except Exception:  # a timer's failure never takes the engine down; the record says what happened
            log.exception("workflow %r, execution %s: timer %s failed", timer.workflow, timer.transaction_id, timer.action)

    async def close(self) -> None:
        """Drop pending timers and cancel the actions running now (the application stops)."""
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        self._by_execution.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
