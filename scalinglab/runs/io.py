"""Loading and validating Runs tables from CSV, Parquet, JSON/JSONL files or DataFrames."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.runs.columns import ALIASES, resolve_columns
from scalinglab.runs.table import BOOLEAN_OPTIONAL, FLOPS_PER_PARAM_TOKEN, NUMERIC_OPTIONAL, Runs

__all__ = ["ALIASES", "load_runs", "read_table", "runs_from_frame"]
_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SNIFF_BYTES = 1 << 16  # enough lines to tell the separator; files are read whole only by pandas


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet, JSON (records, columns, or {"runs": [...]}) or JSONL file into a DataFrame."""
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", source=str(p))
    if p.is_dir():
        raise InputError("is a directory, expected a CSV, Parquet or JSON file of runs", source=str(p))
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            # a .tsv whose header holds no tab (saved comma- or semicolon-separated) is sniffed like a .csv
            tab = suffix == ".tsv" and "\t" in (_head(p).splitlines() or [""])[0]
            sep = "\t" if tab else _delimiter(p)
            header = next(csv.reader(io.StringIO(_head(p)), delimiter=sep), [])
            dup = sorted({h for h in header if header.count(h) > 1})
            if dup:  # pandas would rename the second one 'N.1' and the message would blame a missing column
                raise InputError(f"duplicated column '{dup[0]}' in the header; rename or drop one", source=str(p))
            return pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
        if suffix == ".jsonl":
            return pd.DataFrame([json.loads(line) for line in p.read_text().splitlines() if line.strip()])
        if suffix == ".json":
            data = json.loads(p.read_text())
            if isinstance(data, dict) and "runs" in data:
                data = data["runs"]
            return pd.DataFrame(data)
    except InputError:
        raise
    except (ValueError, TypeError, OSError, UnicodeDecodeError, pd.errors.ParserError, csv.Error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read: {first}", source=str(p)) from None
    except Exception as exc:  # pyarrow raises its own error types for corrupt Parquet files
        raise InputError(f"cannot read: {type(exc).__name__}", source=str(p)) from None
    raise InputError(f"unknown file type '{suffix}' (expected .csv, .tsv, .parquet, .json or .jsonl)", source=str(p))


def _head(p: Path) -> str:
    """The first lines of a text table (whole lines only), BOM removed."""
    with open(p, "rb") as f:
        raw = f.read(_SNIFF_BYTES + 1)
    if len(raw) > _SNIFF_BYTES:
        raw = raw[:_SNIFF_BYTES].rsplit(b"\n", 1)[0]
    return raw.decode("utf-8-sig", errors="replace")


def _delimiter(p: Path) -> str:
    """The column separator of a .csv/.txt file: the one of comma, semicolon, tab, pipe that splits every sampled
    line into the same number (> 1) of fields; comma when that is one of them or when none is (a one-column file)."""
    lines = [line for line in _head(p).splitlines() if line.strip()][:50]
    fits = []
    for sep in _DELIMITERS:
        counts = {len(row) for row in csv.reader(lines, delimiter=sep)}
        if len(counts) == 1 and counts.pop() > 1:
            fits.append(sep)
    if not fits:
        _refuse_ragged(lines, p)
        return ","
    if "," in fits:
        return ","
    if len(fits) == 1:
        return fits[0]
    names = " and ".join(_DELIMITERS[f] for f in fits)
    raise InputError(f"cannot tell the column separator: the lines split evenly on {names}; save the table "
                     "comma-separated as .csv or tab-separated as .tsv", source=str(p))


def _refuse_ragged(lines: list[str], p: Path) -> None:
    """A header split by semicolons, tabs or pipes (and not commas) whose rows do not split the same way: say so,
    instead of reading the file as one column."""
    for sep, name in _DELIMITERS.items():
        counts = [len(row) for row in csv.reader(lines, delimiter=sep)]
        if sep == "," or not counts or counts[0] < 2 or "," in lines[0]:
            continue
        k = next(i for i, c in enumerate(counts) if c != counts[0])
        raise InputError(f"the header is {name}-separated ({counts[0]} columns) but line {k + 1} has {counts[k]} "
                         "fields; save the table comma-separated as .csv or tab-separated as .tsv", source=str(p))


MAX_LOSS = 1e30  # far above any per-token loss; beyond it L² and the fits' Hessians overflow


def _numeric(df: pd.DataFrame, col: str, canon: str, rows: np.ndarray, source: str, *, positive: bool) -> np.ndarray:
    values = df[col].to_numpy()
    out = np.empty(len(values), dtype=float)
    for i, v in enumerate(values):
        try:
            x = float(v.strip()) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            shown = "an empty cell" if (isinstance(v, str) and not v.strip()) or v is None else f"'{v}'"
            raise InputError(f"{canon} must be a number, found {shown}", source=source, row=int(rows[i]),
                             column=str(col)) from None
        if isinstance(v, bool) or not math.isfinite(x):
            raise InputError(f"{canon} must be a finite number, found {v!r}", source=source, row=int(rows[i]),
                             column=str(col))
        if positive and x <= 0:
            raise InputError(f"{canon} must be > 0, found {v!r}", source=source, row=int(rows[i]), column=str(col))
        if canon == "loss" and x > MAX_LOSS:
            raise InputError(f"loss must be at most {MAX_LOSS:g} (nats or bits per token; a perplexity? give its log), "
                             f"found {v!r}", source=source, row=int(rows[i]), column=str(col))
        out[i] = x
    return out


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def _boolean(df: pd.DataFrame, col: str, canon: str, rows: np.ndarray, source: str) -> np.ndarray:
    """A yes/no column: true/false, 1/0, yes/no (any case), or a boolean or 0/1 number; an empty cell is false."""
    values = df[col].to_numpy()
    out = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v is None or isinstance(v, (bool, np.bool_)):
            out[i] = bool(v)
            continue
        if isinstance(v, (int, float, np.integer, np.floating)):
            if v != v or v in (0, 1):   # NaN: a cell a JSON record left out
                out[i] = v == 1
                continue
        elif isinstance(v, str) and v.strip().lower() in _TRUE + _FALSE:
            out[i] = v.strip().lower() in _TRUE
            continue
        shown = repr(v) if isinstance(v, str) else str(v)
        raise InputError(f"{canon} must be true/false, 1/0 or yes/no (empty: false), found {shown}", source=source,
                         row=int(rows[i]), column=str(col))
    return out


def runs_from_frame(df: pd.DataFrame, source: str = "<table>", curves: pd.DataFrame | None = None,
                    columns: dict | None = None) -> Runs:
    """Validate a DataFrame of runs at the boundary and return a canonical ``Runs`` table.

    ``columns`` maps quantities to the table's columns explicitly (see ``scalinglab.runs.columns``); every column
    that is neither mapped nor recognised is kept as metadata (``Runs.meta``)."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a table of runs, got {type(df).__name__}", source=source)
    if len(df) == 0:
        raise InputError("no runs (the table is empty)", source=source)
    mapping, notes = resolve_columns(df, source, columns)
    rows = np.arange(1, len(df) + 1)
    if "loss" not in mapping:
        raise InputError(f"missing column 'loss' (columns found: {', '.join(map(str, df.columns))}; map one with "
                         "--columns loss=COLUMN)", source=source)
    size_cols = [c for c in ("n_params", "n_tokens", "flops") if c in mapping]
    if len(size_cols) < 2:
        absent = [c for c in ("n_params", "n_tokens", "flops") if c not in mapping]
        raise InputError(f"need two of n_params (N), n_tokens (D), flops (C); missing {' and '.join(absent)}",
                         source=source)
    out = pd.DataFrame({"row": rows})
    for canon in ("n_params", "n_tokens", "flops", "loss"):
        if canon in mapping:
            out[canon] = _numeric(df, mapping[canon], canon, rows, source, positive=True)
    notes.insert(0, _derive(out, mapping, source))
    for canon in NUMERIC_OPTIONAL:
        if canon in mapping:
            out[canon] = _numeric(df, mapping[canon], canon, rows, source, positive=canon != "seed")
    for canon in BOOLEAN_OPTIONAL:
        if canon in mapping:
            out[canon] = _boolean(df, mapping[canon], canon, rows, source)
    if "run_id" in mapping:
        out["run_id"] = df[mapping["run_id"]].astype(str).to_numpy()
        dup = out["run_id"].duplicated(keep="first").to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise InputError(f"duplicated run id '{out['run_id'].iloc[i]}'", source=source, row=int(rows[i]),
                             column=str(mapping["run_id"]))
    meta = _metadata(df, out, set(mapping.values()), notes)
    _refuse_duplicates(out, meta, source)
    frame = pd.concat([out, meta], axis=1).reset_index(drop=True)
    return Runs(frame=frame, source=source, notes=tuple(n for n in notes if n), meta_columns=tuple(meta.columns),
                source_columns=tuple((canon, str(col)) for canon, col in mapping.items()),
                curves=None if curves is None else _validate_curves(curves, frame, source))


def _derive(out: pd.DataFrame, mapping: dict, source: str) -> str | None:
    """Fill in the missing one of N, D, C from C = 6·N·D; a derived value that is not a finite number > 0 (C of
    N = D = 1e308 overflows to inf) is refused like a given one. Returns the note saying what was derived."""
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        if "n_tokens" not in mapping:
            canon, note = "n_tokens", "n_tokens derived as D = C / (6·N)"
            out[canon] = out["flops"] / (FLOPS_PER_PARAM_TOKEN * out["n_params"])
        elif "n_params" not in mapping:
            canon, note = "n_params", "n_params derived as N = C / (6·D)"
            out[canon] = out["flops"] / (FLOPS_PER_PARAM_TOKEN * out["n_tokens"])
        elif "flops" not in mapping:
            canon, note = "flops", "flops derived as C = 6·N·D"
            out[canon] = FLOPS_PER_PARAM_TOKEN * out["n_params"] * out["n_tokens"]
        else:
            return None
    values = out[canon].to_numpy(float)
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        given = ", ".join(f"{mapping[c]}={out[c].iloc[i]:.6g}" for c in ("n_params", "n_tokens", "flops")
                          if c in mapping)
        raise InputError(f"{note.split(' as ')[1]} gives {values[i]:.6g} from {given}: not a finite number > 0 "
                         "(the values are out of range for a training run)", source=source, row=int(out["row"].iloc[i]),
                         column=canon)
    return note


def _metadata(df: pd.DataFrame, out: pd.DataFrame, used: set, notes: list) -> pd.DataFrame:
    """Every column not read as a quantity, under its own name; one named like a canonical column (a second 'loss'
    beside ``--columns loss=eval/c4/loss``) is kept as 'meta:NAME'."""
    meta = {}
    for c in df.columns:
        if c in used:
            continue
        name = c
        if c in out.columns or c in ALIASES:
            name = f"meta:{c}"
            notes.append(f"column '{c}' kept as metadata '{name}'")
        meta[name] = _numbers_if_all(df[c])
    return pd.DataFrame(meta, index=out.index)


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _numbers_if_all(col: pd.Series) -> np.ndarray:
    """A metadata column read from text comes back as numbers when every non-empty cell is a plain decimal number
    (a ladder's ``branch_tokens`` or ``lr``; empty cells become NaN); labels stay text, and so does a column with a
    zero-padded code such as '007', which a number would lose."""
    values = col.to_numpy()
    if not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
        return values
    text = [v.strip() if isinstance(v, str) else v for v in values]
    if not all(isinstance(v, str) for v in text):
        return values
    filled = [v for v in text if v != ""]
    if not filled or not all(_NUMBER.match(v) and not re.match(r"^[+-]?0\d", v) for v in filled):
        return values
    return np.array([float(v) if v != "" else np.nan for v in text])


def _refuse_duplicates(out: pd.DataFrame, meta: pd.DataFrame, source: str) -> None:
    """A run pasted twice: equal in every quantity and every metadata column (configurations differing only in a
    metadata column are distinct runs)."""
    key = [c for c in ("n_params", "n_tokens", "flops", "loss", "unique_tokens", "seed", "run_id") if c in out]
    table = pd.concat([out[key], meta.astype(str)], axis=1)
    dup = table.duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(out["row"][table.eq(table.iloc[i]).all(axis=1)].iloc[0])
        raise InputError(f"duplicated run (same N, D, C and loss as row {first})", source=source,
                         row=int(out["row"].iloc[i]))


def _validate_curves(curves: pd.DataFrame, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    src = f"{source} (curves)"
    mapping, _notes = resolve_columns(curves, src, check_weak=False)
    for need in ("run_id", "n_tokens", "loss"):
        if need not in mapping:
            raise InputError(f"loss curves need columns run_id, n_tokens, loss; missing {need}", source=src)
    if "run_id" not in frame:
        raise InputError("loss curves given but the runs table has no run_id column to match them", source=source)
    rows = np.arange(1, len(curves) + 1)
    out = pd.DataFrame({
        "run_id": curves[mapping["run_id"]].astype(str).to_numpy(),
        "n_tokens": _numeric(curves, mapping["n_tokens"], "n_tokens", rows, src, positive=True),
        "loss": _numeric(curves, mapping["loss"], "loss", rows, src, positive=True),
    })
    unknown = ~out["run_id"].isin(frame["run_id"])
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(f"curve point for unknown run id '{out['run_id'].iloc[i]}'", source=src, row=i + 1,
                         column=str(mapping["run_id"]))
    return out.sort_values(["run_id", "n_tokens"], kind="stable").reset_index(drop=True)


def load_runs(path_or_frame, *, curves=None, source: str | None = None, columns: dict | None = None) -> Runs:
    """Load runs from a file path or DataFrame; ``curves`` (path or DataFrame) adds per-run loss curves; ``columns``
    maps quantities to columns explicitly, e.g. ``{"N": "params", "loss": "eval/c4/loss"}``."""
    if isinstance(path_or_frame, Runs):
        return path_or_frame
    if isinstance(path_or_frame, pd.DataFrame):
        df, src = path_or_frame, source or "<table>"
    else:
        df, src = read_table(path_or_frame), source or str(path_or_frame)
    curve_df = curves if curves is None or isinstance(curves, pd.DataFrame) else read_table(curves)
    return runs_from_frame(df, src, curve_df, columns=columns)
