"""Wait in the triggerer until calibration coefficients covering an observation are catalogued."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from datapipe_airflow.hooks.calibpipe import CalibPipeHook, parse_tel_ids
from datapipe_airflow.triggers.polling import PollingTrigger


class CalibPipeCoefficientsTrigger(PollingTrigger):
    """Fire when, for every telescope in ``tel_ids``, a calibration set valid over all of
    ``[start, stop]`` exists in the catalog (``obs_id``: only sets for that observation or for
    none). The success event carries ``{"coefficients": {tel_id: path}}``."""

    def __init__(
        self,
        *,
        tel_ids: list[int],
        start: str,
        stop: str,
        deadline: str,
        obs_id: int | None = None,
        catalog_url: str | None = None,
        poll_interval: float = 30.0,
    ) -> None:
        super().__init__(deadline=deadline, poll_interval=poll_interval)
        self.tel_ids = parse_tel_ids(tel_ids)
        self.start = str(start)
        self.stop = str(stop)
        self.obs_id = None if obs_id in (None, "", "None") else int(obs_id)
        self.catalog_url = catalog_url

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self._kwargs(),
                "tel_ids": self.tel_ids,
                "start": self.start,
                "stop": self.stop,
                "obs_id": self.obs_id,
                "catalog_url": self.catalog_url,
            },
        )

    @cached_property
    def hook(self) -> CalibPipeHook:
        """One catalog connection pool per trigger."""
        return CalibPipeHook(catalog_url=self.catalog_url)

    def check(self) -> tuple[bool, str, dict[str, Any]]:
        """Are the observation's telescopes covered?"""
        coverage = self.hook.coverage(self.tel_ids, self.start, self.stop, obs_id=self.obs_id)
        return coverage.covered, coverage.description, coverage.payload()

    async def cleanup(self) -> None:
        """Release the catalog's connections when the trigger is removed."""
        if "hook" in self.__dict__:
            self.hook.close()
