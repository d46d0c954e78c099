"""Small productions taken through the whole chain to DL3, for tests and benchmarks.

:func:`build_chain` makes, in one directory with its own catalog, what an observation needs to
reach DL3: a model set trained on a small demo production (diffuse gammas and protons), cuts
(fixed gammaness efficiency and theta containment) and an IRF set of zenith nodes (point-like
gammas at the wobble offset and protons, each node taken DL0 → DL1 → DL2 with the model set).
:func:`observation_to_dl3` is the production step of one observation: DL0 → DL1 → DL2 →
IRFs interpolated to its zenith → DL3. :func:`injected_power_law` reads the simulated source
spectrum (the truth) from an observation configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Hyper-parameters that train the small production in seconds.
FAST_TRAINING = {
    "n_folds": 3,
    "lightgbm": {
        "learning_rate": 0.1,
        "num_leaves": 15,
        "num_boost_round": 300,
        "early_stopping_rounds": 20,
    },
}
#: The cuts of the chain: fixed efficiencies (no background needed, stable on small samples);
#: empty bins get a 0.2 deg theta cut, so that wobble OFF regions at 0.4 deg never overlap ON.
CUTS = {"method": "efficiency", "theta_max_deg": 0.2}


@dataclass(frozen=True)
class ChainSizes:
    """Thrown showers of the small productions."""

    train_gammas: int = 20000
    train_protons: int = 60000
    node_gammas: int = 20000
    node_protons: int = 20000
    node_zeniths: tuple[float, ...] = (2.0, 20.0)


@dataclass(frozen=True)
class Chain:
    """A model set, its cuts and an IRF set, registered in the chain's own catalog."""

    directory: Path
    catalog_url: str
    model_set_id: str
    model_set_dir: Path
    cuts: Path
    irf_nodes: dict[float, Path]
    node_dl2: dict[float, dict[str, list[Path]]] = field(default_factory=dict)


def irf_config():
    """The IRF configuration of the chain (efficiency cuts, default binning)."""
    from datapipe_ops.irf.config import IRFConfig

    return IRFConfig.model_validate({"cuts": CUTS})


def _production_config(name: str):
    from datapipe_ops.config import load_config
    from datapipe_ops.resources import include_dir
    from datapipe_ops.simulation.config import SimulationConfig

    return load_config(include_dir() / f"config/simulation/{name}.yaml", SimulationConfig)


def simulate_dl1(config, component: str, directory: Path, n_showers: int, seed: int = 0) -> Path:
    """One run of ``component`` of the production ``config``, simulated and taken to DL1."""
    from datapipe_ops.calib.stage import dl0_to_dl1
    from datapipe_ops.simulation.production import file_seed, simulate_run

    part = config.component(component)
    directory.mkdir(parents=True, exist_ok=True)
    dl0 = directory / f"{component}.dl0.h5"
    summary = simulate_run(
        config,
        part,
        dl0,
        file_seed(config.seed + seed, component, 0),
        part.obs_id_start,
        n_showers=n_showers,
        show_progress=False,
    )
    dl1 = directory / f"{component}.dl1.h5"
    dl0_to_dl1(dl0, dl1, summary.coefficients_path, register=False)
    return dl1


def train_small_model_set(directory: Path, catalog_url: str, sizes: ChainSizes):
    """A model set (energy, gammaness, disp, event type) trained on a small demo production."""
    from datapipe_ops.reco.models.config import ModelTrainingConfig
    from datapipe_ops.reco.models.training import train_model_set

    demo = _production_config("demo")
    paths = [
        simulate_dl1(demo, "gamma_diffuse", directory / "training", sizes.train_gammas),
        simulate_dl1(demo, "proton", directory / "training", sizes.train_protons),
    ]
    return train_model_set(
        paths,
        ["energy", "gammaness", "disp", "event_type"],
        ModelTrainingConfig.model_validate(FAST_TRAINING),
        output_root=directory / "model_sets",
        catalog_url=catalog_url,
    )


def node_dl2(
    directory: Path, zenith_deg: float, model_set: Path, sizes: ChainSizes, catalog_url: str
) -> dict[str, list[Path]]:
    """Point-like gammas (0.4 deg offset) and protons at ``zenith_deg``, taken to DL2."""
    from datapipe_ops.reco.stage import dl1_to_dl2

    base = _production_config("irf_zenith20")
    config = base.model_copy(
        update={
            "name": f"irf_zenith{zenith_deg:g}",
            "pointing": base.pointing.model_copy(update={"zenith_deg": float(zenith_deg)}),
        }
    )
    out: dict[str, list[Path]] = {}
    for component, particle, n in (
        ("gamma_point", "gamma", sizes.node_gammas),
        ("proton", "proton", sizes.node_protons),
    ):
        dl1 = simulate_dl1(config, component, directory, n, seed=int(zenith_deg))
        dl2 = dl1.with_name(f"{component}.dl2.h5")
        dl1_to_dl2(dl1, dl2, model_set=model_set, catalog_url=catalog_url)
        out[particle] = [dl2]
    return out


