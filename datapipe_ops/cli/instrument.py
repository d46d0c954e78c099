"""``datapipe instrument``: list and check the instrument descriptions under include/instrument."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="Cameras, optics, sites and array layouts: list them, show one, check a file.",
    no_args_is_help=True,
)


@app.command("list")
def list_all() -> None:
    """List the available cameras, layouts and sites."""
    from datapipe_ops.instrument import (
        available_cameras,
        available_layouts,
        available_sites,
        load_camera,
        load_subarray,
    )

    typer.echo("cameras:")
    for name in available_cameras():
        camera = load_camera(name)
        geometry, readout = camera.geometry, camera.readout
        typer.echo(
            f"  {name:<12} {geometry.n_pixels:5d} {geometry.pix_type} pixels, "
            f"{readout.sampling_rate_ghz:g} GHz x {readout.n_samples} samples"
        )
    typer.echo("layouts:")
    for name in available_layouts():
        subarray = load_subarray(name)
        typer.echo(
            f"  {name:<12} {subarray.n_tels:3d} telescopes at {subarray.site} "
            f"({', '.join(subarray.camera_types)})"
        )
    typer.echo("sites:")
    for name in available_sites():
        typer.echo(f"  {name}")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="A camera or layout name, or a YAML file of one.")],
) -> None:
    """Describe one camera or layout (by name or file); a bad file is reported with its key."""
    from pathlib import Path

    import yaml

    from datapipe_ops.errors import ConfigError
    from datapipe_ops.instrument import (
        available_cameras,
        available_layouts,
        load_camera,
        load_subarray,
    )
    from datapipe_ops.instrument.loading import instrument_dir

    is_camera = name in available_cameras()
    if not is_camera and not Path(name).is_file() and name not in available_layouts():
        known = ", ".join(available_cameras() + available_layouts())
        raise ConfigError(f"unknown camera or layout '{name}' (known: {known})", instrument_dir())
    if not is_camera and Path(name).is_file():
        data = yaml.safe_load(Path(name).read_text()) or {}
        is_camera = isinstance(data, dict) and "pixels" in data
    if is_camera:
        camera = load_camera(name)
        g, r = camera.geometry, camera.readout
        typer.echo(f"camera {camera.name}: {g.n_pixels} {g.pix_type} pixels")
        typer.echo(f"  pixel width     {g.pixel_width[0] * 1e3:.2f} mm")
        n_border = int(g.border_pixel_mask().sum())
        typer.echo(f"  neighbours      max {g.n_neighbors.max()}, border pixels {n_border}")
        typer.echo(f"  pix_rotation    {g.pix_rotation_deg:.3f} deg")
        typer.echo(f"  readout         {r.sampling_rate_ghz:g} GHz, {r.n_samples} samples")
        typer.echo(f"  pulse FWHM      {r.pulse_fwhm_ns:g} ns")
        return
    subarray = load_subarray(name)
    typer.echo(f"layout {subarray.name} at {subarray.site}: {subarray.n_tels} telescopes")
    for tel_id, (x, y, z) in zip(subarray.tel_ids, subarray.positions, strict=True):
        tel = subarray.telescopes[int(tel_id)]
        typer.echo(f"  {tel_id:4d}  {tel.name:<20} x={x:9.2f} y={y:9.2f} z={z:7.2f} m")
