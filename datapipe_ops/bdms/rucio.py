"""The BDMS on Rucio: datasets are Rucio datasets (or containers of them), files are read from
their replicas on the configured RSEs.

A dataset is **complete** when Rucio says it is closed and **intact** when every file has an
``AVAILABLE`` replica on one of the configured RSEs (``rses``, an RSE expression) whose size,
adler32 and (when Rucio has one) md5 match Rucio's catalogue. A stage reads the replica in place
through the RSE's protocol: ``file://`` (POSIX) replicas are paths on the worker's filesystem;
another scheme is reported as such (:data:`READABLE_SCHEMES` is where a new protocol goes).

Names: a dataset is ``scope:name``, or ``name`` in the backend's default ``scope``. A file of a
dataset delivered by DataPipe is called ``<dataset name>/<file name>`` in the same scope, and
carries DataPipe's description as DID metadata (``datapipe_level``, ``datapipe_events``,
``datapipe_meta``), so a consumer gets the same file list from Rucio as from the stand-in's
manifest.

Failures: Rucio unreachable raises :class:`~datapipe_ops.bdms.backend.BDMSError` (retrying
helps); refused credentials or permissions raise
:class:`~datapipe_ops.bdms.backend.BDMSAccessError` (it does not). A closed dataset whose
replica is missing on the RSE or has a wrong checksum is a ``broken`` status: waiting will not
mend it. Each names the DID and the problem.

``rucio-clients`` is imported only when a :class:`RucioBDMS` is used: the stage library does
not need it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from datapipe_ops.bdms.backend import (
    BDMSAccessError,
    BDMSBackend,
    BDMSError,
    DatasetFile,
    DatasetStatus,
    DeliveryFile,
)
from datapipe_ops.checksum import rucio_checksums

#: Replica schemes DataPipe reads in place, and how a PFN becomes a local path.
READABLE_SCHEMES = {"file": lambda pfn: urlparse(pfn).path}

#: DID metadata keys (Rucio's JSON metadata plugin) holding DataPipe's file description.
META_LEVEL, META_EVENTS, META_EXTRA, META_KIND = (
    "datapipe_level",
    "datapipe_events",
    "datapipe_meta",
    "datapipe_kind",
)


class RucioBDMS(BDMSBackend):
    """DataPipe's datasets on a Rucio server.

    Parameters
    ----------
    host
        The Rucio server (``https://rucio.example.org``); ``auth_host`` defaults to it.
    account
        The Rucio account DataPipe acts as.
    auth_type, username, password, creds
        Rucio authentication: ``userpass`` with ``username`` (default: the account) and
        ``password``; any other type (``x509``, ``oidc``, ``gss``…) with ``creds`` as Rucio's
        client takes them.
    ca_cert, vo
        The server's CA bundle (https) and the virtual organisation (multi-VO servers).
    scope
        The scope of dataset names given without one.
    rses
        RSE expression the inputs must be available on (default: any RSE).
    output_rse
        Where :meth:`deliver` uploads products.
    product_scope
        The scope of a campaign's products, ``{campaign}`` replaced by the campaign's name
        (default: the campaign's own scope, which an administrator creates).
    token_dir
        Where the client keeps its authentication tokens (one file per account). Default: a
        directory per server under the system's temporary directory, so that tokens of two
        servers, or of two accounts, never mix (Rucio's own ``auth_token_file_path`` is one
        file for every account).
    """

    name = "rucio"

    def __init__(
        self,
        host: str,
        account: str,
        auth_type: str = "userpass",
        username: str | None = None,
        password: str | None = None,
        creds: dict[str, Any] | None = None,
        auth_host: str | None = None,
        ca_cert: str | None = None,
        vo: str | None = None,
        scope: str | None = None,
        rses: str | None = None,
        output_rse: str | None = None,
        product_scope: str = "{campaign}",
        token_dir: str | None = None,
        timeout: int = 60,
    ) -> None:
        if not host:
            raise BDMSAccessError("the Rucio connection has no host")
        self.host = host.rstrip("/")
        self.auth_host = (auth_host or host).rstrip("/")
        self.account = account
        self.auth_type = auth_type
        self.creds = dict(creds or {})
        if auth_type == "userpass":
            self.creds.setdefault("username", username or account)
            self.creds.setdefault("password", password)
        self.ca_cert = ca_cert
        self.vo = vo
        self.scope = scope
        self.rses = rses
        self.output_rse = output_rse
        self.product_scope = product_scope
        self.token_dir = token_dir or default_token_dir(self.auth_host)
        self.timeout = int(timeout)
        self._client: Any = None
        self._verified: dict[tuple[str, int, int], dict[str, str]] = {}
        self._rse_settings: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"RucioBDMS({self.host!r}, account={self.account!r}, rses={self.rses!r})"

    # --- names -----------------------------------------------------------------------------

    def split(self, dataset: str) -> tuple[str, str]:
        """``(scope, name)`` of a dataset given as ``scope:name`` or ``name``."""
        scope, sep, name = dataset.partition(":")
        if sep:
            return scope, name
        if not self.scope:
            raise BDMSAccessError(
                f"dataset '{dataset}' has no scope and the Rucio connection gives no default "
                "scope (extra 'scope')"
            )
        return self.scope, dataset

    def did(self, dataset: str) -> str:
        """``scope:name`` of a dataset."""
        return "{}:{}".format(*self.split(dataset))

    def locate(self, dataset: str) -> str:
        return f"{self.did(dataset)} on rucio {self.host}"

    def did_of(self, dataset: str, name: str) -> str:
        scope, base = self.split(dataset)
        return f"{scope}:{base.rstrip('/')}/{name}"

    def product_dataset(self, campaign: str) -> str:
        """``<product scope>:<campaign>``."""
        return f"{self.product_scope.format(campaign=campaign)}:{campaign}"

    # --- the client ------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The Rucio client (authenticated on first use; call it inside :meth:`calls`)."""
        if self._client is None:
            self._ensure_client_config()
            self._client = client_class(self.token_dir)(
                rucio_host=self.host,
                auth_host=self.auth_host,
                account=self.account,
                auth_type=self.auth_type,
                creds=self.creds,
                ca_cert=self.ca_cert,
                vo=self.vo,
                timeout=self.timeout,
                user_agent="datapipe",
            )
        return self._client

    def _ensure_client_config(self) -> None:
        """Rucio's protocol layer reads a ``rucio.cfg``: ``$RUCIO_CONFIG`` or one in Rucio's
        configuration directories if there is one, else a minimal one written from this
        connection (no secrets) into the token directory."""
        from rucio.common.config import clean_cached_config, get_config_dirs

        if "RUCIO_CONFIG" in os.environ or any(
            os.path.exists(os.path.join(d, "rucio.cfg")) for d in get_config_dirs()
        ):
            return
        path = Path(self.token_dir) / "rucio.cfg"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(
            f"[client]\nrucio_host = {self.host}\nauth_host = {self.auth_host}\n"
            f"auth_type = {self.auth_type}\naccount = {self.account}\n"
        )
        os.environ["RUCIO_CONFIG"] = str(path)
        clean_cached_config()

    @contextmanager
    def calls(self, what: str) -> Iterator[None]:
        """Turn the Rucio client's failures into one line naming ``what`` and the server."""
        from rucio.common import exception as rucio_errors

        try:
            yield
        except rucio_errors.CannotAuthenticate as exc:
            raise BDMSAccessError(
                f"{what}: rucio {self.auth_host} refused the credentials of account "
                f"'{self.account}' ({self.auth_type}): {_first_line(exc)}"
            ) from None
        except rucio_errors.AccessDenied as exc:
            raise BDMSAccessError(
                f"{what}: rucio {self.host} denies account '{self.account}': {_first_line(exc)}"
            ) from None
        except rucio_errors.ServerConnectionException:
            raise BDMSError(f"{what}: rucio {self.host} is unreachable") from None
        except rucio_errors.RucioException as exc:
            raise BDMSError(
                f"{what}: rucio {self.host}: {type(exc).__name__}: {_first_line(exc)}"
            ) from None

    # --- reading ---------------------------------------------------------------------------

    def status(self, dataset: str, verify_checksums: bool = True) -> DatasetStatus:
        from rucio.common.exception import DataIdentifierNotFound

        scope, name = self.split(dataset)
        did = f"{scope}:{name}"
        with self.calls(did):
            try:
                info = self.client.get_did(scope, name)
            except DataIdentifierNotFound:
                return DatasetStatus(dataset, self.locate(dataset), False, False)
            if info["type"].upper() == "CONTAINER":
                return self._container_status(dataset, scope, name, verify_checksums)
            return self._dataset_status(dataset, scope, name, info, verify_checksums)

    def files(self, dataset: str) -> list[DatasetFile]:
        return list(self.status(dataset, verify_checksums=False).files)

    def _container_status(
        self, dataset: str, scope: str, name: str, verify_checksums: bool
    ) -> DatasetStatus:
        members = sorted(
            (c["scope"], c["name"])
            for c in self.client.list_content(scope, name)
            if c["type"].upper() == "DATASET"
        )
        location = self.locate(dataset)
        if not members:
            return DatasetStatus(
                dataset, location, True, False, state="container without datasets yet"
            )
        files, problems, kinds = [], [], set()
        complete, broken = True, False
        for m_scope, m_name in members:
            label = _relative(m_name, name)
            info = self.client.get_did(m_scope, m_name)
            status = self._dataset_status(
                f"{m_scope}:{m_name}", m_scope, m_name, info, verify_checksums
            )
            files += [replace(f, name=f"{label}/{f.name}") for f in status.files]
            problems += [f"{label}: {p}" for p in status.problems]
            complete &= status.complete
            broken |= status.broken
            kinds.add(status.kind)
        return DatasetStatus(
            dataset=dataset,
            location=location,
            exists=True,
            complete=complete,
            files=tuple(files),
            problems=tuple(problems),
            kind=kinds.pop() if len(kinds) == 1 else None,
            state=f"{len(members)} dataset(s), {'all closed' if complete else 'not all closed'}",
            broken=broken,
        )

    def _dataset_status(
        self, dataset: str, scope: str, name: str, info: dict[str, Any], verify: bool
    ) -> DatasetStatus:
        client = self.client
        closed = not info.get("open", True)
        listed = list(client.list_files(scope, name))
        dids = [{"scope": f["scope"], "name": f["name"]} for f in listed]
        replicas = {
            (r["scope"], r["name"]): r
            for r in (
                client.list_replicas(
                    [{"scope": scope, "name": name}],
                    all_states=True,
                    rse_expression=self.rses,
                    ignore_availability=True,
                )
                if listed
                else []
            )
        }
        metadata = _metadata(client, [*dids, {"scope": scope, "name": name}])
        files, problems = [], []
        broken = False
        for entry in sorted(listed, key=lambda f: f["name"]):
            key = (entry["scope"], entry["name"])
            record, problem, fatal = self._file(
                name, entry, replicas.get(key), metadata.get(key, {}), verify and closed
            )
            files.append(record)
            if problem:
                problems.append(problem)
                broken |= fatal and closed
        return DatasetStatus(
            dataset=dataset,
            location=self.locate(dataset),
            exists=True,
            complete=closed,
            files=tuple(files),
            problems=tuple(problems),
            kind=metadata.get((scope, name), {}).get(META_KIND),
            state="dataset closed" if closed else "dataset open",
            broken=broken,
        )

    def _file(
        self,
        dataset_name: str,
        entry: dict[str, Any],
        replica: dict[str, Any] | None,
        meta: dict[str, Any],
        verify: bool,
    ) -> tuple[DatasetFile, str | None, bool]:
        """The file's record, its problem (or None) and whether waiting cannot mend it."""
        did = f"{entry['scope']}:{entry['name']}"
        checksums = {k: str(entry[k]).lower() for k in ("adler32", "md5") if entry.get(k)}
        if replica is not None:
            checksums |= {k: str(replica[k]).lower() for k in ("md5",) if replica.get(k)}
        extra = meta.get(META_EXTRA)
        record = DatasetFile(
            name=_relative(entry["name"], dataset_name),
            path="",
            size=int(entry.get("bytes") or 0),
            checksums=checksums,
            n_events=_int_or_none(meta.get(META_EVENTS, entry.get("events"))),
            level=meta.get(META_LEVEL),
            meta=json.loads(extra) if isinstance(extra, str) else dict(extra or {}),
            did=did,
        )
        where = f"RSE expression '{self.rses}'" if self.rses else "any RSE"
        states = (replica or {}).get("states") or {}
        available = [rse for rse, state in states.items() if str(state).upper() == "AVAILABLE"]
        if not available:
            seen = ", ".join(f"{rse} {state}" for rse, state in sorted(states.items()))
            return (
                record,
                f"{did}: no AVAILABLE replica on {where}" + (f" ({seen})" if seen else ""),
                False,
            )
        pfns = [
            (pfn, info) for pfn, info in (replica.get("pfns") or {}).items()
            if info.get("rse") in available
        ]  # fmt: skip
        readable = [(p, i) for p, i in pfns if urlparse(p).scheme in READABLE_SCHEMES]
        if not readable:
            schemes = sorted({urlparse(p).scheme for p, _ in pfns}) or ["none"]
            return (
                record,
                (
                    f"{did}: replica on {', '.join(available)} only reachable through "
                    f"{'/'.join(schemes)}; DataPipe reads {', '.join(READABLE_SCHEMES)} replicas"
                ),
                True,
            )
        pfn, info = readable[0]
        path = READABLE_SCHEMES[urlparse(pfn).scheme](pfn)
        record = replace(record, path=path)
        problem = self._check_replica(record, info.get("rse"), verify)
        return record, problem, problem is not None

    def _check_replica(self, record: DatasetFile, rse: str, verify: bool) -> str | None:
        try:
            stat = os.stat(record.path)
        except FileNotFoundError:
            return f"{record.did}: AVAILABLE on {rse} but missing at {record.path}"
        if stat.st_size != record.size:
            return (
                f"{record.did}: replica on {rse} has {stat.st_size} B, Rucio says {record.size} B"
            )
        if not verify:
            return None
        key = (record.path, stat.st_size, stat.st_mtime_ns)
        actual = self._verified.get(key) or rucio_checksums(record.path)
        for algorithm, expected in record.checksums.items():
            if actual.get(algorithm) != expected:
                return (
                    f"{record.did}: {algorithm} mismatch on {rse} "
                    f"(rucio {expected[:12]}, replica {actual[algorithm][:12]})"
                )
        self._verified[key] = actual
        return None

    # --- writing ---------------------------------------------------------------------------

    def deliver(
        self,
        dataset: str,
        files: Sequence[DeliveryFile],
        close: bool = False,
        kind: str = "",
        rse: str | None = None,
    ) -> dict[str, str]:
        """Upload ``files`` to ``rse`` (default: the output RSE) and attach them to ``dataset``;
        ``kind`` (``simulation``, ``observation``, ``processed``) is recorded on the dataset."""
        from rucio.common.exception import DataIdentifierAlreadyExists, DataIdentifierNotFound

        rse = rse or self.output_rse
        if not rse:
            raise BDMSAccessError("the Rucio connection names no output RSE (extra 'output_rse')")
        scope, name = self.split(dataset)
        did = f"{scope}:{name}"
        with self.calls(did):
            client = self.client
            if scope not in client.list_scopes():
                raise BDMSAccessError(
                    f"{did}: scope '{scope}' does not exist on rucio {self.host}; an "
                    f"administrator creates it for account '{self.account}' "
                    f"(rucio-admin scope add --account {self.account} --scope {scope})"
                )
            with suppress(DataIdentifierAlreadyExists):  # a rule keeps its files on the RSE
                rule = {"account": self.account, "copies": 1, "rse_expression": rse}
                client.add_dataset(scope, name, rules=[rule])
            if kind:
                client.set_metadata_bulk(scope, name, {META_KIND: kind})
            attached = {f["name"]: f for f in client.list_files(scope, name)}
        dids = {}
        for item in files:
            file_name = f"{name.rstrip('/')}/{item.name}"
            file_did = f"{scope}:{file_name}"
            local = rucio_checksums(item.path)
            with self.calls(file_did):
                known = attached.get(file_name)
                if known is None:
                    try:
                        known = client.get_did(scope, file_name, dynamic=True)
                    except DataIdentifierNotFound:
                        known = None
                if known is None:
                    self._upload(item, local, rse, scope, file_name, name)
                elif str(known.get("adler32")).lower() != local["adler32"]:
                    raise BDMSAccessError(
                        f"{file_did} already exists with adler32 {known.get('adler32')}, "
                        f"{item.path} has {local['adler32']}; products are never overwritten"
                    )
                elif file_name not in attached:
                    client.attach_dids(scope, name, [{"scope": scope, "name": file_name}])
                client.set_metadata_bulk(scope, file_name, _file_metadata(item))
            dids[item.path] = file_did
        if close:
            with self.calls(did):
                if client.get_did(scope, name).get("open", True):
                    client.close(scope, name)
        return dids

    def _upload(
        self,
        item: DeliveryFile,
        checksums: dict[str, str],
        rse: str,
        scope: str,
        file_name: str,
        dataset_name: str,
    ) -> None:
        """Write the file onto the RSE through its protocol, register the replica (checksums
        verified by the protocol after the copy) and attach it to the dataset."""
        from rucio.rse import rsemanager

        source = Path(item.path)
        size = source.stat().st_size
        did = {"scope": scope, "name": file_name}
        if rse not in self._rse_settings:
            self._rse_settings[rse] = self.client.get_rse(rse)
        rsemanager.upload(
            self._rse_settings[rse],
            [{**did, "filename": source.name, "filesize": size, **checksums}],
            source_dir=str(source.parent),
            vo=self.client.vo,
            logger=_quiet_log,
        )
        self.client.add_replicas(rse, [{**did, "bytes": size, **checksums}])
        self.client.attach_dids(scope, dataset_name, [did])

    def deliver_manifest_dataset(
        self,
        directory: str | Path,
        dataset: str,
        rse: str | None = None,
        container: str | None = None,
    ) -> dict[str, str]:
        """Upload a stand-in dataset (a directory with its ``MANIFEST.json``, as SimPipe's and
        ACADA's stand-ins write it) into ``dataset`` on ``rse`` (default: the input RSE
        expression, which must then name one RSE), closed when the manifest is complete;
        ``container`` (a night): attach the dataset to it, created if needed."""
        from datapipe_ops.bdms.manifest import read_manifest

        directory = Path(directory)
        manifest = read_manifest(directory)
        files = [
            DeliveryFile(
                path=str(directory / e.name),
                name=e.name,
                level=e.level,
                n_events=e.n_events,
                meta=dict(e.meta),
            )
            for e in manifest.files
        ]
        dids = self.deliver(
            dataset, files, close=manifest.complete, kind=manifest.kind, rse=rse or self.rses
        )
        if container:
            self.attach(container, dataset)
        return dids

    def attach(self, container: str, dataset: str) -> None:
        """Attach ``dataset`` to ``container`` (created if needed), once."""
        from rucio.common.exception import DataIdentifierAlreadyExists

        c_scope, c_name = self.split(container)
        d_scope, d_name = self.split(dataset)
        with self.calls(f"{c_scope}:{c_name}"):
            with suppress(DataIdentifierAlreadyExists):
                self.client.add_container(c_scope, c_name)
            members = {(m["scope"], m["name"]) for m in self.client.list_content(c_scope, c_name)}
            if (d_scope, d_name) not in members:
                self.client.attach_dids(c_scope, c_name, [{"scope": d_scope, "name": d_name}])


def default_token_dir(auth_host: str) -> str:
    """``<tmp>/datapipe-rucio-<user>/<digest of the server>``."""
    import getpass
    import hashlib
    import tempfile

    digest = hashlib.sha256(auth_host.encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"datapipe-rucio-{getpass.getuser()}", digest)


def client_class(token_dir: str) -> type:
    """Rucio's ``Client`` keeping its tokens in ``token_dir``, one file per account."""
    from rucio.client import Client

    class TokenDirClient(Client):
        def _get_auth_tokens(self) -> tuple[None, str, str, str]:
            suffix = f"for_account_{self.account}"
            return (
                None,
                os.path.join(token_dir, f"{self.TOKEN_EXP_PREFIX}{suffix}"),
                os.path.join(token_dir, f"{self.TOKEN_PREFIX}{suffix}"),
                token_dir,
            )

    return TokenDirClient


def _metadata(client: Any, dids: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """DataPipe's DID metadata (JSON plugin) by (scope, name)."""
    if not dids:
        return {}
    return {(m["scope"], m["name"]): m for m in client.get_metadata_bulk(dids, plugin="JSON")}


def _file_metadata(item: DeliveryFile) -> dict[str, Any]:
    meta: dict[str, Any] = {META_LEVEL: item.level, META_EXTRA: json.dumps(item.meta)}
    if item.n_events is not None:
        meta[META_EVENTS] = int(item.n_events)
    return meta


def _relative(name: str, parent: str) -> str:
    prefix = parent.rstrip("/") + "/"
    return name[len(prefix) :] if name.startswith(prefix) else name


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _quiet_log(level: int, message: str, *args: Any, **kwargs: Any) -> None:
    """The RSE protocol's progress lines, at debug level."""
    import logging

    logging.getLogger("datapipe_ops.bdms.rucio").debug(message, *args)
