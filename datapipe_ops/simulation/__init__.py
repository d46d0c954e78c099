"""The SimPipe / ACADA stand-in: simulated DL0 productions and observations.

Public API (imported lazily, so that ``import datapipe_ops.simulation.config`` stays light)::

    from datapipe_ops.simulation import (
        SimulationConfig, ObservationConfig,            # pydantic configs (config.py)
        simulate_run, simulate_production,              # production.py
        simulate_observation,                           # observation.py
    )

Modules, from the physics to the files:

``atmosphere``   isothermal atmosphere: depth ↔ height, refractive index
``showers``      primaries (energy, direction, core, X_max) and their Cherenkov emitters
``images``       emitters seen by each telescope, rendered on the pixels (numba)
``trigger``      next-neighbour telescope trigger, array trigger (numba)
``electronics``  per-pixel camera truth, pulse template, NSB and noise streams
``waveforms``    uint16 waveform synthesis (numba)
``pipeline``     one batch of showers → triggered events with true images and waveforms
``spectra``      physical spectra (pyirf) for observations
``products``     writing events, histograms and CalibPipe coefficients
``production``   runs and productions (dataset directory + manifest)
``observation``  observation blocks (DL0 without truth + truth side file)

The physics model, each formula and the number it is tuned to, is documented in
``docs/simulation.md``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "SimulationConfig": "datapipe_ops.simulation.config",
    "ObservationConfig": "datapipe_ops.simulation.config",
    "simulate_run": "datapipe_ops.simulation.production",
    "simulate_production": "datapipe_ops.simulation.production",
    "simulate_observation": "datapipe_ops.simulation.observation",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
