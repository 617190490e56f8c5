"""Law forms: published constants reproduce published numbers; inputs are derived and validated."""

import numpy as np
import pytest

from scalinglab.errors import InputError
from scalinglab.laws import Chinchilla, DataConstrained, KaplanC, KaplanD, KaplanJoint, KaplanN, Saturating
from scalinglab.laws.optimal import compute_optimal, optimal_exponents

# Hoffmann et al. 2022 (arXiv:2203.15556): unrounded Approach-3 constants from the TeX source (as used by Epoch AI)
TEX = Chinchilla(E=1.69337, A=406.401, B=410.723, alpha=0.33917084, beta=0.2849083)
ROUNDED = Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)  # as printed in Sec. 3.3


def test_chinchilla_tex_constants_give_table_a3_allocation_at_2_21e19():
    # Hoffmann et al. Table A3 (Approach 3): 400M parameters ↔ 2.21e19 FLOPs; the TeX constants give 389M / 9.47B.
    alloc = compute_optimal(TEX, 2.21e19)
    assert alloc.n_params == pytest.approx(389e6, rel=0.01)
    assert alloc.n_tokens == pytest.approx(9.47e9, rel=0.01)


def test_chinchilla_rounded_constants_give_326m_and_11_3b():
    alloc = compute_optimal(ROUNDED, 2.21e19)
    assert alloc.n_params == pytest.approx(326e6, rel=0.01)
    assert alloc.n_tokens == pytest.approx(11.3e9, rel=0.01)


def test_closed_form_matches_numeric_minimisation():
    closed = compute_optimal(TEX, [1e20, 1e24])
    # Minimise L(N, C/6N) on a fine grid here, independently of scalinglab.
    for c, n in zip([1e20, 1e24], closed.n_params):
        grid = np.geomspace(n / 3, n * 3, 200001)
        best = grid[np.argmin(TEX.predict(N=grid, D=c / (6 * grid)))]
        assert n == pytest.approx(best, rel=1e-4)
    assert optimal_exponents(TEX, 1e22) == pytest.approx((0.2849083 / (0.33917084 + 0.2849083),
                                                          0.33917084 / (0.33917084 + 0.2849083)))


def test_kaplan_forms_match_their_equations():
    # Kaplan et al. 2020 (arXiv:2001.08361) Table 5 / Eq. 1.1–1.2 and Table 2 (joint law) constants.
    assert KaplanN(alpha_N=0.076, N_c=8.8e13).predict(N=1e9) == pytest.approx((8.8e13 / 1e9) ** 0.076, rel=1e-12)
    assert KaplanD(alpha_D=0.095, D_c=5.4e13).predict(D=1e10) == pytest.approx((5.4e13 / 1e10) ** 0.095, rel=1e-12)
    assert KaplanC(alpha_C=0.05, C_c=3.1e8 * 8.64e19).predict(C=1e21) == pytest.approx(
        (3.1e8 * 8.64e19 / 1e21) ** 0.05, rel=1e-12)
    joint = KaplanJoint(alpha_N=0.076, alpha_D=0.103, N_c=6.4e13, D_c=1.8e13)
    expect = ((6.4e13 / 1e9) ** (0.076 / 0.103) + 1.8e13 / 2e10) ** 0.103
    assert joint.predict(N=1e9, D=2e10) == pytest.approx(expect, rel=1e-12)
    sat = Saturating(E=1.7, A=1e3, alpha=0.15)
    assert sat.predict(C=1e21) == pytest.approx(1.7 + 1e3 * 1e21 ** -0.15, rel=1e-12)


def test_kaplan_joint_has_an_interior_compute_optimum():
    joint = KaplanJoint(alpha_N=0.076, alpha_D=0.103, N_c=6.4e13, D_c=1.8e13)
    alloc = compute_optimal(joint, 1e22)
    grid = np.geomspace(1e6, 1e13, 20001)
    best = grid[np.argmin(joint.predict(N=grid, D=1e22 / (6 * grid)))]
    assert alloc.n_params[()] == pytest.approx(best, rel=2e-3)


