"""Registering products (idempotent upserts), lineage both ways, querying."""

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone

import astropy.units as u
import pytest
import sqlalchemy as sa

from datapipe_ops.catalog import Catalog, Level, ProductQuery, ProductRecord, QualityFlag
from datapipe_ops.errors import CatalogError, InputFileError

pytestmark = pytest.mark.requirement("DPPS-DP-R-021")


def record(path, level="DL1", **fields):
    return ProductRecord(path=path, level=level, **fields)


def count(catalog, table):
    with catalog.engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


def test_registered_product_is_found_by_path_and_by_id(catalog, campaign):
    product_id = catalog.register_product(
        record(
            "/data/run1.dl1.h5",
            campaign=campaign.name,
            particle="gamma",
            zenith_deg=20 * u.deg,
            obs_id=1,
            sha256="a" * 64,
        )
    )
    by_path = catalog.get_product("/data/run1.dl1.h5")
    assert by_path.id == product_id
    assert catalog.get_product(product_id) == by_path
    assert catalog.get_product(str(product_id)) == by_path
    assert by_path.level is Level.DL1
    assert by_path.zenith_deg == pytest.approx(20.0)
    assert by_path.created_at.tzinfo is not None


def test_registering_the_same_path_again_updates_the_one_row(catalog):
    first_id = catalog.register_product(
        record("/data/run1.dl1.h5", sha256="a" * 64, size_bytes=10, n_events=100, obs_id=7)
    )
    first = catalog.get_product(first_id)
    again_id = catalog.register_product(
        record("/data/run1.dl1.h5", sha256="b" * 64, size_bytes=20, task_id="rerun")
    )
    again = catalog.get_product(again_id)
    assert again_id == first_id
    assert count(catalog, "products") == 1
    assert (again.sha256, again.size_bytes, again.task_id) == ("b" * 64, 20, "rerun")
    assert (again.n_events, again.obs_id) == (100, 7)  # None keeps what was known
    assert again.created_at == first.created_at
    assert again.updated_at >= first.updated_at


