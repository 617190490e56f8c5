"""Loading and validating Runs tables from CSV, Parquet, JSON/JSONL files or DataFrames."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.runs.table import FLOPS_PER_PARAM_TOKEN, NUMERIC_OPTIONAL, Runs

# Column names seen in the wild, compared after lower-casing and dropping spaces, '_', '-', '.' and '(…)' units.
ALIASES: dict[str, tuple[str, ...]] = {
    "n_params": ("nparams", "n", "params", "parameters", "modelsize", "numparams", "nparameters", "paramsn", "size"),
    "n_tokens": ("ntokens", "d", "tokens", "trainingtokens", "datasize", "tokensd", "numtokens", "ntrain"),
    "flops": ("flops", "c", "flop", "compute", "trainingflop", "trainingflops", "trainingcompute"),
    "loss": ("loss", "valloss", "finalloss", "evalloss", "validationloss", "lossnats", "testloss"),
    "unique_tokens": ("uniquetokens", "u", "ud", "uniquetokensu", "uniquedata"),
    "epochs": ("epochs", "nepochs", "numepochs"),
    "run_id": ("runid", "run", "runname", "name", "id"),
    "seed": ("seed",),
    "weight": ("weight",),
}
_LOOKUP = {alias: canon for canon, aliases in ALIASES.items() for alias in aliases}


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-.]|\(.*?\)|\[.*?\]", "", str(name).lower())


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
            return pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
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
    except (ValueError, TypeError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read: {first}", source=str(p)) from None
    except Exception as exc:  # pyarrow raises its own error types for corrupt Parquet files
        raise InputError(f"cannot read: {type(exc).__name__}", source=str(p)) from None
    raise InputError(f"unknown file type '{suffix}' (expected .csv, .tsv, .parquet, .json or .jsonl)", source=str(p))


def _canonical_columns(df: pd.DataFrame, source: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for col in df.columns:
        canon = _LOOKUP.get(_norm(col))
        if canon is None:
            continue
        if canon in mapping:
            raise InputError(f"columns '{mapping[canon]}' and '{col}' both mean {canon}; keep one", source=source)
        mapping[canon] = col
    return mapping


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
        out[i] = x
    return out


def runs_from_frame(df: pd.DataFrame, source: str = "<table>", curves: pd.DataFrame | None = None) -> Runs:
    """Validate a DataFrame of runs at the boundary and return a canonical ``Runs`` table."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a table of runs, got {type(df).__name__}", source=source)
    if len(df) == 0:
        raise InputError("no runs (the table is empty)", source=source)
    mapping = _canonical_columns(df, source)
    rows = np.arange(1, len(df) + 1)
    if "loss" not in mapping:
        raise InputError(f"missing column 'loss' (columns found: {', '.join(map(str, df.columns))})", source=source)
    size_cols = [c for c in ("n_params", "n_tokens", "flops") if c in mapping]
    if len(size_cols) < 2:
        absent = [c for c in ("n_params", "n_tokens", "flops") if c not in mapping]
        raise InputError(f"need two of n_params (N), n_tokens (D), flops (C); missing {' and '.join(absent)}",
                         source=source)
    out = pd.DataFrame({"row": rows})
    for canon in ("n_params", "n_tokens", "flops", "loss"):
        if canon in mapping:
            out[canon] = _numeric(df, mapping[canon], canon, rows, source, positive=True)
    notes = []
    if "n_tokens" not in mapping:
        out["n_tokens"] = out["flops"] / (FLOPS_PER_PARAM_TOKEN * out["n_params"])
        notes.append("n_tokens derived as D = C / (6·N)")
    elif "n_params" not in mapping:
        out["n_params"] = out["flops"] / (FLOPS_PER_PARAM_TOKEN * out["n_tokens"])
        notes.append("n_params derived as N = C / (6·D)")
    elif "flops" not in mapping:
        out["flops"] = FLOPS_PER_PARAM_TOKEN * out["n_params"] * out["n_tokens"]
        notes.append("flops derived as C = 6·N·D")
    for canon in NUMERIC_OPTIONAL:
        if canon in mapping:
            out[canon] = _numeric(df, mapping[canon], canon, rows, source, positive=canon != "seed")
    if "run_id" in mapping:
        out["run_id"] = df[mapping["run_id"]].astype(str).to_numpy()
        dup = out["run_id"].duplicated(keep="first").to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise InputError(f"duplicated run id '{out['run_id'].iloc[i]}'", source=source, row=int(rows[i]),
                             column=str(mapping["run_id"]))
    key = [c for c in ("n_params", "n_tokens", "flops", "loss", "unique_tokens", "seed", "run_id") if c in out]
    dup = out.duplicated(subset=key, keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(out.loc[out[key].eq(out[key].iloc[i]).all(axis=1), "row"].iloc[0])
        raise InputError(f"duplicated run (same N, D, C and loss as row {first})", source=source, row=int(rows[i]))
    used = set(mapping.values())
    for col in df.columns:
        if col not in used and col not in out.columns:
            out[col] = df[col].to_numpy()
    frame = out.reset_index(drop=True)
    return Runs(frame=frame, source=source, notes=tuple(notes),
                curves=None if curves is None else _validate_curves(curves, frame, source))


def _validate_curves(curves: pd.DataFrame, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    src = f"{source} (curves)"
    mapping = _canonical_columns(curves, src)
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


def load_runs(path_or_frame, *, curves=None, source: str | None = None) -> Runs:
    """Load runs from a file path or DataFrame; ``curves`` (path or DataFrame) adds per-run loss curves."""
    if isinstance(path_or_frame, Runs):
        return path_or_frame
    if isinstance(path_or_frame, pd.DataFrame):
        df, src = path_or_frame, source or "<table>"
    else:
        df, src = read_table(path_or_frame), source or str(path_or_frame)
    curve_df = curves if curves is None or isinstance(curves, pd.DataFrame) else read_table(curves)
    return runs_from_frame(df, src, curve_df)
