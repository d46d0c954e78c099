"""Loading and validating YAML stage configurations."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from datapipe_ops.errors import ConfigError


class StageConfig(BaseModel):
    """Base of every stage configuration: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "<top level>"
    if error["type"] == "extra_forbidden":
        return f"unknown key '{location}'"
    if error["type"] == "missing":
        return f"missing key '{location}'"
    return f"key '{location}': {error['msg']} (got {error.get('input')!r})"


def validate_config[M: BaseModel](data: Any, model: type[M], source: str | Path) -> M:
    """Validate already-parsed config ``data`` against ``model``; errors name ``source``."""
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ConfigError(_describe(first) + more, path=source) from None


def load_config[M: BaseModel](path: str | Path | None, model: type[M]) -> M:
    """Read the YAML file ``path`` and validate it against ``model``.

    ``path=None`` gives the model's defaults. Raises :class:`ConfigError` for a missing or
    unparsable file, an unknown key or a value of the wrong type, naming the file and the key.
    """
    if path is None:
        return validate_config({}, model, "<defaults>")
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError("configuration file does not exist", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file: {exc.strerror}", path=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"not valid YAML{where}", path=path) from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError("top level must be a mapping of keys to values", path=path)
    return validate_config(data, model, path)


def resolved_config(config: BaseModel | None) -> dict[str, Any]:
    """The fully resolved configuration (defaults included) as plain JSON-able data."""
    return {} if config is None else config.model_dump(mode="json")


def config_hash(config: BaseModel | dict[str, Any] | None) -> str:
    """sha256 (hex, first 16 characters) of the canonical JSON of the resolved configuration."""
    data = config if isinstance(config, dict) else resolved_config(config)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