def test_relative_and_absolute_paths_name_the_same_product(catalog, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = catalog.register_product(record("out/run1.dl1.h5"))
    assert catalog.register_product(record(tmp_path / "out" / "run1.dl1.h5")) == first
    assert catalog.get_product(tmp_path / "out" / ".." / "out" / "run1.dl1.h5").id == first


def test_same_path_with_another_level_is_refused(catalog):
    catalog.register_product(record("/data/run1.h5", level="DL1"))
    with pytest.raises(CatalogError, match="already registered as DL1") as error:
        catalog.register_product(record("/data/run1.h5", level="DL2"))
    assert error.value.path == "/data/run1.h5"
    assert catalog.get_product("/data/run1.h5").level is Level.DL1


def test_unregistered_input_is_an_error_naming_it(catalog):
    catalog.register_product(record("/data/a.dl0.h5", level="DL0"))
    with pytest.raises(CatalogError, match="not registered") as error:
        catalog.register_product(
            record("/data/a.dl1.h5"), inputs=["/data/a.dl0.h5", "/data/missing.dl0.h5"]
        )
    assert error.value.path == "/data/missing.dl0.h5"
    assert catalog.find_product("/data/a.dl1.h5") is None  # nothing half-registered
    assert count(catalog, "lineage") == 0


def test_unknown_campaign_is_an_error(catalog):
    with pytest.raises(CatalogError, match="campaign 'nope' is not in the catalog"):
        catalog.register_product(record("/data/a.dl1.h5", campaign="nope"))


def test_a_stage_tasks_product_joins_the_run_campaign_when_it_names_none(catalog, monkeypatch):
    catalog.ensure_campaign("sim-a", "simulation")
    monkeypatch.setenv("DATAPIPE_CAMPAIGN", "sim-a")
    catalog.register_product(record("/data/a.dl2.h5", level="DL2"))
    assert catalog.get_product("/data/a.dl2.h5").campaign == "sim-a"
    catalog.ensure_campaign("sim-b", "simulation")
    catalog.register_product(record("/data/b.dl2.h5", level="DL2", campaign="sim-b"))
    assert catalog.get_product("/data/b.dl2.h5").campaign == "sim-b"  # its own wins
    monkeypatch.setenv("DATAPIPE_CAMPAIGN", "not-created")
    catalog.register_product(record("/data/c.dl2.h5", level="DL2"))
    assert catalog.get_product("/data/c.dl2.h5").campaign is None  # unknown: none, no error


def test_campaign_is_created_once_and_its_kind_kept(catalog):
    created = catalog.ensure_campaign("night-2025-01-02", "observation")
    assert catalog.ensure_campaign("night-2025-01-02", "observation") == created
    with pytest.raises(CatalogError, match="exists with kind observation"):
        catalog.ensure_campaign("night-2025-01-02", "simulation")
    assert [c.name for c in catalog.list_campaigns()] == ["night-2025-01-02"]
    with pytest.raises(CatalogError, match="kind"):
        catalog.ensure_campaign("x", "holiday")


@pytest.fixture
def chain(catalog):
    """Two DL0 files → two DL1 → one merged DL2 → one DL3 (and an unrelated DL0)."""
    register = catalog.register_product
    ids = {
        "a0": register(record("/p/a.dl0.h5", level="DL0")),
        "b0": register(record("/p/b.dl0.h5", level="DL0")),
        "x0": register(record("/p/x.dl0.h5", level="DL0")),
    }
    ids["a1"] = register(record("/p/a.dl1.h5"), inputs=["/p/a.dl0.h5"])
    ids["b1"] = register(record("/p/b.dl1.h5"), inputs=["/p/b.dl0.h5"])
    ids["m2"] = register(record("/p/m.dl2.h5", level="DL2"), inputs=["/p/a.dl1.h5", "/p/b.dl1.h5"])
    ids["e3"] = register(record("/p/e.dl3.fits", level="DL3"), inputs=["/p/m.dl2.h5"])
    return ids


def test_lineage_goes_back_to_the_dl0_inputs(catalog, chain):
    tree = catalog.lineage(chain["e3"])
    assert tree.product.id == chain["e3"]
    assert set(tree.products()) == {chain[k] for k in ("e3", "m2", "a1", "b1", "a0", "b0")}
    assert [p.id for p in tree.leaves()] == [chain["a0"], chain["b0"]]
    assert {p.level for p in tree.leaves()} == {Level.DL0}
    depths = {p.id: d for d, p in tree.walk()}
    assert depths[chain["a0"]] == 3


def test_lineage_depth_limits_the_generations(catalog, chain):
    assert set(catalog.lineage(chain["e3"], depth=0).products()) == {chain["e3"]}
    one = catalog.lineage(chain["e3"], depth=1)
    assert [n.product.id for n in one.inputs] == [chain["m2"]]
    assert one.inputs[0].inputs == ()
    assert set(catalog.lineage(chain["e3"], depth=2).products()) == {
        chain["e3"],
        chain["m2"],
        chain["a1"],
        chain["b1"],
    }


def test_descendants_go_forward(catalog, chain):
    tree = catalog.descendants("/p/a.dl0.h5")
    assert [d for d, _ in tree.walk()] == [0, 1, 2, 3]
    assert [p.id for _, p in tree.walk()] == [chain[k] for k in ("a0", "a1", "m2", "e3")]
    assert catalog.descendants(chain["x0"]).outputs == ()


def test_lineage_links_are_unique(catalog, chain):
    before = count(catalog, "lineage")
    catalog.register_product(record("/p/m.dl2.h5", level="DL2"), inputs=["/p/a.dl1.h5"] * 3)
    assert count(catalog, "lineage") == before == 5


def test_lineage_cannot_loop(catalog, chain):
    with pytest.raises(CatalogError, match="cycle"):
        catalog.register_product(record("/p/a.dl0.h5", level="DL0"), inputs=["/p/e.dl3.fits"])
    with pytest.raises(CatalogError, match="own input"):
        catalog.register_product(record("/p/a.dl1.h5"), inputs=["/p/a.dl1.h5"])


def test_unknown_product_is_an_error(catalog):
    with pytest.raises(CatalogError, match="not registered") as error:
        catalog.get_product("/nowhere.h5")
    assert error.value.path == "/nowhere.h5"
    with pytest.raises(CatalogError, match="not registered"):
        catalog.lineage(12345)
    assert catalog.find_product(12345) is None


def test_times_are_stored_in_utc(catalog):
    plus_two = timezone(timedelta(hours=2))
    start = datetime(2025, 1, 2, 23, 30, tzinfo=plus_two)
    catalog.register_product(
        record("/obs/run9.dl0.h5", level="DL0", time_start=start, time_stop="2025-01-02T22:00Z")
    )
    product = catalog.get_product("/obs/run9.dl0.h5")
    assert product.time_start == datetime(2025, 1, 2, 21, 30, tzinfo=UTC)
    assert product.time_start.utcoffset() == timedelta(0)
    assert product.time_stop == datetime(2025, 1, 2, 22, 0, tzinfo=UTC)


@pytest.fixture
def mixed(catalog):
    """Products differing in one attribute each, named by what makes them differ."""
    catalog.ensure_campaign("prod6", "simulation")
    catalog.ensure_campaign("nights", "observation")
    base = {"campaign": "prod6", "particle": "gamma", "zenith_deg": 20.0, "kind": "gamma-diffuse"}
    night = datetime(2025, 1, 2, 23, 0, tzinfo=UTC)
    products = {
        "gamma20": {},
        "proton20": {"particle": "proton", "kind": "proton-diffuse"},
        "gamma40": {"zenith_deg": 40.0},
        "gamma_nozenith": {"zenith_deg": None},
        "bad": {"quality_flag": "bad"},
        "warning": {"quality_flag": "warning"},
        "dl2": {"level": "DL2"},
        "obs1": {"campaign": "nights", "particle": None, "obs_id": 1, "time_start": night},
        "obs2": {
            "campaign": "nights",
            "particle": None,
            "obs_id": 2,
            "time_start": night + timedelta(hours=2),  # next UTC day
        },
    }
    for name, change in products.items():
        values = {"level": "DL1", **base, **change}
        catalog.register_product(record(f"/q/{name}.h5", **values))
    return catalog


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"level": "DL2"}, {"dl2"}),
        ({"level": "dl1", "particle": "proton"}, {"proton20"}),
        ({"kind": "proton-diffuse"}, {"proton20"}),
        (
            {"level": "DL1", "campaign": "prod6", "zenith_min": 30},
            {"gamma40"},
        ),
        (
            {"particle": "gamma", "zenith_min": 10 * u.deg, "zenith_max": 0.5 * u.rad},
            {"gamma20", "bad", "warning", "dl2"},
        ),
        ({"start": "2025-01-02", "stop": "2025-01-02"}, {"obs1"}),
        ({"start": "2025-01-03"}, {"obs2"}),
        ({"stop": date(2025, 1, 3)}, {"obs1", "obs2"}),
        ({"start": "2025-01-02T23:30Z", "stop": "2025-01-03T01:00Z"}, {"obs2"}),
        ({"obs_ids": [2, 5]}, {"obs2"}),
        ({"quality_flag": "warning"}, {"warning"}),
        (
            {"campaign": "prod6", "level": "DL1", "exclude_bad": True},
            {"gamma20", "proton20", "gamma40", "gamma_nozenith", "warning"},
        ),
    ],
)
def test_list_products_by_query(mixed, criteria, expected):
    found = mixed.list_products(ProductQuery(**criteria))
    assert {p.path.removeprefix("/q/").removesuffix(".h5") for p in found} == expected
    assert mixed.count_products(ProductQuery(**criteria)) == len(expected)


