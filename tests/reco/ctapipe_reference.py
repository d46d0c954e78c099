"""ctapipe 0.32's HillasReconstructor run event by event on a DataPipe DL1 product (reference).

Used by the geometry tests and ``benchmarks/dl1_to_dl2_vs_ctapipe.py``: it builds a ctapipe
``SubarrayDescription`` from the product's instrument description, reads the DL1 parameter
tables and the run pointing with h5py (independently of ``datapipe_ops.reco.events``), fills one
``ArrayEventContainer`` per event and calls ``HillasReconstructor`` on it, with the
``StereoQualityQuery`` criteria equivalent to a DataPipe ``QualityQuery``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from datapipe_ops.instrument.loading import load_site
from datapipe_ops.io import layout
from datapipe_ops.io.instrument import read_subarray
from datapipe_ops.reco.config import QualityQuery


def ctapipe_subarray(subarray):
    """A ctapipe ``SubarrayDescription`` of a DataPipe one (positions, cameras in the camera
    frame with the effective focal length, the site as reference location)."""
    import astropy.units as u
    from astropy.coordinates import EarthLocation
    from ctapipe.coordinates import CameraFrame
    from ctapipe.instrument import (
        CameraDescription,
        CameraGeometry,
        OpticsDescription,
        SubarrayDescription,
        TelescopeDescription,
    )

    descriptions, positions = {}, {}
    for j, tel_id in enumerate(subarray.tel_ids):
        tel = subarray.telescopes[int(tel_id)]
        focal = tel.optics.effective_focal_length_m
        geometry = tel.camera.geometry
        optics = OpticsDescription(
            name=tel.optics.name,
            size_type=tel.type,
            n_mirrors=tel.optics.n_mirrors,
            equivalent_focal_length=tel.optics.focal_length_m * u.m,
            effective_focal_length=focal * u.m,
            mirror_area=tel.optics.mirror_area_m2 * u.m**2,
            n_mirror_tiles=1,
            reflector_shape="HYBRID",
        )
        camera = CameraDescription(
            name=tel.camera.name,
            geometry=CameraGeometry(
                name=geometry.name,
                pix_id=np.asarray(geometry.pix_id),
                pix_x=np.asarray(geometry.pix_x) * u.m,
                pix_y=np.asarray(geometry.pix_y) * u.m,
                pix_area=np.asarray(geometry.pix_area) * u.m**2,
                pix_type=geometry.pix_type,
                frame=CameraFrame(focal_length=focal * u.m),
            ),
            readout=None,
        )
        descriptions[int(tel_id)] = TelescopeDescription(tel.name, optics, camera)
        positions[int(tel_id)] = subarray.positions[j] * u.m
    site = load_site(subarray.site)
    location = EarthLocation.from_geodetic(
        lon=site.longitude_deg * u.deg, lat=site.latitude_deg * u.deg, height=site.height_m * u.m
    )
    return SubarrayDescription(subarray.name, positions, descriptions, location)


def quality_criteria(query: QualityQuery) -> list[tuple[str, str]]:
    """ctapipe ``StereoQualityQuery`` criteria equivalent to ``query``."""
    criteria = [
        ("intensity", f"parameters.hillas.intensity > {query.min_intensity!r}"),
        ("Positive width", "parameters.hillas.width.value > 0"),
        ("pixels", f"parameters.morphology.n_pixels > {query.min_n_pixels!r}"),
    ]
    if query.max_leakage_intensity_width_2 is not None:
        limit = query.max_leakage_intensity_width_2
        criteria.append(("leakage", f"parameters.leakage.intensity_width_2 <= {limit!r}"))
    return criteria


@dataclass
class ReferenceGeometry:
    """ctapipe's results, one row per subarray event (trigger table order)."""

    obs_id: np.ndarray
    event_id: np.ndarray
    alt: np.ndarray
    az: np.ndarray
    alt_uncert: np.ndarray
    core_x: np.ndarray
    core_y: np.ndarray
    h_max: np.ndarray
    average_intensity: np.ndarray
    is_valid: np.ndarray
    telescopes: np.ndarray
    impact_distance: np.ndarray
    seconds: float


def _events(h5: h5py.File, tel_ids: np.ndarray):
    """(obs_id, event_id, pointing alt/az [deg], {tel_id: parameter row}) per trigger row."""
    trigger = h5[layout.TRIGGER][()]
    runs = {int(r["obs_id"]): (90.0 - r["zenith"], r["azimuth"]) for r in h5[layout.SIMULATION_RUN]}
    rows: dict[tuple[int, int], dict[int, np.void]] = {}
    for tel_id in tel_ids:
        path = layout.tel_path(layout.DL1_PARAMETERS, int(tel_id))
        if path not in h5:
            continue
        for row in h5[path][()]:
            rows.setdefault((int(row["obs_id"]), int(row["event_id"])), {})[int(tel_id)] = row
    for obs_id, event_id in zip(trigger["obs_id"], trigger["event_id"], strict=True):
        alt, az = runs[int(obs_id)]
        yield int(obs_id), int(event_id), alt, az, rows.get((int(obs_id), int(event_id)), {})


