"""Eval histories: per run and evaluation step, the tokens seen and each metric's value — the task-law contract.

One loader, ``load_history``, reads Weights & Biases history exports (one row per evaluation, one column per metric,
e.g. the OLMo ladder's ``throughput/total_tokens``, ``eval/downstream_bpb/<task>_rc_5shot_bpb``), JSON/JSONL of the
same shape, and long tables (``run_id, tokens, metric, value``). Metric names map to (task, kind) by patterns: kind
``task_loss`` (bits per byte of the correct answer), ``accuracy`` (in [0, 1]) or ``lm_loss``; several metrics
mapped to one task and kind at one row are averaged (MMLU's four subject groups). N per run comes from a column, a
side file (CSV ``run_id,N``, or the OLMo ladder's ``final.json`` with ``paths`` and ``n`` per size, matched by file
name) or one value for all. Everything is validated here; errors name file, row (1-based, header excluded), column.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.runs.columns import ALIASES, WEAK_ALIASES, norm as _norm
from scalinglab.runs.io import read_table

KINDS = ("task_loss", "accuracy", "lm_loss")
SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".pq")


@dataclass(frozen=True)
class MetricPattern:
    """A metric name (full regex match) → (task, kind). ``task`` None takes the regex's ``(?P<task>…)`` group;
    ``weight`` weighs this metric when several are averaged into one task (default 1)."""

    regex: str
    kind: str
    task: str | None = None
    weight: float = 1.0

    def match(self, metric: str) -> str | None:
        m = re.fullmatch(self.regex, metric)
        if m is None:
            return None
        return self.task if self.task is not None else (m.groupdict().get("task") or m.group(0))


def _olmo_patterns() -> tuple[MetricPattern, ...]:
    # The splits Bhagia et al. 2024 (arXiv:2412.04403) report (their "v2_main" set): ARC and OpenBookQA test, the
    # rest val; MMLU = the four test subject groups weighted by question count (STEM 3,018, humanities 4,705,
    # social sciences 3,077, other 3,242 of 14,042 test questions).
    splits = {"hellaswag": "val", "arc_easy": "test", "arc_challenge": "test", "piqa": "val", "csqa": "val",
              "socialiqa": "val", "openbookqa": "test", "boolq": "val", "winogrande": "val"}
    out = []
    for task, split in splits.items():
        out.append(MetricPattern(rf"eval/downstream_bpb/{task}_{split}_rc_5shot_bpb", "task_loss", task))
        out.append(MetricPattern(rf"eval/downstream/{task}_{split}_rc_5shot_(?:len_norm|acc)", "accuracy", task))
    for group, weight in (("stem", 0.215), ("humanities", 0.335), ("social_sciences", 0.219), ("other", 0.231)):
        out.append(MetricPattern(rf"eval/downstream_bpb/mmlu_{group}_test_rc_5shot_bpb", "task_loss", "mmlu", weight))
        out.append(MetricPattern(rf"eval/downstream/mmlu_{group}_test_rc_5shot_len_norm", "accuracy", "mmlu", weight))
    out.append(MetricPattern(r"eval/(?P<task>[^/]+)-validation/CrossEntropyLoss", "lm_loss"))
    return tuple(out)


OLMO_PATTERNS = _olmo_patterns()
# Plain names for histories written by hand or by our own ladder: "<task>/task_loss", "<task>/accuracy", "lm_loss".
GENERIC_PATTERNS = (
    MetricPattern(r"(?P<task>.+)/(?:task_loss|bpb)", "task_loss"),
    MetricPattern(r"(?P<task>.+)/(?:accuracy|acc)", "accuracy"),
    MetricPattern(r"(?P<task>.+)/lm_loss|lm_loss", "lm_loss"),
)
DEFAULT_PATTERNS = OLMO_PATTERNS + GENERIC_PATTERNS

_TOKENS = {_norm(a) for a in ALIASES["n_tokens"]} | {"throughput/totaltokens", "totaltokens", "tokensseen"}
# In a history, "size", "run", "name" and "id" can only mean N and the run's id (the Runs table treats them as weak).
_PARAMS = {_norm(a) for a in ALIASES["n_params"] + WEAK_ALIASES.get("n_params", ())}
_RUN = {_norm(a) for a in ALIASES["run_id"] + WEAK_ALIASES.get("run_id", ())}
_STEP = {"step", "globalstep", "iteration", "iter"}  # "_step" normalises to "step"


def parse_pattern(text: str) -> MetricPattern:
    """``KIND=REGEX`` or ``KIND:TASK=REGEX`` (the CLI's ``--metric``)."""
    head, sep, regex = text.partition("=")
    kind, _, task = head.partition(":")
    if not sep or not regex:
        raise InputError(f"metric pattern '{text}' must read KIND=REGEX or KIND:TASK=REGEX")
    pattern = MetricPattern(regex, kind.strip(), task.strip() or None)
    _check_pattern(pattern)
    return pattern


def _check_pattern(p: MetricPattern) -> None:
    if p.kind not in KINDS:
        raise InputError(f"metric pattern '{p.regex}': unknown kind '{p.kind}' (choose {', '.join(KINDS)})")
    try:
        re.compile(p.regex)
    except re.error as exc:
        raise InputError(f"metric pattern '{p.regex}' is not a valid regular expression: {exc}") from None


@dataclass(frozen=True)
class EvalHistory:
    """Long table, one row per (run, evaluation, task, kind): run_id, n_params, n_tokens, task, kind, value,
    plus source (file) and row (1-based row of that file) for messages that point back to the user's data."""

    frame: pd.DataFrame
    sources: tuple[str, ...] = ()

    @property
    def run_ids(self) -> list[str]:
        return list(dict.fromkeys(self.frame["run_id"]))

    def tasks(self, kind: str = "accuracy") -> list[str]:
        return list(dict.fromkeys(self.frame.loc[self.frame["kind"] == kind, "task"]))

    def series(self, task: str, kind: str) -> pd.DataFrame:
        """run_id, n_params, n_tokens, value of one task and kind, each run in token order."""
        sel = self.frame[(self.frame["task"] == task) & (self.frame["kind"] == kind)]
        if sel.empty:
            raise InputError(f"no {kind} values for task '{task}' (tasks: {', '.join(self.tasks(kind)) or 'none'})")
        return sel.sort_values(["run_id", "n_tokens"], kind="stable").reset_index(drop=True)

    def subset(self, run_ids) -> "EvalHistory":
        keep = set(run_ids)
        return EvalHistory(self.frame[self.frame["run_id"].isin(keep)].reset_index(drop=True), self.sources)

    def to_long(self) -> pd.DataFrame:
        return self.frame[["run_id", "n_params", "n_tokens", "task", "kind", "value"]].copy()


def history_files(paths) -> list[Path]:
    """Files named, and the history files (by suffix, sorted) inside folders named."""
    out: list[Path] = []
    for p in [paths] if isinstance(paths, (str, Path)) else paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in SUFFIXES and f.is_file())
            if not found:
                raise InputError(f"no history files ({', '.join(SUFFIXES)}) in the folder", source=str(p))
            out.extend(found)
        elif p.exists():
            out.append(p)
        else:
            raise InputError("file not found", source=str(p))
    if not out:
        raise InputError("no eval history files given")
    return out


