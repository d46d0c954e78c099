"""A small catalog with what the DataPipe view shows: campaigns, a lineage chain, observation
products over three nights with quality metrics and flags, and a report with a plot beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from datapipe_ops.catalog import Catalog
from datapipe_ops.catalog.models import ProductRecord

FIRST_NIGHT = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)


def populate(catalog: Catalog, root: Path) -> dict[str, int]:
    """Register the test products (files written under ``root``); their ids by role."""
    root.mkdir(parents=True, exist_ok=True)
    catalog.ensure_campaign("sim-prod", "simulation", "a simulation production")
    catalog.ensure_campaign("nightly", "observation")
    ids = {}

    def register(name: str, level: str, inputs=(), **fields) -> int:
        path = root / name
        path.write_text(f"<p>{name}</p>" if name.endswith(".html") else name)
        record = ProductRecord(path=str(path), level=level, **fields)
        return catalog.register_product(record, inputs=[str(root / i) for i in inputs])

    ids["dl0"] = register("gamma_000.dl0.h5", "DL0", campaign="sim-prod", particle="gamma")
    ids["dl1"] = register("gamma_000.dl1.h5", "DL1", ["gamma_000.dl0.h5"], campaign="sim-prod")
    ids["dl2"] = register("gamma_000.dl2.h5", "DL2", ["gamma_000.dl1.h5"], campaign="sim-prod")
    flags = ["good", "warning", "bad"]
    for night in range(3):
        start = FIRST_NIGHT + timedelta(days=night)
        name = f"obs_{night}.dl1.h5"
        ids[f"obs{night}"] = register(
            name,
            "DL1",
            campaign="nightly",
            obs_id=100 + night,
            time_start=start,
            time_stop=start + timedelta(minutes=20),
            quality_flag=flags[night],
        )
        catalog.record_quality_metric(
            ids[f"obs{night}"], "pedestal_rms", 1.0 + night, "count", flag=flags[night]
        )
    (root / "report_plots").mkdir(exist_ok=True)
    (root / "report_plots" / "rate.png").write_bytes(b"\x89PNG fake")
    ids["report"] = register(
        "sim-prod.report.html", "BENCHMARK", ["gamma_000.dl2.h5"], campaign="sim-prod"
    )
    (root / "secret.txt").write_text("not part of any report")
    return ids


