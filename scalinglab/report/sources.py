"""What a report is about: the runs it fits, and the runs it leaves out with the reason for each.

A report reads a runs file (CSV/Parquet/JSON, optional loss curves beside it) or a ladder directory (its SQLite run
store: finished runs are fitted, failed or unfinished ones are listed as excluded with their status and error).
Runs are also left out when they diverged (their final loss sits well above the lowest loss on their own curve),
when the user names them (``exclude``), or when they are among the ``drop_highest`` highest-loss runs. Runs marked
``held_out`` are not fitted either: the forecast section predicts them from the others and compares (``held_out``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.runs import Runs, load_runs

# A healthy run under a decaying learning rate ends near the lowest loss on its curve; one that ends more than 5 %
# above it has diverged (a loss spike it did not recover from), and its final loss says nothing about its N and D.
DIVERGED_RISE = 0.05
EXCLUDED_COLUMNS = ["run", "n_params", "n_tokens", "flops", "loss", "reason"]


@dataclass(frozen=True)
class ReportInput:
    runs: Runs               # the runs that are fitted
    excluded: pd.DataFrame   # EXCLUDED_COLUMNS: runs left out (loss is NaN for runs that never finished)
    source: str
    history: object = None   # a ladder's task evaluations (runs.history.EvalHistory), when it ran the task suite
    task_info: dict = field(default_factory=dict)   # task → (chance, number of items) of that suite
    held_out: Runs | None = None   # runs marked held_out: forecast from the fitted runs, not fitted

    @property
    def n_total(self) -> int:
        return len(self.runs) + len(self.excluded) + (0 if self.held_out is None else len(self.held_out))


def run_labels(runs: Runs) -> np.ndarray:
    """A name per run: its run_id, or 'row K' (the data row in the user's file) when the table has no ids."""
    if "run_id" in runs.frame:
        return runs.frame["run_id"].astype(str).to_numpy()
    return np.array([f"row {r}" for r in runs.rows])


def _excluded_rows(runs: Runs, mask: np.ndarray, reasons) -> pd.DataFrame:
    labels = run_labels(runs)
    reasons = np.broadcast_to(np.asarray(reasons, dtype=object), mask.shape)
    return pd.DataFrame({"run": labels[mask], "n_params": runs.n_params[mask], "n_tokens": runs.n_tokens[mask],
                         "flops": runs.flops[mask], "loss": runs.loss[mask], "reason": reasons[mask]},
                        columns=EXCLUDED_COLUMNS)


def diverged(runs: Runs) -> tuple[np.ndarray, list[str]]:
    """Mask of runs whose final loss is more than DIVERGED_RISE above their curve's minimum, and the reasons."""
    mask = np.zeros(len(runs), bool)
    reasons = [""] * len(runs)
    if runs.curves is None or "run_id" not in runs.frame or runs.curves.empty:
        return mask, reasons
    lowest = runs.curves.groupby("run_id", sort=False)["loss"].min()
    for i, (rid, loss) in enumerate(zip(runs.frame["run_id"], runs.loss)):
        low = lowest.get(rid)
        if low is not None and loss > (1 + DIVERGED_RISE) * low:
            mask[i] = True
            reasons[i] = (f"diverged: final loss {loss:.4g} is {loss / low - 1:.0%} above the lowest loss on its "
                          f"curve ({low:.4g})")
    return mask, reasons


def ladder_history(path: Path):
    """(EvalHistory or None, task → (chance, n_items)) of a ladder directory's task evaluations."""
    from scalinglab.ladder import RunStore
    from scalinglab.ladder.store import STORE_NAME

    if not (Path(path) / STORE_NAME).is_file():
        return None, {}
    with RunStore(path, create=False) as store:
        return store.to_history(), store.task_info()


def _ladder(path: Path) -> tuple[Runs, pd.DataFrame]:
    from scalinglab.ladder import RunStore
    from scalinglab.ladder.store import STORE_NAME

    if not (path / STORE_NAME).is_file():
        raise InputError(f"no ladder store ({STORE_NAME}) and no runs.csv/runs.parquet in this directory",
                         source=str(path))
    with RunStore(path, create=False) as store:
        runs = store.to_runs()
        unfinished = [r for r in store.runs() if r.status != "done"]
    rows = []
    for r in unfinished:
        n, d = r.spec.get("n_params"), r.spec.get("n_tokens")
        why = {"failed": f"failed: {r.error or 'no error recorded'}", "pending": "not started (pending)",
               "running": "still running", "interrupted": "interrupted before it finished"}[r.status]
        rows.append({"run": r.run_id, "n_params": n, "n_tokens": d,
                     "flops": 6.0 * n * d if n and d else np.nan, "loss": np.nan, "reason": why})
    return runs, pd.DataFrame(rows, columns=EXCLUDED_COLUMNS)


def _from_directory(path: Path, curves) -> tuple[Runs, pd.DataFrame]:
    for ext in ("csv", "parquet"):
        table = path / f"runs.{ext}"
        if table.is_file() and not (path / "ladder.sqlite").is_file():
            beside = path / f"curves.{ext}"
            return load_runs(table, curves=curves or (beside if beside.is_file() else None)), pd.DataFrame(
                columns=EXCLUDED_COLUMNS)
    if curves is not None:
        raise InputError("--curves applies to a runs file; a ladder directory has its own curves", source=str(path))
    return _ladder(path)


def read_source(path, *, curves=None) -> tuple[Runs, pd.DataFrame]:
    """Every run of a runs file, a folder with runs.csv, or a ladder directory (its finished runs), and the ladder's
    unfinished runs as EXCLUDED_COLUMNS rows (none for a file)."""
    if isinstance(path, Runs):
        return path, pd.DataFrame(columns=EXCLUDED_COLUMNS)
    p = Path(path)
    if p.is_dir():
        return _from_directory(p, curves)
    return load_runs(p, curves=curves), pd.DataFrame(columns=EXCLUDED_COLUMNS)


def load_input(path, *, curves=None, drop_highest: int = 0, exclude=()) -> ReportInput:
    """Runs to fit, runs held out, and runs excluded (with reasons) from a runs file, a folder with runs.csv, or a
    ladder dir. Diverged and ``exclude``d runs leave either set; ``drop_highest`` counts fitted runs only."""
    runs, excluded = read_source(path, curves=curves)
    history, task_info = (None, {}) if isinstance(path, Runs) or not Path(path).is_dir() else ladder_history(path)
    source = path.source if isinstance(path, Runs) else str(path)
    if not (isinstance(drop_highest, (int, np.integer)) and drop_highest >= 0):
        raise InputError(f"drop-highest must be a whole number ≥ 0, got {drop_highest!r}")
    parts = [excluded]
    mask, reasons = diverged(runs)
    if mask.any():
        parts.append(_excluded_rows(runs, mask, reasons))
        runs = runs.subset(~mask, note=f"excluded {int(mask.sum())} diverged run(s)")
    wanted = [str(x) for x in exclude]
    if wanted:
        labels = run_labels(runs)
        unknown = sorted(set(wanted) - set(labels))
        if unknown:
            raise InputError(f"--exclude names unknown run '{unknown[0]}' (runs are named by run_id, or 'row K')",
                             source=source)
        mask = np.isin(labels, wanted)
        parts.append(_excluded_rows(runs, mask, "excluded by the user (--exclude)"))
        runs = runs.subset(~mask, note=f"excluded {int(mask.sum())} run(s) by name")
    held_out = runs.held_out_runs()
    runs = runs.fitted()
    if drop_highest:
        dropped = runs.drop_highest_loss(drop_highest)  # refuses dropping every run
        parts.append(_excluded_rows(runs, runs.highest_loss(drop_highest),
                                    f"one of the {drop_highest} highest-loss runs (--drop-highest)"))
        runs = dropped
    parts = [p for p in parts if len(p)]
    excluded = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=EXCLUDED_COLUMNS)
    return ReportInput(runs=runs, excluded=excluded, source=source, history=history, task_info=task_info,
                       held_out=held_out)
