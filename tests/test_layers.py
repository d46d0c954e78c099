"""The one direction of imports: dags → plugins → datapipe_ops (DESIGN §2)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            if name.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_stage_library_never_imports_airflow():
    assert offenders("datapipe_ops", ("airflow",)) == []


def test_plugins_never_import_dags():
    assert offenders("plugins", ("dags",)) == []


def test_importing_the_whole_stage_library_loads_no_airflow():
    code = (
        "import pkgutil, importlib, sys, datapipe_ops\n"
        "for m in pkgutil.walk_packages(datapipe_ops.__path__, 'datapipe_ops.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(any(k == 'airflow' or k.startswith('airflow.') for k in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
