"""CLI: ``scalinglab tasks fit`` and ``scalinglab tasks forecast`` — task laws from eval histories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from scalinglab.cli.common import parse_chance

tasks_app = typer.Typer(
    name="tasks",
    help="Task scaling laws: (N, D) → task loss → accuracy, with intervals and a predictability verdict.\n\n"
         "Example: scalinglab tasks forecast ladder-runs/ --params-file final.json --N 7e9 --D 4e12",
    no_args_is_help=True,
)

HISTORIES = typer.Argument(..., help="Eval history files (W&B CSV export, JSONL, long table) or folders of them.")
PARAMS_FILE = typer.Option(None, "--params-file", help="N per run: CSV run_id,N or an OLMo-ladder final.json.")
N_ALL = typer.Option(None, "--n-params", help="One N for every run without one.")
METRIC = typer.Option(None, "--metric", help="KIND=REGEX or KIND:TASK=REGEX (kind task_loss|accuracy|lm_loss); "
                                             "replaces the built-in OLMo names. Repeatable.")
TASK = typer.Option(None, "--task", help="Task to fit (default: all with a task loss and an accuracy). Repeatable.")
CHANCE = typer.Option(None, "--chance", help="TASK=LEVEL chance accuracy for a task not built in. Repeatable.")
LAW = typer.Option("chinchilla", "--law", help="Step-1 law of (N, D) from the fitting core.")
SMOOTH = typer.Option(5, "--smooth", help="Mean of the last k evaluations (Bhagia et al. use 5).")
BOOT = typer.Option(1000, "--bootstrap", help="Bootstrap resamples over runs (0: no intervals).")
SEED = typer.Option(0, "--seed")
JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
FEATURE = typer.Option(None, "--via-lm-loss", help="Chain through this LM-loss set (e.g. c4_en) instead of the "
                                                      "task loss.")
WORKERS = typer.Option(1, "--workers", help="Fit tasks in this many processes (same results, to rounding).")


def _fit(histories, params_file, n_params, metric, task, chance, law, smooth, n_boot, seed, workers, feature):
    from scalinglab.runs.history import load_history
    from scalinglab.tasks import fit_task_laws

    history = load_history(histories, params_file=params_file, n_params=n_params, patterns=metric or None)
    return fit_task_laws(history, task or None, chance=parse_chance(chance), law=law, smooth=smooth,
                         n_resamples=n_boot, seed=seed, workers=workers, feature=feature)


@tasks_app.command("fit")
def fit_cmd(histories: List[Path] = HISTORIES, params_file: Optional[Path] = PARAMS_FILE,
            n_params: Optional[float] = N_ALL, metric: Optional[List[str]] = METRIC,
            task: Optional[List[str]] = TASK, chance: Optional[List[str]] = CHANCE, law: str = LAW,
            smooth: int = SMOOTH, n_boot: int = BOOT, seed: int = SEED, workers: int = WORKERS,
            feature: Optional[str] = FEATURE, as_json: bool = JSON) -> None:
    """Fit task loss of (N, D) and accuracy as a sigmoid of task loss, per task, with a predictability verdict.

    Example: scalinglab tasks fit ladder-runs/ --params-file final.json
    """
    laws = _fit(histories, params_file, n_params, metric, task, chance, law, smooth, n_boot, seed, workers, feature)
    if as_json:
        typer.echo(json.dumps([tl.to_dict() for tl in laws], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Task laws: accuracy = chance + (ceiling − chance) / (1 + e^(slope·(L − midpoint)))",
                  title_justify="left")
    for col in ("task", "chance", "ceiling", "slope", "midpoint", "task-loss range", "noise", "predictable"):
        table.add_column(col, justify="left" if col in ("task", "predictable") else "right")
    for tl in laws:
        lo, hi = tl.loss_range
        table.add_row(tl.task, f"{tl.chance:.3f}", f"{tl.sigmoid.ceiling:.3f}", f"{tl.sigmoid.slope:.2f}",
                      f"{tl.sigmoid.midpoint:.3f}", f"[{lo:.3f}, {hi:.3f}]", f"{tl.noise:.4f}",
                      "yes" if tl.verdict.predictable else f"no — {tl.verdict.reason}")
    Console().print(table)


@tasks_app.command("forecast")
def forecast_cmd(histories: List[Path] = HISTORIES, params_file: Optional[Path] = PARAMS_FILE,
                 n_params: Optional[float] = N_ALL, metric: Optional[List[str]] = METRIC,
                 task: Optional[List[str]] = TASK, chance: Optional[List[str]] = CHANCE, law: str = LAW,
                 smooth: int = SMOOTH, n_boot: int = BOOT, seed: int = SEED, workers: int = WORKERS,
                 feature: Optional[str] = FEATURE,
                 target_n: List[float] = typer.Option(..., "--N", help="Target parameters (repeat for several)."),
                 target_d: List[float] = typer.Option(..., "--D", help="Target tokens, one per --N."),
                 level: float = typer.Option(0.9, "--level", help="Interval level."),
                 as_json: bool = JSON) -> None:
    """Forecast each task's loss and accuracy at target (N, D), with intervals and the verdict.

    Example: scalinglab tasks forecast ladder-runs/ --params-file final.json --N 7e9 --D 4e12 --json
    """
    from scalinglab.errors import InputError, require_positive

    if len(target_n) != len(target_d):
        raise InputError(f"give one --D per --N (got {len(target_n)} --N and {len(target_d)} --D)")
    if not 0 < level < 1:
        raise InputError(f"--level must be in (0, 1), got {level}")
    targets = [(require_positive("--N", n), require_positive("--D", d)) for n, d in zip(target_n, target_d)]
    laws = _fit(histories, params_file, n_params, metric, task, chance, law, smooth, n_boot, seed, workers, feature)
    forecasts = [tl.forecast(n, d, level=level, seed=seed) for n, d in targets for tl in laws]
    if as_json:
        typer.echo(json.dumps([f.to_dict() for f in forecasts], indent=2))
        return
    _print_forecasts(forecasts, level)


def _print_forecasts(forecasts, level: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Task forecasts ({level:.0%} intervals)", title_justify="left")
    for col in ("task", "N", "D", "task loss", "accuracy", "interval", "on the sigmoid: ladder → target",
                "verdict"):
        table.add_column(col, justify="left" if col in ("task", "verdict") else "right")
    for f in forecasts:
        rep = f.reported
        lo, hi = f.ladder_position
        table.add_row(f.task, f"{f.n_params:.3g}", f"{f.n_tokens:.3g}", f"{f.task_loss.estimate:.4f}",
                      f"{f.accuracy.estimate:.3f}", f"[{rep.lo:.3f}, {rep.hi:.3f}]",
                      f"{lo:.2f}–{hi:.2f} → {f.target_position:.2f}",
                      "predictable" if f.verdict.predictable else f"not predictable: {f.verdict.reason}")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(tasks_app, name="tasks")
