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
