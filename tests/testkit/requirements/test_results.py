"""How one session's outcomes update the record of the last runs."""

from __future__ import annotations

from testkit.requirements.results import empty, merge, read_results, worst, write_results

R1, R2 = "DPPS-DP-R-001", "DPPS-DP-R-002"


def test_a_subset_updates_its_tests_and_keeps_the_others():
    first = merge(empty(), {"a": [R1], "b": [R2]}, {"a": ("failed", 1.0)}, complete=True, when="t1")
    second = merge(first, {"a": [R1]}, {"a": ("passed", 2.0)}, complete=False, when="t2")
    assert second["tests"]["a"] == {
        "requirements": [R1], "outcome": "passed", "run_at": "t2", "duration": 2.0
    }  # fmt: skip
    assert second["tests"]["b"] == first["tests"]["b"] == {
        "requirements": [R2], "outcome": "not run", "run_at": None, "duration": None
    }  # fmt: skip
    assert (second["complete_collection"], second["updated"]) == ("t1", "t2")


def test_the_whole_suite_forgets_vanished_tests_and_any_run_forgets_unmarked_ones():
    first = merge(empty(), {"a": [R1], "b": [R2]}, {}, complete=True, when="t1")
    assert set(merge(first, {"a": [R1]}, {}, complete=True, when="t2")["tests"]) == {"a"}
    assert set(merge(first, {"a": []}, {}, complete=False, when="t2")["tests"]) == {"b"}
    # a test's marks are the current ones, its last outcome stays
    moved = merge(first, {"b": [R1]}, {}, complete=False, when="t2")
    assert moved["tests"]["b"]["requirements"] == [R1]


def test_worst_outcome_and_round_trip(tmp_path):
    assert worst(["passed", "skipped"]) == "passed"
    assert worst(["passed", "error", "failed"]) == "error"
    assert worst([]) == "not run"
    path = tmp_path / "deep" / "results.json"
    assert read_results(path) == empty()
    record = merge(empty(), {"a": [R1]}, {"a": ("passed", 0.1)}, complete=True, when="t")
    write_results(record, path)
    assert read_results(path) == record
    path.write_text("{broken")
    assert read_results(path) == empty()
