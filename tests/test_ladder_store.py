"""The run store: idempotent registration, export to the Runs table, and no corruption when a writer is killed."""

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from scalinglab.errors import InputError
from scalinglab.ladder import LadderSettings, RunStore, isoflop, register
from scalinglab.runs import load_runs

SETTINGS = LadderSettings(seq_len=64, positions="rotary", evals_per_run=2, eval_tokens=1024)


def _specs():
    return isoflop([2.5e10, 3.5e10], points=2, span=1.5, ctx=SETTINGS.shape_context())


def _finish(store, run, loss):
    s = run.spec
    store.mark_running(run.run_id)
    store.add_curve_point(run.run_id, s["n_tokens"] / 2, loss + 0.5)
    store.finish(run.run_id, {"n_params": s["n_params"], "n_tokens": s["n_tokens"], "final_loss": loss,
                              "flops_full": s["flops_full"], "wall_seconds": 1.0},
                 [(s["n_tokens"], loss)])


def test_registration_is_idempotent_and_refuses_a_changed_config(tmp_path):
    specs = _specs()
    with RunStore(tmp_path) as store:
        assert register(store, specs, SETTINGS) == len(specs)
        _finish(store, store.runs()[0], 3.0)
        assert register(store, specs, SETTINGS) == 0          # same design again: nothing new
        assert store.counts()["done"] == 1                    # and the finished run stays finished
        with pytest.raises(InputError, match="different settings"):
            register(store, specs, LadderSettings(seq_len=128, positions="rotary"))


def test_export_reads_back_as_a_runs_table_with_curves(tmp_path):
    with RunStore(tmp_path) as store:
        register(store, _specs(), SETTINGS)
        for i, run in enumerate(store.runs()):
            _finish(store, run, 3.0 - 0.1 * i)
        runs_path, curves_path = store.export(tmp_path / "out")
    runs = load_runs(runs_path, curves=curves_path)
    assert len(runs) == len(_specs())
    assert runs.curves.groupby("run_id").size().eq(2).all()
    # flops column is C = 6·N·D with N the total parameter count
    assert (runs.flops == pytest.approx(6 * runs.n_params * runs.n_tokens))


WRITER = textwrap.dedent("""
    import sys
    from scalinglab.ladder import RunStore
    store = RunStore(sys.argv[1])
    runs = store.runs()
    i = 0
    print("ready", flush=True)
    while True:                                  # hammer the store until killed
        run = runs[i % len(runs)]
        if run.status != "done":
            store.add_curve_point(run.run_id, 1000 + i, 5.0)
            store.mark_stopped(run.run_id, "interrupted", "x" * 400)
        i += 1
""")


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.4])
def test_store_survives_a_writer_killed_mid_write(tmp_path, delay):
    with RunStore(tmp_path) as store:
        register(store, _specs(), SETTINGS)
        finished = store.runs()[:2]
        for run in finished:
            _finish(store, run, 2.5)
        before = {r.run_id: (r.metrics, r.status) for r in store.runs("done")}
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with RunStore(tmp_path) as store:
        assert store.integrity_ok()
        after = {r.run_id: (r.metrics, r.status) for r in store.runs("done")}
        assert after == before
        assert len(store.curves_frame()) == 2 * len(before)   # curves of finished runs untouched
        assert store.counts()["interrupted"] + store.counts()["pending"] == len(_specs()) - 2


def test_status_of_a_directory_without_a_ladder_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="no ladder here"):
        RunStore(tmp_path / "nothing", create=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "ladder.sqlite").write_text("not a database " * 100)
    with pytest.raises(InputError, match="not a readable ladder store"):
        RunStore(tmp_path / "bad")


def _wsd_ladder(tmp_path):
    from scalinglab.ladder.wsd import wsd

    specs = wsd(SETTINGS.shape_context(), sizes=[1.2e4], tokens_per_param=[20, 40, 80])
    store = RunStore(tmp_path / "ladder")
    register(store, specs, SETTINGS)
    return store, specs


