"""The Runs table: one row per training run — the contract between measuring and fitting.

Canonical columns: ``n_params`` (N), ``n_tokens`` (D), ``flops`` (C), ``loss`` (nats/token); optional ``unique_tokens``,
``epochs``, ``run_id``, ``seed``, ``weight`` (a positive per-run weight in the fit objective), ``held_out`` (a run
kept out of every fit, to check a forecast against its loss); any other column is kept as-is, as metadata (``meta``,
``column(name)``). Per-run loss curves (for Chinchilla approach 1) live beside it in ``curves`` with columns
``run_id``, ``n_tokens``, ``loss``.

Held-out runs: ``held_out`` is the mask, ``fitted()`` the rows a fit uses and ``held_out_runs()`` the others. Every
fit in ``scalinglab.laws`` fits ``fitted()`` of the table it is given, so a held-out run never moves a law.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.runs.columns import ALIASES, WEAK_ALIASES, norm


REQUIRED = ("n_params", "n_tokens", "flops", "loss")
NUMERIC_OPTIONAL = ("unique_tokens", "epochs", "seed", "weight")
BOOLEAN_OPTIONAL = ("held_out",)
FLOPS_PER_PARAM_TOKEN = 6.0  # C ≈ 6·N·D: forward (2ND) + backward (4ND) matmul FLOPs (Kaplan et al. 2020, Sec. 2.1)


@dataclass(frozen=True)
class Runs:
    frame: pd.DataFrame
    source: str = "<table>"
    notes: tuple[str, ...] = ()
    curves: pd.DataFrame | None = field(default=None, repr=False)
    meta_columns: tuple[str, ...] = ()   # the user's columns read as no quantity, under their own names
    source_columns: tuple[tuple[str, str], ...] = ()  # (canonical name, the user's column it was read from)

    @property
    def meta(self) -> pd.DataFrame:
        """The metadata columns (configuration, dataset, labels…), one row per run."""
        return self.frame[list(self.meta_columns)]

    def column(self, name: str) -> np.ndarray:
        """A column by its canonical name (n_params, loss, run_id…) or a metadata column by the user's name."""
        resolved = self.resolve(name)
        if resolved is not None:
            return self.frame[resolved].to_numpy()
        known = [c for c in self.frame.columns if c != "row"]
        raise KeyError(f"no column '{name}' (columns: {', '.join(map(str, known))})")

    def resolve(self, name: str) -> str | None:
        """The frame column a user's name means: a canonical or metadata name as is, the user's own header of a
        column read as a quantity ('model_size' mapped to n_params), or a quantity's alias ('N', 'params'); None
        when nothing matches."""
        known = [c for c in self.frame.columns if c != "row"]
        if name in known:
            return name
        for canon, original in self.source_columns:
            if original == name and canon in known:
                return canon
        key = norm(name)
        for table in (ALIASES, WEAK_ALIASES):
            for canon, aliases in table.items():
                if key in aliases and canon in known and canon not in self.meta_columns:
                    return canon
        return None

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def n_params(self) -> np.ndarray:
        return self.frame["n_params"].to_numpy(float)

    @property
    def n_tokens(self) -> np.ndarray:
        return self.frame["n_tokens"].to_numpy(float)

    @property
    def flops(self) -> np.ndarray:
        return self.frame["flops"].to_numpy(float)

    @property
    def loss(self) -> np.ndarray:
        return self.frame["loss"].to_numpy(float)

    @property
    def weight(self) -> np.ndarray | None:
        """Per-run weights in the fit objective (the ``weight`` column), or None when the table has none."""
        return self.frame["weight"].to_numpy(float) if "weight" in self.frame else None

    @property
    def held_out(self) -> np.ndarray:
        """Mask of the runs marked held out (the ``held_out`` column); all False when the table has none."""
        if "held_out" not in self.frame:
            return np.zeros(len(self), bool)
        return self.frame["held_out"].to_numpy(bool)

    @property
    def branches(self) -> np.ndarray:
        """Mask of the WSD cooldown branches (a non-empty ``parent`` column naming their stable phase, as the
        ladder's export writes it); all False when the table has none."""
        if "parent" not in self.frame:
            return np.zeros(len(self), bool)
        return (self.frame["parent"].fillna("").astype(str).str.len() > 0).to_numpy()

    def fitted(self, see: str = "the held-out forecast") -> "Runs":
        """The runs a fit uses: every run not marked held out (the table itself when none is), with a note naming
        how many were held out and ``see``, where their forecast is shown."""
        mask = self.held_out
        if not mask.any():
            return self
        if mask.all():
            raise InputError(f"all {len(self)} runs are marked held_out: none is left to fit", source=self.source)
        k = int(mask.sum())
        runs = "1 run marked held_out is" if k == 1 else f"{k} runs marked held_out are"
        return self.subset(~mask, note=f"{runs} not fitted; see {see}")

    def held_out_runs(self) -> "Runs | None":
        """The runs marked held out, or None when there are none."""
        mask = self.held_out
        return self.subset(mask) if mask.any() else None

    @property
    def rows(self) -> np.ndarray:
        """1-based data-row numbers in the source (for messages that point back to the user's file)."""
        return self.frame["row"].to_numpy(int)

    def law_inputs(self) -> dict[str, np.ndarray]:
        out = {k: self.frame[k].to_numpy(float) for k in ("n_params", "n_tokens", "flops")}
        if "unique_tokens" in self.frame:
            out["unique_tokens"] = self.frame["unique_tokens"].to_numpy(float)
        return out

    def subset(self, mask, note: str | None = None) -> "Runs":
        """Rows selected by a boolean mask or integer positions; curves follow their runs."""
        frame = self.frame.iloc[np.flatnonzero(mask)] if np.asarray(mask).dtype == bool else self.frame.iloc[mask]
        curves = self.curves
        if curves is not None and "run_id" in frame:
            curves = curves[curves["run_id"].isin(frame["run_id"])]
        notes = self.notes + ((note,) if note else ())
        return replace(self, frame=frame.reset_index(drop=True), notes=notes, curves=curves)

    def drop_highest_loss(self, k: int) -> "Runs":
        """Drop the k highest-loss runs (Besiroglu et al. 2024 drop Chinchilla's 5 highest-loss points)."""
        if k <= 0:
            return self
        if k >= len(self):
            # Nothing would be left to fit or backtest; say so here rather than fail deep inside a fit.
            raise InputError(f"--drop-highest {k} would drop all {len(self)} runs", source=self.source)
        return self.subset(~self.highest_loss(k), note=f"dropped the {k} highest-loss runs")

    def highest_loss(self, k: int) -> np.ndarray:
        """Mask of the k highest-loss runs (ties broken by row order)."""
        return np.argsort(np.argsort(-self.loss, kind="stable"), kind="stable") < k

    def to_csv(self, path: str | Path) -> None:
        self.frame.drop(columns="row").to_csv(path, index=False)

    def to_parquet(self, path: str | Path) -> None:
        self.frame.drop(columns="row").to_parquet(path, index=False)

    def _repr_html_(self) -> str:
        head = f"<p><b>Runs</b> from {self.source}: {len(self)} runs</p>"
        return head + self.frame.drop(columns="row").head(50).to_html(index=False, escape=True)
