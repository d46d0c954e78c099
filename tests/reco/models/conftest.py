"""Fixtures of the model tests: one small simulated production (DL1) and one model set.

The production is the demo subarray's diffuse gammas and protons (20000 and 60000 showers:
about 1100 and 550 triggered events), simulated and calibrated once per test session; the
model set (all four kinds, fast hyper-parameters) is trained once on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from datapipe_ops.reco.models.config import ModelTrainingConfig

N_SHOWERS = {"gamma_diffuse": 20000, "proton": 60000}


def fast_config(**changes) -> ModelTrainingConfig:
    """Hyper-parameters that train the small production in seconds."""
    settings = {
        "n_folds": 3,
        "lightgbm": {
            "learning_rate": 0.1,
            "num_leaves": 15,
            "num_boost_round": 300,
            "early_stopping_rounds": 20,
        },
    }
    return ModelTrainingConfig.model_validate(settings | changes)


@dataclass(frozen=True)
class Production:
    """The DL1 products of the small production."""

    gamma: Path
    proton: Path

    @property
    def paths(self) -> list[Path]:
        return [self.gamma, self.proton]


@pytest.fixture(scope="session")
def production(tmp_path_factory) -> Production:
    from datapipe_ops.calib.stage import dl0_to_dl1
    from datapipe_ops.config import load_config
    from datapipe_ops.resources import include_dir
    from datapipe_ops.simulation.config import SimulationConfig
    from datapipe_ops.simulation.production import file_seed, simulate_run

    directory = tmp_path_factory.mktemp("production")
    config = load_config(include_dir() / "config/simulation/demo.yaml", SimulationConfig)
    out = {}
    for name, n_showers in N_SHOWERS.items():
        component = config.component(name)
        dl0 = directory / f"{name}.dl0.h5"
        simulate_run(
            config,
            component,
            dl0,
            file_seed(config.seed, name, 0),
            component.obs_id_start,
            n_showers=n_showers,
            show_progress=False,
        )
        out[name] = directory / f"{name}.dl1.h5"
        dl0_to_dl1(dl0, out[name], directory / f"{name}.coefficients.h5", register=False)
    return Production(out["gamma_diffuse"], out["proton"])


@dataclass(frozen=True)
class TrainedSet:
    """The model set trained on the production, with the catalog it is registered in."""

    summary: object
    directory: Path
    catalog_url: str


@pytest.fixture(scope="session")
def trained(production, tmp_path_factory) -> TrainedSet:
    from datapipe_ops.reco.models.training import train_model_set

    root = tmp_path_factory.mktemp("models")
    catalog_url = f"sqlite:///{root / 'catalog.sqlite'}"
    summary = train_model_set(
        production.paths,
        ["energy", "gammaness", "disp", "event_type"],
        fast_config(),
        output_root=root / "sets",
        catalog_url=catalog_url,
    )
    return TrainedSet(summary, summary.directory, catalog_url)
