"""Settings for the whole test session (every test directory, and the processes tests start),
and the session's Rucio server fixture.

numba keys its on-disk cache on the source file of the cached function only. A kernel that
calls a function from another module (the vector operations of ``datapipe_ops.calib.intrinsics``,
the timing fit of ``datapipe_ops.image.timing``) keeps running its old compiled code after that
other module changes, until the cache files are deleted. So that the tests always run the code
in the working tree, the session uses a numba cache directory named after a digest of every
``datapipe_ops`` source file: any change starts a fresh cache (the kernels compile once, about
a minute), an unchanged tree reuses it. An explicitly set ``NUMBA_CACHE_DIR`` is respected.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]

# Requirement marks checked against docs/requirements/requirements.yaml at collection, outcomes
# recorded for the verification matrix (docs/developer-guide.md, "Requirements").
pytest_plugins = ["testkit.requirements.plugin"]

# The real Rucio server of the BDMS tests (tests/rucio/rucio_service.py): one per session,
# whichever test directories use it.
sys.path.insert(0, str(REPOSITORY / "tests" / "rucio"))
from rucio_service import rucio_server  # noqa: E402, F401  (fixture)


def sources_digest(package: Path = REPOSITORY / "datapipe_ops") -> str:
    """Short sha256 over the paths and contents of the package's Python files."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


os.environ.setdefault("NUMBA_CACHE_DIR", str(REPOSITORY / ".numba-cache" / sources_digest()))


# ---------------------------------------------------------------------------------------------
# small DL1 products (the DL1→DL2, merge and ctapipe-interop tests)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def dl1_runs(tmp_path_factory) -> list[dict[str, Path]]:
    """Two small simulated runs of diffuse gammas of the demo subarray (obs_id 1001, 1002):
    per run its ``dl0``, ``coefficients`` and ``dl1`` paths. Read-only: copy before changing."""
    from testkit.simulated import demo_dl1_run

    directory = tmp_path_factory.mktemp("dl1_runs")
    return [demo_dl1_run(directory, 3000, index, stem=f"gamma_{index}") for index in range(2)]


# ---------------------------------------------------------------------------------------------
# a small chain to DL3 (the tailored-IRF and DL3 spectrum tests)


@pytest.fixture(scope="session")
def dl3_chain(tmp_path_factory) -> dict:
    """A model set, cuts and an IRF set (zenith 2 and 20 deg) of small productions
    (``testkit.dl3_chain``), and one short bright observation taken to DL3 with them:
    {"chain": Chain, "observation": ObservationConfig, "products": {dl1, dl2, irf, dl3}}.
    Everything is registered in the chain's own catalog. Read-only."""
    from testkit import dl3_chain

    directory = tmp_path_factory.mktemp("dl3_chain")
    chain = dl3_chain.build_chain(directory)
    observation = dl3_chain.bright_small_observation()
    dl0 = dl3_chain.simulate_observation_dl0(observation, directory / "observation")
    products = dl3_chain.observation_to_dl3(
        dl0.path, dl0.coefficients_path, chain, directory / "products"
    )
    return {"chain": chain, "observation": observation, "products": products}
