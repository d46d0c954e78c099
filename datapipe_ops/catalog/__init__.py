"""The data-product catalog: registry, lineage, datasets, calibration sets and quality metrics.

``from datapipe_ops.catalog import Catalog, ProductRecord, ProductQuery`` is all a stage needs::

    catalog = Catalog()  # DATAPIPE_CATALOG_URL, or var/catalog.sqlite
    record = ProductRecord.from_file(out, level="DL1", campaign="prod6", particle="gamma")
    catalog.register_product(record, inputs=[dl0_path])

See ``docs/catalog.md`` for the command line and the schema.
"""

from datapipe_ops.catalog.catalog import Catalog, ProductRef
from datapipe_ops.catalog.lineage import LineageNode
from datapipe_ops.catalog.migrations import head_revision, migrate, schema_version
from datapipe_ops.catalog.models import (
    CalibrationSet,
    Campaign,
    CampaignKind,
    Dataset,
    DatasetMember,
    Level,
    Product,
    ProductQuery,
    ProductRecord,
    QualityFlag,
    QualityMetric,
    orchestration_context,
)

__all__ = [
    "CalibrationSet",
    "Campaign",
    "CampaignKind",
    "Catalog",
    "Dataset",
    "DatasetMember",
    "Level",
    "LineageNode",
    "Product",
    "ProductQuery",
    "ProductRecord",
    "ProductRef",
    "QualityFlag",
    "QualityMetric",
    "head_revision",
    "migrate",
    "orchestration_context",
    "schema_version",
]
