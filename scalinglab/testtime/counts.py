"""The sample-counts table: one row per (model, problem) with n samples drawn and c of them correct.

This is the contract between measuring test-time success and fitting coverage laws, as the Runs table is for
training: our own experiment writes it, and any user's sampling results (e.g. the Large Language Monkeys counts)
enter the same way. Optional per-model compute metadata (``n_params``, ``tokens_per_sample``, ``train_flops``) lets
coverage be expressed in inference FLOPs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.runs.io import read_table

ALIASES: dict[str, tuple[str, ...]] = {
    "model": ("model", "modelname", "modelid", "run", "runid"),
    "problem": ("problem", "problemidx", "problemid", "problemindex", "task", "taskid", "question", "qid"),
    "n": ("n", "numsamples", "nsamples", "samples", "attempts"),
    "correct": ("correct", "numcorrect", "ncorrect", "c", "successes", "solved", "numsuccess"),
    "n_params": ("nparams", "params", "parameters", "modelsize"),
    "tokens_per_sample": ("tokenspersample", "samplelength", "generatedtokens", "tokenspercompletion"),
    "train_flops": ("trainflops", "trainingflops", "trainingcompute", "flops", "compute"),
}
_LOOKUP = {alias: canon for canon, aliases in ALIASES.items() for alias in aliases}
METADATA = ("n_params", "tokens_per_sample", "train_flops")


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-.]|\(.*?\)|\[.*?\]", "", str(name).lower())


@dataclass(frozen=True)
class SampleCounts:
    """Validated counts: ``frame`` has columns model, problem, n, correct (+ any metadata), in input order."""

    frame: pd.DataFrame
    source: str

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.frame["model"]))

    def group(self, model: str) -> pd.DataFrame:
        return self.frame[self.frame["model"] == model]

    def metadata(self, model: str) -> dict[str, float]:
        g = self.group(model)
        return {c: float(g[c].iloc[0]) for c in METADATA if c in g}

    def _repr_html_(self) -> str:
        per = self.frame.groupby("model", sort=False).agg(problems=("problem", "size"), n=("n", "max"),
                                                          solved=("correct", lambda c: int((c > 0).sum())))
        return f"<p>{self.source}</p>" + per.to_html()


def _integers(df: pd.DataFrame, col: str, canon: str, source: str, *, minimum: int) -> np.ndarray:
    out = np.empty(len(df), dtype=np.int64)
    for i, v in enumerate(df[col].to_numpy()):
        try:
            x = float(v.strip()) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            raise InputError(f"{canon} must be a whole number, found {v!r}", source=source, row=i + 1,
                             column=str(col)) from None
        if isinstance(v, bool) or not math.isfinite(x) or x != round(x):
            raise InputError(f"{canon} must be a whole number, found {v!r}", source=source, row=i + 1,
                             column=str(col))
        if x < minimum:
            raise InputError(f"{canon} must be ≥ {minimum}, found {v!r}", source=source, row=i + 1, column=str(col))
        if x >= 2.0 ** 63:  # counts are stored as int64; a larger value cannot be a real sample count
            raise InputError(f"{canon} is too large, found {v!r} (at most 2^63 - 1)", source=source, row=i + 1,
                             column=str(col))
        out[i] = int(x)
    return out


def counts_from_frame(df: pd.DataFrame, source: str = "<table>") -> SampleCounts:
    """Validate a DataFrame of per-problem counts at the boundary and return a ``SampleCounts`` table."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a table of counts, got {type(df).__name__}", source=source)
    if len(df) == 0:
        raise InputError("no rows (the counts table is empty)", source=source)
    mapping: dict[str, str] = {}
    for col in df.columns:
        canon = _LOOKUP.get(_norm(col))
        if canon is not None and canon not in mapping:
            mapping[canon] = col
    for need in ("problem", "n", "correct"):
        if need not in mapping:
            raise InputError(f"missing column '{need}' (columns found: {', '.join(map(str, df.columns))})",
                             source=source)
    out = pd.DataFrame({
        "model": df[mapping["model"]].astype(str).to_numpy() if "model" in mapping else "model",
        "problem": df[mapping["problem"]].astype(str).to_numpy(),
        "n": _integers(df, mapping["n"], "n", source, minimum=1),
        "correct": _integers(df, mapping["correct"], "correct", source, minimum=0),
    })
    bad = np.flatnonzero(out["correct"].to_numpy() > out["n"].to_numpy())
    if bad.size:
        i = int(bad[0])
        raise InputError(f"correct ({out['correct'].iloc[i]}) exceeds n ({out['n'].iloc[i]})", source=source,
                         row=i + 1, column=str(mapping["correct"]))
    dup = out.duplicated(subset=["model", "problem"]).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise InputError(f"problem '{out['problem'].iloc[i]}' appears twice for model '{out['model'].iloc[i]}'",
                         source=source, row=i + 1)
    for canon in METADATA:
        if canon in mapping:
            vals = pd.to_numeric(df[mapping[canon]], errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero(~(vals > 0) | ~np.isfinite(vals))
            if bad.size:
                raise InputError(f"{canon} must be a finite number > 0", source=source, row=int(bad[0]) + 1,
                                 column=str(mapping[canon]))
            out[canon] = vals
            varies = out.groupby("model", sort=False)[canon].nunique() > 1
            if varies.any():
                raise InputError(f"{canon} must be constant within a model; it varies for '{varies.idxmax()}'",
                                 source=source, column=str(mapping[canon]))
    return SampleCounts(frame=out, source=source)


def load_counts(path_or_frame, *, source: str | None = None) -> SampleCounts:
    """Load per-problem counts from a CSV/Parquet/JSON file or a DataFrame."""
    if isinstance(path_or_frame, SampleCounts):
        return path_or_frame
    if isinstance(path_or_frame, pd.DataFrame):
        return counts_from_frame(path_or_frame, source or "<table>")
    return counts_from_frame(read_table(Path(path_or_frame)), source or str(path_or_frame))
