"""Small simulated runs of the demo production for tests and benchmarks: DL0 (with its
CalibPipe coefficients) and DL1 calibrated from it."""

from __future__ import annotations

from pathlib import Path


def demo_run(
    output: Path,
    n_showers: int,
    seed: int | None = None,
    obs_id: int | None = None,
    run_index: int = 0,
    component: str = "gamma_diffuse",
) -> tuple[Path, Path]:
    """Simulate run ``run_index`` of a component of the demo production (LST + 3 MST; diffuse
    gammas unless ``component`` says otherwise) into the DL0 file ``output``.

    ``seed`` defaults to the production's seed and ``obs_id`` to the component's first one
    plus ``run_index``; the run's seed is the production's file seed of ``run_index``.
    Returns the DL0 file and its CalibPipe coefficients file.
    """
    from datapipe_ops.config import load_config
    from datapipe_ops.resources import include_dir
    from datapipe_ops.simulation.config import SimulationConfig
    from datapipe_ops.simulation.production import file_seed, simulate_run

    config = load_config(include_dir() / "config/simulation/demo.yaml", SimulationConfig)
    source = config.component(component)
    summary = simulate_run(
        config,
        source,
        output,
        file_seed(config.seed if seed is None else seed, source.name, run_index),
        source.obs_id_start + run_index if obs_id is None else obs_id,
        run_index=run_index,
        n_showers=n_showers,
        show_progress=False,
    )
    return summary.path, summary.coefficients_path


def demo_gamma_run(
    output: Path, n_showers: int, seed: int | None = None, obs_id: int | None = None
) -> tuple[Path, Path]:
    """Simulate a gamma-diffuse run of the demo production (:func:`demo_run`, run 0)."""
    return demo_run(output, n_showers, seed=seed, obs_id=obs_id)


def demo_dl1_run(
    directory: Path,
    n_showers: int,
    run_index: int = 0,
    stem: str = "gamma",
    component: str = "gamma_diffuse",
) -> dict[str, Path]:
    """Run ``run_index`` of a component of the demo production (obs_id: the component's first
    plus ``run_index``) simulated into ``directory/<stem>.dl0.h5`` and calibrated to
    ``<stem>.dl1.h5``: its ``dl0``, ``coefficients`` and ``dl1`` paths."""
    from datapipe_ops.calib.stage import dl0_to_dl1

    dl0, coefficients = demo_run(
        directory / f"{stem}.dl0.h5", n_showers, run_index=run_index, component=component
    )
    dl1 = directory / f"{stem}.dl1.h5"
    dl0_to_dl1(dl0, dl1, coefficients, register=False)
    return {"dl0": dl0, "coefficients": coefficients, "dl1": dl1}


def renumbered_copy(source: Path, target: Path, index: int) -> Path:
    """A copy of a product whose obs_ids are shifted by ``1000 * index``: another run with the
    same content (e.g. to merge)."""
    import shutil

    import h5py

    shutil.copy(source, target)

    def shift(_: str, node: object) -> None:
        if isinstance(node, h5py.Dataset) and node.dtype.names and "obs_id" in node.dtype.names:
            rows = node[()]
            rows["obs_id"] += 1000 * index
            node[...] = rows

    with h5py.File(target, "r+") as h5:
        h5.visititems(shift)
    return target
