"""The report's forecast section: the loss one run would reach at the report's targets, with the interval of
``scalinglab.laws.forecast`` and what it is made of, and a figure of the interval band beyond the ladder.

Targets: the compute-optimal points of the report's budgets, 10× and 100× the largest fitted run's compute, and any
(N, D) the user names. A budget's target is its compute-optimal (N, D) under the report's fitted law — the point the
allocation table shows, so both tables speak of the same run; under a law that does not split compute between N and D
the budget is left to the forecast, which takes the compute-optimal point of its top-weighted form. When the forecast
cannot be computed (too few runs, fits that fail), the section says why and the rest of the report stands; when
the mixture of forms (``auto``) fails, the section falls back to the fitted law's form alone and says so.

Runs marked ``held_out`` (trained, never fitted) are forecast at their own N, D and C in the same call and set
against the loss they reached: the forecast's error, and whether its interval holds the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalinglab.errors import InputError
from scalinglab.laws.fit import resolve_law
from scalinglab.laws.forecast import AUTO_FORMS, COMPONENTS, ForecastResult, TargetForecast, forecast
from scalinglab.laws.forms import FLOPS_PER_PARAM_TOKEN
from scalinglab.laws.optimal import compute_optimal
from scalinglab.report.html import esc, interval, ncell, pct, table, tcell
from scalinglab.report.plotting import (
    FLOPS_LABEL, LOSS_LABEL, finish, log_axis, loss_axis, new_figure, size_colors, style,
)
from scalinglab.report.sources import run_labels

BEYOND = (10.0, 100.0)   # targets at these multiples of the largest fitted run's compute
BAND_POINTS = 12         # budgets, log-spaced from the largest run to the largest target, for the figure's band
SAME_BUDGET = 0.005      # decades: a multiple of the largest run this close to a report budget is that budget
COMPONENT_NAMES = {"bootstrap": "bootstrap over runs", "near_optima": "near-optimal fits", "forms": "law forms",
                   "scatter": "scatter of single runs", "extrapolation": "extrapolation"}


@dataclass(frozen=True)
class HeldOutForecast:
    """A held-out run against the forecast at its (N, D): the truth, the forecast's error, and whether the interval
    holds the truth."""

    run: str
    loss: float                # the run's measured loss
    forecast: TargetForecast   # at the run's N, D and C

    @property
    def rel_error(self) -> float:
        """Forecast relative to the truth: > 0 when the forecast over-predicts the loss."""
        return self.forecast.loss.estimate / self.loss - 1.0

    @property
    def inside(self) -> bool:
        return bool(self.forecast.loss.lo <= self.loss <= self.forecast.loss.hi)

    def to_dict(self) -> dict:
        return dict(self.forecast.to_dict(), run=self.run, actual_loss=self.loss, rel_error=self.rel_error,
                    inside=self.inside)


@dataclass(frozen=True)
class ForecastSection:
    """The forecast at the shown targets (``labels``, one each), after them in ``result.targets`` at the held-out
    runs (``held_out``, one each), then at the band's budgets; or no ``result`` and the ``reason``."""

    labels: tuple[str, ...]
    result: ForecastResult | None
    reason: str | None = None      # why there is no forecast, or why it fell back to one form
    held_out: tuple[HeldOutForecast, ...] = ()

    @property
    def shown(self) -> tuple[TargetForecast, ...]:
        return self.result.targets[:len(self.labels)] if self.result is not None else ()

    @property
    def band(self) -> tuple[TargetForecast, ...]:
        return self.result.targets[len(self.labels) + len(self.held_out):] if self.result is not None else ()

    def to_dict(self) -> dict:
        if self.result is None:
            return {"available": False, "reason": self.reason}
        out = self.result.to_dict()
        out.pop("targets")
        out["targets"] = [dict(t.to_dict(), target=label, shares=shares(t))
                          for label, t in zip(self.labels, self.shown)]
        out["band"] = [{"N": t.n_params, "D": t.n_tokens, "flops": t.flops, "loss": t.loss.estimate,
                        "lo": t.loss.lo, "hi": t.loss.hi} for t in self.band]
        out["held_out"] = [h.to_dict() for h in self.held_out]
        return {"available": True, "reason": self.reason, **out}


def shares(target: TargetForecast) -> dict[str, float]:
    """Each component's share of the interval's variance (the components are half-widths z·√V_k, and V = Σ V_k)."""
    total = sum(v * v for v in target.components.values())
    return {k: (target.components[k] ** 2 / total if total > 0 else 0.0) for k in COMPONENTS}


