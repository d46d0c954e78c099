"""The stage-task factory: backend setting, stage configuration, and the local backend."""

from __future__ import annotations

import textwrap

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from datapipe_airflow import stage_config
from datapipe_airflow.operators.local import DataPipeLocalOperator
from datapipe_airflow.stage import stage_task
from datapipe_airflow.stage_config import StageConfigError, execution_backend, load_stage_settings
from datapipe_airflow.stage_failure import describe_exit, failure_reason

pytestmark = pytest.mark.requirement("DPPS-DP-R-150")


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("DATAPIPE_DATA_ROOT", str(root))
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", f"sqlite:///{root / 'catalog.sqlite'}")
    return root


# --- the backend setting -------------------------------------------------------------------


@pytest.fixture
def no_backend_setting(monkeypatch):
    for name in (
        "DATAPIPE_EXECUTION_BACKEND",
        "AIRFLOW__DATAPIPE__EXECUTION_BACKEND",
        "KUBERNETES_SERVICE_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_backend_defaults_to_local_where_nothing_is_declared(no_backend_setting):
    assert execution_backend() == "local"


def test_backend_from_environment_or_airflow_configuration(no_backend_setting):
    no_backend_setting.setenv("AIRFLOW__DATAPIPE__EXECUTION_BACKEND", "container")
    assert execution_backend() == "container"
    no_backend_setting.setenv("DATAPIPE_EXECUTION_BACKEND", "Container")
    assert execution_backend() == "container"
    no_backend_setting.delenv("AIRFLOW__DATAPIPE__EXECUTION_BACKEND")
    no_backend_setting.setenv("DATAPIPE_EXECUTION_BACKEND", "Kubernetes")
    assert execution_backend() == "kubernetes"


def test_backend_settings_that_disagree_are_refused(no_backend_setting):
    no_backend_setting.setenv("AIRFLOW__DATAPIPE__EXECUTION_BACKEND", "kubernetes")
    no_backend_setting.setenv("DATAPIPE_EXECUTION_BACKEND", "local")
    with pytest.raises(StageConfigError, match=r"local disagrees .*\[datapipe\] execution_backend"):
        execution_backend()


def test_no_backend_setting_inside_a_cluster_is_an_error_not_local(no_backend_setting):
    no_backend_setting.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    with pytest.raises(StageConfigError, match="no execution backend configured"):
        stage_task("calibrate", ["dl0-to-dl1", "in.h5"], kind="dl0_to_dl1")
    no_backend_setting.setenv("AIRFLOW__DATAPIPE__EXECUTION_BACKEND", "local")  # said out loud
    assert execution_backend() == "local"


def test_unreadable_stage_configuration_is_an_error(no_backend_setting, tmp_path):
    no_backend_setting.setenv("DATAPIPE_EXECUTION_BACKEND", "kubernetes")
    no_backend_setting.setenv(stage_config.CONFIG_ENV, str(tmp_path))  # a directory
    with pytest.raises(StageConfigError, match="cannot read the stage configuration"):
        stage_task("calibrate", ["dl0-to-dl1", "in.h5"], kind="dl0_to_dl1")
    no_backend_setting.setenv(stage_config.CONFIG_ENV, str(tmp_path / "stages.yaml"))
    with pytest.raises(StageConfigError, match=r"stages\.yaml: stage configuration file does not"):
        stage_task("calibrate", ["dl0-to-dl1", "in.h5"], kind="dl0_to_dl1")


def test_unknown_backend_is_refused_naming_the_choices(monkeypatch):
    monkeypatch.setenv("DATAPIPE_EXECUTION_BACKEND", "slurm")
    with pytest.raises(StageConfigError, match=r"unknown execution backend 'slurm'.*local"):
        execution_backend()


@pytest.mark.parametrize(
    ("backend", "class_name"),
    [
        ("local", "DataPipeLocalOperator"),
        ("container", "DataPipeContainerOperator"),
        ("kubernetes", "DataPipePodOperator"),
    ],
)
def test_factory_picks_the_operator_of_the_backend(monkeypatch, backend, class_name):
    monkeypatch.setenv("DATAPIPE_EXECUTION_BACKEND", backend)
    task = stage_task("calibrate", ["dl0-to-dl1", "in.h5"], kind="dl0_to_dl1", outputs=["o.h5"])
    assert type(task).__name__ == class_name
    assert task.pool == load_stage_settings().kind("dl0_to_dl1").pool
    assert task.command == ["dl0-to-dl1", "in.h5"]
    assert task.env["AIRFLOW_CTX_DAG_RUN_ID"] == "{{ run_id }}"
    assert task.env["DATAPIPE_CAMPAIGN"] == "{{ params.campaign }}"


def test_factory_needs_exactly_one_of_command_and_expand():
    with pytest.raises(ValueError, match="exactly one of"):
        stage_task("nothing")


# --- the stage configuration ---------------------------------------------------------------


def test_the_repository_configuration_is_valid():
    settings = load_stage_settings()
    assert {"light", "dl0_to_dl1", "simulate"} <= set(settings.kinds)
    for kind in settings.kinds.values():
        assert kind.requests.cpu and kind.limits.memory


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(StageConfigError, match=r"unknown stage kind 'dl9'.*dl0_to_dl1"):
        stage_task("x", ["info"], kind="dl9")


@pytest.mark.requirement("DPPS-DP-R-009")
def test_invalid_configuration_names_file_and_key(tmp_path, monkeypatch):
    bad = tmp_path / "stages.yaml"
    bad.write_text(
        textwrap.dedent(
            """\
            image: x
            kubernetes: {data_volume_claim: d, colour: blue}
            kinds: {}
            """
        )
    )
    monkeypatch.setenv(stage_config.CONFIG_ENV, str(bad))
    with pytest.raises(StageConfigError, match=rf"{bad}: key 'kubernetes.colour'"):
        load_stage_settings()


def test_catalog_url_with_a_password_is_refused(tmp_path, monkeypatch):
    config = tmp_path / "stages.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            image: x
            kubernetes:
              data_volume_claim: d
              catalog_url: postgresql://datapipe:hunter2@db:5432/datapipe
            kinds: {}
            """
        )
    )
    monkeypatch.setenv(stage_config.CONFIG_ENV, str(config))
    with pytest.raises(StageConfigError, match=r"catalog_url'.*must not hold a password"):
        load_stage_settings()


# --- failure reasons -----------------------------------------------------------------------


def test_failure_reason_is_the_stage_error_line():
    output = ["reading", "datapipe: error: /d/in.h5: not a readable HDF5 file (truncated?)"]
    reason = failure_reason(["dl0-to-dl1", "/d/in.h5"], 2, output)
    assert reason == "datapipe dl0-to-dl1: /d/in.h5: not a readable HDF5 file (truncated?)"


def test_failure_reason_without_error_line_names_the_exit():
    assert describe_exit(-9) == "killed by SIGKILL"
    assert "failed with killed by SIGKILL; last output: step 3" in failure_reason(
        ["train"], -9, ["step 3", ""]
    )


# --- the local backend, with the real datapipe command -------------------------------------


def test_local_stage_streams_and_returns_its_outputs(data_root):
    out = data_root / "catalog.sqlite"
    op = DataPipeLocalOperator(
        task_id="init", command=["catalog", "init"], outputs=[str(out)], env={"X_TEST": "1"}
    )
    assert op.execute({}) == [str(out)]
    assert out.exists()


def test_local_stage_error_fails_without_retry_with_the_error_line(data_root):
    missing = data_root / "nothing.h5"
    op = DataPipeLocalOperator(
        task_id="register", command=["catalog", "register", str(missing), "--level", "DL1"]
    )
    with pytest.raises(AirflowFailException) as failure:
        op.execute({})
    assert str(failure.value) == f"datapipe catalog: {missing}: no such file"


def test_local_stage_crash_keeps_retries(data_root, tmp_path, monkeypatch):
    script = tmp_path / "crashing-datapipe"
    script.write_text("#!/bin/sh\necho 'working on it'\nkill -9 $$\n")
    script.chmod(0o755)
    monkeypatch.setenv("DATAPIPE_EXECUTABLE", str(script))
    op = DataPipeLocalOperator(task_id="crash", command=["simulate", "production"])
    with pytest.raises(AirflowException) as failure:
        op.execute({})
    assert not isinstance(failure.value, AirflowFailException)
    assert "killed by SIGKILL; last output: working on it" in str(failure.value)


def test_local_stage_that_writes_nothing_fails(data_root):
    promised = data_root / "never-written.h5"
    op = DataPipeLocalOperator(task_id="info", command=["info"], outputs=[str(promised)])
    with pytest.raises(AirflowException, match="exited 0 but did not write it"):
        op.execute({})
