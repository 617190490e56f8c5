"""The report's test-time section: per model, unbiased pass@k with intervals and the exponentiated power law of
coverage (Brown et al. 2024), computed with ``scalinglab.testtime`` from per-problem sample counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.testtime.counts import SampleCounts, load_counts
from scalinglab.testtime.estimators import pass_at_k_summary
from scalinglab.testtime.power_law import ExpPowerLaw, PowerLawFit, fit_power_law

LEVEL = 0.9
TARGET_COVERAGE = (0.5, 0.9)


@dataclass(frozen=True)
class ModelCoverage:
    model: str
    n_problems: int
    n_samples: int              # smallest n over the model's problems (k can go this far)
    k: np.ndarray
    pass_at_k: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    law: PowerLawFit
    samples_for: dict           # coverage target → k the fitted law needs (None when the fit failed)

    def to_dict(self) -> dict:
        return {"model": self.model, "n_problems": self.n_problems, "n_samples": self.n_samples,
                "pass_at_k": [{"k": int(k), "mean": float(m), "lo": float(lo), "hi": float(hi)}
                              for k, m, lo, hi in zip(self.k, self.pass_at_k, self.lo, self.hi)],
                "coverage_law": {"formula": ExpPowerLaw.formula, "a": self.law.law.a, "b": self.law.law.b,
                                 "c_max": self.law.law.c_max, "success": self.law.success,
                                 "message": self.law.message, "rmse": self.law.rmse},
                "samples_for_coverage": {f"{c:g}": v for c, v in self.samples_for.items()}}


@dataclass(frozen=True)
class TestTimeSection:
    source: str
    models: tuple[ModelCoverage, ...]

    def to_dict(self) -> dict:
        return {"source": self.source, "level": LEVEL, "models": [m.to_dict() for m in self.models]}


def shown_k(n_min: int) -> np.ndarray:
    """k = 1, 10, 100, … up to the smallest sample count, plus that count itself."""
    ks = [10 ** e for e in range(int(np.log10(n_min)) + 1)]
    return np.array(sorted(set(ks + [n_min])), dtype=int)


def _model(counts: SampleCounts, model: str, seed: int) -> ModelCoverage:
    g = counts.group(model)
    n, c = g["n"].to_numpy(), g["correct"].to_numpy()
    n_min = int(n.min())
    k = shown_k(n_min)
    summary = pass_at_k_summary(n, c, k, level=LEVEL)
    law = fit_power_law(n, c, n_boot=100, seed=seed)
    usable = law.success and law.law.a > 0 and law.law.b > 0
    targets = {t: (law.law.samples_for(t) if usable else None) for t in TARGET_COVERAGE}
    return ModelCoverage(model=model, n_problems=len(g), n_samples=n_min, k=k, pass_at_k=summary.mean,
                         lo=summary.lo, hi=summary.hi, law=law, samples_for=targets)


def testtime_section(path, *, seed: int = 0) -> TestTimeSection:
    counts = load_counts(path)
    return TestTimeSection(source=counts.source, models=tuple(_model(counts, m, seed) for m in counts.models))
