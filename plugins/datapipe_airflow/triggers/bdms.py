"""Wait in the triggerer until a BDMS dataset is complete and every checksum matches."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from datapipe_airflow.hooks.bdms import BDMSBackend, backend_from_spec
from datapipe_airflow.triggers.polling import PollingTrigger


class BDMSDataArrivalTrigger(PollingTrigger):
    """Fire when ``dataset`` is ready in the BDMS described by ``backend_spec``.

    Ready means: the manifest says complete, every listed file exists with its size and sha256.
    A checksum mismatch is never accepted; it keeps the trigger waiting (a re-transfer may fix
    it) and is named in the timeout message if it does not go away. The success event carries
    the dataset summary (its files with paths, checksums and metadata).
    """

    def __init__(
        self,
        *,
        dataset: str,
        backend_spec: dict[str, Any],
        deadline: str,
        poll_interval: float = 30.0,
        verify_checksums: bool = True,
    ) -> None:
        super().__init__(deadline=deadline, poll_interval=poll_interval)
        self.dataset = dataset
        self.backend_spec = dict(backend_spec)
        self.verify_checksums = verify_checksums

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and keyword arguments (the backend as its plain spec)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self._kwargs(),
                "dataset": self.dataset,
                "backend_spec": self.backend_spec,
                "verify_checksums": self.verify_checksums,
            },
        )

    @cached_property
    def backend(self) -> BDMSBackend:
        """The BDMS backend, built once per trigger (it caches verified checksums)."""
        return backend_from_spec(self.backend_spec)

    def check(self) -> tuple[bool, str, dict[str, Any]]:
        """Is the dataset ready?"""
        status = self.backend.status(self.dataset, verify_checksums=self.verify_checksums)
        return status.ready, status.describe(), {"dataset_summary": status.summary()}
