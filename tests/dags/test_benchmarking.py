"""The ``benchmarking`` DAG under ``dag.test()`` on a small campaign (toy DL2 runs, their IRF
and sensitivity registered in the catalog), and its planning functions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow_env import ROOT

from datapipe_ops.catalog import CampaignKind, Catalog, ProductQuery, ProductRecord

sys.path.insert(0, str(ROOT / "tests" / "irf"))

import toy_dl2

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def small_campaign(tmp_path_factory):
    """A data root whose catalog holds campaign ``bench-small``: DL2 runs, IRF, sensitivity."""
    from datapipe_ops.irf.stage import sensitivity

    data = tmp_path_factory.mktemp("bench_data")
    url = f"sqlite:///{data / 'catalog.sqlite'}"
    built = toy_dl2.build_irf_products(data / "products" / "bench-small" / "v1", (20.0,), 0.05)
    files = built["files"][20.0]
    irf = built["irfs"][20.0]
    sens = irf.with_name("sensitivity.fits")
    sensitivity(files, built["cuts"], sens, built["config"], register=False)
    with Catalog(url) as catalog:
        catalog.ensure_campaign("bench-small", CampaignKind.SIMULATION)
        for particle, paths in files.items():
            for path in paths:
                catalog.register_product(
                    ProductRecord.from_file(
                        path, level="DL2", campaign="bench-small", particle=particle
                    )
                )
        catalog.register_product(
            ProductRecord.from_file(irf, level="IRF", kind="irf", campaign="bench-small")
        )
        catalog.register_product(
            ProductRecord.from_file(
                sens, level="BENCHMARK", kind="sensitivity", campaign="bench-small"
            )
        )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAPIPE_DATA_ROOT", str(data))
        mp.setenv("DATAPIPE_CATALOG_URL", url)
        mp.setenv("DATAPIPE_EXECUTION_BACKEND", "local")
        yield {"data": data, "catalog": url}


@pytest.mark.requirement("DPPS-DP-R-083")
def test_benchmarking_runs_benchmarks_and_report(airflow_db, small_campaign):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "benchmarking.py"))
    assert bag.import_errors == {}
    dag = bag.dags["benchmarking"]
    run = dag.test(
        run_conf={
            "campaign": "bench-small",
            "reference_campaign": "bench-small",
            "levels": ["dl0", "dl2", "irf"],  # no DL0 in the campaign: skipped
        }
    )
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert run.state == "success", states
    with Catalog(small_campaign["catalog"]) as catalog:
        found = catalog.list_products(ProductQuery(campaign="bench-small", level="BENCHMARK"))
    kinds = sorted(p.kind for p in found)
    assert kinds == ["benchmark-dl2", "benchmark-irf", "report", "sensitivity"]
    (report,) = [p for p in found if p.kind == "report"]
    assert report.path.endswith("report.html") and report.dag_id == "benchmarking"
    directory = Path(report.path).parent
    assert directory.parent.name == "benchmarks"
    for level in ("dl2", "irf"):
        summary = json.loads((directory / level / "summary.json").read_text())
        # the campaign against itself: every figure unchanged
        assert {v["verdict"] for v in summary["verdicts"].values()} == {"no change"}
    text = Path(report.path).read_text()
    assert "effective_area: no change" in text and "data:image/png;base64," in text


def test_the_campaign_comes_from_the_asset_event():
    from datapipe_airflow.campaigns import campaign_from_events

    old = SimpleNamespace(extra={"campaign": "old"}, timestamp=1)
    new = SimpleNamespace(extra={"campaign": "prod-b", "model_set_id": "m"}, timestamp=2)
    assert campaign_from_events({"dl2": [old], "model-set": [new]}) == "prod-b"
    assert campaign_from_events({"dl2": [SimpleNamespace(extra={}, timestamp=3)]}) is None
    assert campaign_from_events(None) is None


def test_benchmark_plan_skips_levels_without_products(tmp_path):
    from datapipe_airflow.campaigns import CampaignError, benchmark_plan, report_step

    steps = benchmark_plan("c", ["dl1", "dl2", "irf"], tmp_path, "ref", {"DL2", "IRF"})
    assert [s["command"][1] for s in steps] == ["dl2", "irf"]
    assert steps[0]["command"][-4:] == ["--reference-campaign", "ref", "--labels", "c,ref"]
    report = report_step("c", tmp_path, [o for s in steps for o in s["outputs"]])
    assert report["outputs"] == [str(tmp_path / "report.html")]
    assert report["command"].count("--benchmarks") == 2
    with pytest.raises(CampaignError):
        benchmark_plan("c", ["dl4"], tmp_path)
