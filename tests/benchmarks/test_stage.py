"""``datapipe benchmark``: every level writes numbers and plots; A/B with itself says "no
change", with a degraded input "worse"; the output policy; campaign inputs and registration."""

from __future__ import annotations

import functools
import json
import operator
import shutil

import numpy as np
import pytest
from benchmark_checks import assert_plots_drawn, verdicts

from datapipe_ops.benchmarks.config import BenchmarkConfig
from datapipe_ops.benchmarks.stage import CURVES_FILE, SUMMARY_FILE, run_benchmark
from datapipe_ops.cli.main import main
from datapipe_ops.errors import InputFileError, OutputError


@pytest.mark.requirement("DPPS-DP-R-081", "DPPS-DP-R-082")
@pytest.mark.parametrize("level", ["models", "dl2", "irf", "dl3"])
def test_benchmark_writes_numbers_and_plots(toy, tmp_path, level):
    inputs = toy["irf"] if level == "irf" else toy["dl3"] if level == "dl3" else toy["dl2"]
    done = run_benchmark(level, inputs, tmp_path / level, register=False)
    summary = json.loads((done.output / SUMMARY_FILE).read_text())
    assert summary["level"] == level and summary["inputs"] == [str(p) for p in inputs]
    assert summary["numbers"] and all(np.isfinite(v) for v in summary["numbers"].values())
    assert (done.output / CURVES_FILE).stat().st_size > 0
    assert_plots_drawn(done.output)
    expected = {
        "models": {"roc", "auc", "gammaness", "event_type_separation"},
        "dl2": {"angular_resolution", "energy_bias", "energy_resolution", "gammaness"},
        "irf": {"effective_area", "migration", "psf", "background", "sensitivity"},
        "dl3": {"counts_map", "theta2", "event_rate"},
    }[level]
    assert expected <= {f["key"] for f in summary["figures"]}


def test_the_toy_response_is_measured(toy, tmp_path):
    done = run_benchmark("dl2", toy["dl2"], tmp_path / "dl2", register=False)
    bias = done.result.figure("energy_bias").curve("all events")
    enough = np.nan_to_num(bias.n) > 50
    # the toy's reconstructed energy is 5 % high (tests/irf/toy_dl2.py: BIAS)
    assert np.median(bias.y[enough]) == pytest.approx(0.05, abs=0.02)
    auc = done.result.numbers
    models = run_benchmark("models", toy["dl2"], tmp_path / "models", register=False)
    assert 0.8 < models.result.numbers["auc_1TeV"] <= 1.0
    assert auc["n_events_gamma"] > 1000


@pytest.mark.requirement("DPPS-DP-R-081", "DPPS-DP-R-082")
@pytest.mark.parametrize("level", ["dl2", "irf", "dl3"])
def test_a_benchmark_against_itself_is_no_change(toy, tmp_path, level):
    inputs = toy["irf"] if level == "irf" else toy["dl3"] if level == "dl3" else toy["dl2"]
    first = run_benchmark(level, inputs, tmp_path / "a", register=False)
    # against the earlier output directory, and against the same inputs computed again
    for index, reference in enumerate(([first.output], inputs)):
        out = tmp_path / f"ab{index}"
        run_benchmark(level, inputs, out, reference=reference, register=False)
        assert set(verdicts(out).values()) == {"no change"}, verdicts(out)
        assert_plots_drawn(out)


@pytest.mark.requirement("DPPS-DP-R-081")
def test_a_worse_angular_resolution_is_worse(toy, tmp_path):
    run_benchmark("dl2", toy["dl2"], tmp_path / "good", register=False)
    run_benchmark(
        "dl2",
        toy["dl2_worse"],
        tmp_path / "worse",
        reference=[tmp_path / "good"],
        register=False,
    )
    found = verdicts(tmp_path / "worse")
    assert found["angular_resolution"] == "worse"
    assert found["energy_resolution"] == "no change"
    # the other way round it is better
    run_benchmark(
        "dl2", toy["dl2"], tmp_path / "back", reference=[tmp_path / "worse"], register=False
    )
    assert verdicts(tmp_path / "back")["angular_resolution"] == "better"


