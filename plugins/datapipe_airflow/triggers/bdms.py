"""Wait in the triggerer until a BDMS dataset is complete and every checksum matches."""

from __future__ import annotations

from typing import Any

from datapipe_airflow.hooks.bdms import BDMSHook
from datapipe_airflow.triggers.polling import PollingTrigger, WaitFailedError
from datapipe_ops.bdms.backend import BDMSAccessError, BDMSBackend


class BDMSDataArrivalTrigger(PollingTrigger):
    """Fire when ``dataset`` is ready in the BDMS of the connection ``bdms_conn_id``.

    Ready means: complete (the stand-in's manifest says so, the Rucio dataset is closed) and
    every file present with the size and checksums the BDMS records. A mismatch the BDMS may
    still mend (a stand-in file being rewritten, a replica still copying) keeps the trigger
    waiting and is named in the timeout message if it does not go away; one it cannot (a
    closed Rucio dataset with a corrupted or lost replica, refused credentials) fails the
    sensor at once, without retries. The success event carries the dataset summary.
    The backend is built in the triggerer from the connection id (``bdms_root``: the
    filesystem stand-in at that directory instead).
    """

    def __init__(
        self,
        *,
        dataset: str,
        deadline: str,
        bdms_conn_id: str = BDMSHook.default_conn_name,
        bdms_root: str | None = None,
        poll_interval: float = 30.0,
        verify_checksums: bool = True,
    ) -> None:
        super().__init__(deadline=deadline, poll_interval=poll_interval)
        self.dataset = dataset
        self.bdms_conn_id = bdms_conn_id
        self.bdms_root = bdms_root or None
        self.verify_checksums = verify_checksums
        self.hook = BDMSHook(bdms_conn_id=bdms_conn_id, root=self.bdms_root)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments (the connection id, never its secrets)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self._kwargs(),
                "dataset": self.dataset,
                "bdms_conn_id": self.bdms_conn_id,
                "bdms_root": self.bdms_root,
                "verify_checksums": self.verify_checksums,
            },
        )

    async def prepare(self) -> None:
        """Build the backend from the connection (asynchronously, in the triggerer)."""
        try:
            await self.hook.aget_backend()
        except BDMSAccessError as exc:
            raise WaitFailedError(str(exc)) from None

    @property
    def backend(self) -> BDMSBackend:
        """The BDMS backend, built once per trigger (it caches verified checksums)."""
        return self.hook.get_backend()

    def check(self) -> tuple[bool, str, dict[str, Any]]:
        """Is the dataset ready? (:class:`WaitFailedError` when it never can be.)"""
        try:
            status = self.backend.status(self.dataset, verify_checksums=self.verify_checksums)
        except BDMSAccessError as exc:
            raise WaitFailedError(str(exc)) from None
        if status.broken:
            raise WaitFailedError(status.describe())
        return status.ready, status.describe(), {"dataset_summary": status.summary()}
