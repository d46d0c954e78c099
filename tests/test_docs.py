"""The documentation builds with warnings as errors (CI runs this through `make test`)."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_strict(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    assert mkdocs.exists() or shutil.which("mkdocs"), "mkdocs is not installed (docs extra)"
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists()


def test_readme_layout_lists_exactly_the_top_level_directories():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Layout")[1].split("\n\n")[1]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    listed = {row.split("`")[1].rstrip("/") for row in rows}
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    present = {path.split("/")[0] for path in tracked if "/" in path and not path.startswith(".")}
    assert listed == present