def test_data_constrained_published_law_reproduces_readme_values():
    # Muennighoff et al. 2023, datablations README "Parametric Fit": L(6.34e9, 242e9, 25e9) = 2.2256440889984477,
    # L(8.67e9, 178e9, 25e9) = 2.2269634075087867.
    law = DataConstrained.published()
    assert law.predict(N=6.34e9, D=242e9, U=25e9) == pytest.approx(2.2256440889984477, rel=1e-12)
    assert law.predict(N=8.67e9, D=178e9, U=25e9) == pytest.approx(2.2269634075087867, rel=1e-12)


def test_data_constrained_without_repetition_is_the_base_law():
    law = DataConstrained.published()
    base = Chinchilla(E=law.E, A=law.A, B=law.B, alpha=law.alpha, beta=law.beta)
    n, d = 1e8, 2e9  # small model, single epoch: N' = N, D' = D
    assert law.predict(N=n, D=d, U=d) == pytest.approx(base.predict(N=n, D=d), rel=1e-12)
    # More unique tokens than tokens trained on cannot help: U is capped at D (Eq. 5, U_D = min(U, D)).
    assert law.predict(N=n, D=d, U=1e3 * d) == pytest.approx(base.predict(N=n, D=d), rel=1e-12)


def test_data_constrained_optimum_muennighoff_1e22_25b_unique():
    # Muennighoff et al. 2023: 1e22 FLOPs with 25e9 unique tokens → about 7.02e9 parameters and 2.37e11 tokens.
    alloc = compute_optimal(DataConstrained.published(), 1e22, unique_tokens=25e9)
    assert alloc.n_params[()] == pytest.approx(7.02e9, rel=0.02)
    assert alloc.n_tokens[()] == pytest.approx(2.37e11, rel=0.02)


def test_predict_derives_missing_input_and_rejects_bad_ones():
    assert TEX.predict(N=1e9, C=6e9 * 2e10) == pytest.approx(TEX.predict(N=1e9, D=2e10), rel=1e-12)
    with pytest.raises(InputError, match="must be finite and > 0"):
        TEX.predict(N=-1, D=1e9)
    with pytest.raises(InputError, match="needs n_params, n_tokens; missing n_tokens"):
        TEX.predict(N=1e9)
    with pytest.raises(InputError, match="depends on flops only"):
        compute_optimal(Saturating(E=1.7, A=1e3, alpha=0.15), 1e21)


@pytest.mark.parametrize("law_cls", [Chinchilla, KaplanJoint, Saturating, KaplanN])
def test_from_theta_refuses_overflow_and_keeps_underflow_finite(law_cls):
    # Fuzz-found: a fit whose log-parameter ran to ±800 warned (overflow in exp, divide by zero in log 0) and built
    # laws with A = inf or A = 0, whose theta() then held -inf.
    theta = law_cls.default_grid().mean(axis=0)
    at = np.arange(theta.size) == next(i for i, n in enumerate(law_cls.theta_names) if n in ("a", "c", "log_N_c"))
    with pytest.raises(InputError, match="not a finite number"):
        law_cls.from_theta(np.where(at, 800.0, theta))
    law = law_cls.from_theta(np.where(at, -800.0, theta))
    assert np.all(np.isfinite(law.theta()))
    X = {"n_params": 1e8, "n_tokens": 2e9, "unique_tokens": 2e9, "flops": 1.2e18}
    pred = law.predict(**{k: X[k] for k in law.inputs})
    assert np.isfinite(pred)


def test_data_constrained_stays_finite_and_silent_at_a_vanishing_A():
    """A solver trial at a = log A = -800 made U_N underflow to 0 and log 0 warn; in logs the prediction is finite and
    equals the direct formula where that one is representable."""
    import warnings

    from scalinglab.laws.data_constrained import DataConstrained

    X = {"n_params": np.array([1e8, 1e9]), "n_tokens": np.array([1e10, 1e11]), "unique_tokens": np.array([1e9, 1e9])}
    theta = DataConstrained.published().theta()[None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extreme = DataConstrained.log_predict(np.array([[-800.0, *theta[0, 1:]]]), X)
        plain = DataConstrained.log_predict(theta, X)
    assert np.isfinite(extreme).all()
    N_eff, D_eff = DataConstrained.effective(theta, X)
    a, b, e, al, be = theta[0, :5]
    direct = np.log(np.exp(a) / N_eff ** al + np.exp(b) / D_eff ** be + np.exp(e))
    np.testing.assert_allclose(plain, direct, rtol=1e-12)
