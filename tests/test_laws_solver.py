"""The batched solver's bookkeeping: blocked evaluation of large batches and merging of starts."""

import numpy as np
import pytest

from conftest import synthetic_chinchilla_runs
from scalinglab.laws import Chinchilla
from scalinglab.laws import objective as objective_module
from scalinglab.laws.bootstrap import refit_resamples, refit_resamples_stacked
from scalinglab.laws.fit import fit
from scalinglab.laws.fit import make_objective
from scalinglab.laws.solver import _first_equal_row
from scalinglab.runs import load_runs

TRUE = {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.37}


def test_blocked_evaluation_of_a_large_batch_equals_row_by_row(monkeypatch):
    # Large batches are evaluated in row blocks (cache-sized); every row must still get its own θ and its own
    # bootstrap weights, so a batch split over several blocks equals evaluating each row alone.
    runs = load_runs(synthetic_chinchilla_runs(noise=0.02, seed=2, **TRUE))
    rng = np.random.default_rng(0)
    B, n = 37, len(runs)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=B).astype(float)
    obj, _ = make_objective(Chinchilla, runs, delta=0.01, weights=weights)
    theta = np.array([6.0, 7.3, 0.6, 0.34, 0.37]) + 0.2 * rng.standard_normal((B, 5))
    monkeypatch.setattr(objective_module, "CHUNK_ELEMENTS", 3 * n * 5)  # blocks of 5 rows: 8 blocks, last one short
    f, g, H = obj.value_grad_hess(theta, np.arange(B))
    v = obj.value(theta, np.arange(B))
    for i in range(B):
        fi, gi, Hi = obj.value_grad_hess(theta[i:i + 1], np.array([i]))
        assert f[i] == pytest.approx(fi[0], rel=1e-12)
        assert v[i] == pytest.approx(fi[0], rel=1e-12)
        np.testing.assert_allclose(g[i], gi[0], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(H[i], Hi[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(H[i], H[i].T, rtol=1e-12, atol=1e-15)


def test_a_stacked_solve_of_several_data_sets_equals_solving_each_alone():
    # Several fits' bootstrap resamples in one batch (e.g. one law per task of a ladder): each data set keeps its own
    # bound on E (its lowest loss), which the stacked objective carries as a shift, so every resample ends where it
    # would alone. The sets differ in scale (bounds 0.6× and 3× apart) and size, one with E at its bound.
    sets = [load_runs(synthetic_chinchilla_runs(noise=0.02, seed=2, **TRUE)),
            load_runs(synthetic_chinchilla_runs(noise=0.03, seed=3, sizes=np.geomspace(1e7, 1e9, 4),
                                                **dict(TRUE, E=0.05, A=1200.0))),
            load_runs(synthetic_chinchilla_runs(noise=0.01, seed=4, **dict(TRUE, E=1.1)))]
    bases = [fit(r) for r in sets]
    rng = np.random.default_rng(5)
    counts = [rng.multinomial(len(r), np.full(len(r), 1 / len(r)), size=20).astype(float) for r in sets]
    together = refit_resamples_stacked(bases, counts)
    for base, c, (obj, res) in zip(bases, counts, together):
        obj_alone, alone = refit_resamples(base, c)
        assert obj.bounds[1][2] == obj_alone.bounds[1][2] == pytest.approx(np.log(base.runs.loss.min()))
        np.testing.assert_array_equal(res.converged, alone.converged)
        np.testing.assert_allclose(res.objective, alone.objective, rtol=1e-9)
        np.testing.assert_allclose(res.theta, alone.theta, rtol=1e-6, atol=1e-8)
    obj, res = together[1]
    assert bases[1].at_bound == {"E": "lower"} and np.any(res.theta[:, 2] <= obj.bounds[0][2])


def test_stacking_objectives_whose_bounds_differ_otherwise_is_refused():
    runs = load_runs(synthetic_chinchilla_runs(noise=0.02, seed=2, **TRUE))
    bounded, _ = make_objective(Chinchilla, runs)
    free, _ = make_objective(Chinchilla, runs, bound_e=False)
    with pytest.raises(ValueError, match="bounds"):
        objective_module.StackedObjective([bounded, free])


def test_merging_groups_starts_exactly_as_numpy_unique():
    # Starts are merged into the first active start with the same rounded parameters; signed zeros are equal.
    rng = np.random.default_rng(1)
    for _ in range(50):
        keys = np.round(rng.integers(-2, 3, size=(int(rng.integers(1, 200)), 5)) * 0.1, 1)
        keys[rng.random(keys.shape) < 0.2] *= -1.0
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        np.testing.assert_array_equal(_first_equal_row(keys), first[inverse.ravel()])
