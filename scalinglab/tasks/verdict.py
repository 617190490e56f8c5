"""Predictability verdict: may this ladder forecast this task at all?

A task gets no confident forecast when (1) the ladder's accuracies are within noise of chance — nothing has emerged
yet, so the sigmoid's slope, midpoint and ceiling are unconstrained — or (2) the sigmoid is not identified by the
ladder: its midpoint lies outside the task-loss range the ladder covers, so the ladder sees only one arm of the curve
and the other arm (where the target may sit) is extrapolated from the functional form alone. Emergence is reported,
never smoothed over: forecasts carry where on the sigmoid the ladder and the target sit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHANCE_Z = 3.0   # "within noise of chance": the best run is less than 3 standard errors above chance


@dataclass(frozen=True)
class Verdict:
    predictable: bool
    reason: str


def judge(sigmoid, final_accuracy: np.ndarray, noise: float, smooth: int, loss_range: tuple[float, float],
          converged: bool) -> Verdict:
    """Verdict from the fitted sigmoid, each run's (smoothed) final accuracy, the checkpoint noise of one
    evaluation, and the task-loss range of the sigmoid's fitting points."""
    chance = sigmoid.chance
    best = float(np.max(final_accuracy))
    se = noise / np.sqrt(smooth)
    if best - chance <= CHANCE_Z * max(se, 1e-12):
        return Verdict(False, f"ladder accuracies within noise of chance: best run {best:.3f} vs chance {chance:.3f} "
                              f"(noise ±{se:.3f}); the sigmoid is not constrained")
    lo, hi = loss_range
    if not lo <= sigmoid.midpoint <= hi:
        side = "below" if sigmoid.midpoint < lo else "above"
        return Verdict(False, f"sigmoid not identified: its midpoint {sigmoid.midpoint:.3f} lies {side} the task-loss "
                              f"range the ladder covers [{lo:.3f}, {hi:.3f}]")
    if not converged:
        return Verdict(False, "the sigmoid fit did not converge")
    return Verdict(True, f"ladder spans the sigmoid's midpoint {sigmoid.midpoint:.3f} within [{lo:.3f}, {hi:.3f}]")


def item_noise(chance: float, n_items: int) -> float:
    """Standard deviation of the accuracy of a model at chance on ``n_items`` items (binomial sampling of the
    items). Checkpoint-to-checkpoint noise understates it: successive checkpoints answer the same items, mostly alike."""
    return float(np.sqrt(chance * (1 - chance) / n_items))


def judge_items(verdict: Verdict, final_accuracy: np.ndarray, chance: float, n_items: int | None) -> Verdict:
    """``verdict``, or a refusal when no run's final accuracy rises more than CHANCE_Z item-sampling standard
    deviations above chance (a ladder evaluated on few items, e.g. 96, can sit a few points above chance by luck
    of the items alone). Without ``n_items`` the verdict is returned as it is."""
    if n_items is None or not verdict.predictable:
        return verdict
    best, sd = float(np.max(final_accuracy)), item_noise(chance, n_items)
    if best - chance <= CHANCE_Z * sd:
        return Verdict(False, f"ladder accuracies never rise clearly above chance: best run {best:.3f} vs chance "
                              f"{chance:.3f} (±{sd:.3f} from the {n_items} items alone); the sigmoid is not "
                              "constrained")
    return verdict
