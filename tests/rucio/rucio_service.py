"""A real Rucio server for the tests: its own virtualenv, a fresh PostgreSQL database, gunicorn
on a free port of 127.0.0.1, a POSIX RSE on a local directory.

The server package (PyPI ``rucio``, server and client in one) pins SQLAlchemy 2.0 and alembic
1.16, so it cannot live in the project's environment: :func:`rucio_python` installs it into
``.rucio-venv/`` from the hash-locked ``include/rucio/requirements.txt`` with the project's uv
(kept between runs; reinstalled when the lock file changes). :class:`RucioService` then

1. creates the database ``rucio_test_<pid>_<random>`` on the local PostgreSQL (psycopg 3);
2. writes ``rucio.cfg`` and ``alembic.ini`` from the templates in ``include/rucio/``;
3. builds the schema and bootstraps the base VO and the root account
   (``rucio.db.sqla.util.build_database``, ``create_base_vo``, ``create_root_account``);
4. starts gunicorn (``--no-control-socket``) on a free port and waits for ``/ping``;
5. creates the RSEs (POSIX, ``file://`` on local directories), the ``datapipe`` account with
   its scopes and quotas, as an operator would;

and :meth:`RucioService.stop` stops gunicorn by its pid and drops the database. The client side
keeps its tokens in this session's directory (connection extra ``token_dir``). If any of it
fails, the fixture fails: these tests never skip.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "include" / "rucio"
LOCK = TEMPLATES / "requirements.txt"
VENV = ROOT / ".rucio-venv"
UV = ROOT / ".tools" / "bin" / "uv"
POSTGRES = os.environ.get("DATAPIPE_TEST_RUCIO_POSTGRES", "postgresql://postgres@127.0.0.1:5432")

#: The account DataPipe uses, its password, and the RSEs of the tests.
ACCOUNT = "datapipe"
INPUT_RSE = "DATAPIPE_DISK"
OUTPUT_RSE = "DATAPIPE_PRODUCTS"
SCOPES = ("simpipe", "acada")


def rucio_python() -> Path:
    """The interpreter of the Rucio server's virtualenv, installed from the lock if needed."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".lock-sha256"
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    uv = str(UV) if UV.exists() else None
    steps = (
        [[uv, "venv", "-q", "--allow-existing", "--python", sys.executable, str(VENV)],
         [uv, "pip", "sync", "-q", "--require-hashes", "--python", str(python), str(LOCK)]]
        if uv
        else [[sys.executable, "-m", "venv", "--clear", str(VENV)],
              [str(python), "-m", "pip", "install", "-q", "--require-hashes", "-r", str(LOCK)]]
    )  # fmt: skip
    for argv in steps:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            pytest.fail(f"installing the Rucio server failed: {' '.join(argv)}\n{result.stderr}")
    stamp.write_text(digest)
    return python


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)


