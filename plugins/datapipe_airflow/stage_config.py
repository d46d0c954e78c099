"""The execution backend setting and the per-kind stage resources (``include/airflow/stages.yaml``).

The backend is deployment configuration, read at every DAG parse without touching Airflow's
metadata database: the environment variable ``DATAPIPE_EXECUTION_BACKEND`` or the Airflow
configuration option ``[datapipe] execution_backend`` (``airflow.cfg``, or
``AIRFLOW__DATAPIPE__EXECUTION_BACKEND``, which the Helm chart's Airflow values set). The choice
is loud: the two disagreeing, an unknown value, an unreadable Airflow configuration, or no
setting at all on an Airflow running inside a Kubernetes cluster (``KUBERNETES_SERVICE_HOST``)
stop the DAG parse with one line; only a machine that declares nothing runs stages ``local``.

The stage configuration is YAML validated by pydantic: an unknown key, a kind without resources or
a wrong type stops the DAG parse with one line naming the file and the key; a missing or
unreadable file (``DATAPIPE_STAGE_CONFIG``, mounted from the chart's ConfigMap) too.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Backend = Literal["local", "container", "kubernetes"]
BACKENDS: tuple[str, ...] = ("local", "container", "kubernetes")
BACKEND_ENV = "DATAPIPE_EXECUTION_BACKEND"
#: The Airflow configuration option (section, key): ``AIRFLOW__DATAPIPE__EXECUTION_BACKEND``.
BACKEND_OPTION = ("datapipe", "execution_backend")
#: Set by Kubernetes in every container of a cluster.
IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"
CONFIG_ENV = "DATAPIPE_STAGE_CONFIG"


class StageConfigError(ValueError):
    """The stage configuration or the backend setting is invalid (one line: file and problem)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Strict):
    """Kubernetes-style quantities (``cpu: 500m``, ``memory: 2Gi``)."""

    cpu: str
    memory: str


class StageKind(_Strict):
    """What one kind of stage needs: its pool and its container resources."""

    description: str = ""
    pool: str = "default_pool"
    requests: Resources
    limits: Resources


class Toleration(_Strict):
    """A Kubernetes toleration (``key``/``operator``/``value``/``effect``)."""

    key: str
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class SecretKey(_Strict):
    """One key of a Kubernetes Secret."""

    name: str = Field(min_length=1)
    key: str = Field(min_length=1)


class ConfigMount(_Strict):
    """A ConfigMap mounted read-only into the stage pods (and, at the same path, on the workers)."""

    name: str = Field(min_length=1)
    mount_path: str = Field(pattern=r"^/")


class KubernetesSettings(_Strict):
    """Pod settings of the ``kubernetes`` backend (the Helm chart renders them as stages.yaml)."""

    namespace: str = "datapipe"
    connection_id: str = "kubernetes_default"
    service_account: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    data_volume_claim: str
    scratch_size_limit: str = "2Gi"
    run_as_user: int = Field(default=10001, gt=0)
    run_as_group: int = Field(default=0, ge=0)
    fs_group: int = Field(default=0, ge=0)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    catalog_secret: str | None = None
    catalog_url: str | None = None
    catalog_password_secret: SecretKey | None = None
    config_maps: list[ConfigMount] = Field(default_factory=list)
    image_pull_secrets: list[str] = Field(default_factory=list)
    deferrable: bool = True
    startup_timeout_seconds: int = Field(default=600, gt=0)

    @field_validator("catalog_url")
    @classmethod
    def _no_password_in_the_url(cls, url: str | None) -> str | None:
        """The catalog URL is configuration, not a secret: its password comes from a Secret
        (``catalog_password_secret``, given to the stage as ``PGPASSWORD``)."""
        if url and re.match(r"^[^:/]+(\+[^:/]+)?://[^/@]*:[^/@]*@", url):
            raise ValueError("must not hold a password (use catalog_password_secret)")
        return url


class ContainerSettings(_Strict):
    """Settings of the ``container`` backend (a Docker-API engine on this machine)."""

    docker_url: str = ""
    data_dir: str = ""
    network_mode: str = ""


class StageSettings(_Strict):
    """The whole ``stages.yaml``."""

    image: str
    data_mount_path: str = "/data"
    kubernetes: KubernetesSettings
    container: ContainerSettings = Field(default_factory=ContainerSettings)
    kinds: dict[str, StageKind]

    def kind(self, name: str) -> StageKind:
        """The settings of stage kind ``name``; an unknown kind names the known ones."""
        try:
            return self.kinds[name]
        except KeyError:
            known = ", ".join(sorted(self.kinds))
            raise StageConfigError(
                f"{config_path()}: unknown stage kind '{name}' (known: {known})"
            ) from None


def repository_root() -> Path:
    """The repository checkout holding ``plugins/`` (and ``include/``, ``dags/``)."""
    return Path(__file__).resolve().parents[2]


def config_path() -> Path:
    """``$DATAPIPE_STAGE_CONFIG`` if set, else the repository's ``include/airflow/stages.yaml``."""
    configured = os.environ.get(CONFIG_ENV)
    if configured:
        return Path(configured)
    return repository_root() / "include" / "airflow" / "stages.yaml"


@functools.lru_cache(maxsize=8)
def _load(path: Path) -> StageSettings:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise StageConfigError(f"{path}: stage configuration file does not exist") from None
    except OSError as exc:
        problem = f"cannot read the stage configuration ({exc.strerror})"
        raise StageConfigError(f"{path}: {problem}") from None
    except yaml.YAMLError as exc:
        raise StageConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    try:
        return StageSettings.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<top level>"
        raise StageConfigError(f"{path}: key '{where}': {first['msg']}") from None


def load_stage_settings(path: str | Path | None = None) -> StageSettings:
    """Read and validate the stage configuration (cached per path)."""
    return _load(Path(path) if path is not None else config_path())


def _airflow_option() -> str | None:
    """``[datapipe] execution_backend`` of the Airflow configuration (no database access).

    Without Airflow installed there is none; an Airflow configuration that cannot be read is an
    error, not an absent setting.
    """
    try:
        from airflow.configuration import conf
    except ImportError:
        return None
    section, key = BACKEND_OPTION
    try:
        value = conf.get(section, key, fallback=None)
    except Exception as exc:
        raise StageConfigError(
            f"[{section}] {key}: the Airflow configuration cannot be read ({exc})"
        ) from None
    return None if value is None else str(value)


def execution_backend() -> str:
    """The configured execution backend (see the module docstring for where it comes from)."""
    section, key = BACKEND_OPTION
    option = f"[{section}] {key}"
    from_env = (os.environ.get(BACKEND_ENV) or "").strip().lower()
    from_config = (_airflow_option() or "").strip().lower()
    if from_env and from_config and from_env != from_config:
        raise StageConfigError(
            f"{BACKEND_ENV}={from_env} disagrees with the Airflow option {option} = {from_config}"
        )
    value = from_env or from_config
    if not value:
        if os.environ.get(IN_CLUSTER_ENV):
            raise StageConfigError(
                f"no execution backend configured on an Airflow running in a Kubernetes cluster: "
                f"set {BACKEND_ENV} or {option} (the chart's airflow-values.yaml sets kubernetes)"
            )
        return "local"
    if value not in BACKENDS:
        raise StageConfigError(
            f"{BACKEND_ENV}/{option}: unknown execution backend '{value}' "
            f"(choose one of: {', '.join(BACKENDS)})"
        )
    return value
