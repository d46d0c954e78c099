"""What the catalog stores and returns: immutable pydantic models.

Units and times are converted at this edge: angles may be given as astropy quantities (stored in
degrees), times as aware or naive (= UTC) datetimes, dates, ISO 8601 strings or astropy
``Time``; they always come back as aware UTC datetimes. Paths are stored absolute (URLs such as
``root://…`` are kept as given), so the same file registered from two working directories is one
product.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from datapipe_ops.checksum import sha256_file
from datapipe_ops.errors import CatalogError, InputFileError

if TYPE_CHECKING:
    from astropy.units import Quantity


class Level(StrEnum):
    """What a product is: a data level or another kind of DataPipe output."""

    DL0 = "DL0"
    DL1 = "DL1"
    DL2 = "DL2"
    DL3 = "DL3"
    IRF = "IRF"
    MODEL = "MODEL"
    BENCHMARK = "BENCHMARK"
    QUALITY = "QUALITY"
    CALIBRATION = "CALIBRATION"


class CampaignKind(StrEnum):
    """Why a campaign exists."""

    SIMULATION = "simulation"
    OBSERVATION = "observation"
    TRAINING = "training"
    REPROCESSING = "reprocessing"


class QualityFlag(StrEnum):
    """The data-quality verdict on a product or on one of its metrics."""

    GOOD = "good"
    WARNING = "warning"
    BAD = "bad"


# --------------------------------------------------------------------------------------------
# Conversions at the edge
# --------------------------------------------------------------------------------------------


def utc_datetime(value: Any) -> datetime | None:
    """``value`` as an aware UTC datetime; naive datetimes and dates are taken to be UTC.

    Accepts ``datetime``, ``date`` (midnight), ISO 8601 strings (``Z`` allowed) and astropy
    ``Time``; ``None`` and ``""`` give ``None``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, str):
        try:
            return utc_datetime(datetime.fromisoformat(value.strip()))
        except ValueError:
            raise ValueError(f"not an ISO 8601 date or time: {value!r}") from None
    if hasattr(value, "utc") and hasattr(value, "to_datetime"):  # astropy.time.Time
        return value.utc.to_datetime(timezone=UTC)
    raise ValueError(f"not a date or time: {value!r}")


def _date_or_utc_datetime(value: Any) -> date | datetime | None:
    """A bare date stays a date (a whole UTC day); anything else becomes a UTC datetime."""
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO 8601 date: {value!r}") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return utc_datetime(value)


def degrees(value: Any) -> float | None:
    """An angle in degrees: an astropy quantity is converted, a plain number taken as degrees."""
    if value is None:
        return None
    if hasattr(value, "to_value") and hasattr(value, "unit"):
        try:
            return float(value.to_value("deg"))
        except Exception as exc:  # astropy UnitConversionError, with no import here
            raise ValueError(f"not an angle ({exc})") from None
    return float(value)


def normalize_path(value: str | os.PathLike[str]) -> str:
    """The stored form of a product path: absolute and normalised; URLs are kept as given."""
    text = os.fspath(value).strip()
    if not text:
        raise ValueError("empty path")
    if "://" in text:
        return text
    return os.path.abspath(os.path.expanduser(text))


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _empty_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


UTCTime = Annotated[datetime | None, BeforeValidator(utc_datetime)]
DateOrTime = Annotated[date | datetime | None, BeforeValidator(_date_or_utc_datetime)]
Degrees = Annotated[float | None, BeforeValidator(degrees)]
StoredPath = Annotated[str, BeforeValidator(normalize_path)]
LevelName = Annotated[Level, BeforeValidator(_upper)]
Flag = Annotated[QualityFlag | None, BeforeValidator(_lower), BeforeValidator(_empty_to_none)]
Text = Annotated[str | None, BeforeValidator(_empty_to_none)]
Lowercase = Annotated[str | None, BeforeValidator(_lower), BeforeValidator(_empty_to_none)]

_FROZEN = ConfigDict(extra="forbid", frozen=True)


