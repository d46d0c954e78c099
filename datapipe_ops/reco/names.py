"""Names of the DL2 reconstruction kinds and algorithms (the ctapipe-style table paths).

A DL2 subarray table lives at ``/dl2/event/subarray/<kind>/<Algorithm>``
(:func:`datapipe_ops.io.layout.dl2_path`) and its columns are prefixed ``<Algorithm>_``; a
telescope-wise table at ``/dl2/event/telescope/<kind>/<Algorithm>/tel_NNN`` has columns
``<Algorithm>_tel_<name>``. Readers default to the names below but take them as parameters.
"""

from __future__ import annotations

from datapipe_ops.io import layout

#: reconstruction kinds: the group under /dl2/event/subarray and /dl2/event/telescope
GEOMETRY = "geometry"
ENERGY = "energy"
PARTICLE_TYPE = "particle_type"
EVENT_TYPE = "event_type"
KINDS = (GEOMETRY, ENERGY, PARTICLE_TYPE, EVENT_TYPE)

#: weighted intersection of the image axes (ctapipe HillasReconstructor's definitions)
HILLAS_INTERSECTION = "HillasIntersection"
#: the intersection combined with each telescope's disp estimate (the default DL3 direction)
STEREO_DISP = "StereoDisp"
#: energy regressors per telescope type, combined per event
ENERGY_ALGORITHM = "DataPipeEnergy"
#: gammaness classifiers per telescope type, combined per event
GAMMANESS_ALGORITHM = "DataPipeGammaness"
#: expected angular error and its quantile classes
EVENT_TYPE_ALGORITHM = "DataPipeEventType"

#: the algorithm DL3 takes its direction from unless told otherwise
DEFAULT_GEOMETRY = STEREO_DISP


def subarray_path(kind: str, algorithm: str) -> str:
    """``/dl2/event/subarray/<kind>/<algorithm>``."""
    return layout.dl2_path(kind, algorithm)


def telescope_group(kind: str, algorithm: str) -> str:
    """``/dl2/event/telescope/<kind>/<algorithm>`` (one ``tel_NNN`` table per telescope)."""
    return f"{layout.DL2_TELESCOPE}/{kind}/{algorithm}"


def column(algorithm: str, name: str) -> str:
    """Subarray column name: ``column("StereoDisp", "alt")`` → ``StereoDisp_alt``."""
    return f"{algorithm}_{name}"


def tel_column(algorithm: str, name: str) -> str:
    """Telescope-wise column name: ``<algorithm>_tel_<name>``."""
    return f"{algorithm}_tel_{name}"
