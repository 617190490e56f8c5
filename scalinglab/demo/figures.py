"""The demo's three PNG figures: loss curves, loss vs compute with the fitted frontier, isoFLOP profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scalinglab.demo.analysis import DemoAnalysis
from scalinglab.errors import InputError
from scalinglab.laws.approaches import isoflop_budgets
from scalinglab.laws.optimal import compute_optimal


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    return plt


def _group_colors(flops: np.ndarray):
    import matplotlib

    labels = isoflop_budgets(flops)
    cmap = matplotlib.colormaps["viridis"]
    k = max(labels.max(), 1)
    return labels, [cmap(0.9 * g / k) for g in range(labels.max() + 1)]


def write_figures(a: DemoAnalysis, out_dir: Path) -> list[Path]:
    """Write the figures; the two that draw the fitted law need one whose exponents are positive."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    paths = [_loss_curves(a, out_dir / "loss_curves.png", plt)]
    if a.optimal is not None:
        paths += [_loss_vs_compute(a, out_dir / "loss_vs_compute.png", plt), _isoflop(a, out_dir / "isoflop.png", plt)]
    return paths


def _budget_label(c: float) -> str:
    return f"C ≈ {c:.2g} FLOP"


def _loss_curves(a: DemoAnalysis, path: Path, plt) -> Path:
    runs = a.runs
    labels, colors = _group_colors(runs.flops)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    seen = set()
    for i, rid in enumerate(runs.frame["run_id"]):
        curve = runs.curves[runs.curves["run_id"] == rid]
        g = labels[i]
        ax.plot(curve["n_tokens"], curve["loss"], "-o", ms=2.5, lw=1.2, color=colors[g],
                label=None if g in seen else _budget_label(runs.flops[labels == g].mean()))
        seen.add(g)
    ax.set(xscale="log", xlabel="training tokens D", ylabel="validation loss (nats/byte)",
           title="Loss curves (each run: warm-up, cosine over its own budget)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _loss_vs_compute(a: DemoAnalysis, path: Path, plt) -> Path:
    runs = a.runs
    labels, colors = _group_colors(runs.flops)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    held = np.zeros(len(runs), bool)
    if a.backtest is not None:
        held = runs.flops > a.backtest.cutoff_flops
    for g in np.unique(labels):
        m = labels == g
        ax.scatter(runs.flops[m], runs.loss[m], color=colors[g], s=28, zorder=3,
                   edgecolors=np.where(held[m], "red", "none"), linewidths=1.2)
    grid = np.geomspace(runs.flops.min() / 2, runs.flops.max() * 30, 200)
    frontier = _frontier(a.fit.law, grid)
    if frontier is not None:
        ax.plot(grid, frontier, "k-", lw=1.5, label="compute-optimal frontier, fit on all runs")
    bt = _frontier(a.backtest.fit.law, grid) if a.backtest is not None else None
    if bt is not None:
        ax.plot(grid, bt, "r--", lw=1.2, label="frontier fit without the largest budget (red-edged runs)")
    ax.set(xscale="log", xlabel="training compute C = 6ND (FLOP)", ylabel="final validation loss",
           title="Loss vs compute with the fitted Chinchilla frontier")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _frontier(law, grid: np.ndarray) -> np.ndarray | None:
    """Loss along the law's compute-optimal frontier; None when the law has none (e.g. a degenerate fit)."""
    if not (getattr(law, "alpha", 0) > 0 and getattr(law, "beta", 0) > 0):
        return None
    try:
        loss = compute_optimal(law, grid).loss
    except InputError:
        return None
    return loss if np.all(np.isfinite(loss)) else None


def _isoflop(a: DemoAnalysis, path: Path, plt) -> Path:
    runs = a.runs
    labels, colors = _group_colors(runs.flops)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    law = a.fit.law
    for g in np.unique(labels):
        m = labels == g
        c = float(np.exp(np.mean(np.log(runs.flops[m]))))
        ax.scatter(runs.n_params[m], runs.loss[m], color=colors[g], s=28, zorder=3, label=_budget_label(c))
        n = np.geomspace(runs.n_params[m].min() / 1.5, runs.n_params[m].max() * 1.5, 100)
        ax.plot(n, law.predict(n_params=n, n_tokens=c / (6.0 * n)), "-", color=colors[g], lw=1)
        if a.optimal is None:
            continue
        n_opt = float(compute_optimal(law, c).n_params)
        ax.plot([n_opt], [float(law.predict(n_params=n_opt, n_tokens=c / (6.0 * n_opt)))], "*", color=colors[g],
                ms=11, mec="k", mew=0.6, zorder=4)
    ax.set(xscale="log", xlabel="parameters N (total)", ylabel="final validation loss",
           title="IsoFLOP profiles: runs, fitted law along each budget, ★ = N_opt")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
