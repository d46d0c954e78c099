"""CalibPipe as DataPipe sees it: camera calibration coefficients registered in the catalog.

CalibPipe (or, embedded, the simulation) writes coefficient files and registers each as a
calibration set with its validity range (``datapipe_ops.catalog.Catalog.register_calibration_set``).
An observation can be processed when, for every one of its telescopes, a set's validity covers
the whole observation: :meth:`CalibPipeHook.coverage` answers that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import BaseHook


@dataclass(frozen=True)
class CalibrationCoverage:
    """Whether coefficients cover an observation, which files, or what is missing."""

    covered: bool
    description: str
    files: dict[int, str] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """JSON-able form (trigger event, XCom): ``{"coefficients": {tel_id: path}}``."""
        return {"coefficients": {str(tel): path for tel, path in sorted(self.files.items())}}


def parse_tel_ids(tel_ids: Sequence[int] | str) -> list[int]:
    """Telescope ids from a list or a rendered template (``"[1, 2]"``, ``"1,2"``)."""
    if isinstance(tel_ids, str):
        text = tel_ids.strip().strip("[]()")
        return [int(part) for part in text.replace(",", " ").split()]
    return [int(tel) for tel in tel_ids]


class CalibPipeHook(BaseHook):
    """Look up calibration coefficients in the DataPipe catalog.

    Parameters
    ----------
    catalog_url
        SQLAlchemy URL of the catalog; default ``DATAPIPE_CATALOG_URL`` of the process (the
        workers and the triggerer are deployed with the same one).
    """

    hook_name = "DataPipe CalibPipe (catalog)"

    def __init__(self, catalog_url: str | None = None) -> None:
        super().__init__()
        self.catalog_url = catalog_url
        self._catalog: Any = None

    def _get_catalog(self) -> Any:
        if self._catalog is None:
            from datapipe_ops.catalog import Catalog

            self._catalog = Catalog(self.catalog_url)
        return self._catalog

    def coverage(
        self,
        tel_ids: Sequence[int] | str,
        start: Any,
        stop: Any,
        obs_id: int | None = None,
    ) -> CalibrationCoverage:
        """Which coefficient files cover ``[start, stop]`` for every telescope, if all are."""
        from datapipe_ops.errors import CalibrationError

        tels = parse_tel_ids(tel_ids)
        catalog = self._get_catalog()
        what = f"obs {obs_id}, " if obs_id is not None else ""
        try:
            found = catalog.require_calibration(tels, start, stop, obs_id=obs_id)
        except CalibrationError as exc:
            return CalibrationCoverage(False, f"{what}{exc.problem} (catalog {catalog.where})")
        files = {tel: found[tel].path for tel in tels}
        description = (
            f"{what}coefficients for telescope(s) {', '.join(map(str, tels))} "
            f"cover {start} – {stop}"
        )
        return CalibrationCoverage(True, description, files)

    def close(self) -> None:
        """Release the catalog's connections."""
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
