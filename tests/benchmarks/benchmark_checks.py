"""Checks the benchmark tests share: the plots are drawings, the verdicts of a directory."""

from __future__ import annotations

import json
from pathlib import Path

from datapipe_ops.benchmarks.stage import SUMMARY_FILE


def assert_plots_drawn(directory: Path) -> None:
    """Every figure has its PNG, and it is a drawing (not blank, not one colour)."""
    import matplotlib.image

    summary = json.loads((directory / SUMMARY_FILE).read_text())
    assert summary["figures"]
    for meta in summary["figures"]:
        png = directory / meta["plot"]
        assert png.stat().st_size > 5_000, png
        pixels = matplotlib.image.imread(png)[..., :3]
        assert pixels.std() > 0.02, f"{png} is blank"
        assert (pixels < 0.5).mean() > 0.002, f"{png} has no drawing"


def verdicts(directory: Path) -> dict[str, str]:
    """{figure: verdict} of a benchmark directory."""
    summary = json.loads((directory / SUMMARY_FILE).read_text())
    return {key: v["verdict"] for key, v in summary["verdicts"].items()}
