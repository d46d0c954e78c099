"""The DL2→DL3 stage (UC-130-3.1): one observation's DL2 events → a GADF DL3 file, indexed.

Before the first event is read, :func:`dl2_to_dl3` checks the output, the DL2 tables, the
observation block and its good time intervals, and that the cuts and the IRFs belong to the
events: the cuts product and the IRF product must record the DL2's model set
(``/dl2/service/models``), the IRFs must record the sha256 of these cuts, and — when the IRF
product is in the catalog — its lineage must contain these cuts and the same models as the
DL2's. Then it applies the cuts, keeps the events inside the GTIs, converts them to RA/Dec,
writes EVENTS, GTI, POINTING and the IRF HDUs of the configured flavour atomically, adds the
observation to the directory's index files (under a lock) and registers the DL3 product.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from datapipe_ops.checksum import sha256_file
from datapipe_ops.dl3 import eventlist, index
from datapipe_ops.dl3.config import DL3Config
from datapipe_ops.errors import InputFileError, OutputError
from datapipe_ops.io import open_product
from datapipe_ops.io.fits import write_fits
from datapipe_ops.io.outputs import check_output
from datapipe_ops.irf.cuts import read_cuts
from datapipe_ops.irf.events import check_dl2, model_set_id, read_events
from datapipe_ops.irf.products import model_set_of, read_product_header, register_output


@dataclass
class DL3Summary:
    """What the stage wrote."""

    output: Path
    obs_id: int
    n_events: int
    n_selected: int
    product_id: int | None = None


def check_irf_belongs(
    irf_path: Path, cuts_path: Path, dl2_model_set: str | None, catalog_url: str | None
) -> None:
    """Refuse IRFs (or cuts) made from another model set or with other cuts than the events'."""
    cuts = read_cuts(cuts_path)
    if cuts.model_set_id != dl2_model_set:
        raise InputFileError(
            f"cuts were made for model set {cuts.model_set_id or 'NONE'}, the events are of "
            f"model set {dl2_model_set or 'NONE'}",
            path=cuts_path,
        )
    header = read_product_header(irf_path, "IRF")
    irf_model_set = model_set_of(header)
    if irf_model_set != dl2_model_set:
        raise InputFileError(
            f"IRFs were made from model set {irf_model_set or 'NONE'}, the events are of model "
            f"set {dl2_model_set or 'NONE'}",
            path=irf_path,
        )
    cuts_sha = sha256_file(cuts_path)
    if header.get("CUTSSHA") != cuts_sha:
        raise InputFileError(
            f"IRFs were made with other cuts than {cuts_path.name} (CUTSSHA differs)",
            path=irf_path,
        )
    if catalog_url is not None:
        check_lineage(irf_path, cuts_sha, catalog_url)


def check_lineage(irf_path: Path, cuts_sha: str, catalog_url: str) -> None:
    """When the IRF product is registered, its lineage must contain cuts with ``cuts_sha``."""
    from datapipe_ops.catalog import Catalog

    with Catalog(catalog_url) as catalog:
        product = catalog.find_product(irf_path.absolute())
        if product is None:
            return
        ancestors = catalog.lineage(product).products().values()
        cuts = [p for p in ancestors if p.kind == "cuts"]
        if cuts and all(p.sha256 != cuts_sha for p in cuts):
            raise InputFileError(
                "the catalog lineage of these IRFs does not contain the cuts given "
                f"(it has {', '.join(Path(p.path).name for p in cuts)})",
                path=irf_path,
            )


def _check_index(directory: Path, obs_id: int, name: str, overwrite: bool) -> None:
    """Refuse to index an observation a second time under another file name."""
    table = index.read_index(directory / index.HDU_INDEX)
    if table is None:
        return
    rows = table[np.asarray(table["OBS_ID"]) == obs_id]
    files = {str(f) for f in rows["FILE_NAME"]}
    if files and files != {name} and not overwrite:
        raise OutputError(
            f"observation {obs_id} is already indexed as {', '.join(sorted(files))} "
            "(use --overwrite to replace it)",
            path=directory / index.HDU_INDEX,
        )


