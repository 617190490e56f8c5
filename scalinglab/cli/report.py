"""CLI: ``scalinglab report`` — parse options, delegate to ``scalinglab.report.write_report``, print where it wrote."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from scalinglab.cli.common import ByOption, ColumnsOption, exit_code, load_runs_option, parse_chance, run_by_group
from scalinglab.errors import InputError, require_positive


def report_cmd(
    source: Annotated[Path, typer.Argument(help="Runs table (CSV, Parquet, JSON) or a ladder directory.",
                                           metavar="RUNS_OR_LADDER_DIR")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The HTML file to write; report.json and "
                                                          "report_figures/ go beside it.")] = Path("report.html"),
    curves: Annotated[Optional[Path], typer.Option(help="Per-run loss curves (run_id, n_tokens, loss).")] = None,
    law: Annotated[str, typer.Option(help="chinchilla | kaplan | kaplan_n | kaplan_d | kaplan_c | saturating | "
                                          "data_constrained")] = "chinchilla",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples over runs for intervals (0: none).")] = 200,
    seed: Annotated[int, typer.Option(help="Seed for the bootstrap.")] = 0,
    level: Annotated[float, typer.Option(help="Interval level.")] = 0.9,
    flops: Annotated[Optional[list[float]], typer.Option("--flops", "--C", help="Budgets for the allocation table and "
                                                         "the forecast (repeat); default four decades from the "
                                                         "largest run up.")] = None,
    n_params: Annotated[Optional[list[float]], typer.Option("--N", help="Forecast target parameters (repeat; pair "
                                                            "with --D), besides the budgets.")] = None,
    n_tokens: Annotated[Optional[list[float]], typer.Option("--D", help="Forecast target tokens (repeat).")] = None,
    forecast_law: Annotated[str, typer.Option(help="Law form(s) of the forecast: auto (chinchilla, kaplan, "
                                                   "interaction, mixed by backtests) or one law.")] = "auto",
    forecast_resamples: Annotated[int, typer.Option(help="Bootstrap resamples over runs for the forecast.")] = 200,
    drop_highest: Annotated[int, typer.Option(help="Exclude the K highest-loss runs.")] = 0,
    exclude: Annotated[Optional[list[str]], typer.Option(help="Exclude a run by run_id or 'row K' (repeat).")] = None,
    plan: Annotated[Optional[list[str]], typer.Option(help="Planner request with the fitted law, e.g. 'flops=1e24' or "
                                                           "'accelerator=h100,count=1024,days=30' (repeat).")] = None,
    counts: Annotated[Optional[Path], typer.Option(help="Per-problem sample counts (model, problem, n, correct) "
                                                        "for the test-time section.")] = None,
    tasks: Annotated[Optional[list[Path]], typer.Option("--tasks", help="Eval histories (W&B CSV, JSONL, long "
                                                         "table, or folders) for the abilities section (repeat); a "
                                                         "ladder directory's own task evaluations are used without "
                                                         "it.")] = None,
    tasks_params_file: Annotated[Optional[Path], typer.Option("--tasks-params-file", help="N per run of the --tasks "
                                                              "histories: CSV run_id,N or an OLMo final.json.")] = None,
    chance: Annotated[Optional[list[str]], typer.Option("--chance", help="TASK=LEVEL chance accuracy of a --tasks "
                                                        "task not built in (repeat).")] = None,
    no_approaches: Annotated[bool, typer.Option("--no-approaches", help="Skip Chinchilla approaches 1-2.")] = False,
    no_backtest: Annotated[bool, typer.Option("--no-backtest", help="Skip the backtest.")] = False,
    no_forecast: Annotated[bool, typer.Option("--no-forecast", help="Skip the forecast section.")] = False,
    png: Annotated[bool, typer.Option("--png", help="Also write each figure as a 150-dpi PNG.")] = False,
    columns: ColumnsOption = None,
    by: ByOption = None,
) -> None:
    """Write one self-contained HTML page: the fitted law with intervals, figures, the compute-optimal allocation and
    how far to trust it; plus the numbers as JSON and the figures as files.

    Example: scalinglab report runs.csv -o report.html --plan 'flops=1e24' --N 13e9 --D 5e12

    The forecast section (as `scalinglab forecast`) covers the budgets, 10× and 100× the largest run and each
    --N/--D pair.

    With --by config: one report per configuration, report-<config>.html beside -o.
    """
    from scalinglab.report import ReportOptions

    options = ReportOptions(law=law, n_resamples=bootstrap, seed=seed, level=level,
                            budgets=tuple(flops) if flops else None, approaches=not no_approaches,
                            backtest=not no_backtest, plans=tuple(plan or ()),
                            counts=None if counts is None else str(counts), forecast=not no_forecast,
                            forecast_resamples=forecast_resamples, forecast_law=forecast_law,
                            targets=_forecast_targets(n_params, n_tokens), tasks=tuple(map(str, tasks or ())),
                            tasks_params_file=None if tasks_params_file is None else str(tasks_params_file),
                            task_chance=tuple(parse_chance(chance).items()))
    source = _runs_or_ladder(source, columns, curves, by)
    if not by:
        _write_one(source, out, curves, drop_highest, exclude, options, png)
        return
    names: set = set()

    def one(group):
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(str(v) for v in group.key.values())).strip("_") or "group"
        while slug in names:
            slug += "_"
        names.add(slug)
        return _write_one(group.runs, out.with_name(f"{out.stem}-{slug}{out.suffix}"), None, drop_highest, exclude,
                          options, png)

    exit_code(run_by_group(source, by, one, as_json=False))


def _forecast_targets(n_params, n_tokens) -> tuple[tuple[float, float], ...]:
    n_params, n_tokens = n_params or [], n_tokens or []
    if len(n_params) != len(n_tokens):
        raise InputError(f"give one --D per --N (got {len(n_params)} --N and {len(n_tokens)} --D)")
    return tuple((require_positive("--N", n), require_positive("--D", d)) for n, d in zip(n_params, n_tokens))


def _runs_or_ladder(source: Path, columns, curves, by):
    """A runs file read with --columns; a ladder directory as it is (its runs, for --by)."""
    if not source.is_dir():
        return load_runs_option(source, columns, curves=curves) if (columns or by) else source
    if columns:
        raise InputError("--columns applies to a runs file; a ladder directory has its own columns",
                         source=str(source))
    if by:  # every finished run, held-out ones too: each group's report splits its own
        from scalinglab.report.sources import read_source
        return read_source(source, curves=curves)[0]
    return source


def _write_one(source, out, curves, drop_highest, exclude, options, png) -> dict:
    from scalinglab.report import write_report
    files = write_report(source, out, curves=curves, drop_highest=drop_highest, exclude=tuple(exclude or ()),
                         options=options, png=png)
    typer.echo(f"wrote {files.html} ({len(files.data.runs)} runs fitted, trust: {files.data.trust.worst}), "
               f"{files.json} and {len(files.figures)} figure files in {files.html.stem}_figures/")
    return {"html": str(files.html), "json": str(files.json)}


def register(app: typer.Typer) -> None:
    """Add ``scalinglab report`` to the main app."""
    app.command("report")(report_cmd)
