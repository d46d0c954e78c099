"""Lineage trees: where a product came from (its inputs, recursively) and what was made from it.

The catalog fetches the lineage graph one generation at a time (one query per generation, not
per product) and :func:`build_tree` turns the edges into a tree. A product reached along two
paths (a diamond) appears under both; a cycle, which registration cannot create but a hand-edited
database could hold, is cut where a product would become its own ancestor.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from datapipe_ops.catalog.models import Product


class LineageNode(BaseModel):
    """One product in a lineage tree and the next generation in the walked direction.

    :meth:`~datapipe_ops.catalog.Catalog.lineage` fills ``inputs`` (ancestors),
    :meth:`~datapipe_ops.catalog.Catalog.descendants` fills ``outputs``.
    """

    model_config = ConfigDict(frozen=True)

    product: Product
    inputs: tuple[LineageNode, ...] = ()
    outputs: tuple[LineageNode, ...] = ()

    @property
    def next_generation(self) -> tuple[LineageNode, ...]:
        """The children in the walked direction (inputs or outputs)."""
        return self.inputs or self.outputs

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Product]]:
        """``(depth, product)`` for this node and every node below it, depth first."""
        yield depth, self.product
        for child in self.next_generation:
            yield from child.walk(depth + 1)

    def products(self) -> dict[int, Product]:
        """Every distinct product of the tree (this one included), by id."""
        return {product.id: product for _, product in self.walk()}

    def leaves(self) -> list[Product]:
        """The distinct products at the ends of the tree (for ancestors: the original inputs)."""
        found: dict[int, Product] = {}
        stack = [self]
        while stack:
            node = stack.pop()
            if node.next_generation:
                stack.extend(node.next_generation)
            else:
                found.setdefault(node.product.id, node.product)
        return sorted(found.values(), key=lambda p: p.id)


def build_tree(
    root: int,
    edges: Mapping[int, Sequence[int]],
    products: Mapping[int, Product],
    depth: int | None,
    direction: str,
) -> LineageNode:
    """The tree below ``root`` following ``edges`` (id → next ids), at most ``depth`` levels.

    ``direction`` is ``"inputs"`` or ``"outputs"``: the field the next generation goes in.
    """
    if direction not in ("inputs", "outputs"):
        raise ValueError(f"direction must be 'inputs' or 'outputs', not {direction!r}")

    def node(product_id: int, level: int, ancestors: frozenset[int]) -> LineageNode:
        children: tuple[LineageNode, ...] = ()
        if depth is None or level < depth:
            inside = ancestors | {product_id}
            children = tuple(
                node(child, level + 1, inside)
                for child in sorted(edges.get(product_id, ()))
                if child not in inside and child in products
            )
        return LineageNode(product=products[product_id], **{direction: children})

    return node(root, 0, frozenset())
