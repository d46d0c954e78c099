"""``datapipe tailored-irf``: the IRFs of one observation, simulated for its own conditions.

For one observation DL2 product: read its pointing track (alt/az over its good time
intervals), its NSB level and wobble offset, its model set; simulate a small production along
that track (the SimPipe stand-in: point-like gammas at the wobble offset, protons, optionally
electrons; one run per part of the track), take it DL0 → DL1 → DL2 with the observation's model
set and compute its IRFs with the given cuts (``compute-irf``). The intermediate files live in a
work directory removed on success and on failure; the IRF product is written atomically and
registered with lineage to the observation's DL2, the model set and the cuts.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.time import Time

from datapipe_ops.errors import InputFileError
from datapipe_ops.io import layout, open_product, read_table
from datapipe_ops.io.instrument import read_subarray
from datapipe_ops.io.outputs import check_output, check_writable_directory
from datapipe_ops.irf.cuts import read_cuts
from datapipe_ops.irf.events import model_set_id, pointing_columns
from datapipe_ops.tailored.config import TailoredConfig

STAGE = "tailored-irf"
#: obs_id of the first run of each particle in the tailored production (work directory only)
OBS_ID_START = {"gamma": 1, "proton": 1001, "electron": 2001}


@dataclass(frozen=True)
class PointingPart:
    """One part of the pointing track: its start time and mean alt/az [deg]."""

    start: Time
    altitude_deg: float
    azimuth_deg: float

    @property
    def zenith_deg(self) -> float:
        """90 deg minus the altitude."""
        return 90.0 - self.altitude_deg


@dataclass(frozen=True)
class Conditions:
    """What the tailored simulation copies from the observation."""

    obs_id: int
    model_set_id: str
    nsb_level: float
    wobble_offset_deg: float
    tel_ids: tuple[int, ...]
    mean_zenith_deg: float
    parts: list[PointingPart]


@dataclass
class TailoredSummary:
    """What :func:`tailored_irf` wrote."""

    output: Path
    obs_id: int
    zenith_deg: float
    n_runs: int
    product_id: int | None = None

    @property
    def details(self) -> str:
        """One line for the command line."""
        return (
            f"tailored IRFs of observation {self.obs_id}, {self.n_runs} simulated runs, "
            f"mean zenith {self.zenith_deg:.2f} deg"
        )


def _in_gtis(h5file, times: Time) -> np.ndarray:
    if layout.GTI not in h5file:
        return np.ones(len(times), bool)
    gti = read_table(h5file, layout.GTI)
    mjd = times.tai.mjd
    inside = np.zeros(len(times), bool)
    for start, stop in zip(gti["start"].tai.mjd, gti["stop"].tai.mjd, strict=True):
        inside |= (mjd >= start) & (mjd <= stop)
    return inside


def split_track(
    times: Time, alt_deg: np.ndarray, az_deg: np.ndarray, n_parts: int
) -> list[PointingPart]:
    """The track cut into ``n_parts`` parts of equally many (equally spaced) samples, each
    with its mean alt/az; azimuths are unwrapped so that a track across north stays whole."""
    order = np.argsort(times.tai.mjd, kind="stable")
    az = np.rad2deg(np.unwrap(np.deg2rad(np.asarray(az_deg, np.float64)[order])))
    if az.max() > 360.0:
        az -= 360.0
    alt = np.asarray(alt_deg, np.float64)[order]
    parts = []
    for index in np.array_split(np.arange(order.size), min(n_parts, order.size)):
        parts.append(
            PointingPart(times[order[index[0]]], float(alt[index].mean()), float(az[index].mean()))
        )
    return parts


def read_conditions(dl2: Path, n_parts: int) -> Conditions:
    """The observation's pointing track, NSB level, wobble offset, telescopes and model set,
    each checked (one :class:`InputFileError` naming what is missing)."""
    with open_product(dl2, level="DL2") as h5file:
        models = model_set_id(h5file)
        if models is None:
            raise InputFileError(
                "was processed without a model set; tailored IRFs need the observation's model set",
                path=dl2,
            )
        if layout.OBSERVATION not in h5file:
            raise InputFileError(
                f"has no observation block {layout.OBSERVATION} (not an observation?)", path=dl2
            )
        block = read_table(h5file, layout.OBSERVATION)
        for column in ("obs_id", "nsb_level", "wobble_offset"):
            if column not in block.colnames:
                raise InputFileError(f"observation block records no {column}", path=dl2)
        if layout.POINTING not in h5file:
            raise InputFileError(f"has no pointing table {layout.POINTING}", path=dl2)
        alt_name, az_name = pointing_columns(h5file)
        pointing = read_table(h5file, layout.POINTING)
        inside = _in_gtis(h5file, pointing["time"])
        if not inside.any():
            raise InputFileError("no pointing sample inside the good time intervals", path=dl2)
        pointing = pointing[inside]
        tel_ids = tuple(int(t) for t in read_subarray(h5file).tel_ids)
    alt = pointing[alt_name].to_value(u.deg)
    parts = split_track(pointing["time"], alt, pointing[az_name].to_value(u.deg), n_parts)
    return Conditions(
        obs_id=int(block["obs_id"][0]),
        model_set_id=models,
        nsb_level=float(block["nsb_level"][0]),
        wobble_offset_deg=float(block["wobble_offset"][0].to_value(u.deg)),
        tel_ids=tel_ids,
        mean_zenith_deg=float(np.mean(90.0 - alt)),
        parts=parts,
    )


def check_model_set(ref: str, conditions: Conditions, dl2: Path, catalog_url: str | None) -> Path:
    """The directory of the model set ``ref``, which must be the one the observation's DL2 was
    made with."""
    from datapipe_ops.reco.models.model_set import CARD, resolve_model_set

    directory = resolve_model_set(ref, catalog_url)
    try:
        given = json.loads((directory / CARD).read_text())["id"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputFileError(f"unreadable model set card: {exc}", path=directory) from None
    if given != conditions.model_set_id:
        raise InputFileError(
            f"was made with model set {conditions.model_set_id}, not with the model set "
            f"{given} given; tailored IRFs use the observation's own model set",
            path=dl2,
        )
    return directory


def check_cuts(cuts_path: Path, conditions: Conditions) -> None:
    """The cuts must have been made for the observation's model set."""
    cuts = read_cuts(cuts_path)
    if cuts.model_set_id != conditions.model_set_id:
        raise InputFileError(
            f"cuts were made for model set {cuts.model_set_id or 'NONE'}, the observation is "
            f"of model set {conditions.model_set_id}",
            path=cuts_path,
        )


