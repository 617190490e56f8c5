"""WSD schedule and cooldown branches: the schedule's shape, a branch from a stable checkpoint ends bit for bit where
the same run trained from scratch does, also when killed mid-cooldown and resumed; mismatched branches are refused."""

import math
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from scalinglab.errors import InputError
from scalinglab.train.schedule import plan_run
from scalinglab.train.testing import tiny_train_config, write_tiny_corpus
from scalinglab.train.trainer import train

STEP_TOKENS = 16 * 32  # tiny config: 16 sequences of 32 tokens per step


@pytest.fixture()
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    return write_tiny_corpus(tmp_path / "data")


def wsd(corpus, n_steps, **changes):
    base = dict(schedule="wsd", min_lr_ratio=0.0, warmup_tokens=2 * STEP_TOKENS, n_tokens=n_steps * STEP_TOKENS,
                eval_every_tokens=2 * STEP_TOKENS)
    return tiny_train_config(corpus, **(base | changes))


@pytest.mark.parametrize("shape", ["1-sqrt", "linear"])
def test_wsd_holds_the_peak_then_cools_down_over_its_last_fifth(shape):
    plan = plan_run(wsd("/tmp", 100, decay_shape=shape))
    lrs = [plan.lr_at(s) for s in range(plan.n_steps)]
    assert plan.warmup_steps == 2 and plan.decay_steps == 20 and plan.decay_start == 80
    assert lrs[2:80] == [plan.lr] * 78 and lrs[-1] == 0.0
    assert all(a > b for a, b in zip(lrs[79:], lrs[80:]))
    # halfway through the cooldown: 1 - sqrt(1/2) = 0.293 of the peak (Hägele et al. 2024, eq. 1) or 1/2 (linear)
    expected = 1 - math.sqrt(0.5) if shape == "1-sqrt" else 0.5
    assert math.isclose(lrs[89] / plan.lr, expected, rel_tol=1e-12)
    # the cooldown is a fraction of each run's own length; the stable phase does not depend on it
    longer = plan_run(wsd("/tmp", 200, decay_shape=shape))
    assert longer.decay_steps == 40 and [longer.lr_at(s) for s in range(80)] == lrs[:80]


def test_branch_from_a_stable_checkpoint_equals_the_run_from_scratch(corpus, tmp_path):
    stable = wsd(corpus, 12, decay_fraction=0.0, snapshot_tokens=[8 * STEP_TOKENS])
    train(stable, tmp_path / "stable")
    branch_cfg = wsd(corpus, 10, init_from=str(tmp_path / "stable" / "snapshots" / f"tokens-{8 * STEP_TOKENS}.pt"))
    evals = []
    branch = train(branch_cfg, tmp_path / "branch", on_eval=evals.append)
    scratch = train(wsd(corpus, 10), tmp_path / "scratch")
    assert plan_run(branch_cfg).decay_start == 8 and [e["step"] for e in evals] == [10]  # only the cooldown ran
    assert branch.completed and branch.final_val_loss.hex() == scratch.final_val_loss.hex()
    assert branch.curve == scratch.curve  # the stable phase's evaluations (every 2 steps) came with the checkpoint


def test_a_branch_that_does_not_match_its_stable_phase_is_refused(corpus, tmp_path):
    stable = wsd(corpus, 12, decay_fraction=0.0, snapshot_tokens=[8 * STEP_TOKENS])
    train(stable, tmp_path / "stable")
    snap = str(tmp_path / "stable" / "snapshots" / f"tokens-{8 * STEP_TOKENS}.pt")
    with pytest.raises(InputError, match="stable phase differs in lr"):
        train(wsd(corpus, 10, init_from=snap, lr=5e-3), tmp_path / "b1")
    with pytest.raises(InputError, match="cooldown starts after step 12"):  # 15 steps: cooldown from step 12
        train(wsd(corpus, 15, init_from=snap), tmp_path / "b2")
    with pytest.raises(InputError, match="need schedule 'wsd'"):
        tiny_train_config(corpus, snapshot_tokens=[STEP_TOKENS])


CHILD = textwrap.dedent("""
    import os, signal, sys
    from scalinglab.train.testing import tiny_train_config
    from scalinglab.train.trainer import train
    corpus, run_dir, snap, at_step = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    calls = {"n": 0}
    def hook():  # asked after every optimiser step of this (branch) run
        calls["n"] += 1
        if calls["n"] == at_step:
            os.kill(os.getpid(), signal.SIGKILL)
        return False
    cfg = tiny_train_config(corpus, schedule="wsd", min_lr_ratio=0.0, warmup_tokens=1024, n_tokens=20 * 512,
                            eval_every_tokens=1024, decay_fraction=0.5, init_from=snap)
    train(cfg, run_dir, should_stop=hook)
""")


@pytest.mark.parametrize("at_step", [1, 5], ids=["before-first-checkpoint", "after-a-checkpoint"])
def test_branch_killed_mid_cooldown_resumes_bit_identical(corpus, tmp_path, at_step):
    stable = wsd(corpus, 10, decay_fraction=0.0, snapshot_tokens=[10 * STEP_TOKENS])
    train(stable, tmp_path / "stable")
    snap = str(tmp_path / "stable" / "snapshots" / f"tokens-{10 * STEP_TOKENS}.pt")
    cfg = wsd(corpus, 20, decay_fraction=0.5, init_from=snap)
    reference = train(cfg, tmp_path / "ref")
    run_dir = tmp_path / "run"
    child = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(run_dir), snap, str(at_step)],
                           capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    # checkpoints every 3 steps from step 10: killed at branch step 1 (step 11) none yet; at step 15, step 12's
    assert (run_dir / "checkpoint.pt").exists() == (at_step == 5)
    resumed = train(cfg, run_dir)
    assert resumed.completed and resumed.curve == reference.curve
    assert resumed.final_val_loss.hex() == reference.final_val_loss.hex()
