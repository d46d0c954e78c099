"""Calibration sets: registration and the lookup that covers an observation."""

from datetime import UTC, datetime

import pytest

from datapipe_ops.catalog import ProductRecord
from datapipe_ops.errors import CalibrationError, CatalogError

pytestmark = pytest.mark.requirement("DPPS-DP-R-032")


def utc(day, hour=0):
    return datetime(2025, 1, day, hour, tzinfo=UTC)


def test_sets_covering_the_whole_interval_are_found_per_telescope(catalog):
    catalog.register_calibration_set("/cal/night1.h5", utc(1, 18), utc(2, 8), tel_ids=[1, 2])
    found = catalog.find_calibration([1, 2], utc(1, 22), utc(2, 1))
    assert sorted(found) == [1, 2]
    assert {s.path for s in found.values()} == {"/cal/night1.h5"}
    assert found[2].tel_id == 2


@pytest.mark.parametrize(
    ("start", "stop"),
    [(utc(1, 17), utc(1, 20)), (utc(2, 7), utc(2, 9)), (utc(3), utc(3, 1))],
)
def test_interval_not_covered_gives_none(catalog, start, stop):
    catalog.register_calibration_set("/cal/night1.h5", utc(1, 18), utc(2, 8), tel_ids=[1, 2])
    assert catalog.find_calibration([1, 2], start, stop) is None


def test_every_telescope_must_be_covered(catalog):
    catalog.register_calibration_set("/cal/night1.h5", utc(1, 18), utc(2, 8), tel_ids=[1, 2])
    assert catalog.find_calibration([1, 2, 3], utc(1, 20), utc(1, 21)) is None
    with pytest.raises(CalibrationError, match=r"for telescope\(s\) 3, 4$"):
        catalog.require_calibration([1, 2, 3, 4], utc(1, 20), utc(1, 21))
    assert sorted(catalog.require_calibration([2], utc(1, 20), utc(1, 21))) == [2]


def test_set_for_all_telescopes_fills_in_and_specific_sets_win(catalog):
    catalog.register_calibration_set("/cal/array.h5", utc(1), utc(3))
    catalog.register_calibration_set("/cal/tel2.h5", utc(1, 12), utc(2, 12), tel_ids=[2])
    found = catalog.find_calibration([1, 2, 3], utc(1, 20), utc(2, 2))
    assert {tel: s.path for tel, s in found.items()} == {
        1: "/cal/array.h5",
        2: "/cal/tel2.h5",
        3: "/cal/array.h5",
    }
    assert found[1].tel_id is None


def test_latest_validity_start_wins(catalog):
    catalog.register_calibration_set("/cal/week.h5", utc(1), utc(8), tel_ids=[1])
    catalog.register_calibration_set("/cal/day.h5", utc(4), utc(5), tel_ids=[1])
    assert catalog.find_calibration([1], utc(4, 20), utc(4, 22))[1].path == "/cal/day.h5"
    assert catalog.find_calibration([1], utc(6, 20), utc(6, 22))[1].path == "/cal/week.h5"


def test_obs_id_restricts_to_that_observation_or_none(catalog):
    catalog.register_calibration_set("/cal/obs7.h5", utc(1), utc(2), tel_ids=[1], obs_id=7)
    assert catalog.find_calibration([1], utc(1, 1), utc(1, 2), obs_id=8) is None
    assert catalog.find_calibration([1], utc(1, 1), utc(1, 2), obs_id=7)[1].obs_id == 7
    catalog.register_calibration_set("/cal/any.h5", utc(1), utc(2))
    assert catalog.find_calibration([1], utc(1, 1), utc(1, 2), obs_id=8)[1].path == "/cal/any.h5"


def test_registering_again_updates_the_validity_and_links_the_product(catalog):
    first = catalog.register_calibration_set("/cal/c.h5", utc(1), utc(2), tel_ids=[1, 2])
    catalog.register_calibration_set("/cal/array.h5", utc(1), utc(2))
    product_id = catalog.register_product(ProductRecord(path="/cal/c.h5", level="CALIBRATION"))
    again = catalog.register_calibration_set("/cal/c.h5", utc(1), utc(5), tel_ids=[2, 1])
    assert [s.id for s in again] == [s.id for s in first]
    assert [s.valid_stop for s in again] == [utc(5), utc(5)]
    assert {s.product_id for s in again} == {product_id}
    twice = catalog.register_calibration_set("/cal/array.h5", utc(1), utc(4))
    assert len(twice) == 1 and twice[0].tel_id is None and twice[0].valid_stop == utc(4)
    assert catalog.find_calibration([1, 2], utc(3), utc(4, 12))[1].path == "/cal/c.h5"


def test_bad_validity_is_refused(catalog):
    with pytest.raises(CatalogError, match="not after start") as error:
        catalog.register_calibration_set("/cal/c.h5", utc(2), utc(1))
    assert error.value.path == "/cal/c.h5"
    with pytest.raises(CatalogError, match="ISO 8601"):
        catalog.register_calibration_set("/cal/c.h5", "yesterday", utc(1))
    with pytest.raises(CatalogError, match="no telescope"):
        catalog.register_calibration_set("/cal/c.h5", utc(1), utc(2), tel_ids=[])
