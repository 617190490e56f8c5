"""The local executor: idempotent re-runs, Ctrl-C and resume, a SIGKILLed worker, one executor per ladder.

Runs use the synthetic trainer (same interface and checkpoint semantics as the real one, a known law for losses) so
that each test takes seconds; the real trainer is exercised end to end in tests/test_demo.py.
"""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest

from scalinglab.errors import InputError
from scalinglab.ladder import LadderSettings, RunStore, isoflop, register, run_ladder
from scalinglab.ladder.design import make_spec
from scalinglab.ladder.executor import ladder_lock

SETTINGS = LadderSettings(seq_len=64, positions="rotary", evals_per_run=2, eval_tokens=1024)


def _ladder(path):
    store = RunStore(path)
    register(store, isoflop([2.5e10, 3.5e10], points=2, span=1.5, ctx=SETTINGS.shape_context()), SETTINGS)
    return store


def _losses(store):
    return {r.run_id: r.metrics["final_loss"] for r in store.runs("done")}


def test_rerun_skips_finished_runs(tmp_path):
    with _ladder(tmp_path) as store:
        first = run_ladder(store, trainer="synthetic", show_progress=False)
        assert len(first.done) == 4 and not first.failed
        losses = _losses(store)
        again = run_ladder(store, trainer="synthetic", show_progress=False)
        assert again.done == [] and again.skipped == 4
        assert _losses(store) == losses
        assert all(r.attempts == 1 for r in store.runs())


