"""The shape of DataPipe's waiting triggers: poll a blocking check in a thread until it is
satisfied or an absolute deadline passes, then fire one event.

The deadline is absolute (set by the sensor when it first defers) so that a trigger moved to
another triggerer, or restarted, keeps the sensor's timeout. The event is always a dict with a
``status`` (``success``, ``timeout``, ``error`` — the check could not run, a retry may help —
or ``failed`` — the check raised :class:`WaitFailedError`: what is awaited can never come, retrying
does not help) and a ``message`` naming what was found or what was still missing; the sensor
turns it into success or a clear failure.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class WaitFailedError(Exception):
    """What a trigger waits for can never come (refused credentials, a corrupted replica in a
    closed dataset): the sensor fails at once and is not retried."""


def deadline_after(seconds: float) -> str:
    """An ISO UTC timestamp ``seconds`` from now."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


class PollingTrigger(BaseTrigger, abc.ABC):
    """Poll :meth:`check` every ``poll_interval`` seconds until success or ``deadline``.

    Subclasses implement :meth:`check` (blocking is fine: it runs in a thread, so the triggerer's
    event loop keeps serving other triggers) and :meth:`serialize`.
    """

    def __init__(self, *, deadline: str, poll_interval: float = 30.0) -> None:
        super().__init__()
        self.deadline = deadline
        self.poll_interval = float(poll_interval)

    @abc.abstractmethod
    def check(self) -> tuple[bool, str, dict[str, Any]]:
        """``(satisfied, one-line description, payload for the success event)``."""

    async def prepare(self) -> None:
        """Asynchronous set-up in the triggerer before the first check (e.g. a connection)."""

    def _kwargs(self) -> dict[str, Any]:
        return {"deadline": self.deadline, "poll_interval": self.poll_interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until satisfied (``success``) or past the deadline (``timeout``)."""
        deadline = datetime.fromisoformat(self.deadline)
        last = None
        prepared = False
        while True:
            try:
                if not prepared:
                    await self.prepare()
                    prepared = True
                satisfied, description, payload = await asyncio.to_thread(self.check)
            except WaitFailedError as exc:
                yield TriggerEvent({"status": "failed", "message": str(exc)})
                return
            except Exception as exc:  # a broken backend: fail the sensor with the reason
                self.log.exception("check failed")
                yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
                return
            if satisfied:
                yield TriggerEvent({"status": "success", "message": description, **payload})
                return
            if description != last:
                self.log.info("waiting: %s", description)
                last = description
            remaining = (deadline - datetime.now(UTC)).total_seconds()
            if remaining <= 0:
                yield TriggerEvent({"status": "timeout", "message": description})
                return
            await asyncio.sleep(min(self.poll_interval, remaining))
