"""What commands share: the ``--columns`` and ``--by`` options for a runs table, and ``--law`` for a law.

A command that reads runs adds ``columns: ColumnsOption = None`` and ``by: ByOption = None`` to its signature, loads
with ``load_runs_option(path, columns, curves=…)`` (a command that only fits: ``load_fit_table``, which leaves the
runs marked held_out out and says so), and for ``--by`` hands its per-table work to ``run_by_group``.
A command that uses a law turns its ``--law NAME|FILE`` (and ``--law-params``) text into a ``Law`` with
``law_option``: the only place where law names, files and parameter strings are parsed.
"""

from __future__ import annotations

import sys
from typing import Annotated, Callable, Optional

import typer

from scalinglab.errors import InputError

ColumnsOption = Annotated[Optional[str], typer.Option(
    "--columns", help="Map columns explicitly: QUANTITY=COLUMN pairs, e.g. 'N=params,loss=eval/c4/loss' (quantities: "
                      "N, D, C, loss, U, epochs, run_id, seed, weight, held_out; meta=COLUMN keeps a column as "
                      "metadata). Columns neither mapped nor recognised are kept as metadata.")]
ByOption = Annotated[Optional[str], typer.Option(
    "--by", help="Fit each group of runs sharing the values of these columns (e.g. --by config or "
                 "--by dataset,config); groups that cannot be fitted are reported and skipped.")]


def load_runs_option(path, columns: str | dict | None = None, *, curves=None):
    """The runs table at ``path`` read with a ``--columns`` map (text as given on the command line, or a dict)."""
    from scalinglab.runs import load_runs, parse_column_map
    mapping = columns if isinstance(columns, dict) or columns is None else parse_column_map(columns)
    return load_runs(path, curves=curves, columns=mapping or None)


def load_fit_table(path, columns: str | dict | None = None, *, curves=None):
    """``load_runs_option`` for a command that fits: the runs not marked held_out, with a note saying how many were
    (``scalinglab report`` forecasts those and compares)."""
    return load_runs_option(path, columns, curves=curves).fitted(see="`scalinglab report`, which forecasts them")


def print_notes(console, runs) -> None:
    """The table's notes (columns derived or read as a quantity, runs held out), dimmed, before a command's output."""
    from rich.markup import escape
    for note in runs.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")


def run_by_group(runs, by: str, work: Callable, *, as_json: bool, console=None) -> dict:
    """``work(group) -> dict`` for each ``--by`` group (a ``scalinglab.runs.Group``: ``.key``, ``.label``, ``.runs``);
    ``work`` prints its own text unless ``as_json``.

    A group whose work raises ``InputError`` is reported on stderr (one line naming the group) and skipped. Returns
    ``{"by": [...], "groups": [{"group": {...}, "n_runs": k, **result} or {..., "error": why}], "n_fitted": m}``;
    ``exit_code(result)`` is 0 when at least one group was done, 2 when none was."""
    from rich.markup import escape

    from scalinglab.runs import iter_groups, parse_by
    cols = parse_by(by)
    groups, done = [], 0
    for group in iter_groups(runs, cols):
        if not as_json and console is not None:
            console.rule(f"[bold]{escape(group.label)}[/bold] ({len(group.runs)} runs)")
        entry = {"group": group.key, "n_runs": len(group.runs)}
        try:
            entry.update(work(group))
            done += 1
        except InputError as exc:
            message = str(exc) if exc.source else f"group {group.label}: {exc}"
            print(f"error: {message}", file=sys.stderr)
            entry["error"] = message
        groups.append(entry)
    return {"by": list(cols), "n_groups": len(groups), "n_fitted": done, "groups": groups}


def exit_code(result: dict) -> None:
    """Exit 2 (after the output is printed) when no group of a ``--by`` run could be done."""
    if result["n_fitted"] == 0:
        raise typer.Exit(2)


def law_option(spec: str | None, law_params: str | None = None):
    """``--law`` (a published name or a law file, see ``scalinglab.laws.io``) and ``--law-params`` ('E=1.69,A=…', of
    the law kind named by ``--law``, Chinchilla by default) → a ``Law``; None when neither is given."""
    from pathlib import Path

    from scalinglab.laws import LAWS
    from scalinglab.laws.io import law_from_params, load_law
    from scalinglab.laws.published import PUBLISHED, published_law
    if law_params is not None:
        kind = spec if spec is not None and spec.strip().lower() in LAWS else "chinchilla"
        return law_from_params(kind, _key_values(law_params), "--law-params")
    if spec is None:
        return None
    if spec.strip().lower() in PUBLISHED:
        return published_law(spec)
    if spec.lower().endswith(".json") or Path(spec).is_file():
        return load_law(spec)
    raise InputError(f"unknown law '{spec}'; published: {', '.join(PUBLISHED)}, or a path to a law JSON file")


def _key_values(text: str) -> dict:
    params = {}
    for item in str(text).split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--law-params expects key=value pairs separated by commas, got {item.strip()!r}")
        params[key.strip()] = value.strip()
    return params


def parse_chance(items) -> dict[str, float]:
    """``TASK=LEVEL`` options (chance accuracy of a task not built in) as a dict; one-line error otherwise."""
    out = {}
    for item in items or []:
        task, sep, value = str(item).partition("=")
        try:
            level = float(value)
        except ValueError:
            sep = ""
        if not sep or not task.strip() or not 0 <= level < 1:
            raise InputError(f"--chance must read TASK=LEVEL with 0 ≤ LEVEL < 1 (e.g. hellaswag=0.25), got {item!r}")
        out[task.strip()] = level
    return out