def check_options(law: str, targets) -> None:
    """Bad forecast options fail before the slow part: the law must be 'auto' or a law of N and D, targets (N, D)
    pairs of finite positive numbers."""
    if law != "auto":
        cls = resolve_law(law)
        if set(cls.inputs) != {"n_params", "n_tokens"}:
            raise InputError(f"the forecast needs a law of N and D (or auto); '{cls.name}' depends on "
                             f"{', '.join(cls.inputs)}")
    for n, d in targets:
        for name, v in (("N", n), ("D", d)):
            if not (math.isfinite(float(v)) and float(v) > 0):
                raise InputError(f"a forecast target's {name} must be a finite number > 0, got {v!r}")


def _at_budgets(law, flops: np.ndarray) -> list[dict]:
    """The compute-optimal (N, D) of each budget under ``law``, or the bare budgets when it has no optimum."""
    if law is not None:
        try:
            alloc = compute_optimal(law, flops)
        except InputError:
            pass
        else:
            return [{"n_params": float(n), "n_tokens": float(c / (FLOPS_PER_PARAM_TOKEN * n))}
                    for n, c in zip(alloc.n_params, flops)]
    return [{"flops": float(c)} for c in flops]


def report_targets(law, budgets, max_flops: float, extra=()) -> tuple[list[str], list[dict]]:
    """Labels and forecast targets: the report's budgets and BEYOND × the largest run, by compute, then ``extra``."""
    flops = [("report budget", float(b)) for b in budgets]
    for m in BEYOND:
        c = m * max_flops
        if all(abs(math.log10(c / b)) > SAME_BUDGET for _, b in flops):
            flops.append((f"{m:g}× the largest run", c))
    flops.sort(key=lambda t: t[1])
    labels = [label for label, _ in flops] + ["your target"] * len(extra)
    targets = _at_budgets(law, np.array([c for _, c in flops])) + [
        {"n_params": float(n), "n_tokens": float(d)} for n, d in extra]
    return labels, targets


def forecast_section(runs, law, *, budgets, targets=(), held_out=None, forecast_law: str = "auto",
                     level: float = 0.9, n_resamples: int = 200, seed: int = 0, fit_result=None) -> ForecastSection:
    """The forecast at ``report_targets`` (``law``: the report's fitted law, for the budgets' compute-optimal points),
    at each ``held_out`` run's N, D and C (a Runs table, or None) and at the band's budgets, in one ``forecast``
    call (reusing the report's ``fit_result`` where it is one of the forecast's forms); an ``InputError`` becomes
    the section's reason."""
    max_flops = float(np.max(runs.flops))
    labels, wanted = report_targets(law, budgets, max_flops, targets)
    held = [] if held_out is None else [{"n_params": n, "n_tokens": d, "flops": c} for n, d, c in
                                        zip(held_out.n_params, held_out.n_tokens, held_out.flops)]
    top = max([max_flops * BEYOND[-1]] + [float(b) for b in budgets] + [t["flops"] for t in held]
              + [FLOPS_PER_PARAM_TOKEN * float(n) * float(d) for n, d in targets])
    band = _at_budgets(law, np.geomspace(max_flops, top, BAND_POINTS))
    kw = dict(level=level, n_resamples=int(n_resamples), seed=seed, fit_result=fit_result)

    def section(result, reason=None) -> ForecastSection:
        checks = () if result is None or held_out is None else tuple(
            HeldOutForecast(run=str(name), loss=float(loss), forecast=t) for name, loss, t in
            zip(run_labels(held_out), held_out.loss, result.targets[len(labels):len(labels) + len(held)]))
        return ForecastSection(labels=tuple(labels), result=result, reason=reason, held_out=checks)

    try:
        return section(forecast(runs, wanted + held + band, forecast_law, **kw))
    except InputError as exc:
        reason = str(exc)
    own = law.name if law is not None and law.name in AUTO_FORMS else "chinchilla"
    if forecast_law != "auto":
        return section(None, reason)
    try:
        result = forecast(runs, wanted + held + band, own, **kw)
    except InputError as exc:
        return section(None, f"{reason}; the {own} form alone: {exc}")
    return section(result, f"the mixture of law forms (auto) could not be computed ({reason}); shown: the {own} "
                           "form alone, so there is no spread across forms")


