"""The science check of DL3: a simulated Crab observation's spectrum, fitted with gammapy.

Simulates the Crab observation of ``include/config/simulation/observation_crab.yaml`` (``datapipe
simulate observation``), takes it to DL3 with a model set and an IRF set of zenith nodes made
from small productions (``testkit.dl3_chain``: DL0 → DL1 → DL2 → IRFs interpolated to the
observation's zenith → ``dl2-to-dl3``), then fits a power law to the 1D point-like ON/OFF
spectrum (gammapy 2.1: wobble OFF regions, RAD_MAX from the IRFs, WStat) and prints the fitted
index and flux next to the injected ones (the simulation configuration's truth), the detection
significance and a PNG of the spectrum.

    .venv/bin/python benchmarks/dl3_crab_spectrum.py [--duration 300] [-o var/bench/dl3_crab]

Cosmic rays are thrown within ``--background-cone`` (1 deg) of the pointing instead of the
configuration's 4 deg: the ON and OFF regions lie within 0.6 deg of the pointing, and the
4 deg cone costs 16 times the showers (and ~0.2 GB of DL0 per second) for events outside them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from testkit import dl3_chain, spectrum

CONFIG = "observation_crab"


def observation_yaml(background_cone_deg: float, path: Path) -> Path:
    """The Crab configuration with the cosmic rays thrown within ``background_cone_deg`` of the
    pointing (the ON and OFF regions lie within 0.6 deg of it): written to ``path``."""
    import yaml

    config = dl3_chain.observation_config(CONFIG)
    background = [
        b.model_copy(update={"viewcone_max_deg": background_cone_deg}) for b in config.background
    ]
    data = config.model_copy(update={"background": background}).model_dump(mode="json")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def simulate(config: Path, duration_s: float, directory: Path) -> tuple[Path, Path]:
    """``datapipe simulate observation`` of ``config``; its DL0 and coefficients."""
    command = [
        str(Path(sys.executable).with_name("datapipe")),
        "simulate",
        "observation",
        "-c",
        str(config),
        "--duration",
        str(duration_s),
        "-o",
        str(directory),
        "--quiet",
    ]
    subprocess.run(command, check=True)
    name = dl3_chain.observation_config(CONFIG).name
    return directory / f"{name}.dl0.h5", directory / f"{name}.coefficients.h5"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="observation [s]")
    parser.add_argument(
        "--background-cone",
        type=float,
        default=1.0,
        help="cosmic rays thrown within this many deg of the pointing (config: 4)",
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("var/bench/dl3_crab"))
    parser.add_argument("--train-gammas", type=int, default=20000)
    parser.add_argument("--train-protons", type=int, default=60000)
    parser.add_argument("--node-gammas", type=int, default=40000)
    parser.add_argument("--node-protons", type=int, default=60000)
    args = parser.parse_args(argv)
    out = args.output
    if out.exists() and any(out.iterdir()):
        parser.error(f"{out} is not empty: give a new directory")
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    start = time.perf_counter()
    sizes = dl3_chain.ChainSizes(
        train_gammas=args.train_gammas,
        train_protons=args.train_protons,
        node_gammas=args.node_gammas,
        node_protons=args.node_protons,
    )
    chain = dl3_chain.build_chain(out / "chain", sizes)
    timings["model set, cuts, IRF set"] = time.perf_counter() - start
    start = time.perf_counter()
    config_path = observation_yaml(args.background_cone, out / "observation_crab.yaml")
    dl0, coefficients = simulate(config_path, args.duration, out / "observation")
    timings["simulate observation"] = time.perf_counter() - start
    start = time.perf_counter()
    products = dl3_chain.observation_to_dl3(
        dl0, coefficients, chain, out / "products", drop_dl0=True
    )
    timings["DL0 → DL3"] = time.perf_counter() - start
    start = time.perf_counter()
    config = dl3_chain.observation_config(CONFIG)
    truth = dl3_chain.injected_power_law(config)
    fit = spectrum.fit_spectrum(
        products["dl3"].parent, config.target.ra_deg, config.target.dec_deg, truth.reference_tev
    )
    plot = out / "crab_spectrum.png"
    spectrum.plot_spectrum(
        fit,
        truth.index,
        truth.amplitude_per_tev_cm2_s,
        truth.reference_tev,
        plot,
        f"{config.target.name}, {args.duration:g} s simulated (demo subarray)",
    )
    timings["spectral analysis"] = time.perf_counter() - start
    d_index, d_amp = fit.sigma_from(truth.index, truth.amplitude_per_tev_cm2_s)
    print(
        f"observation {config.obs_id}: {args.duration:g} s of {config.target.name} "
        f"(cosmic rays within {args.background_cone:g} deg)"
    )
    print(f"{'':24}{'fitted':>26}{'injected':>14}{'pull':>8}   (flux in 1/(TeV cm2 s))")
    print(
        f"{'index':24}{fit.index:>14.3f} ± {fit.index_error:<9.3f}{truth.index:>14.3f}"
        f"{d_index:>7.2f}σ"
    )
    flux_label = f"flux at {truth.reference_tev:g} TeV"
    print(
        f"{flux_label:24}"
        f"{fit.amplitude:>10.3e} ± {fit.amplitude_error:<9.2e}"
        f"{truth.amplitude_per_tev_cm2_s:>18.3e}{d_amp:>7.2f}σ"
    )
    print(
        f"ON {fit.n_on}, OFF {fit.n_off} (alpha {fit.alpha:.3f}), excess {fit.excess:.1f}; "
        f"significance WStat {fit.significance_wstat:.1f}σ, Li & Ma {fit.significance_lima:.1f}σ"
    )
    print(f"plot: {plot}")
    for step, seconds in timings.items():
        print(f"  {step:28} {seconds:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
