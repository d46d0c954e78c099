"""An IRF set (the IRFs of several zenith productions) interpolated to one observation.

The nodes of an IRF set are ``compute-irf`` products of the same model set and cuts at
different zenith angles. :func:`interpolate_irf` takes the observation's zenith (from its DL2
observation block, or given), and

- at a node (within ``node_tolerance`` in cos zenith) returns that node's IRFs unchanged;
- between two nodes interpolates every response HDU in cos zenith with pyirf's estimators
  (``EffectiveAreaEstimator``, ``EnergyDispersionEstimator``, ``PSFTableEstimator``,
  ``RadMaxEstimator``; the background rate log-linearly between the two nodes);
- outside the grid refuses, unless the configuration allows the nearest node within
  ``max_cos_zenith_distance``.

The result is an IRF product like the nodes (same HDU names), with ``ZENITH`` the
observation's and ``IRFNODES`` the node zeniths used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits

from datapipe_ops.errors import InputFileError
from datapipe_ops.io import layout, open_product, read_table
from datapipe_ops.io.fits import write_fits
from datapipe_ops.io.outputs import check_output
from datapipe_ops.irf.config import InterpolationConfig
from datapipe_ops.irf.products import creator, read_product_header, register_output

#: HDUCLAS2 → data column of the response HDUs
DATA_COLUMNS = {
    "EFF_AREA": "EFFAREA",
    "EDISP": "MATRIX",
    "RPSF": "RPSF",
    "PSF": "RPSF",
    "BKG": "BKG",
    "RAD_MAX": "RAD_MAX",
}
#: primary-header cards every node of a set must share
SHARED_CARDS = ("MODELSET", "CUTSSHA", "EVTYPES")


@dataclass(frozen=True)
class Node:
    """One node of an IRF set."""

    path: Path
    zenith_deg: float
    header: fits.Header

    @property
    def cos_zenith(self) -> float:
        """cos of the node's zenith angle."""
        return float(np.cos(np.deg2rad(self.zenith_deg)))


def read_node(path: str | Path) -> Node:
    """One node of an IRF set: a ``compute-irf`` product and the zenith its header records."""
    header = read_product_header(path, "IRF")
    if "ZENITH" not in header:
        raise InputFileError("IRF product records no ZENITH", path=path)
    return Node(Path(path), float(header["ZENITH"]), header)


def check_same_set(nodes: list[Node]) -> list[Node]:
    """The nodes sorted by cos zenith, checked to share model set, cuts and event types and to
    be at distinct zenith angles (one node is a valid, if trivial, set)."""
    if not nodes:
        raise InputFileError("an IRF set needs IRF products (none given)")
    first = nodes[0]
    for node in nodes[1:]:
        for card in SHARED_CARDS:
            if node.header.get(card) != first.header.get(card):
                raise InputFileError(
                    f"IRF set nodes differ in {card} ({node.header.get(card)} here, "
                    f"{first.header.get(card)} in {first.path.name})",
                    path=node.path,
                )
    if len({round(n.zenith_deg, 6) for n in nodes}) != len(nodes):
        raise InputFileError("two IRF set nodes have the same zenith angle", path=first.path)
    return sorted(nodes, key=lambda n: n.cos_zenith)


def read_nodes(paths: list[Path]) -> list[Node]:
    """The nodes of an IRF set, checked to share model set, cuts and event types, sorted by
    cos zenith; interpolating needs nodes at two zenith angles at least."""
    nodes = check_same_set([read_node(path) for path in paths])
    if len(nodes) < 2:
        raise InputFileError(
            f"an IRF set needs nodes at two zenith angles at least, all are at "
            f"{nodes[0].zenith_deg:g} deg",
            path=nodes[0].path,
        )
    return nodes


