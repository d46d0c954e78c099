"""The ``container`` backend: the stage image through a Docker-API engine on this machine.

On these machines the engine is Debian's podman serving the Docker API
(``include/container/engine.sh start``); any Docker-compatible engine works. The worker's data
root is bind-mounted at the *same path* inside the container, so the paths a DAG computes, the
paths a stage writes in provenance and the paths the catalog records are the same inside and
outside.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.providers.docker.exceptions import DockerContainerFailedException
from airflow.providers.docker.operators.docker import DockerOperator
from docker.types import Mount, Ulimit

from datapipe_airflow.operators.contract import STAGE_TEMPLATE_FIELDS, check_outputs
from datapipe_airflow.stage_config import StageSettings, load_stage_settings, repository_root
from datapipe_airflow.stage_failure import raise_for_exit


def default_docker_url() -> str:
    """``$DOCKER_HOST``, else the socket that ``include/container/engine.sh start`` serves."""
    return os.environ.get("DOCKER_HOST") or f"unix://{repository_root() / 'var/podman/podman.sock'}"


def host_data_dir(settings: StageSettings) -> Path:
    """The host directory mounted as the container's data root."""
    from datapipe_ops.settings import data_root

    return Path(settings.container.data_dir) if settings.container.data_dir else data_root()


class DataPipeContainerOperator(DockerOperator):
    """Run ``datapipe <command...>`` in the stage image with the worker's data root mounted.

    Same arguments as :class:`~datapipe_airflow.operators.local.DataPipeLocalOperator`. The
    container runs as a non-root user (the worker's uid when the worker is not root, else the
    image's user 10001 with group 0, which then needs group write access to the data
    directory), with no network unless the catalog is a server, explicit ``nofile``/``nproc``
    ulimits, and is removed after success (kept for inspection after a failure).
    """

    template_fields: Sequence[str] = tuple(
        dict.fromkeys((*DockerOperator.template_fields, *STAGE_TEMPLATE_FIELDS))
    )
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        command: Sequence[str],
        settings: StageSettings | None = None,
        outputs: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        kind: str = "light",
        **kwargs: Any,
    ) -> None:
        settings = settings or load_stage_settings()
        self.host_root = str(host_data_dir(settings))
        super().__init__(
            image=settings.image,
            command=None,
            docker_url=settings.container.docker_url or default_docker_url(),
            mounts=[Mount(target=self.host_root, source=self.host_root, type="bind")],
            network_mode=settings.container.network_mode or None,
            mount_tmp_dir=False,
            auto_remove="success",
            ulimits=[
                Ulimit(name="nofile", soft=4096, hard=4096),
                Ulimit(name="nproc", soft=1024, hard=1024),
            ],
            labels={"org.ctao.datapipe.stage": kind},
            **kwargs,
        )
        # Our fields, templated by Airflow; ``env`` becomes DockerOperator's ``environment``.
        self.command = list(command) if not isinstance(command, str) else command
        self.outputs = list(outputs) if not isinstance(outputs, str) else outputs
        self.env = dict(env or {})
        self.kind = kind

    def execute(self, context: Any) -> list[str]:
        """Run the container; fail with the stage's ``datapipe: error:`` line."""
        self.command = [str(part) for part in self.command]
        self.environment = {k: str(v) for k, v in self.env.items()}
        self.environment["DATAPIPE_DATA_ROOT"] = self.host_root
        catalog = os.environ.get("DATAPIPE_CATALOG_URL")
        if catalog:
            self.environment["DATAPIPE_CATALOG_URL"] = catalog
        if self.network_mode is None:
            # The container needs the network only to reach a catalog server.
            self.network_mode = "host" if catalog and not catalog.startswith("sqlite") else "none"
        if os.getuid() != 0:
            # Files written to the bind-mounted data root belong to the worker's user.
            self.user = f"{os.getuid()}:{os.getgid()}"
        try:
            super().execute(context)
        except DockerContainerFailedException as exc:
            lines = [str(line) for line in (exc.logs or [])]
            raise_for_exit(self.command, _exit_code(str(exc)), lines)
            raise
        return check_outputs(self.outputs)


def _exit_code(message: str) -> int:
    """The ``StatusCode`` of DockerOperator's failure message (``{'StatusCode': 2, ...}``)."""
    found = re.search(r"'StatusCode':\s*(-?\d+)", message)
    return int(found.group(1)) if found else 1
