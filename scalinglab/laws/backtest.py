"""Backtest: fit on runs below a compute cut-off, predict the runs above, and report how wrong the forecast was."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.laws.fit import FitResult, fit as fit_law, resolve_law
from scalinglab.runs import Runs, load_runs

EXTRAPOLATION_WARN = 10.0  # warn beyond 10× the largest fitted compute


def extrapolation_factor(fitted: Runs, flops) -> np.ndarray:
    """How far beyond the largest fitted compute each budget lies (≤ 1 means inside the fitted range)."""
    return np.asarray(flops, float) / float(np.max(fitted.flops))


def extrapolation_warnings(fitted: Runs, flops) -> list[str]:
    out = []
    for c, x in zip(np.ravel(flops), np.ravel(extrapolation_factor(fitted, flops))):
        if x > EXTRAPOLATION_WARN:
            out.append(f"C = {c:.3g} FLOP is {x:.0f}× beyond the largest fitted run ({np.max(fitted.flops):.3g}); "
                       f"extrapolating {np.log10(x):.1f} decades")
    return out


@dataclass(frozen=True)
class BacktestResult:
    fit: FitResult
    cutoff_flops: float
    table: pd.DataFrame = field(repr=False)  # held-out runs: row, n_params, n_tokens, flops, loss, predicted, ...
    warnings: tuple[str, ...]

    @property
    def median_abs_rel_error(self) -> float:
        return float(np.median(np.abs(self.table["rel_error"])))

    @property
    def max_abs_rel_error(self) -> float:
        return float(np.max(np.abs(self.table["rel_error"])))

    def to_dict(self) -> dict:
        return {"cutoff_flops": self.cutoff_flops, "n_fitted": self.fit.n_points, "n_held_out": len(self.table),
                "median_abs_rel_error": self.median_abs_rel_error, "max_abs_rel_error": self.max_abs_rel_error,
                "warnings": list(self.warnings), "fit": self.fit.to_dict(),
                "runs": self.table.to_dict(orient="records")}

    def _repr_html_(self) -> str:
        return (f"<p>Backtest: fit on {self.fit.n_points} runs with C ≤ {self.cutoff_flops:.3g}, predicted "
                f"{len(self.table)} held-out runs; median |relative error| {self.median_abs_rel_error:.2%}</p>"
                + self.table.to_html(index=False, float_format=lambda v: f"{v:.5g}"))


def backtest(runs, law="chinchilla", *, cutoff_flops: float | None = None, holdout_fraction: float = 0.2,
             **fit_kwargs) -> BacktestResult:
    """Fit on runs with C ≤ ``cutoff_flops`` (default: the cut that holds out the top ``holdout_fraction`` of runs
    by compute) and predict every run above it."""
    runs = load_runs(runs).fitted()
    law_cls = resolve_law(law)
    C = runs.flops
    if cutoff_flops is None:
        if not 0 < holdout_fraction < 1:
            raise InputError(f"holdout fraction must be between 0 and 1, got {holdout_fraction}")
        cutoff_flops = float(np.quantile(C, 1 - holdout_fraction, method="lower"))
    cutoff_flops = float(cutoff_flops)
    below = C <= cutoff_flops
    if below.all():
        raise InputError(f"no runs above the compute cut-off {cutoff_flops:.3g} to predict", source=runs.source)
    if below.sum() < law_cls.n_fit_params():
        raise InputError(f"only {int(below.sum())} runs at or below the cut-off {cutoff_flops:.3g}; law "
                         f"'{law_cls.name}' needs at least {law_cls.n_fit_params()}", source=runs.source)
    train = runs.subset(below, note=f"backtest: runs with C ≤ {cutoff_flops:.3g}")
    test = runs.subset(~below)
    result = fit_law(train, law_cls, **fit_kwargs)
    X = {k: v for k, v in test.law_inputs().items() if k in law_cls.inputs}
    pred = result.law.predict(**X)
    table = test.frame[[c for c in ("row", "run_id", "n_params", "n_tokens", "flops", "loss") if c in test.frame]]
    table = table.assign(predicted=pred, rel_error=(pred - test.loss) / test.loss,
                         extrapolation=extrapolation_factor(train, test.flops))
    return BacktestResult(fit=result, cutoff_flops=cutoff_flops, table=table.reset_index(drop=True),
                          warnings=tuple(extrapolation_warnings(train, test.flops)))