@dataclass
class RucioService:
    """One Rucio server of a test session (see the module documentation)."""

    directory: Path
    port: int = field(default_factory=free_port)
    database: str = field(
        default_factory=lambda: f"rucio_test_{os.getpid()}_{secrets.token_hex(3)}"
    )
    root_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The server's address."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def rse_root(self) -> Path:
        """Where the RSEs keep their files (``<rse_root>/<RSE>``)."""
        return self.directory / "rse"

    @property
    def token_dir(self) -> Path:
        """This session's client tokens."""
        return self.directory / "tokens"

    def connection(self, **extra: object) -> dict:
        """The Airflow connection (JSON form) of DataPipe's account on this server."""
        return {
            "conn_type": "rucio",
            "host": self.url,
            "login": ACCOUNT,
            "password": self.password,
            "extra": {"auth_type": "userpass", "rses": INPUT_RSE, "output_rse": OUTPUT_RSE,
                      "scope": SCOPES[0], "token_dir": str(self.token_dir), **extra},
        }  # fmt: skip

    # --- start -----------------------------------------------------------------------------

    def start(self) -> RucioService:
        """Database, configuration, schema, server, RSEs and account; fail naming the step."""
        python = rucio_python()
        self.directory.mkdir(parents=True, exist_ok=True)
        _admin(f'CREATE DATABASE "{self.database}"')
        env = self._configure(python)
        self._run(python, env, "build the schema and the root account", _BOOTSTRAP)
        log = open(self.directory / "gunicorn.log", "ab")  # noqa: SIM115 (kept by the process)
        self.process = subprocess.Popen(
            [
                str(python.with_name("gunicorn")),
                "--no-control-socket",
                "--bind", f"127.0.0.1:{self.port}",
                "--workers", "1",
                "--threads", "4",
                "--timeout", "120",
                "rucio.web.rest.flaskapi.v1.main:application",
            ],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        self._wait_until_up()
        self._operator_setup()
        return self

    def _configure(self, python: Path) -> dict[str, str]:
        site = subprocess.run(
            [str(python), "-c", "import rucio, os; print(os.path.dirname(rucio.__file__))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        url = f"{POSTGRES.replace('postgresql://', 'postgresql+psycopg://')}/{self.database}"
        values = {
            "logdir": str(self.directory / "log"),
            "database_url": url,
            "alembic_ini": str(self.directory / "alembic.ini"),
            "migrate_repo": f"{site}/db/sqla/migrate_repo",
            "username": "root",
            "password": self.root_password,
        }
        (self.directory / "log").mkdir(exist_ok=True)
        for name in ("rucio.cfg", "alembic.ini"):
            text = Template((TEMPLATES / f"{name}.template").read_text()).substitute(values)
            (self.directory / name).write_text(text)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.directory),
            "RUCIO_CONFIG": str(self.directory / "rucio.cfg"),
            "PYTHONUNBUFFERED": "1",
        }

    def _run(self, python: Path, env: dict[str, str], what: str, code: str) -> None:
        result = subprocess.run(
            [str(python), "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            pytest.fail(f"Rucio test server: {what} failed:\n{result.stderr[-3000:]}")

    def _wait_until_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        log = (self.directory / "gunicorn.log").read_text(errors="replace")[-3000:]
        self.stop()
        pytest.fail(f"the Rucio test server at {self.url} did not come up:\n{log}")

    def root_client(self):
        """A ``rucio.client.Client`` of the root account (what an operator uses)."""
        from datapipe_ops.bdms.rucio import client_class

        return client_class(str(self.token_dir))(
            rucio_host=self.url,
            auth_host=self.url,
            account="root",
            auth_type="userpass",
            creds={"username": "root", "password": self.root_password},
        )

    def _operator_setup(self) -> None:
        """What a Rucio operator does for DataPipe: RSEs, the account, scopes and quotas."""
        admin = self.root_client()
        for rse in (INPUT_RSE, OUTPUT_RSE):
            add_posix_rse(admin, rse, self.rse_root / rse)
        admin.add_account(ACCOUNT, "SERVICE", "datapipe@localhost")
        admin.add_identity(
            ACCOUNT, ACCOUNT, "userpass", "datapipe@localhost", password=self.password
        )
        # the generic policy lets only admin accounts register replicas on a non-user RSE
        admin.add_account_attribute(ACCOUNT, "admin", "True")
        for scope in SCOPES:
            admin.add_scope(ACCOUNT, scope)
        for rse in (INPUT_RSE, OUTPUT_RSE):
            admin.set_local_account_limit(ACCOUNT, rse, -1)
            admin.set_local_account_limit("root", rse, -1)

    def add_scope(self, scope: str) -> str:
        """A scope of DataPipe's account (campaign scopes are made by an administrator)."""
        from rucio.common.exception import Duplicate

        with contextlib.suppress(Duplicate):
            self.root_client().add_scope(ACCOUNT, scope)
        return scope

    def backend(self, **options):
        """A :class:`~datapipe_ops.bdms.rucio.RucioBDMS` of DataPipe's account."""
        from datapipe_ops.bdms.rucio import RucioBDMS

        settings = {
            "password": self.password,
            "scope": SCOPES[0],
            "rses": INPUT_RSE,
            "output_rse": OUTPUT_RSE,
            "token_dir": str(self.token_dir),
        }
        settings |= options
        return RucioBDMS(self.url, ACCOUNT, **settings)

    # --- stop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop gunicorn by its pid (the whole process group) and drop the database."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # gunicorn's quick shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
        self.process = None
        _admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


_BOOTSTRAP = """
from rucio.db.sqla.util import build_database, create_base_vo, create_root_account
build_database()
create_base_vo()
create_root_account()
"""


def add_posix_rse(client, rse: str, directory: Path) -> None:
    """A disk RSE whose files live under ``directory`` (``file://`` protocol, read in place)."""
    directory.mkdir(parents=True, exist_ok=True)
    client.add_rse(rse)
    client.add_protocol(
        rse,
        {
            "scheme": "file",
            "hostname": "localhost",
            "port": 0,
            "prefix": str(directory) + "/",
            "impl": "rucio.rse.protocols.posix.Default",
            "domains": {
                "lan": {"read": 1, "write": 1, "delete": 1},
                "wan": {"read": 1, "write": 1, "delete": 1, "third_party_copy_read": 1,
                        "third_party_copy_write": 1},
            },
        },
    )  # fmt: skip


def airflow_connection_env(service: RucioService, conn_id: str = "bdms_default", **extra) -> dict:
    """``AIRFLOW_CONN_<ID>``: the connection of DataPipe's account, as Airflow reads it."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(service.connection(**extra))}


@pytest.fixture(scope="session")
def rucio_server(tmp_path_factory) -> RucioService:
    """The session's Rucio server (started once, stopped by pid at the end)."""
    service = RucioService(tmp_path_factory.mktemp("rucio"))
    try:
        service.start()
    except BaseException:  # pytest.fail included: leave no server or database behind
        service.stop()
        raise
    yield service
    service.stop()
