"""CLI: ``scalinglab fit``, ``backtest``, ``predict``, ``optimal`` — parse, delegate to scalinglab.laws, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scalinglab.cli.common import ByOption, ColumnsOption, exit_code, load_fit_table, print_notes, run_by_group
from scalinglab.errors import InputError

console = Console()
DEFAULT_BUDGETS = (1e21, 1e23, 5.76e23, 1e25)
LAW_FILE_HELP = "Law JSON: fit --save/--json output, report.json, the demo's laws.json, or bare Chinchilla parameters."
PUBLISHED_HELP = ("chinchilla = hoffmann2022 (default) | chinchilla-sardana | hoffmann2022-tex | besiroglu2024 | "
                  "kaplan2020 | muennighoff2023")


def fmt(v: float) -> str:
    v = float(v)
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        return f"{v:.4g}"
    return f"{v:.3e}"


def _emit_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=float))


def _law_option(law_file: Optional[Path], published: Optional[str]):
    from scalinglab.laws.io import load_law
    from scalinglab.laws.published import published_law
    if law_file is not None and published is not None:
        raise InputError("give either --law-file or --published, not both")
    return load_law(law_file) if law_file is not None else published_law(published or "chinchilla")


LOSS_HELP = ("huber_log: Huber on log-loss residuals (alias huber) | ls_log: least squares on log loss (alias ls) "
             "| mse: least squares on the raw loss.")
FIX_HELP = "Hold parameters at given values, e.g. E=1.6,beta=0.3 (public names as printed by fit)."
BOUND_HELP = "Keep the irreducible loss within 0 ≤ E ≤ the lowest observed loss (--no-bound-e lifts it)."


def parse_fix(text: Optional[str]) -> dict[str, float]:
    """'E=1.6,beta=0.3' → {"E": 1.6, "beta": 0.3}."""
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            number = float(value) if sep and name.strip() else None
        except ValueError:
            number = None
        if number is None or name.strip() in out:
            raise InputError(f"--fix expects NAME=VALUE[,NAME=VALUE…] with each name once, got '{item.strip()}'")
        out[name.strip()] = number
    return out


def _fit_kwargs(law: str, loss: str, delta: float, asymmetry: float, free_base: bool, fix: Optional[str] = None,
                bound_e: bool = True) -> dict:
    from scalinglab.laws.fit import standard_fit_options
    return {"loss": loss, "delta": delta, "asymmetry": asymmetry, "fix": parse_fix(fix), "bound_e": bound_e,
            **standard_fit_options(law, free_base=free_base)}


def _params_table(result, boot) -> Table:
    t = Table(title=f"{result.law.name}: {result.law.formula}")
    t.add_column("parameter")
    t.add_column("estimate", justify="right")
    if boot is not None:
        for c in ("s.e.", f"{boot.level:.0%} interval", "near-optimal range"):
            t.add_column(c, justify="right")
        for row in boot.table.itertuples():
            thin = boot.share_note(row.n_used)
            t.add_row(row.quantity, fmt(row.estimate), fmt(row.se),
                      f"[{fmt(row.lo)}, {fmt(row.hi)}]" + (f" ({thin})" if thin else ""),
                      f"[{fmt(row.near_lo)}, {fmt(row.near_hi)}]")
    else:
        for k, v in result.params.items():
            t.add_row(k, fmt(v))
    return t


def fit_cmd(
    runs: Annotated[Path, typer.Argument(help="Runs table: CSV, Parquet, JSON or JSONL.")],
    law: Annotated[str, typer.Option(help="chinchilla | kaplan | kaplan_n | kaplan_d | kaplan_c | saturating | "
                                          "data_constrained")] = "chinchilla",
    loss: Annotated[str, typer.Option(help=LOSS_HELP)] = "huber_log",
    delta: Annotated[float, typer.Option(help="Huber delta.")] = 1e-3,
    fix: Annotated[Optional[str], typer.Option(help=FIX_HELP)] = None,
    bound_e: Annotated[bool, typer.Option("--bound-e/--no-bound-e", help=BOUND_HELP)] = True,
    asymmetry: Annotated[float, typer.Option(help="Weight on over-predictions (>1: lower-envelope fit).")] = 1.0,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples over runs (0: none).")] = 0,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    level: Annotated[float, typer.Option(help="Interval level.")] = 0.9,
    flops: Annotated[Optional[list[float]], typer.Option(help="Budgets for N_opt/D_opt intervals (repeat).")] = None,
    drop_highest: Annotated[int, typer.Option(help="Drop the K highest-loss runs first.")] = 0,
    curves: Annotated[Optional[Path], typer.Option(help="Per-run loss curves (run_id, n_tokens, loss).")] = None,
    approaches: Annotated[bool, typer.Option(help="Also compare Chinchilla approaches 1-3 (at --level, "
                                                  "--bootstrap resamples or 200).")] = False,
    free_base: Annotated[bool, typer.Option(help="data_constrained: also fit the base law (default: hold it at "
                                                 "Muennighoff et al.'s published values).")] = False,
    save: Annotated[Optional[Path], typer.Option(help="Write the fitted law as JSON here.")] = None,
    columns: ColumnsOption = None,
    by: ByOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Fit a scaling law to a table of runs.\n\nExample: scalinglab fit runs.csv --law chinchilla --bootstrap 1000
    \n\nMany configurations in one table: scalinglab fit runs.csv --by config --columns N=params,loss=eval/loss"""
    table = load_fit_table(runs, columns, curves=curves)
    options = dict(law=law, loss=loss, delta=delta, asymmetry=asymmetry, bootstrap=bootstrap, seed=seed, level=level,
                   flops=flops, drop_highest=drop_highest, approaches=approaches, free_base=free_base,
                   fix=fix, bound_e=bound_e, show=not as_json)
    if by:
        out = run_by_group(table, by, lambda group: _fit_table(group.runs, **options), as_json=as_json, console=console)
    else:
        out = _fit_table(table, **options)
    if save is not None:
        save.write_text(json.dumps(out, indent=2, default=float))
    if as_json:
        _emit_json(out)
    if by:
        exit_code(out)


