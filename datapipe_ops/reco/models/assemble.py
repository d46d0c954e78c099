"""``datapipe model-set assemble``: one model set from partial sets trained kind by kind.

A campaign trains the kinds as parallel tasks (``datapipe train energy``, ``… gammaness``,
``… disp``, each writing its own *part*, a model set of one kind), then the event-type model on
top of them (``datapipe train event-type --base-model-set <the assembled parts>``).
:func:`assemble_model_set` writes the union of the parts as one immutable model set:

- the parts must have been trained on the same products with the same configuration and
  software (same ``training_products``, ``config_hash``, software and LightGBM versions,
  ``n_training_events``), and hold disjoint kinds;
- a part trained on a base set (the event-type part) must name as its base exactly the
  assembly of the other parts (so its disp/energy/gammaness inputs are the set's own models);
- the card is the parts' cards merged: kinds in training order, models, features, CV metrics
  (a metric two parts report is taken from the part of the earlier kind, e.g.
  ``stereo_disp_68_deg`` from the disp part, whose predictions are out of fold), plots copied.

The id is computed as for a trained set (from the card), so the same parts give the same set:
same seed and data → identical model files and id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datapipe_ops.errors import InputFileError
from datapipe_ops.reco.models.config import KINDS
from datapipe_ops.reco.models.model_set import (
    CARD,
    SUBARRAY,
    ModelSetDraft,
    finished_card,
    model_set_id,
    models_root,
    register_model_set,
    resolve_model_set,
    write_model_set,
)

#: card fields every part must share
SHARED = (
    "training_products",
    "config",
    "config_hash",
    "hyper_parameters",
    "software_version",
    "lightgbm_version",
    "n_training_events",
    "n_training_telescope_events",
)
_ENTRY_KEYS = ("kind", "telescope_type", "file", "sha256")


@dataclass
class Part:
    """One partial model set: its directory and card."""

    directory: Path
    card: dict[str, Any]

    @property
    def kinds(self) -> list[str]:
        """The kinds the part holds."""
        return list(self.card["kinds"])


def read_part(directory: Path) -> Part:
    """The part in ``directory``, its card checked against its id."""
    path = directory / CARD
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(f"unreadable model set card: {exc}", path=path) from None
    if model_set_id(card) != card.get("id"):
        raise InputFileError("model set card does not match its id (edited?)", path=path)
    return Part(directory, card)


def _check_parts(parts: list[Part]) -> None:
    if not parts:
        raise InputFileError("nothing to assemble: give at least one part")
    first = parts[0]
    seen: dict[str, Path] = {}
    for part in parts:
        for key in SHARED:
            if part.card.get(key) != first.card.get(key):
                raise InputFileError(
                    f"was trained with another {key} than {first.directory.name}; parts of one "
                    "set share training products, configuration and software",
                    path=part.directory,
                )
        for kind in part.kinds:
            if kind in seen:
                raise InputFileError(
                    f"kind {kind} is in two parts ({seen[kind].name} too)", path=part.directory
                )
            seen[kind] = part.directory


def _order(part: Part) -> int:
    return min(KINDS.index(k) for k in part.kinds)


def assemble_draft(parts: Sequence[Part]) -> ModelSetDraft:
    """The draft of the set made of ``parts`` (checked to belong together)."""
    parts = sorted(parts, key=_order)
    _check_parts(parts)
    for part in parts:
        base = part.card.get("base_model_set")
        if base is None:
            continue
        others = [p for p in parts if p is not part]
        expected = finished_card(assemble_draft(others))[0]["id"] if others else None
        if base != expected:
            raise InputFileError(
                f"was trained on base model set {base}, not on the other parts "
                f"({expected or 'none given'})",
                path=part.directory,
            )
    draft = ModelSetDraft()
    card: dict[str, Any] = {key: parts[0].card[key] for key in SHARED if key in parts[0].card}
    card["kinds"] = [k for k in KINDS if any(k in p.kinds for p in parts)]
    card["features"] = {}
    card["cv_metrics"] = {}
    card["base_model_set"] = None
    telescope_types: set[str] = set()
    for part in parts:
        for entry in part.card["models"]:
            key = (entry["kind"], entry["telescope_type"])
            draft.models[key] = (part.directory / entry["file"]).read_text()
            draft.model_info[key] = {k: v for k, v in entry.items() if k not in _ENTRY_KEYS}
            if entry["telescope_type"] != SUBARRAY:
                telescope_types.add(entry["telescope_type"])
        card["features"] |= {k: v for k, v in part.card["features"].items() if k in part.kinds}
        for name, value in part.card.get("cv_metrics", {}).items():
            card["cv_metrics"].setdefault(name, value)
        if "event_type_thresholds_log10_deg" in part.card:
            card["event_type_thresholds_log10_deg"] = part.card["event_type_thresholds_log10_deg"]
        if part.card.get("skipped"):
            card.setdefault("skipped", []).extend(part.card["skipped"])
        for plot in part.card.get("plots", []):
            draft.plots.setdefault(Path(plot).name, part.directory / plot)
    card["telescope_types"] = sorted(telescope_types)
    card["parts"] = sorted(p.card["id"] for p in parts)
    draft.card = card
    return draft


@dataclass
class AssemblySummary:
    """What :func:`assemble_model_set` wrote."""

    directory: Path
    model_set_id: str
    kinds: list[str]
    parts: list[str]
    product_id: int | None = None


def assemble_model_set(
    parts: Sequence[str | Path],
    output_root: str | Path | None = None,
    *,
    register: bool = True,
    catalog_url: str | None = None,
    exist_ok: bool = False,
) -> AssemblySummary:
    """Write the model set made of ``parts`` under ``output_root`` (default the models root) and
    register it with lineage to its training products.

    Raises
    ------
    InputFileError
        A part is unreadable, parts differ in training products, configuration or software,
        two parts hold the same kind, or a part's base model set is not the other parts.
    CatalogError
        The set exists already (and ``exist_ok`` is false).
    """
    loaded = [read_part(resolve_model_set(ref, catalog_url)) for ref in parts]
    draft = assemble_draft(loaded)
    directory = write_model_set(draft, output_root or models_root(), exist_ok)
    summary = AssemblySummary(directory, directory.name, draft.card["kinds"], draft.card["parts"])
    if register:
        summary.product_id = register_model_set(
            directory, draft.card["training_products"], catalog_url
        )
    return summary
