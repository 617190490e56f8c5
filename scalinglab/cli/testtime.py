"""CLI: ``scalinglab testtime fit`` (and ``run`` when the experiment is available)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

testtime_app = typer.Typer(
    name="testtime",
    help="Test-time compute scaling: pass@k, coverage laws, extrapolation.\n\n"
         "Example: scalinglab testtime fit counts.csv --extrapolate 10000",
    no_args_is_help=True,
)


def _parse_ints(text: Optional[str], option: str) -> Optional[list[int]]:
    from scalinglab.errors import InputError

    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{option} must be comma-separated integers, got {text!r}") from None


@testtime_app.command("fit")
def fit_cmd(
    counts: Path = typer.Argument(..., help="CSV/Parquet/JSON with columns model, problem, n, correct "
                                             "(optional: n_params, tokens_per_sample, train_flops)."),
    k: Optional[str] = typer.Option(None, "--k", help="Comma-separated k for pass@k (default 1,10,100,… up to n)."),
    extrapolate: Optional[str] = typer.Option(None, "--extrapolate", "-x",
                                              help="Comma-separated k > n to predict coverage at, e.g. 10000."),
    level: float = typer.Option(0.9, "--level", help="Interval level."),
    n_boot: int = typer.Option(200, "--boot", help="Bootstrap resamples for the law's interval."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Fit coverage laws to per-problem correct counts and print pass@k, the law and extrapolated coverage.

    Example: scalinglab testtime fit counts.csv --k 1,10,100 --extrapolate 10000
    """
    from scalinglab.errors import InputError
    from scalinglab.testtime.summary import summarize_coverage

    if not 0 < level < 1:
        raise InputError(f"--level must be in (0, 1), got {level}")
    if seed < 0:  # numpy's generators take only non-negative seeds
        raise InputError(f"--seed must be ≥ 0, got {seed}")
    result = summarize_coverage(counts, k=_parse_ints(k, "--k"), extrapolate=_parse_ints(extrapolate, "--extrapolate"),
                                level=level, n_boot=n_boot, seed=seed)
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    _print_table(result)


def _print_table(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    pct = f"{result.level:.0%}"
    for m in result.models:
        table = Table(title=f"{m.model}: {m.n_problems} problems × {m.n_samples} samples", title_justify="left")
        table.add_column("k", justify="right")
        table.add_column("coverage (mean pass@k)", justify="right")
        table.add_column(f"{pct} interval", justify="right")
        table.add_column("source")
        for kk, v, lo, hi in zip(m.k, m.pass_at_k, m.pass_at_k_lo, m.pass_at_k_hi):
            table.add_row(str(kk), f"{v:.4f}", f"[{lo:.4f}, {hi:.4f}]", "unbiased estimator")
        for i, kk in enumerate(m.extrapolate_k):
            if m.law_coverage:
                table.add_row(str(kk), f"{m.law_coverage[i]:.4f}", f"[{m.law_lo[i]:.4f}, {m.law_hi[i]:.4f}]",
                              "power law with ceiling")
            if m.beta_coverage:
                table.add_row(str(kk), f"{m.beta_coverage[i]:.4f}", f"[{m.beta_lo[i]:.4f}, {m.beta_hi[i]:.4f}]",
                              "beta-binomial, extended")
        console.print(table)
        law = m.law
        status = "" if law["success"] else f"  (not fitted: {law['message']})"
        console.print(f"  coverage(k) = {law['c_max']:.4g} · exp(−{law['a']:.4g} · k^(−{law['b']:.4g})){status}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(testtime_app, name="testtime")


@testtime_app.command("run")
def run_cmd(
    preset: str = typer.Option("small", "--preset", help="Experiment preset: tiny (seconds) or small (≈ 15 min)."),
    task: Optional[str] = typer.Option(None, "--task", help="Override the preset's task: addition, arithmetic, "
                                                            "sorting (with the task's default options)."),
    out: Path = typer.Option(Path("testtime_run"), "--out", help="Working folder for runs and the counts CSV."),
    k: Optional[int] = typer.Option(None, "--k", help="Samples per test problem (default: the preset's)."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a summary."),
) -> None:
    """Train models of several sizes on a verifiable task, sample, fit, and print the train↔test exchange rate.

    Example: scalinglab testtime run --preset tiny --out /tmp/tt
    """
    import dataclasses

    from scalinglab.errors import InputError
    from scalinglab.testtime.experiment import PRESETS, run_experiment
    from scalinglab.testtime.tasks import TASKS

    if preset not in PRESETS:
        raise InputError(f"unknown preset '{preset}' (choose from {', '.join(PRESETS)})")
    cfg = PRESETS[preset]
    changes = {"seed": seed}
    if task is not None:
        if task not in TASKS:
            raise InputError(f"unknown task '{task}' (choose from {', '.join(TASKS)})")
        changes.update(task=task, task_options={})
    if k is not None:
        changes["k"] = k
    cfg = dataclasses.replace(cfg, **changes)
    result = run_experiment(cfg, out, progress=None if as_json else lambda m: typer.echo(m, err=True))
    result.counts.to_csv(out / "counts.csv", index=False)
    if as_json:
        typer.echo(json.dumps(result.exchange.as_dict(), indent=2))
        return
    _print_exchange(result.exchange)
    typer.echo(f"counts: {out / 'counts.csv'} (fit them with: scalinglab testtime fit {out / 'counts.csv'})")


def _print_exchange(rate) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"samples needed for coverage {rate.target:.3f}", title_justify="left")
    for col in ("model", "train FLOPs", "k needed", "test FLOPs / problem", f"total @ {rate.queries:.0e} queries"):
        table.add_column(col, justify="right")
    for m, c, kk, t, tot, ex in zip(rate.models, rate.train_flops, rate.samples_needed, rate.test_flops_per_problem,
                                    rate.total_flops, rate.extrapolated):
        table.add_row(m, f"{c:.3g}", f"{kk:.3g}{' (law)' if ex else ''}", f"{t:.3g}", f"{tot:.3g}")
    Console().print(table)
    lo, hi = rate.test_factor_interval
    typer.echo(f"slope d log(test FLOPs)/d log(train FLOPs) = {rate.slope:.3f} "
               f"[{rate.slope_lo:.3f}, {rate.slope_hi:.3f}] ({rate.level:.0%})")
    typer.echo(f"10x training compute changes the inference compute needed by {1 / rate.test_factor_per_10x_train:.3g}x "
               f"(interval {1 / hi:.3g}x-{1 / lo:.3g}x); compute-optimal for {rate.queries:.0e} queries: "
               f"{rate.optimal_model}")