def test_wsd_lineage_survives_export_and_reimport(tmp_path):
    store, specs = _wsd_ladder(tmp_path)
    for i, run in enumerate(store.runs()):
        _finish(store, run, 3.0 - 0.1 * i)
    runs_path, curves_path = store.export(tmp_path / "out")
    runs = load_runs(runs_path, curves=curves_path)
    branches = {s.run_id: s for s in specs if s.role == "branch"}
    assert sorted(runs.frame["run_id"]) == sorted(branches)  # the stable phase is no (N, D) point
    for _, row in runs.frame.iterrows():
        spec = branches[row["run_id"]]
        # columns beyond the Runs schema come back as the reader found them (text from CSV): compare values
        assert row["parent"] == spec.parent and float(row["branch_tokens"]) == spec.branch_tokens
        assert float(row["flops_spent"]) == pytest.approx(spec.flops_spent)
        assert float(row["flops_spent"]) <= float(row["flops_full"])  # the first branch pays its stable segment
    assert runs.frame["flops_spent"].astype(float).sum() < runs.frame["flops_full"].astype(float).sum()
    assert set(runs.curves["run_id"]) == set(branches)


def test_old_store_gains_lineage_columns_on_open(tmp_path):
    import sqlite3

    old = tmp_path / "old"
    old.mkdir()
    with sqlite3.connect(old / "ladder.sqlite") as db:  # the runs table as it was before lineage existed
        db.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, position INTEGER NOT NULL, spec TEXT NOT NULL, "
                   "config TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, n_params REAL, "
                   "n_params_non_embedding REAL, n_tokens REAL, flops_6n REAL, flops_full REAL, final_loss REAL, "
                   "final_bpb REAL, tokens_per_s REAL, mfu REAL, wall_seconds REAL, error TEXT, "
                   "updated_at REAL NOT NULL)")
        db.execute("INSERT INTO runs (run_id, position, spec, config, status, updated_at) "
                   "VALUES ('a', 0, '{}', '{}', 'pending', 0)")
    with RunStore(old) as store:
        assert [r.run_id for r in store.runs()] == ["a"] and store.lineage() == {}
        register(store, _specs(), SETTINGS)
        assert len(store.runs()) == 1 + len(_specs())


def _held_out_design():
    """The test design with its largest run held out."""
    import dataclasses

    specs = _specs()
    largest = max(specs, key=lambda s: s.flops_6n)
    return [dataclasses.replace(s, held_out=s is largest) for s in specs], largest.run_id


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_held_out_run_is_trained_like_the_others_and_exported_as_held_out(tmp_path, fmt):
    from scalinglab.ladder import run_ladder

    specs, held = _held_out_design()
    # holding a run out changes what is fitted, not what is trained: the same config, so the same loss
    assert [SETTINGS.train_config(s) for s in specs] == [SETTINGS.train_config(s) for s in _specs()]
    with RunStore(tmp_path / "ladder") as store:
        register(store, specs, SETTINGS)
        assert len(run_ladder(store, trainer="synthetic", show_progress=False).done) == len(specs)
        own = store.to_runs()
        runs_path, curves_path = store.export(tmp_path / "out", fmt)
    runs = load_runs(runs_path, curves=curves_path)
    for table in (own, runs):
        assert dict(zip(table.frame["run_id"], table.held_out)) == {s.run_id: s.run_id == held for s in specs}
        assert table.held_out_runs().frame["run_id"].tolist() == [held]
        assert held not in set(table.fitted().frame["run_id"]) and len(table.fitted()) == len(specs) - 1


def test_holding_out_a_trained_run_keeps_its_result_and_a_store_from_before_exports_no_column(tmp_path):
    import json
    import sqlite3

    from scalinglab.ladder.design import RunSpec

    with RunStore(tmp_path) as store:
        register(store, _specs(), SETTINGS)
        for i, run in enumerate(store.runs()):
            _finish(store, run, 3.0 - 0.1 * i)
    with sqlite3.connect(tmp_path / "ladder.sqlite") as db:  # the specs as written before held_out existed
        for run_id, spec in db.execute("SELECT run_id, spec FROM runs").fetchall():
            old = {k: v for k, v in json.loads(spec).items() if k != "held_out"}
            db.execute("UPDATE runs SET spec = ? WHERE run_id = ?", (json.dumps(old), run_id))
    with RunStore(tmp_path) as store:
        frame = store.runs_frame()
        assert "held_out" not in frame and not store.to_runs().held_out.any()
        assert not any(RunSpec.from_dict(r.spec).held_out for r in store.runs())
        before = {r.run_id: (r.metrics, r.attempts) for r in store.runs()}
        specs, held = _held_out_design()
        assert register(store, specs, SETTINGS) == 0           # nothing new to train
        assert {r.run_id: (r.metrics, r.attempts) for r in store.runs()} == before
        assert store.counts()["done"] == len(specs)
        assert store.to_runs().held_out_runs().frame["run_id"].tolist() == [held]


