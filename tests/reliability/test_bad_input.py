"""Bad input to every stage and command: one line naming the file and the problem, and nothing
changed on disk.

Each case prepares a broken workspace (copies of a small simulated run, its coefficients and
configurations), runs ``datapipe`` through its real entry point from *another* working
directory (with relative paths where the case says so) and checks that the command

* exits non-zero,
* prints exactly one line ``datapipe: error: <file>: <problem>`` on stderr (no traceback),
* leaves no output file and no temporary file behind,
* leaves every file of the workspace byte-identical.

The table of cases and their messages is ``docs/errors.md``; a case missing there fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from astropy.table import vstack
from astropy.time import Time

from datapipe_ops.cli.main import main
from datapipe_ops.io import layout
from datapipe_ops.resources import include_dir

ROOT = Path(__file__).resolve().parents[2]
SIMULATION = include_dir() / "config" / "simulation"
UNREACHABLE = "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A small simulated DL0 run, its coefficients and a small production config."""
    from datapipe_ops.config import load_config
    from datapipe_ops.simulation.config import SimulationConfig
    from datapipe_ops.simulation.production import file_seed, simulate_run

    config = load_config(SIMULATION / "demo.yaml", SimulationConfig)
    component = config.component("gamma_diffuse")
    directory = tmp_path_factory.mktemp("pristine")
    simulate_run(
        config,
        component,
        directory / "run.dl0.h5",
        file_seed(2, component.name, 0),
        77,
        n_showers=150,
        show_progress=False,
    )
    data = yaml.safe_load((SIMULATION / "demo.yaml").read_text())
    for particle in data["particles"]:
        particle["n_showers"] = 20
    (directory / "sim.yaml").write_text(yaml.safe_dump(data))
    observation = yaml.safe_load((SIMULATION / "observation_crab.yaml").read_text())
    (directory / "obs.yaml").write_text(yaml.safe_dump(observation))
    return directory


@dataclass
class Work:
    """The workspace of one case: ``d`` holds the files, the command runs from ``elsewhere``."""

    d: Path
    elsewhere: Path

    def rel(self, path: Path) -> str:
        """``path`` relative to the working directory of the command."""
        return os.path.relpath(path, self.elsewhere)


@dataclass(frozen=True)
class Case:
    """One bad input: how to break the workspace, the command, the file and problem named."""

    id: str
    prepare: Callable[[Work], list[str]]
    file: Callable[[Work], str]
    problem: str