def check_telescopes(config: TailoredConfig, conditions: Conditions, dl2: Path) -> None:
    """The configured subarray must hold every telescope of the observation."""
    from datapipe_ops.instrument import load_subarray

    known = {int(t) for t in load_subarray(config.subarray).tel_ids}
    missing = sorted(set(conditions.tel_ids) - known)
    if missing:
        raise InputFileError(
            f"has telescopes {missing} that subarray '{config.subarray}' of the tailored "
            "configuration does not hold",
            path=dl2,
        )


def simulation_configs(config: TailoredConfig, conditions: Conditions) -> list:
    """One production configuration per part of the track (its pointing, time and the
    observation's NSB level), each with the gammas, protons and electrons of that part."""
    from datapipe_ops.simulation.config import SimulationConfig

    n_parts = len(conditions.parts)

    def share(total: int, index: int) -> int:
        return total // n_parts + (1 if index < total % n_parts else 0)

    configs = []
    for index, part in enumerate(conditions.parts):
        particles = [
            {
                "name": "gamma",
                "particle": "gamma",
                "n_showers": share(config.gammas.n_showers, index),
                "energy": config.gammas.energy.model_dump(),
                "max_scatter_range_m": config.gammas.max_scatter_range_m,
                "offset_deg": conditions.wobble_offset_deg,
                "obs_id_start": OBS_ID_START["gamma"] + index,
            }
        ]
        for particle in ("proton", "electron"):
            thrown = getattr(config, f"{particle}s")
            if thrown is None:
                continue
            particles.append(
                {
                    "name": particle,
                    "particle": particle,
                    "n_showers": share(thrown.n_showers, index),
                    "energy": thrown.energy.model_dump(),
                    "max_scatter_range_m": thrown.max_scatter_range_m,
                    "viewcone_max_deg": thrown.viewcone_max_deg,
                    "obs_id_start": OBS_ID_START[particle] + index,
                }
            )
        configs.append(
            SimulationConfig.model_validate(
                {
                    "name": f"tailored_obs{conditions.obs_id}_part{index}",
                    "seed": config.seed,
                    "subarray": config.subarray,
                    "telescopes": list(conditions.tel_ids),
                    "nsb_scale": conditions.nsb_level,
                    "chunk_size": config.chunk_size,
                    "pointing": {
                        "zenith_deg": part.zenith_deg,
                        "azimuth_deg": part.azimuth_deg,
                    },
                    "start_time": part.start.utc.isot,
                    "particles": [p for p in particles if p["n_showers"] > 0],
                }
            )
        )
    return configs


