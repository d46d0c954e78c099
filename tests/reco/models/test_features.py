"""Feature definitions: derived features, required columns, unknown names."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.reco.models.features import column_values, required_columns, unknown_features

pytestmark = pytest.mark.requirement("DPPS-DP-R-063")


def test_derived_features_compute_from_parameters():
    columns = {
        "hillas_intensity": np.array([100.0, 1000.0, 0.0]),
        "hillas_width": np.array([0.05, 0.1, 0.02]),
        "hillas_length": np.array([0.2, 0.4, 0.0]),
        "hillas_fov_lon": np.array([1.0, 0.0, 0.0]),
        "hillas_fov_lat": np.array([0.0, 1.0, 0.0]),
        "hillas_psi": np.array([0.0, 90.0, 0.0]),
    }
    assert np.allclose(column_values(columns, "log10_intensity")[:2], [2.0, 3.0])
    assert np.isnan(column_values(columns, "log10_intensity")[2])
    assert np.allclose(column_values(columns, "width_length"), [0.01, 0.04, 0.0])
    assert np.allclose(column_values(columns, "width_over_length")[:2], [0.25, 0.25])
    assert np.isnan(column_values(columns, "width_over_length")[2])
    assert np.allclose(column_values(columns, "axis_toward_center"), [-1.0, -1.0, 0.0])


def test_required_and_unknown_columns():
    assert required_columns(["log10_intensity_per_area", "impact_distance"]) == {
        "hillas_intensity",
        "hillas_width",
        "hillas_length",
        "impact_distance",
    }
    available = {"hillas_intensity", "hillas_width"}
    assert unknown_features(["log10_intensity", "width_length", "x"], available) == [
        "width_length",
        "x",
    ]
