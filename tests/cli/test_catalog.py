"""`datapipe catalog …` through the real entry point, on SQLite and PostgreSQL."""

import hashlib

import pytest

from datapipe_ops.catalog import Catalog, head_revision
from datapipe_ops.cli.main import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path, url, capsys):
    """A DL0 → DL1 → DL2 chain registered through the CLI."""
    paths = {}
    for name in ("run1.dl0.h5", "run1.dl1.h5", "run1.dl2.h5"):
        paths[name] = tmp_path / name
        paths[name].write_bytes(name.encode() * 100)
    assert (
        run(capsys, "catalog", "campaign", "prod6", "--kind", "simulation", "--catalog", url)[0]
        == 0
    )
    common = ["--campaign", "prod6", "--particle", "gamma", "--zenith", "20", "--catalog", url]
    assert (
        run(capsys, "catalog", "register", str(paths["run1.dl0.h5"]), "--level", "DL0", *common)[0]
        == 0
    )
    assert (
        run(
            capsys,
            "catalog",
            "register",
            str(paths["run1.dl1.h5"]),
            "--level",
            "DL1",
            "--input",
            str(paths["run1.dl0.h5"]),
            *common,
        )[0]
        == 0
    )
    code, out, _ = run(
        capsys,
        "catalog",
        "register",
        str(paths["run1.dl2.h5"]),
        "--level",
        "DL2",
        "-i",
        str(paths["run1.dl1.h5"]),
        "--n-events",
        "42",
        "--quality",
        "good",
        *common,
    )
    assert code == 0
    assert out == f"registered {paths['run1.dl2.h5']} as product 3\n"
    return paths


@pytest.mark.requirement("DPPS-DP-R-023")
def test_init_creates_then_finds_the_schema_up_to_date(url, capsys):
    code, out, _ = run(capsys, "catalog", "init", "--catalog", url)
    head = head_revision()
    assert code == 0 and f"schema version {head} (applied migration(s) 0001, " in out
    code, out, _ = run(capsys, "catalog", "init", "--catalog", url)
    assert code == 0 and f"schema version {head} (up to date)" in out


@pytest.mark.requirement("DPPS-DP-R-021")
def test_register_computes_the_checksum(files, url):
    product = Catalog(url).get_product(files["run1.dl2.h5"])
    assert product.sha256 == hashlib.sha256(files["run1.dl2.h5"].read_bytes()).hexdigest()
    assert (product.n_events, product.quality_flag.value, product.zenith_deg) == (42, "good", 20)


@pytest.mark.requirement("DPPS-DP-R-021")
def test_list_filters_and_counts(files, url, capsys):
    code, out, _ = run(capsys, "catalog", "list", "--catalog", url)
    assert code == 0
    assert all(str(p) in out for p in files.values())
    assert out.rstrip().endswith("3 product(s)")
    code, out, _ = run(capsys, "catalog", "list", "--level", "DL1", "--catalog", url)
    assert str(files["run1.dl1.h5"]) in out and str(files["run1.dl0.h5"]) not in out
    assert out.rstrip().endswith("1 product(s)")
    code, out, _ = run(capsys, "catalog", "list", "--zenith-min", "30", "--catalog", url)
    assert code == 0 and out.strip() == "0 product(s)"
    code, out, _ = run(capsys, "catalog", "list", "--limit", "2", "--catalog", url)
    assert out.rstrip().endswith("2 of 3 product(s)")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--campaign", "prod6", "--particle", "gamma"], 3),
        (["--campaign", "other"], 0),
        (["--kind", "gamma-diffuse"], 0),
        (["--zenith-min", "10", "--zenith-max", "25"], 3),
        (["--quality", "good"], 1),
        (["--exclude-bad"], 3),
        (["--obs-id", "7", "--obs-id", "8"], 0),
        (["--start", "2020-01-01", "--stop", "2030-01-01"], 0),  # no product has a time
    ],
)
@pytest.mark.requirement("DPPS-DP-R-021")
def test_every_selection_option_reaches_the_query(files, url, capsys, options, expected):
    code, out, _ = run(capsys, "catalog", "list", *options, "--catalog", url)
    assert code == 0 and out.rstrip().endswith(f"{expected} product(s)"), out


