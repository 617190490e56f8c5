"""Chinchilla approaches 1–3 and backtests on ladders drawn from a known law."""

import numpy as np
import pandas as pd
import pytest

from conftest import synthetic_chinchilla_runs
from scalinglab.errors import InputError
from scalinglab.laws import Chinchilla
from scalinglab.laws.approaches import (ApproachResult, approach1, approach2, compare_approaches, find_disagreements,
                                        isoflop_budgets, isoflop_minima)
from scalinglab.laws.backtest import backtest, extrapolation_warnings
from scalinglab.runs import load_runs

LAW = Chinchilla(E=1.8, A=400.0, B=1500.0, alpha=0.34, beta=0.37)
A_TRUE = 0.37 / (0.34 + 0.37)


def isoflop_ladder(noise=0.002, seed=0, budgets=(1e17, 1e18, 1e19, 1e20)):
    """Per budget, 9 model sizes spread ±1 decade around the true optimum; D = C / 6N."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in budgets:
        n_opt = LAW.optimal_n_params(c)
        for n in n_opt * np.geomspace(0.1, 10, 9):
            d = c / (6 * n)
            rows.append({"run_id": f"{c:.0e}-{n:.3g}", "N": n, "D": d,
                         "loss": float(LAW.predict(N=n, D=d)) * np.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def test_isoflop_budgets_group_runs_within_a_tenth_of_a_decade():
    labels = isoflop_budgets(np.array([1e18, 1.1e18, 0.95e18, 1e19, 1.2e19, 1e20]))
    assert labels.tolist() == [0, 0, 0, 1, 1, 2]


def test_approach2_recovers_the_true_exponent():
    runs = load_runs(isoflop_ladder())
    result = approach2(runs, n_resamples=100, seed=0)
    assert result.n_points == 4
    assert result.a == pytest.approx(A_TRUE, abs=0.02)
    assert result.a_lo <= result.a <= result.a_hi
    assert result.b == pytest.approx(1 - result.a)
    minima = isoflop_minima(runs)
    truth = LAW.optimal_n_params(minima["budget_flops"].to_numpy())
    assert np.allclose(np.log(minima["n_opt"]), np.log(truth), atol=0.15)


def test_approach2_refuses_an_interval_the_runs_cannot_support():
    # Two budgets × exactly 3 sizes: each parabola interpolates its 3 points and the line joins 2 minima, so no
    # resample can move a. A zero-width interval would claim certainty; the result says why there is none.
    frame = isoflop_ladder(budgets=(1e18, 1e19))
    keep = frame.groupby(frame["run_id"].str[:5]).nth([2, 4, 6])
    result = approach2(load_runs(keep), n_resamples=200, seed=0)
    assert result.n_points == 2
    assert result.a == pytest.approx(A_TRUE, abs=0.05)
    assert np.isnan(result.a_lo) and np.isnan(result.a_hi)
    assert "no interval" in result.note
    # With 9 sizes per budget the same two budgets do give an interval, and it holds the estimate.
    full = approach2(load_runs(frame), n_resamples=200, seed=0)
    assert full.note == "" and full.a_lo < full.a < full.a_hi


def test_approach1_from_loss_curves():
    # Each run logs its loss along training; the envelope over runs traces the compute-optimal frontier.
    sizes = np.geomspace(1e7, 1e9, 9)
    runs, curves = [], []
    for n in sizes:
        d_final = 60 * n
        for d in np.geomspace(d_final / 100, d_final, 30):
            curves.append({"run_id": f"n{n:.3g}", "tokens": d, "loss": float(LAW.predict(N=n, D=d))})
        runs.append({"run_id": f"n{n:.3g}", "N": n, "D": d_final, "loss": float(LAW.predict(N=n, D=d_final))})
    table = load_runs(pd.DataFrame(runs), curves=pd.DataFrame(curves))
    result = approach1(table, n_resamples=50)
    assert result.a == pytest.approx(A_TRUE, abs=0.06)
    with pytest.raises(InputError, match="approach 1 needs per-run loss curves"):
        approach1(load_runs(pd.DataFrame(runs)))


def test_compare_reports_available_approaches_and_agrees_on_a_chinchilla_ladder():
    runs = load_runs(isoflop_ladder())
    agree = compare_approaches(runs, n_resamples=100)
    assert [r.number for r in agree.results] == [2, 3]
    assert any("approach 1" in s for s in agree.skipped)
    assert agree.disagreements == ()


def test_disagreement_is_flagged_only_when_intervals_do_not_overlap():
    def result(number, a, lo, hi):
        return ApproachResult(number, "some approach", a, 1 - a, lo, hi, 1 - hi, 1 - lo, 10)

    overlapping = [result(1, 0.50, 0.48, 0.52), result(3, 0.53, 0.51, 0.56)]
    assert find_disagreements(overlapping) == []
    apart = [result(2, 0.49, 0.46, 0.53), result(3, 0.60, 0.58, 0.62)]
    (msg,) = find_disagreements(apart)
    assert msg.startswith("approaches 2 and 3 disagree on a: 0.490 [0.460, 0.530] vs 0.600")


def test_backtest_predicts_held_out_runs_and_warns_beyond_10x():
    runs = load_runs(synthetic_chinchilla_runs(noise=0.005, seed=1, E=1.8, A=400.0, B=1500.0, alpha=0.34, beta=0.37,
                                               sizes=np.geomspace(1e7, 1e9, 5), tokens=np.geomspace(1e8, 1e11, 7)))
    result = backtest(runs, cutoff_flops=1e18)
    assert len(result.table) == int((runs.flops > 1e18).sum())
    assert result.fit.n_points == int((runs.flops <= 1e18).sum())
    assert result.median_abs_rel_error < 0.02
    truth = LAW.predict(N=result.table["n_params"], D=result.table["n_tokens"])
    assert np.allclose(result.table["rel_error"], (result.table["predicted"] - result.table["loss"])
                       / result.table["loss"])
    assert np.median(np.abs(result.table["predicted"] / truth - 1)) < 0.02
    far = result.table["extrapolation"] > 10
    assert far.any() and len(result.warnings) == int(far.sum())
    assert extrapolation_warnings(runs, [np.max(runs.flops) * 5]) == []
    with pytest.raises(InputError, match="no runs above the compute cut-off"):
        backtest(runs, cutoff_flops=1e30)


def test_approach1_on_wsd_branches_uses_each_sizes_cooldown_end_points():
    """A WSD ladder: each size's branches end on the law (cooled down); their curves before the branch point are
    the constant-rate stable phase, above the law by more for larger models. The envelope runs through the end
    points, so it finds the true exponent; an envelope of the curves themselves would favour small models."""
    sizes = np.geomspace(1e7, 1e9, 9)
    runs, curves = [], []
    for n in sizes:
        for d in np.geomspace(20 * n / 16, 20 * n * 4, 9):
            rid = f"n{n:.3g}-d{d:.3g}"
            runs.append({"run_id": rid, "N": n, "D": d, "loss": float(LAW.predict(N=n, D=d)),
                         "parent": f"stable-{n:.3g}", "branch_tokens": 0.8 * d})
            for t in np.geomspace(d / 100, 0.8 * d, 8):
                curves.append({"run_id": rid, "tokens": t,
                               "loss": (1.05 + 0.1 * np.log10(n / 1e7)) * float(LAW.predict(N=n, D=t))})
    table = load_runs(pd.DataFrame(runs), curves=pd.DataFrame(curves))
    result = approach1(table, n_resamples=30)
    assert result.a == pytest.approx(A_TRUE, abs=0.06) and result.a_lo <= result.a <= result.a_hi
    no_curves = approach1(load_runs(pd.DataFrame(runs)), n_resamples=30)  # the end points suffice
    assert no_curves.a == result.a