# --- the page ---------------------------------------------------------------------------------------------------
def _rule_text(section: ForecastSection) -> str:
    res = section.result
    z = _z(res.level)
    weighted = [f for f in res.forms if f.weight > 0]
    growth = ", ".join(f"{esc(f.law)} {pct(f.gamma)}" for f in weighted)
    far = max(section.shown, key=lambda t: t.extrapolation_decades)
    folds = "; ".join(esc(f) for f in res.folds) or "none (too few runs)"
    return (f"<p id=\"forecast-rule\">How the interval is made: in log loss, each law form's forecast adds the spread "
            "of its prediction over a bootstrap over runs, the spread across its near-optimal fits, the scatter of "
            "single runs about the fit, and an <b>extrapolation term that grows in proportion to the decades of "
            "compute beyond the largest fitted run</b>: ±z·γ·x for x decades. γ is measured on this ladder: fits "
            "that held out its largest runs predicted them, and γ is the part of their errors, growing with the "
            "decades extrapolated, that the fits' own uncertainty does not explain (per decade: "
            f"{growth or '—'}; backtests: {folds}). The forms are mixed with the weights below, from how well each "
            "predicted those held-out runs (stacking of their predictive densities), and their disagreement is the "
            f"“law forms” part. At the farthest target ({far.extrapolation_decades:.2f} decades beyond) the "
            f"extrapolation term alone is ±{pct(far.components['extrapolation'])} of the loss (z = {z:.3f} for "
            f"{res.level:.0%}).</p><p class=\"muted\">Rule: <code>{esc(res.rule)}</code></p>")


def _z(level: float) -> float:
    from scipy.stats import norm
    return float(norm.ppf(0.5 + level / 2))


def _half(t: TargetForecast) -> float:
    """The interval's half-width relative to the forecast (the interval is asymmetric in loss, symmetric in log)."""
    return (t.loss.hi - t.loss.lo) / (2 * t.loss.estimate)


def forecast_html(data) -> str:
    """The section, or nothing when the forecast was turned off."""
    section = data.forecast
    if section is None:
        return ""
    head = "<h2>Forecast</h2>"
    if section.result is None:
        return (f'<section id="forecast">{head}<p id="forecast-unavailable"><span class="badge warning">no forecast'
                f"</span> The forecast could not be computed: {esc(section.reason)}</p></section>")
    res = section.result
    level = f"{res.level:.0%}"
    rows = [[tcell(label), ncell(t.flops), ncell(t.n_params), ncell(t.n_tokens),
             ncell(t.extrapolation_decades, f"{t.extrapolation_decades:.2f}"), ncell(t.loss.estimate),
             f'<td class="num">{interval(t.loss.lo, t.loss.hi)}</td>',
             ncell(_half(t), pct(_half(t)))] for label, t in zip(section.labels, section.shown)]
    body = (f"<p>The loss one run would reach at each target, with a {level} prediction interval "
            f"(<code>scalinglab forecast</code>: {res.n_resamples} bootstrap resamples, seed {res.seed}). A budget's "
            "(N, D) is the fitted law's compute-optimal point, as in the allocation table.</p>"
            + table(["target", "C (FLOP)", "N", "D", "decades beyond the largest run", "loss (nats/token)",
                     f"{level} interval", "± (half-width)"], rows, table_id="forecast-targets",
                    numeric=(1, 2, 3, 4, 5, 6, 7)))
    body += _held_out_html(section)
    comp_rows = [[tcell(label), ncell(t.flops)] + [ncell(s, pct(s, 1)) for s in shares(t).values()]
                 for label, t in zip(section.labels, section.shown)]
    body += ("<h3>What the interval is made of (share of its variance)</h3>"
             + table(["target", "C (FLOP)"] + [COMPONENT_NAMES[k] for k in COMPONENTS], comp_rows,
                     table_id="forecast-components", numeric=tuple(range(1, len(COMPONENTS) + 2))))
    form_rows = [[tcell(f.law), ncell(f.weight, f"{f.weight:.2f}"), ncell(f.gamma, pct(f.gamma)),
                  ncell(f.scatter, pct(f.scatter)), ncell(f.backtest_rms_error, pct(f.backtest_rms_error)),
                  ncell(f.n_failed)] for f in res.forms]
    body += ("<h3>Law forms and their weights</h3>"
             + table(["law form", "weight", "γ (extrapolation, per decade)", "scatter σ of single runs",
                      "backtest rms error", "failed resamples"], form_rows, table_id="forecast-forms",
                     numeric=(1, 2, 3, 4, 5)))
    if section.reason:
        body = f'<p id="forecast-fallback"><span class="badge caution">one form</span> {esc(section.reason)}.</p>' + body
    body += _rule_text(section)
    body += "".join(f"<p class=\"muted\">note: {esc(n)}</p>" for n in res.notes)
    return f'<section id="forecast">{head}{body}</section>'


