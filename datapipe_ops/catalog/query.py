"""Translate a :class:`~datapipe_ops.catalog.models.ProductQuery` into SQL conditions."""

from __future__ import annotations

import sqlalchemy as sa

from datapipe_ops.catalog.models import ProductQuery, QualityFlag
from datapipe_ops.catalog.schema import products


def product_conditions(query: ProductQuery) -> list[sa.ColumnElement[bool]]:
    """The WHERE conditions (to be AND-ed) on ``products`` that select what ``query`` asks for."""
    c = products.c
    conditions: list[sa.ColumnElement[bool]] = []
    for column, value in (
        (c.level, query.level),
        (c.campaign, query.campaign),
        (c.kind, query.kind),
        (c.particle, query.particle),
        (c.quality_flag, query.quality_flag),
    ):
        if value is not None:
            conditions.append(column == str(value))
    if query.zenith_min is not None:
        conditions.append(c.zenith_deg >= query.zenith_min)
    if query.zenith_max is not None:
        conditions.append(c.zenith_deg <= query.zenith_max)
    start, stop = query.time_bounds()
    if start is not None:
        conditions.append(c.time_start >= start)
    if stop is not None:
        conditions.append(
            c.time_start < stop if query.stop_is_exclusive() else c.time_start <= stop
        )
    if query.exclude_bad:
        conditions.append(sa.or_(c.quality_flag.is_(None), c.quality_flag != str(QualityFlag.BAD)))
    if query.obs_ids is not None:
        conditions.append(c.obs_id.in_(query.obs_ids))
    return conditions