def _fit_table(table, *, law, loss, delta, asymmetry, bootstrap, seed, level, flops, drop_highest, approaches,
               free_base, fix, bound_e, show) -> dict:
    """Fit one runs table, print the result unless ``show`` is off; return the JSON object of ``fit --json``."""
    from scalinglab.laws.approaches import compare_approaches
    from scalinglab.laws.backtest import extrapolation_warnings
    from scalinglab.laws.bootstrap import bootstrap as run_bootstrap
    from scalinglab.laws.fit import fit

    if drop_highest < 0:
        raise InputError(f"--drop-highest must be ≥ 0, got {drop_highest}")
    table = table.drop_highest_loss(drop_highest)
    result = fit(table, law, **_fit_kwargs(law, loss, delta, asymmetry, free_base, fix, bound_e))
    budgets = tuple(flops) if flops else DEFAULT_BUDGETS
    boot = None
    if bootstrap:
        is_nd = {"n_params", "n_tokens"} <= set(result.law.inputs) and "unique_tokens" not in result.law.inputs
        boot = run_bootstrap(table, law, n_resamples=bootstrap, seed=seed, level=level, fit_result=result,
                             flops=budgets if is_nd else ())
    comparison = (compare_approaches(table, n_resamples=bootstrap or 200, seed=seed, level=level, fit_result=result)
                  if approaches else None)
    out = result.to_dict()
    if boot is not None:
        out["bootstrap"] = boot.to_dict()
    if comparison is not None:
        out["approaches"] = comparison.to_dict()
    if not show:
        return out
    print_notes(console, table)
    status = "[green]converged[/green]" if result.converged else f"[red]NOT converged[/red]: {result.message}"
    console.print(f"{result.n_points} runs from {escape(table.source)}; {result.loss} objective {result.objective:.7g} "
                  f"({status}); {result.n_starts} starts; R² {result.r_squared:.4f}")
    for name, side in result.at_bound.items():
        console.print(f"[yellow]{name} ended at its {side} bound {fmt(result.bounds[name][side == 'upper'])}: the "
                      f"runs do not pin it (--fix {name}=… holds it, --no-bound-e lifts the bound)[/yellow]")
    console.print(_params_table(result, boot))
    if boot is not None:
        console.print(boot.summary())
    if len(result.near_optima) > 1:
        console.print(f"[yellow]{len(result.near_optima)} distinct local optima lie within 3 % of the best objective; "
                      "intervals include their spread.[/yellow]")
    if comparison is not None:
        t = Table(title=f"Compute-optimal exponents N_opt ∝ C^a, D_opt ∝ C^b ({comparison.level:.0%} intervals)")
        for c in ("approach", "a", "interval", "b", "points"):
            t.add_column(c)
        for r in comparison.results:
            shown = f"\\[{fmt(r.a_lo)}, {fmt(r.a_hi)}]" if np.isfinite([r.a_lo, r.a_hi]).all() else "— (see note)"
            t.add_row(r.approach, fmt(r.a), shown, fmt(r.b), str(r.n_points))
        console.print(t)
        for r in comparison.results:
            if r.note:
                console.print(f"[dim]approach {r.number}: {r.note}[/dim]")
        for s in comparison.skipped:
            console.print(f"[dim]skipped {s}[/dim]")
        for d in comparison.disagreements:
            console.print(f"[yellow]⚠ {d}[/yellow]")
    if boot is not None:
        for w in extrapolation_warnings(table, budgets):
            console.print(f"[yellow]⚠ {w}[/yellow]")
    return out


