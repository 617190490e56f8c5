"""Make a report end to end: load the runs, compute the numbers, draw the figures, write the page, the figure files
and the JSON of every number.

``write_report("runs.csv", "report.html")`` writes ``report.html``, ``report.json`` and ``report_figures/*.svg``
(+ ``.png`` with ``png=True``) beside it, and returns a ``ReportFiles`` naming them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from scalinglab.errors import InputError
from scalinglab.report import figures as F
from scalinglab.report.abilities import abilities_figures
from scalinglab.report.analysis import ReportData, ReportOptions, analyse
from scalinglab.report.forecast import forecast_figure
from scalinglab.report.plotting import figure_png, figure_svg, size_colors
from scalinglab.report.render import render_html
from scalinglab.report.sources import load_input


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    json: Path
    figures: tuple[Path, ...]
    data: ReportData


def report_figures(data: ReportData) -> dict:
    """name → (Figure, caption) for everything the data supports, in display order."""
    runs, fit, law = data.runs, data.fit, data.fit.law
    excluded = data.input.excluded
    colors = size_colors(list(runs.n_params) + list(excluded["n_params"].dropna()))
    minima = envelope = None
    if data.approaches is not None:
        for r in data.approaches.results:
            if r.number == 2 and r.detail is not None:
                minima = r.detail
            if r.number == 1 and r.detail is not None:
                envelope = r.detail
    out = {"loss_vs_compute": (
        F.loss_vs_compute(runs, law, budgets=data.budgets if data.optimal is not None else (), excluded=excluded,
                          boot=data.boot, colors=colors),
        "Final loss against training compute; runs coloured by model size, excluded runs as grey crosses. The "
        "black line is the fitted law's compute-optimal loss (dashed beyond the largest fitted run), the shaded band "
        "its bootstrap interval, stars the report's budgets.")}
    if data.forecast is not None and data.forecast.result is not None:
        out["forecast"] = (
            forecast_figure(runs, law, data.forecast, colors=colors),
            f"Forecast beyond the ladder: the runs, the fitted law's compute-optimal loss over them, and the "
            f"forecast's {data.forecast.result.level:.0%} interval (blue band) at compute-optimal points from the "
            "largest run on, widening with the decades extrapolated; stars are the forecast section's targets"
            + ("; open diamonds are the held-out runs' actual losses, orange points the forecast at each."
               if data.forecast.held_out else "."))
    if data.optimal is not None:
        out["compute_optimal"] = (
            F.compute_optimal_allocation(law, runs, budgets=data.budgets, minima=minima, envelope=envelope,
                                         boot=data.boot, colors=colors),
            "The compute-optimal line: model size and training tokens that minimise the fitted loss at each compute "
            "budget, with the runs behind it and the independent estimates of Chinchilla's approaches 1 and 2.")
        out["isoflop"] = (
            F.isoflop_profiles(runs, law, minima=minima),
            "IsoFLOP profiles: runs grouped by compute budget (within 0.1 decade), coloured by budget; lines follow "
            "the fitted law along each budget, stars mark its optimum, circles the parabola minima of approach 2.")
    curves = F.loss_curves(runs, colors=colors)
    if curves is not None:
        caption = "Evaluation loss during training for every fitted run, coloured by size."
        if F.cooldown_branches(runs) is not None:
            caption = ("WSD ladder: each size's stable phase at constant learning rate, trained once (dotted), and the "
                       "cooldown branches forked from its checkpoints, each ending at one (N, D) point of the fit.")
        out["loss_curves"] = (curves, caption)
    out["residuals"] = (F.residuals(fit, colors=colors),
                        "Relative error of the fit at each fitted run; structure here means the law's form misses "
                        "something the runs show.")
    if data.backtest is not None:
        out["backtest"] = (F.backtest_plot(data.backtest, colors=colors),
                           "Backtest: a fit on the runs below the compute cut predicts the held-out larger runs; "
                           "points on the diagonal are perfect forecasts.")
    out.update(abilities_figures(data.abilities))
    if data.testtime is not None:
        out["coverage"] = (F.coverage_plot(data.testtime),
                           "Coverage (pass@k) against samples per problem, with 90 % intervals over problems and the "
                           "fitted exponentiated power law.")
    return out


def make_report(path, *, curves=None, drop_highest: int = 0, exclude=(), options: ReportOptions = ReportOptions()
                ) -> ReportData:
    return analyse(load_input(path, curves=curves, drop_highest=drop_highest, exclude=exclude), options)


def write_report(path, out="report.html", *, curves=None, drop_highest: int = 0, exclude=(),
                 options: ReportOptions = ReportOptions(), png: bool = False) -> ReportFiles:
    """Compute and write the report for a runs file or ladder directory ``path`` to ``out`` (an .html file)."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"the report is an HTML file; give a name ending in .html, got '{out.name}'")
    if out.exists() and out.is_dir():
        raise InputError("output path is a directory; give a file name ending in .html", source=str(out))
    data = make_report(path, curves=curves, drop_highest=drop_highest, exclude=exclude, options=options)
    return write_data(data, out, png=png)


def write_data(data: ReportData, out: Path, *, png: bool = False) -> ReportFiles:
    """Write an already computed report: page, JSON and SVG figure files (+ PNG at 150 dpi with ``png``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig_dir = out.with_name(f"{out.stem}_figures")
    fig_dir.mkdir(exist_ok=True)
    svgs, paths = {}, []
    for name, (fig, caption) in report_figures(data).items():
        svg = figure_svg(fig)
        svgs[name] = (svg, caption)
        (fig_dir / f"{name}.svg").write_text(svg, encoding="utf-8")
        paths.append(fig_dir / f"{name}.svg")
        if png:
            (fig_dir / f"{name}.png").write_bytes(figure_png(fig))
            paths.append(fig_dir / f"{name}.png")
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps(data.to_dict(), indent=2, allow_nan=False), encoding="utf-8")
    out.write_text(render_html(data, svgs, json_name=json_path.name), encoding="utf-8")
    return ReportFiles(html=out, json=json_path, figures=tuple(paths), data=data)
