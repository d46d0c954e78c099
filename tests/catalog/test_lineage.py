"""Building lineage trees from edges (no database)."""

from datetime import UTC, datetime

import pytest

from datapipe_ops.catalog import Product
from datapipe_ops.catalog.lineage import build_tree

pytestmark = pytest.mark.requirement("DPPS-DP-R-021")

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def products(*ids):
    return {
        i: Product(id=i, path=f"/p/{i}.h5", level="DL1", created_at=NOW, updated_at=NOW)
        for i in ids
    }


def test_diamond_appears_under_both_parents():
    # 4 was made from 2 and 3, both made from 1
    tree = build_tree(4, {4: [2, 3], 2: [1], 3: [1]}, products(1, 2, 3, 4), None, "inputs")
    assert [(d, p.id) for d, p in tree.walk()] == [(0, 4), (1, 2), (2, 1), (1, 3), (2, 1)]
    assert [p.id for p in tree.leaves()] == [1]
    assert sorted(tree.products()) == [1, 2, 3, 4]


def test_cycle_is_cut_and_depth_respected():
    edges = {1: [2], 2: [3], 3: [1]}
    tree = build_tree(1, edges, products(1, 2, 3), None, "outputs")
    assert [p.id for _, p in tree.walk()] == [1, 2, 3]
    assert tree.outputs[0].outputs[0].outputs == ()
    shallow = build_tree(1, edges, products(1, 2, 3), 1, "outputs")
    assert [p.id for _, p in shallow.walk()] == [1, 2]


def test_direction_must_be_known():
    with pytest.raises(ValueError, match="direction"):
        build_tree(1, {}, products(1), None, "sideways")
