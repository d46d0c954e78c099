"""PNG plots of benchmark figures: the campaign's curves, the reference's overlaid (dashed), a
ratio panel, and the verdict line under the plot (matplotlib, Agg, no LaTeX)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datapipe_ops.benchmarks.compare import FigureVerdict, ratio
from datapipe_ops.benchmarks.figures import Figure

#: verdict → colour of the verdict line
VERDICT_COLOURS = {"worse": "#b00020", "better": "#1b7f3b", "changed": "#b36b00"}


def _draw(ax, x: np.ndarray, y: np.ndarray, style: str, **kwargs) -> None:
    if style == "step":
        ax.step(x, y, where="mid", **kwargs)
    else:
        ax.plot(x, y, marker=".", **kwargs)


def plot_figure(
    figure: Figure,
    path: Path,
    reference: Figure | None = None,
    verdict: FigureVerdict | None = None,
    labels: tuple[str, str] = ("this", "reference"),
) -> None:
    """Write ``figure`` (with ``reference`` and ``verdict`` if given) as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    if figure.style == "map":
        _plot_map(figure, path, reference, verdict, labels)
        return
    with_ref = reference is not None
    fig, axes = plt.subplots(
        2 if with_ref else 1,
        1,
        figsize=(7, 5.6 if with_ref else 4.6),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1] if with_ref else [1]},
        layout="constrained",
    )
    ax = axes[0, 0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, curve in enumerate(figure.curves):
        colour = colours[index % len(colours)]
        label = f"{curve.name} ({labels[0]})" if with_ref else curve.name
        _draw(ax, curve.x, curve.y, figure.style, color=colour, label=label)
        ref = reference.curve(curve.name) if with_ref else None
        if ref is None:
            continue
        _draw(
            ax,
            ref.x,
            ref.y,
            figure.style,
            color=colour,
            ls="--",
            alpha=0.7,
            label=f"{curve.name} ({labels[1]})",
        )
        x, r = ratio(curve, ref)
        axes[1, 0].plot(x, r, marker=".", color=colour)
    ax.set(title=figure.title, ylabel=figure.y_label)
    if figure.y_log and any(np.nanmax(np.r_[c.y, 0]) > 0 for c in figure.curves):
        ax.set_yscale("log")
    bottom = axes[-1, 0]
    bottom.set_xlabel(figure.x_label)
    if figure.x_log:
        bottom.set_xscale("log")
    if with_ref:
        axes[1, 0].axhline(1.0, color="gray", lw=0.8)
        axes[1, 0].set_ylabel(f"{labels[0]} / {labels[1]}")
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # no mathtext: much faster
    for axis in [a for row in axes for a in row]:
        for scale_axis in (axis.xaxis, axis.yaxis):
            if scale_axis.get_scale() == "log":
                scale_axis.set_major_formatter(plain)
                scale_axis.set_minor_formatter(NullFormatter())
        axis.grid(alpha=0.3)
    if figure.curves:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    if verdict is not None:
        fig.supxlabel(
            verdict.line(), fontsize="medium", color=VERDICT_COLOURS.get(verdict.verdict, "black")
        )
    fig.savefig(path, format="png", dpi=80)
    plt.close(fig)


def _plot_map(
    figure: Figure,
    path: Path,
    reference: Figure | None,
    verdict: FigureVerdict | None,
    labels: tuple[str, str],
) -> None:
    """A square map (one curve, ``y`` flattened row by row), beside the reference's."""
    import matplotlib.pyplot as plt

    shown = [(labels[0], figure)] + ([(labels[1], reference)] if reference is not None else [])
    fig, axes = plt.subplots(
        1, len(shown), figsize=(5 * len(shown), 4.6), squeeze=False, layout="constrained"
    )
    for ax, (label, item) in zip(axes[0], shown, strict=True):
        if not item.curves:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            continue
        curve = item.curves[0]
        side = round(np.sqrt(curve.y.size))
        x = curve.x[:side]
        extent = (x[0], x[-1], x[0], x[-1])
        image = ax.imshow(
            curve.y.reshape(side, side), origin="lower", extent=extent, cmap="viridis"
        )
        fig.colorbar(image, ax=ax, label="events")
        ax.set(
            title=f"{figure.title} ({label})" if reference is not None else figure.title,
            xlabel=figure.x_label,
            ylabel=figure.y_label,
        )
    if verdict is not None:
        fig.supxlabel(
            verdict.line(), fontsize="medium", color=VERDICT_COLOURS.get(verdict.verdict, "black")
        )
    fig.savefig(path, format="png", dpi=80)
    plt.close(fig)
