"""`datapipe dataset …` through the real entry point, on SQLite and PostgreSQL."""

import pytest

from datapipe_ops.catalog import Catalog, ProductRecord
from datapipe_ops.cli.main import main

pytestmark = pytest.mark.requirement("DPPS-DP-R-020")


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def catalog(url):
    """Gamma DL1 files at 10, 20, 30 deg (the 20 deg one bad), a proton and a DL2 file."""
    with Catalog(url) as cat:
        cat.ensure_campaign("prod6", "simulation")
        for name, particle, zenith, level, flag in [
            ("g10", "gamma", 10, "DL1", None),
            ("g20", "gamma", 20, "DL1", "bad"),
            ("g30", "gamma", 30, "DL1", "good"),
            ("p20", "proton", 20, "DL1", None),
            ("g20_dl2", "gamma", 20, "DL2", None),
        ]:
            cat.register_product(
                ProductRecord(
                    path=f"/data/{name}.h5",
                    level=level,
                    campaign="prod6",
                    particle=particle,
                    zenith_deg=zenith,
                    quality_flag=flag,
                    size_bytes=1024 * 1024,
                    time_start=f"2025-03-{zenith:02d}T22:00:00Z",
                )
            )
        yield cat


def test_create_prints_size_and_show_paths_lists_the_members(catalog, url, capsys):
    code, out, _ = run(
        capsys,
        "dataset",
        "create",
        "gamma-train",
        "--level",
        "DL1",
        "--campaign",
        "prod6",
        "--particle",
        "gamma",
        "--zenith-min",
        "5",
        "--zenith-max",
        "25",
        "--exclude-bad",
        "--catalog",
        url,
    )
    assert (code, out) == (0, "dataset gamma-train: 1 product(s), 1.0 MiB\n")
    code, out, _ = run(capsys, "dataset", "create", "all-dl1", "--level", "dl1", "--catalog", url)
    assert out == "dataset all-dl1: 4 product(s), 4.0 MiB\n"
    code, out, _ = run(capsys, "dataset", "show", "all-dl1", "--paths", "--catalog", url)
    assert code == 0
    assert out.splitlines() == ["/data/g10.h5", "/data/g20.h5", "/data/g30.h5", "/data/p20.h5"]


def test_dates_select_by_start_time(catalog, url, capsys):
    code, out, _ = run(
        capsys,
        "dataset",
        "create",
        "late",
        "--level",
        "DL1",
        "--start",
        "2025-03-20",
        "--stop",
        "2025-03-20",
        "--catalog",
        url,
    )
    assert code == 0 and "2 product(s)" in out
    out = run(capsys, "dataset", "show", "late", "--paths", "--catalog", url)[1]
    assert out.splitlines() == ["/data/g20.h5", "/data/p20.h5"]


def test_show_and_list(catalog, url, capsys):
    run(capsys, "dataset", "create", "d1", "--level", "DL2", "--catalog", url)
    code, out, _ = run(capsys, "dataset", "show", "d1", "--catalog", url)
    assert code == 0
    assert "query:       level=DL2" in out and "/data/g20_dl2.h5" in out
    code, out, _ = run(capsys, "dataset", "list", "--catalog", url)
    assert code == 0 and "d1" in out and out.rstrip().endswith("1 dataset(s)")


@pytest.mark.requirement("DPPS-DP-R-001")
def test_dataset_errors_are_one_line(catalog, url, capsys):
    assert run(capsys, "dataset", "create", "d1", "--level", "DL1", "--catalog", url)[0] == 0
    cases = [
        (["create", "d1", "--level", "DL1"], "dataset 'd1' already exists; datasets are immutable"),
        (["create", "d2", "--level", "DL3"], "no product matches level=DL3"),
        (
            ["create", "d3", "--level", "DL1", "--zenith-min", "40", "--zenith-max", "20"],
            "zenith_min 40.0 is above zenith_max 20.0",
        ),
        (["create", "d4", "--level", "DL1", "--start", "soon"], "not an ISO 8601"),
        (["show", "nope"], "no dataset 'nope'"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, "dataset", *args, "--catalog", url)
        assert code == 2, args
        assert err.startswith("datapipe: error: ") and message in err, err
        assert err.count("\n") == 1
    assert run(capsys, "dataset", "create", "x", "--catalog", url)[0] == 2  # --level is required