def load_params_file(path) -> dict[str, float]:
    """N per run from a CSV/JSON table with run_id and N columns, or an OLMo-ladder ``final.json``
    ({size: {"paths": [...], "n": N}}, keyed here by each path's file stem)."""
    p = Path(path)
    if p.suffix.lower() == ".json" and p.exists():
        try:
            data = json.loads(p.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read: {exc}", source=str(p)) from None
        if isinstance(data, dict) and data and all(isinstance(v, dict) and "paths" in v for v in data.values()):
            out = {}
            for size, entry in data.items():
                n = entry.get("n")
                if not isinstance(n, (int, float)) or isinstance(n, bool) or not n > 0:
                    raise InputError(f"size '{size}': 'n' must be a number > 0, found {n!r}", source=str(p))
                for run_path in entry["paths"]:
                    out[Path(str(run_path)).stem] = float(n)
            return out
    df = read_table(p)
    cols = {_norm(c): c for c in df.columns}
    run_col = next((cols[c] for c in cols if c in _RUN), None)
    n_col = next((cols[c] for c in cols if c in _PARAMS), None)
    if run_col is None or n_col is None:
        raise InputError(f"a params file needs columns run_id and N (found {', '.join(map(str, df.columns))})",
                         source=str(p))
    values = _numbers(df[n_col], str(p), str(n_col))
    for i, v in enumerate(values):
        if not v > 0:
            raise InputError(f"N must be a number > 0, found {df[n_col].iloc[i]!r}", source=str(p), row=i + 1,
                             column=str(n_col))
    return dict(zip(df[run_col].astype(str), values))


def _numbers(col: pd.Series, source: str, column: str) -> np.ndarray:
    """Numeric values; empty cells become NaN, anything else that is not a number is an error naming its row."""
    num = pd.to_numeric(col, errors="coerce").to_numpy(float)
    nan = np.isnan(num)
    if nan.any():
        text = col[nan].astype(str).str.strip().str.lower()
        bad = ~text.isin(["", "nan", "none", "null"]).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(nan)[np.flatnonzero(bad)[0]])
            raise InputError(f"expected a number, found {col.iloc[i]!r}", source=source, row=i + 1, column=column)
    if np.isinf(num).any():
        i = int(np.flatnonzero(np.isinf(num))[0])
        raise InputError(f"expected a finite number, found {col.iloc[i]!r}", source=source, row=i + 1, column=column)
    return num


