"""The current catalog tables, built by replaying every migration's declarations.

Queries use these :class:`sqlalchemy.Table` objects; :mod:`datapipe_ops.catalog.migrations` is
where they are defined and changed.
"""

from __future__ import annotations

from datapipe_ops.catalog.migrations import MIGRATIONS, build_metadata, calibration_set_key

METADATA = build_metadata(MIGRATIONS)

campaigns = METADATA.tables["campaigns"]
products = METADATA.tables["products"]
lineage = METADATA.tables["lineage"]
datasets = METADATA.tables["datasets"]
dataset_members = METADATA.tables["dataset_members"]
calibration_sets = METADATA.tables["calibration_sets"]
quality_metrics = METADATA.tables["quality_metrics"]

#: the conflict target matching the unique index on calibration sets
CALIBRATION_SET_KEY = calibration_set_key(calibration_sets)

__all__ = [
    "CALIBRATION_SET_KEY",
    "METADATA",
    "calibration_sets",
    "campaigns",
    "dataset_members",
    "datasets",
    "lineage",
    "products",
    "quality_metrics",
]
