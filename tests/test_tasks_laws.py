"""Task laws on synthetic ladders whose task loss and accuracy follow known laws: the batched sigmoid solver, the
chained forecast, its intervals, and the predictability verdict (Bhagia et al. 2024, arXiv:2412.04403, Sec. 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import curve_fit
from scipy.special import expit

from scalinglab.runs.history import load_history
from scalinglab.tasks import fit_task_law, fit_task_laws
from scalinglab.tasks import sigmoid as sg

LAW = dict(E=0.5, A=60.0, B=900.0, alpha=0.3, beta=0.32)   # bits per byte, a plausible task-loss law


def task_loss(N, D):
    return LAW["E"] + LAW["A"] / N ** LAW["alpha"] + LAW["B"] / D ** LAW["beta"]


def write_ladder(folder, *, chance=0.25, ceiling=0.9, slope=3.0, midpoint=None, noise=0.004, sizes=(2e7, 5e7, 1e8),
                 multiples=(1, 2, 5), n_evals=30, seed=0, task="demo"):
    """One W&B-style CSV per run (tokens, task loss, accuracy per evaluation) and an N side file; returns the
    sigmoid's midpoint used (default: the middle of the ladder's task-loss range)."""
    rng = np.random.default_rng(seed)
    runs = [(N, k * 20 * N) for N in sizes for k in multiples]
    if midpoint is None:
        finals = [task_loss(N, D) for N, D in runs]
        midpoint = float(np.mean([min(finals), max(finals)]))
    folder.mkdir(parents=True, exist_ok=True)
    side = []
    for N, D in runs:
        tokens = np.linspace(D / n_evals, D, n_evals)
        loss = task_loss(N, tokens) * np.exp(0.002 * rng.standard_normal(n_evals))
        acc = chance + (ceiling - chance) * expit(-slope * (loss - midpoint)) + noise * rng.standard_normal(n_evals)
        run_id = f"n{N:.0e}-d{D:.0e}"
        pd.DataFrame({"_step": np.arange(1, n_evals + 1), "throughput/total_tokens": tokens,
                      f"{task}/task_loss": loss, f"{task}/accuracy": np.clip(acc, 0, 1),
                      "lm_loss": 1.2 * loss + 0.8}).to_csv(
            folder / f"{run_id}.csv", index=False)
        side.append({"run_id": run_id, "N": N})
    pd.DataFrame(side).to_csv(folder.parent / f"{folder.name}-params.csv", index=False)
    return midpoint


def load(folder):
    return load_history(folder, params_file=folder.parent / f"{folder.name}-params.csv")


def test_batched_sigmoid_fit_matches_scipy_curve_fit_row_by_row():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.8, 1.6, 200)
    y = 0.25 + 0.6 * expit(-6 * (x - 1.2)) + 0.01 * rng.standard_normal(200)
    W = rng.integers(0, 4, size=(5, 200)).astype(float)   # bootstrap-like multiplicities
    theta, sse, ok = sg.fit_batched(x, y, 0.25, np.tile([0.5, np.log(3.0), 1.1], (5, 1)), W)
    assert ok.all()
    for b in range(5):
        keep = W[b] > 0

        def f(xx, s, logk, mid):
            return sg.accuracy(xx, 0.25, np.array([[s, logk, mid]]))[0]

        ref, _ = curve_fit(f, x[keep], y[keep], p0=[0.5, np.log(3.0), 1.1], sigma=1 / np.sqrt(W[b, keep]))
        ref_sse = float(np.sum(W[b, keep] * (y[keep] - f(x[keep], *ref)) ** 2))
        assert sse[b] == pytest.approx(ref_sse, rel=1e-7)
        np.testing.assert_allclose(theta[b], ref, rtol=1e-4, atol=1e-5)


def test_chained_forecast_of_a_larger_model_recovers_the_known_accuracy(tmp_path):
    mid = write_ladder(tmp_path / "ladder")
    # smooth=1: these synthetic runs have no learning-rate decay, so their last evaluations still fall steeply and a
    # mean of the last five would sit above the loss at the final D.
    law = fit_task_law(load(tmp_path / "ladder"), "demo", n_resamples=200, chance=0.25, smooth=1)
    assert law.verdict.predictable, law.verdict.reason
    assert law.sigmoid.midpoint == pytest.approx(mid, abs=0.02)
    N, D = 2e8, 5 * 20 * 2e8
    truth = 0.25 + 0.65 * expit(-3.0 * (task_loss(N, D) - mid))
    f = law.forecast(N, D, level=0.9)
    assert f.task_loss.estimate == pytest.approx(task_loss(N, D), rel=0.01)
    assert abs(f.accuracy.estimate - truth) < 0.015
    assert truth in f.accuracy
    assert f.reported == f.accuracy
    assert 0 < f.accuracy.hi - f.accuracy.lo < 0.1
    # the target sits further up the sigmoid than any ladder point
    assert f.target_position > f.ladder_position[1]


def test_same_seed_same_interval_other_seed_other_draws(tmp_path):
    write_ladder(tmp_path / "ladder")
    h = load(tmp_path / "ladder")
    a = fit_task_law(h, "demo", n_resamples=50, seed=1, chance=0.25).forecast(2e8, 8e9)
    b = fit_task_law(h, "demo", n_resamples=50, seed=1, chance=0.25).forecast(2e8, 8e9)
    c = fit_task_law(h, "demo", n_resamples=50, seed=2, chance=0.25).forecast(2e8, 8e9)
    assert (a.accuracy.lo, a.accuracy.hi) == (b.accuracy.lo, b.accuracy.hi)
    assert (a.accuracy.lo, a.accuracy.hi) != (c.accuracy.lo, c.accuracy.hi)


def test_sigmoid_fit_on_data_at_chance_is_refused_with_a_reason(tmp_path):
    # accuracy = chance + noise at every checkpoint: nothing has emerged, the sigmoid is unconstrained
    write_ladder(tmp_path / "flat", ceiling=0.25 + 1e-9, noise=0.01, seed=4)
    law = fit_task_law(load(tmp_path / "flat"), "demo", n_resamples=50, chance=0.25)
    assert not law.verdict.predictable
    assert "within noise of chance" in law.verdict.reason
    f = law.forecast(1e10, 2e11)
    assert (f.reported.lo, f.reported.hi) == (0.25, 1.0)
    assert f.to_dict()["predictable"] is False and f.to_dict()["accuracy_lo"] == 0.25


def test_a_ladder_on_one_arm_of_the_sigmoid_is_not_identified(tmp_path):
    # the midpoint lies far below (at lower loss than) every ladder point: the ladder sees only the foot of the curve
    write_ladder(tmp_path / "foot", midpoint=0.2, noise=0.002)
    law = fit_task_law(load(tmp_path / "foot"), "demo", n_resamples=50, chance=0.25)
    assert not law.verdict.predictable
    assert "midpoint" in law.verdict.reason and "below" in law.verdict.reason


def test_unknown_chance_level_is_an_input_error(tmp_path):
    from scalinglab.errors import InputError

    write_ladder(tmp_path / "ladder")
    with pytest.raises(InputError, match="chance level unknown"):
        fit_task_law(load(tmp_path / "ladder"), "demo", n_resamples=0)


def test_two_worker_processes_give_the_same_laws_as_one(tmp_path):
    write_ladder(tmp_path / "a", task="easy")
    write_ladder(tmp_path / "b", task="hard", slope=1.5, seed=1)
    (tmp_path / "both").mkdir()
    for f in list((tmp_path / "a").glob("*.csv")) + list((tmp_path / "b").glob("*.csv")):
        f.rename(tmp_path / "both" / f"{f.parent.name}-{f.name}")
    side = pd.concat([pd.read_csv(tmp_path / f"{x}-params.csv").assign(run_id=lambda d, x=x: x + "-" + d["run_id"])
                      for x in ("a", "b")])
    side.to_csv(tmp_path / "both-params.csv", index=False)
    h = load(tmp_path / "both")
    kw = dict(chance={"easy": 0.25, "hard": 0.25}, n_resamples=30, seed=5)
    one, two = fit_task_laws(h, **kw), fit_task_laws(h, workers=2, **kw)
    assert [t.task for t in one] == [t.task for t in two] == ["easy", "hard"]
    for a, b in zip(one, two):
        # the same draws; step 1's resamples are solved in one batch with different companions (its floating-point
        # sums may round differently), so the same to rounding
        np.testing.assert_array_equal(a.draws.counts, b.draws.counts)
        np.testing.assert_allclose(a.draws.sigmoid, b.draws.sigmoid, rtol=1e-8)
        np.testing.assert_allclose(a.draws.step1, b.draws.step1, rtol=1e-8)


def test_chaining_through_the_lm_loss_instead_of_the_task_loss(tmp_path):
    mid = write_ladder(tmp_path / "ladder")
    h = load(tmp_path / "ladder")
    assert h.tasks("lm_loss") == ["lm_loss"]
    law = fit_task_law(h, "demo", n_resamples=100, chance=0.25, smooth=1, feature="lm_loss")
    # accuracy is a sigmoid of the LM loss too (LM loss = 1.2 task loss + 0.8): its midpoint moves accordingly
    assert law.sigmoid.midpoint == pytest.approx(1.2 * mid + 0.8, abs=0.03)
    N, D = 2e8, 5 * 20 * 2e8
    truth = 0.25 + 0.65 * expit(-3.0 * (task_loss(N, D) - mid))
    assert abs(law.forecast(N, D).accuracy.estimate - truth) < 0.02


def test_one_bootstrap_draw_runs_through_both_steps(tmp_path):
    # resample b refits step 1 and step 2 on the same draw of runs (TaskDraws.counts[b]): refitting either step alone
    # on that draw gives the recorded resample back
    from scalinglab.laws import fit
    from scalinglab.laws.bootstrap import refit_resamples
    from scalinglab.tasks import law as task_law

    write_ladder(tmp_path / "ladder")
    law = fit_task_law(load(tmp_path / "ladder"), "demo", n_resamples=20, chance=0.25, smooth=1, seed=3)
    d = law.draws
    assert d.counts.shape == (20, 9) and np.all(d.counts.sum(axis=1) == 9) and d.n_used == 20
    assert d.run_ids == tuple(law.finals["run_id"])
    b = 7
    weights = d.counts[b:b + 1, [d.run_ids.index(r) for r in law.points["run_id"]]]
    theta2, ok2 = task_law._sigmoid_resamples(law.points, 0.25, sg.theta_of(law.sigmoid), weights)
    assert ok2[0]
    np.testing.assert_allclose(theta2[0], d.sigmoid[b], rtol=1e-9)
    base = fit(law.finals, "chinchilla", grid=task_law.TASK_LOSS_GRID)
    obj, res = refit_resamples(base, d.counts[b:b + 1])
    np.testing.assert_allclose(obj.full_theta(res.theta)[0], d.step1[b], rtol=1e-6)


def test_a_task_none_of_whose_resamples_refit_is_not_predictable_with_the_reason(tmp_path, monkeypatch):
    # no silent NaN interval: the verdict says why, and the interval is [chance, 1]
    from scalinglab.tasks import law as task_law

    write_ladder(tmp_path / "ladder")
    monkeypatch.setattr(task_law, "BOOT_MAX_ITER", 0)   # no step-1 resample can converge
    law = fit_task_law(load(tmp_path / "ladder"), "demo", n_resamples=30, chance=0.25, smooth=1)
    assert law.draws.n_used == 0
    assert not law.verdict.predictable
    assert "0 of 30 bootstrap resamples" in law.verdict.reason and "maximum iterations" in law.verdict.reason
    f = law.forecast(2e8, 2e10)
    assert (f.reported.lo, f.reported.hi) == (f.accuracy.lo, f.accuracy.hi) == (0.25, 1.0)
    assert law.to_dict()["n_failed"] == 30 and sum(law.to_dict()["failures"].values()) == 30
