"""CLI: ``scalinglab isoflop`` — Chinchilla approach 2 on an isoFLOP design; delegates to scalinglab.laws.isoflop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from scalinglab.cli.common import load_fit_table, print_notes
from scalinglab.errors import require_positive

console = Console()


def _fmt(v: float) -> str:
    """Short numbers for narrow tables: 0.6761, 7.96e6, 1.25e16."""
    v = float(v)
    if not np.isfinite(v):
        return "—"
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        return f"{v:.4g}"
    mantissa, exponent = f"{v:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _with_span(est: float, lo: float, hi: float) -> str:
    shown = f"\\[{_fmt(lo)}, {_fmt(hi)}]" if np.isfinite([lo, hi]).all() else "(no interval: see note)"
    return f"{_fmt(est)} {shown}"


def _budget_table(iso) -> Table:
    t = Table(title=f"Per-budget minima ({iso.level:.0%} intervals, {iso.n_resamples} noise resamples; D* "
                    "intervals in --json)", box=box.SIMPLE_HEAD, pad_edge=False)
    for c in ("budget C", "N* \\[interval]", "D*", "loss*", "points used"):
        t.add_column(c, justify="right", no_wrap=True)
    for r in iso.budgets.itertuples():
        t.add_row(_fmt(r.budget_flops), _with_span(r.n_opt, r.n_lo, r.n_hi), _fmt(r.n_tokens_opt),
                  f"{r.loss_min:.4f}", str(r.n_runs))
    return t


def _at_table(iso, flops) -> Table:
    t = Table(title="Compute-optimal allocation from the isoFLOP fit", box=box.SIMPLE_HEAD, pad_edge=False)
    for c in ("FLOPs", "N* \\[interval]", "D* \\[interval]", "beyond budgets"):
        t.add_column(c, justify="right", no_wrap=c != "beyond budgets")
    for r in iso.at(flops).itertuples():
        t.add_row(_fmt(r.flops), _with_span(r.n_opt, r.n_lo, r.n_hi), _with_span(r.n_tokens_opt, r.d_lo, r.d_hi),
                  f"{r.decades_beyond:+.1f} dec")
    return t


def _print(iso, flops) -> None:
    console.print(f"{len(iso.budgets)} budgets used, {len(iso.dropped)} dropped, from {iso.source}; window "
                  f"±{iso.window_decades:g} decade of N around each budget's lowest loss; noise σ = "
                  f"{iso.noise_sigma:.3g} in log loss")
    console.print(_budget_table(iso))
    for r in iso.dropped.itertuples():
        console.print(f"[dim]dropped budget {_fmt(r.budget_flops)} ({r.n_runs} runs): {r.reason}[/dim]")
    for name, est, lo, hi, k, birge in (("N* = k_N·C^a", iso.a, iso.a_lo, iso.a_hi, iso.k_n, iso.birge[0]),
                                        ("D* = k_D·C^b", iso.b, iso.b_lo, iso.b_hi, iso.k_d, iso.birge[1])):
        widened = f", widened ×{birge:.2f}: the minima scatter more than their own spread" if birge > 1 else ""
        console.print(f"{name}: exponent [bold]{_with_span(est, lo, hi)}[/bold] ({iso.level:.0%}{widened}), "
                      f"coefficient {_fmt(k)}")
    if flops:
        console.print(_at_table(iso, flops))
    if iso.note:
        console.print(f"[dim]note: {iso.note}[/dim]")
    for w in iso.warnings:
        console.print(f"[yellow]⚠ {w}[/yellow]")


def isoflop_cmd(
    runs: Annotated[Path, typer.Argument(help="Runs table (CSV, Parquet, JSON): several model sizes at each of a few "
                                              "fixed compute budgets.")],
    flops: Annotated[Optional[list[float]], typer.Option(help="Budgets at which to give N*, D* (repeat).")] = None,
    level: Annotated[float, typer.Option(help="Interval level.")] = 0.9,
    resamples: Annotated[int, typer.Option(help="Noise-bootstrap resamples per budget.")] = 1000,
    window: Annotated[float, typer.Option(help="Half-width, in decades of N, of the parabola window around each "
                                               "budget's lowest loss.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """IsoFLOP analysis (Chinchilla approach 2): per budget the loss-minimising N*, D*; then N* ∝ C^a, D* ∝ C^b.

    Example: scalinglab isoflop runs.csv --flops 1e22 --level 0.9
    """
    from scalinglab.laws.isoflop import isoflop_analysis

    budgets = [require_positive("--flops", c) for c in flops or ()]
    table = load_fit_table(runs)
    iso = isoflop_analysis(table, window_decades=window, n_resamples=resamples, level=level, seed=seed)
    if as_json:
        typer.echo(json.dumps(iso.to_dict(budgets), indent=2, default=float))
        return
    print_notes(console, table)
    _print(iso, budgets)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("isoflop")(isoflop_cmd)
