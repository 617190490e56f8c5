"""The run store: one SQLite file per ladder directory holding every run's config, status, curve and metrics.

Why SQLite: a ladder is interrupted (Ctrl-C, a killed worker, a power cut) and re-run many times; every change is a
transaction in write-ahead-log mode with ``synchronous=FULL``, so a process killed at any instant leaves either the
old or the new state on disk, never a torn one. Only the executor's parent process writes; workers report over a
pipe, so killing a worker cannot touch the file at all.

Run life cycle: ``pending`` → ``running`` → ``done`` | ``interrupted`` | ``failed``. A run left ``running`` by a
process that died is ``interrupted`` on the next open by an executor (``recover``); interrupted runs resume from
their checkpoint.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scalinglab.errors import InputError

if TYPE_CHECKING:  # pandas is imported where a frame is built: worker processes never need it
    import pandas as pd

STORE_NAME = "ladder.sqlite"
STATUSES = ("pending", "running", "interrupted", "done", "failed")
METRICS = ("n_params", "n_params_non_embedding", "n_tokens", "flops_6n", "flops_full", "final_loss", "final_bpb",
           "tokens_per_s", "mfu", "wall_seconds")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    spec TEXT NOT NULL,             -- JSON: the design row (shape, planned N, D, FLOPs, group)
    config TEXT NOT NULL,           -- JSON: the full training config, enough to reproduce the run
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'interrupted', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    n_params REAL, n_params_non_embedding REAL, n_tokens REAL, flops_6n REAL, flops_full REAL,
    final_loss REAL, final_bpb REAL, tokens_per_s REAL, mfu REAL, wall_seconds REAL,
    error TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS curves (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    n_tokens REAL NOT NULL,
    loss REAL NOT NULL,
    bpb REAL,
    PRIMARY KEY (run_id, n_tokens)
);
CREATE TABLE IF NOT EXISTS task_evals (   -- the task suite at each evaluation (scalinglab.train.evals)
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    n_tokens REAL NOT NULL,
    task TEXT NOT NULL,
    task_loss REAL,                 -- bits per byte of the correct choice
    accuracy REAL,
    chance REAL,                    -- accuracy of guessing
    n_items INTEGER,
    PRIMARY KEY (run_id, n_tokens, task)
);
"""


# Lineage of WSD cooldown branches (scalinglab.ladder.wsd): the stable run a branch was forked from and the tokens
# it had trained then. Added after the first stores were written; ``_add_lineage_columns`` migrates old ones.
LINEAGE_COLUMNS = (("parent", "TEXT"), ("branch_tokens", "REAL"))


def _add_lineage_columns(db: sqlite3.Connection) -> None:
    have = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    for name, kind in LINEAGE_COLUMNS:
        if name not in have:
            db.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")


@dataclass(frozen=True)
class StoredRun:
    run_id: str
    position: int
    spec: dict
    config: dict
    status: str
    attempts: int
    metrics: dict
    error: str | None


