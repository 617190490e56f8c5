"""The report's figures, each a function of result objects that returns a matplotlib ``Figure`` (use them in
notebooks as they are): loss vs compute with the fitted frontier, the compute-optimal N and D, isoFLOP profiles with
their minima, loss curves, residuals, the backtest, and test-time coverage.

Runs are coloured by model size on one log scale (``size_colors``), the same in every figure that shares it; the
part of a fitted line beyond the largest fitted run is dashed, because it is a forecast rather than a fit.
"""

from __future__ import annotations

import numpy as np
from matplotlib.collections import LineCollection

from scalinglab.errors import InputError
from scalinglab.laws.approaches import isoflop_budgets
from scalinglab.laws.forms import FLOPS_PER_PARAM_TOKEN, Chinchilla
from scalinglab.laws.optimal import compute_optimal
from scalinglab.report.plotting import (
    COMPUTE_CMAP, EXCLUDED_STYLE, FLOPS_LABEL, LOSS_LABEL, PARAMS_LABEL, TOKENS_LABEL, LogColors, finish,
    log_axis, loss_axis, new_figure, size_colors, style,
)

MAX_BAND_SAMPLES = 200


def _allocates(law) -> bool:
    return {"n_params", "n_tokens"} <= set(law.inputs) and "unique_tokens" not in law.inputs


def _compute_grid(runs, law, budgets=()) -> np.ndarray:
    """Compute values to draw a law's optimum at: dense for Chinchilla's closed form, sparser for laws whose optimum
    is a numeric search per point (their optima are smooth in log C, so straight segments between 32 points do)."""
    hi = max([float(np.max(runs.flops)) * 1.5] + [float(b) * 1.5 for b in budgets])
    return np.geomspace(float(np.min(runs.flops)) / 1.5, hi, 160 if isinstance(law, Chinchilla) else 32)


def _split_at(ax, x, y, x_max, **kw):
    """Plot a line solid up to ``x_max`` (the fitted range) and dashed beyond it (extrapolation)."""
    inside = x <= x_max
    label = kw.pop("label", None)
    ax.plot(x[inside], y[inside], "-", label=label, **kw)
    if (~inside).any():
        k = max(int(inside.sum()) - 1, 0)
        ax.plot(x[k:], y[k:], "--", label=f"{label}, extrapolated" if label else None, **kw)


def optimum_band(boot, grid: np.ndarray, quantity: str = "loss"):
    """Pointwise interval of the compute-optimal loss (or N_opt) over ``grid`` from the bootstrap's refitted laws
    (Chinchilla only: the closed-form optimum keeps this fast). None when there is nothing to draw."""
    if boot is None or not isinstance(boot.fit.law, Chinchilla) or len(boot.samples) < 10:
        return None
    names = Chinchilla.param_names()
    rows = boot.samples[list(names)].to_numpy(float)[:MAX_BAND_SAMPLES]
    curves = []
    for theta in rows:
        try:
            alloc = compute_optimal(Chinchilla(**dict(zip(names, theta))), grid)
        except InputError:  # a degenerate resample (an optimum under one parameter) draws no curve
            continue
        curves.append(alloc.loss if quantity == "loss" else alloc.n_params)
    if len(curves) < 10:
        return None
    q = (1 - boot.level) / 2
    lo, hi = np.quantile(np.array(curves), [q, 1 - q], axis=0)
    return lo, hi, boot.level


def loss_vs_compute(runs, law, *, budgets=(), excluded=None, boot=None, colors: LogColors | None = None):
    """Final loss against training compute, with the fitted compute-optimal frontier and the report's budgets."""
    colors = colors or size_colors(runs.n_params)
    with style():
        fig, ax = new_figure()
        ax.scatter(runs.flops, runs.loss, c=colors(runs.n_params), s=16, zorder=3, edgecolors="none")
        losses = list(runs.loss)
        if excluded is not None and excluded["loss"].notna().any():
            ex = excluded[excluded["loss"].notna()]
            ax.scatter(ex["flops"], ex["loss"], label="excluded run", **EXCLUDED_STYLE)
            losses += list(ex["loss"])
        max_c = float(np.max(runs.flops))
        frontier = None
        if _allocates(law):
            grid = _compute_grid(runs, law, budgets)
            try:
                frontier = compute_optimal(law, grid).loss
            except InputError:  # a degenerate fit (e.g. alpha < 0) has no optimum: plot the runs alone
                pass
        if frontier is not None:
            band = optimum_band(boot, grid)
            if band is not None:
                ax.fill_between(grid, band[0], band[1], color="k", alpha=0.12, lw=0,
                                label=f"{band[2]:.0%} bootstrap interval")
            _split_at(ax, grid, frontier, max_c, color="k", lw=1.4, label="fitted compute-optimal frontier")
            losses += list(frontier)
            if len(budgets):
                alloc = compute_optimal(law, np.asarray(budgets, float))
                ax.plot(alloc.flops, alloc.loss, "*", color="crimson", ms=10, mec="k", mew=0.5, zorder=4,
                        label="forecast at the report's budgets")
        ax.axvline(max_c, color="0.4", lw=0.8, ls=":", label="largest fitted run")
        log_axis(ax, "x")
        loss_axis(ax, losses)
        ax.set(xlabel=FLOPS_LABEL, ylabel=LOSS_LABEL, title="Loss vs compute with the fitted frontier")
        finish(fig, colors, legend_from=ax)
    return fig


