"""The outside world of the campaign tests and the Airflow demo, made small: a SimPipe production
and observation nights delivered into the BDMS stand-in (or uploaded from there into Rucio),
coefficients registered as CalibPipe would. Everything goes through the real ``datapipe
simulate`` command and the catalog API."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SIMULATION_CONFIGS = ROOT / "include" / "config" / "simulation"
DATAPIPE = str(Path(sys.executable).with_name("datapipe"))


def datapipe(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``datapipe <args>``; fail with its error output."""
    import os

    result = subprocess.run(
        [DATAPIPE, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if result.returncode != 0:
        raise RuntimeError(f"datapipe {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def tiny_production(
    bdms_root: Path, name: str = "tiny", n_files: int = 2, n_showers: int = 400
) -> str:
    """A production of ``n_files`` small gamma runs; returns its dataset name in BDMS."""
    config = yaml.safe_load((SIMULATION_CONFIGS / "demo.yaml").read_text())
    config["name"] = name
    config["particles"] = [dict(config["particles"][0], n_files=n_files, n_showers=n_showers)]
    path = bdms_root / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    dataset = f"simulation/{name}"
    datapipe("simulate", "production", "-c", str(path), "-o", str(bdms_root / dataset), "-q")
    return dataset


def small_production(
    bdms_root: Path,
    name: str,
    showers: dict[str, int],
    base: str = "demo",
    zenith_deg: float | None = None,
) -> str:
    """A production of one file per component of ``base`` named in ``showers`` (component →
    number of showers), optionally at another zenith; returns its dataset name in BDMS."""
    config = yaml.safe_load((SIMULATION_CONFIGS / f"{base}.yaml").read_text())
    config["name"] = name
    config["particles"] = [
        dict(p, n_files=1, n_showers=showers[p["name"]])
        for p in config["particles"]
        if p["name"] in showers
    ]
    if zenith_deg is not None:
        config["pointing"] = dict(config["pointing"], zenith_deg=zenith_deg)
    path = bdms_root / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    dataset = f"simulation/{name}"
    datapipe("simulate", "production", "-c", str(path), "-o", str(bdms_root / dataset), "-q")
    return dataset


def simulated_night(
    bdms_root: Path,
    night: str,
    n_blocks: int = 1,
    duration_s: float = 20.0,
    obs_id_start: int = 30001,
    start_hour: int = 22,
) -> list[Path]:
    """Observation blocks of the Crab (no cosmic-ray background: small files) during the night
    of ``night``, one an hour from ``start_hour`` (hours after the evening's midnight: 26 is
    02:00 the next morning, near the Crab's culmination in November, zenith ~8 deg), each
    delivered as a dataset ``observation/<night>/block<k>``; returns the coefficient files."""
    base = yaml.safe_load((SIMULATION_CONFIGS / "observation_crab.yaml").read_text())
    coefficients = []
    for k in range(n_blocks):
        config = dict(
            base,
            name=f"block{k + 1}",
            obs_id=obs_id_start + k,
            start_time=(
                datetime.fromisoformat(night) + timedelta(hours=start_hour + k)
            ).isoformat(),
            background=[],
        )
        path = bdms_root / "configs" / f"{night}-block{k + 1}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config))
        directory = bdms_root / "observation" / night / f"block{k + 1}"
        datapipe(
            "simulate", "observation", "-c", str(path), "-o", str(directory),
            "--duration", str(duration_s), "-q",
        )  # fmt: skip
        coefficients.append(directory / f"block{k + 1}.coefficients.h5")
    return coefficients


def register_coefficients(catalog_url: str, coefficients: list[Path]) -> None:
    """What CalibPipe does: register each coefficients file with its validity (read from it)."""
    from datapipe_ops.catalog import Catalog
    from datapipe_ops.io import layout, open_product, tel_ids_in
    from datapipe_ops.io.coefficients import read_coefficients

    with Catalog(catalog_url) as catalog:
        for path in coefficients:
            with open_product(path) as h5:
                tel_ids = tel_ids_in(h5, layout.COEFFICIENTS)
                table, valid_until = read_coefficients(h5, tel_ids[0])
            start, stop = table["time"][0].utc.isot, valid_until.utc.isot
            catalog.register_calibration_set(path, start, stop, tel_ids=tel_ids)


def into_rucio(backend, directory: Path, dataset: str, container: str | None = None) -> str:
    """SimPipe's or ACADA's delivery into Rucio: the stand-in dataset written in ``directory``
    uploaded into the Rucio dataset ``dataset`` (``scope:name``), attached to ``container`` (a
    night) when given; returns the dataset."""
    backend.deliver_manifest_dataset(directory, dataset, container=container)
    return dataset


#: Hyper-parameters that train the small production in seconds.
FAST_TRAINING = (
    "n_folds: 2\n"
    "lightgbm: {learning_rate: 0.2, num_leaves: 15, num_boost_round: 100, "
    "early_stopping_rounds: 10}\n"
)
#: The zenith nodes of the small IRF set: they bracket a Crab block near culmination.
IRF_ZENITHS = (0.0, 20.0)


def _small_production(work: Path, name: str, particles: list[dict], **changes) -> Path:
    """A production of the demo subarray, from demo.yaml with ``particles`` (1 file each)."""
    config = yaml.safe_load((SIMULATION_CONFIGS / "demo.yaml").read_text())
    config.update(name=name, particles=particles, **changes)
    path = work / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    out = work / "simulation" / name
    datapipe("simulate", "production", "-c", str(path), "-o", str(out), "-q")
    return out


def _calibrate(production: Path, out: Path, model_set: str | None = None) -> list[Path]:
    """DL1 (and DL2 with ``model_set``) of every DL0 file of a production; the last level."""
    outputs = []
    for dl0 in sorted(production.glob("*.dl0.h5")):
        stem = dl0.name.removesuffix(".dl0.h5")
        dl1 = out / f"{stem}.dl1.h5"
        coefficients = production / f"{stem}.coefficients.h5"
        datapipe("dl0-to-dl1", "-i", str(dl0), "-o", str(dl1), "--coefficients",
                 str(coefficients), "-q")  # fmt: skip
        if model_set is None:
            outputs.append(dl1)
            continue
        dl2 = out / f"{stem}.dl2.h5"
        datapipe("dl1-to-dl2", "-i", str(dl1), "-o", str(dl2), "--model-set", model_set, "-q")
        outputs.append(dl2)
    return outputs


def small_model_and_irf_sets(work: Path) -> dict[str, str]:
    """A model set trained on a small production and an IRF set of two zenith nodes
    (:data:`IRF_ZENITHS`), made with the CLI and registered in the catalog of the environment
    (``DATAPIPE_CATALOG_URL``); returns ``{"model_set_id", "irf_set_id"}``."""
    demo = yaml.safe_load((SIMULATION_CONFIGS / "demo.yaml").read_text())
    gamma, proton = demo["particles"]
    training = _small_production(
        work, "training-small",
        [dict(gamma, n_files=1, n_showers=20000), dict(proton, n_files=1, n_showers=60000)],
    )  # fmt: skip
    fast = work / "configs" / "fast-training.yaml"
    fast.write_text(FAST_TRAINING)
    trained = _calibrate(training, work / "training-dl1")
    inputs = [arg for path in trained for arg in ("-i", str(path))]
    out = datapipe("train", "energy", "gammaness", "disp", "event-type", *inputs,
                   "-c", str(fast), "--seed", "1")  # fmt: skip
    model_set = out.split()[2]
    point = {k: v for k, v in gamma.items() if not k.startswith("viewcone")}
    nodes: dict[float, list[Path]] = {}
    for zenith in IRF_ZENITHS:
        name = f"irf-small-z{zenith:g}"
        particles = [
            dict(point, name="gamma_point", n_files=1, n_showers=20000, offset_deg=0.4,
                 obs_id_start=3000 + int(zenith) * 10),
            dict(proton, n_files=1, n_showers=40000, obs_id_start=4000 + int(zenith) * 10),
        ]  # fmt: skip
        production = _small_production(
            work, name, particles, pointing={"zenith_deg": zenith, "azimuth_deg": 0.0},
            seed=7000 + int(zenith),
        )  # fmt: skip
        nodes[zenith] = _calibrate(production, work / name, model_set)
    cuts = work / "irf" / "cuts.fits"
    cuts.parent.mkdir(parents=True, exist_ok=True)
    last = nodes[IRF_ZENITHS[-1]]
    datapipe("optimize-cuts", "--gammas", str(last[0]), "--protons", str(last[1]),
             "-o", str(cuts))  # fmt: skip
    irfs = []
    for zenith, (gammas, protons) in nodes.items():
        irf = work / "irf" / f"irf_z{zenith:g}.fits"
        datapipe("compute-irf", "--gammas", str(gammas), "--protons", str(protons),
                 "--cuts", str(cuts), "-o", str(irf))  # fmt: skip
        irfs.append(irf)
    out = datapipe("irf-set", "create", *(arg for irf in irfs for arg in ("--irf", str(irf))))
    return {"model_set_id": model_set, "irf_set_id": out.strip().splitlines()[-1].strip()}
