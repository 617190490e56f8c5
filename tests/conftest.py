"""Shared test helpers: where the published reference data lives, and synthetic runs from a known law."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# ../shared/reference beside the project root (never copied into the repository).
REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


def reference_file(*parts: str) -> Path:
    """Path of a reference file; skips the test, naming the path, when it is absent (e.g. a user's clone)."""
    path = REFERENCE_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not available: {path}")
    return path


def synthetic_chinchilla_runs(*, E=1.8, A=400.0, B=1500.0, alpha=0.34, beta=0.37, sizes=None, tokens=None,
                              noise=0.01, seed=0) -> pd.DataFrame:
    """Runs on an N × D grid with loss from a known Chinchilla law times lognormal noise (σ = ``noise``)."""
    rng = np.random.default_rng(seed)
    sizes = np.geomspace(1e7, 1e9, 6) if sizes is None else np.asarray(sizes, float)
    tokens = np.geomspace(1e8, 1e10, 6) if tokens is None else np.asarray(tokens, float)
    N, D = (a.ravel() for a in np.meshgrid(sizes, tokens))
    loss = (E + A / N**alpha + B / D**beta) * np.exp(noise * rng.standard_normal(N.size))
    return pd.DataFrame({"N": N, "D": D, "loss": loss})


OLMO_SIZES = {"190M": 190_354_176, "370M": 371_262_464, "760M": 758_220_288, "1B": 1_279_395_840}  # final.json `n`
OLMO_C4 = "eval/c4_en-validation/CrossEntropyLoss"


def olmo_ladder_runs(metric: str = OLMO_C4) -> pd.DataFrame:
    """The 16 OLMo-2 ladder runs (Bhagia et al. 2024, arXiv:2412.04403) read in place from their W&B exports: N from
    final.json, D = the last row's tokens seen, loss = mean of the last 5 evaluations (the paper's --moving_avg 5)."""
    rows = []
    for size, n in OLMO_SIZES.items():
        for mult in (1, 2, 5, 10):
            df = pd.read_csv(reference_file("olmo_ladder", "ladder-runs", f"{size}-{mult}xC.csv"))
            ev = df.dropna(subset=[metric])
            rows.append({"N": float(n), "D": float(df["throughput/total_tokens"].max()),
                         "loss": float(ev[metric].iloc[-5:].mean()), "model_label": size, "multiplier": mult})
    return pd.DataFrame(rows)
