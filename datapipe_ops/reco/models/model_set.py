"""Model sets: immutable directories of LightGBM models with their card, and the catalog.

A model set is a directory ``<models root>/<id>/`` holding one LightGBM text model per kind and
telescope type (``energy.MST_MST_NectarCam.txt`` …), ``card.json`` and ``plots/``. Its id is
the first 16 hex digits of the sha256 of the card (which lists every model file's sha256), so
the same training (seed, data, configuration, software) gives the same id. It is written into a
hidden temporary directory and renamed into place in one step; an existing set is never
overwritten (the id names the content: the same id is the same set).

The card (``card.json``) records: the kinds and telescope types, each model's file, sha256,
features, target and CV metrics, the LightGBM hyper-parameters, the resolved configuration and
its hash, the training products with their sha256, the software versions, the event-type
thresholds and the benchmark plots.

The set is registered in the catalog as a ``MODEL`` product (path: its ``card.json``, kind
``model_set``) with lineage to its training products.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datapipe_ops.checksum import sha256_file
from datapipe_ops.errors import CatalogError, InputFileError
from datapipe_ops.settings import data_root

CARD = "card.json"
FORMAT_VERSION = 1
#: the telescope-type key of subarray-level models (the event-type model)
SUBARRAY = "subarray"
CATALOG_KIND = "model_set"


def models_root() -> Path:
    """Default directory of model sets: ``<data root>/models``."""
    return data_root() / "models"


def model_file_name(kind: str, tel_type: str) -> str:
    """``energy.LST_LST_LSTCam.txt``."""
    return f"{kind}.{tel_type}.txt"


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def model_set_id(card: Mapping[str, Any]) -> str:
    """The id of a card (its ``id`` field excluded): sha256 of its canonical JSON, 16 hex."""
    content = {k: v for k, v in card.items() if k != "id"}
    return hashlib.sha256(_canonical(content)).hexdigest()[:16]


@dataclass
class ModelSetDraft:
    """What training produced, before it is written: model texts, card fields, plots."""

    models: dict[tuple[str, str], str] = field(default_factory=dict)
    model_info: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    #: file name → matplotlib figure, or the path of an existing PNG to copy
    plots: dict[str, Any] = field(default_factory=dict)


def finished_card(draft: ModelSetDraft) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The card a draft is written with (its id included) and the model files' bytes by name."""
    entries = []
    texts: dict[str, bytes] = {}
    for (kind, tel_type), text in sorted(draft.models.items()):
        name = model_file_name(kind, tel_type)
        data = text.encode()
        texts[name] = data
        entry = {"kind": kind, "telescope_type": tel_type, "file": name}
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        entries.append(entry | draft.model_info.get((kind, tel_type), {}))
    card = dict(draft.card)
    card["format_version"] = FORMAT_VERSION
    card["models"] = entries
    card["plots"] = sorted(f"plots/{name}" for name in draft.plots)
    card["id"] = model_set_id(card)
    return card, texts


