"""``datapipe benchmark dl0`` and ``dl1`` on the small simulated runs (tests/conftest.py)."""

from __future__ import annotations

import json

import pytest
from benchmark_checks import assert_plots_drawn, verdicts

from datapipe_ops.benchmarks.stage import SUMMARY_FILE, run_benchmark


@pytest.mark.requirement("DPPS-DP-R-080")
def test_dl0_benchmark(dl1_runs, tmp_path):
    inputs = [run["dl0"] for run in dl1_runs]
    done = run_benchmark("dl0", inputs, tmp_path / "dl0", register=False)
    numbers = done.result.numbers
    assert numbers["n_events"] > 10 and 1 <= numbers["mean_multiplicity"] <= 4
    assert any(k.startswith("noise_mean_") for k in numbers)
    assert_plots_drawn(done.output)
    keys = {f["key"] for f in json.loads((done.output / SUMMARY_FILE).read_text())["figures"]}
    assert {"pedestal", "noise", "peak_position", "trigger_rate", "multiplicity"} <= keys
    # one run against the other: the same bins, so every figure is compared
    run_benchmark("dl0", inputs[:1], tmp_path / "ab", reference=inputs[1:], register=False)
    assert "not comparable" not in verdicts(tmp_path / "ab").values()


@pytest.mark.requirement("DPPS-DP-R-080")
def test_dl1_benchmark_and_itself(dl1_runs, tmp_path):
    inputs = [run["dl1"] for run in dl1_runs]
    done = run_benchmark("dl1", inputs, tmp_path / "dl1", register=False)
    keys = {f.key for f in done.result.figures}
    assert {"hillas_intensity", "hillas_width", "charge_resolution", "cleaning_survival"} <= keys
    survival = done.result.figure("cleaning_survival")
    assert all(0 <= v <= 1 for c in survival.curves for v in c.y if v == v)
    assert_plots_drawn(done.output)
    run_benchmark("dl1", inputs, tmp_path / "ab", reference=[done.output], register=False)
    assert set(verdicts(tmp_path / "ab").values()) == {"no change"}