def _find(df: pd.DataFrame, names: set[str]) -> str | None:
    return next((c for c in df.columns if _norm(c) in names), None)


def _map_metrics(names, patterns, used: set[int]) -> dict[str, tuple[str, str, float]]:
    mapped = {}
    for name in names:
        for i, p in enumerate(patterns):
            task = p.match(str(name))
            if task is not None:
                mapped[name] = (task, p.kind, p.weight)
                used.add(i)
                break
    return mapped


def _no_match(names, source: str, patterns) -> InputError:
    shown = ", ".join(map(str, list(names)[:6])) + ("…" if len(names) > 6 else "")
    if len(patterns) == 1:
        return InputError(f"metric pattern '{patterns[0].regex}' matches no metric (metrics: {shown})", source=source)
    return InputError(f"no metric matches a pattern (metrics: {shown})", source=source)


def _wide_rows(df: pd.DataFrame, source: str, patterns, used: set[int]) -> pd.DataFrame:
    """A W&B-style table (one column per metric) as long rows, only for the metrics the patterns map."""
    tok = _find(df, _TOKENS)
    if tok is None:
        shown = ", ".join(map(str, df.columns[:8])) + ("…" if len(df.columns) > 8 else "")
        raise InputError(f"no tokens column (expected one of throughput/total_tokens, tokens, n_tokens, D; found "
                         f"{shown})", source=source)
    run, par = _find(df, _RUN), _find(df, _PARAMS)
    keep = {tok, par, run, _find(df, _STEP)} - {None}
    mapped = _map_metrics([c for c in df.columns if c not in keep], patterns, used)
    if not mapped:
        raise _no_match([c for c in df.columns if c not in keep], source, patterns)
    n_rows, cols = len(df), list(mapped)
    values = np.column_stack([_numbers(df[c], source, str(c)) for c in cols])  # [rows, metrics]
    return pd.DataFrame({
        "row": np.repeat(np.arange(1, n_rows + 1), len(cols)),
        "tokens": np.repeat(df[tok].to_numpy(object), len(cols)), "tokens_col": tok,
        "n_params": np.repeat(df[par].to_numpy(object), len(cols)) if par else np.nan, "n_col": par or "N",
        "run_id": np.repeat(df[run].astype(str).to_numpy(), len(cols)) if run else Path(source).stem,
        "metric": np.tile(np.array(cols, dtype=object), n_rows), "value": values.ravel(),
        "value_col": np.tile(np.array(cols, dtype=object), n_rows),
        "task": np.tile([mapped[c][0] for c in cols], n_rows), "kind": np.tile([mapped[c][1] for c in cols], n_rows),
        "weight": np.tile([mapped[c][2] for c in cols], n_rows),
    })


