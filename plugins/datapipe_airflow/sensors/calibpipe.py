"""``CalibPipeCoefficientsSensor``: wait until the catalog has calibration coefficients whose
validity covers an observation; the waiting happens in
:class:`~datapipe_airflow.triggers.calibpipe.CalibPipeCoefficientsTrigger`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datapipe_airflow.sensors.waiting import DeferrableWaitSensor
from datapipe_airflow.triggers.calibpipe import CalibPipeCoefficientsTrigger


class CalibPipeCoefficientsSensor(DeferrableWaitSensor):
    """Wait for coefficients covering ``[start, stop]`` for every telescope in ``tel_ids``.

    All four are templated (or XComArgs). Returns (XCom) ``{"coefficients": {tel_id: path}}``.
    On timeout the task fails naming the time range and the telescopes still uncovered.

    Parameters
    ----------
    tel_ids
        The observation's telescopes (a list, or its rendered form ``"[1, 2]"``).
    start, stop
        The observation's time range (ISO 8601, UTC).
    obs_id
        Only consider sets registered for this observation or for none.
    catalog_url
        The catalog; default ``DATAPIPE_CATALOG_URL`` of the worker and the triggerer.
    """

    template_fields: Sequence[str] = ("tel_ids", "start", "stop", "obs_id")
    ui_color = "#f5e6d3"

    def __init__(
        self,
        *,
        tel_ids: Any,
        start: Any,
        stop: Any,
        obs_id: Any = None,
        catalog_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tel_ids = tel_ids
        self.start = start
        self.stop = stop
        self.obs_id = obs_id
        self.catalog_url = catalog_url

    def what(self) -> str:
        obs = f" of obs {self.obs_id}" if self.obs_id not in (None, "", "None") else ""
        return f"calibration coefficients{obs} in the catalog"

    def make_trigger(self, context: Any, deadline: str) -> CalibPipeCoefficientsTrigger:
        return CalibPipeCoefficientsTrigger(
            tel_ids=self.tel_ids,
            start=str(self.start),
            stop=str(self.stop),
            obs_id=self.obs_id,
            catalog_url=self.catalog_url,
            deadline=deadline,
            poll_interval=self.poke_interval,
        )

    def result(self, payload: dict[str, Any]) -> Any:
        return {"coefficients": payload.get("coefficients", {})}
