"""Applying a model set to DL1 events: per-telescope predictions combined into DL2 tables.

The DL1→DL2 stage uses it as::

    application = ModelApplication.prepare("3f2a9c…", reader, source=input_path)
    for chunk in reader:
        geometry = reconstruct_chunk(chunk, array, config.geometry)
        for path, table in application.apply_chunk(chunk, geometry).items():
            writer.append_table(path, table)
    writer.write_table(layout.DL2_MODELS, application.models_table())
    writer.set_attrs(layout.DL2_MODELS, model_set_id=application.model_set.id)

:meth:`ModelApplication.prepare` loads the set (by id through the catalog, or by directory) and
checks, before the first event, that the input provides every feature column and that the set
has a model of every kind for every telescope type of the input; anything else is refused with
one :class:`~datapipe_ops.errors.InputFileError` line.

:meth:`ModelApplication.apply_chunk` returns, for one chunk, the DL2 tables of the contract
(``docs/data-model.md``): subarray tables, one row per event of the chunk in its order,

* ``/dl2/event/subarray/geometry/StereoDisp`` (HillasIntersection's columns; direction from the
  combined stereo disp, core and h_max from the intersection),
* ``/dl2/event/subarray/energy/DataPipeEnergy``,
* ``/dl2/event/subarray/particle_type/DataPipeGammaness``,
* ``/dl2/event/subarray/event_type/DataPipeEventType`` (when the set has the event-type model),

and telescope-wise tables, one row per DL1 parameter row of the chunk (invalid where the image
fails the quality cuts), under ``/dl2/event/telescope/<kind>/<Algorithm>/tel_NNN``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from astropy import units as u
from astropy.table import QTable, Table

from datapipe_ops.errors import InputFileError
from datapipe_ops.instrument.frames import telescope_to_horizontal
from datapipe_ops.io import layout
from datapipe_ops.reco import names
from datapipe_ops.reco.events import EventChunk, EventReader
from datapipe_ops.reco.models.config import ModelTrainingConfig
from datapipe_ops.reco.models.features import ALWAYS, DERIVED, GEOMETRY, required_columns
from datapipe_ops.reco.models.model_set import SUBARRAY, ModelSet, load_model_set
from datapipe_ops.reco.models.reconstruct import combine_events, predict_telescopes
from datapipe_ops.reco.models.sample import Sample, chunk_sample, intersection_of

#: kinds modelled per telescope type, and the model names each needs
PER_TELESCOPE = {
    "energy": ("energy",),
    "gammaness": ("gammaness",),
    "disp": ("disp", "disp_sign", "disp_error"),
}
#: columns every telescope event has besides the parameter table (from geometry and the chunk)
PROVIDED = {*GEOMETRY, "pointing_alt", "pointing_az"}


class ModelApplication:
    """A model set checked against an input, ready to reconstruct its chunks."""

    def __init__(self, model_set: ModelSet, tel_types: Mapping[int, str], n_tels: int) -> None:
        self.model_set = model_set
        self.tel_types = dict(tel_types)
        self.n_tels = n_tels
        self.config = ModelTrainingConfig.model_validate(model_set.card["config"])
        self.thresholds = np.asarray(
            model_set.card.get("event_type_thresholds_log10_deg", []), dtype=np.float64
        )

    @classmethod
    def prepare(
        cls,
        ref: str | Path | ModelSet,
        reader: EventReader,
        source: str | Path,
        catalog_url: str | None = None,
    ) -> ModelApplication:
        """Load the model set ``ref`` and check it fits the input ``reader`` reads.

        Raises
        ------
        InputFileError
            No such model set; the input lacks a feature's column; the set has no model for a
            telescope type of the input.
        """
        model_set = ref if isinstance(ref, ModelSet) else load_model_set(ref, catalog_url)
        columns = set()
        for tel_id in reader.parameter_tel_ids:
            dset = reader.h5[layout.tel_path(layout.DL1_PARAMETERS, tel_id)]
            columns |= set(dset.dtype.names or ())
        check_compatible(model_set, columns, set(reader.tel_types.values()), source)
        return cls(model_set, reader.tel_types, len(reader.tel_ids))

    def apply_chunk(self, chunk: EventChunk, geometry: Any = None) -> dict[str, QTable]:
        """The DL2 tables of one chunk (see the module docstring).

        ``geometry`` is the chunk's :class:`~datapipe_ops.reco.geometry.GeometryResult` (or a
        mapping of its arrays); without it the geometry features are missing and StereoDisp
        uses the disp estimates alone.
        """
        mapping = None
        if geometry is not None:
            mapping = geometry if isinstance(geometry, Mapping) else intersection_of(geometry)
        sample = chunk_sample(chunk, self.tel_types, self.config.quality, mapping)
        predictions = predict_telescopes(
            sample, self.model_set.predict, self.model_set.card["features"]
        )
        combined = combine_events(sample, predictions, self.config)
        tables = self._subarray_tables(chunk, sample, predictions, combined, mapping)
        tables |= self._telescope_tables(chunk, sample, predictions, combined)
        return tables

    def models_table(self) -> Table:
        """The ``/dl2/service/models`` rows: one per model of the set."""
        rows = self.model_set.model_rows()
        return Table(rows=[tuple(r.values()) for r in rows], names=list(rows[0]))

    # --------------------------------------------------------------------------------------

    def _used(self, sample: Sample, valid: np.ndarray) -> np.ndarray:
        used = np.zeros((sample.n_events, self.n_tels), dtype=bool)
        used[sample.tel.event_index[valid], sample.tel.tel_index[valid]] = True
        return used

    def _subarray_tables(
        self,
        chunk: EventChunk,
        sample: Sample,
        predictions: Mapping[str, np.ndarray],
        combined: Mapping[str, np.ndarray],
        geometry: Mapping[str, np.ndarray] | None,
    ) -> dict[str, QTable]:
        kinds = self.model_set.kinds
        ids = {"obs_id": chunk.obs_id, "event_id": chunk.event_id}
        tables: dict[str, QTable] = {}
        if "energy" in kinds:
            a = names.ENERGY_ALGORITHM
            t = QTable(ids)
            valid = combined["energy_valid"]
            t[f"{a}_energy"] = _nan_where(combined["energy"], valid) * u.TeV
            t[f"{a}_energy_uncert"] = _nan_where(combined["energy_uncert"], valid) * u.TeV
            t[f"{a}_is_valid"] = valid
            t[f"{a}_telescopes"] = self._used(sample, np.isfinite(predictions["log10_energy"]))
            tables[names.subarray_path(names.ENERGY, a)] = t
        if "gammaness" in kinds:
            a = names.GAMMANESS_ALGORITHM
            t = QTable(ids)
            valid = combined["gammaness_valid"]
            t[f"{a}_prediction"] = _nan_where(combined["gammaness"], valid)
            t[f"{a}_is_valid"] = valid
            t[f"{a}_telescopes"] = self._used(sample, np.isfinite(predictions["gammaness"]))
            tables[names.subarray_path(names.PARTICLE_TYPE, a)] = t
        if "disp" in kinds:
            disp_rows = np.isfinite(predictions["disp"]) & np.isfinite(predictions["disp_p_plus"])
            tables[names.subarray_path(names.GEOMETRY, names.STEREO_DISP)] = self._stereo_table(
                ids, sample, combined, geometry, disp_rows
            )
        if "event_type" in kinds:
            tables[names.subarray_path(names.EVENT_TYPE, names.EVENT_TYPE_ALGORITHM)] = (
                self._event_type_table(ids, combined)
            )
        return tables

    def _stereo_table(self, ids, sample, combined, geometry, disp_rows) -> QTable:
        a = names.STEREO_DISP
        n = sample.n_events
        valid = combined["stereo_valid"]
        t = QTable(ids)
        t[f"{a}_alt"] = _nan_where(combined["stereo_alt"], valid) * u.deg
        t[f"{a}_az"] = _nan_where(combined["stereo_az"], valid) * u.deg
        t[f"{a}_alt_uncert"] = _nan_where(combined["stereo_uncert"], valid) * u.deg
        t[f"{a}_az_uncert"] = _nan_where(combined["stereo_uncert"], valid) * u.deg
        for name in ("core_x", "core_y", "core_uncert_x", "core_uncert_y", "h_max", "h_max_uncert"):
            values = np.full(n, np.nan)
            if geometry is not None and name in geometry:
                values = np.asarray(geometry[name], dtype=np.float64)
            t[f"{a}_{name}"] = values * u.m
        intensity = np.zeros(n)
        count = np.zeros(n)
        index = sample.tel.event_index[disp_rows]
        np.add.at(intensity, index, sample.tel.columns["hillas_intensity"][disp_rows])
        np.add.at(count, index, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            t[f"{a}_average_intensity"] = np.where(count > 0, intensity / count, np.nan)
        t[f"{a}_is_valid"] = valid
        t[f"{a}_telescopes"] = self._used(sample, disp_rows) & valid[:, np.newaxis]
        return t

    def _event_type_table(self, ids, combined) -> QTable:
        a = names.EVENT_TYPE_ALGORITHM
        features = self.model_set.features("event_type")
        X = np.column_stack([combined[name] for name in features]).astype(np.float32)
        valid = combined["stereo_valid"].copy()
        log_error = np.full(len(valid), np.nan)
        if valid.any():
            log_error[valid] = self.model_set.predict("event_type", SUBARRAY, X[valid])
        event_type = np.where(valid, np.searchsorted(self.thresholds, log_error), -1)
        t = QTable(ids)
        t[f"{a}_event_type"] = event_type.astype(np.int16)
        t[f"{a}_expected_error"] = np.where(valid, 10.0**log_error, np.nan) * u.deg
        t[f"{a}_is_valid"] = valid
        return t

    def _telescope_tables(self, chunk, sample, predictions, combined) -> dict[str, QTable]:
        kinds = self.model_set.kinds
        tel = sample.tel
        tables: dict[str, QTable] = {}
        mono_alt = mono_az = sign = None
        if "disp" in kinds:
            p = predictions["disp_p_plus"]
            sign = np.where(p >= 0.5, 1.0, -1.0)
            psi = np.deg2rad(tel.columns["hillas_psi"])
            lon = tel.columns["hillas_fov_lon"] + sign * predictions["disp"] * np.cos(psi)
            lat = tel.columns["hillas_fov_lat"] + sign * predictions["disp"] * np.sin(psi)
            mono_alt, mono_az = telescope_to_horizontal(
                lon, lat, tel.columns["pointing_alt"], tel.columns["pointing_az"]
            )
        for j, tel_id in enumerate(chunk.tel_ids):
            rows = chunk.telescopes[int(tel_id)]
            if not len(rows):
                continue
            mine = np.flatnonzero(tel.tel_index == j)
            # position of each selected telescope event among the telescope's chunk rows
            where = chunk.tel_index[tel.event_index[mine], j]
            ids = {
                "obs_id": chunk.obs_id[rows.event_row],
                "event_id": chunk.event_id[rows.event_row],
                "tel_id": np.full(len(rows), int(tel_id), dtype=np.int32),
            }

            def scatter(values: np.ndarray, rows=rows, where=where, mine=mine) -> np.ndarray:
                out = np.full(len(rows), np.nan)
                out[where] = values[mine]
                return out

            key = layout.tel_key(int(tel_id))
            if "energy" in kinds:
                a = names.ENERGY_ALGORITHM
                energy = scatter(10.0 ** predictions["log10_energy"])
                t = QTable(ids)
                t[names.tel_column(a, "energy")] = energy * u.TeV
                t[names.tel_column(a, "is_valid")] = np.isfinite(energy)
                tables[f"{names.telescope_group(names.ENERGY, a)}/{key}"] = t
            if "gammaness" in kinds:
                a = names.GAMMANESS_ALGORITHM
                g = scatter(predictions["gammaness"])
                t = QTable(ids)
                t[names.tel_column(a, "prediction")] = g
                t[names.tel_column(a, "is_valid")] = np.isfinite(g)
                tables[f"{names.telescope_group(names.PARTICLE_TYPE, a)}/{key}"] = t
            if "disp" in kinds:
                a = names.STEREO_DISP
                disp = scatter(sign * predictions["disp"])
                t = QTable(ids)
                t[names.tel_column(a, "disp")] = disp * u.deg
                t[names.tel_column(a, "sign_probability")] = scatter(predictions["disp_p_plus"])
                t[names.tel_column(a, "uncert")] = scatter(predictions["disp_sigma"]) * u.deg
                t[names.tel_column(a, "alt")] = scatter(mono_alt) * u.deg
                t[names.tel_column(a, "az")] = scatter(mono_az) * u.deg
                t[names.tel_column(a, "is_valid")] = np.isfinite(disp)
                tables[f"{names.telescope_group(names.GEOMETRY, a)}/{key}"] = t
        return tables


def _nan_where(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, values, np.nan)


def check_compatible(
    model_set: ModelSet, columns: set[str], tel_types: set[str], source: str | Path
) -> None:
    """Refuse (one line) a model set whose features or telescope types the input lacks."""
    available = set(columns) | PROVIDED | set(DERIVED)
    for kind in model_set.kinds:
        if kind == "event_type":
            continue
        needed = required_columns(model_set.features(kind)) | set(ALWAYS)
        missing = sorted(needed - available)
        if missing:
            raise InputFileError(
                f"model set {model_set.id} needs column(s) the input lacks for its {kind} "
                f"models: {', '.join(missing)}",
                path=source,
            )
    trained = set(model_set.telescope_types)
    for kind in model_set.kinds:
        for model in PER_TELESCOPE.get(kind, ()):
            have = {t for k, t in model_set.boosters if k == model}
            lacking = sorted(tel_types - have)
            if lacking:
                raise InputFileError(
                    f"model set {model_set.id} has no {model} model for telescope type(s) "
                    f"{', '.join(lacking)} (trained for {', '.join(sorted(trained)) or 'none'})",
                    path=source,
                )