def dl2_to_dl3(
    dl2_path: str | Path,
    cuts_path: str | Path,
    irf_path: str | Path,
    output: str | Path,
    config: DL3Config | None = None,
    *,
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
) -> DL3Summary:
    """Write the DL3 file of one observation and add it to its directory's index files.

    ``output`` is the DL3 file (``.fits`` or ``.fits.gz``); the index files live beside it.
    ``irf_path`` is an IRF product (a node of the IRF set or its interpolation to this
    observation, ``datapipe interpolate-irf``) made with the cuts ``cuts_path``.
    """
    from datapipe_ops import settings

    config = config or DL3Config()
    dl2_path, cuts_path, irf_path = Path(dl2_path), Path(cuts_path), Path(irf_path)
    output = check_output(output, [dl2_path, cuts_path, irf_path], overwrite)
    with open_product(dl2_path, level="DL2") as h5file:
        check_dl2(h5file, config.algorithms, need_truth=False)
        info = eventlist.observation_info(h5file)
        dl2_model_set = model_set_id(h5file)
    lineage_url = (catalog_url or settings.catalog_url()) if register else catalog_url
    check_irf_belongs(irf_path, cuts_path, dl2_model_set, lineage_url)
    irf_hdus = eventlist.irf_hdus(irf_path, config.flavour)
    _check_index(output.parent, info.obs_id, output.name, overwrite)
    cuts = read_cuts(cuts_path)
    data = read_events(dl2_path, config.algorithms, simulated=False, chunk_size=config.chunk_size)
    events = data.events
    selected = cuts.selection(events, theta=False) & eventlist.in_gti(
        np.asarray(events["time"]), info
    )
    events = events[selected]
    events = events[np.argsort(np.asarray(events["time"]), kind="stable")]
    cards = eventlist.common_cards(info, config)
    with open_product(dl2_path, level="DL2") as h5file:
        pointing = eventlist.pointing_hdu(h5file, info, cards)
    events_hdu = eventlist.events_hdu(events, info, cards, config)
    for key, value in (
        ("MODELSET", dl2_model_set or "NONE"),
        ("CUTSSHA", sha256_file(cuts_path)),
        ("IRFFILE", irf_path.name),
        ("IRFSHA", sha256_file(irf_path)),
    ):
        events_hdu.header[key] = value
    primary = fits.PrimaryHDU()
    primary.header["DPKIND"] = "DL3"
    primary.header["CREATOR"] = cards["CREATOR"]
    existed = output.exists()
    write_fits(
        [
            primary,
            events_hdu,
            eventlist.gti_hdu(info, cards),
            pointing,
            *(hdu for hdu, _ in irf_hdus),
        ],
        output,
    )
    rows = [
        ("events", "events", "EVENTS"),
        ("gti", "gti", "GTI"),
        ("pointing", "pointing", "POINTING"),
    ]
    rows += [(kind, eventlist.IRF_CLASSES[kind], hdu.name) for hdu, kind in irf_hdus]
    try:
        index.add_observation(
            output.parent, info.obs_id, output.name, rows, events_hdu.header, len(events)
        )
    except BaseException:
        if not existed:
            output.unlink(missing_ok=True)
        raise
    summary = DL3Summary(output, info.obs_id, len(data.events), len(events))
    if register:
        summary.product_id = register_output(
            output,
            "DL3",
            "events",
            {dl2_path: "DL2", cuts_path: "IRF", irf_path: "IRF"},
            catalog_url,
            obs_id=info.obs_id,
            n_events=len(events),
            time_start=info.gti_start.min().utc.datetime,
            time_stop=info.gti_stop.max().utc.datetime,
            zenith_deg=90.0 - float(events_hdu.header["ALT_PNT"]),
            config_hash=None,
        )
    return summary
