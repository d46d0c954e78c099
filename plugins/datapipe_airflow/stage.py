"""The one factory of stage tasks: :func:`stage_task`.

A DAG says *what* runs: a ``datapipe`` subcommand with its arguments, the kind of stage (for its
resources and pool) and the files it must produce. The execution backend (``local`` subprocess,
``container`` through a Docker-API engine, ``kubernetes`` pod) is a deployment setting read here
(:func:`datapipe_airflow.stage_config.execution_backend`); a DAG never names it.

Every stage task gets in its environment the identity of the Airflow run
(``AIRFLOW_CTX_DAG_ID``, ``AIRFLOW_CTX_DAG_RUN_ID``, ``AIRFLOW_CTX_TASK_ID``,
``AIRFLOW_CTX_TRY_NUMBER``, ``DATAPIPE_MAP_INDEX``) and of the campaign (``DATAPIPE_CAMPAIGN``):
the catalog records them with the products. Every task returns its output paths as its XCom
value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datapipe_airflow.operators.contract import RUN_IDENTITY_ENV
from datapipe_airflow.stage_config import (
    BACKENDS,
    StageConfigError,
    execution_backend,
    load_stage_settings,
)

DEFAULT_CAMPAIGN = "{{ params.campaign }}"


def operator_class(backend: str) -> type:
    """The operator class of ``backend`` (imports only that backend's provider)."""
    if backend == "local":
        from datapipe_airflow.operators.local import DataPipeLocalOperator

        return DataPipeLocalOperator
    if backend == "container":
        from datapipe_airflow.operators.container import DataPipeContainerOperator

        return DataPipeContainerOperator
    if backend == "kubernetes":
        from datapipe_airflow.operators.kubernetes import DataPipePodOperator

        return DataPipePodOperator
    raise StageConfigError(f"unknown execution backend '{backend}' (one of: {', '.join(BACKENDS)})")


def _doc(command: Any, kind: str, description: str) -> str:
    shown = (
        "datapipe " + " ".join(str(part) for part in command)
        if isinstance(command, list | tuple)
        else "datapipe <one command per mapped input>"
    )
    return f"**Stage** `{kind}` ({description})\n\n```\n{shown}\n```"


def stage_task(
    task_id: str,
    command: Sequence[str] | None = None,
    *,
    kind: str = "light",
    outputs: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    expand: Any = None,
    campaign: str = DEFAULT_CAMPAIGN,
    backend: str | None = None,
    **operator_kwargs: Any,
) -> Any:
    """Make the task that runs ``datapipe <command...>`` on the configured execution backend.

    Parameters
    ----------
    task_id
        The task id.
    command
        The ``datapipe`` subcommand and its arguments, templated (``{{ params.x }}``, ``{{ ds }}``).
    kind
        The stage kind of ``include/airflow/stages.yaml``: its pool and container resources.
    outputs
        Paths the stage writes (templated). The task fails if one is missing after a zero exit
        (local and container backends) and returns them as its XCom value.
    env
        Extra environment variables for the stage (templated).
    expand
        Instead of ``command``/``outputs``: an XComArg resolving to a list of
        ``{"command": [...], "outputs": [...]}`` dicts, one mapped task instance per element
        (dynamic task mapping).
    campaign
        The campaign name (templated; default the DAG run's ``campaign`` param), given to the stage
        as ``DATAPIPE_CAMPAIGN`` and as a pod label.
    backend
        Override the configured backend (tests, dry runs); DAGs leave it unset.
    **operator_kwargs
        Passed to the operator (``retries``, ``execution_timeout``, ``trigger_rule``, ...).

    Returns
    -------
    The operator (or the mapped operator when ``expand`` is given).
    """
    if (command is None) == (expand is None):
        raise ValueError(f"stage_task({task_id!r}): give exactly one of command= or expand=")
    settings = load_stage_settings()
    stage = settings.kind(kind)  # unknown kinds fail the DAG parse with the known ones
    chosen = backend or execution_backend()
    cls = operator_class(chosen)
    stage_env = {**RUN_IDENTITY_ENV, "DATAPIPE_CAMPAIGN": campaign, **dict(env or {})}
    kwargs: dict[str, Any] = {
        "task_id": task_id,
        "kind": kind,
        "env": stage_env,
        "pool": stage.pool,
        "doc_md": _doc(command, kind, stage.description),
        **operator_kwargs,
    }
    if chosen == "kubernetes":
        kwargs["campaign"] = campaign
    if expand is not None:
        return cls.partial(**kwargs).expand_kwargs(expand)
    return cls(command=list(command), outputs=list(outputs), **kwargs)
