"""Column types of the catalog that SQLAlchemy does not have, shared by the schema and the
migration scripts (a released migration keeps using them, so they never change meaning)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC instant: ``timestamp with time zone`` on PostgreSQL, naive UTC text on SQLite.

    Values are bound as UTC (naive datetimes are taken to be UTC) and always come back as
    timezone-aware UTC datetimes, whatever the backend.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[datetime]:
        """``timestamptz`` where the backend has one, a naive timestamp elsewhere."""
        timezone = dialect.name == "postgresql"
        return dialect.type_descriptor(sa.DateTime(timezone=timezone))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; drop the zone for backends that cannot store it."""
        if value is None:
            return None
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
