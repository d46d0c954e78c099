"""Datasets: selection by query, immutability, empty selections."""

from datetime import UTC, datetime, timedelta

import pytest

from datapipe_ops.catalog import ProductQuery, ProductRecord
from datapipe_ops.errors import CatalogError

pytestmark = pytest.mark.requirement("DPPS-DP-R-020")

NIGHT = datetime(2025, 3, 1, 22, 0, tzinfo=UTC)


@pytest.fixture
def filled(catalog):
    """DL1 gamma files at several zeniths and dates, one bad, plus protons and a DL2."""
    catalog.ensure_campaign("prod6", "simulation")
    specs = {
        "g10": {"zenith_deg": 10.0},
        "g20": {"zenith_deg": 20.0},
        "g20_bad": {"zenith_deg": 20.0, "quality_flag": "bad"},
        "g20_late": {"zenith_deg": 20.0, "time_start": NIGHT + timedelta(days=3)},
        "g40": {"zenith_deg": 40.0},
        "p20": {"zenith_deg": 20.0, "particle": "proton"},
        "g20_dl2": {"zenith_deg": 20.0, "level": "DL2"},
    }
    for n, (name, spec) in enumerate(specs.items()):
        values = {
            "level": "DL1",
            "campaign": "prod6",
            "particle": "gamma",
            "time_start": NIGHT,
            "sha256": f"{n:064x}",
            "size_bytes": 1000 + n,
            **spec,
        }
        catalog.register_product(ProductRecord(path=f"/ds/{name}.h5", **values))
    return catalog


def names(dataset):
    return [p.removeprefix("/ds/").removesuffix(".h5") for p in dataset.paths]


def test_dataset_holds_exactly_the_products_matching_its_query(filled):
    query = ProductQuery(
        level="DL1",
        campaign="prod6",
        particle="gamma",
        zenith_min=15,
        zenith_max=30,
        start="2025-03-01",
        stop="2025-03-02",
        exclude_bad=True,
    )
    dataset = filled.create_dataset("gamma-train-20deg", query, description="training set")
    assert names(dataset) == ["g20"]
    assert dataset.n_products == 1
    assert dataset.query == query
    assert dataset.description == "training set"
    member = dataset.members[0]
    assert (member.sha256, member.size_bytes) == (f"{1:064x}", 1001)
    assert dataset.size_bytes == 1001


def test_quality_and_dates_widen_or_narrow_the_selection(filled):
    wide = filled.create_dataset("wide", ProductQuery(level="DL1", particle="gamma"))
    assert names(wide) == ["g10", "g20", "g20_bad", "g20_late", "g40"]
    good = filled.create_dataset("good", {"level": "DL1", "exclude_bad": True, "zenith_max": 25})
    assert names(good) == ["g10", "g20", "g20_late", "p20"]
    late = filled.create_dataset("late", {"level": "DL1", "start": "2025-03-03"})
    assert names(late) == ["g20_late"]


def test_datasets_are_immutable(filled):
    query = ProductQuery(level="DL1", particle="gamma", zenith_max=20)
    created = filled.create_dataset("v1", query)
    with pytest.raises(CatalogError) as error:
        filled.create_dataset("v1", ProductQuery(level="DL2"))
    assert "dataset 'v1' already exists; datasets are immutable, choose a new name" in str(
        error.value
    )
    # a new matching product and a rewritten member do not change the dataset
    filled.register_product(
        ProductRecord(path="/ds/g5.h5", level="DL1", particle="gamma", zenith_deg=5)
    )
    filled.register_product(
        ProductRecord(path="/ds/g10.h5", level="DL1", sha256="f" * 64, size_bytes=1)
    )
    again = filled.get_dataset("v1")
    assert again == created
    assert again.members[0].sha256 == f"{0:064x}"
    assert filled.create_dataset("v2", query).n_products == created.n_products + 1


def test_empty_selection_creates_no_dataset(filled):
    with pytest.raises(CatalogError, match=r"no product matches level=DL3.*'nothing' not created"):
        filled.create_dataset("nothing", ProductQuery(level="DL3"))
    assert filled.list_datasets() == []
    with pytest.raises(CatalogError, match="no dataset 'nothing'"):
        filled.get_dataset("nothing")


def test_bad_name_or_query_is_refused(filled):
    with pytest.raises(CatalogError, match="invalid dataset name"):
        filled.create_dataset("two words", ProductQuery(level="DL1"))
    with pytest.raises(CatalogError, match="Extra inputs"):
        filled.create_dataset("typo", {"levle": "DL1"})


def test_list_datasets_gives_summaries(filled):
    filled.create_dataset("a", ProductQuery(level="DL1"))
    filled.create_dataset("b", ProductQuery(level="DL2"))
    summaries = filled.list_datasets()
    assert [(d.name, d.n_products, d.members) for d in summaries] == [
        ("a", 6, None),
        ("b", 1, None),
    ]
