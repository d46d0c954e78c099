"""The BDMS hook: a thin adapter that builds a :mod:`datapipe_ops.bdms` backend from an Airflow
connection, as Airflow's providers do.

The connection chooses the backend:

* ``conn_type`` ``rucio`` (or extra ``{"backend": "rucio"}``): :class:`~datapipe_ops.bdms.rucio.
  RucioBDMS` — host = the Rucio server, login = the account, password = its userpass
  password; extra ``auth_type``, ``auth_host``, ``ca_cert``, ``vo``, ``creds`` (other auth
  types), ``scope`` (of dataset names without one), ``rses`` (RSE expression the inputs must be
  on), ``output_rse`` and ``product_scope`` (where products go), ``token_dir``;
* anything else: :class:`~datapipe_ops.bdms.filesystem.FilesystemBDMS` with extra ``root``;
* no connection: the filesystem stand-in under ``$DATAPIPE_BDMS_ROOT`` (else
  ``$DATAPIPE_DATA_ROOT/bdms``), what ``make demo`` uses.

Triggers build the hook from the connection id in the triggerer (:meth:`BDMSHook.aget_backend`);
credentials never travel in a trigger's arguments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from datapipe_ops.bdms.backend import BDMSBackend, DatasetFile, DatasetStatus, open_backend

#: Connection extra keys passed to the Rucio backend as they are.
RUCIO_EXTRA = ("auth_type", "auth_host", "ca_cert", "vo", "creds", "scope", "rses", "output_rse",
               "product_scope", "token_dir", "timeout")  # fmt: skip


def default_bdms_root() -> Path:
    """``$DATAPIPE_BDMS_ROOT``, else ``$DATAPIPE_DATA_ROOT/bdms``."""
    from datapipe_ops.settings import data_root

    configured = os.environ.get("DATAPIPE_BDMS_ROOT")
    return Path(configured) if configured else data_root() / "bdms"


def backend_options(connection: Any | None) -> tuple[str, dict[str, Any]]:
    """The backend's name and options described by an Airflow connection (None: the default)."""
    if connection is None:
        return "filesystem", {"root": str(default_bdms_root())}
    extra = dict(connection.extra_dejson or {})
    name = extra.pop("backend", None) or ("rucio" if connection.conn_type == "rucio" else "")
    if name != "rucio":
        return "filesystem", {"root": str(extra.get("root") or default_bdms_root())}
    host = connection.host or ""
    if host and "://" not in host:
        port = f":{connection.port}" if connection.port else ""
        host = f"{connection.schema or 'https'}://{host}{port}"
    options = {"host": host, "account": connection.login, "password": connection.password}
    options |= {key: extra[key] for key in RUCIO_EXTRA if extra.get(key) not in (None, "")}
    return "rucio", options


class BDMSHook(BaseHook):
    """Access to the BDMS for tasks, sensors and triggers.

    Parameters
    ----------
    bdms_conn_id
        The Airflow connection describing the backend (see the module documentation).
    root
        Use the filesystem stand-in at this directory instead (tests, local runs).
    """

    conn_name_attr = "bdms_conn_id"
    default_conn_name = "bdms_default"
    conn_type = "datapipe_bdms"
    hook_name = "DataPipe BDMS"

    def __init__(self, bdms_conn_id: str = default_conn_name, root: str | None = None) -> None:
        super().__init__()
        self.bdms_conn_id = bdms_conn_id
        self.root = root
        self._backend: BDMSBackend | None = None

    def _build(self, connection: Any | None) -> BDMSBackend:
        if self.root:
            return open_backend("filesystem", root=str(self.root))
        name, options = backend_options(connection)
        self.log.info("BDMS %s from connection %s", name, self.bdms_conn_id)
        return open_backend(name, **options)

    def get_backend(self) -> BDMSBackend:
        """The backend of this hook (built once)."""
        if self._backend is None:
            self._backend = self._build(None if self.root else self._connection())
        return self._backend

    async def aget_backend(self) -> BDMSBackend:
        """:meth:`get_backend` for the triggerer's event loop."""
        if self._backend is None:
            connection = None
            if not self.root:
                from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError

                try:
                    connection = await self.aget_connection(self.bdms_conn_id)
                except (AirflowNotFoundException, AirflowRuntimeError):
                    connection = None
            self._backend = self._build(connection)
        return self._backend

    def _connection(self) -> Any | None:
        from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError

        try:
            return self.get_connection(self.bdms_conn_id)
        except (AirflowNotFoundException, AirflowRuntimeError):
            self.log.info("no connection %s: the default BDMS stand-in", self.bdms_conn_id)
            return None

    def status(self, dataset: str, verify_checksums: bool = True) -> DatasetStatus:
        """:meth:`~datapipe_ops.bdms.backend.BDMSBackend.status` of the hook's backend."""
        return self.get_backend().status(dataset, verify_checksums=verify_checksums)

    def files(self, dataset: str) -> list[DatasetFile]:
        """:meth:`~datapipe_ops.bdms.backend.BDMSBackend.files` of the hook's backend."""
        return self.get_backend().files(dataset)

    def deliver_products(self, campaign: str, paths: list[str]) -> dict[str, str]:
        """Deliver registered products of ``campaign`` into the BDMS and record their
        identifiers in the catalog (:func:`datapipe_ops.bdms.delivery.deliver_products`)."""
        from datapipe_airflow.campaigns import products_root
        from datapipe_ops import settings
        from datapipe_ops.bdms.delivery import deliver_products
        from datapipe_ops.catalog import Catalog

        with Catalog() as catalog:
            return deliver_products(
                self.get_backend(), catalog, campaign, paths, products_root(settings.data_root())
            )
