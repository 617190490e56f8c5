"""CLI: ``scalinglab forecast`` — parse targets, delegate to ``scalinglab.laws.forecast``, print or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from scalinglab.cli.common import load_fit_table, print_notes
from scalinglab.cli.fit import _emit_json, fmt
from scalinglab.errors import InputError, require_positive

console = Console()


def _targets(n_params, n_tokens, flops) -> list[dict]:
    n_params, n_tokens, flops = n_params or [], n_tokens or [], flops or []
    if flops and (n_params or n_tokens):
        raise InputError("give targets either as --N with --D, or as --flops budgets, not both")
    if flops:
        return [{"flops": require_positive("--flops", c)} for c in flops]
    if not n_params or len(n_params) != len(n_tokens):
        raise InputError(f"give one --D per --N (got {len(n_params)} --N and {len(n_tokens)} --D), or --flops")
    return [{"n_params": require_positive("--N", n), "n_tokens": require_positive("--D", d)}
            for n, d in zip(n_params, n_tokens)]


def forecast_cmd(
    runs: Annotated[Path, typer.Argument(help="Runs table: CSV, Parquet, JSON or JSONL.")],
    n_params: Annotated[Optional[list[float]], typer.Option("--N", help="Target parameters (repeat; pair with --D).")] = None,
    n_tokens: Annotated[Optional[list[float]], typer.Option("--D", help="Target tokens (repeat).")] = None,
    flops: Annotated[Optional[list[float]], typer.Option("--flops", "--C", help="Target budget(s): the "
                                                         "compute-optimal point of each.")] = None,
    law: Annotated[str, typer.Option(help="auto (chinchilla, kaplan, interaction, mixed by backtests), one law, or "
                                          "a law JSON file (its form is used).")]
    = "auto",
    level: Annotated[float, typer.Option(help="Interval level.")] = 0.9,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples over runs.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One object per target (N, D, flops, loss, lo, hi, level, "
                                                         "components).")] = False,
) -> None:
    """Forecast the loss at targets, with an interval and its parts.\n\nExample: scalinglab forecast runs.csv --N 13e9 --D 5e12"""
    from scalinglab.laws.forecast import forecast

    if law.endswith(".json"):  # a saved law file: forecast with its form
        from scalinglab.laws.io import load_law
        law = load_law(law).name
    targets = _targets(n_params, n_tokens, flops)
    table = load_fit_table(runs)
    result = forecast(table, targets, law, level=level, n_resamples=resamples, seed=seed)
    if as_json:
        _emit_json(result.to_dict())
        return
    print_notes(console, table)
    t = Table(title=f"Forecast ({result.level:.0%} prediction interval for one run; components = half-widths in "
                    "log loss)")
    for c in ("N", "D", "C", "× decades", "loss", "interval", "bootstrap", "near-opt", "forms", "scatter", "extrap."):
        t.add_column(c, justify="right")
    for f in result.targets:
        c = f.components
        t.add_row(fmt(f.n_params) + ("*" if f.compute_optimal else ""), fmt(f.n_tokens), fmt(f.flops),
                  f"{f.extrapolation_decades:.2f}", f"{f.loss.estimate:.4f}", f"\\[{f.loss.lo:.4f}, {f.loss.hi:.4f}]",
                  *(f"±{c[k]:.2%}" for k in ("bootstrap", "near_optima", "forms", "scatter", "extrapolation")))
    console.print(t)
    if any(f.compute_optimal for f in result.targets):
        console.print("* a --flops target is the compute-optimal (N, D) of that budget under the top-weighted form")
    for f in result.forms:
        failed = f", {f.n_failed} resamples failed" if f.n_failed else ""
        console.print(f"{f.law}: weight {f.weight:.2f}, scatter σ {f.scatter:.2%}, γ {f.gamma:.2%}/decade, "
                      f"backtest rms error {f.backtest_rms_error:.2%}{failed}")
    console.print(f"[dim]rule: {result.rule}[/dim]")
    for fold in result.folds:
        console.print(f"[dim]backtest: {fold}[/dim]")
    for note in result.notes:
        console.print(f"[yellow]note: {note}[/yellow]")


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast_cmd)