def _held_out_html(section: ForecastSection) -> str:
    """The held-out runs against their forecast, or nothing when no run was held out."""
    if not section.held_out:
        return ""
    level = f"{section.result.level:.0%}"
    inside = sum(h.inside for h in section.held_out)
    rows = [[tcell(h.run), ncell(t.n_params), ncell(t.n_tokens), ncell(t.flops),
             ncell(t.extrapolation_decades, f"{t.extrapolation_decades:.2f}"), ncell(t.loss.estimate),
             f'<td class="num">{interval(t.loss.lo, t.loss.hi)}</td>', ncell(h.loss),
             ncell(h.rel_error, f"{100 * h.rel_error:+.2f} %"), tcell("yes" if h.inside else "no")]
            for h in section.held_out for t in (h.forecast,)]
    return (f"<h3>Held-out runs: the forecast against the truth</h3><p>{len(section.held_out)} run(s) marked "
            "<code>held_out</code> were trained but left out of every fit above; each is forecast at its own N and D "
            f"like any target and set against the loss it reached: {inside} of {len(section.held_out)} inside the "
            f"{level} interval. Error is (forecast − actual) / actual loss.</p>"
            + table(["run", "N", "D", "C (FLOP)", "decades beyond the largest fitted run", "forecast loss",
                     f"{level} interval", "actual loss", "error", "inside the interval"], rows,
                    table_id="forecast-held-out", numeric=(1, 2, 3, 4, 5, 6, 7, 8)))


# --- the figure -------------------------------------------------------------------------------------------------
def forecast_figure(runs, law, section: ForecastSection, *, colors=None):
    """Loss against compute: the runs, the fitted law's compute-optimal frontier (when it has one), and the
    forecast's interval band from the largest run on, with the shown targets as points with interval bars, and each
    held-out run's actual loss beside the forecast at it."""
    colors = colors or size_colors(runs.n_params)
    band, shown = section.band, section.shown
    max_c = float(np.max(runs.flops))
    with style():
        fig, ax = new_figure()
        ax.scatter(runs.flops, runs.loss, c=colors(runs.n_params), s=16, zorder=3, edgecolors="none")
        losses = list(runs.loss)
        c = np.array([t.flops for t in band])
        lo, hi, mid = (np.array([getattr(t.loss, k) for t in band]) for k in ("lo", "hi", "estimate"))
        level = section.result.level
        ax.fill_between(c, lo, hi, color="tab:blue", alpha=0.18, lw=0, label=f"forecast {level:.0%} interval")
        ax.plot(c, mid, "-", color="tab:blue", lw=1.2, label="forecast")
        losses += list(lo) + list(hi)
        if law is not None and {"n_params", "n_tokens"} <= set(law.inputs) and "unique_tokens" not in law.inputs:
            grid = np.geomspace(float(np.min(runs.flops)) / 1.5, max_c, 80)
            try:
                frontier = compute_optimal(law, grid).loss
            except InputError:   # a degenerate fit has no optimum: the runs and the band alone
                frontier = None
            if frontier is not None:
                ax.plot(grid, frontier, "-", color="k", lw=1.2, label=f"fitted {law.name} compute-optimal loss")
                losses += list(frontier)
        tc = np.array([t.flops for t in shown])
        est = np.array([t.loss.estimate for t in shown])
        err = [est - np.array([t.loss.lo for t in shown]), np.array([t.loss.hi for t in shown]) - est]
        ax.errorbar(tc, est, yerr=err, fmt="*", color="crimson", mec="k", mew=0.5, ms=9, capsize=3, zorder=4,
                    label="forecast at the report's targets")
        losses += [t.loss.lo for t in shown] + [t.loss.hi for t in shown]
        if section.held_out:
            held = [h.forecast for h in section.held_out]
            hc, hest = np.array([t.flops for t in held]), np.array([t.loss.estimate for t in held])
            herr = [hest - np.array([t.loss.lo for t in held]), np.array([t.loss.hi for t in held]) - hest]
            ax.errorbar(hc, hest, yerr=herr, fmt="o", color="darkorange", mec="k", mew=0.5, ms=5, capsize=3,
                        zorder=4, label="forecast at the held-out runs")
            truth = [h.loss for h in section.held_out]
            ax.scatter(hc, truth, marker="D", s=36, facecolors="none", edgecolors="k", linewidths=1.2, zorder=5,
                       label="held-out runs (actual loss)")
            losses += [t.loss.lo for t in held] + [t.loss.hi for t in held] + truth
        ax.axvline(max_c, color="0.4", lw=0.8, ls=":", label="largest fitted run")
        log_axis(ax, "x")
        loss_axis(ax, losses)
        ax.set(xlabel=FLOPS_LABEL, ylabel=LOSS_LABEL, title="Forecast beyond the ladder")
        finish(fig, colors, legend_from=ax)
    return fig

