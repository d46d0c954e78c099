"""Paths of the DataPipe HDF5 data model (docs/architecture.md, "The data model"; the table in
docs/data-model.md), after ctapipe's table paths.

Per-telescope tables and arrays live under a group, one dataset per telescope named ``tel_001``,
``tel_002``, …; :func:`tel_path` builds those names and :func:`tel_ids_in` lists them back.
"""

from __future__ import annotations

import h5py

SCHEMA_VERSION = "1.0"
"""Data-model version written into every product; a reader accepts the same major version."""

# configuration
INSTRUMENT_GROUP = "/configuration/instrument"
# the instrument tables, named by datapipe_ops.instrument.subarray relative to INSTRUMENT_GROUP
SUBARRAY_LAYOUT = f"{INSTRUMENT_GROUP}/subarray/layout"
CAMERA_GROUP = f"{INSTRUMENT_GROUP}/camera"
OPTICS = f"{INSTRUMENT_GROUP}/telescope/optics"
SIMULATION_RUN = "/configuration/simulation/run"
OBSERVATION = "/configuration/observation/observation_block"
GTI = "/configuration/observation/gti"

# simulation truth
SHOWER = "/simulation/event/subarray/shower"
SHOWER_DISTRIBUTION = "/simulation/service/shower_distribution"
TRUE_IMAGES = "/simulation/event/telescope/images"
TRUE_PARAMETERS = "/simulation/event/telescope/parameters"

# DL0
TRIGGER = "/dl0/event/subarray/trigger"
WAVEFORMS = "/dl0/event/telescope/waveforms"
DL0_TEL_INDEX = "/dl0/event/telescope/index"
POINTING = "/dl0/monitoring/subarray/pointing"

# DL1
#: the subarray trigger table under the name ctapipe's readers use: a hard link to TRIGGER that
#: ProductWriter adds to DL1 and DL2 products (no data is duplicated)
CTAPIPE_TRIGGER = "/dl1/event/subarray/trigger"
DL1_IMAGES = "/dl1/event/telescope/images"
DL1_PARAMETERS = "/dl1/event/telescope/parameters"
COEFFICIENTS = "/dl1/monitoring/telescope/calibration/camera/coefficients"

# DL2
DL2_SUBARRAY = "/dl2/event/subarray"
DL2_TELESCOPE = "/dl2/event/telescope"
DL2_MODELS = "/dl2/service/models"

PROVENANCE = "/provenance"

DATA_LEVELS = ("DL0", "DL1", "DL2", "DL3", "CALIBRATION", "TRUTH", "MERGED")


def tel_key(tel_id: int) -> str:
    """The dataset name of a telescope: ``tel_001``."""
    return f"tel_{int(tel_id):03d}"


def tel_path(group: str, tel_id: int) -> str:
    """The full path of a telescope's table or array under ``group``."""
    return f"{group}/{tel_key(tel_id)}"


def dl2_path(kind: str, algorithm: str) -> str:
    """Path of a subarray DL2 table, ``kind`` in geometry / energy / particle_type."""
    return f"{DL2_SUBARRAY}/{kind}/{algorithm}"


def tel_ids_in(h5file: h5py.File, group: str) -> list[int]:
    """Telescope ids that have a dataset under ``group`` (empty if the group is absent)."""
    if group not in h5file:
        return []
    names = (name for name in h5file[group] if name.startswith("tel_") and "." not in name)
    return sorted(int(name[4:]) for name in names)