def dl1(w: Work, *extra: str, coefficients: bool = True) -> list[str]:
    """``datapipe dl0-to-dl1`` on the workspace's run (relative paths, private catalog)."""
    command = ["dl0-to-dl1", "-i", w.rel(w.d / "run.dl0.h5"), "-o", w.rel(w.d / "run.dl1.h5")]
    if coefficients:
        command += ["--coefficients", w.rel(w.d / "run.coefficients.h5")]
    return [*command, "-q", *extra]


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def truncate(path: Path) -> None:
    write(path, path.read_bytes()[: path.stat().st_size // 2])


def set_attr(path: Path, **attrs) -> None:
    with h5py.File(path, "r+") as h5:
        for key, value in attrs.items():
            h5.attrs[key] = value


def edit_index(path: Path, tel_id: int, change: Callable[[np.ndarray], None]) -> None:
    with h5py.File(path, "r+") as h5:
        dset = h5[layout.tel_path(layout.DL0_TEL_INDEX, tel_id)]
        rows = dset[()]
        change(rows)
        dset[...] = rows


def repeat_first_event(rows: np.ndarray) -> None:
    rows["event_id"][1] = rows["event_id"][0]


def reverse_events(rows: np.ndarray) -> None:
    rows["event_id"] = rows["event_id"][::-1].copy()


def rename_telescope(path: Path, old: int, new: int) -> None:
    with h5py.File(path, "r+") as h5:
        for base in (layout.WAVEFORMS, layout.DL0_TEL_INDEX):
            h5.move(layout.tel_path(base, old), layout.tel_path(base, new))


def shift_coefficients(w: Work) -> None:
    """Coefficients valid from one day after the run: every event out of validity."""
    from datapipe_ops.io import ProductWriter, open_product
    from datapipe_ops.io.coefficients import read_coefficients, write_coefficients

    path = w.d / "run.coefficients.h5"
    with open_product(path) as h5:
        tables = {t: read_coefficients(h5, t) for t in layout.tel_ids_in(h5, layout.COEFFICIENTS)}
    path.unlink()
    with ProductWriter(path, "CALIBRATION", stage="test") as writer:
        for tel_id, (table, until) in tables.items():
            shifted = vstack([table])
            shifted["time"] = Time(table["time"].mjd + 1.0, format="mjd", scale="tai")
            write_coefficients(writer, tel_id, shifted, Time(until.mjd + 1.0, format="mjd"))


def drop_coefficients_of(w: Work, tel_id: int) -> None:
    with h5py.File(w.d / "run.coefficients.h5", "r+") as h5:
        del h5[layout.tel_path(layout.COEFFICIENTS, tel_id)]


def config(w: Work, text: str, name: str = "c.yaml") -> Path:
    return write(w.d / name, text)


def edited_yaml(w: Work, source: str, change: Callable[[dict], None], name: str) -> Path:
    data = yaml.safe_load((w.d / source).read_text())
    change(data)
    return write(w.d / name, yaml.safe_dump(data))


def foreign_manifest(w: Work, directory: Path) -> None:
    directory.mkdir()
    entry = {"name": "x.h5", "sha256": "0" * 64, "size": 1, "level": "DL0",
             "meta": {"config_hash": "another"}}  # fmt: skip
    manifest = {"dataset": "other", "kind": "simulation", "n_files_expected": 1,
                "complete": True, "files": [entry]}  # fmt: skip
    write(directory / "MANIFEST.json", json.dumps(manifest))
    write(directory / "x.h5", "x")


def _run(w: Work) -> str:
    return w.rel(w.d / "run.dl0.h5")


def _coef(w: Work) -> str:
    return w.rel(w.d / "run.coefficients.h5")


def _out(w: Work) -> str:
    return w.rel(w.d / "run.dl1.h5")


# The stages name data files by their absolute path (configuration files as given).
def run_abs(w: Work) -> str:
    return str(w.d / "run.dl0.h5")


def coef_abs(w: Work) -> str:
    return str(w.d / "run.coefficients.h5")


def out_abs(w: Work) -> str:
    return str(w.d / "run.dl1.h5")


def catalog_at(w: Work) -> str:
    """The URL of an existing, empty catalog in the workspace."""
    from datapipe_ops.catalog import Catalog

    url = f"sqlite:///{w.d / 'cat.sqlite'}"
    with Catalog(url) as catalog:
        catalog.migrate()
    return url


def _c(w: Work) -> str:
    return w.rel(w.d / "c.yaml")


def _set(data: dict, value, *keys) -> None:
    for key in keys[:-1]:
        data = data[key]
    data[keys[-1]] = value


CASES = [
    # --- dl0-to-dl1: the DL0 input ------------------------------------------------------------
    Case("dl1-empty-input", lambda w: (write(w.d / "run.dl0.h5", b""), dl1(w))[1], run_abs,
         "not a readable HDF5 file"),
    Case("dl1-truncated-input", lambda w: (truncate(w.d / "run.dl0.h5"), dl1(w))[1], run_abs,
         "not a readable HDF5 file (truncated or corrupt?)"),
    Case("dl1-foreign-text-input", lambda w: (write(w.d / "run.dl0.h5", "col1,col2\n1,2\n"),
         dl1(w))[1], run_abs, "not a readable HDF5 file"),
    Case("dl1-foreign-hdf5-input",
         lambda w: (h5py.File(w.d / "run.dl0.h5", "w").close(), dl1(w))[1], run_abs,
         "not a DataPipe product (no schema_version attribute)"),
    Case("dl1-wrong-level-input",
         lambda w: ["dl0-to-dl1", "-i", _coef(w), "-o", _out(w), "--coefficients", _coef(w)],
         coef_abs, "is a CALIBRATION product, expected DL0"),
    Case("dl1-wrong-schema-version",
         lambda w: (set_attr(w.d / "run.dl0.h5", schema_version="9.0"), dl1(w))[1], run_abs,
         "schema version 9.0 is not readable by this software"),
    Case("dl1-missing-input", lambda w: (os.unlink(w.d / "run.dl0.h5"), dl1(w))[1], run_abs,
         "file does not exist"),
    Case("dl1-duplicate-event-ids",
         lambda w: (edit_index(w.d / "run.dl0.h5", 1, repeat_first_event), dl1(w))[1], run_abs,
         "appears more than once"),
    Case("dl1-unsorted-event-ids",
         lambda w: (edit_index(w.d / "run.dl0.h5", 1, reverse_events), dl1(w))[1], run_abs,
         "is not sorted by event_id"),
    Case("dl1-unknown-telescope-id",
         lambda w: (rename_telescope(w.d / "run.dl0.h5", 1, 99), dl1(w))[1], run_abs,
         "telescope(s) [99] have waveforms but are not in the subarray description"),
    # --- dl0-to-dl1: the coefficients ---------------------------------------------------------
    Case("dl1-missing-default-coefficients",
         lambda w: (os.unlink(w.d / "run.coefficients.h5"), dl1(w, coefficients=False))[1],
         coef_abs, "file does not exist"),
    Case("dl1-coefficients-wrong-level",
         lambda w: ["dl0-to-dl1", "-i", _run(w), "-o", _out(w), "--coefficients", _run(w)],
         run_abs, "is a DL0 product, expected CALIBRATION"),
    Case("dl1-coefficients-out-of-validity", lambda w: (shift_coefficients(w), dl1(w))[1],
         coef_abs, "no valid calibration coefficients"),
    Case("dl1-coefficients-missing-telescope",
         lambda w: (drop_coefficients_of(w, 1), dl1(w))[1], coef_abs, "telescope 1"),
    Case("dl1-truncated-coefficients",
         lambda w: (truncate(w.d / "run.coefficients.h5"), dl1(w))[1], coef_abs,
         "not a readable HDF5 file"),
    # --- dl0-to-dl1: the configuration --------------------------------------------------------
    Case("dl1-config-typo", lambda w: (config(w, "chunk_sise: 10\n"), dl1(w, "-c", _c(w)))[1],
         _c, "unknown key 'chunk_sise'"),
    Case("dl1-config-wrong-type",
         lambda w: (config(w, "chunk_size: many\n"), dl1(w, "-c", _c(w)))[1], _c,
         "key 'chunk_size'"),
    Case("dl1-config-bad-yaml",
         lambda w: (config(w, "cleaning: {picture_threshold_pe: 8\n"), dl1(w, "-c", _c(w)))[1],
         _c, "not valid YAML at line"),
    Case("dl1-config-impossible-value",
         lambda w: (config(w, "cleaning: {picture_threshold_pe: -1}\n"),
                    dl1(w, "-c", _c(w)))[1], _c, "boundary"),
    Case("dl1-config-not-a-mapping",
         lambda w: (config(w, "- chunk_size\n"), dl1(w, "-c", _c(w)))[1], _c,
         "top level must be a mapping"),
    Case("dl1-config-missing", lambda w: dl1(w, "-c", _c(w)), _c,
         "configuration file does not exist"),
    # --- dl0-to-dl1: the output ---------------------------------------------------------------
    Case("dl1-output-exists",
         lambda w: (write(w.d / "run.dl1.h5", "an earlier product"), dl1(w))[1], out_abs,
         "exists; give --overwrite to replace it"),
    Case("dl1-output-is-input",
         lambda w: ["dl0-to-dl1", "-i", _run(w), "-o", _run(w), "--coefficients", _coef(w)],
         run_abs, "is also an input of this stage"),
    Case("dl1-output-is-input-even-with-overwrite",
         lambda w: ["dl0-to-dl1", "-i", _run(w), "-o", _run(w), "--coefficients", _coef(w),
                    "--overwrite"], run_abs, "an input is never overwritten"),
    Case("dl1-output-is-coefficients",
         lambda w: ["dl0-to-dl1", "-i", _run(w), "-o", _coef(w), "--coefficients", _coef(w),
                    "--overwrite"], coef_abs, "is also an input of this stage"),
    Case("dl1-output-is-input-through-symlink",
         lambda w: (os.symlink(w.d / "run.dl0.h5", w.d / "link.h5"),
                    ["dl0-to-dl1", "-i", _run(w), "-o", w.rel(w.d / "link.h5"),
                     "--coefficients", _coef(w), "--overwrite"])[1],
         lambda w: str(w.d / "link.h5"), "is also an input of this stage"),
    Case("dl1-output-is-input-through-hard-link",
         lambda w: (os.link(w.d / "run.dl0.h5", w.d / "hard.h5"),
                    ["dl0-to-dl1", "-i", _run(w), "-o", w.rel(w.d / "hard.h5"),
                     "--coefficients", _coef(w), "--overwrite"])[1],
         lambda w: str(w.d / "hard.h5"), "is also an input of this stage"),
    Case("dl1-output-is-a-directory",
         lambda w: ((w.d / "run.dl1.h5").mkdir(), dl1(w, "--overwrite"))[1], out_abs,
         "is a directory"),
    Case("dl1-output-directory-unwritable",
         lambda w: ["dl0-to-dl1", "-i", _run(w), "-o", "/sys/datapipe/run.dl1.h5",
                    "--coefficients", _coef(w)],
         lambda w: "/sys/datapipe/run.dl1.h5", "output directory /sys is not writable"),
    Case("dl1-output-under-a-file",
         lambda w: (write(w.d / "plain", "x"), ["dl0-to-dl1", "-i", _run(w), "-o",
                    w.rel(w.d / "plain" / "run.dl1.h5"), "--coefficients", _coef(w)])[1],
         lambda w: str(w.d / "plain" / "run.dl1.h5"), "is a file"),
    # --- dl0-to-dl1: the catalog --------------------------------------------------------------
    Case("dl1-catalog-unreachable", lambda w: dl1(w, "--catalog", UNREACHABLE),
         lambda w: "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere", "catalog database error"),
    Case("dl1-catalog-unsupported", lambda w: dl1(w, "--catalog", "mysql://db/x"),
         lambda w: "mysql://db/x", "unsupported catalog backend"),
    Case("dl1-catalog-unknown-campaign",
         lambda w: dl1(w, "--catalog", catalog_at(w), "--campaign", "nope"),
         lambda w: f"sqlite:///{w.d / 'cat.sqlite'}", "no campaign 'nope' in the catalog"),
    # --- simulate run ------------------------------------------------------------------------
    Case("simulate-run-config-missing",
         lambda w: ["simulate", "run", "-c", _c(w), "-o", w.rel(w.d / "new.dl0.h5")], _c,
         "configuration file does not exist"),
    Case("simulate-run-config-typo",
         lambda w: (edited_yaml(w, "sim.yaml", lambda d: _set(d, 1, "sed"), "c.yaml"),
                    ["simulate", "run", "-c", _c(w), "-o", w.rel(w.d / "new.dl0.h5")])[1],
         _c, "unknown key 'sed'"),
    Case("simulate-run-config-impossible-value",
         lambda w: (edited_yaml(w, "sim.yaml",
                                lambda d: _set(d, -0.02, "particles", 0, "energy", "min_tev"),
                                "c.yaml"),
                    ["simulate", "run", "-c", _c(w), "-o", w.rel(w.d / "new.dl0.h5")])[1],
         _c, "key 'particles.0.energy.min_tev'"),
    Case("simulate-run-unknown-component",
         lambda w: ["simulate", "run", "-c", w.rel(w.d / "sim.yaml"), "-o",
                    w.rel(w.d / "new.dl0.h5"), "--component", "muon"],
         lambda w: w.rel(w.d / "sim.yaml"), "--component: no particle component 'muon'"),
    Case("simulate-run-output-exists",
         lambda w: ["simulate", "run", "-c", w.rel(w.d / "sim.yaml"), "-o", _run(w)],
         coef_abs, "exists; give --overwrite to replace it"),
    Case("simulate-run-output-unwritable",
         lambda w: ["simulate", "run", "-c", w.rel(w.d / "sim.yaml"), "-o", "/sys/x/new.dl0.h5"],
         lambda w: "/sys/x/new.coefficients.h5", "is not writable"),
    # --- simulate production / observation ---------------------------------------------------
    Case("simulate-production-another-dataset",
         lambda w: (foreign_manifest(w, w.d / "ds"),
                    ["simulate", "production", "-c", w.rel(w.d / "sim.yaml"), "-o",
                     w.rel(w.d / "ds")])[1],
         lambda w: str(w.d / "ds" / "MANIFEST.json"), "another configuration"),
    Case("simulate-production-corrupt-manifest",
         lambda w: ((w.d / "ds").mkdir(), write(w.d / "ds" / "MANIFEST.json", "{not json"),
                    ["simulate", "production", "-c", w.rel(w.d / "sim.yaml"), "-o",
                     w.rel(w.d / "ds")])[2],
         lambda w: str(w.d / "ds" / "MANIFEST.json"), "manifest is not valid JSON"),
    Case("simulate-observation-another-dataset",
         lambda w: (foreign_manifest(w, w.d / "ds"),
                    ["simulate", "observation", "-c", w.rel(w.d / "obs.yaml"), "-o",
                     w.rel(w.d / "ds"), "--duration", "0.1"])[1],
         lambda w: str(w.d / "ds" / "MANIFEST.json"), "another configuration"),
    Case("simulate-observation-output-is-a-file",
         lambda w: ["simulate", "observation", "-c", w.rel(w.d / "obs.yaml"), "-o", _run(w),
                    "--duration", "0.1"], run_abs, "is a file, not a dataset directory"),
    Case("simulate-observation-config-wrong-type",
         lambda w: (edited_yaml(w, "obs.yaml", lambda d: _set(d, "north", "obs_id"), "c.yaml"),
                    ["simulate", "observation", "-c", _c(w), "-o", w.rel(w.d / "ds")])[1],
         _c, "key 'obs_id'"),
    # --- catalog register-inputs -------------------------------------------------------------
    Case("register-inputs-bad-json",
         lambda w: ["catalog", "register-inputs", "--campaign", "c", "--catalog",
                    f"sqlite:///{w.d / 'cat.sqlite'}", "--product", "{path: x"],
         lambda w: "{path: x", "--product is not valid JSON"),
    Case("register-inputs-missing-file",
         lambda w: ["catalog", "register-inputs", "--campaign", "c", "--catalog",
                    f"sqlite:///{w.d / 'cat.sqlite'}", "--product",
                    json.dumps({"path": str(w.d / "gone.dl0.h5"), "level": "DL0"})],
         lambda w: str(w.d / "gone.dl0.h5"), "no such file"),
]  # fmt: skip


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` (hidden ones too) with the sha256 of its bytes."""
    files = {}
    for path in sorted(directory.rglob("*")):
        if path.is_symlink() or path.is_file():
            data = b"" if path.is_symlink() else path.read_bytes()
            files[str(path.relative_to(directory))] = hashlib.sha256(data).hexdigest()
        elif path.is_dir():
            files[str(path.relative_to(directory)) + "/"] = "directory"
    return files


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-004")
def test_bad_input_is_one_line_and_changes_nothing(case, pristine, tmp_path, monkeypatch, capsys):
    from datapipe_ops.catalog import Catalog

    work = Work(d=tmp_path / "files", elsewhere=tmp_path / "elsewhere" / "deeper")
    shutil.copytree(pristine, work.d)
    work.elsewhere.mkdir(parents=True)
    monkeypatch.chdir(work.elsewhere)
    default_catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    with Catalog(default_catalog) as catalog:
        catalog.migrate()  # (a stage failing after its checks has only read the catalog)
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", default_catalog)
    argv = case.prepare(work)
    before = snapshot(tmp_path)

    code = main(argv)

    out, err = capsys.readouterr()
    assert code != 0
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"datapipe: error: {case.file(work)}: "), lines[0]
    assert case.problem in lines[0], lines[0]
    assert "Traceback" not in err and out == ""
    after = snapshot(tmp_path)
    assert after == before  # no output, no temporary file, inputs byte-identical


@pytest.mark.requirement("DPPS-DP-R-001")
def test_every_case_is_in_the_error_table():
    table = (ROOT / "docs" / "errors.md").read_text()
    missing = [case.id for case in CASES if f"`{case.id}`" not in table]
    assert missing == []
    assert len(CASES) >= 30