def reference_geometry(
    dl1: str | Path, query: QualityQuery | None = None, limit: int | None = None
) -> ReferenceGeometry:
    """Run ctapipe's HillasReconstructor on every event (or the first ``limit``) of ``dl1``."""
    import astropy.units as u
    from ctapipe.containers import (
        ArrayEventContainer,
        HillasParametersContainer,
        ImageParametersContainer,
        LeakageContainer,
        MorphologyContainer,
    )
    from ctapipe.reco import HillasReconstructor
    from traitlets.config import Config

    query = query or QualityQuery()
    with h5py.File(dl1, "r") as h5:
        subarray = read_subarray(h5)
        events = list(_events(h5, subarray.tel_ids))
    if limit is not None:
        events = events[:limit]
    reference = ctapipe_subarray(subarray)
    config = Config({"StereoQualityQuery": {"quality_criteria": quality_criteria(query)}})
    reconstructor = HillasReconstructor(reference, config=config)
    n, n_tels = len(events), subarray.n_tels
    out = {name: np.full(n, np.nan) for name in ReferenceGeometry.__annotations__}
    telescopes = np.zeros((n, n_tels), bool)
    impact = np.full((n, n_tels), np.nan)
    is_valid = np.zeros(n, bool)
    obs = np.zeros(n, np.int64)
    evt = np.zeros(n, np.int64)
    index = {int(t): j for j, t in enumerate(subarray.tel_ids)}
    start = time.perf_counter()
    for i, (obs_id, event_id, alt, az, tels) in enumerate(events):
        event = ArrayEventContainer()
        event.index.obs_id, event.index.event_id = obs_id, event_id
        event.trigger.tels_with_trigger = np.array(sorted(tels), dtype=np.int16)
        event.monitoring.pointing.array_altitude = alt * u.deg
        event.monitoring.pointing.array_azimuth = az * u.deg
        for tel_id, row in tels.items():
            event.monitoring.tel[tel_id].pointing.altitude = alt * u.deg
            event.monitoring.tel[tel_id].pointing.azimuth = az * u.deg
            event.dl1.tel[tel_id].parameters = ImageParametersContainer(
                hillas=HillasParametersContainer(
                    fov_lon=row["hillas_fov_lon"] * u.deg,
                    fov_lat=row["hillas_fov_lat"] * u.deg,
                    intensity=row["hillas_intensity"],
                    length=row["hillas_length"] * u.deg,
                    width=row["hillas_width"] * u.deg,
                    psi=row["hillas_psi"] * u.deg,
                ),
                morphology=MorphologyContainer(n_pixels=row["morphology_n_pixels"]),
                leakage=LeakageContainer(intensity_width_2=row["leakage_intensity_width_2"]),
            )
        reconstructor(event)
        geometry = event.dl2.stereo.geometry["HillasReconstructor"]
        obs[i], evt[i] = obs_id, event_id
        is_valid[i] = bool(geometry.is_valid)
        if geometry.is_valid:
            out["alt"][i] = geometry.alt.to_value(u.deg)
            out["az"][i] = geometry.az.to_value(u.deg)
            out["alt_uncert"][i] = geometry.alt_uncert.to_value(u.deg)
            out["core_x"][i] = geometry.core_x.to_value(u.m)
            out["core_y"][i] = geometry.core_y.to_value(u.m)
            out["h_max"][i] = geometry.h_max.to_value(u.m)
            out["average_intensity"][i] = geometry.average_intensity
            for tel_id in geometry.telescopes:
                telescopes[i, index[int(tel_id)]] = True
        for tel_id in tels:
            impact[i, index[tel_id]] = (
                event.dl2.tel[tel_id].impact["HillasReconstructor"].distance.to_value(u.m)
            )
    seconds = time.perf_counter() - start
    return ReferenceGeometry(
        obs_id=obs,
        event_id=evt,
        alt=out["alt"],
        az=out["az"],
        alt_uncert=out["alt_uncert"],
        core_x=out["core_x"],
        core_y=out["core_y"],
        h_max=out["h_max"],
        average_intensity=out["average_intensity"],
        is_valid=is_valid,
        telescopes=telescopes,
        impact_distance=impact,
        seconds=seconds,
    )