def observation_zenith(dl2: Path) -> float:
    """The mean zenith angle [deg] of an observation from its DL2 observation block."""
    with open_product(dl2, level="DL2") as h5file:
        if layout.OBSERVATION not in h5file:
            raise InputFileError(f"has no observation block {layout.OBSERVATION}", path=dl2)
        block = read_table(h5file, layout.OBSERVATION)
        if "zenith" in block.colnames:
            return float(block["zenith"][0].to_value(u.deg))
        if "altitude" in block.colnames:
            return 90.0 - float(block["altitude"][0].to_value(u.deg))
    raise InputFileError("observation block has no zenith nor altitude column", path=dl2)


def _column(hdu: fits.BinTableHDU) -> str:
    kind = hdu.header.get("HDUCLAS2")
    name = DATA_COLUMNS.get(kind)
    if name is None or name not in hdu.columns.names:
        raise InputFileError(f"response HDU {hdu.name} has no known data column ({kind})")
    return name


def _edges(hdu: fits.BinTableHDU, prefix: str) -> np.ndarray:
    return np.append(hdu.data[f"{prefix}_LO"][0], hdu.data[f"{prefix}_HI"][0][-1])


def interpolate_component(
    hdus: tuple[fits.BinTableHDU, fits.BinTableHDU], grid: np.ndarray, target: float
) -> np.ndarray:
    """The data column of a response HDU interpolated between two nodes at ``target``."""
    from pyirf.interpolation import (
        EffectiveAreaEstimator,
        EnergyDispersionEstimator,
        PSFTableEstimator,
        RadMaxEstimator,
    )

    kind = hdus[0].header["HDUCLAS2"]
    column = _column(hdus[0])
    data = np.stack([np.asarray(h.data[column][0], np.float64) for h in hdus])
    point = np.array([target])
    grid = grid.reshape(-1, 1)
    if kind == "EFF_AREA":
        floor = 1e-3 * u.m**2
        estimator = EffectiveAreaEstimator(grid, data * u.m**2, min_effective_area=floor)
        area = estimator(point).to_value(u.m**2)
        return np.where(area <= floor.to_value(u.m**2) * (1 + 1e-9), 0.0, area)
    if kind == "EDISP":
        migra = _edges(hdus[0], "MIGRA")
        return EnergyDispersionEstimator(grid, migra, data, axis=-2)(point)
    if kind in ("RPSF", "PSF"):
        rad = _edges(hdus[0], "RAD") * u.deg
        return PSFTableEstimator(grid, rad, data / u.sr, axis=-3)(point).to_value(1 / u.sr)
    if kind == "RAD_MAX":
        return RadMaxEstimator(grid, data)(point)
    # background rate: log-linear between the two nodes (pyirf has no estimator for it)
    weight = (target - grid[0, 0]) / (grid[1, 0] - grid[0, 0])
    floor = np.min(data[data > 0]) * 1e-3 if np.any(data > 0) else 1.0
    logs = np.log(np.maximum(data, floor))
    result = np.exp((1 - weight) * logs[0] + weight * logs[1])
    return np.where(result <= floor * 1.0001, 0.0, result)


def _response_hdus(path: Path) -> dict[str, fits.BinTableHDU]:
    with fits.open(path) as hdul:
        return {h.name: h.copy() for h in hdul[1:] if h.header.get("HDUCLAS1") == "RESPONSE"}


def _checked_pair(a: Node, b: Node) -> list[tuple[fits.BinTableHDU, fits.BinTableHDU]]:
    first, second = _response_hdus(a.path), _response_hdus(b.path)
    if set(first) != set(second):
        raise InputFileError(
            f"IRF set nodes hold different HDUs ({sorted(set(first) ^ set(second))})",
            path=b.path,
        )
    pairs = []
    for name, hdu in first.items():
        other = second[name]
        for column in hdu.columns.names:
            if hdu.data[column].shape != other.data[column].shape:
                raise InputFileError(
                    f"{name} of the IRF set nodes have different binnings ({column})",
                    path=b.path,
                )
        pairs.append((hdu, other))
    return pairs


