"""``scalinglab demo``: train a ladder, fit, backtest, forecast, and write a results folder — in one command.

The ladder lives in ``<out>/ladder`` (its SQLite store and run folders), so running the demo again skips finished
runs, resumes interrupted ones, and only refits. The folder gets ``runs.csv`` and ``curves.csv`` (the Runs table and
loss curves, readable by ``scalinglab fit``), ``laws.json`` (fits, intervals, approaches, backtest, allocations and
the forecast at the preset's budgets and 10× and 100× beyond the ladder, with its interval and components, and at
each run the design holds out, against its loss), when the ladder evaluated the task suite ``history.csv`` (its task
evaluations, readable by ``scalinglab tasks fit``) and ``abilities.json`` (the abilities section: task laws,
verdicts, accuracy forecasts, backtest), and the report's PNG figures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from scalinglab.demo.presets import Preset, get_preset
from scalinglab.ladder import RunStore, register, run_ladder
from scalinglab.ladder.design import RunSpec
from scalinglab.ladder.display import duration, show_plan

EXIT_INTERRUPTED = 130


def run_demo(preset_name: str, out: str | Path, *, jobs: int = 2, threads: int = 1, trainer: str = "torch",
             show_progress: bool = True, console: Console | None = None, n_resamples: int = 400) -> int:
    """Run the demo end to end; returns the exit code (0, 1 if runs failed, 130 if stopped by Ctrl-C)."""
    preset = get_preset(preset_name)
    out = Path(out)
    console = console or Console()
    start = time.perf_counter()
    specs = preset.specs()
    store = RunStore(out / "ladder")
    register(store, specs, preset.settings)
    console.rule(f"scalinglab demo · preset {preset.name}")
    if preset.caveat:
        console.print(f"[yellow]note:[/] {preset.caveat}")
    todo = store.runs(("pending", "interrupted", "running", "failed"))
    if todo:
        console.print(f"Training {len(todo)} of {len(specs)} runs on the default corpus "
                      f"(expected ≈ {preset.expected_minutes:g} min on 2 cores).")
        show_plan([RunSpec.from_dict(r.spec) for r in todo], jobs, threads, console, store,
                  eval_tokens=preset.settings.evals_per_run * preset.settings.eval_tokens)
        summary = run_ladder(store, jobs=jobs, threads=threads, trainer=trainer, retry_failed=True,
                             show_progress=show_progress, console=console)
        console.print(f"ladder: {len(summary.done)} runs trained in {duration(summary.wall_seconds)}")
        if summary.stopped:
            console.print("stopped; run the same command again to resume")
            return EXIT_INTERRUPTED
        if summary.failed:
            console.print(f"[red]{len(summary.failed)} run(s) failed[/]; see `scalinglab ladder status "
                          f"{out / 'ladder'}`")
            return 1
    else:
        console.print(f"All {len(specs)} runs already trained in {out / 'ladder'}; refitting.")
    return _report(store, preset, out, console, start, n_resamples)


def _report(store: RunStore, preset: Preset, out: Path, console: Console, start: float, n_resamples: int) -> int:
    import warnings

    import numpy as np

    from scalinglab.report import ReportOptions, make_report, write_data

    runs_path, curves_path = store.export(out)
    options = ReportOptions(n_resamples=n_resamples, seed=preset.settings.seed, budgets=tuple(preset.forecast_budgets))
    # Bootstrap resamples of a small ladder include degenerate fits; their overflow warnings are noise here
    # (failed resamples are counted in the result instead).
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        data = make_report(out / "ladder", options=options)
    files = write_data(data, out / "report.html", png=True)
    numbers = data.to_dict()
    laws = {"preset": preset.name, "n_runs": len(data.runs), "n_runs_held_out": numbers["n_runs_held_out"],
            "law": numbers["fit"],
            **{k: numbers[k] for k in ("bootstrap", "approaches", "compute_optimal", "backtest", "forecast", "notes")}}
    (out / "laws.json").write_text(json.dumps(laws, indent=2, allow_nan=False))
    _print_fit(data, console)
    if data.backtest is not None:
        _print_backtest(data, console)
    if data.optimal is not None:
        _print_allocation(data, console)
    if data.forecast is not None:
        _print_forecast(data.forecast, console)
    wrote = ["laws.json"]
    if data.abilities is not None:
        _print_abilities(data.abilities, console)
        (out / "abilities.json").write_text(json.dumps(numbers["abilities"], indent=2, allow_nan=False))
        wrote.append("abilities.json")
    elif preset.settings.tasks:
        console.print("no task evaluations in this ladder: no abilities section")
    for note in data.notes:
        console.print(f"[yellow]note:[/] {note}")
    figures = sorted(p.name for p in files.figures if p.suffix == ".png")
    history = " history.csv," if (out / "history.csv").is_file() and data.abilities is not None else ""
    console.print(f"\nwrote {runs_path.name}, {curves_path.name},{history} {', '.join(wrote)} and "
                  f"{files.figures[0].parent.name}/ "
                  f"({', '.join(figures)}) to {out}/")
    console.print(f"report: [bold]{files.html}[/bold]")
    console.print(f"demo finished in {duration(time.perf_counter() - start)}")
    return 0


def _print_fit(a, console: Console) -> None:
    law, boot = a.fit.law, a.boot
    level = f"{boot.level:.0%} bootstrap intervals ({boot.n_resamples} resamples)" if boot else "no intervals"
    table = Table(title=f"Chinchilla fit (approach 3) on {a.fit.n_points} runs: {law.formula}; {level}",
                  title_justify="left")
    for col in ("quantity", "estimate", "interval", "meaning"):
        table.add_column(col, justify="left" if col in ("quantity", "meaning") else "right")
    meaning = {"E": "irreducible loss (nats/byte)", "alpha": "loss ∝ N^-alpha", "beta": "loss ∝ D^-beta",
               "a": "N_opt ∝ C^a", "b": "D_opt ∝ C^b", "A": "", "B": ""}
    values = dict(law.params(), a=law.a_exponent, b=law.b_exponent)
    for q in ("E", "A", "B", "alpha", "beta", "a", "b"):
        iv = boot.interval(q) if boot else None
        table.add_row(q, f"{values[q]:.4g}", f"[{iv['lo_total']:.4g}, {iv['hi_total']:.4g}]" if iv else "",
                      meaning[q])
    console.print(table)
    status = "converged" if a.fit.converged else f"NOT converged: {a.fit.message}"
    console.print(f"fit {status}; R² = {a.fit.r_squared:.4f}")
    if a.approaches is None:
        return
    comp = Table(title=f"Allocation exponent a (N_opt ∝ C^a) by Chinchilla's three approaches, "
                       f"{a.approaches.level:.0%} intervals", title_justify="left")
    for col in ("approach", "a", "interval", "points"):
        comp.add_column(col)
    for r in a.approaches.results:
        shown = f"\\[{r.a_lo:.3f}, {r.a_hi:.3f}]" if np.isfinite([r.a_lo, r.a_hi]).all() else "— (see note)"
        comp.add_row(r.approach, f"{r.a:.3f}", shown, str(r.n_points))
    console.print(comp)
    notes = [f"approach {r.number}: {r.note}" for r in a.approaches.results if r.note]
    for line in notes + list(a.approaches.skipped + a.approaches.disagreements):
        console.print(f"  note: {line}")


def _print_backtest(a, console: Console) -> None:
    bt = a.backtest
    table = Table(title=f"Backtest: fit on {bt.fit.n_points} runs with C ≤ {bt.cutoff_flops:.3g}, predict the "
                        f"{len(bt.table)} runs of the largest budget", title_justify="left")
    for col in ("run", "N", "D", "actual loss", "predicted", "error"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for _, row in bt.table.iterrows():
        table.add_row(str(row.get("run_id", row["row"])), f"{row['n_params']:,.0f}", f"{row['n_tokens']:,.0f}",
                      f"{row['loss']:.4f}", f"{row['predicted']:.4f}", f"{row['rel_error']:+.2%}")
    console.print(table)
    console.print(f"backtest error: median |error| {bt.median_abs_rel_error:.2%}, max {bt.max_abs_rel_error:.2%}")


def _print_allocation(a, console: Console) -> None:
    table = Table(title="Compute-optimal allocation from the fitted law (90 % intervals)", title_justify="left")
    for col in ("compute C", "N_opt", "D_opt", "D/N", "loss"):
        table.add_column(col, justify="right")
    for row in a.optimal.rows():
        c = row["flops"]
        key = f"{c:.3g}"
        iv = {q: a.boot.interval(f"{q}@{key}") for q in ("n_opt", "d_opt", "loss_opt")} if a.boot else None

        def cell(value, q, fmt):
            return f"{value:{fmt}}" + (f" [{iv[q]['lo']:{fmt}}, {iv[q]['hi']:{fmt}}]" if iv else "")

        table.add_row(f"{c:.0e}", cell(row["n_params"], "n_opt", ".2g"), cell(row["n_tokens"], "d_opt", ".2g"),
                      f"{row['tokens_per_param']:.0f}", cell(row["loss"], "loss_opt", ".3f"))
    console.print(table)
    console.print("  (budgets far beyond the ladder are long extrapolations; the intervals cover fit noise only)")


def _print_abilities(section, console: Console) -> None:
    level = f"{section.level:.0%}"
    table = Table(title=f"Abilities: task accuracy through task loss, chained forecasts with {level} intervals",
                  title_justify="left")
    for col in ("task", "chance", "best run", "backtest: largest budget", *section.labels[:2], "verdict"):
        table.add_column(col, justify="left" if col in ("task", "verdict") else "right")
    for t in section.tasks:
        bt = t.backtest
        shown = (f"±{t.backtest_error():.1%}, {int(bt['inside'].sum())}/{len(bt)} inside"
                 if bt is not None else (t.backtest_note or "—"))
        cells = [f"{f.accuracy.estimate:.2f} \\[{f.reported.lo:.2f}, {f.reported.hi:.2f}]" for f in t.forecasts[:2]]
        cells += [""] * (min(2, len(section.labels)) - len(cells))
        verdict = "predictable" if t.law.verdict.predictable else "not predictable"
        table.add_row(t.task, f"{t.law.chance:.2f}", f"{t.law.finals['accuracy'].max():.3f}", shown, *cells, verdict)
    console.print(table)
    for t in section.tasks:
        console.print(f"  {t.task}: {t.law.verdict.reason}")
    for note in section.notes:
        console.print(f"  note: {note}")


def _print_forecast(section, console: Console) -> None:
    if section.result is None:
        console.print(f"[yellow]no forecast:[/] {section.reason}")
        return
    res = section.result
    if section.reason:
        console.print(f"[yellow]forecast:[/] {section.reason}")
    table = Table(title=f"Forecast (scalinglab forecast): loss of one run with a {res.level:.0%} prediction interval",
                  title_justify="left")
    for col in ("target", "compute C", "N", "D", "decades beyond", "loss", "interval", "largest part"):
        table.add_column(col, justify="left" if col in ("target", "largest part") else "right")
    for label, t in zip(section.labels, section.shown):
        part = max(t.components, key=t.components.get)
        table.add_row(label, f"{t.flops:.2g}", f"{t.n_params:.2g}", f"{t.n_tokens:.2g}",
                      f"{t.extrapolation_decades:.2f}", f"{t.loss.estimate:.3f}",
                      f"\\[{t.loss.lo:.3f}, {t.loss.hi:.3f}]", part.replace("_", " "))
    console.print(table)
    if section.held_out:
        _print_held_out(section, console)
    console.print("  law forms: " + ", ".join(f"{f.law} {f.weight:.2f}" for f in res.forms)
                  + "; the interval widens with the decades beyond the largest run (report.html, Forecast)")
    for note in res.notes:
        console.print(f"  note: {note}")


def _print_held_out(section, console: Console) -> None:
    level = f"{section.result.level:.0%}"
    table = Table(title=f"Held-out runs (trained, not fitted): the forecast against the truth, {level} intervals",
                  title_justify="left")
    for col in ("run", "compute C", "N", "D", "decades beyond", "forecast", "interval", "actual", "error", "inside"):
        table.add_column(col, justify="left" if col in ("run", "inside") else "right")
    for h in section.held_out:
        t = h.forecast
        table.add_row(h.run, f"{t.flops:.2g}", f"{t.n_params:.2g}", f"{t.n_tokens:.2g}",
                      f"{t.extrapolation_decades:.2f}", f"{t.loss.estimate:.3f}",
                      f"\\[{t.loss.lo:.3f}, {t.loss.hi:.3f}]", f"{h.loss:.3f}", f"{h.rel_error:+.2%}",
                      "yes" if h.inside else "no")
    console.print(table)
