"""The instrument model: cameras (pixel geometry, neighbours, readout), optics, array layouts.

Descriptions are generated from the YAML files under ``include/instrument/`` and are immutable;
their arrays are read-only numpy arrays that numba kernels take as they are.

>>> from datapipe_ops.instrument import load_camera, load_subarray
>>> load_camera("LSTCam").geometry.n_pixels
1855
>>> load_subarray("demo").n_tels
4
"""

from datapipe_ops.instrument.camera import CameraDescription, CameraGeometry, CameraReadout
from datapipe_ops.instrument.loading import (
    Site,
    available_cameras,
    available_layouts,
    available_sites,
    build_camera,
    load_camera,
    load_optics,
    load_site,
    load_subarray,
)
from datapipe_ops.instrument.optics import OpticsDescription, TelescopeDescription
from datapipe_ops.instrument.subarray import SubarrayDescription

__all__ = [
    "CameraDescription",
    "CameraGeometry",
    "CameraReadout",
    "OpticsDescription",
    "Site",
    "SubarrayDescription",
    "TelescopeDescription",
    "available_cameras",
    "available_layouts",
    "available_sites",
    "build_camera",
    "load_camera",
    "load_optics",
    "load_site",
    "load_subarray",
]
