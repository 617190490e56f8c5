"""Calibration of forecast intervals on synthetic ladders drawn from known laws, some misspecified.

Each draw is a small ladder (4 sizes × 4 tokens-per-parameter ratios, 16 runs) from a known law with 1 % lognormal
run-to-run noise (the scatter of single runs about a fit on real ladders: 0.4–0.6 % on OLMo's and Epoch's runs, so 1 %
is on the noisy side); every other draw's true law carries an extra N·D term E + A/N^α + B/D^β + G/(N^0.3·D^0.25)
that Chinchilla lacks. The truth is one fresh run at 10× the largest run's compute (same tokens-per-parameter as the
largest run); a 90 % prediction interval must contain it 85–95 % of the time over 200 draws (binomial sd at 90 %:
2.1 points, so the band is about ±2.4 sd: a rule that is off by a few points fails). All draws are forecast together
(``forecast_many``: each fit and bootstrap one batched solve over the 200 ladders), the forecasts a lone ``forecast``
of each draw gives, to solver tolerance.
"""

import numpy as np
import pandas as pd
import pytest

from scalinglab.laws.forecast import forecast, forecast_many
from scalinglab.laws.forms import _grid

N_DRAWS = 200
GRID = _grid([0.0, 5.0, 10.0], [0.0, 5.0, 10.0], [0.0, 0.5], [0.3, 0.6], [0.3, 0.6])  # 72 starts: small ladders


def true_loss(N, D, misspecified):
    L = 1.8 + 400 / N**0.34 + 1500 / D**0.37
    return L + (3e3 / (N**0.3 * D**0.25) if misspecified else 0.0)


def draw(seed):
    rng = np.random.default_rng(seed)
    mis = seed % 2 == 1
    N = np.repeat(np.geomspace(2e7, 2e8, 4), 4)
    D = N * np.tile([10.0, 20.0, 40.0, 80.0], 4)
    runs = pd.DataFrame({"N": N, "D": D, "loss": true_loss(N, D, mis) * np.exp(0.01 * rng.standard_normal(N.size))})
    tN = 2e8 * np.sqrt(10)  # 10× the compute of the largest run at its tokens-per-parameter ratio (80)
    truth = true_loss(tN, 80 * tN, mis) * np.exp(0.01 * rng.standard_normal())
    return runs, {"N": tN, "D": 80 * tN}, truth


@pytest.mark.slow
def test_90_percent_interval_10x_beyond_the_ladder_covers_85_to_95_percent():
    draws = [draw(seed) for seed in range(N_DRAWS)]
    target = draws[0][1]
    assert all(d[1] == target for d in draws)
    results = forecast_many([d[0] for d in draws], [target], "chinchilla", n_resamples=40, n_fold_resamples=20,
                            grid=GRID, seeds=range(N_DRAWS))
    hits = [truth in r.targets[0].loss for (_, _, truth), r in zip(draws, results)]
    coverage = float(np.mean(hits))
    print(f"coverage {coverage:.3f} (well-specified {np.mean(hits[0::2]):.3f}, misspecified {np.mean(hits[1::2]):.3f})")
    assert 0.85 <= coverage <= 0.95


def test_forecasts_of_many_ladders_at_once_are_the_lone_forecasts():
    draws = [draw(seed) for seed in (0, 1, 2)]
    kw = dict(n_resamples=12, n_fold_resamples=6, grid=GRID)
    together = forecast_many([d[0] for d in draws], [draws[0][1]], "chinchilla", seeds=[0, 1, 2], **kw)
    for seed, (runs, target, _), r in zip((0, 1, 2), draws, together):
        alone = forecast(runs, [target], "chinchilla", seed=seed, **kw)
        a, b = alone.targets[0], r.targets[0]
        assert b.loss.estimate == pytest.approx(a.loss.estimate, rel=1e-8)
        assert (b.loss.lo, b.loss.hi) == pytest.approx((a.loss.lo, a.loss.hi), rel=1e-6)
        assert r.forms[0].fit.objective == pytest.approx(alone.forms[0].fit.objective, rel=1e-10)
        assert r.folds == alone.folds and r.seed == seed