def compute_optimal_allocation(law, runs, *, budgets=(), minima=None, envelope=None, boot=None,
                               colors: LogColors | None = None):
    """Compute-optimal N and D against compute: the fitted law's line, the runs, isoFLOP minima (approach 2) and
    the loss-curve envelope (approach 1) when given."""
    colors = colors or size_colors(runs.n_params)
    grid = _compute_grid(runs, law, budgets)
    alloc = compute_optimal(law, grid)
    max_c = float(np.max(runs.flops))
    with style():
        fig, (ax_n, ax_d) = new_figure(2, figsize=(8.8, 4.0))
        for ax, ys, line, label in ((ax_n, runs.n_params, alloc.n_params, PARAMS_LABEL),
                                    (ax_d, runs.n_tokens, alloc.n_tokens, TOKENS_LABEL)):
            ax.scatter(runs.flops, ys, c=colors(runs.n_params), s=10, alpha=0.5, edgecolors="none", zorder=2)
            _split_at(ax, grid, line, max_c, color="k", lw=1.4, label="fitted law's optimum")
            ax.set(xscale="log", yscale="log", xlabel=FLOPS_LABEL, ylabel=label)
        band = optimum_band(boot, grid, "n_params")
        if band is not None:
            lo, hi, level = band
            ax_n.fill_between(grid, lo, hi, color="k", alpha=0.12, lw=0, label=f"{level:.0%} bootstrap interval")
            ax_d.fill_between(grid, grid / (FLOPS_PER_PARAM_TOKEN * hi), grid / (FLOPS_PER_PARAM_TOKEN * lo),
                              color="k", alpha=0.12, lw=0)
        if minima is not None and len(minima):
            c, n = minima["budget_flops"].to_numpy(), minima["n_opt"].to_numpy()
            ax_n.plot(c, n, "o", mfc="white", mec="k", ms=6, zorder=4, label="isoFLOP minimum (approach 2)")
            ax_d.plot(c, c / (FLOPS_PER_PARAM_TOKEN * n), "o", mfc="white", mec="k", ms=6, zorder=4)
        if envelope is not None and len(envelope):
            c, n = envelope["flops"].to_numpy(), envelope["n_opt"].to_numpy()
            ax_n.plot(c, n, "s", color="tab:orange", ms=4, zorder=3, label="loss-curve envelope (approach 1)")
            ax_d.plot(c, c / (FLOPS_PER_PARAM_TOKEN * n), "s", color="tab:orange", ms=4, zorder=3)
        if len(budgets):
            b = compute_optimal(law, np.asarray(budgets, float))
            ax_n.plot(b.flops, b.n_params, "*", color="crimson", ms=10, mec="k", mew=0.5, zorder=5,
                      label="report's budgets")
            ax_d.plot(b.flops, b.n_tokens, "*", color="crimson", ms=10, mec="k", mew=0.5, zorder=5)
        for ax in (ax_n, ax_d):
            log_axis(ax, "x")
            log_axis(ax, "y")
        ax_n.set_title("Compute-optimal model size N_opt(C)")
        ax_d.set_title("Compute-optimal training tokens D_opt(C)")
        finish(fig, colors, legend_from=ax_n, ncols=3)
    return fig