def backtest_cmd(
    runs: Annotated[Path, typer.Argument(help="Runs table.")],
    law: Annotated[str, typer.Option(help="Law to fit.")] = "chinchilla",
    cutoff_flops: Annotated[Optional[float], typer.Option(help="Fit on runs with C ≤ this; predict the rest.")] = None,
    holdout_fraction: Annotated[float, typer.Option(help="Without a cut-off: hold out this top share.")] = 0.2,
    loss: Annotated[str, typer.Option(help=LOSS_HELP)] = "huber_log",
    delta: Annotated[float, typer.Option(help="Huber delta.")] = 1e-3,
    fix: Annotated[Optional[str], typer.Option(help=FIX_HELP)] = None,
    bound_e: Annotated[bool, typer.Option("--bound-e/--no-bound-e", help=BOUND_HELP)] = True,
    drop_highest: Annotated[int, typer.Option(help="Drop the K highest-loss runs first.")] = 0,
    columns: ColumnsOption = None,
    by: ByOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Fit on the smaller runs, predict the larger ones, report the errors.\n\nExample: scalinglab backtest runs.csv --cutoff-flops 1e21"""
    table = load_fit_table(runs, columns)
    options = dict(law=law, cutoff_flops=cutoff_flops, holdout_fraction=holdout_fraction, loss=loss, delta=delta,
                   fix=fix, bound_e=bound_e, drop_highest=drop_highest, show=not as_json)
    if by:
        out = run_by_group(table, by, lambda group: _backtest_table(group.runs, **options), as_json=as_json,
                           console=console)
    else:
        out = _backtest_table(table, **options)
    if as_json:
        _emit_json(out)
    if by:
        exit_code(out)


def _backtest_table(table, *, law, cutoff_flops, holdout_fraction, loss, delta, fix, bound_e, drop_highest,
                    show) -> dict:
    from scalinglab.laws.backtest import backtest

    table = table.drop_highest_loss(max(drop_highest, 0))
    result = backtest(table, law, cutoff_flops=cutoff_flops, holdout_fraction=holdout_fraction, loss=loss,
                      delta=delta, fix=parse_fix(fix), bound_e=bound_e)
    if not show:
        return result.to_dict()
    print_notes(console, table)
    t = Table(title=f"Backtest: {law} fitted on {result.fit.n_points} runs with C ≤ {result.cutoff_flops:.3g}")
    for c in ("row", "N", "D", "C", "loss", "predicted", "error", "× beyond fit"):
        t.add_column(c, justify="right")
    for r in result.table.itertuples():
        t.add_row(str(r.row), fmt(r.n_params), fmt(r.n_tokens), fmt(r.flops), fmt(r.loss), fmt(r.predicted),
                  f"{r.rel_error:+.2%}", f"{r.extrapolation:.1f}")
    console.print(t)
    console.print(f"median |relative error| {result.median_abs_rel_error:.2%}, max {result.max_abs_rel_error:.2%}")
    for w in result.warnings:
        console.print(f"[yellow]⚠ {w}[/yellow]")
    return result.to_dict()


def predict_cmd(
    n_params: Annotated[Optional[float], typer.Option("--N", "--params", help="Parameters.")] = None,
    n_tokens: Annotated[Optional[float], typer.Option("--D", "--tokens", help="Training tokens.")] = None,
    flops: Annotated[Optional[float], typer.Option("--C", "--flops", help="Training FLOPs (6ND).")] = None,
    unique_tokens: Annotated[Optional[float], typer.Option("--U", "--unique-tokens", help="Unique tokens.")] = None,
    law_file: Annotated[Optional[Path], typer.Option(help=LAW_FILE_HELP)] = None,
    published: Annotated[Optional[str], typer.Option(help=PUBLISHED_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Predict the loss of a run from a fitted or published law.\n\nExample: scalinglab predict --N 70e9 --D 1.4e12"""
    from scalinglab.laws import complete_inputs
    law = _law_option(law_file, published)
    X = complete_inputs(n_params=n_params, n_tokens=n_tokens, flops=flops, unique_tokens=unique_tokens)
    missing = [k for k in law.inputs if k not in X]
    if missing:
        raise InputError(f"law '{law.name}' needs {', '.join(law.inputs)}; give {', '.join(missing)}")
    loss = float(law.predict(**{k: X[k] for k in law.inputs}))
    out = {"law": law.name, "params": law.params(), **{k: float(v) for k, v in X.items()}, "loss": loss}
    if as_json:
        _emit_json(out)
        return
    given = ", ".join(f"{k}={fmt(v)}" for k, v in X.items())
    console.print(f"{law.name} ({law.formula}) at {given}: predicted loss [bold]{loss:.4f}[/bold] nats/token")


def optimal_cmd(
    flops: Annotated[list[float], typer.Option("--flops", "--C", help="FLOP budget(s) (repeat for several).")],
    law_file: Annotated[Optional[Path], typer.Option(help=LAW_FILE_HELP)] = None,
    published: Annotated[Optional[str], typer.Option(help=PUBLISHED_HELP)] = None,
    unique_tokens: Annotated[Optional[float], typer.Option("--unique-tokens", help="Unique tokens "
                                                           "(data-constrained law).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Compute-optimal model size and tokens for FLOP budgets.\n\nExample: scalinglab optimal --flops 5.76e23"""
    from scalinglab.errors import require_positive
    from scalinglab.laws.optimal import compute_optimal
    law = _law_option(law_file, published)
    budgets = [require_positive("--flops", c) for c in flops]
    extra = {} if unique_tokens is None else {"unique_tokens": require_positive("--unique-tokens", unique_tokens)}
    alloc = compute_optimal(law, np.array(budgets), **extra)
    if as_json:
        _emit_json({"law": law.name, "params": law.params(), "method": alloc.method, "allocations": alloc.rows()})
        return
    t = Table(title=f"Compute-optimal allocation — {law.name} ({alloc.method})")
    for c in ("FLOPs", "parameters", "tokens", "tokens/param", "loss"):
        t.add_column(c, justify="right")
    for r in alloc.rows():
        t.add_row(fmt(r["flops"]), fmt(r["n_params"]), fmt(r["n_tokens"]), f"{r['tokens_per_param']:.1f}",
                  f"{r['loss']:.4f}")
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("fit")(fit_cmd)
    app.command("backtest")(backtest_cmd)
    app.command("predict")(predict_cmd)
    app.command("optimal")(optimal_cmd)
