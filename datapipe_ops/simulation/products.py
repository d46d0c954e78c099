"""Writing simulated events: DL0 tables and waveforms, truth, histograms, CalibPipe coefficients.

:class:`EventWriter` appends batches of triggered events to an open
:class:`~datapipe_ops.io.ProductWriter` (at the paths of :mod:`datapipe_ops.io.layout`): the
subarray trigger table, per telescope the event index, the uint16 waveforms (written block by block)
and — to the truth writer, which is the same file for productions and a side file for observations —
the shower table and the true images. :class:`ShowerHistogram` counts every thrown shower. Helpers
build the run table and write a CalibPipe coefficients file from the true camera electronics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.time import Time

from datapipe_ops.io import ProductWriter, layout
from datapipe_ops.io.coefficients import coefficients_table, write_coefficients
from datapipe_ops.io.tables import DEFAULT_ARRAY_FILTER
from datapipe_ops.simulation.config import CommonSimulation, Histogram
from datapipe_ops.simulation.electronics import coefficients_for
from datapipe_ops.simulation.pipeline import ArrayModel, TelescopeEvents
from datapipe_ops.simulation.showers import ShowerBatch

#: ctapipe's ``EventType.SUBARRAY``: a normal array-triggered event.
EVENT_TYPE_SUBARRAY = 32
#: Where an observation's good time intervals are written.


def derived_path(output: str | Path, kind: str) -> Path:
    """``<stem>.<kind>.h5`` beside ``output`` (``x.dl0.h5`` → ``x.coefficients.h5``)."""
    output = Path(output)
    name = output.name
    for suffix in (".dl0.h5", ".h5"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return output.with_name(f"{name}.{kind}.h5")


def write_instrument(writer: ProductWriter, array: ArrayModel) -> None:
    """Write the subarray description (layout, optics, cameras) into a product."""
    writer.write_subarray(array.subarray)


def shower_rows(showers: ShowerBatch, obs_id: int, event_id: np.ndarray) -> QTable:
    """The shower table rows (ctapipe's column names) of ``showers``."""
    return QTable(
        {
            "obs_id": np.full(len(showers), obs_id, dtype=np.int32),
            "event_id": np.asarray(event_id, dtype=np.int64),
            "true_energy": showers.energy_tev * u.TeV,
            "true_alt": np.rad2deg(showers.alt) * u.deg,
            "true_az": np.rad2deg(showers.az) * u.deg,
            "true_core_x": showers.core[:, 0] * u.m,
            "true_core_y": showers.core[:, 1] * u.m,
            "true_x_max": showers.x_max * u.g / u.cm**2,
            "true_first_interaction": showers.first_interaction * u.g / u.cm**2,
            "true_shower_primary_id": np.full(len(showers), showers.primary_id, dtype=np.int16),
        }
    )


@dataclass
class EventWriter:
    """Append triggered events to a DL0 product (and their truth to ``truth``).

    Every telescope of the subarray gets its datasets even when it never triggered (empty
    tables), so readers never meet a missing path: call :meth:`finish` at the end.
    ``compression`` names the HDF5 filter of the waveform arrays, one of
    :data:`datapipe_ops.io.tables.ARRAY_FILTERS` (default ``blosc-lz4``).
    """

    dl0: ProductWriter
    truth: ProductWriter
    array: ArrayModel
    obs_id: int
    compression: str = DEFAULT_ARRAY_FILTER
    n_events: int = 0
    n_tel_events: int = 0
    _written: set[str] = field(default_factory=set)

    def write(
        self,
        event_id: np.ndarray,
        time: Time,
        tels_with_trigger: np.ndarray,
        telescopes: dict[int, TelescopeEvents],
        showers: QTable | None,
    ) -> None:
        """Write one batch: ``event_id``, ``time`` and ``tels_with_trigger`` per event (in
        event order), per telescope its events (rows index the batch), and the shower rows."""
        n = len(event_id)
        if n == 0:
            return
        self._append(
            self.dl0,
            layout.TRIGGER,
            QTable(
                {
                    "obs_id": np.full(n, self.obs_id, dtype=np.int32),
                    "event_id": np.asarray(event_id, dtype=np.int64),
                    "time": time,
                    "event_type": np.full(n, EVENT_TYPE_SUBARRAY, dtype=np.uint8),
                    "tels_with_trigger": np.asarray(tels_with_trigger, dtype=bool),
                }
            ),
        )
        if showers is not None:
            self._append(self.truth, layout.SHOWER, showers)
        for tel_id, events in telescopes.items():
            if len(events) == 0:
                continue
            ids = np.asarray(event_id)[events.event_row]
            index = self._index_rows(tel_id, ids)
            self._append(self.dl0, layout.tel_path(layout.DL0_TEL_INDEX, tel_id), index)
            for block in events.waveform_blocks():
                self._append_waveforms(tel_id, block)
            true = QTable(index)
            true["true_image"] = events.true_image
            true["impact_distance"] = events.impact_m * u.m
            self._append(self.truth, layout.tel_path(layout.TRUE_IMAGES, tel_id), true)
            self._written.add(layout.tel_path(layout.WAVEFORMS, tel_id))
            self.n_tel_events += len(events)
        self.n_events += n

    def _append_waveforms(self, tel_id: int, block: np.ndarray) -> None:
        """Append waveforms with the configured compression."""
        path = layout.tel_path(layout.WAVEFORMS, tel_id)
        self.dl0.append_array(path, block, compression=self.compression)

    def _index_rows(self, tel_id: int, event_id: np.ndarray) -> QTable:
        return QTable(
            {
                "obs_id": np.full(len(event_id), self.obs_id, dtype=np.int32),
                "event_id": np.asarray(event_id, dtype=np.int64),
                "tel_id": np.full(len(event_id), tel_id, dtype=np.int16),
            }
        )

    def _append(self, writer: ProductWriter, path: str, table: QTable) -> None:
        writer.append_table(path, table)
        self._written.add(path)

    def finish(self, with_truth: bool = True) -> None:
        """Create the empty tables and arrays of telescopes (or of a run) without events."""
        n_tels = len(self.array.tel_ids)
        if layout.TRIGGER not in self._written:
            empty = QTable(
                {
                    "obs_id": np.zeros(0, np.int32),
                    "event_id": np.zeros(0, np.int64),
                    "time": Time(np.zeros(0), format="mjd", scale="tai"),
                    "event_type": np.zeros(0, np.uint8),
                    "tels_with_trigger": np.zeros((0, n_tels), bool),
                }
            )
            self._append(self.dl0, layout.TRIGGER, empty)
        self.dl0.set_attrs(layout.TRIGGER, tel_ids=self.array.tel_ids.astype(np.int32))
        if with_truth and layout.SHOWER not in self._written:
            empty = shower_rows(_empty_batch(), self.obs_id, np.zeros(0, np.int64))
            self._append(self.truth, layout.SHOWER, empty)
        for model in self.array.models:
            for tel_id in model.tel_ids:
                tel_id = int(tel_id)
                wave_path = layout.tel_path(layout.WAVEFORMS, tel_id)
                if wave_path in self._written:
                    continue
                index = self._index_rows(tel_id, np.zeros(0, np.int64))
                self._append(self.dl0, layout.tel_path(layout.DL0_TEL_INDEX, tel_id), index)
                self._append_waveforms(
                    tel_id, np.zeros((0, model.n_pixels, model.n_samples), np.uint16)
                )
                if with_truth:
                    true = QTable(index)
                    true["true_image"] = np.zeros((0, model.n_pixels), np.int32)
                    true["impact_distance"] = np.zeros(0) * u.m
                    self._append(self.truth, layout.tel_path(layout.TRUE_IMAGES, tel_id), true)
        for model in self.array.models:
            for tel_id in model.tel_ids:
                self.dl0.set_attrs(
                    layout.tel_path(layout.WAVEFORMS, int(tel_id)),
                    camera=model.camera,
                    sampling_rate_ghz=1.0 / model.sample_ns,
                    n_samples=model.n_samples,
                    adc_max=model.settings.adc_max,
                )


def _empty_batch() -> ShowerBatch:
    zero = np.zeros(0)
    return ShowerBatch(
        particle="gamma",
        energy_tev=zero,
        alt=zero,
        az=zero,
        direction=np.zeros((0, 3)),
        core=np.zeros((0, 3)),
        core_distance_m=zero,
        viewcone_offset_deg=zero,
        first_interaction=zero,
        x_max=zero,
    )


@dataclass
class ShowerHistogram:
    """Counts of ALL thrown showers in energy × core distance × view-cone offset."""

    energy_edges_tev: np.ndarray
    core_edges_m: np.ndarray
    viewcone_edges_deg: np.ndarray
    counts: np.ndarray

    @classmethod
    def for_range(
        cls,
        energy_tev: tuple[float, float],
        max_scatter_m: float,
        viewcone_deg: tuple[float, float],
        binning: Histogram,
    ) -> ShowerHistogram:
        """Empty histogram covering the thrown ranges exactly."""
        decades = np.log10(energy_tev[1] / energy_tev[0])
        n_energy = max(1, int(np.ceil(decades * binning.energy_bins_per_decade - 1e-9)))
        energy = np.geomspace(energy_tev[0], energy_tev[1], n_energy + 1)
        core = np.linspace(0.0, max_scatter_m, binning.core_distance_bins + 1)
        low, high = viewcone_deg
        if high - low > 1e-9:
            cone = np.linspace(low, high, binning.viewcone_bins + 1)
        else:  # a point source: one bin around its offset
            cone = np.array([max(low - 0.01, 0.0), low + 0.01])
        counts = np.zeros((energy.size - 1, core.size - 1, cone.size - 1), dtype=np.int64)
        return cls(energy, core, cone, counts)

    def fill(self, showers: ShowerBatch) -> None:
        """Count a batch of thrown showers (values on the upper edges count in the last bin)."""
        sample = np.column_stack(
            [showers.energy_tev, showers.core_distance_m, showers.viewcone_offset_deg]
        )
        edges = (self.energy_edges_tev, self.core_edges_m, self.viewcone_edges_deg)
        clipped = np.column_stack([np.clip(sample[:, i], e[0], e[-1]) for i, e in enumerate(edges)])
        counts, _ = np.histogramdd(clipped, bins=edges)
        self.counts += counts.astype(np.int64)

    @property
    def n_entries(self) -> int:
        """Number of showers counted."""
        return int(self.counts.sum())

    def table(self, obs_id: int, particle: str) -> QTable:
        """One-row table: obs_id, particle, n_entries, the bin edges and the 3-d histogram."""
        return QTable(
            {
                "obs_id": np.array([obs_id], dtype=np.int32),
                "particle": [particle],
                "hist_id": np.array([1], dtype=np.int16),
                "n_entries": np.array([self.n_entries], dtype=np.int64),
                "bins_energy": self.energy_edges_tev[np.newaxis] * u.TeV,
                "bins_core_dist": self.core_edges_m[np.newaxis] * u.m,
                "bins_viewcone": self.viewcone_edges_deg[np.newaxis] * u.deg,
                "histogram": self.counts[np.newaxis],
            }
        )


def write_coefficients_file(
    path: str | Path,
    array: ArrayModel,
    config: CommonSimulation,
    valid_start: Time,
    valid_stop: Time,
    stage: str,
) -> Path:
    """Write the CalibPipe coefficients undoing the simulated camera truth, valid
    ``[valid_start, valid_stop]``, one table per telescope (level ``CALIBRATION``)."""
    path = Path(path)
    attrs = {
        "creator": "datapipe simulate (true camera electronics)",
        "camera_seed": int(config.camera_seed),
        "pedestal_offset_unit": "ADC counts per sample",
        "factor_unit": "p.e. per ADC count of the integration-corrected charge",
    }
    with ProductWriter(path, "CALIBRATION", stage=stage, config=config, attrs=attrs) as writer:
        for model in array.models:
            for tel_id in model.tel_ids:
                coefficients = coefficients_for(model.truths[int(tel_id)], model.settings)
                table = coefficients_table(valid_start, **coefficients)
                write_coefficients(writer, int(tel_id), table, valid_stop)
                writer.set_attrs(
                    layout.tel_path(layout.COEFFICIENTS, int(tel_id)),
                    camera=model.camera,
                    extraction_window_samples=int(model.settings.extraction_window_samples),
                )
    return path