def build_chain(directory: Path, sizes: ChainSizes | None = None) -> Chain:
    """Model set, cuts and IRF set of small productions, in ``directory`` (own catalog)."""
    from datapipe_ops.irf.stage import compute_irf, optimize_cuts

    sizes = sizes or ChainSizes()
    directory.mkdir(parents=True, exist_ok=True)
    catalog_url = f"sqlite:///{directory / 'catalog.sqlite'}"
    trained = train_small_model_set(directory, catalog_url, sizes)
    config = irf_config()
    nodes = {
        zd: node_dl2(directory / f"zd{zd:g}", zd, trained.directory, sizes, catalog_url)
        for zd in sizes.node_zeniths
    }
    cuts = directory / "cuts.fits"
    optimize_cuts(nodes[sizes.node_zeniths[-1]], cuts, config, catalog_url=catalog_url)
    irfs = {}
    for zd, files in nodes.items():
        irfs[zd] = directory / f"irf_zd{zd:g}.fits.gz"
        compute_irf(files, cuts, irfs[zd], config, catalog_url=catalog_url)
    return Chain(
        directory=directory,
        catalog_url=catalog_url,
        model_set_id=trained.model_set_id,
        model_set_dir=trained.directory,
        cuts=cuts,
        irf_nodes=irfs,
        node_dl2=nodes,
    )


def observation_config(name: str = "observation_crab", **changes):
    """An observation configuration of ``include/config/simulation`` with ``changes``."""
    from datapipe_ops.config import load_config
    from datapipe_ops.resources import include_dir
    from datapipe_ops.simulation.config import ObservationConfig

    config = load_config(include_dir() / f"config/simulation/{name}.yaml", ObservationConfig)
    return config.model_copy(update=changes) if changes else config


def bright_small_observation(duration_s: float = 10.0, brightness: float = 10.0):
    """The Crab observation made small for tests: a power law ``brightness`` times the Crab's
    normalisation (HEGRA index), and cosmic rays only within 1 deg of the pointing."""
    from pyirf.spectral import CRAB_HEGRA

    base = observation_config()
    norm = CRAB_HEGRA.normalization.to_value("1 / (TeV cm2 s)")
    target = base.target.model_copy(
        update={
            "spectrum": "power_law",
            "power_law_normalization_per_tev_cm2_s": brightness * norm,
            "power_law_index": float(CRAB_HEGRA.index),
        }
    )
    background = [b.model_copy(update={"viewcone_max_deg": 1.0}) for b in base.background]
    return base.model_copy(
        update={
            "name": "bright_observation",
            "target": target,
            "background": background,
            "duration_s": float(duration_s),
        }
    )


@dataclass(frozen=True)
class InjectedPowerLaw:
    """The simulated source spectrum: dN/dE = amplitude (E / reference)^-index."""

    index: float
    amplitude_per_tev_cm2_s: float
    reference_tev: float = 1.0


def injected_power_law(config) -> InjectedPowerLaw:
    """The target spectrum of an observation configuration (the truth of the simulation)."""
    import pyirf.spectral

    target = config.target
    if target.spectrum == "power_law":
        return InjectedPowerLaw(
            -float(target.power_law_index), float(target.power_law_normalization_per_tev_cm2_s)
        )
    spectrum = getattr(pyirf.spectral, target.spectrum)
    return InjectedPowerLaw(
        -float(spectrum.index),
        float(spectrum.normalization.to_value("1 / (TeV cm2 s)")),
        float(spectrum.e_ref.to_value("TeV")),
    )


def simulate_observation_dl0(config, directory: Path):
    """Simulate the observation block of ``config`` into ``directory`` (DL0 + coefficients)."""
    from datapipe_ops.simulation.observation import simulate_observation

    return simulate_observation(config, directory, show_progress=False)


def observation_to_dl3(
    dl0: Path,
    coefficients: Path,
    chain: Chain,
    directory: Path,
    irf_nodes: Sequence[Path] | None = None,
    drop_dl0: bool = False,
) -> dict[str, Path]:
    """The production step of one observation: DL0 → DL1 → DL2 with the chain's model set →
    the IRF set interpolated to its zenith → DL3 in ``directory/dl3`` (indexed). Every product
    is registered in the chain's catalog (``drop_dl0``: the DL0 file is deleted once its DL1
    exists, to save disk). Returns the paths of dl1, dl2, irf and dl3."""
    from datapipe_ops.calib.stage import dl0_to_dl1
    from datapipe_ops.dl3.stage import dl2_to_dl3
    from datapipe_ops.irf.interpolation import interpolate_irf
    from datapipe_ops.reco.stage import dl1_to_dl2

    directory.mkdir(parents=True, exist_ok=True)
    stem = dl0.name.removesuffix(".dl0.h5")
    url = chain.catalog_url
    out = {
        "dl1": directory / f"{stem}.dl1.h5",
        "dl2": directory / f"{stem}.dl2.h5",
        "irf": directory / f"{stem}.irf.fits.gz",
        "dl3": directory / "dl3" / f"{stem}.fits.gz",
    }
    out["dl3"].parent.mkdir(exist_ok=True)
    dl0_to_dl1(dl0, out["dl1"], coefficients, catalog_url=url)
    if drop_dl0:
        dl0.unlink()
    dl1_to_dl2(out["dl1"], out["dl2"], model_set=chain.model_set_dir, catalog_url=url)
    nodes = list(irf_nodes or chain.irf_nodes.values())
    interpolate_irf(nodes, out["irf"], dl2=out["dl2"], catalog_url=url)
    dl2_to_dl3(out["dl2"], chain.cuts, out["irf"], out["dl3"], catalog_url=url)
    return out