def _cli(ladder, *extra, env=None):
    cmd = [sys.executable, "-c", "from scalinglab.cli import main; main()", "ladder", "run", str(ladder),
           "--trainer", "synthetic", "--quiet", "--seq-len", "64", "--positions", "rotary",
           "--budgets", "2.5e10,3.5e10", "--points", "2", "--span", "1.5", *extra]
    return subprocess.Popen(cmd, env=dict(os.environ, **(env or {})), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def _wait_for_curve_point(path, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (path / "ladder.sqlite").exists():
            with RunStore(path) as store:
                if len(store.curves_frame()) or any(store.last_curve_tokens(r.run_id) for r in store.runs()):
                    return
        time.sleep(0.1)
    raise AssertionError("no run reported progress in time")


def test_ctrl_c_stops_cleanly_and_the_next_invocation_resumes(tmp_path):
    ladder = tmp_path / "ladder"
    proc = _cli(ladder, env={"SCALINGLAB_SYNTHETIC_STEP_SECONDS": "1.0"})
    _wait_for_curve_point(ladder)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 130, out
    assert "resume" in out
    with RunStore(ladder) as store:
        counts = store.counts()
        assert counts["running"] == 0 and counts["interrupted"] >= 1 and counts["done"] < 4
        partial = {r.run_id for r in store.runs("interrupted") if store.last_curve_tokens(r.run_id) > 0}
        assert partial, "an interrupted run should have progress to resume from"
    proc = _cli(ladder)
    assert proc.wait(timeout=120) == 0, proc.stdout.read().decode()
    with RunStore(ladder) as store:
        assert store.counts()["done"] == 4
        resumed = {r.run_id: r for r in store.runs()}
        assert all(resumed[i].attempts == 2 for i in partial)
        interrupted_losses = _losses(store)
    # The synthetic trainer's loss does not depend on interruptions; so the resumed ladder equals a clean one.
    assert _cli(tmp_path / "clean").wait(timeout=120) == 0
    with RunStore(tmp_path / "clean") as clean:
        assert _losses(clean) == interrupted_losses


def test_a_sigkilled_worker_leaves_its_run_resumable(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_SYNTHETIC_STEP_SECONDS", "0.3")
    with _ladder(tmp_path) as store:
        import threading

        def kill_one_worker():
            _wait_for_curve_point(tmp_path)
            out = subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "scalinglab.ladder.worker"],
                                 capture_output=True, text=True)
            os.kill(int(out.stdout.split()[0]), signal.SIGKILL)

        killer = threading.Thread(target=kill_one_worker)
        killer.start()
        summary = run_ladder(store, trainer="synthetic", show_progress=False)
        killer.join()
        assert len(summary.interrupted) == 1 and not summary.failed
        assert "signal 9" in store.runs("interrupted")[0].error
        monkeypatch.setenv("SCALINGLAB_SYNTHETIC_STEP_SECONDS", "0")
        assert len(run_ladder(store, trainer="synthetic", show_progress=False).done) == 1
        assert store.counts()["done"] == 4 and store.integrity_ok()


def test_one_executor_per_ladder(tmp_path):
    with _ladder(tmp_path) as store, ladder_lock(tmp_path):
        with pytest.raises(InputError, match="another"):
            run_ladder(store, trainer="synthetic", show_progress=False)


def test_a_failing_run_is_marked_failed_with_its_message(tmp_path):
    with _ladder(tmp_path) as store:
        summary = run_ladder(store, trainer="scalinglab.ladder.no_such_module:train", show_progress=False, jobs=1,
                             max_runs=1)
        assert len(summary.failed) == 1
        assert "ModuleNotFoundError" in store.runs("failed")[0].error


def test_a_run_gives_the_same_loss_bits_whether_or_not_its_worker_ran_another_first(tmp_path):
    """Workers are reused across runs (one process per slot); each run seeds itself, so sharing a process with an
    earlier run must not change a single bit of its result. Real trainer, two runs of about a second."""
    ctx = SETTINGS.shape_context()
    first, second = make_spec("t", 2, 24, 40_000, ctx), make_spec("t", 2, 16, 20_000, ctx, seed=1)
    with RunStore(tmp_path / "shared") as shared:
        register(shared, [first, second], SETTINGS)
        summary = run_ladder(shared, jobs=1, show_progress=False)  # one worker, longest run first
        assert summary.done == [first.run_id, second.run_id]
        after_another = _losses(shared)[second.run_id]
        assert shared.runs("done")[0].metrics["wall_seconds"] > 0
    with RunStore(tmp_path / "alone") as alone:  # a fresh ladder, so a fresh worker
        register(alone, [second], SETTINGS)
        run_ladder(alone, jobs=1, show_progress=False)
        assert _losses(alone)[second.run_id] == after_another
    for spec in (first, second):
        assert (tmp_path / "shared" / "runs" / spec.run_id / "log.txt").exists()


def ddp_ladder(path):
    """Two real runs of about a second whose batches (8 and 4 sequences) split over two processes."""
    ctx = SETTINGS.shape_context()
    specs = [dataclasses.replace(make_spec("p", 2, 24, 40_000, ctx), batch_size=8),
             dataclasses.replace(make_spec("p", 2, 16, 20_000, ctx, seed=1), batch_size=4)]
    store = RunStore(path)
    register(store, specs, SETTINGS)
    return store


def test_two_processes_per_run_end_at_the_one_process_loss_and_only_rank_0_writes(tmp_path):
    """``procs_per_run=2``: each run trains with DDP on two processes (gloo, loopback) with the one-process run's
    global batch, schedule and data order; one reused worker trains both runs, one after the other."""
    import torch

    from scalinglab.train.config import TrainConfig
    from scalinglab.train.schedule import plan_run
    from scalinglab.train.trainer import train

    with ddp_ladder(tmp_path / "one") as one:
        assert run_ladder(one, jobs=1, show_progress=False).done
        single = _losses(one)
    with ddp_ladder(tmp_path / "two") as two:
        summary = run_ladder(two, jobs=1, show_progress=False, procs_per_run=2)
        assert len(summary.done) == 2 and not summary.failed
        ddp = _losses(two)
        runs = two.runs()
        assert not two.curves_frame().duplicated(["run_id", "n_tokens"]).any()
    for run in runs:
        cfg = TrainConfig.from_dict(run.config)
        plan = plan_run(cfg)
        assert plan.micro_batch_size == plan.batch_size  # so each rank's half is one chunk, as in `halves` below
        # One process accumulating the two ranks' halves: only all-reduce's (g0 + g1) / 2 against g0 / 2 + g1 / 2
        # differs (the bound of tests/test_train_distributed.py).
        halves = train(cfg.replace(micro_batch_size=plan.batch_size // 2, threads=1), tmp_path / "halves" / run.run_id)
        assert ddp[run.run_id] == pytest.approx(halves.final_val_loss, rel=1e-6)
        # Against one process on the whole batch: fp32 reduction order inside every matmul, amplified by AdamW
        # (the same 3e-4 as tests/test_train_distributed.py; measured 1.7e-4 and 1e-5 here).
        assert ddp[run.run_id] == pytest.approx(single[run.run_id], rel=3e-4)
        run_dir = tmp_path / "two" / "runs" / run.run_id
        assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["world_size"] == 2
        assert sorted(p.name for p in run_dir.iterdir()) == [
            "checkpoint.pt", "config.json", "log.txt", "result.json"]  # only rank 0 wrote
