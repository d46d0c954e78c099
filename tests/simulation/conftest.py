"""Shared fixtures of the simulation tests: small configurations on the demo subarray."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.instrument import load_site, load_subarray
from datapipe_ops.simulation.config import SimulationConfig
from datapipe_ops.simulation.pipeline import build_array
from datapipe_ops.simulation.showers import pointing_basis

ZENITH_DEG = 20.0


def small_config(**changes) -> SimulationConfig:
    """A production of 300 diffuse photons and 300 protons (changes override keys)."""
    data = {
        "name": "test",
        "seed": 7,
        "subarray": "demo",
        "chunk_size": 150,
        "pointing": {"zenith_deg": ZENITH_DEG, "azimuth_deg": 0.0},
        "particles": [
            {
                "name": "gamma",
                "particle": "gamma",
                "n_showers": 300,
                "obs_id_start": 11,
                "energy": {"min_tev": 0.1, "max_tev": 30.0, "index": -1.5},
                "max_scatter_range_m": 250.0,
                "viewcone_max_deg": 1.0,
            },
            {
                "name": "proton",
                "particle": "proton",
                "n_showers": 300,
                "obs_id_start": 21,
                "energy": {"min_tev": 0.3, "max_tev": 50.0, "index": -1.5},
                "max_scatter_range_m": 250.0,
                "viewcone_max_deg": 4.0,
            },
        ],
    }
    data.update(changes)
    return SimulationConfig.model_validate(data)


@pytest.fixture(scope="session")
def config() -> SimulationConfig:
    return small_config()


@pytest.fixture(scope="session")
def array(config):
    subarray = load_subarray("demo")
    return build_array(
        subarray, config, load_site(subarray.site).height_m, np.random.SeedSequence(99)
    )


@pytest.fixture(scope="session")
def basis() -> np.ndarray:
    return pointing_basis(np.deg2rad(90.0 - ZENITH_DEG), 0.0)
