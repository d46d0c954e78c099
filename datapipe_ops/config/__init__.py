"""Stage configuration: YAML files validated by pydantic models.

Each stage defines its own model (a subclass of :class:`StageConfig`) next to its code; the YAML
files live under ``include/config/``. :func:`load_config` reads and validates a file and raises a
:class:`~datapipe_ops.errors.ConfigError` naming the file and the offending key; every product
records the resolved configuration and its :func:`config_hash`.
"""

from datapipe_ops.config.loading import StageConfig, config_hash, load_config, resolved_config

__all__ = ["StageConfig", "config_hash", "load_config", "resolved_config"]
