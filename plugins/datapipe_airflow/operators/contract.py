"""What every backend operator shares: the stage task's fields, environment and outputs.

Whatever runs it, a stage task takes the same arguments (``command``, ``outputs``, ``env``,
``kind``), hands the stage the same identity of the Airflow run through its environment (the
catalog records it with every product), and returns the same XCom value: its output paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

#: Templated on every backend operator (Jinja: ``{{ params.campaign }}``, ``{{ ds }}``, ...).
STAGE_TEMPLATE_FIELDS: tuple[str, ...] = ("command", "outputs", "env")

#: The Airflow identity of the task, given to every stage whatever its backend: the catalog
#: records the DAG, run and task ids with each product (``datapipe_ops.catalog.models.
#: orchestration_context`` reads these names, which Airflow also exports to local processes).
RUN_IDENTITY_ENV: dict[str, str] = {
    "AIRFLOW_CTX_DAG_ID": "{{ dag.dag_id }}",
    "AIRFLOW_CTX_DAG_RUN_ID": "{{ run_id }}",
    "AIRFLOW_CTX_TASK_ID": "{{ ti.task_id }}",
    "AIRFLOW_CTX_TRY_NUMBER": "{{ ti.try_number }}",
    "DATAPIPE_MAP_INDEX": "{{ ti.map_index }}",
}


def check_outputs(outputs: Sequence[str] | str) -> list[str]:
    """The declared output paths, after checking that each exists (a stage that exited 0 but
    wrote nothing is a failure, not a silent success)."""
    paths = [outputs] if isinstance(outputs, str) else [str(p) for p in outputs]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        from airflow.sdk.exceptions import AirflowException

        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise AirflowException(f"{missing[0]}: the stage exited 0 but did not write it{more}")
    return paths
