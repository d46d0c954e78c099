"""The outside world of the campaign tests and the Airflow demo, made small: a SimPipe production
and observation nights delivered into the BDMS stand-in (or uploaded from there into Rucio),
coefficients registered as CalibPipe would. Everything goes through the real ``datapipe
simulate`` command and the catalog API."""

from __future__ import annotations

import subprocess
import sys
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
) -> list[Path]:
    """Observation blocks of the Crab (no cosmic-ray background: small files) during the night
    of ``night``, each delivered as a dataset ``observation/<night>/block<k>``; returns the
    coefficient files."""
    base = yaml.safe_load((SIMULATION_CONFIGS / "observation_crab.yaml").read_text())
    coefficients = []
    for k in range(n_blocks):
        config = dict(
            base,
            name=f"block{k + 1}",
            obs_id=obs_id_start + k,
            start_time=f"{night}T2{2 + k}:00:00",
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
