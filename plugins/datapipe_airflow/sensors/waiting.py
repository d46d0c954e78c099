"""What DataPipe's two sensors share: check once on the worker, else defer to a trigger, and turn
the trigger's event into success or a failure that says what was missing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator

from datapipe_airflow.triggers.polling import PollingTrigger, WaitFailedError, deadline_after

#: The triggerer's own deferral timeout is a backstop this long after the trigger's deadline:
#: the trigger fires first, with a message naming what was missing.
DEFERRAL_GRACE = timedelta(minutes=10)


class DeferrableWaitSensor(BaseSensorOperator):
    """Base of the DataPipe sensors: subclasses give :meth:`make_trigger` and :meth:`what`.

    ``timeout_hours_param`` names a DAG param (e.g. ``wait_timeout_hours``) that, when the run
    has it, replaces ``timeout``: operators choose the wait in the trigger form.
    """

    def __init__(
        self,
        *,
        poke_interval: float = 30.0,
        deferrable: bool = True,
        timeout_hours_param: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.deferrable = deferrable
        self.timeout_hours_param = timeout_hours_param

    def _apply_timeout_param(self, context: Any) -> None:
        params = (context.get("params") or {}) if hasattr(context, "get") else {}
        hours = params.get(self.timeout_hours_param) if self.timeout_hours_param else None
        if hours not in (None, ""):
            self.timeout = float(hours) * 3600.0

    def make_trigger(self, context: Any, deadline: str) -> PollingTrigger:
        """The trigger that waits (also used, synchronously, for the first check)."""
        raise NotImplementedError

    def what(self) -> str:
        """What is awaited, for messages (``dataset 'x'``)."""
        raise NotImplementedError

    def poke(self, context: Any) -> bool:
        """One check (the non-deferrable mode polls this; the checker is kept between pokes)."""
        if getattr(self, "_checker", None) is None:
            self._checker = self.make_trigger(context, deadline_after(self.timeout))
        satisfied, description, payload = self._first_check(self._checker)
        self.log.info("%s", description)
        if satisfied:
            self._result = payload
        return satisfied

    def execute(self, context: Any) -> Any:
        """Return at once if satisfied, else wait in the triggerer (or poke, not deferrable)."""
        self._apply_timeout_param(context)
        if not self.deferrable:
            super().execute(context)
            return self.result(getattr(self, "_result", {}))
        trigger = self.make_trigger(context, deadline_after(self.timeout))
        satisfied, description, payload = self._first_check(trigger)
        if satisfied:
            self.log.info("already there: %s", description)
            return self.result(payload)
        self.log.info("deferring (timeout %.0f s): %s", self.timeout, description)
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + DEFERRAL_GRACE,
        )

    def _first_check(self, trigger: PollingTrigger) -> tuple[bool, str, dict[str, Any]]:
        """``trigger.check()`` on the worker; what can never come fails without retries."""
        from airflow.sdk.exceptions import AirflowFailException

        try:
            return trigger.check()
        except WaitFailedError as exc:
            raise AirflowFailException(
                f"{self.task_id}: waiting for {self.what()} failed: {exc}"
            ) from None

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: success, or fail naming what was missing."""
        from airflow.sdk.exceptions import (
            AirflowException,
            AirflowFailException,
            AirflowSensorTimeout,
        )

        event = event or {"status": "error", "message": "the trigger fired no event"}
        status, message = event.get("status"), event.get("message", "")
        if status == "success":
            self.log.info("%s", message)
            return self.result(event)
        if status == "timeout":
            raise AirflowSensorTimeout(
                f"{self.task_id}: timed out after {self.timeout:.0f} s waiting for "
                f"{self.what()}: {message}"
            )
        failure = f"{self.task_id}: waiting for {self.what()} failed: {message}"
        if status == "failed":  # can never come: no retries
            raise AirflowFailException(failure)
        raise AirflowException(failure)

    def result(self, payload: dict[str, Any]) -> Any:
        """The XCom value of a satisfied sensor (subclasses pick from the payload)."""
        return payload