class RunStore:
    """A ladder's SQLite store. Open with ``RunStore(ladder_dir)``; every write is one transaction."""

    def __init__(self, ladder_dir: str | Path, *, create: bool = True):
        self.dir = Path(ladder_dir)
        self.path = self.dir / STORE_NAME
        if not self.path.exists() and not create:
            raise InputError(f"no ladder here (missing {STORE_NAME}); run `scalinglab ladder run` first",
                             source=str(self.dir))
        if self.dir.exists() and not self.dir.is_dir():
            raise InputError("ladder path exists and is not a directory", source=str(self.dir))
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._transaction() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                _add_lineage_columns(db)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"not a readable ladder store ({exc})", source=str(self.path)) from None

    # --- plumbing ----------------------------------------------------------------------------------------------
    @contextmanager
    def _transaction(self):
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # --- ladder contents ---------------------------------------------------------------------------------------
    def get_meta(self, key: str, default=None):
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_meta(self, key: str, value) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def add_runs(self, runs: list[tuple[str, dict, dict]]) -> int:
        """Register ``(run_id, spec, config)`` triples; returns how many were new.

        Idempotent: a run already present with the same config is left as it is (finished runs stay finished);
        one present with a *different* config is an error, because its results would no longer match its config.
        """
        added = 0
        with self._transaction() as db:
            start = db.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM runs").fetchone()[0]
            for run_id, spec, config in runs:
                row = db.execute("SELECT config, spec FROM runs WHERE run_id = ?", (run_id,)).fetchone()
                text = json.dumps(config, sort_keys=True)
                if row is not None:
                    if row[0] != text:
                        raise InputError(f"run '{run_id}' already exists in this ladder with a different config; "
                                         "use a new ladder directory", source=str(self.dir))
                    self._mark_held_out(db, run_id, json.loads(row[1]), bool(spec.get("held_out")))
                    continue
                db.execute("INSERT INTO runs (run_id, position, spec, config, status, updated_at, parent, "
                           "branch_tokens) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
                           (run_id, start + added, json.dumps(spec, sort_keys=True), text, time.time(),
                            spec.get("parent") or None, spec.get("branch_tokens") or None))
                added += 1
        return added

    @staticmethod
    def _mark_held_out(db: sqlite3.Connection, run_id: str, stored: dict, held_out: bool) -> None:
        """A design that now holds a trained run out (or no longer does) changes only its spec: holding a run out
        decides whether it is fitted, not how it is trained, so the run keeps its results."""
        if bool(stored.get("held_out")) != held_out:
            db.execute("UPDATE runs SET spec = ? WHERE run_id = ?",
                       (json.dumps(stored | {"held_out": held_out}, sort_keys=True), run_id))

    def recover(self) -> int:
        """Mark runs left ``running`` by a dead process as ``interrupted``; call only while holding the ladder lock."""
        with self._transaction() as db:
            return db.execute("UPDATE runs SET status = 'interrupted', updated_at = ? WHERE status = 'running'",
                              (time.time(),)).rowcount

    def runs(self, status: str | tuple[str, ...] | None = None) -> list[StoredRun]:
        sql = "SELECT run_id, position, spec, config, status, attempts, error, " + ", ".join(METRICS) + " FROM runs"
        args: tuple = ()
        if status is not None:
            wanted = (status,) if isinstance(status, str) else tuple(status)
            sql += f" WHERE status IN ({', '.join('?' * len(wanted))})"
            args = wanted
        out = []
        for row in self._db.execute(sql + " ORDER BY position", args).fetchall():
            metrics = {k: v for k, v in zip(METRICS, row[7:]) if v is not None}
            out.append(StoredRun(row[0], row[1], json.loads(row[2]), json.loads(row[3]), row[4], row[5], metrics,
                                 row[6]))
        return out

    def lineage(self) -> dict[str, tuple[str, float]]:
        """``run_id → (parent run_id, branch point in tokens)`` for every cooldown branch in the ladder."""
        rows = self._db.execute("SELECT run_id, parent, branch_tokens FROM runs WHERE parent IS NOT NULL")
        return {run_id: (parent, float(tokens or 0.0)) for run_id, parent, tokens in rows.fetchall()}

    def last_curve_tokens(self, run_id: str) -> float:
        """Tokens at the run's latest recorded evaluation (0 if none): where a resumed run's progress starts."""
        row = self._db.execute("SELECT MAX(n_tokens) FROM curves WHERE run_id = ?", (run_id,)).fetchone()
        return float(row[0] or 0.0)

    def counts(self) -> dict[str, int]:
        got = dict(self._db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())
        return {s: int(got.get(s, 0)) for s in STATUSES}

    # --- run life cycle ----------------------------------------------------------------------------------------
    def mark_running(self, run_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE runs SET status = 'running', attempts = attempts + 1, error = NULL, updated_at = ? "
                       "WHERE run_id = ?", (time.time(), run_id))

    def add_curve_point(self, run_id: str, n_tokens: float, loss: float, bpb: float | None = None, *,
                        tasks: dict | None = None) -> None:
        """One evaluation: loss (and bpb), and ``tasks`` (task → {"task_loss", "accuracy"}) when the suite ran."""
        # A resumed run re-evaluates points after its last checkpoint: replace, never duplicate.
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO curves (run_id, n_tokens, loss, bpb) VALUES (?, ?, ?, ?)",
                       (run_id, float(n_tokens), float(loss), None if bpb is None else float(bpb)))
            for task, m in (tasks or {}).items():
                db.execute("INSERT OR REPLACE INTO task_evals (run_id, n_tokens, task, task_loss, accuracy, chance, "
                           "n_items) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (run_id, float(n_tokens), str(task), m.get("task_loss"), m.get("accuracy"),
                            m.get("chance"), None if m.get("n_items") is None else int(m["n_items"])))

    def finish(self, run_id: str, metrics: dict, curve: list[tuple[float, float]] | None = None) -> None:
        """Record final metrics (and optionally the full curve) and mark the run ``done``, in one transaction."""
        cols = [k for k in METRICS if metrics.get(k) is not None]
        with self._transaction() as db:
            for n_tokens, loss in curve or ():
                db.execute("INSERT OR IGNORE INTO curves (run_id, n_tokens, loss) VALUES (?, ?, ?)",
                           (run_id, float(n_tokens), float(loss)))
            sets = "".join(f", {k} = ?" for k in cols)
            db.execute(f"UPDATE runs SET status = 'done', error = NULL, updated_at = ?{sets} WHERE run_id = ?",
                       (time.time(), *(float(metrics[k]) for k in cols), run_id))

    def mark_stopped(self, run_id: str, status: str, error: str | None = None) -> None:
        if status not in ("interrupted", "failed", "pending"):
            raise ValueError(f"bad stop status {status!r}")
        with self._transaction() as db:
            db.execute("UPDATE runs SET status = ?, error = ?, updated_at = ? WHERE run_id = ?",
                       (status, None if error is None else " ".join(str(error).split())[:500], time.time(), run_id))

    def failures(self) -> list[tuple[str, str]]:
        """``(run_id, reason)`` of every failed run, in ladder order: what a rerun must report before anything else."""
        rows = self._db.execute("SELECT run_id, error FROM runs WHERE status = 'failed' ORDER BY position").fetchall()
        return [(run_id, error or "no reason recorded") for run_id, error in rows]

    def retry_failed(self) -> int:
        """Reset failed runs for another attempt; they resume from their last checkpoint, if any."""
        with self._transaction() as db:
            return db.execute("UPDATE runs SET status = 'interrupted', updated_at = ? WHERE status = 'failed'",
                              (time.time(),)).rowcount

    # --- export ------------------------------------------------------------------------------------------------
    def curves_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = self._db.execute("SELECT c.run_id, c.n_tokens, c.loss, c.bpb FROM curves c JOIN runs r "
                                "USING (run_id) WHERE r.status = 'done' ORDER BY r.position, c.n_tokens").fetchall()
        return pd.DataFrame(rows, columns=["run_id", "n_tokens", "loss", "bpb"])

    def task_evals_frame(self) -> pd.DataFrame:
        """Finished runs' task evaluations: run_id, n_params, n_tokens, task, task_loss, accuracy (empty without)."""
        import pandas as pd

        rows = self._db.execute("SELECT t.run_id, r.n_params, t.n_tokens, t.task, t.task_loss, t.accuracy FROM "
                                "task_evals t JOIN runs r USING (run_id) WHERE r.status = 'done' "
                                "ORDER BY r.position, t.task, t.n_tokens").fetchall()
        return pd.DataFrame(rows, columns=["run_id", "n_params", "n_tokens", "task", "task_loss", "accuracy"])

    def task_info(self) -> dict[str, tuple[float | None, int | None]]:
        """task → (chance, number of items) of the task suite the ladder evaluated."""
        rows = self._db.execute("SELECT task, MAX(chance), MAX(n_items) FROM task_evals GROUP BY task ORDER BY task")
        return {task: (chance, n) for task, chance, n in rows.fetchall()}

    def to_history(self):
        """The finished runs' task evaluations as an ``EvalHistory`` (None when the ladder evaluated no tasks)."""
        from scalinglab.runs.history import history_from_long

        long = self.history_frame()
        return history_from_long(long, source=str(self.path)) if len(long) else None

    def history_frame(self) -> pd.DataFrame:
        """The task evaluations as an eval history in the long shape ``runs.history.load_history`` reads:
        run_id, N, tokens, metric (``<task>/task_loss``, ``<task>/accuracy``), value."""
        import pandas as pd

        t = self.task_evals_frame()
        parts = [t.rename(columns={kind: "value"})[["run_id", "n_params", "n_tokens", "value"]]
                 .assign(metric=t["task"] + "/" + kind) for kind in ("task_loss", "accuracy")]
        long = pd.concat(parts, ignore_index=True).dropna(subset=["value"])
        long = long.sort_values(["run_id", "metric", "n_tokens"], kind="stable")
        return long.rename(columns={"n_params": "N", "n_tokens": "tokens"})[["run_id", "N", "tokens", "metric",
                                                                             "value"]].reset_index(drop=True)

    def runs_frame(self) -> pd.DataFrame:
        """Finished runs as a frame in the Runs-table vocabulary (``n_params`` is the total parameter count); a
        ``held_out`` column when the design holds any run out (stores from before it have none)."""
        import pandas as pd

        records, lineage = [], self.lineage()
        # a shared stable phase is no (N, D) point; its branches are
        points = [r for r in self.runs("done") if r.spec.get("role") != "stable"]
        held = any(r.spec.get("held_out") for r in points)
        for r in points:
            m, s = r.metrics, r.spec
            parent, branch_tokens = lineage.get(r.run_id, ("", 0.0))
            n, d = m.get("n_params", s.get("n_params")), m.get("n_tokens", s.get("n_tokens"))
            records.append({
                "run_id": r.run_id, "n_params": n, "n_tokens": d,
                "flops": 6.0 * n * d,  # C = 6·N·D, the convention the laws use; full FLOPs kept beside it
                "loss": m.get("final_loss"), "seed": s.get("seed", 0),
                "n_params_non_embedding": m.get("n_params_non_embedding"), "flops_full": m.get("flops_full"),
                "bpb": m.get("final_bpb"), "tokens_per_s": m.get("tokens_per_s"), "mfu": m.get("mfu"),
                "wall_seconds": m.get("wall_seconds"), "n_layer": s.get("n_layer"), "n_head": s.get("n_head"),
                "d_model": s.get("d_model"), "group": s.get("group", ""),
            } | ({  # a WSD ladder: represented compute above, spent here (stable phase counted once; ladder.wsd)
                "flops_spent": s.get("flops_spent") if s.get("flops_spent") is not None else m.get("flops_full"),
                "parent": parent, "branch_tokens": branch_tokens,
            } if lineage else {}) | ({"held_out": bool(s.get("held_out", False))} if held else {}))
        return pd.DataFrame.from_records(records)

    def to_runs(self):
        """The finished runs as a validated ``Runs`` table with their loss curves (for Chinchilla approach 1)."""
        from scalinglab.runs import runs_from_frame

        frame = self.runs_frame()
        if frame.empty:
            raise InputError("no finished runs in this ladder yet", source=str(self.dir))
        curves = self.curves_frame()
        curves = curves[curves["run_id"].isin(frame["run_id"])]
        return runs_from_frame(frame, source=str(self.path), curves=curves[["run_id", "n_tokens", "loss"]])

    def export(self, out_dir: str | Path, fmt: str = "csv") -> tuple[Path, Path]:
        """Write ``runs.<fmt>`` and ``curves.<fmt>`` (csv or parquet) that ``scalinglab fit`` reads directly, and
        ``history.<fmt>`` (``scalinglab tasks fit`` reads it) when the ladder evaluated the task suite."""
        if fmt not in ("csv", "parquet"):
            raise InputError(f"unknown export format '{fmt}' (expected csv or parquet)")
        runs = self.to_runs()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        runs_path, curves_path = out / f"runs.{fmt}", out / f"curves.{fmt}"
        curves = self.curves_frame()
        curves = curves[curves["run_id"].isin(runs.frame["run_id"])]  # stable phases are not rows
        history = self.history_frame()
        history = history[history["run_id"].isin(runs.frame["run_id"])]
        if fmt == "csv":
            runs.to_csv(runs_path)
            curves.to_csv(curves_path, index=False)
        else:
            runs.to_parquet(runs_path)
            curves.to_parquet(curves_path, index=False)
        if len(history):
            write = history.to_csv if fmt == "csv" else history.to_parquet
            write(out / f"history.{fmt}", index=False)
        return runs_path, curves_path
