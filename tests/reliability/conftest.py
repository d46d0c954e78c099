"""Fault tests: a PostgreSQL server of their own, which they may stop and restart.

The catalog and Airflow tests of everyone else share the PostgreSQL server on 127.0.0.1:5432; a
test that restarts a server must not pull it from under them. :class:`PostgresServer` is a real
PostgreSQL server of the same installation (``initdb`` + ``pg_ctl``) in a temporary directory on
a free port, started for this module and removed after it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

TESTS = Path(__file__).resolve().parents[1]
# the Airflow test helpers (tests/plugins: the BDMS stand-in data; tests/dags: the REST API)
for folder in ("plugins", "dags"):
    if str(TESTS / folder) not in sys.path:
        sys.path.insert(0, str(TESTS / folder))


def postgres_bindir() -> Path:
    """The directory of ``initdb`` and ``pg_ctl`` (``pg_config --bindir``, else on PATH)."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(bindir) / "initdb").exists():
            return Path(bindir)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    pytest.fail("no PostgreSQL server programs (initdb, pg_ctl) on this machine", pytrace=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """A PostgreSQL server in ``directory`` on ``port``: start, stop, restart, accepting()."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = port
        self.bindir = postgres_bindir()
        # PostgreSQL refuses to run as root: then the server runs as the postgres user
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.restarts: list[float] = []

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [*self.as_user, *argv], capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}{result.stderr}"

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.directory, "postgres")
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
            str(self.directory / "server.log"), "-w", "-t", "60", "-o", options, action, *extra,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> float:
        """Restart (fast shutdown: open transactions aborted, connections cut); return the
        seconds until it accepted connections again."""
        begin = time.monotonic()
        self._ctl("restart", "-m", "fast")
        self.wait_accepting()
        self.restarts.append(time.monotonic() - begin)
        return self.restarts[-1]

    def wait_accepting(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        engine = sa.create_engine(self.url())
        try:
            while True:
                try:
                    with engine.connect() as connection:
                        connection.execute(sa.text("SELECT 1"))
                    return
                except sa.exc.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        finally:
            engine.dispose()

    def create_database(self, name: str) -> str:
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)


@pytest.fixture(scope="module")
def postgres_of_our_own():
    """A started :class:`PostgresServer` for this module; stopped and deleted afterwards.

    Its directory is directly under the temporary directory: the server's user must reach it.
    """
    directory = Path(tempfile.mkdtemp(prefix="datapipe-pg-"))
    server = PostgresServer(directory, free_port())
    server.init()
    server.start()
    server.wait_accepting()
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)