def isoflop_profiles(runs, law, *, minima=None):
    """Loss against model size at each compute budget (runs within 0.1 decade), the fitted law along each budget,
    its optimum (★) and, when given, the parabola minima of approach 2 (○)."""
    labels = isoflop_budgets(runs.flops)
    budget_c = np.array([np.exp(np.mean(np.log(runs.flops[labels == g]))) for g in range(labels.max() + 1)])
    colors = LogColors(budget_c, COMPUTE_CMAP, "compute budget C (FLOP)")
    with style():
        fig, ax = new_figure()
        ax.scatter(runs.n_params, runs.loss, c=colors(budget_c[labels]), s=16, zorder=3, edgecolors="none")
        losses = list(runs.loss)
        drawn = False
        for g, c in enumerate(budget_c):
            m = labels == g
            if m.sum() < 3 or not _allocates(law):
                continue
            n = np.geomspace(runs.n_params[m].min() / 1.3, runs.n_params[m].max() * 1.3, 60)
            ax.plot(n, law.predict(n_params=n, n_tokens=c / (FLOPS_PER_PARAM_TOKEN * n)), "-",
                    color=colors(c), lw=1, alpha=0.8, label=None if drawn else "fitted law along each budget")
            opt = compute_optimal(law, c)
            ax.plot([float(opt.n_params)], [float(opt.loss)], "*", color=colors(c), ms=9, mec="k", mew=0.5,
                    zorder=4, label=None if drawn else "fitted law's optimum")
            drawn = True
        if minima is not None and len(minima):
            ax.plot(minima["n_opt"], minima["loss_min"], "o", mfc="none", mec="k", ms=7, zorder=5,
                    label="parabola minimum (approach 2)")
        log_axis(ax, "x")
        loss_axis(ax, losses)
        ax.set(xlabel=PARAMS_LABEL, ylabel=LOSS_LABEL, title="IsoFLOP profiles")
        finish(fig, colors, legend_from=ax, ncols=3)
    return fig


def cooldown_branches(runs) -> dict | None:
    """A WSD ladder's curves split into each stable phase (once per parent) and each cooldown branch:
    ``{"stable": [(n_params, xy)], "cooldown": [(n_params, xy)], "ends": (n_params, tokens, loss)}``; None when the
    table holds no branches (``parent`` and ``branch_tokens`` columns, as the ladder's export writes them)."""
    frame = runs.frame
    if runs.curves is None or runs.curves.empty or not {"run_id", "parent", "branch_tokens"} <= set(frame):
        return None
    branch = runs.branches
    if not branch.any():
        return None
    rows = frame[branch]
    by_id = runs.curves.groupby("run_id", sort=False)
    stable, cooldown, longest = [], [], {}
    for _, row in rows.iterrows():
        if row["run_id"] not in by_id.groups:
            continue
        grp = by_id.get_group(row["run_id"])
        t, y = grp["n_tokens"].to_numpy(float), grp["loss"].to_numpy(float)
        at = float(row["branch_tokens"])
        after = t >= at
        cooldown.append((float(row["n_params"]), np.column_stack([t[after], y[after]])))
        prefix = np.column_stack([t[t <= at], y[t <= at]])
        if len(prefix) >= 2 and (row["parent"] not in longest or len(prefix) > len(longest[row["parent"]][1])):
            longest[row["parent"]] = (float(row["n_params"]), prefix)
    stable = list(longest.values())
    ends = (rows["n_params"].to_numpy(float), rows["n_tokens"].to_numpy(float), rows["loss"].to_numpy(float))
    return {"stable": stable, "cooldown": cooldown, "ends": ends}


def loss_curves(runs, *, colors: LogColors | None = None):
    """Each run's loss against tokens seen (log-log), coloured by model size; None without curves. For WSD cooldown
    branches, each stable phase is drawn once (thin) and each branch from its branch point (bold), its end marked."""
    if runs.curves is None or runs.curves.empty or "run_id" not in runs.frame:
        return None
    colors = colors or size_colors(runs.n_params)
    wsd = cooldown_branches(runs)
    n_of = dict(zip(runs.frame["run_id"], runs.n_params))
    segments, cols = [], []
    if wsd is None:
        for rid, grp in runs.curves.groupby("run_id", sort=False):
            if len(grp) >= 2 and rid in n_of:
                segments.append(np.column_stack([grp["n_tokens"].to_numpy(), grp["loss"].to_numpy()]))
                cols.append(n_of[rid])
    else:
        segments = [xy for _, xy in wsd["cooldown"] if len(xy) >= 2]
        cols = [n for n, xy in wsd["cooldown"] if len(xy) >= 2]
    if not segments:
        return None
    with style():
        fig, ax = new_figure()
        if wsd is not None and wsd["stable"]:
            ax.add_collection(LineCollection([xy for _, xy in wsd["stable"]], linewidths=0.8, alpha=0.55,
                                             colors=colors(np.array([n for n, _ in wsd["stable"]])),
                                             linestyles="dotted"))
        ax.add_collection(LineCollection(segments, colors=colors(np.array(cols)), linewidths=1.1, alpha=0.9))
        title = "Loss curves (evaluation loss during training)"
        if wsd is not None:
            n, d, y = wsd["ends"]
            ax.scatter(d, y, c=colors(n), s=14, zorder=3, edgecolors="none")
            title = f"WSD: {len(wsd['stable'])} stable phases (dotted), {len(n)} cooldown branches (ends marked)"
        ax.autoscale_view()
        log_axis(ax, "x")
        loss_axis(ax, np.concatenate([s[:, 1] for s in segments]))
        ax.set(xlabel=TOKENS_LABEL, ylabel=LOSS_LABEL, title=title)
        finish(fig, colors)
    return fig


