"""The product catalog: every data product, its lineage, datasets, calibration and quality.

A :class:`Catalog` talks to one database through SQLAlchemy Core: a SQLite file by default
(:func:`datapipe_ops.settings.catalog_url`), PostgreSQL (``postgresql+psycopg2://…``) in
production. The schema is migrated on first use. Every write is one short transaction, so any
number of stage processes and Airflow tasks may register products at the same time; registering
the same path again updates that product (same id) instead of adding a row. A database that this
process reached once and that then goes away (a PostgreSQL restart) is waited for, up to
:data:`~datapipe_ops.catalog.connection.RECONNECT_S`, and the interrupted transaction runs again.

Products are referred to by id (``int``, or a string of digits), by path, or by a
:class:`~datapipe_ops.catalog.models.Product` already fetched.
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from datapipe_ops import settings
from datapipe_ops.catalog import schema
from datapipe_ops.catalog.connection import (
    catalog_errors,
    create_catalog_engine,
    display_url,
    read_transaction,
    upsert_insert,
    write_transaction,
)
from datapipe_ops.catalog.lineage import LineageNode, build_tree
from datapipe_ops.catalog.migrations import migrate, schema_version
from datapipe_ops.catalog.models import (
    CalibrationSet,
    Campaign,
    CampaignKind,
    Dataset,
    DatasetMember,
    Product,
    ProductQuery,
    ProductRecord,
    QualityFlag,
    QualityMetric,
    build,
    metric_value,
    nan_to_none,
    normalize_path,
    parse_flag,
    utc_datetime,
)
from datapipe_ops.catalog.query import product_conditions
from datapipe_ops.errors import CalibrationError, CatalogError
from datapipe_ops.faults import stop_point

type ProductRef = int | str | Path | Product

_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_IN_CHUNK = 500  # ids per IN (...) list
# Columns a re-registration may change; None in the new record keeps the stored value.
_UPDATABLE = tuple(
    c.name for c in schema.products.c if c.name not in ("id", "path", "level", "created_at")
)
_P = schema.products.c


def _now() -> datetime:
    return datetime.now(UTC)


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """Enum members as their plain string values (what the database drivers bind)."""
    return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in values.items()}


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(ids)
    for i in range(0, len(ordered), _IN_CHUNK):
        yield ordered[i : i + _IN_CHUNK]


class Catalog:
    """The product catalog at ``url`` (default: :func:`datapipe_ops.settings.catalog_url`).

    Nothing touches the database until the first call; that call creates or migrates the
    schema. Use as a context manager, or call :meth:`close`, to release the connections.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or settings.catalog_url()
        self.where = display_url(self.url)
        self._engine = create_catalog_engine(self.url)
        self._migrated = False

    # ----------------------------------------------------------------------------------------
    # plumbing

    def __repr__(self) -> str:
        return f"Catalog({self.where!r})"

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, with the schema migrated."""
        if not self._migrated:
            migrate(self._engine)
            self._migrated = True
        return self._engine

    def migrate(self) -> list[str]:
        """Create or upgrade the schema now; return the revisions applied (empty if up to date)."""
        applied = migrate(self._engine)
        self._migrated = True
        return applied

    def schema_version(self) -> str | None:
        """The schema revision of the database (``None`` if it was never migrated)."""
        return schema_version(self._engine)

    # A database this process never reached fails at once; once reached (by any Catalog of this
    # process), a lost server is waited for, also by the migration check of a new Catalog.
    def _read[T](self, work: Any) -> T:
        return read_transaction(self.engine, work)

    def _write[T](self, work: Any) -> T:
        return write_transaction(self.engine, work)

    # ----------------------------------------------------------------------------------------
    # campaigns

    def ensure_campaign(
        self, name: str, kind: str | CampaignKind, description: str | None = None
    ) -> Campaign:
        """Create the campaign if it does not exist; return it.

        Raises :class:`CatalogError` if it exists with another kind.
        """
        wanted = build(Campaign, name=name, kind=kind, description=description, created_at=_now())

        def work(conn: Connection) -> Campaign:
            insert = upsert_insert(conn, schema.campaigns).values(**_plain(wanted.model_dump()))
            conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
            row = conn.execute(
                sa.select(schema.campaigns).where(schema.campaigns.c.name == name)
            ).one()
            return Campaign.model_validate(row._mapping)

        campaign = self._write(work)
        if campaign.kind != wanted.kind:
            raise CatalogError(
                f"campaign {name!r} exists with kind {campaign.kind.value}, "
                f"not {wanted.kind.value}",
                path=self.where,
            )
        return campaign

    def get_campaign(self, name: str) -> Campaign:
        """The campaign called ``name``; :class:`CatalogError` if there is none."""

        def work(conn: Connection) -> Campaign | None:
            table = schema.campaigns
            row = conn.execute(sa.select(table).where(table.c.name == name)).one_or_none()
            return None if row is None else Campaign.model_validate(row._mapping)

        campaign = self._read(work)
        if campaign is None:
            raise CatalogError(f"no campaign {name!r} in the catalog", path=self.where)
        return campaign

    def list_campaigns(self) -> list[Campaign]:
        """Every campaign, by name."""

        def work(conn: Connection) -> list[Campaign]:
            rows = conn.execute(sa.select(schema.campaigns).order_by(schema.campaigns.c.name))
            return [Campaign.model_validate(r._mapping) for r in rows]

        return self._read(work)

    # ----------------------------------------------------------------------------------------
    # products

    def register_product(
        self,
        record: ProductRecord,
        inputs: Sequence[str | Path | Product] = (),
        new_inputs: Sequence[ProductRecord] = (),
    ) -> int:
        """Register (or update) a product and its inputs; return its id.

        Idempotent: the same path registered again is the same row, with the new values of
        every field that is not ``None`` and a new ``updated_at``. ``inputs`` are registered
        products (paths or products); their lineage links are added once. ``new_inputs`` are
        inputs that may not be registered yet: those that are not are registered as given,
        those that are keep their row; all are linked as inputs too.

        Everything happens in one transaction: the product, its lineage and the inputs it
        registers appear together or not at all (a process killed half-way leaves nothing).

        Raises
        ------
        CatalogError
            An input is not registered, the campaign does not exist, the path is registered
            with another level, or the inputs would make the product its own ancestor.
        """
        refs = [*inputs, *(r.path for r in new_inputs)]
        input_paths = list(dict.fromkeys(_ref_path(ref) for ref in refs))
        if record.path in input_paths:
            raise CatalogError("a product cannot be its own input", path=record.path)
        now = _now()
        added = [
            _plain(r.model_dump()) | {"created_at": now, "updated_at": now} for r in new_inputs
        ]

        def work(conn: Connection) -> int:
            product = self._in_run_campaign(conn, record)
            values = _plain(product.model_dump()) | {"created_at": now, "updated_at": now}
            for row in added:
                insert = upsert_insert(conn, schema.products).values(**row)
                conn.execute(insert.on_conflict_do_nothing(index_elements=[_P.path]))
            stop_point("catalog:register")
            input_ids = self._ids_of_paths(conn, input_paths)
            self._check_campaign(conn, product)
            existing = conn.scalar(sa.select(_P.id).where(_P.path == record.path))
            if existing is not None and input_ids:
                self._refuse_cycle(conn, existing, input_ids, record.path)
            product_id = _upsert_product(conn, product, values)
            if input_ids:
                links = upsert_insert(conn, schema.lineage).on_conflict_do_nothing()
                conn.execute(
                    links,
                    [{"product_id": product_id, "input_product_id": i} for i in input_ids],
                )
            return product_id

        return self._write(work)

    def register_products(self, records: Sequence[ProductRecord]) -> list[int]:
        """Register (or update) several products without lineage in one transaction: all of
        them or, if one is refused, none. Idempotent like :meth:`register_product`."""
        now = _now()
        rows = [
            (r, _plain(r.model_dump()) | {"created_at": now, "updated_at": now}) for r in records
        ]

        def work(conn: Connection) -> list[int]:
            for record, _ in rows:
                self._check_campaign(conn, record)
            return [_upsert_product(conn, record, values) for record, values in rows]

        return self._write(work)

    def _ids_of_paths(self, conn: Connection, paths: Sequence[str]) -> list[int]:
        if not paths:
            return []
        found = dict(conn.execute(sa.select(_P.path, _P.id).where(_P.path.in_(paths))).all())
        for path in paths:
            if path not in found:
                raise CatalogError(
                    "input product is not registered in the catalog (register it first)",
                    path=path,
                )
        return [found[p] for p in paths]

    def _in_run_campaign(self, conn: Connection, record: ProductRecord) -> ProductRecord:
        """``record`` in the campaign of the stage task registering it, when it names none.

        The stage-task factory gives every stage its run's campaign as ``DATAPIPE_CAMPAIGN``;
        a product registered without a campaign of its own (a DL2, a model set, an IRF) joins
        it if the catalog knows that campaign, so a campaign lists every product its runs made.
        """
        name = os.environ.get("DATAPIPE_CAMPAIGN")
        if record.campaign is not None or not name:
            return record
        table = schema.campaigns
        if conn.scalar(sa.select(table.c.name).where(table.c.name == name)) is None:
            return record
        return record.model_copy(update={"campaign": name})

    def _check_campaign(self, conn: Connection, record: ProductRecord) -> None:
        if record.campaign is None:
            return
        table = schema.campaigns
        if conn.scalar(sa.select(table.c.name).where(table.c.name == record.campaign)) is None:
            raise CatalogError(
                f"campaign {record.campaign!r} is not in the catalog; create it first "
                "(Catalog.ensure_campaign or `datapipe catalog campaign`)",
                path=record.path,
            )

    def _refuse_cycle(
        self, conn: Connection, product_id: int, input_ids: Sequence[int], path: str
    ) -> None:
        edges = _walk(conn, set(input_ids), depth=None, upward=True)
        reachable = set(input_ids).union(*edges.values()) if edges else set(input_ids)
        if product_id in reachable:
            raise CatalogError(
                "these inputs descend from the product itself; lineage cannot have a cycle",
                path=path,
            )

    def check_ready(self, campaign: str | None = None) -> None:
        """Fail now, as one :class:`CatalogError`, if a registration would fail later: the
        database unreachable, its schema not usable, or ``campaign`` (if given) not in it.

        Stages call it before their first event (:func:`datapipe_ops.preflight.preflight`).
        """
        with catalog_errors(self._engine):
            self._read(lambda conn: conn.execute(sa.select(sa.literal(1))).scalar())
        if campaign is not None:
            self.get_campaign(campaign)

    def find_product(self, ref: ProductRef) -> Product | None:
        """The product ``ref`` designates, or ``None`` if it is not registered."""

        def work(conn: Connection) -> Product | None:
            row = conn.execute(sa.select(schema.products).where(_ref_condition(ref))).one_or_none()
            return None if row is None else Product.model_validate(row._mapping)

        return self._read(work)

    def get_product(self, ref: ProductRef) -> Product:
        """The product ``ref`` designates; :class:`CatalogError` if it is not registered."""
        product = self.find_product(ref)
        if product is None:
            raise CatalogError("not registered in the catalog", path=_ref_label(ref))
        return product

    def list_products(
        self, query: ProductQuery | None = None, limit: int | None = None
    ) -> list[Product]:
        """The products matching ``query`` (all without one), oldest registration first."""
        conditions = product_conditions(query or ProductQuery())

        def work(conn: Connection) -> list[Product]:
            select = sa.select(schema.products).where(*conditions).order_by(_P.id).limit(limit)
            return [Product.model_validate(r._mapping) for r in conn.execute(select)]

        return self._read(work)

    def count_products(self, query: ProductQuery | None = None) -> int:
        """How many products match ``query``."""
        conditions = product_conditions(query or ProductQuery())
        select = sa.select(sa.func.count()).select_from(schema.products).where(*conditions)
        return self._read(lambda conn: int(conn.scalar(select)))

    def set_quality_flag(self, ref: ProductRef, flag: str | QualityFlag | None) -> Product:
        """Set (or clear, with ``None``) the quality flag of a product; return it updated."""
        value = parse_flag(flag)

        def work(conn: Connection) -> int:
            product_id = _resolve(conn, ref)
            conn.execute(
                sa.update(schema.products)
                .where(_P.id == product_id)
                .values(quality_flag=value and value.value, updated_at=_now())
            )
            return product_id

        return self.get_product(self._write(work))

    # ----------------------------------------------------------------------------------------
    # lineage

    def lineage(self, ref: ProductRef, depth: int | None = None) -> LineageNode:
        """The product and its inputs, recursively (``depth`` generations; ``None``: all)."""
        return self._tree(ref, depth, upward=True)

    def descendants(self, ref: ProductRef, depth: int | None = None) -> LineageNode:
        """The product and everything made from it, recursively (``depth`` generations)."""
        return self._tree(ref, depth, upward=False)

    def _tree(self, ref: ProductRef, depth: int | None, upward: bool) -> LineageNode:
        if depth is not None and depth < 0:
            raise ValueError(f"depth must be >= 0, not {depth}")

        def work(conn: Connection) -> LineageNode:
            root = _resolve(conn, ref)
            edges = _walk(conn, {root}, depth, upward)
            ids = {root}.union(*edges.values()) if edges else {root}
            products = _products_by_id(conn, ids)
            return build_tree(root, edges, products, depth, "inputs" if upward else "outputs")

        return self._read(work)

    # ----------------------------------------------------------------------------------------
    # datasets

    def create_dataset(
        self,
        name: str,
        query: ProductQuery | Mapping[str, Any],
        description: str | None = None,
    ) -> Dataset:
        """Select the products matching ``query`` into a new, immutable dataset named ``name``.

        Raises
        ------
        CatalogError
            The name is taken (datasets never change; choose a new name), is not a valid name,
            or the query matches no product.
        """
        if not _DATASET_NAME.match(name):
            raise CatalogError(
                f"invalid dataset name {name!r}: use letters, digits, '.', '_' and '-' "
                "(at most 128, starting with a letter or digit)",
                path=self.where,
            )
        if not isinstance(query, ProductQuery):
            query = build(ProductQuery, **query)
        taken = CatalogError(
            f"dataset {name!r} already exists; datasets are immutable, choose a new name",
            path=self.where,
        )
        table = schema.datasets

        def work(conn: Connection) -> None:
            if conn.scalar(sa.select(table.c.id).where(table.c.name == name)) is not None:
                raise taken
            select = (
                sa.select(_P.id, _P.sha256, _P.size_bytes)
                .where(*product_conditions(query))
                .order_by(_P.id)
            )
            rows = conn.execute(select).all()
            if not rows:
                raise CatalogError(
                    f"no product matches {query.describe()}; dataset {name!r} not created",
                    path=self.where,
                )
            dataset_id = conn.scalar(
                sa.insert(table)
                .values(
                    name=name,
                    description=description,
                    query=query.model_dump(mode="json"),
                    n_products=len(rows),
                    created_at=_now(),
                )
                .returning(table.c.id)
            )
            conn.execute(
                sa.insert(schema.dataset_members),
                [
                    {"dataset_id": dataset_id, "product_id": i, "sha256": h, "size_bytes": s}
                    for i, h, s in rows
                ],
            )

        try:
            self._write(work)
        except sa.exc.IntegrityError:  # created by someone else in the meantime
            raise taken from None
        return self.get_dataset(name)

    def get_dataset(self, name: str) -> Dataset:
        """The dataset ``name`` with its members; :class:`CatalogError` if there is none."""
        table, members = schema.datasets, schema.dataset_members

        def work(conn: Connection) -> Dataset | None:
            row = conn.execute(sa.select(table).where(table.c.name == name)).one_or_none()
            if row is None:
                return None
            select = (
                sa.select(
                    members.c.product_id,
                    _P.path,
                    _P.level,
                    members.c.sha256,
                    members.c.size_bytes,
                )
                .join(schema.products, _P.id == members.c.product_id)
                .where(members.c.dataset_id == row.id)
                .order_by(members.c.product_id)
            )
            found = tuple(DatasetMember.model_validate(r._mapping) for r in conn.execute(select))
            return Dataset.model_validate({**row._mapping, "members": found})

        dataset = self._read(work)
        if dataset is None:
            raise CatalogError(f"no dataset {name!r} in the catalog", path=self.where)
        return dataset

    def list_datasets(self) -> list[Dataset]:
        """Every dataset (without its members), oldest first."""
        table = schema.datasets

        def work(conn: Connection) -> list[Dataset]:
            rows = conn.execute(sa.select(table).order_by(table.c.id))
            return [Dataset.model_validate(r._mapping) for r in rows]

        return self._read(work)

    # ----------------------------------------------------------------------------------------
    # calibration

    def register_calibration_set(
        self,
        path: str | Path,
        valid_start: Any,
        valid_stop: Any,
        tel_ids: Sequence[int] | None = None,
        obs_id: int | None = None,
    ) -> list[CalibrationSet]:
        """Register a coefficients file valid over ``[valid_start, valid_stop]``.

        One calibration set per telescope in ``tel_ids``, or a single one valid for every
        telescope when ``tel_ids`` is ``None``. Idempotent per (file, telescope): registering
        again updates the validity. If the file is a registered product, the set links to it.
        """
        stored = normalize_path(path)
        try:
            start, stop = utc_datetime(valid_start), utc_datetime(valid_stop)
        except ValueError as exc:
            raise CatalogError(str(exc), path=stored) from None
        if start is None or stop is None or stop <= start:
            raise CatalogError(f"validity stop {stop} is not after start {start}", path=stored)
        tels: list[int | None] = [None] if tel_ids is None else sorted(set(tel_ids))
        if not tels:
            raise CatalogError("no telescope given for the calibration set", path=stored)
        table = schema.calibration_sets

        def work(conn: Connection) -> list[CalibrationSet]:
            product_id = conn.scalar(sa.select(_P.id).where(_P.path == stored))
            for tel in tels:
                insert = upsert_insert(conn, table).values(
                    tel_id=tel,
                    obs_id=obs_id,
                    valid_start=start,
                    valid_stop=stop,
                    path=stored,
                    product_id=product_id,
                    created_at=_now(),
                )
                changes = {k: insert.excluded[k] for k in ("obs_id", "valid_start", "valid_stop")}
                changes["product_id"] = insert.excluded.product_id
                conn.execute(
                    insert.on_conflict_do_update(
                        index_elements=list(schema.CALIBRATION_SET_KEY), set_=changes
                    )
                )
            tel_match = table.c.tel_id.is_(None) if tel_ids is None else table.c.tel_id.in_(tels)
            rows = conn.execute(
                sa.select(table).where(table.c.path == stored, tel_match).order_by(table.c.id)
            )
            return [CalibrationSet.model_validate(r._mapping) for r in rows]

        return self._write(work)

    def find_calibration(
        self,
        tel_ids: Sequence[int],
        start: Any,
        stop: Any,
        obs_id: int | None = None,
    ) -> dict[int, CalibrationSet] | None:
        """For each telescope, the calibration set valid over all of ``[start, stop]``.

        A set for that telescope is preferred to one for every telescope, then the one whose
        validity started last, then the last registered. With ``obs_id``, only sets for that
        observation or for none are considered. Returns ``None`` unless every telescope is
        covered (see :meth:`require_calibration` for an error naming the missing ones).
        """
        found, _ = self._calibration(tel_ids, start, stop, obs_id)
        return found

    def require_calibration(
        self,
        tel_ids: Sequence[int],
        start: Any,
        stop: Any,
        obs_id: int | None = None,
    ) -> dict[int, CalibrationSet]:
        """Like :meth:`find_calibration`, but raise :class:`CalibrationError` if a telescope
        is not covered."""
        found, missing = self._calibration(tel_ids, start, stop, obs_id)
        if found is None:
            raise CalibrationError(
                f"no calibration coefficients valid from {missing[0]} to {missing[1]} "
                f"for telescope(s) {', '.join(map(str, missing[2]))}",
                path=self.where,
            )
        return found

    def _calibration(
        self, tel_ids: Sequence[int], start: Any, stop: Any, obs_id: int | None
    ) -> tuple[dict[int, CalibrationSet] | None, tuple[datetime, datetime, list[int]]]:
        try:
            begin, end = utc_datetime(start), utc_datetime(stop)
        except ValueError as exc:
            raise CatalogError(str(exc), path=self.where) from None
        if begin is None or end is None or end < begin:
            raise CatalogError(f"invalid time range {start} – {stop}", path=self.where)
        wanted = sorted(set(tel_ids))
        table = schema.calibration_sets
        conditions = [
            table.c.valid_start <= begin,
            table.c.valid_stop >= end,
            sa.or_(table.c.tel_id.is_(None), table.c.tel_id.in_(wanted)),
        ]
        if obs_id is not None:
            conditions.append(sa.or_(table.c.obs_id.is_(None), table.c.obs_id == obs_id))

        def work(conn: Connection) -> list[CalibrationSet]:
            rows = conn.execute(sa.select(table).where(*conditions))
            return [CalibrationSet.model_validate(r._mapping) for r in rows]

        candidates = self._read(work)

        def preference(c: CalibrationSet) -> tuple[bool, datetime, int]:
            return (c.tel_id is not None, c.valid_start, c.id)

        found: dict[int, CalibrationSet] = {}
        for tel in wanted:
            usable = [c for c in candidates if c.tel_id in (None, tel)]
            if usable:
                found[tel] = max(usable, key=preference)
        missing = [tel for tel in wanted if tel not in found]
        return (None if missing else found), (begin, end, missing)

    # ----------------------------------------------------------------------------------------
    # quality

    def record_quality_metric(
        self,
        product: ProductRef,
        name: str,
        value: Any,
        unit: str | None = None,
        flag: str | QualityFlag | None = None,
    ) -> QualityMetric:
        """Record (or replace) the metric ``name`` of a product.

        ``value`` is a number or an astropy quantity (stored in ``unit`` if given, else in its
        own unit). Recording the same name again replaces the value.
        """
        try:
            number, unit = metric_value(value, unit)
        except Exception as exc:  # not a number, or a unit that does not convert
            raise CatalogError(
                f"metric {name!r}: bad value {value!r} ({exc})", path=_ref_label(product)
            ) from None
        metric = build(
            QualityMetric,
            product_id=0,
            name=name,
            value=number,
            unit=unit,
            flag=flag,
            created_at=_now(),
        )
        table = schema.quality_metrics

        def work(conn: Connection) -> int:
            product_id = _resolve(conn, product)
            row = _plain(metric.model_dump()) | {"product_id": product_id}
            row["value"] = nan_to_none(number)
            insert = upsert_insert(conn, table).values(**row)
            changes = {k: insert.excluded[k] for k in ("value", "unit", "flag", "created_at")}
            conn.execute(
                insert.on_conflict_do_update(index_elements=["product_id", "name"], set_=changes)
            )
            return product_id

        return metric.model_copy(update={"product_id": self._write(work)})

    def record_quality(
        self,
        product: ProductRef,
        metrics: Iterable[tuple[str, Any, str | None, str | QualityFlag | None]],
        flag: str | QualityFlag | None,
    ) -> int:
        """Record (or replace) several metrics ``(name, value, unit, flag)`` of a product and
        set its quality flag, in one transaction; the product's id.

        The product's flag is the worst of ``flag`` and of every metric it has on record, so a
        metric recorded by someone else (an operator's ``weather`` = bad) keeps the product bad
        when its other metrics are computed again."""
        now = _now()
        rows = []
        for name, value, unit, metric_flag in metrics:
            try:
                number, stored_unit = metric_value(value, unit)
            except Exception as exc:  # not a number, or a unit that does not convert
                raise CatalogError(
                    f"metric {name!r}: bad value {value!r} ({exc})", path=_ref_label(product)
                ) from None
            metric = build(
                QualityMetric, product_id=0, name=name, value=number, unit=stored_unit,
                flag=metric_flag, created_at=now,
            )  # fmt: skip
            rows.append(_plain(metric.model_dump()) | {"value": nan_to_none(number)})
        value = parse_flag(flag)
        table = schema.quality_metrics

        def work(conn: Connection) -> int:
            product_id = _resolve(conn, product)
            if rows:
                insert = upsert_insert(conn, table)
                changes = {k: insert.excluded[k] for k in ("value", "unit", "flag", "created_at")}
                conn.execute(
                    insert.on_conflict_do_update(
                        index_elements=["product_id", "name"], set_=changes
                    ),
                    [row | {"product_id": product_id} for row in rows],
                )
            stored = conn.scalars(
                sa.select(table.c.flag).where(table.c.product_id == product_id)
            ).all()
            worst = _worst_flag([value, *(parse_flag(f) for f in stored if f)])
            conn.execute(
                sa.update(schema.products)
                .where(_P.id == product_id)
                .values(quality_flag=worst and worst.value, updated_at=now)
            )
            return product_id

        return self._write(work)

    def metric_trend(
        self,
        name: str,
        campaign: str | None = None,
        since: datetime | str | None = None,
        level: str | None = None,
        limit: int | None = None,
    ) -> list[tuple[Product, QualityMetric]]:
        """The values of metric ``name`` over the products that have a start time (of
        ``campaign`` / ``level``, starting at or after ``since``), oldest first: one query.
        With ``limit``, the newest ``limit`` values."""
        table = schema.quality_metrics
        conditions = [table.c.name == name, _P.time_start.is_not(None)]
        if campaign:
            conditions.append(_P.campaign == campaign)
        if level:
            conditions.append(_P.level == str(level).upper())
        if since is not None:
            conditions.append(_P.time_start >= utc_datetime(since))
        metric_columns = [c.label(f"m_{c.name}") for c in table.c if c.name != "id"]
        select = (
            sa.select(schema.products, *metric_columns)
            .join(table, table.c.product_id == _P.id)
            .where(*conditions)
            .order_by(_P.time_start.desc(), _P.id.desc())
            .limit(limit)
        )

        def work(conn: Connection) -> list[tuple[Product, QualityMetric]]:
            found = []
            for row in conn.execute(select):
                values = dict(row._mapping)
                metric = {k[2:]: values.pop(k) for k in list(values) if k.startswith("m_")}
                found.append((Product.model_validate(values), _metric(metric)))
            return found[::-1]

        return self._read(work)

    def metric_names(self, campaign: str | None = None) -> list[str]:
        """The names of the metrics recorded for products with a start time (of ``campaign``)."""
        table = schema.quality_metrics
        select = (
            sa.select(table.c.name)
            .distinct()
            .join(schema.products, table.c.product_id == _P.id)
            .where(_P.time_start.is_not(None))
            .order_by(table.c.name)
        )
        if campaign:
            select = select.where(_P.campaign == campaign)
        return self._read(lambda conn: list(conn.scalars(select)))

    def quality_metrics(self, product: ProductRef) -> list[QualityMetric]:
        """The metrics of a product, by name."""
        table = schema.quality_metrics

        def work(conn: Connection) -> list[QualityMetric]:
            product_id = _resolve(conn, product)
            rows = conn.execute(
                sa.select(table).where(table.c.product_id == product_id).order_by(table.c.name)
            )
            return [_metric(r._mapping) for r in rows]

        return self._read(work)


# --------------------------------------------------------------------------------------------
# module-level helpers working on an open connection
# --------------------------------------------------------------------------------------------


def _upsert_product(conn: Connection, record: ProductRecord, values: dict[str, Any]) -> int:
    """Insert the product row, or update the given (non-None) fields of the row of its path;
    its id. A path registered with another level is refused."""
    product_id = conn.scalar(_product_upsert(conn), values)
    if product_id is None:  # the WHERE refused: registered with another level
        level = conn.scalar(sa.select(_P.level).where(_P.path == record.path))
        raise CatalogError(
            f"already registered as {level}, cannot register it as {record.level.value}",
            path=record.path,
        )
    return product_id


_FLAG_ORDER = (QualityFlag.GOOD, QualityFlag.WARNING, QualityFlag.BAD)


def _worst_flag(flags: Iterable[QualityFlag | None]) -> QualityFlag | None:
    """The worst of ``flags`` (good < warning < bad); None when none is given."""
    known = [f for f in flags if f is not None]
    return max(known, key=_FLAG_ORDER.index) if known else None


def _metric(row: Mapping[str, Any]) -> QualityMetric:
    values = dict(row)
    values.pop("id", None)
    if values["value"] is None:
        values["value"] = math.nan
    return QualityMetric.model_validate(values)


_UPSERTS: dict[str, Any] = {}


def _product_upsert(conn: Connection) -> Any:
    """INSERT … ON CONFLICT (path) DO UPDATE … RETURNING id, for this dialect, built once.

    Executed with every column as a parameter, so that SQLAlchemy compiles it once per process
    instead of building and compiling a new statement per registration (most of a
    registration's CPU time). A value that is NULL keeps the stored one; a path registered with
    another level is not updated (no row returned).
    """
    dialect = conn.dialect.name
    if dialect not in _UPSERTS:
        insert = upsert_insert(conn, schema.products)
        changes = {name: sa.func.coalesce(insert.excluded[name], _P[name]) for name in _UPDATABLE}
        changes["updated_at"] = insert.excluded.updated_at
        _UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=[_P.path], set_=changes, where=_P.level == insert.excluded.level
        ).returning(_P.id)
    return _UPSERTS[dialect]


def _ref_path(ref: str | Path | Product) -> str:
    return ref.path if isinstance(ref, Product) else normalize_path(ref)


def _ref_label(ref: ProductRef) -> str:
    if isinstance(ref, Product):
        return ref.path
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
        return f"product id {int(ref)}"
    return normalize_path(ref)


def _ref_condition(ref: ProductRef) -> sa.ColumnElement[bool]:
    if isinstance(ref, Product):
        return _P.id == ref.id
    if isinstance(ref, bool):
        raise TypeError("a product reference cannot be a bool")
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
        return _P.id == int(ref)
    return _P.path == normalize_path(ref)


def _resolve(conn: Connection, ref: ProductRef) -> int:
    product_id = conn.scalar(sa.select(_P.id).where(_ref_condition(ref)))
    if product_id is None:
        raise CatalogError("not registered in the catalog", path=_ref_label(ref))
    return product_id


def _walk(
    conn: Connection, start: set[int], depth: int | None, upward: bool
) -> dict[int, list[int]]:
    """Lineage edges reachable from ``start``, one query per generation: id → next ids."""
    here, there = (
        (schema.lineage.c.product_id, schema.lineage.c.input_product_id)
        if upward
        else (schema.lineage.c.input_product_id, schema.lineage.c.product_id)
    )
    edges: dict[int, list[int]] = defaultdict(list)
    seen, frontier, generation = set(start), set(start), 0
    while frontier and (depth is None or generation < depth):
        found: set[int] = set()
        for chunk in _chunks(frontier):
            for a, b in conn.execute(sa.select(here, there).where(here.in_(chunk))):
                edges[a].append(b)
                found.add(b)
        frontier = found - seen
        seen |= found
        generation += 1
    return dict(edges)


def _products_by_id(conn: Connection, ids: Iterable[int]) -> dict[int, Product]:
    found: dict[int, Product] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(sa.select(schema.products).where(_P.id.in_(chunk))):
            found[row.id] = Product.model_validate(row._mapping)
    return found