@dataclass
class InterpolationSummary:
    """What :func:`interpolate_irf` wrote."""

    output: Path
    zenith_deg: float
    nodes: list[float]
    mode: str
    product_id: int | None = None

    @property
    def details(self) -> str:
        """One line for the command line."""
        nodes = ", ".join(f"{z:g}" for z in self.nodes)
        return f"zenith {self.zenith_deg:.2f} deg, {self.mode} (nodes {nodes} deg)"


def choose_nodes(
    nodes: list[Node], zenith_deg: float, config: InterpolationConfig
) -> tuple[str, list[Node]]:
    """``("node", [n])``, ``("nearest", [n])`` or ``("interpolated", [a, b])`` for the
    zenith; :class:`InputFileError` outside the grid unless the nearest node may be taken."""
    target = float(np.cos(np.deg2rad(zenith_deg)))
    distances = [abs(n.cos_zenith - target) for n in nodes]
    nearest = nodes[int(np.argmin(distances))]
    if min(distances) <= config.node_tolerance:
        return "node", [nearest]
    low, high = nodes[0].cos_zenith, nodes[-1].cos_zenith
    if not low <= target <= high:
        if config.allow_nearest and min(distances) <= config.max_cos_zenith_distance:
            return "nearest", [nearest]
        zeniths = sorted(n.zenith_deg for n in nodes)
        allowed = (
            f"; the nearest node is {min(distances):.3f} away in cos zenith, more than the "
            f"allowed {config.max_cos_zenith_distance}"
            if config.allow_nearest
            else ""
        )
        raise InputFileError(
            f"zenith {zenith_deg:.2f} deg is outside the IRF set's grid "
            f"({zeniths[0]:g}–{zeniths[-1]:g} deg){allowed}",
            path=nodes[0].path,
        )
    index = int(np.searchsorted([n.cos_zenith for n in nodes], target))
    return "interpolated", [nodes[index - 1], nodes[index]]


def interpolate_irf(
    irf_paths: list[str | Path],
    output: str | Path,
    *,
    dl2: str | Path | None = None,
    zenith_deg: float | None = None,
    config: InterpolationConfig | None = None,
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
) -> InterpolationSummary:
    """Write the IRFs of one observation (``dl2``, or a ``zenith_deg``) from an IRF set."""
    config = config or InterpolationConfig()
    paths = [Path(p) for p in irf_paths]
    if (dl2 is None) == (zenith_deg is None):
        raise InputFileError("give either the observation's DL2 product or a zenith angle")
    output = check_output(output, [*paths, dl2], overwrite)
    nodes = read_nodes(paths)
    zenith = observation_zenith(Path(dl2)) if dl2 is not None else float(zenith_deg)
    mode, used = choose_nodes(nodes, zenith, config)
    header = used[0].header.copy()
    header["ZENITH"] = zenith
    header["IRFNODES"] = (",".join(f"{n.zenith_deg:g}" for n in used), "zenith nodes [deg]")
    header["IRFMODE"] = (mode, "node, nearest or interpolated (cos zenith)")
    header["CREATOR"] = creator()
    if mode == "interpolated":
        grid = np.array([n.cos_zenith for n in used])
        target = float(np.cos(np.deg2rad(zenith)))
        hdus = []
        with np.errstate(invalid="ignore", divide="ignore"):
            for first, second in _checked_pair(*used):
                hdu = first.copy()
                values = np.nan_to_num(interpolate_component((first, second), grid, target))
                hdu.data[_column(first)][0] = values.reshape(hdu.data[_column(first)][0].shape)
                hdus.append(hdu)
    else:
        with fits.open(used[0].path) as hdul:
            hdus = [h.copy() for h in hdul[1:]]
    write_fits([fits.PrimaryHDU(header=header), *hdus], output)
    summary = InterpolationSummary(output, zenith, [n.zenith_deg for n in used], mode)
    if register:
        inputs = dict.fromkeys([n.path for n in nodes], "IRF")
        if dl2 is not None:
            inputs[Path(dl2)] = "DL2"
        summary.product_id = register_output(
            output, "IRF", "irf", inputs, catalog_url, zenith_deg=zenith
        )
    return summary
