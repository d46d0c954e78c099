"""``BDMSDataArrivalSensor``: wait until a dataset is complete in the BDMS and every checksum
matches; the waiting happens in :class:`~datapipe_airflow.triggers.bdms.BDMSDataArrivalTrigger`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datapipe_airflow.hooks.bdms import BDMSHook
from datapipe_airflow.sensors.waiting import DeferrableWaitSensor
from datapipe_airflow.triggers.bdms import BDMSDataArrivalTrigger


class BDMSDataArrivalSensor(DeferrableWaitSensor):
    """Wait for ``dataset`` (templated) to be complete and intact in the BDMS.

    The same for every BDMS backend (the connection chooses it: the filesystem stand-in or
    Rucio). Returns (XCom) the dataset summary: ``{"dataset", "location", "kind", "n_files",
    "files": [{"name", "path", "size", "checksums", "n_events", "level", "meta", "did"}, ...]}``.
    On timeout the task fails with the dataset's state (how many files, complete or not, the
    first checksum or size problem); a dataset that can never become ready (refused
    credentials, a closed Rucio dataset with a corrupted or lost replica) fails at once,
    without retries, naming the DID and the problem.

    Parameters
    ----------
    dataset
        The dataset name (relative to the BDMS root) or directory.
    bdms_conn_id, bdms_root
        See :class:`~datapipe_airflow.hooks.bdms.BDMSHook`.
    verify_checksums
        Compare every file's checksums with the BDMS's (default; only ever off for tests of the
        mechanism itself).
    """

    template_fields: Sequence[str] = ("dataset", "bdms_root")
    ui_color = "#e8e0f5"

    def __init__(
        self,
        *,
        dataset: str,
        bdms_conn_id: str = BDMSHook.default_conn_name,
        bdms_root: str | None = None,
        verify_checksums: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.bdms_conn_id = bdms_conn_id
        self.bdms_root = bdms_root
        self.verify_checksums = verify_checksums

    def what(self) -> str:
        return f"dataset '{self.dataset}' in the BDMS"

    def make_trigger(self, context: Any, deadline: str) -> BDMSDataArrivalTrigger:
        return BDMSDataArrivalTrigger(
            dataset=self.dataset,
            bdms_conn_id=self.bdms_conn_id,
            bdms_root=self.bdms_root or None,
            deadline=deadline,
            poll_interval=self.poke_interval,
            verify_checksums=self.verify_checksums,
        )

    def result(self, payload: dict[str, Any]) -> Any:
        return payload.get("dataset_summary", payload)
