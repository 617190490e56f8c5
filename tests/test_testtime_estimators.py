"""pass@k, best-of-k and majority-vote@k estimators: exact against integer arithmetic, brute force and published data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE_DIR

from scalinglab.errors import InputError
from scalinglab.testtime.estimators import (best_of_k, majority_vote_at_k, pass_at_k, pass_at_k_summary,
                                            validate_counts)

REF = REFERENCE_DIR / "llmonkeys_pythia_math"
COUNTS = REF / "pythia_math_per_problem_counts.csv"
MEANS = REF / "pythia_math_mean_pass_at_k_from_repo_scores.csv"

# Large Language Monkeys Pythia/MATH counts (Brown et al. 2024, arXiv:2407.21787; processed copy of Schaeffer et al.
# 2025) — the table in llmonkeys_pythia_math/SOURCE.md, mean pass@k at k = 1, 10, 100, 1000, 10000 (4 decimals).
SOURCE_TABLE = {
    "Pythia 70M": (0.0006, 0.0060, 0.0361, 0.1241, 0.2656),
    "Pythia 160M": (0.0027, 0.0251, 0.1619, 0.4102, 0.5703),
    "Pythia 410M": (0.0062, 0.0517, 0.2272, 0.4818, 0.6562),
    "Pythia 1B": (0.0083, 0.0665, 0.2745, 0.5462, 0.7422),
    "Pythia 2.8B": (0.0203, 0.1348, 0.4220, 0.6778, 0.8125),
    "Pythia 6.9B": (0.0186, 0.1314, 0.4316, 0.6877, 0.8359),
    "Pythia 12B": (0.0232, 0.1568, 0.4834, 0.7233, 0.8750),
}
K_TABLE = (1, 10, 100, 1000, 10000)


def _exact_pass_at_k(n: int, c: int, k: int) -> float:
    """1 − C(n−c, k)/C(n, k) in exact integer arithmetic (Python's int/int division rounds correctly)."""
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _counts():
    if not COUNTS.exists():
        pytest.skip(f"reference data not found: {COUNTS}")
    return pd.read_csv(COUNTS)


def test_pass_at_k_matches_exact_integer_arithmetic_on_the_monkeys_counts_to_1e12():
    d = _counts()
    worst = 0.0
    for model, g in d.groupby("model", sort=False):
        n, c = g["num_samples"].to_numpy(), g["num_correct"].to_numpy()
        ours = pass_at_k(n, c, list(K_TABLE))
        for row, k in enumerate(K_TABLE):
            exact = np.array([_exact_pass_at_k(int(nn), int(cc), k) for nn, cc in zip(n, c)])
            worst = max(worst, float(np.max(np.abs(ours[row] - exact))))
            assert abs(ours[row].mean() - exact.mean()) <= 1e-12, (model, k)
    assert worst <= 1e-12


def test_mean_pass_at_k_reproduces_the_source_table():
    d = _counts()
    for model, expected in SOURCE_TABLE.items():
        g = d[d["model"] == model]
        means = pass_at_k(g["num_samples"], g["num_correct"], list(K_TABLE)).mean(axis=1)
        np.testing.assert_allclose(means, expected, atol=5e-5 + 1e-12, err_msg=model)  # table rounded to 4 decimals


def test_mean_pass_at_k_matches_the_repo_scores_at_every_k():
    """The CSV of repo means is printed to 10 significant digits, so it is compared at that precision
    (≤ half a unit in the 10th digit); exactness to 1e-12 is checked against integer arithmetic above."""
    if not MEANS.exists():
        pytest.skip(f"reference data not found: {MEANS}")
    d, ref = _counts(), pd.read_csv(MEANS)
    assert len(ref) == 707
    for model, r in ref.groupby("model", sort=False):
        g = d[d["model"] == model]
        ours = pass_at_k(g["num_samples"], g["num_correct"], r["k"].to_numpy()).mean(axis=1)
        np.testing.assert_allclose(ours, r["mean_pass_at_k"], rtol=5e-10, atol=1e-15, err_msg=model)


def test_pass_at_k_is_stable_for_n_1e4_and_every_k():
    n = 10_000
    k = np.unique(np.r_[np.arange(1, 300), np.linspace(1, n, 400).astype(int), np.arange(n - 300, n + 1)])
    for c in (0, 1, 7, 5_000, 9_999, 10_000):
        v = pass_at_k([n], [c], k)[:, 0]
        assert np.all(np.isfinite(v)) and np.all((v >= 0) & (v <= 1))
        assert np.all(np.diff(v) >= -1e-15)  # more samples never hurt
        for kk in (1, 2, 50, 9_990, 10_000):
            assert v[np.searchsorted(k, kk)] == pytest.approx(_exact_pass_at_k(n, c, kk), abs=1e-13)
    assert pass_at_k([n], [1], 1)[0] == pytest.approx(1e-4, rel=1e-14)  # pass@1 = c/n


def test_pass_at_k_summary_intervals_bracket_the_mean_and_the_problems():
    s = pass_at_k_summary([100, 100, 100, 100], [0, 3, 50, 100], [1, 10], level=0.9)
    np.testing.assert_allclose(s.mean, [(0 + 0.03 + 0.5 + 1) / 4, s.per_problem[1].mean()])
    assert np.all(s.lo <= s.mean) and np.all(s.mean <= s.hi)
    assert np.all(s.problem_lo <= s.per_problem + 1e-12) and np.all(s.per_problem <= s.problem_hi + 1e-12)
    assert s.problem_lo[0, 0] == 0.0 and s.problem_hi[0, 3] == 1.0


def test_best_of_k_equals_brute_force_average_over_subsets_with_ties():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, 9).astype(float)  # many ties
    correct = rng.random(9) < 0.4
    for k in range(1, 10):
        total = 0.0
        subsets = list(itertools.combinations(range(9), k))
        for sub in subsets:
            top = max(scores[i] for i in sub)
            tied = [i for i in sub if scores[i] == top]
            total += np.mean([correct[i] for i in tied])
        assert best_of_k(scores, correct, k) == pytest.approx(total / len(subsets), abs=1e-12)


