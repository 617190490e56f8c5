"""Train↔test exchange rate on synthetic counts whose pass@k curves are known in closed form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.errors import InputError
from scalinglab.testtime.exchange import exchange_rate


def _frame(correct_by_model: dict, n=1000, problems=40):
    rows = []
    for j, (model, (c, n_params, train_flops)) in enumerate(correct_by_model.items()):
        for i in range(problems):
            rows.append({"model": model, "problem": f"p{i}", "n": n, "correct": c, "n_params": n_params,
                         "tokens_per_sample": 10.0, "train_flops": train_flops})
    return pd.DataFrame(rows)


def test_samples_needed_and_slope_match_closed_form():
    # c = 1 of n: pass@k = k/n exactly; c = 4: pass@k = 1 − Π_{i<4} (n−k−i)/(n−i) ≈ 1 − (1 − k/n)^4.
    df = _frame({"small": (1, 1e6, 1e12), "large": (4, 1e7, 1e14)})
    rate = exchange_rate(df, target=0.3, n_boot=0)
    k_small, k_large = 300.0, 1000 * (1 - 0.7 ** 0.25)  # ≈ 85.6
    assert rate.samples_needed[0] == pytest.approx(k_small, rel=0.02)
    assert rate.samples_needed[1] == pytest.approx(k_large, rel=0.02)
    test = 2 * np.array([1e6, 1e7]) * 10.0 * np.array([k_small, k_large])
    np.testing.assert_allclose(rate.test_flops_per_problem, test, rtol=0.02)
    slope = np.log(test[1] / test[0]) / np.log(100.0)
    assert rate.slope == pytest.approx(slope, abs=0.01)
    assert rate.test_factor_per_10x_train == pytest.approx(10 ** (-slope), rel=0.03)
    # 1e6 queries: small costs 1e12 + 1e6·6e9, large 1e14 + 1e6·1.7e10 → small is optimal
    assert rate.optimal_model == "small"
    assert exchange_rate(df, target=0.3, n_boot=0, queries=1e12).optimal_model == "small"


def test_bigger_model_wins_when_it_saves_more_than_it_costs():
    df = _frame({"small": (1, 1e6, 1e12), "large": (300, 2e6, 1e13)})
    rate = exchange_rate(df, target=0.5, n_boot=0, queries=1e9)
    assert rate.samples_needed[1] < 3 < rate.samples_needed[0]
    assert rate.slope < 0 and rate.test_factor_per_10x_train > 1
    assert rate.optimal_model == "large"


def test_interval_from_bootstrap_over_problems_brackets_the_estimate():
    rng = np.random.default_rng(0)
    rows = []
    for model, a, n_params, flops in (("s", 0.3, 1e6, 1e12), ("m", 0.6, 3e6, 1e13), ("l", 1.2, 1e7, 1e14)):
        p = rng.beta(a, 20.0, 60)
        for i, c in enumerate(rng.binomial(256, p)):
            rows.append({"model": model, "problem": i, "n": 256, "correct": int(c), "n_params": n_params,
                         "tokens_per_sample": 5.0, "train_flops": flops})
    rate = exchange_rate(pd.DataFrame(rows), n_boot=100, seed=1)
    assert np.isfinite(rate.slope) and rate.slope_lo <= rate.slope <= rate.slope_hi
    assert 0 < rate.target < 1


def test_bad_tables_raise_input_error():
    df = _frame({"small": (1, 1e6, 1e12), "large": (4, 1e7, 1e14)})
    with pytest.raises(InputError, match="train_flops"):
        exchange_rate(df.drop(columns=["train_flops"]))
    with pytest.raises(InputError, match="at least 2 models"):
        exchange_rate(df[df["model"] == "small"])
    with pytest.raises(InputError, match="same problems"):
        exchange_rate(df.drop(index=0))
    with pytest.raises(InputError, match="target"):
        exchange_rate(df, target=1.5)