def write_model_set(draft: ModelSetDraft, root: str | Path, exist_ok: bool = False) -> Path:
    """Write a model set atomically under ``root``; return its directory ``root/<id>``.

    With ``exist_ok`` an existing set of the same id is kept and returned (the id names the
    content, and a set only appears whole: it is the same set).

    Raises
    ------
    CatalogError
        If a model set with this id already exists there and ``exist_ok`` is false (model sets
        are immutable).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    card, texts = finished_card(draft)
    final = root / card["id"]
    if exist_ok and (final / CARD).is_file():
        return final
    if final.exists():
        raise CatalogError(
            "model set already exists (same training, same id); model sets are immutable",
            path=final,
        )
    tmp = root / f".{card['id']}.{os.getpid()}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "plots").mkdir(parents=True)
        for name, data in texts.items():
            (tmp / name).write_bytes(data)
        for name, figure in draft.plots.items():
            if isinstance(figure, Path):
                shutil.copyfile(figure, tmp / "plots" / name)
            else:
                figure.savefig(tmp / "plots" / name, dpi=90, metadata={"Software": None})
        (tmp / CARD).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


class ModelSet:
    """A loaded model set: its card and LightGBM boosters by ``(kind, telescope type)``."""

    def __init__(self, directory: str | Path, num_threads: int | None = None) -> None:
        import lightgbm

        self.directory = Path(directory)
        card_path = self.directory / CARD
        if not card_path.is_file():
            raise InputFileError("not a model set (no card.json)", path=self.directory)
        try:
            self.card: dict[str, Any] = json.loads(card_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputFileError(f"unreadable model set card: {exc}", path=card_path) from None
        if self.card.get("format_version") != FORMAT_VERSION:
            raise InputFileError(
                f"model set format {self.card.get('format_version')} is not readable "
                f"(reads {FORMAT_VERSION})",
                path=card_path,
            )
        if model_set_id(self.card) != self.card.get("id"):
            raise InputFileError("model set card does not match its id (edited?)", path=card_path)
        self.id: str = self.card["id"]
        self.boosters: dict[tuple[str, str], Any] = {}
        params = {} if num_threads is None else {"num_threads": int(num_threads)}
        for entry in self.card["models"]:
            path = self.directory / entry["file"]
            if not path.is_file() or sha256_file(path) != entry["sha256"]:
                raise InputFileError("model file missing or changed since training", path=path)
            booster = lightgbm.Booster(model_str=path.read_text(), params=params)
            self.boosters[(entry["kind"], entry["telescope_type"])] = booster

    @property
    def kinds(self) -> list[str]:
        """The model kinds in the set (``energy``, ``gammaness``, ``disp``, ``event_type``)."""
        return list(self.card["kinds"])

    @property
    def telescope_types(self) -> list[str]:
        """Telescope types with at least one model."""
        return sorted({t for _, t in self.boosters if t != SUBARRAY})

    def features(self, kind: str) -> list[str]:
        """The features of one kind, in model column order."""
        return list(self.card["features"][kind])

    def model_rows(self) -> list[dict[str, str]]:
        """One row per model: model_set_id, kind, telescope_type, file, sha256."""
        return [
            {
                "model_set_id": self.id,
                "kind": e["kind"],
                "telescope_type": e["telescope_type"],
                "file": e["file"],
                "sha256": e["sha256"],
            }
            for e in self.card["models"]
        ]

    def predict(self, kind: str, tel_type: str, X: np.ndarray) -> np.ndarray | None:
        """Predictions of one model on the feature matrix ``X`` (None if there is no model)."""
        booster = self.boosters.get((kind, tel_type))
        if booster is None or len(X) == 0:
            return None if booster is None else np.zeros(0)
        return booster.predict(X)


# ------------------------------------------------------------------------------------------
# the catalog


def register_model_set(
    directory: Path,
    training_products: Sequence[Mapping[str, str]],
    catalog_url: str | None = None,
) -> int:
    """Register the set (its card) with lineage to its training products; return its id."""
    from datapipe_ops.catalog import Catalog, ProductRecord

    card = json.loads((directory / CARD).read_text())
    with Catalog(catalog_url) as catalog:
        inputs = []
        for product in training_products:
            path = Path(product["path"])
            if catalog.find_product(path) is None:
                record = ProductRecord(
                    path=path,
                    level=product.get("level", "DL1"),
                    sha256=product["sha256"],
                    size_bytes=path.stat().st_size if path.exists() else None,
                )
                catalog.register_product(record)
            inputs.append(path)
        record = ProductRecord.from_file(
            directory / CARD,
            level="MODEL",
            kind=CATALOG_KIND,
            n_events=int(card.get("n_training_events", 0)),
            config_hash=card.get("config_hash"),
        )
        return catalog.register_product(record, inputs=inputs)


def list_model_sets(catalog_url: str | None = None) -> list[dict[str, Any]]:
    """The registered model sets, oldest first: id, path, kinds, created, product id."""
    from datapipe_ops.catalog import Catalog, ProductQuery

    out = []
    with Catalog(catalog_url) as catalog:
        for product in catalog.list_products(ProductQuery(level="MODEL", kind=CATALOG_KIND)):
            card_path = Path(product.path)
            kinds: list[str] = []
            if card_path.is_file():
                kinds = json.loads(card_path.read_text()).get("kinds", [])
            out.append(
                {
                    "id": card_path.parent.name,
                    "path": str(card_path.parent),
                    "kinds": kinds,
                    "created_at": product.created_at,
                    "product_id": product.id,
                }
            )
    return out


def resolve_model_set(ref: str | Path, catalog_url: str | None = None) -> Path:
    """The directory of a model set given as a directory, or as an id registered in the catalog.

    ``latest`` is the most recently registered set. A directory holding exactly one model set
    (the ``-o`` directory of one ``datapipe train`` or ``model-set assemble`` run, as a campaign
    gives each of its training steps) stands for that set.
    """
    path = Path(ref)
    if (path / CARD).is_file():
        return path
    if path.name == CARD and path.is_file():
        return path.parent
    if path.is_dir():
        sets = sorted(p for p in path.iterdir() if (p / CARD).is_file())
        if len(sets) != 1:
            raise InputFileError(
                f"holds {len(sets)} model sets; give one model set (or a directory of one)",
                path=path,
            )
        return sets[0]
    sets = list_model_sets(catalog_url)
    if str(ref) == "latest" and sets:
        return Path(sets[-1]["path"])
    matches = [s for s in sets if s["id"] == str(ref) or s["id"].startswith(str(ref))]
    if len(matches) == 1:
        return Path(matches[0]["path"])
    problem = "is ambiguous (several model sets)" if matches else "no such model set"
    raise InputFileError(f"{problem}: neither a model-set directory nor a registered id", path=ref)


def load_model_set(
    ref: str | Path, catalog_url: str | None = None, num_threads: int | None = None
) -> ModelSet:
    """Load a model set by directory or catalog id (see :func:`resolve_model_set`)."""
    return ModelSet(resolve_model_set(ref, catalog_url), num_threads)
