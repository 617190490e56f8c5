"""Many configurations in one table: split a Runs table into one Runs per value of one or more columns."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, Sequence

import numpy as np

from scalinglab.errors import InputError
from scalinglab.runs.table import Runs


@dataclass(frozen=True)
class Group:
    key: dict          # column → value, e.g. {"config": "cosine"}
    runs: Runs

    @property
    def label(self) -> str:
        """'config=cosine, dataset=owt2': how messages and headings name the group."""
        return ", ".join(f"{k}={v}" for k, v in self.key.items())


def parse_by(by: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"config,dataset"`` or ``["config", "dataset"]`` → ``("config", "dataset")``."""
    if by is None:
        return ()
    items = [str(b) for b in by] if not isinstance(by, str) else by.split(",")
    cols = tuple(c.strip() for c in items if c.strip())
    if not cols:
        raise InputError("--by expects one or more column names separated by commas, e.g. --by config")
    if len(set(cols)) != len(cols):
        raise InputError(f"--by names a column twice: {', '.join(cols)}")
    return cols


def iter_groups(runs: Runs, by: str | Sequence[str]) -> Iterator[Group]:
    """One ``Group`` per distinct value (combination) of the ``by`` columns, in order of first appearance; an empty
    cell is a value of its own. Groups on metadata columns (or on seed, unique_tokens, run_id…)."""
    named = parse_by(by)
    cols = []
    for c in named:
        resolved = runs.resolve(c)
        if resolved is None:
            meta = ", ".join(map(str, runs.meta_columns)) or "none"
            raise InputError(f"--by: no column '{c}' (metadata columns: {meta})", source=runs.source)
        cols.append(resolved)
    if len(set(cols)) != len(cols):
        raise InputError(f"--by names one column twice: {', '.join(named)}", source=runs.source)
    keys = runs.frame[list(cols)].astype(str)
    codes = keys.groupby(list(cols), sort=False).ngroup().to_numpy()
    for code in range(int(codes.max()) + 1):
        mask = codes == code
        first = int(np.flatnonzero(mask)[0])
        key = {n: _plain(runs.frame[c].iloc[first]) for n, c in zip(named, cols)}
        label = ", ".join(f"{k}={v}" for k, v in key.items())
        yield Group(key=key, runs=replace(runs.subset(mask), source=f"{runs.source} (group {label})"))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