def test_best_of_k_with_a_perfect_scorer_is_pass_at_k_and_with_a_constant_scorer_is_pass_at_1():
    correct = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    k = np.arange(1, 11)
    np.testing.assert_allclose(best_of_k(correct.astype(float), correct, k), pass_at_k([10], [2], k)[:, 0])
    np.testing.assert_allclose(best_of_k(np.zeros(10), correct, k), 0.2)


def test_majority_vote_matches_exhaustive_enumeration_within_monte_carlo_error():
    answers = ["7", "7", "3", "3", "3", None, "7", "9", "3", "7", "7"]
    k = 5
    wins = []
    for sub in itertools.combinations(range(len(answers)), k):
        votes = pd.Series([answers[i] for i in sub if answers[i] is not None]).value_counts()
        top = votes[votes == votes.max()].index
        wins.append(1.0 / len(top) if "7" in top else 0.0)
    exact = float(np.mean(wins))
    mv = majority_vote_at_k(answers, "7", [1, k, len(answers)], n_draws=4000, seed=1)
    assert mv.estimate[0] == pytest.approx(5 / 11)
    assert abs(mv.estimate[1] - exact) < 4 * mv.std_error[1]
    assert mv.estimate[2] == 1.0  # all 11: '7' has 5 votes, '3' has 4
    again = majority_vote_at_k(answers, "7", k, n_draws=4000, seed=1)
    assert again.estimate[0] == mv.estimate[1]  # same seed, same answer


@pytest.mark.parametrize("n, c, k, words", [
    ([10, 10], [-1, 2], 1, "≥ 0"),
    ([10, 10], [11, 2], 1, "exceeds n"),
    ([10, 10], [1, 2], 11, "exceeds the number of samples"),
    ([], [], 1, "empty"),
    ([10], [1], 0, "k must be ≥ 1"),
    ([10.5], [1], 1, "whole numbers"),
])
def test_bad_counts_raise_input_error(n, c, k, words):
    with pytest.raises(InputError, match=words):
        pass_at_k(n, c, k)


def test_validate_counts_and_scorers_reject_bad_input():
    with pytest.raises(InputError, match="≥ 1 sample"):
        validate_counts([0], [0])
    with pytest.raises(InputError, match="empty"):
        best_of_k([], [], 1)
    with pytest.raises(InputError, match="empty"):
        majority_vote_at_k([], "1", 1)
