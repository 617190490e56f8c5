"""One call from a counts table to per-model pass@k, fitted coverage laws and extrapolated coverage.

This is what ``scalinglab testtime fit`` prints: for each model, the unbiased mean pass@k at the requested k (with
intervals), the exponentiated power law with a ceiling fitted to its pass@k curve, and the coverage predicted at
larger k by that law and by the beta-binomial success distribution (``extend`` prediction), each with an interval.
Optional compute metadata turns k into inference FLOPs: 2·n_params per generated token × tokens per sample × k.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scalinglab.errors import InputError
from scalinglab.testtime.counts import SampleCounts, load_counts
from scalinglab.testtime.distribution import fit_success_distribution
from scalinglab.testtime.estimators import pass_at_k_summary
from scalinglab.testtime.power_law import fit_power_law


@dataclass(frozen=True)
class ModelCoverage:
    model: str
    n_problems: int
    n_samples: int
    k: list[int]
    pass_at_k: list[float]
    pass_at_k_lo: list[float]
    pass_at_k_hi: list[float]
    law: dict
    extrapolate_k: list[int]
    law_coverage: list[float]
    law_lo: list[float]
    law_hi: list[float]
    beta_coverage: list[float]
    beta_lo: list[float]
    beta_hi: list[float]
    inference_flops_per_problem: list[float] | None = None


@dataclass(frozen=True)
class CoverageSummary:
    source: str
    level: float
    models: list[ModelCoverage] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"source": self.source, "level": self.level, "models": [m.__dict__ for m in self.models]}

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{m.model}</td><td>{m.n_problems}×{m.n_samples}</td>"
            + "".join(f"<td>{v:.4f}</td>" for v in m.pass_at_k)
            + f"<td>a={m.law['a']:.3g} b={m.law['b']:.3g} c<sub>max</sub>={m.law['c_max']:.3g}</td></tr>"
            for m in self.models)
        head = "".join(f"<th>pass@{k}</th>" for k in (self.models[0].k if self.models else []))
        return f"<table><tr><th>model</th><th>problems×n</th>{head}<th>law</th></tr>{rows}</table>"


def summarize_coverage(counts, *, k=None, extrapolate=None, level: float = 0.9, n_boot: int = 200,
                       seed: int = 0) -> CoverageSummary:
    """Per-model pass@k at ``k`` (default 1, 10, 100, … up to n), fitted laws, coverage predicted at ``extrapolate``."""
    table: SampleCounts = load_counts(counts)
    out = []
    for model in table.models:
        g = table.group(model)
        n, c = g["n"].to_numpy(), g["correct"].to_numpy()
        n_min = int(n.min())
        ks = sorted({int(x) for x in (k if k is not None else [10**i for i in range(7) if 10**i <= n_min] + [n_min])})
        if any(x > n_min for x in ks):
            raise InputError(f"k = {max(ks)} exceeds n = {n_min} for model '{model}'; use --extrapolate for larger k",
                             source=table.source)
        summary = pass_at_k_summary(n, c, ks, level=level)
        ext = sorted({int(x) for x in (extrapolate or [])})
        if any(x < int(n.max()) for x in ext):
            raise InputError(f"--extrapolate k must be ≥ n = {int(n.max())} for model '{model}'", source=table.source)
        law = fit_power_law(n, c, ceiling=True, n_boot=n_boot, seed=seed)
        law_cov = law_lo = law_hi = beta_cov = beta_lo = beta_hi = []
        if ext:
            if law.success:
                law_cov = law.predict(ext).tolist()
                lo, hi = law.predict_interval(ext, level=level)
                law_lo, law_hi = lo.tolist(), hi.tolist()
            if np.any(c > 0):
                dist = fit_success_distribution(n, c, family="beta")
                beta_cov = np.atleast_1d(dist.extend_coverage(np.array(ext))).tolist()
                bounds = [dist.extend_interval(x, level=level, n_draws=1000, seed=seed) for x in ext]
                beta_lo, beta_hi = [b[0] for b in bounds], [b[1] for b in bounds]
        meta = table.metadata(model)
        flops = None
        if "n_params" in meta and "tokens_per_sample" in meta:
            flops = [2.0 * meta["n_params"] * meta["tokens_per_sample"] * x for x in ks + ext]
        out.append(ModelCoverage(
            model=model, n_problems=len(g), n_samples=n_min, k=ks, pass_at_k=summary.mean.tolist(),
            pass_at_k_lo=summary.lo.tolist(), pass_at_k_hi=summary.hi.tolist(),
            law={"a": law.law.a, "b": law.law.b, "c_max": law.law.c_max, "success": law.success,
                 "message": law.message},
            extrapolate_k=ext, law_coverage=law_cov, law_lo=law_lo, law_hi=law_hi,
            beta_coverage=beta_cov, beta_lo=beta_lo, beta_hi=beta_hi, inference_flops_per_problem=flops))
    return CoverageSummary(source=table.source, level=level, models=out)
