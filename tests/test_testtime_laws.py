"""Coverage laws: the exponentiated power law (plain and with a ceiling) and per-problem success distributions."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import InputError
from scalinglab.testtime.distribution import fit_success_distribution
from scalinglab.testtime.power_law import ExpPowerLaw, fit_power_law


def _beta_counts(a, b, n, problems, seed, zero_mass=0.0):
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, problems)
    p[rng.random(problems) < zero_mass] = 0.0
    return np.full(problems, n), rng.binomial(n, p), p


def test_exp_power_law_round_trips_and_inverts():
    law = ExpPowerLaw(a=4.0, b=0.3, c_max=0.9)
    k = np.array([1.0, 10.0, 1e4])
    np.testing.assert_allclose(law.predict(k), 0.9 * np.exp(-4.0 * k**-0.3))
    assert law.samples_for(float(law.predict(250.0))) == pytest.approx(250.0, rel=1e-9)
    assert law.samples_for(0.95) == float("inf")  # above the ceiling: never reached
    with pytest.raises(InputError):
        law.predict(0)


def test_beta_population_coverage_is_an_exact_power_law_tail():
    """For p ~ Beta(a, b), 1 − coverage(k) = B(a, b + k)/B(a, b) ~ Γ(a+b)/Γ(b) · k^(−a) for large k
    (Schaeffer et al. 2025: the left-tail exponent of the pass@1 distribution sets the power law)."""
    n, c, _ = _beta_counts(0.3, 20.0, 2000, 3000, seed=1)
    fit = fit_success_distribution(n, c, family="beta")
    assert fit.success, fit.message
    assert fit.a[0] == pytest.approx(0.3, rel=0.1) and fit.b[0] == pytest.approx(20.0, rel=0.25)
    k = np.array([1e5, 1e6])
    tail = 1 - fit.population_coverage(k)
    slope = np.diff(np.log(tail)) / np.diff(np.log(k))
    assert slope[0] == pytest.approx(-fit.a[0], rel=0.02)


def test_zero_inflated_beta_recovers_the_never_solved_mass():
    n, c, _ = _beta_counts(0.8, 30.0, 1000, 2000, seed=2, zero_mass=0.3)
    fit = fit_success_distribution(n, c, family="zi-beta")
    assert fit.atom_weight == pytest.approx(0.3, abs=0.04)
    assert fit.population_coverage(1e9) == pytest.approx(0.7, abs=0.04)  # coverage saturates at 1 − atom


def test_extend_coverage_is_calibrated_on_simulated_problems():
    """Simulate 10,000 samples per problem from a known beta, observe 1,000, predict the coverage at 10,000."""
    rng = np.random.default_rng(5)
    hits = []
    for rep in range(20):
        p = rng.beta(0.25, 30.0, 300)
        first, rest = rng.binomial(1000, p), rng.binomial(9000, p)
        fit = fit_success_distribution(np.full(300, 1000), first, family="beta")
        truth = np.mean(first + rest > 0)
        lo, hi = fit.extend_interval(10_000, level=0.9, n_draws=400, seed=rep)
        assert fit.extend_coverage(10_000) == pytest.approx(truth, abs=0.06)
        hits.append(lo <= truth <= hi)
    assert 14 <= sum(hits) <= 20  # 90 % intervals: Binomial(20, 0.9) is ≥ 15 with probability 0.99


def test_solve_probability_is_one_for_solved_problems_and_grows_with_k():
    n, c, _ = _beta_counts(0.5, 10.0, 200, 400, seed=3)
    fit = fit_success_distribution(n, c, family="beta")
    q = fit.solve_probability(np.array([200.0, 2000.0, 20000.0]))
    assert np.all(q[:, c > 0] == 1.0)
    assert np.all(np.diff(q[:, c == 0], axis=0) > 0)
    with pytest.raises(InputError, match="≥ the observed n"):
        fit.extend_coverage(100)


def test_power_law_line_fit_recovers_a_known_law():
    """Counts drawn so that mean pass@k follows the plain law are not available in closed form; instead fit the
    straight line to a beta population whose coverage curve is known exactly and compare at the fitted k."""
    n, c, _ = _beta_counts(0.4, 15.0, 1000, 4000, seed=4)
    fit = fit_power_law(n, c, n_boot=50, seed=0)
    assert fit.success and 0 < fit.law.b < 1
    assert np.max(np.abs(fit.predict(fit.k) - fit.coverage)) < 0.05
    lo, hi = fit.predict_interval([10, 1000])
    assert np.all(lo <= fit.predict([10, 1000])) and np.all(fit.predict([10, 1000]) <= hi)


def test_ceiling_fit_finds_the_solvable_fraction():
    """40 % of problems unsolvable, the rest heavy-tailed (Beta(0.3, 10)): the ceiling law should find c_max ≈ 0.6
    and fit the curve better than the plain law, which must head for coverage 1."""
    n, c, _ = _beta_counts(0.3, 10.0, 10_000, 3000, seed=6, zero_mass=0.4)
    fit = fit_power_law(n, c, ceiling=True, n_boot=20)
    plain = fit_power_law(n, c, n_boot=0)
    assert fit.law.c_max == pytest.approx(0.6, abs=0.04)
    assert fit.law.c_max > np.mean(c > 0)  # more samples still help
    assert np.sqrt(np.mean(np.log(fit.predict(fit.k) / fit.coverage) ** 2)) < 0.5 * np.sqrt(
        np.mean(np.log(plain.predict(plain.k) / plain.coverage) ** 2))


def test_fits_reject_bad_input():
    with pytest.raises(InputError, match="unknown family"):
        fit_success_distribution([10], [1], family="gamma")
    with pytest.raises(InputError, match="ever solved"):
        fit_success_distribution([10, 10], [0, 0])
    with pytest.raises(InputError, match="exceeds n"):
        fit_power_law([10, 10], [11, 0])
    fit = fit_power_law([10, 10], [0, 0])
    assert not fit.success and "need" in fit.message  # nothing solved: reports, does not raise


def test_beta_mixture_extrapolates_a_two_population_benchmark_better_than_one_beta():
    """Half the problems hard (Beta(0.3, 300): p ~ 1e-3), half easy (Beta(2, 5)); one beta cannot hold both."""
    from scipy import special

    rng = np.random.default_rng(7)
    hard = rng.random(1000) < 0.5
    p = np.where(hard, rng.beta(0.3, 300.0, 1000), rng.beta(2.0, 5.0, 1000))
    c = rng.binomial(1000, p)
    k = 1e4
    truth = 1 - 0.5 * (np.exp(special.betaln(0.3, 300 + k) - special.betaln(0.3, 300))
                       + np.exp(special.betaln(2, 5 + k) - special.betaln(2, 5)))
    mix = fit_success_distribution(np.full(1000, 1000), c, family="beta-mix")
    one = fit_success_distribution(np.full(1000, 1000), c, family="beta")
    assert mix.neg_log_lik < one.neg_log_lik - 10
    assert abs(mix.population_coverage(k) - truth) < 0.02
    assert abs(mix.population_coverage(k) - truth) < abs(one.population_coverage(k) - truth)
