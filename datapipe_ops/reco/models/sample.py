"""Reading reconstruction inputs: telescope events and per-event columns of whole products.

Training reads every event of its products at once (a training set must fit in memory, as
LightGBM needs it there); :func:`read_sample` streams each product in chunks through
:class:`~datapipe_ops.reco.events.EventReader` and keeps only the telescope events passing the
quality cuts and the columns the models need. Apply works chunk by chunk with the same
:func:`chunk_sample`.

The axes-intersection geometry comes from the product's own DL2 geometry tables
(``/dl2/event/subarray/geometry/HillasIntersection`` and its telescope-wise impact distances)
when it has them; otherwise (a DL1 product) it is computed on the fly, chunk by chunk, with
:func:`datapipe_ops.reco.geometry.reconstruct_chunk` and the default geometry configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from datapipe_ops.instrument.frames import horizontal_to_telescope
from datapipe_ops.io.product import open_product
from datapipe_ops.reco import names
from datapipe_ops.reco.config import GeometryConfig
from datapipe_ops.reco.events import EventChunk, EventReader, event_keys
from datapipe_ops.reco.geometry import ArrayGeometry, reconstruct_chunk
from datapipe_ops.reco.models.config import QualityCuts
from datapipe_ops.reco.models.features import (
    IMPACT_COLUMN,
    INTERSECTION_COLUMNS,
    TelescopeEvents,
    telescope_events,
)

INTERSECTION_TABLE = names.subarray_path(names.GEOMETRY, names.HILLAS_INTERSECTION)
INTERSECTION_TELESCOPES = names.telescope_group(names.GEOMETRY, names.HILLAS_INTERSECTION)


@dataclass(frozen=True)
class Sample:
    """Telescope events plus per-event columns (``event_index`` of the one indexes the other).

    ``events`` holds, per subarray event: ``obs_id``, ``event_id``, ``pointing_alt``/``az``
    [deg], the intersection (``intersection_lon``/``lat`` in the telescope frame of the
    pointing, ``intersection_sigma`` [deg], NaN if invalid, ``h_max`` [m]) and, for simulated
    events, ``true_energy`` [TeV], ``true_alt``/``az``/``fov_lon``/``fov_lat`` [deg],
    ``true_shower_primary_id``.
    """

    tel: TelescopeEvents
    events: dict[str, np.ndarray]
    tel_types: dict[int, str]

    @property
    def n_events(self) -> int:
        """Number of subarray events."""
        return int(self.events["obs_id"].shape[0])

    def event_keys(self) -> np.ndarray:
        """The ``(obs_id, event_id)`` key of each subarray event."""
        return event_keys(self.events["obs_id"], self.events["event_id"])

    def subset(self, keep: np.ndarray) -> Sample:
        """The events where ``keep`` (n_events,) holds, with their telescope events."""
        keep = np.asarray(keep, dtype=bool)
        new_index = np.cumsum(keep) - 1
        rows = keep[self.tel.event_index]
        tel = self.tel.select(rows)
        tel = TelescopeEvents(
            new_index[tel.event_index],
            tel.tel_id,
            tel.tel_index,
            tel.tel_type,
            tel.columns,
            int(keep.sum()),
        )
        return Sample(tel, {k: v[keep] for k, v in self.events.items()}, self.tel_types)


def has_intersection(h5file: h5py.File) -> bool:
    """True if the product carries the axes-intersection tables (a geometry DL2)."""
    return INTERSECTION_TABLE in h5file and INTERSECTION_TELESCOPES in h5file


def geometry_reader(h5file: h5py.File, chunk_size: int) -> EventReader:
    """An event reader that also reads the intersection tables when the product has them."""
    if has_intersection(h5file):
        return EventReader(
            h5file,
            chunk_size,
            telescope_groups=[INTERSECTION_TELESCOPES],
            subarray_tables=[INTERSECTION_TABLE],
        )
    return EventReader(h5file, chunk_size)


def chunk_geometry(chunk: EventChunk) -> dict[str, np.ndarray] | None:
    """The intersection geometry a chunk read with :func:`geometry_reader` carries, or None."""
    prefix = names.HILLAS_INTERSECTION + "_"
    if prefix + "alt" not in chunk.subarray:
        return None
    geometry = {name: chunk.subarray[prefix + name] for name in INTERSECTION_COLUMNS}
    geometry["impact_distance"] = chunk.dense(IMPACT_COLUMN)
    return geometry


def event_columns(chunk: EventChunk, geometry: Mapping[str, np.ndarray] | None) -> dict:
    """The per-event columns of :class:`Sample` for one chunk."""
    n = chunk.n_events
    events: dict[str, np.ndarray] = {
        "obs_id": chunk.obs_id,
        "event_id": chunk.event_id,
        "pointing_alt": chunk.pointing_alt,
        "pointing_az": chunk.pointing_az,
    }
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    sigma = np.full(n, np.nan)
    h_max = np.full(n, np.nan)
    if geometry is not None:
        valid = np.asarray(geometry["is_valid"], dtype=bool)
        valid &= np.isfinite(geometry["alt"]) & np.isfinite(geometry["az"])
        g_lon, g_lat = horizontal_to_telescope(
            geometry["alt"], geometry["az"], chunk.pointing_alt, chunk.pointing_az
        )
        lon = np.where(valid, g_lon, np.nan)
        lat = np.where(valid, g_lat, np.nan)
        with np.errstate(invalid="ignore"):
            unc = np.hypot(
                geometry["alt_uncert"],
                np.asarray(geometry["az_uncert"]) * np.cos(np.deg2rad(geometry["alt"])),
            ) / np.sqrt(2.0)
        sigma = np.where(valid, unc, np.nan)
        h_max = np.where(valid, geometry["h_max"], np.nan)
    events |= {
        "intersection_lon": lon,
        "intersection_lat": lat,
        "intersection_sigma": sigma,
        "h_max": h_max,
    }
    if chunk.truth is not None:
        truth = chunk.truth
        events["true_energy"] = truth["true_energy"].astype(np.float64)
        events["true_alt"] = truth["true_alt"].astype(np.float64)
        events["true_az"] = truth["true_az"].astype(np.float64)
        events["true_shower_primary_id"] = truth["true_shower_primary_id"].astype(np.int64)
        events["true_fov_lon"], events["true_fov_lat"] = horizontal_to_telescope(
            events["true_alt"], events["true_az"], chunk.pointing_alt, chunk.pointing_az
        )
    return events


def chunk_sample(
    chunk: EventChunk,
    tel_types: Mapping[int, str],
    cuts: QualityCuts,
    geometry: Mapping[str, np.ndarray] | None = None,
    parameters: Sequence[str] | None = None,
) -> Sample:
    """The :class:`Sample` of one chunk (geometry: given, else the chunk's own tables)."""
    if geometry is None:
        geometry = chunk_geometry(chunk)
    tel = telescope_events(chunk, tel_types, cuts, geometry, parameters)
    return Sample(tel, event_columns(chunk, geometry), dict(tel_types))


def concatenate(samples: Sequence[Sample]) -> Sample:
    """One sample of several (event indices shifted; columns common to all are kept)."""
    if not samples:
        raise ValueError("nothing to concatenate")
    offsets = np.cumsum([0] + [s.n_events for s in samples[:-1]])
    tel_keys = set.intersection(*(set(s.tel.columns) for s in samples))
    event_keys_ = set.intersection(*(set(s.events) for s in samples))
    tel = TelescopeEvents(
        np.concatenate([s.tel.event_index + o for s, o in zip(samples, offsets, strict=True)]),
        np.concatenate([s.tel.tel_id for s in samples]),
        np.concatenate([s.tel.tel_index for s in samples]),
        np.concatenate([s.tel.tel_type for s in samples]),
        {k: np.concatenate([s.tel.columns[k] for s in samples]) for k in sorted(tel_keys)},
        int(sum(s.n_events for s in samples)),
    )
    events = {k: np.concatenate([s.events[k] for s in samples]) for k in sorted(event_keys_)}
    tel_types: dict[int, str] = {}
    for s in samples:
        tel_types |= s.tel_types
    return Sample(tel, events, tel_types)


def intersection_of(result) -> dict[str, np.ndarray]:
    """The geometry mapping of a :class:`~datapipe_ops.reco.geometry.GeometryResult`."""
    return result.columns | {
        "is_valid": result.is_valid,
        "impact_distance": result.impact_distance,
    }


def read_sample(
    paths: Sequence[str | Path],
    cuts: QualityCuts,
    chunk_size: int,
    parameters: Sequence[str] | None = None,
) -> Sample:
    """Every event of the products (DL1 or DL2), concatenated, keeping events with an image."""
    samples = []
    for path in paths:
        with open_product(path, level=("DL1", "DL2")) as h5:
            reader = geometry_reader(h5, chunk_size)
            compute = None if has_intersection(h5) else ArrayGeometry.from_subarray(reader.subarray)
            for chunk in reader:
                geometry = None
                if compute is not None:
                    geometry = intersection_of(reconstruct_chunk(chunk, compute, GeometryConfig()))
                sample = chunk_sample(chunk, reader.tel_types, cuts, geometry, parameters)
                samples.append(_with_image_only(sample))
    return concatenate(samples)


def _with_image_only(sample: Sample) -> Sample:
    """Drop the events none of whose telescopes passed the cuts."""
    keep = np.zeros(sample.n_events, dtype=bool)
    keep[sample.tel.event_index] = True
    return sample.subset(keep)


def sample_keys(sample: Sample) -> np.ndarray:
    """The ``(obs_id, event_id)`` key of each telescope event."""
    return sample.event_keys()[sample.tel.event_index]
