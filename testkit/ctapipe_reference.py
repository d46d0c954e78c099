"""ctapipe as the reference implementation of the DL0→DL1 chain (tests and benchmarks only).

This module builds ctapipe 0.32 objects from DataPipe's instrument description and runs
ctapipe's own ``CameraCalibrator`` → ``ImageProcessor`` over the same waveforms and
coefficients, event by event, as ctapipe does. It needs the ``test`` extra (ctapipe is not a
runtime dependency); ctapipe is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

#: extractor names: DataPipe → ctapipe
CTAPIPE_EXTRACTORS = {
    "neighbor_peak_window_sum": "NeighborPeakWindowSum",
    "local_peak_window_sum": "LocalPeakWindowSum",
    "fixed_window_sum": "FixedWindowSum",
}


def ctapipe_geometry(geometry: Any, focal_length_m: float | None = None) -> Any:
    """A ctapipe ``CameraGeometry`` from ours (camera frame, with the focal length if given)."""
    import astropy.units as u
    from ctapipe.coordinates import CameraFrame
    from ctapipe.instrument import CameraGeometry

    frame = None if focal_length_m is None else CameraFrame(focal_length=focal_length_m * u.m)
    return CameraGeometry(
        name=geometry.name,
        pix_id=np.asarray(geometry.pix_id),
        pix_x=np.asarray(geometry.pix_x) * u.m,
        pix_y=np.asarray(geometry.pix_y) * u.m,
        pix_area=np.asarray(geometry.pix_area) * u.m**2,
        pix_type=geometry.pix_type,
        pix_rotation=getattr(geometry, "pix_rotation_deg", 0.0) * u.deg,
        frame=frame,
    )


def ctapipe_readout(readout: Any, n_pixels: int) -> Any:
    """A ctapipe ``CameraReadout`` from ours."""
    import astropy.units as u
    from ctapipe.instrument import CameraReadout

    return CameraReadout(
        name=readout.name,
        sampling_rate=readout.sampling_rate_ghz * u.GHz,
        reference_pulse_shape=np.asarray(readout.reference_pulse_shape),
        reference_pulse_sample_width=readout.reference_pulse_sample_width_ns * u.ns,
        n_channels=readout.n_channels,
        n_pixels=n_pixels,
        n_samples=readout.n_samples,
    )


def ctapipe_subarray(telescopes: Mapping[int, tuple[Any, Any, float]]) -> Any:
    """A ctapipe ``SubarrayDescription`` of ``{tel_id: (geometry, readout, focal_length_m)}``."""
    import astropy.units as u
    from astropy.coordinates import EarthLocation
    from ctapipe.instrument import (
        CameraDescription,
        OpticsDescription,
        SubarrayDescription,
        TelescopeDescription,
    )

    descriptions = {}
    positions = {}
    for tel_id, (geometry, readout, focal_length_m) in telescopes.items():
        optics = OpticsDescription(
            name=f"optics_{geometry.name}",
            size_type="MST",
            n_mirrors=1,
            equivalent_focal_length=focal_length_m * u.m,
            effective_focal_length=focal_length_m * u.m,
            mirror_area=100 * u.m**2,
            n_mirror_tiles=1,
            reflector_shape="HYBRID",
        )
        camera = CameraDescription(
            name=geometry.name,
            geometry=ctapipe_geometry(geometry, focal_length_m),
            readout=ctapipe_readout(readout, len(geometry.pix_x)),
        )
        descriptions[tel_id] = TelescopeDescription(f"tel_{tel_id}", optics, camera)
        positions[tel_id] = [0.0, 0.0, 0.0] * u.m
    location = EarthLocation(lon=-17.89 * u.deg, lat=28.76 * u.deg, height=2200 * u.m)
    return SubarrayDescription("reference", positions, descriptions, location)


@contextmanager
def timing_rng(rng: np.random.Generator) -> Iterator[None]:
    """Make ctapipe's timing fit draw its random starts from ``rng`` (not its global one)."""
    import ctapipe.image.timing as timing
    from ctapipe.fitting import lts_linear_regression

    def patched(*args: Any, **kwargs: Any) -> Any:
        kwargs["rng"] = rng
        return lts_linear_regression(*args, **kwargs)

    original = timing.lts_linear_regression
    timing.lts_linear_regression = patched
    try:
        yield
    finally:
        timing.lts_linear_regression = original


@dataclass
class ReferenceSettings:
    """The processing choices to reproduce with ctapipe (DataPipe's defaults)."""

    method: str = "neighbor_peak_window_sum"
    window_width: int = 7
    window_shift: int = 3
    peak_index: int = 0
    local_weight: int = 0
    apply_integration_correction: bool = True
    picture_threshold: float = 10.0
    boundary_threshold: float = 5.0
    min_picture_neighbors: int = 2
    keep_isolated_pixels: bool = False


def ctapipe_config(settings: ReferenceSettings) -> Any:
    """The traitlets ``Config`` of ctapipe's calibrator and image processor for ``settings``."""
    from traitlets.config import Config

    extractor = CTAPIPE_EXTRACTORS[settings.method]
    extractor_config: dict[str, Any] = {
        "window_width": settings.window_width,
        "window_shift": settings.window_shift,
        "apply_integration_correction": settings.apply_integration_correction,
    }
    if settings.method == "neighbor_peak_window_sum":
        extractor_config["local_weight"] = settings.local_weight
    if settings.method == "fixed_window_sum":
        extractor_config["peak_index"] = settings.peak_index
    return Config(
        {
            "CameraCalibrator": {"image_extractor_type": extractor, extractor: extractor_config},
            "ImageProcessor": {
                "image_cleaner_type": "TailcutsImageCleaner",
                "TailcutsImageCleaner": {
                    "picture_threshold_pe": settings.picture_threshold,
                    "boundary_threshold_pe": settings.boundary_threshold,
                    "min_picture_neighbors": settings.min_picture_neighbors,
                    "keep_isolated_pixels": settings.keep_isolated_pixels,
                },
            },
        }
    )