def test_a_branch_waits_for_its_stable_phase(tmp_path):
    from scalinglab.ladder.executor import next_ready

    store, specs = _wsd_ladder(tmp_path)
    todo = sorted(store.runs(), key=lambda r: -r.spec["flops_full"])  # longest first: a branch leads
    assert todo[0].spec["role"] == "branch"
    first = next_ready(todo, store)
    assert first.spec["role"] == "stable" and next_ready(todo, store, take=False) is None
    _finish(store, first, 3.0)
    assert next_ready(todo, store).spec["parent"] == first.run_id


def _task_metrics(step: int) -> dict:
    return {"spelling": {"task_loss": 3.0 - 0.2 * step, "accuracy": 0.3 + 0.1 * step, "chance": 0.25,
                         "n_items": 192},
            "fortune_ending": {"task_loss": 4.0 - 0.1 * step, "accuracy": 0.25, "chance": 0.25, "n_items": 96}}


def test_task_evaluations_are_stored_and_exported_as_a_history_the_task_laws_read(tmp_path):
    from scalinglab.runs.history import load_history

    specs = _specs()
    with RunStore(tmp_path / "ladder") as store:
        register(store, specs, SETTINGS)
        for k, run in enumerate(store.runs()):
            s = run.spec
            store.mark_running(run.run_id)
            for step in (1, 2, 3):
                store.add_curve_point(run.run_id, s["n_tokens"] * step / 3, 3.0 - 0.1 * step,
                                      tasks=_task_metrics(step + k))
            store.add_curve_point(run.run_id, s["n_tokens"], 2.7, tasks=_task_metrics(3 + k))  # resumed: replaced
            store.finish(run.run_id, {"n_params": s["n_params"], "n_tokens": s["n_tokens"], "final_loss": 2.7})
        assert store.task_info() == {"fortune_ending": (0.25, 96), "spelling": (0.25, 192)}
        frame = store.task_evals_frame()
        assert len(frame) == len(specs) * 3 * 2
        own = store.to_history()
        store.export(tmp_path / "out")
    history = load_history(tmp_path / "out" / "history.csv")
    assert set(history.tasks()) == {"spelling", "fortune_ending"} and len(history.run_ids) == len(specs)
    for kind in ("task_loss", "accuracy"):
        got = history.series("spelling", kind)
        mine = own.series("spelling", kind)
        np.testing.assert_allclose(got["value"], mine["value"])
        np.testing.assert_allclose(got["n_params"], [specs_n(specs, r) for r in got["run_id"]])
    last = history.series("spelling", "accuracy").groupby("run_id")["value"].last()
    np.testing.assert_allclose(sorted(last), sorted(0.3 + 0.1 * (3 + k) for k in range(len(specs))))


def specs_n(specs, run_id):
    return next(s.n_params for s in specs if s.run_id == run_id)


def test_a_store_from_before_task_evaluations_gains_the_table_and_exports_no_history(tmp_path):
    import sqlite3

    specs = _specs()
    with RunStore(tmp_path) as store:
        register(store, specs, SETTINGS)
        _finish(store, store.runs()[0], 3.0)
    db = sqlite3.connect(tmp_path / "ladder.sqlite")
    db.execute("DROP TABLE task_evals")
    db.commit()
    db.close()
    with RunStore(tmp_path) as store:
        assert store.to_history() is None and store.task_info() == {}
        store.export(tmp_path / "out")
        assert not (tmp_path / "out" / "history.csv").exists()
        run = store.runs("pending")[0]
        store.add_curve_point(run.run_id, 100.0, 3.0, tasks=_task_metrics(1))
        assert store.task_info() == {"fortune_ending": (0.25, 96), "spelling": (0.25, 192)}
