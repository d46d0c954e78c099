"""A small simulated DL0 run for tests and benchmarks of the stages that read DL0."""

from __future__ import annotations

from pathlib import Path


def demo_gamma_run(
    output: Path, n_showers: int, seed: int | None = None, obs_id: int | None = None
) -> tuple[Path, Path]:
    """Simulate a gamma-diffuse run of the demo production (LST + 3 MST) into ``output``.

    ``seed`` defaults to the production's seed and ``obs_id`` to the component's first one.
    Returns the DL0 file and its CalibPipe coefficients file.
    """
    from datapipe_ops.config import load_config
    from datapipe_ops.resources import include_dir
    from datapipe_ops.simulation.config import SimulationConfig
    from datapipe_ops.simulation.production import file_seed, simulate_run

    config = load_config(include_dir() / "config/simulation/demo.yaml", SimulationConfig)
    component = config.component("gamma_diffuse")
    summary = simulate_run(
        config,
        component,
        output,
        file_seed(config.seed if seed is None else seed, component.name, 0),
        component.obs_id_start if obs_id is None else obs_id,
        n_showers=n_showers,
        show_progress=False,
    )
    return summary.path, summary.coefficients_path
