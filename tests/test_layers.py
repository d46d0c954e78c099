"""The direction of imports (docs/architecture.md, "Layers and imports").

Between the layers: dags → plugins → datapipe_ops, and no Airflow in datapipe_ops. Inside
datapipe_ops: each sub-package (or top-level module) may import only the sub-packages listed for
it in :data:`ALLOWED`, checked over every import statement of every module (imports inside
functions included), and the table itself has no cycle.
"""

import ast
import re
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

pytestmark = pytest.mark.requirement("DPPS-DP-R-010")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "datapipe_ops"

#: The foundation every sub-package may use: errors, checksums, settings, resource files,
#: progress reporting, configuration loading and the fault-injection points of the kill tests.
FOUNDATION = frozenset(
    {"errors", "checksum", "settings", "resources", "progress", "config", "faults"}
)

#: Which sub-packages of datapipe_ops each one may import (``datapipe_ops`` itself, i.e.
#: ``__version__``, is open to all). Some rows are for stages that do not exist yet; a new
#: sub-package gets its own row here and in docs/architecture.md.
ALLOWED: dict[str, frozenset[str]] = {
    # the foundation, in layers of its own
    "errors": frozenset(),
    "checksum": frozenset({"errors"}),
    "settings": frozenset({"errors"}),
    "progress": frozenset({"errors"}),
    "resources": frozenset({"errors", "settings"}),
    "config": frozenset({"errors", "resources", "settings"}),
    "faults": frozenset({"errors"}),
    # models and storage: know nothing of the stages
    "instrument": FOUNDATION,
    "io": FOUNDATION | {"instrument"},
    "image": FOUNDATION | {"instrument"},
    "catalog": FOUNDATION,
    "bdms": FOUNDATION | {"catalog"},
    # what every stage checks before its first event
    "preflight": FOUNDATION | {"io", "catalog"},
    # the stages
    "simulation": FOUNDATION | {"instrument", "io", "image", "catalog", "bdms", "preflight"},
    "calib": FOUNDATION | {"instrument", "io", "image", "catalog", "preflight"},
    "reco": FOUNDATION | {"instrument", "io", "image", "catalog", "preflight"},
    "merge": FOUNDATION | {"instrument", "io", "catalog", "preflight"},
    "irf": FOUNDATION | {"instrument", "io", "catalog", "reco", "preflight"},
    "dl3": FOUNDATION | {"instrument", "io", "catalog", "reco", "irf", "preflight"},
    "quality": FOUNDATION
    | {"instrument", "io", "image", "catalog", "calib", "reco", "irf", "preflight"},
    # a stage that runs other stages: simulate an observation's conditions, DL0 → DL2, IRFs
    "tailored": FOUNDATION
    | {"instrument", "io", "catalog", "preflight", "simulation", "calib", "reco", "irf"},
    "benchmarks": FOUNDATION
    | {"instrument", "io", "image", "catalog", "calib", "reco", "irf", "dl3", "preflight"},
    # the command line sits on top of everything
    "cli": FOUNDATION
    | {
        "instrument",
        "io",
        "image",
        "catalog",
        "bdms",
        "preflight",
        "simulation",
        "calib",
        "reco",
        "merge",
        "irf",
        "dl3",
        "quality",
        "benchmarks",
        "tailored",
    },
}


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from … import`` of ``path`` names (absolute ones)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "datapipe_ops":  # from datapipe_ops import io, __version__
                names.update(f"datapipe_ops.{alias.name}" for alias in node.names)
    return names


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            if name.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def sub_package(path: Path) -> str | None:
    """The sub-package (or top-level module) of datapipe_ops a file belongs to."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return None if parts == ("__init__",) else parts[0]


def internal_edges() -> dict[str, dict[str, list[str]]]:
    """``{source sub-package: {imported sub-package: [files that import it]}}``."""
    known = {p.stem for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    edges: dict[str, dict[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = sub_package(path)
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] != "datapipe_ops" or len(parts) < 2 or parts[1] not in known:
                continue
            target = parts[1]
            where = edges.setdefault(source or "datapipe_ops", {})
            if target != source:
                where.setdefault(target, []).append(str(path.relative_to(ROOT)))
    return edges


def test_stage_library_never_imports_airflow():
    assert offenders("datapipe_ops", ("airflow",)) == []


def test_plugins_never_import_dags():
    assert offenders("plugins", ("dags",)) == []


def test_stage_library_never_imports_tests_or_benchmarks():
    assert offenders("datapipe_ops", ("tests", "benchmarks", "testkit")) == []


def test_importing_the_whole_stage_library_loads_no_airflow():
    code = (
        "import pkgutil, importlib, sys, datapipe_ops\n"
        "for m in pkgutil.walk_packages(datapipe_ops.__path__, 'datapipe_ops.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(any(k == 'airflow' or k.startswith('airflow.') for k in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_sub_package_has_a_row_in_the_import_table():
    present = {sub_package(p) for p in PACKAGE.rglob("*.py")} - {None}
    missing = sorted(present - set(ALLOWED))
    assert not missing, (
        f"datapipe_ops.{missing[0]} has no row in ALLOWED (tests/test_layers.py): add the "
        "sub-packages it may import there and in docs/architecture.md, keeping the table acyclic"
    )


def test_the_import_table_has_no_cycle():
    unknown = {t for targets in ALLOWED.values() for t in targets} - set(ALLOWED)
    assert not unknown, f"ALLOWED names sub-packages without a row: {sorted(unknown)}"
    try:
        TopologicalSorter(ALLOWED).prepare()
    except CycleError as exc:
        pytest.fail(f"the allowed imports form a cycle: {' → '.join(reversed(exc.args[1]))}")


def test_sub_packages_import_only_what_the_table_allows():
    problems = []
    for source, targets in internal_edges().items():
        if source == "datapipe_ops":
            problems += [f"datapipe_ops/__init__.py imports datapipe_ops.{t}" for t in targets]
            continue
        for target, files in sorted(targets.items()):
            if target not in ALLOWED.get(source, frozenset()):
                problems.append(f"{files[0]} imports datapipe_ops.{target} ({source} → {target})")
    assert problems == [], "imports the table in tests/test_layers.py does not allow"


def test_the_checks_catch_a_forbidden_edge(tmp_path, monkeypatch):
    """The check itself fails on the import cycle it is there to prevent."""
    fake = tmp_path / "datapipe_ops"
    for package, module, text in [
        ("io", "layout", "X = 1\n"),
        ("instrument", "subarray", "from datapipe_ops.io import layout\n"),
    ]:
        (fake / package).mkdir(parents=True, exist_ok=True)
        (fake / package / "__init__.py").write_text("")
        (fake / package / f"{module}.py").write_text(text)
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert internal_edges() == {"instrument": {"io": ["datapipe_ops/instrument/subarray.py"]}}
    with pytest.raises(AssertionError, match="imports the table"):
        test_sub_packages_import_only_what_the_table_allows()


def test_the_architecture_page_shows_the_same_table():
    """docs/architecture.md lists, per sub-package, what it may import besides the foundation."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    text = text.split("### Inside `datapipe_ops`")[1].split("\n## ")[0]
    documented: dict[str, frozenset[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"`\w+`", cells[0]):
            continue
        name = cells[0].strip("`")
        if cells[2] == "every other sub-package":
            documented[name] = frozenset(ALLOWED) - {name}
        else:
            documented[name] = FOUNDATION | set(re.findall(r"`(\w+)`", cells[2]))
    expected = {name: allowed for name, allowed in ALLOWED.items() if name not in FOUNDATION}
    assert documented == expected