def simulate_and_process(
    configs: list, conditions: Conditions, model_set: Path, work: Path
) -> dict[str, list[Path]]:
    """Simulate every run and take it DL0 → DL1 → DL2 with the model set, in ``work``."""
    from datapipe_ops.calib.stage import dl0_to_dl1
    from datapipe_ops.reco.stage import dl1_to_dl2
    from datapipe_ops.simulation.production import file_seed, simulate_run

    files: dict[str, list[Path]] = {"gamma": [], "proton": [], "electron": []}
    for index, sim in enumerate(configs):
        for component in sim.particles:
            stem = work / f"{component.name}_part{index}"
            dl0 = stem.with_name(stem.name + ".dl0.h5")
            run = simulate_run(
                sim,
                component,
                dl0,
                file_seed(sim.seed, f"tailored-{conditions.obs_id}-{component.name}", index),
                component.obs_id_start,
                show_progress=False,
                stage=STAGE,
            )
            dl1 = stem.with_name(stem.name + ".dl1.h5")
            dl0_to_dl1(dl0, dl1, run.coefficients_path, register=False)
            dl0.unlink()  # the waveforms are the bulk of the work directory
            dl2 = stem.with_name(stem.name + ".dl2.h5")
            dl1_to_dl2(dl1, dl2, model_set=model_set, register=False)
            dl1.unlink()
            files[component.particle].append(dl2)
    return files


def tailored_irf(
    dl2: str | Path,
    model_set: str,
    cuts: str | Path,
    output: str | Path,
    config: TailoredConfig | None = None,
    *,
    work_dir: str | Path | None = None,
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
) -> TailoredSummary:
    """Write the IRFs of the observation ``dl2`` from a production simulated for its own
    pointing track and NSB level, processed with its model set (``model_set`` must be that
    set) and the ``cuts``. ``work_dir`` (default: the output's directory) holds the
    intermediate files in a fresh sub-directory, removed on success and on failure."""
    from datapipe_ops.irf.stage import compute_irf
    from datapipe_ops.preflight import preflight

    config = config or TailoredConfig()
    dl2, cuts = Path(dl2), Path(cuts)
    output = check_output(output, [dl2, cuts], overwrite)
    preflight({dl2: "DL2"}, [], register=register, catalog_url=catalog_url)
    conditions = read_conditions(dl2, config.n_pointings)
    model_dir = check_model_set(model_set, conditions, dl2, catalog_url)
    check_cuts(cuts, conditions)
    check_telescopes(config, conditions, dl2)
    configs = simulation_configs(config, conditions)
    parent = Path(work_dir) if work_dir is not None else output.parent
    check_writable_directory(parent)
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".tailored-{conditions.obs_id}-", dir=parent))
    try:
        files = simulate_and_process(configs, conditions, model_dir, work)
        cards = {
            "IRFMODE": ("tailored", "simulated for this observation"),
            "OBS_ID": conditions.obs_id,
            "TAILDL2": (dl2.name, "observation DL2 simulated for"),
            "TAILNPNT": (len(conditions.parts), "runs along the pointing track"),
            "TAILSEED": config.seed,
        }
        compute_irf(
            {k: v for k, v in files.items() if v},
            cuts,
            output,
            config.irf,
            overwrite=overwrite,
            register=False,
            extra_cards=cards,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    zenith = float(fits.getheader(output)["ZENITH"])
    summary = TailoredSummary(output, conditions.obs_id, zenith, sum(map(len, files.values())))
    if register:
        try:
            summary.product_id = register_tailored(
                output, dl2, model_dir, cuts, conditions, catalog_url
            )
        except BaseException:
            output.unlink(missing_ok=True)
            raise
    return summary


def register_tailored(
    output: Path,
    dl2: Path,
    model_dir: Path,
    cuts: Path,
    conditions: Conditions,
    catalog_url: str | None,
) -> int:
    """Register the IRF product with lineage to the observation's DL2, the model set's card
    and the cuts."""
    from datapipe_ops.irf.products import register_output
    from datapipe_ops.reco.models.model_set import CARD

    header = fits.getheader(output)
    return register_output(
        output,
        "IRF",
        "irf",
        {dl2: "DL2", model_dir / CARD: "MODEL", cuts: "IRF"},
        catalog_url,
        obs_id=conditions.obs_id,
        zenith_deg=float(header["ZENITH"]),
        config_hash=header.get("CONFHASH"),
    )
