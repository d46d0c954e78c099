"""The instrument description inside a product (``/configuration/instrument``).

Besides DataPipe's own tables, :func:`write_subarray` makes the description readable by
ctapipe 0.32 (``SubarrayDescription.from_hdf``, hence ``TableLoader``): the layout and optics
tables carry ctapipe's extra columns and version metadata (``TAB_VER``, the subarray name and
the site as ITRS reference location), and every camera is also written as ctapipe's
``/configuration/instrument/telescope/camera/geometry_<i>`` and ``readout_<i>`` tables. DataPipe's
reader ignores these additions.
"""

from __future__ import annotations

import h5py
import numpy as np
from astropy import units as u
from astropy.table import QTable, Table

from datapipe_ops.errors import InputFileError
from datapipe_ops.instrument import SubarrayDescription
from datapipe_ops.io.layout import INSTRUMENT_GROUP, OPTICS, SUBARRAY_LAYOUT
from datapipe_ops.io.tables import META_SUFFIX, read_table, write_table

#: ctapipe's instrument table versions (ctapipe 0.32 reads exactly these)
CTAPIPE_LAYOUT_VERSION = "2.0"
CTAPIPE_OPTICS_VERSION = "4.0"
CTAPIPE_GEOMETRY_VERSION = "2.1"
CTAPIPE_READOUT_VERSION = "3.0"
CTAPIPE_CAMERA_GROUP = "/configuration/instrument/telescope/camera"


def write_subarray(h5file: h5py.File, subarray: SubarrayDescription) -> None:
    """Write every table of the subarray (layout, optics, camera geometries and readouts),
    readable by DataPipe and by ctapipe."""
    for path, table in ctapipe_compatible_tables(subarray).items():
        write_table(h5file, path, table)


def _reference_itrs(site: str) -> dict[str, float]:
    if not site:
        return {}
    from astropy.coordinates import EarthLocation

    from datapipe_ops.instrument.loading import load_site

    s = load_site(site)
    location = EarthLocation.from_geodetic(
        lon=s.longitude_deg * u.deg, lat=s.latitude_deg * u.deg, height=s.height_m * u.m
    )
    x, y, z = (float(c.to_value(u.m)) for c in location.to_geocentric())
    return {"reference_itrs_x": x, "reference_itrs_y": y, "reference_itrs_z": z}


def ctapipe_compatible_tables(subarray: SubarrayDescription) -> dict[str, Table]:
    """The subarray's tables (:meth:`SubarrayDescription.to_tables`) with what ctapipe's
    reader needs added: columns and metadata of the layout and optics tables, and the camera
    tables under ctapipe's paths."""
    tables: dict[str, Table] = {
        f"{INSTRUMENT_GROUP}/{name}": table for name, table in subarray.to_tables().items()
    }
    cameras = list(subarray.cameras)
    optics = list(subarray.optics)
    tels = [subarray.telescopes[int(t)] for t in subarray.tel_ids]
    layout_table = QTable(tables[SUBARRAY_LAYOUT], copy=True)
    layout_table["camera_index"] = np.array([cameras.index(t.camera.name) for t in tels])
    layout_table["optics_index"] = np.array([optics.index(t.optics.name) for t in tels])
    layout_table["tel_description"] = [t.name for t in tels]
    layout_table.meta.update(
        TAB_VER=CTAPIPE_LAYOUT_VERSION,
        TAB_TYPE="ctapipe.instrument.SubarrayDescription",
        SUBARRAY=subarray.name,
        **_reference_itrs(subarray.site),
    )
    tables[SUBARRAY_LAYOUT] = layout_table
    size_type = {t.optics.name: t.type for t in tels}
    optics_table = QTable(tables[OPTICS], copy=True)
    optics_table["optics_name"] = [str(n) for n in optics]
    optics_table["size_type"] = [size_type[n] for n in optics]
    optics_table["reflector_shape"] = ["UNKNOWN"] * len(optics)
    optics_table["equivalent_focal_length"] = optics_table["focal_length"]
    optics_table["n_mirror_tiles"] = np.ones(len(optics), dtype=np.int32)
    optics_table.meta.update(
        TAB_VER=CTAPIPE_OPTICS_VERSION, TAB_TYPE="ctapipe.instrument.OpticsDescription"
    )
    tables[OPTICS] = optics_table
    for index, name in enumerate(cameras):
        camera = subarray.cameras[name]
        geometry, readout = camera.geometry, camera.readout
        tables[f"{CTAPIPE_CAMERA_GROUP}/geometry_{index}"] = QTable(
            {
                "pix_id": np.asarray(geometry.pix_id),
                "pix_x": np.asarray(geometry.pix_x) * u.m,
                "pix_y": np.asarray(geometry.pix_y) * u.m,
                "pix_area": np.asarray(geometry.pix_area) * u.m**2,
            },
            meta={
                "TAB_VER": CTAPIPE_GEOMETRY_VERSION,
                "TAB_TYPE": "ctapipe.instrument.CameraGeometry",
                "CAM_ID": name,
                "PIX_TYPE": geometry.pix_type,
                "PIX_ROT": float(geometry.pix_rotation_deg),
                "CAM_ROT": float(geometry.cam_rotation_deg),
            },
        )
        pulse = np.atleast_2d(np.asarray(readout.reference_pulse_shape))
        tables[f"{CTAPIPE_CAMERA_GROUP}/readout_{index}"] = QTable(
            {f"reference_pulse_shape_channel{c}": pulse[c] for c in range(pulse.shape[0])},
            meta={
                "TAB_VER": CTAPIPE_READOUT_VERSION,
                "TAB_TYPE": "ctapipe.instrument.CameraReadout",
                "CAM_ID": name,
                "NPIXELS": len(geometry.pix_id),
                "NCHAN": int(pulse.shape[0]),
                "NSAMPLES": int(readout.n_samples),
                "SAMPFREQ": float(readout.sampling_rate_ghz),
                "REFWIDTH": float(readout.reference_pulse_sample_width_ns),
            },
        )
    return tables


def read_subarray(h5file: h5py.File) -> SubarrayDescription:
    """Rebuild the subarray description stored in an open product."""
    if INSTRUMENT_GROUP not in h5file:
        raise InputFileError("has no instrument description", path=h5file.filename)
    names: list[str] = []

    def collect(name: str, node: h5py.HLObject) -> None:
        if isinstance(node, h5py.Dataset) and not name.endswith(META_SUFFIX):
            names.append(name)

    h5file[INSTRUMENT_GROUP].visititems(collect)
    tables = {name: read_table(h5file, f"{INSTRUMENT_GROUP}/{name}") for name in names}
    try:
        return SubarrayDescription.from_tables(tables)
    except InputFileError as exc:
        raise InputFileError(exc.problem, path=h5file.filename) from None