def parse_flag(value: str | QualityFlag | None) -> QualityFlag | None:
    """A quality flag from its name (any case); ``None`` or ``""`` give ``None``."""
    if value is None or isinstance(value, QualityFlag) or not str(value).strip():
        return value or None
    try:
        return QualityFlag(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(f.value for f in QualityFlag)
        raise CatalogError(f"quality flag must be one of {choices}, not {value!r}") from None


def first_problem(exc: ValidationError) -> str:
    """One line out of a pydantic error: ``field: message (got value)``."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    got = f" (got {error['input']!r})" if error["type"] != "missing" else ""
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return f"{where}: {message}{got}{more}" if where else f"{message}{more}"


# --------------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------------


def orchestration_context() -> dict[str, str]:
    """The Airflow DAG, run and task ids of the running task, from its environment.

    Airflow exports ``AIRFLOW_CTX_DAG_ID``, ``AIRFLOW_CTX_DAG_RUN_ID`` and
    ``AIRFLOW_CTX_TASK_ID`` to the processes it starts (the stage-task factory passes them to
    pods too); outside Airflow the result is empty. Reading them imports nothing from Airflow.
    """
    names = {"dag_id": "AIRFLOW_CTX_DAG_ID", "run_id": "AIRFLOW_CTX_DAG_RUN_ID"}
    names["task_id"] = "AIRFLOW_CTX_TASK_ID"
    return {key: os.environ[env] for key, env in names.items() if os.environ.get(env)}


class ProductRecord(BaseModel):
    """A data product as a stage registers it: the file and what it holds.

    Only ``path`` and ``level`` are required. ``None`` means "not known": when a registered path
    is registered again, ``None`` fields keep their stored value.
    """

    model_config = _FROZEN

    path: StoredPath
    level: LevelName
    kind: Text = None
    campaign: Text = None
    sha256: Annotated[str | None, BeforeValidator(_lower)] = Field(None, pattern=r"^[0-9a-f]{64}$")
    size_bytes: int | None = Field(None, ge=0)
    n_events: int | None = Field(None, ge=0)
    particle: Lowercase = None
    obs_id: int | None = None
    zenith_deg: Degrees = Field(None, ge=0.0, le=90.0)
    azimuth_deg: Degrees = None
    time_start: UTCTime = None
    time_stop: UTCTime = None
    config_hash: Text = None
    software_version: Text = None
    dag_id: Text = None
    run_id: Text = None
    task_id: Text = None
    quality_flag: Flag = None
    #: where the product was delivered in the BDMS (a Rucio DID ``scope:name``)
    bdms_did: Text = None

    @model_validator(mode="after")
    def _times_in_order(self) -> Self:
        if self.time_start and self.time_stop and self.time_stop < self.time_start:
            raise ValueError("time_stop is before time_start")
        return self

    @classmethod
    def from_file(cls, path: str | Path, *, level: str | Level, **fields: Any) -> ProductRecord:
        """The record of an existing file: sha256 and size computed, the rest from ``fields``.

        ``software_version`` defaults to this package's version and ``dag_id`` / ``run_id`` /
        ``task_id`` to the Airflow task running this process (:func:`orchestration_context`).
        Raises :class:`~datapipe_ops.errors.InputFileError` if ``path`` is not a readable file,
        :class:`~datapipe_ops.errors.CatalogError` if a field is invalid.
        """
        from datapipe_ops import __version__

        path = Path(path)
        if not path.is_file():
            problem = "is a directory, not a file" if path.is_dir() else "no such file"
            raise InputFileError(problem, path=path)
        try:
            size, digest = path.stat().st_size, sha256_file(path)
        except OSError as exc:
            raise InputFileError(f"cannot read: {exc.strerror}", path=path) from None
        values = {"software_version": __version__, **orchestration_context(), **fields}
        return build(cls, path=path, level=level, sha256=digest, size_bytes=size, **values)


class Product(ProductRecord):
    """A registered product: the record plus its catalog id and timestamps."""

    id: int
    created_at: UTCTime
    updated_at: UTCTime


def build[M: BaseModel](model: type[M], **values: Any) -> M:
    """``model(**values)``, with a validation problem raised as one-line :class:`CatalogError`."""
    try:
        return model(**values)
    except ValidationError as exc:
        raise CatalogError(first_problem(exc), path=values.get("path")) from None


# --------------------------------------------------------------------------------------------
# Queries and datasets
# --------------------------------------------------------------------------------------------


class ProductQuery(BaseModel):
    """Which products to select; every given criterion must hold (AND).

    ``zenith_min`` / ``zenith_max`` bound ``zenith_deg`` (inclusive; degrees or an astropy
    angle). ``start`` / ``stop`` bound ``time_start``: a date means the whole UTC day (``stop``
    inclusive), a datetime the instant. A product lacking a value a criterion needs (no zenith,
    no time) does not match it. ``exclude_bad`` drops products flagged ``bad`` and keeps the
    unflagged ones; ``quality_flag`` asks for one flag exactly.
    """

    model_config = _FROZEN

    level: Annotated[Level | None, BeforeValidator(_upper)] = None
    campaign: Text = None
    kind: Text = None
    particle: Lowercase = None
    zenith_min: Degrees = Field(None, ge=0.0, le=90.0)
    zenith_max: Degrees = Field(None, ge=0.0, le=90.0)
    start: DateOrTime = None
    stop: DateOrTime = None
    quality_flag: Flag = None
    exclude_bad: bool = False
    obs_ids: tuple[int, ...] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (
            self.zenith_min is not None
            and self.zenith_max is not None
            and self.zenith_min > self.zenith_max
        ):
            raise ValueError(f"zenith_min {self.zenith_min} is above zenith_max {self.zenith_max}")
        start, stop = self.time_bounds()
        if start is not None and stop is not None and (
            stop <= start if self.stop_is_exclusive() else stop < start
        ):
            raise ValueError(f"stop {self.stop} is before start {self.start}")
        if self.exclude_bad and self.quality_flag is QualityFlag.BAD:
            raise ValueError("quality_flag='bad' contradicts exclude_bad")
        return self

    def time_bounds(self) -> tuple[datetime | None, datetime | None]:
        """``(lowest, highest-or-next-day)`` instants for ``time_start``.

        ``stop`` as a date becomes the next midnight, to be compared with ``<``; as a
        datetime it is compared with ``<=`` (see :func:`stop_is_exclusive`).
        """
        start = utc_datetime(self.start) if self.start is not None else None
        stop = None
        if isinstance(self.stop, datetime):
            stop = self.stop
        elif self.stop is not None:
            stop = datetime.combine(self.stop + timedelta(days=1), time(), tzinfo=UTC)
        return start, stop

    def stop_is_exclusive(self) -> bool:
        """True when ``stop`` is a date (the bound is the following midnight, excluded)."""
        return self.stop is not None and not isinstance(self.stop, datetime)

    def describe(self) -> str:
        """The criteria as ``key=value`` pairs, for messages."""
        given = self.model_dump(mode="json", exclude_defaults=True)
        return " ".join(f"{k}={v}" for k, v in given.items()) or "(everything)"


class Campaign(BaseModel):
    """A named production or observation campaign products belong to."""

    model_config = _FROZEN

    name: str
    kind: CampaignKind
    description: str | None = None
    created_at: UTCTime = None


class DatasetMember(BaseModel):
    """One product of a dataset, with its checksum as it was when the dataset was created."""

    model_config = _FROZEN

    product_id: int
    path: str
    level: Level
    sha256: str | None
    size_bytes: int | None


class Dataset(BaseModel):
    """A named, immutable selection of products (UC-130-1.1).

    ``members`` is filled by :meth:`~datapipe_ops.catalog.Catalog.get_dataset` and ``None`` in
    the summaries of :meth:`~datapipe_ops.catalog.Catalog.list_datasets`.
    """

    model_config = _FROZEN

    id: int
    name: str
    description: str | None
    query: ProductQuery
    n_products: int
    created_at: UTCTime
    members: tuple[DatasetMember, ...] | None = None

    @property
    def paths(self) -> list[str]:
        """The member paths, in catalog order."""
        return [m.path for m in self.members or ()]

    @property
    def size_bytes(self) -> int:
        """Total size of the members (those with a known size)."""
        return sum(m.size_bytes or 0 for m in self.members or ())


# --------------------------------------------------------------------------------------------
# Calibration and quality
# --------------------------------------------------------------------------------------------


class CalibrationSet(BaseModel):
    """Camera calibration coefficients valid for one telescope (or all) over a time range."""

    model_config = _FROZEN

    id: int
    tel_id: int | None
    obs_id: int | None
    valid_start: UTCTime
    valid_stop: UTCTime
    path: str
    product_id: int | None
    created_at: UTCTime


class QualityMetric(BaseModel):
    """One data-quality number of a product."""

    model_config = _FROZEN

    product_id: int
    name: str
    value: float
    unit: str | None = None
    flag: Flag = None
    created_at: UTCTime = None

    @property
    def quantity(self) -> Quantity:
        """The value with its unit, as an astropy quantity (dimensionless without a unit)."""
        import astropy.units as u

        return u.Quantity(self.value, self.unit or u.dimensionless_unscaled)


def metric_value(value: Any, unit: str | None) -> tuple[float, str | None]:
    """``(number, unit)`` to store for a metric given as a float or an astropy quantity.

    A quantity is converted to ``unit`` when one is given, else stored in its own unit.
    """
    if hasattr(value, "unit") and hasattr(value, "to_value"):
        unit = unit or value.unit.to_string()
        return float(value.to_value(unit)), unit or None
    number = float(value)
    return number, unit


def nan_to_none(value: float) -> float | None:
    """NaN is stored as NULL (SQLite cannot store NaN)."""
    return None if math.isnan(value) else value
