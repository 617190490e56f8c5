"""What every command that reads a runs table shares: the ``--columns`` and ``--by`` options, loading the table with
them, and running a command once per group of a ``--by`` split.

A command adds ``columns: ColumnsOption = None`` and ``by: ByOption = None`` to its signature, loads with
``load_runs_option(path, columns, curves=…)``, and for ``--by`` hands its per-table work to ``run_by_group``.
"""

from __future__ import annotations

import sys
from typing import Annotated, Callable, Optional

import typer

from scalinglab.errors import InputError

ColumnsOption = Annotated[Optional[str], typer.Option(
    "--columns", help="Map columns explicitly: QUANTITY=COLUMN pairs, e.g. 'N=params,loss=eval/c4/loss' (quantities: "
                      "N, D, C, loss, U, epochs, run_id, seed; meta=COLUMN keeps a column as metadata). Columns "
                      "neither mapped nor recognised are kept as metadata.")]
ByOption = Annotated[Optional[str], typer.Option(
    "--by", help="Fit each group of runs sharing the values of these columns (e.g. --by config or "
                 "--by dataset,config); groups that cannot be fitted are reported and skipped.")]


def load_runs_option(path, columns: str | dict | None = None, *, curves=None):
    """The runs table at ``path`` read with a ``--columns`` map (text as given on the command line, or a dict)."""
    from scalinglab.runs import load_runs, parse_column_map
    mapping = columns if isinstance(columns, dict) or columns is None else parse_column_map(columns)
    return load_runs(path, curves=curves, columns=mapping or None)


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