@pytest.mark.requirement("DPPS-DP-R-021")
def test_show_by_path_and_by_id(files, url, capsys):
    code, out, _ = run(capsys, "catalog", "show", str(files["run1.dl1.h5"]), "--catalog", url)
    assert code == 0
    digest = hashlib.sha256(files["run1.dl1.h5"].read_bytes()).hexdigest()
    assert f"sha256:           {digest}" in out
    assert f"inputs: 1\n  [1] DL0 {files['run1.dl0.h5']}" in out
    assert f"outputs: 1\n  [3] DL2 {files['run1.dl2.h5']}" in out
    assert run(capsys, "catalog", "show", "2", "--catalog", url)[1] == out


@pytest.mark.requirement("DPPS-DP-R-021")
def test_lineage_tree_reaches_the_dl0_input(files, url, capsys):
    code, out, _ = run(capsys, "catalog", "lineage", str(files["run1.dl2.h5"]), "--catalog", url)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("DL2") and str(files["run1.dl2.h5"]) in lines[0]
    assert "DL1" in lines[1] and str(files["run1.dl1.h5"]) in lines[1]
    assert "DL0" in lines[2] and str(files["run1.dl0.h5"]) in lines[2]
    assert lines[2].index("DL0") > lines[1].index("DL1")  # one level deeper
    code, out, _ = run(capsys, "catalog", "lineage", "3", "--depth", "1", "--catalog", url)
    assert len(out.splitlines()) == 2 and "DL0" not in out
    code, out, _ = run(capsys, "catalog", "lineage", "1", "--descendants", "--catalog", url)
    assert [line.strip("└─│ ")[:3] for line in out.splitlines()] == ["DL0", "DL1", "DL2"]


@pytest.mark.requirement("DPPS-DP-R-001")
def test_errors_are_one_line_with_exit_code_2(files, url, tmp_path, capsys):
    orphan = tmp_path / "orphan.dl1.h5"
    orphan.write_bytes(b"x")
    cases = [
        (
            ["catalog", "register", str(orphan), "--level", "DL1", "-i", str(tmp_path / "nope.h5")],
            f"{tmp_path / 'nope.h5'}: input product is not registered",
        ),
        (
            ["catalog", "register", str(tmp_path / "missing.h5"), "--level", "DL1"],
            f"{tmp_path / 'missing.h5'}: no such file",
        ),
        (["catalog", "show", "999"], "product id 999: not registered in the catalog"),
        (["catalog", "lineage", str(tmp_path / "nope.h5")], "not registered in the catalog"),
        (["catalog", "list", "--level", "DL9"], "level: Input should be"),
        (["catalog", "campaign", "prod6", "--kind", "observation"], "exists with kind simulation"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, *args, "--catalog", url)
        assert code == 2, args
        assert err.startswith("datapipe: error: ") and message in err, err
        assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.requirement("DPPS-DP-R-001")
def test_unreachable_catalog_is_one_line(capsys):
    code, _, err = run(
        capsys, "catalog", "list", "--catalog", "postgresql+psycopg2://x:pw@127.0.0.1:1/none"
    )
    assert code == 2
    assert err.startswith("datapipe: error: postgresql+psycopg2://x:***@127.0.0.1:1/none: ")
    assert err.count("\n") == 1


def test_default_catalog_comes_from_the_environment(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    assert run(capsys, "catalog", "init")[0] == 0
    assert (tmp_path / "env.sqlite").is_file()


@pytest.mark.requirement("DPPS-DP-R-021", "DPPS-DP-R-030")
def test_register_inputs_computes_what_the_bdms_did_not_verify(tmp_path, url, capsys):
    """A Rucio dataset verifies adler32, not sha256: the file's sha256 (and size) is computed."""
    import json

    dl0 = tmp_path / "run7.dl0.h5"
    dl0.write_bytes(b"waveforms" * 50)
    product = json.dumps({"path": str(dl0), "level": "DL0", "size_bytes": 450, "obs_id": 7})
    code, _, err = run(
        capsys, "catalog", "register-inputs", "--campaign", "c", "--campaign-kind", "simulation",
        "--product", product, "--catalog", url,
    )  # fmt: skip
    assert code == 0, err
    with Catalog(url) as catalog:
        (registered,) = catalog.list_products()
    assert registered.sha256 == hashlib.sha256(dl0.read_bytes()).hexdigest()
    assert registered.size_bytes == 450 and registered.obs_id == 7