def _value(value: Any) -> float:
    import astropy.units as u

    if isinstance(value, u.Quantity):
        if value.unit.is_equivalent(u.deg):
            return float(value.to_value(u.deg))
        if value.unit.is_equivalent(1 / u.deg):
            return float(value.to_value(1 / u.deg))
        return float(value.to_value(value.unit))
    return float(value)


class ReferenceChain:
    """ctapipe's ``CameraCalibrator`` + ``ImageProcessor``, run event by event."""

    def __init__(self, subarray: Any, settings: ReferenceSettings | None = None) -> None:
        from ctapipe.calib import CameraCalibrator
        from ctapipe.image import ImageProcessor

        self.subarray = subarray
        self.settings = settings or ReferenceSettings()
        config = ctapipe_config(self.settings)
        self.calibrator = CameraCalibrator(subarray=subarray, config=config)
        self.processor = ImageProcessor(subarray=subarray, config=config)

    def process_event(
        self, tel_id: int, waveform: np.ndarray, coefficients: Mapping[str, np.ndarray]
    ) -> Any:
        """Calibrate and parameterise one telescope event; returns ctapipe's DL1 container."""
        from ctapipe.containers import (
            ArrayEventContainer,
            CameraCalibrationContainer,
            DL0CameraContainer,
        )

        n_pixels = waveform.shape[0]
        event = ArrayEventContainer()
        event.dl0.tel[tel_id] = DL0CameraContainer(
            waveform=waveform.astype(np.float32)[np.newaxis],
            selected_gain_channel=np.zeros(n_pixels, dtype=np.int64),
        )
        event.monitoring.tel[tel_id].camera.coefficients = CameraCalibrationContainer(
            **coefficients
        )
        self.calibrator(event)
        self.processor(event)
        return event.dl1.tel[tel_id]

    def run(
        self, tel_id: int, waveforms: np.ndarray, coefficients: Mapping[str, np.ndarray]
    ) -> None:
        """Process a batch of events and keep nothing: what a benchmark should time."""
        for waveform in waveforms:
            self.process_event(tel_id, waveform, coefficients)

    def calibrate(
        self, tel_id: int, waveforms: np.ndarray, coefficients: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """ctapipe's calibrated images and peak times of a batch of events (no cleaning)."""
        from ctapipe.containers import (
            ArrayEventContainer,
            CameraCalibrationContainer,
            DL0CameraContainer,
        )

        images, times = [], []
        for waveform in waveforms:
            event = ArrayEventContainer()
            event.dl0.tel[tel_id] = DL0CameraContainer(
                waveform=waveform.astype(np.float32)[np.newaxis],
                selected_gain_channel=np.zeros(waveform.shape[0], dtype=np.int64),
            )
            event.monitoring.tel[tel_id].camera.coefficients = CameraCalibrationContainer(
                **coefficients
            )
            self.calibrator(event)
            images.append(event.dl1.tel[tel_id].image)
            times.append(event.dl1.tel[tel_id].peak_time)
        return np.array(images), np.array(times)

    def parameterize(
        self,
        tel_id: int,
        images: np.ndarray,
        masks: np.ndarray,
        peak_times: np.ndarray,
        rng: np.random.Generator,
    ) -> dict[str, np.ndarray]:
        """ctapipe's image parameters (telescope frame) of given images and cleaning masks."""
        rows = []
        with timing_rng(rng):
            for image, mask, peak_time in zip(images, masks, peak_times, strict=True):
                params = self.processor._parameterize_image(
                    tel_id, image, mask, peak_time, default=self.processor.default_image_container
                )
                flat = params.as_dict(recursive=True, flatten=True, add_prefix=True)
                rows.append({k: _value(v) for k, v in flat.items() if k != "core_psi"})
        return {name: np.array([row[name] for row in rows]) for name in rows[0]} if rows else {}

    def process(
        self,
        tel_id: int,
        waveforms: np.ndarray,
        coefficients: Mapping[str, np.ndarray],
        rng: np.random.Generator | None = None,
    ) -> dict[str, np.ndarray]:
        """Images, peak times, masks and every parameter column of a batch of events.

        ``coefficients`` holds ``pedestal_offset``, ``factor``, ``time_shift`` and
        ``outlier_mask`` shaped (n_channels, n_pixels). With ``rng`` the timing fit draws its
        random starts from it.
        """
        rows: list[dict[str, float]] = []
        images, times, masks = [], [], []
        with timing_rng(rng) if rng is not None else _nothing():
            for waveform in waveforms:
                dl1 = self.process_event(tel_id, waveform, coefficients)
                images.append(dl1.image)
                times.append(dl1.peak_time)
                masks.append(dl1.image_mask)
                flat = dl1.parameters.as_dict(recursive=True, flatten=True, add_prefix=True)
                rows.append({k: _value(v) for k, v in flat.items() if k != "core_psi"})
        out: dict[str, np.ndarray] = {
            "image": np.array(images),
            "peak_time": np.array(times),
            "image_mask": np.array(masks),
        }
        for name in rows[0] if rows else ():
            out[name] = np.array([row[name] for row in rows])
        return out


@contextmanager
def _nothing() -> Iterator[None]:
    yield