def test_list_products_without_query_lists_all_in_registration_order(mixed):
    products = mixed.list_products()
    assert len(products) == 9
    assert [p.id for p in products] == sorted(p.id for p in products)
    assert len(mixed.list_products(limit=3)) == 3


@pytest.mark.requirement("DPPS-DP-R-100")
def test_quality_flag_can_be_set_and_cleared(catalog):
    catalog.register_product(record("/data/a.dl1.h5"))
    assert catalog.set_quality_flag("/data/a.dl1.h5", "BAD").quality_flag is QualityFlag.BAD
    assert catalog.set_quality_flag("/data/a.dl1.h5", None).quality_flag is None
    with pytest.raises(CatalogError, match="quality flag must be one of"):
        catalog.set_quality_flag("/data/a.dl1.h5", "terrible")


def test_record_from_file_computes_checksum_size_and_task(tmp_path, monkeypatch):
    data = bytes(range(256)) * 5000  # > 1 MiB, several read blocks
    path = tmp_path / "run1.dl1.h5"
    path.write_bytes(data)
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "simulation_processing")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "manual__2025-01-02")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "dl0_to_dl1")
    rec = ProductRecord.from_file(path, level="DL1", particle="gamma", task_id="override")
    assert rec.sha256 == hashlib.sha256(data).hexdigest()
    assert rec.size_bytes == len(data)
    assert (rec.dag_id, rec.run_id, rec.task_id) == (
        "simulation_processing",
        "manual__2025-01-02",
        "override",
    )
    assert rec.software_version
    assert rec.path == str(path)


def test_record_from_missing_file_or_directory_is_an_input_error(tmp_path):
    with pytest.raises(InputFileError, match="no such file") as error:
        ProductRecord.from_file(tmp_path / "missing.h5", level="DL1")
    assert error.value.path == str(tmp_path / "missing.h5")
    with pytest.raises(InputFileError, match="directory"):
        ProductRecord.from_file(tmp_path, level="DL1")
    (tmp_path / "x.h5").write_bytes(b"x")
    with pytest.raises(CatalogError, match="zenith_deg"):
        ProductRecord.from_file(tmp_path / "x.h5", level="DL1", zenith_deg=95)


def test_catalog_default_url_comes_from_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPIPE_DATA_ROOT", str(tmp_path / "root"))
    monkeypatch.delenv("DATAPIPE_CATALOG_URL", raising=False)
    with Catalog() as catalog:
        catalog.register_product(record("/data/a.dl1.h5"))
    assert (tmp_path / "root" / "catalog.sqlite").is_file()


@pytest.mark.requirement("DPPS-DP-R-001")
def test_unreachable_or_unusable_catalog_is_one_clear_error():
    with pytest.raises(CatalogError, match="catalog database error") as error:
        Catalog("postgresql+psycopg2://nobody:secret@127.0.0.1:1/none").list_products()
    assert "secret" not in str(error.value)
    with pytest.raises(CatalogError, match="unsupported catalog backend"):
        Catalog("mysql://somewhere/db")
    with pytest.raises(CatalogError, match="not a usable catalog URL"):
        Catalog("not a url")
