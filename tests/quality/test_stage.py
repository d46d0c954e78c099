"""``datapipe quality``: flags follow the thresholds, the report and the catalog record, and the
stage contract (one line for bad input, nothing left behind, overwrite policy)."""

import json
import shutil

import pytest
import yaml

from datapipe_ops.catalog import Catalog, QualityFlag
from datapipe_ops.cli.main import main
from datapipe_ops.quality.config import QualityConfig, Threshold
from datapipe_ops.quality.stage import default_output, quality
from testkit.quality import write_dl3

pytestmark = pytest.mark.slow


@pytest.fixture
def dl1(dl1_runs, tmp_path):
    path = tmp_path / "block.dl1.h5"
    shutil.copyfile(dl1_runs[0]["dl1"], path)
    return path


def valid_fraction(dl1) -> float:
    summary = quality("DL1", dl1, output=dl1.with_suffix(".probe.json"), register=False)
    content = json.loads(summary.output.read_text())
    summary.output.unlink()
    (value,) = [m["value"] for m in content["metrics"] if m["name"] == "valid_image_fraction"]
    return value


def test_default_report_name_sits_beside_the_product(tmp_path):
    assert default_output(tmp_path / "x.dl1.h5") == tmp_path / "x.dl1.quality.json"
    assert default_output(tmp_path / "obs.fits.gz") == tmp_path / "obs.quality.json"


@pytest.mark.requirement("DPPS-DP-R-101")
@pytest.mark.parametrize(
    "warn, bad, flag",
    [(-0.2, -0.3, "good"), (+0.05, -0.05, "warning"), (+0.2, +0.1, "bad")],
)
def test_the_flag_follows_the_thresholds(dl1, warn, bad, flag):
    value = valid_fraction(dl1)
    limits = Threshold(warn=value + warn, bad=value + bad, direction="below")
    config = QualityConfig(thresholds={"valid_image_fraction": limits})
    summary = quality("DL1", dl1, config, register=False)
    content = json.loads(summary.output.read_text())
    assert summary.flag.value == content["flag"] == flag
    assert content["thresholds"]["valid_image_fraction"]["warn"] == pytest.approx(value + warn)
    mentioned = any(r.startswith("valid_image_fraction = ") for r in content["reasons"])
    assert mentioned == (flag != "good")


@pytest.mark.requirement("DPPS-DP-R-101")
def test_metrics_and_flag_are_recorded_in_the_catalog(dl1, catalog_url, tmp_path):
    value = valid_fraction(dl1)
    config = tmp_path / "q.yaml"
    limits = {"warn": value + 0.2, "bad": value + 0.1, "direction": "below"}
    config.write_text(yaml.safe_dump({"thresholds": {"valid_image_fraction": limits}}))
    assert (
        main(["quality", "dl1", "-i", str(dl1), "--catalog", catalog_url, "-c", str(config)]) == 0
    )
    report = default_output(dl1)
    content = json.loads(report.read_text())
    with Catalog(catalog_url) as catalog:
        product = catalog.get_product(dl1)
        assert product.quality_flag is QualityFlag.BAD
        assert product.obs_id == 1001 and product.time_start is not None
        recorded = {m.name: m for m in catalog.quality_metrics(product)}
        assert len(recorded) == len(content["metrics"])
        assert recorded["valid_image_fraction"].value == pytest.approx(value)
        assert recorded["valid_image_fraction"].flag is QualityFlag.BAD
        assert recorded["trigger_rate.tel_001"].unit == "Hz"
        ((trend_product, trend_metric),) = catalog.metric_trend("valid_image_fraction")
        assert trend_product.id == product.id and trend_metric.value == pytest.approx(value)
        report_product = catalog.get_product(report)
        assert report_product.level.value == "QUALITY"
        assert product.id in catalog.lineage(report_product).products()
    # a rerun with the default thresholds replaces the values and the flag
    assert main(["quality", "dl1", "-i", str(dl1), "--catalog", catalog_url, "--overwrite"]) == 0
    with Catalog(catalog_url) as catalog:
        product = catalog.get_product(dl1)
        assert product.quality_flag is QualityFlag.GOOD
        recorded = {m.name: m for m in catalog.quality_metrics(product)}
        assert recorded["valid_image_fraction"].flag is QualityFlag.GOOD
        assert len(recorded) == len(content["metrics"])


def run_cli(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err.strip().splitlines()


def test_bad_input_is_one_line_and_leaves_nothing(dl1, tmp_path, capsys):
    missing = tmp_path / "missing.dl1.h5"
    truncated = tmp_path / "cut.dl1.h5"
    truncated.write_bytes(dl1.read_bytes()[:4000])
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("thresholds: {dead_pixel_fraction: {warn: 0.5, bad: 0.1}}\n")
    cases = [
        (["quality", "dl1", "-i", str(missing)], missing, "does not exist"),
        (["quality", "dl0", "-i", str(dl1)], dl1, "DL1"),
        (["quality", "dl1", "-i", str(truncated)], truncated, ""),
        (["quality", "dl1", "-i", str(dl1), "-c", str(bad_config)], bad_config, "warn"),
        (["quality", "dl3", "-i", str(dl1)], dl1, "FITS"),
    ]
    for args, culprit, problem in cases:
        code, lines = run_cli([*args, "--no-register"], capsys)
        assert code == 2, args
        assert len(lines) == 1 and lines[0].startswith(f"datapipe: error: {culprit}: "), lines
        assert problem in lines[0]
    assert sorted(p.name for p in tmp_path.glob("*.json")) == []
    assert not list(tmp_path.glob(".*partial"))


def test_unreachable_catalog_is_one_line_and_leaves_nothing(dl1, capsys):
    url = "postgresql+psycopg2://postgres@127.0.0.1:1/none"
    code, lines = run_cli(["quality", "dl1", "-i", str(dl1), "--catalog", url], capsys)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("datapipe: error: ")
    assert not default_output(dl1).exists()


def test_an_existing_report_is_kept_without_overwrite(dl1, tmp_path, capsys):
    report = tmp_path / "mine.json"
    report.write_text("{}")
    args = ["quality", "dl1", "-i", str(dl1), "-o", str(report), "--no-register"]
    code, lines = run_cli(args, capsys)
    assert code == 2 and "give --overwrite" in lines[0] and report.read_text() == "{}"
    code, lines = run_cli(["quality", "dl1", "-i", str(dl1), "-o", str(dl1), "--no-register"],
                          capsys)  # fmt: skip
    assert code == 2 and "is also an input" in lines[0]
    assert main([*args, "--overwrite"]) == 0
    assert json.loads(report.read_text())["level"] == "DL1"


@pytest.mark.requirement("DPPS-DP-R-101")
def test_a_dl3_report_and_its_catalog_record(tmp_path, catalog_url):
    path = write_dl3(tmp_path / "obs.fits", 77, start_s=8.0e8, source_hz=(1.0, 0.0))
    args = ["quality", "dl3", "-i", str(path), "--catalog", catalog_url]
    assert main(args) == 0
    content = json.loads((tmp_path / "obs.quality.json").read_text())
    assert content["flag"] == "bad" and content["obs_id"] == 77
    with Catalog(catalog_url) as catalog:
        product = catalog.get_product(path)
        assert product.level.value == "DL3" and product.quality_flag is QualityFlag.BAD