@pytest.mark.requirement("DPPS-DP-R-082")
def test_a_smaller_effective_area_is_worse(toy, tmp_path, capsys):
    code = main(
        [
            "benchmark",
            "irf",
            *functools.reduce(operator.iadd, (["-i", str(p)] for p in toy["irf_worse"]), []),
            "--reference",
            *[str(p) for p in toy["irf"][:1]],
            "--reference",
            str(toy["irf"][1]),
            "-o",
            str(tmp_path / "irf"),
            "--no-register",
            "--labels",
            "degraded,nominal",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "effective_area: worse" in out and "psf: no change" in out
    assert verdicts(tmp_path / "irf")["effective_area"] == "worse"


def test_tolerances_come_from_the_config(toy, tmp_path):
    run_benchmark("dl2", toy["dl2"], tmp_path / "good", register=False)
    lenient = BenchmarkConfig.model_validate(
        {"comparison": {"tolerances": {"angular_resolution": 5.0}}}
    )
    run_benchmark(
        "dl2",
        toy["dl2_worse"],
        tmp_path / "worse",
        lenient,
        reference=[tmp_path / "good"],
        register=False,
    )
    assert verdicts(tmp_path / "worse")["angular_resolution"] == "no change"


def test_output_policy(toy, tmp_path):
    out = run_benchmark("irf", toy["irf"], tmp_path / "irf", register=False).output
    with pytest.raises(OutputError, match="exists"):
        run_benchmark("irf", toy["irf"], out, register=False)
    before = sorted(p.name for p in out.iterdir())
    run_benchmark("irf", toy["irf"], out, register=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == before
    with pytest.raises(OutputError, match="input"):
        run_benchmark("irf", toy["irf"], toy["irf"][0].parent, register=False, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_input_is_one_line_and_leaves_nothing(toy, tmp_path, capsys):
    code = main(
        ["benchmark", "dl2", "-i", str(toy["irf"][0]), "-o", str(tmp_path / "x"), "--no-register"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("datapipe: error: ")
    assert not list(tmp_path.iterdir())
    with pytest.raises(InputFileError, match="not a readable FITS file"):
        run_benchmark("irf", toy["dl2"][:1], tmp_path / "y", register=False)
    with pytest.raises(InputFileError, match="is a dl2 benchmark, not irf"):
        dl2_dir = run_benchmark("dl2", toy["dl2"], tmp_path / "d", register=False).output
        run_benchmark("irf", toy["irf"], tmp_path / "i", reference=[dl2_dir], register=False)


def test_campaign_inputs_and_registration(toy, tmp_path):
    from datapipe_ops.catalog import CampaignKind, Catalog, ProductRecord

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    data = tmp_path / "products"
    shutil.copytree(toy["dl2"][0].parent, data)
    files = sorted(data.glob("*.dl2.h5"))
    with Catalog(url) as catalog:
        catalog.ensure_campaign("toy-sim", CampaignKind.SIMULATION)
        for path in files:
            catalog.register_product(ProductRecord.from_file(path, level="DL2", campaign="toy-sim"))
    code = main(
        ["benchmark", "dl2", "--campaign", "toy-sim", "-o", str(tmp_path / "b"), "--catalog", url]
    )
    assert code == 0
    with Catalog(url) as catalog:
        product = catalog.get_product(tmp_path / "b" / CURVES_FILE)
        assert product.level.value == "BENCHMARK" and product.kind == "benchmark-dl2"
        assert product.campaign == "toy-sim"
        ancestors = {p.path for p in catalog.lineage(product.path).products().values()}
    assert {str(p) for p in files} <= ancestors
    code = main(
        ["benchmark", "dl3", "--campaign", "toy-sim", "-o", str(tmp_path / "c"), "--catalog", url]
    )
    assert code == 2
