"""What every campaign DAG shares: its default task arguments and its common params.

A DAG takes :data:`DEFAULT_ARGS` and builds its params from the factories here, adding its own;
so retries, ownership and the meaning of ``campaign``, ``version``, ``dl1_config``,
``wait_timeout_hours`` and ``group_small_files_mb`` are the same in every campaign.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param

#: Default arguments of every task of a campaign DAG.
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "datapipe-operations",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


def campaign_param(default: str) -> Param:
    """The catalog campaign of the products (also their directory under ``products/``)."""
    return Param(
        default,
        type="string",
        pattern=_NAME,
        title="Campaign",
        description="Catalog campaign the products belong to; also the products directory.",
    )


def version_param() -> Param:
    """The processing version directory (empty: derived from software and config)."""
    return Param(
        "",
        type="string",
        pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]*)?$",
        title="Processing version",
        description=(
            "Output version directory. Empty: <software version>-<config digest>, so that a "
            "new config or software version writes a new location and never overwrites "
            "earlier products."
        ),
    )


def dl1_config_param() -> Param:
    """The DL0→DL1 stage configuration file."""
    return Param(
        "",
        type="string",
        title="DL0→DL1 config",
        description="YAML config of datapipe dl0-to-dl1 (empty: the stage's defaults).",
    )


def wait_timeout_param(hours: float, what: str) -> Param:
    """How long the DAG's deferrable sensors wait for ``what``."""
    return Param(
        hours,
        type="number",
        minimum=0,
        title="Wait timeout (hours)",
        description=f"How long to wait for {what}.",
    )


def group_small_files_param() -> Param:
    """Pack DL0 files smaller than this many MB into one ``dl0_to_dl1`` task (0: one per file)."""
    return Param(
        0,
        type="number",
        minimum=0,
        title="Group small files (MB)",
        description=(
            "DL0 files smaller than this (MB) are packed into dl0_to_dl1 tasks of up to this "
            "total size, each file still its own DL1 product with its own lineage; the task's "
            "fixed cost (start-up, catalog) is paid once per group. 0: one task per file."
        ),
    )


def common_params(campaign: str, wait_hours: float, wait_for: str) -> dict[str, Param]:
    """The params every campaign DAG has: campaign, version, dl1_config, wait_timeout_hours,
    group_small_files_mb."""
    return {
        "campaign": campaign_param(campaign),
        "version": version_param(),
        "dl1_config": dl1_config_param(),
        "wait_timeout_hours": wait_timeout_param(wait_hours, wait_for),
        "group_small_files_mb": group_small_files_param(),
    }
