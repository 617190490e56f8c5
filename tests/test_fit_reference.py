"""Reproduce published fits on real published data (read in place from ../shared/reference)."""

import numpy as np
import pytest

from conftest import reference_file
from scalinglab.laws import Chinchilla, DataConstrained
from scalinglab.laws.bootstrap import bootstrap
from scalinglab.laws.fit import fit, make_objective
from scalinglab.runs import load_runs

# Hoffmann et al. 2022 TeX-source values as Epoch use them: (log A, log B, log E, α, β).
HOFFMANN_TEX = Chinchilla.from_theta([6.0073404, 6.0179186, 0.5267228, 0.33917084, 0.2849083])


@pytest.fixture(scope="module")
def epoch_runs():
    # Besiroglu et al. 2024 (arXiv:2404.10102): Hoffmann Fig. 4 runs; drop the 5 highest-loss → 240; D = C / 6N.
    runs = load_runs(reference_file("epoch_chinchilla", "svg_extracted_data.csv")).drop_highest_loss(5)
    assert len(runs) == 240
    return runs


@pytest.fixture(scope="module")
def epoch_fit(epoch_runs):
    return fit(epoch_runs, "chinchilla")  # Huber δ = 1e-3 summed, Hoffmann's grid


def test_epoch_grid_fit_reaches_published_objective_and_parameters(epoch_fit):
    # Epoch AI notebook (analyzing-chinchilla, data_analysis.ipynb): grid L-BFGS-B on the Huber sum reaches
    # 0.0010182740346 at A 477.8417, B 2143.8638, E 1.817236, α 0.347313, β 0.367183. Tolerances per SOURCE.md.
    r = epoch_fit
    assert r.converged
    assert r.objective == pytest.approx(1.018274e-3, rel=1e-6)
    p = r.params
    assert p["E"] == pytest.approx(1.8172, abs=0.001)
    assert p["alpha"] == pytest.approx(0.3473, abs=0.002)
    assert p["beta"] == pytest.approx(0.3672, abs=0.002)
    assert p["A"] == pytest.approx(477.8, rel=0.02)
    assert p["B"] == pytest.approx(2143.9, rel=0.03)


def test_hoffmann_parameters_do_not_come_back_from_these_data(epoch_runs, epoch_fit):
    # Besiroglu et al. 2024 reject Hoffmann's values on these data: objective at the TeX values is 0.00123116.
    obj, _ = make_objective(Chinchilla, epoch_runs)
    at_hoffmann = float(obj.value(HOFFMANN_TEX.theta()[None, :])[0])
    assert at_hoffmann == pytest.approx(0.00123116, rel=1e-5)
    assert epoch_fit.objective < 0.9 * at_hoffmann
    p = epoch_fit.params
    assert abs(p["E"] - 1.69337) > 0.1 and p["B"] > 3 * 410.723 and abs(p["beta"] - 0.2849083) > 0.05


def test_bootstrap_standard_errors_match_epoch_within_25_percent(epoch_fit):
    # Epoch AI notebook, 4000 resamples: SEs A 124.52, B 1293.28, E 0.02566, α 0.01540, β 0.02060.
    boot = bootstrap(None, fit_result=epoch_fit, n_resamples=1000, seed=42)
    assert boot.n_failed == 0
    se = boot.se
    for name, published in {"A": 124.5, "B": 1293, "E": 0.0257, "alpha": 0.0154, "beta": 0.0206}.items():
        assert se[name] == pytest.approx(published, rel=0.25), name
    # a = β/(α+β): Epoch report 0.513 with bootstrap SE 0.020.
    a = boot.interval("a")
    assert a["estimate"] == pytest.approx(0.513, abs=0.005)
    assert a["se"] == pytest.approx(0.020, rel=0.25)


def test_bootstrap_is_reproducible_for_a_seed(epoch_fit):
    b1 = bootstrap(None, fit_result=epoch_fit, n_resamples=50, seed=7)
    b2 = bootstrap(None, fit_result=epoch_fit, n_resamples=50, seed=7)
    b3 = bootstrap(None, fit_result=epoch_fit, n_resamples=50, seed=8)
    assert b1.samples.equals(b2.samples)
    assert not b1.samples.equals(b3.samples)


@pytest.fixture(scope="module")
def c4_runs():
    return load_runs(reference_file("datablations_muennighoff2023", "c4_runs_parametric_fit.csv"))


def test_datablations_objective_and_r2_at_published_parameters(c4_runs):
    # Muennighoff et al. 2023, datablations parametric_fit.ipynb: objective 0.015825936 and R² 0.7722046084968408
    # at R_D* = 15.387756, R_N* = 5.309743 (base law held fixed); no decay (plain Chinchilla): R² 0.4451684378759986.
    law = DataConstrained.published()
    obj, _ = make_objective(DataConstrained, c4_runs)
    assert float(obj.value(law.theta()[None, :])[0]) == pytest.approx(0.015825936, rel=1e-6)
    pred = law.predict(**c4_runs.law_inputs())
    y = c4_runs.loss
    r2 = 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
    assert r2 == pytest.approx(0.7722046084968408, rel=1e-9)
    plain = Chinchilla(E=law.E, A=law.A, B=law.B, alpha=law.alpha, beta=law.beta)
    pred0 = plain.predict(N=c4_runs.n_params, D=c4_runs.n_tokens)
    assert 1 - np.sum((y - pred0) ** 2) / np.sum((y - y.mean()) ** 2) == pytest.approx(0.4451684378759986, rel=1e-9)


def test_datablations_refit_reaches_the_published_objective(c4_runs):
    # Same recipe: base law fixed, R_D*, R_N* free from the notebook's {0, 6.67, 13.33, 20}² grid. The surface is a
    # flat ridge (SOURCE.md: an unconstrained search finds 0.0158123 at R_D* ≈ 40): require at least the published
    # objective (within 0.1 %), and the fitted law to explain the runs as well (R² ≥ 0.7722).
    result = fit(c4_runs, "data_constrained", hold=("a", "b", "e", "alpha", "beta"),
                 start=DataConstrained.published())
    assert result.converged
    assert result.objective <= 0.015825936 * (1 + 1e-3)
    assert result.objective >= 0.0158 * (1 - 1e-2)  # and not an impossible value
    assert result.r_squared >= 0.7722
    assert result.params["R_D_star"] > 5 and 0.5 < result.params["R_N_star"] < 10