def _long_rows(df: pd.DataFrame, source: str, patterns, used: set[int]) -> pd.DataFrame:
    for need in ("metric", "value"):
        if _find(df, {need}) is None:
            raise InputError(f"a long history needs columns run_id, tokens, metric, value; missing {need}",
                             source=source)
    tok = _find(df, _TOKENS)
    if tok is None:
        raise InputError("a long history needs a tokens column (tokens, n_tokens or D)", source=source)
    run, par, val = _find(df, _RUN), _find(df, _PARAMS), _find(df, {"value"})
    metric = df[_find(df, {"metric"})].astype(str).to_numpy()
    names = list(dict.fromkeys(metric))
    mapped = _map_metrics(names, patterns, used)
    if not mapped:
        raise _no_match(names, source, patterns)
    out = pd.DataFrame({
        "row": np.arange(1, len(df) + 1), "tokens": df[tok].to_numpy(object), "tokens_col": tok,
        "n_params": df[par].to_numpy(object) if par else np.nan, "n_col": par or "N",
        "run_id": df[run].astype(str).to_numpy() if run else Path(source).stem,
        "metric": metric, "value": _numbers(df[val], source, str(val)), "value_col": str(val),
    })
    out = out[out["metric"].isin(list(mapped))].reset_index(drop=True)
    return out.assign(task=[mapped[m][0] for m in out["metric"]], kind=[mapped[m][1] for m in out["metric"]],
                      weight=[mapped[m][2] for m in out["metric"]])


def _read_one(path: Path, patterns, used: set[int]) -> pd.DataFrame:
    return _rows(read_table(path), str(path), patterns, used)


def _rows(df: pd.DataFrame, source: str, patterns, used: set[int]) -> pd.DataFrame:
    if len(df) == 0:
        raise InputError("no rows (the history is empty)", source=source)
    is_long = _find(df, {"metric"}) is not None
    long = _long_rows(df, source, patterns, used) if is_long else _wide_rows(df, source, patterns, used)
    tokens = _numbers(long["tokens"], source, "")
    if np.isnan(tokens).any() or (tokens <= 0).any():
        i = int(np.flatnonzero(np.isnan(tokens) | (tokens <= 0))[0])
        raise InputError(f"tokens must be a number > 0, found {long['tokens'].iloc[i]!r}", source=source,
                         row=int(long["row"].iloc[i]), column=str(long["tokens_col"].iloc[0]))
    long = long.assign(n_tokens=tokens, source=source)
    long = long[np.isfinite(long["value"].to_numpy(float))]
    _check_ranges(long, source)
    return long


def _check_ranges(long: pd.DataFrame, source: str) -> None:
    acc = long[(long["kind"] == "accuracy") & ((long["value"] < 0) | (long["value"] > 1))]
    if len(acc):
        r = acc.iloc[0]
        raise InputError(f"accuracy must lie in [0, 1], found {r['value']:g}", source=source, row=int(r["row"]),
                         column=str(r["value_col"]))
    loss = long[(long["kind"] != "accuracy") & (long["value"] <= 0)]
    if len(loss):
        r = loss.iloc[0]
        raise InputError(f"{r['kind']} must be > 0, found {r['value']:g}", source=source, row=int(r["row"]),
                         column=str(r["value_col"]))


