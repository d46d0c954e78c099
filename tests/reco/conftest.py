"""Fixtures of the DL1→DL2 tests: the ctapipe reference module, DL2 products of the small runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).parent


def load_reference() -> ModuleType:
    """``ctapipe_reference.py`` (ctapipe's HillasReconstructor on a DL1 product) as a module."""
    path = HERE / "ctapipe_reference.py"
    spec = importlib.util.spec_from_file_location("ctapipe_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def ctapipe_reference() -> ModuleType:
    return load_reference()


@pytest.fixture(scope="session")
def dl2_run(dl1_runs, tmp_path_factory) -> Path:
    """The geometry-only DL2 product of the first small run (read-only)."""
    from datapipe_ops.reco.stage import dl1_to_dl2

    output = tmp_path_factory.mktemp("dl2") / "gamma_0.dl2.h5"
    dl1_to_dl2(dl1_runs[0]["dl1"], output, register=False)
    return output