def residuals(fit_result, *, colors: LogColors | None = None):
    """The fit's relative error at each fitted run, against compute: (predicted − actual) / actual."""
    runs = fit_result.runs
    colors = colors or size_colors(runs.n_params)
    rel = np.expm1(fit_result.residuals) * 100
    with style():
        fig, ax = new_figure()
        ax.axhline(0, color="k", lw=0.8)
        ax.scatter(runs.flops, rel, c=colors(runs.n_params), s=16, zorder=3, edgecolors="none")
        log_axis(ax, "x")
        ax.set(xlabel=FLOPS_LABEL, ylabel="(predicted − actual) / actual loss (%)",
               title=f"Residuals of the {fit_result.law.name} fit ({fit_result.n_points} runs)")
        lim = max(float(np.max(np.abs(rel))) * 1.1, 0.5)
        ax.set_ylim(-lim, lim)
        finish(fig, colors)
    return fig


def backtest_plot(bt, *, colors: LogColors | None = None):
    """Predicted against actual loss: held-out runs (coloured by size) from a fit on the runs below the cut."""
    table = bt.table
    colors = colors or size_colors(table["n_params"])
    fitted = bt.fit.runs
    fitted_pred = np.exp(np.log(fitted.loss) + bt.fit.residuals)
    with style():
        fig, ax = new_figure()
        ax.scatter(fitted.loss, fitted_pred, color="0.75", s=10, zorder=2, edgecolors="none",
                   label=f"fitted runs (C ≤ {bt.cutoff_flops:.3g})")
        ax.scatter(table["loss"], table["predicted"], c=colors(table["n_params"]), s=26, zorder=3, edgecolors="k",
                   linewidths=0.4, label=f"held-out runs (median |error| {bt.median_abs_rel_error:.2%})")
        values = np.concatenate([fitted.loss, fitted_pred, table["loss"], table["predicted"]])
        lo, hi = float(values.min()) / 1.02, float(values.max()) * 1.02
        diag = np.geomspace(lo, hi, 50)
        ax.plot(diag, diag, "k-", lw=0.8, label="predicted = actual")
        ax.fill_between(diag, diag * 0.98, diag * 1.02, color="k", alpha=0.08, lw=0, label="±2 %")
        loss_axis(ax, values, axis="x")
        loss_axis(ax, values, axis="y")
        ax.set(xlabel=f"actual {LOSS_LABEL}", ylabel=f"predicted {LOSS_LABEL}",
               title="Backtest: forecasting the largest runs from the smaller ones")
        finish(fig, colors, legend_from=ax)
    return fig


def coverage_plot(section):
    """Test-time coverage (pass@k) against samples k per model, with the fitted exponentiated power law."""
    with style():
        fig, ax = new_figure()
        palette = [f"C{i % 10}" for i in range(len(section.models))]
        for m, color in zip(section.models, palette):
            ax.errorbar(m.k, m.pass_at_k, yerr=[m.pass_at_k - m.lo, m.hi - m.pass_at_k], fmt="o", ms=4,
                        color=color, capsize=2, label=m.model)
            if m.law.success:
                k = np.geomspace(1, m.n_samples, 100)
                ax.plot(k, m.law.predict(k), "-", color=color, lw=1)
        log_axis(ax, "x")
        ax.set(xlabel="samples per problem k", ylabel="coverage (pass@k)", ylim=(0, 1),
               title="Repeated sampling: coverage with the fitted law exp(−a·k^(−b))")
        finish(fig, legend_from=ax, ncols=4)
    return fig