def load_history(paths, *, params_file=None, n_params: float | None = None, patterns=None) -> EvalHistory:
    """Load eval histories from files and/or folders (see the module docstring). ``patterns`` (``MetricPattern``s
    or ``KIND[:TASK]=REGEX`` strings) replace the built-in OLMo and generic names; each must match some metric."""
    files = history_files(paths)
    custom = patterns is not None
    pats = tuple(p if isinstance(p, MetricPattern) else parse_pattern(p) for p in (patterns or DEFAULT_PATTERNS))
    for p in pats:
        _check_pattern(p)
    side = load_params_file(params_file) if params_file is not None else {}
    used: set[int] = set()
    frames = [_read_one(f, pats, used) for f in files]
    if custom:
        unused = [p.regex for i, p in enumerate(pats) if i not in used]
        if unused:
            where = str(files[0]) if len(files) == 1 else f"{len(files)} files ({files[0]}, …)"
            raise InputError(f"metric pattern '{unused[0]}' matches no metric in {where}")
    return _combine(frames, tuple(map(str, files)), side, n_params)


def history_from_long(df: pd.DataFrame, *, source: str = "table") -> EvalHistory:
    """An eval history from a long table in memory (run_id, N, tokens, metric, value; generic metric names
    ``<task>/task_loss``, ``<task>/accuracy``), validated as ``load_history`` validates a file."""
    return _combine([_rows(df, source, GENERIC_PATTERNS, set())], (source,), {}, None)


def _combine(frames, sources: tuple[str, ...], side: dict[str, float], n_params: float | None) -> EvalHistory:
    long = pd.concat(frames, ignore_index=True)
    long["n_params"] = _assign_n(long, side, n_params)
    # Several metrics mapped to one (task, kind) at one evaluation (a run at one token count, whether in one wide
    # row or several long rows): their weighted mean (MMLU's subject groups); messages keep the first row.
    long["wv"] = long["weight"] * long["value"]
    keys = ["source", "run_id", "n_params", "n_tokens", "task", "kind"]
    agg = long.groupby(keys, sort=False, as_index=False).agg(wv=("wv", "sum"), weight=("weight", "sum"),
                                                             row=("row", "min"))
    agg["value"] = agg["wv"] / agg["weight"]
    frame = agg[["run_id", "n_params", "n_tokens", "task", "kind", "value", "source", "row"]]
    _check_runs(frame)
    return EvalHistory(frame=frame.reset_index(drop=True), sources=sources)


def _assign_n(long: pd.DataFrame, side: dict[str, float], n_params: float | None) -> np.ndarray:
    col = pd.to_numeric(long["n_params"], errors="coerce").to_numpy(float)
    bad = ~np.isnan(col) & ~(col > 0) | (long["n_params"].notna() & np.isnan(col)
                                        & ~long["n_params"].astype(str).str.strip().isin(["", "nan"]))
    if bad.any():
        r = long[bad].iloc[0]
        raise InputError(f"N must be a number > 0, found {r['n_params']!r}", source=r["source"], row=int(r["row"]),
                         column=str(r["n_col"]))
    out = col.copy()
    missing = np.isnan(out)
    if missing.any():
        out[missing] = long.loc[missing, "run_id"].map(side).to_numpy(float)
    missing = np.isnan(out)
    if missing.any() and n_params is not None:
        if not (isinstance(n_params, (int, float)) and n_params > 0):
            raise InputError(f"N must be a number > 0, got {n_params!r}")
        out[missing] = float(n_params)
    missing = np.isnan(out)
    if missing.any():
        r = long[missing].iloc[0]
        raise InputError(f"run '{r['run_id']}' has no N: add an N column, a params file (run_id,N or final.json) "
                         f"or one N for all runs", source=r["source"], row=int(r["row"]), column=str(r["n_col"]))
    return out


def _check_runs(frame: pd.DataFrame) -> None:
    n_per_run = frame.groupby("run_id")["n_params"].nunique()
    if (n_per_run > 1).any():
        run = n_per_run.index[np.flatnonzero((n_per_run > 1).to_numpy())[0]]
        r = frame[frame["run_id"] == run].iloc[0]
        raise InputError(f"run '{run}' has more than one N", source=r["source"])
    src_per_run = frame.groupby("run_id")["source"].nunique()
    if (src_per_run > 1).any():
        run = src_per_run.index[np.flatnonzero((src_per_run > 1).to_numpy())[0]]
        raise InputError(f"run id '{run}' appears in more than one file; give each run its own id")
