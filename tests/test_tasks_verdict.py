"""The predictability verdict on few items: a ladder a few points above chance on 96 items has not risen clearly above
chance, however smooth its checkpoints (issue 13, item 3: accuracies within noise of chance get no forecast)."""

from __future__ import annotations

import dataclasses

import numpy as np
from test_tasks_laws import load, write_ladder

from scalinglab.tasks import fit_task_law
from scalinglab.tasks.verdict import CHANCE_Z, Verdict, item_noise, judge_items


def test_item_noise_is_the_binomial_spread_of_a_guesser():
    assert np.isclose(item_noise(0.25, 96), np.sqrt(0.25 * 0.75 / 96))   # 0.0442
    rng = np.random.default_rng(0)
    guesses = rng.binomial(96, 0.25, size=200_000) / 96
    assert np.isclose(guesses.std(), item_noise(0.25, 96), rtol=0.01)


def test_a_smooth_rise_to_six_points_above_chance_on_96_items_is_refused_with_a_reason(tmp_path):
    # like fortune_ending on the small demo: ceiling 0.31, chance 0.25, checkpoints that agree closely (the same items)
    write_ladder(tmp_path / "low", ceiling=0.31, noise=0.002, seed=2)
    law = fit_task_law(load(tmp_path / "low"), "demo", n_resamples=20, chance=0.25)
    assert law.verdict.predictable          # checkpoint noise alone lets it through ...
    best = float(law.finals["accuracy"].max())
    assert best - 0.25 <= CHANCE_Z * item_noise(0.25, 96)
    refined = judge_items(law.verdict, law.finals["accuracy"].to_numpy(float), 0.25, 96)
    assert not refined.predictable          # ... the 96 items' own sampling noise does not
    assert "never rise clearly above chance" in refined.reason and "96 items" in refined.reason
    f = dataclasses.replace(law, verdict=refined).forecast(1e10, 2e11)
    assert (f.reported.lo, f.reported.hi) == (0.25, 1.0)
    # with thousands of items the same rise is real, and the verdict stands
    assert judge_items(law.verdict, law.finals["accuracy"].to_numpy(float), 0.25, 10_000) == law.verdict


def test_a_task_that_rises_well_above_chance_keeps_its_verdict():
    v = Verdict(True, "ladder spans the sigmoid's midpoint")
    assert judge_items(v, np.array([0.3, 0.6, 0.85]), 0.25, 192) == v
    assert judge_items(v, np.array([0.3, 0.33]), 0.25, None) == v     # unknown item count: unchanged
    refused = Verdict(False, "sigmoid not identified")
    assert judge_items(refused, np.array([0.9]), 0.25, 192) == refused
