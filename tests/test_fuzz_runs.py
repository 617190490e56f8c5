"""Fuzz: random tables thrown at the loader and the fitters raise nothing but the project's InputError."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalinglab.errors import InputError
from scalinglab.laws.fit import fit
from scalinglab.runs import load_runs

NAMES = ["N", "params", "Model Size", "D", "tokens", "C", "flops", "Training FLOP", "loss", "val_loss", "seed",
         "run_id", "unique_tokens", "epochs", "color", "lr"]
cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=1e-3, max_value=1e12),
    st.integers(min_value=-5, max_value=10**12),
    st.text(max_size=4),
    st.none(),
    st.booleans(),
)


@st.composite
def tables(draw):
    cols = draw(st.lists(st.sampled_from(NAMES), min_size=0, max_size=6, unique=True))
    n = draw(st.integers(min_value=0, max_value=12))
    return pd.DataFrame({c: draw(st.lists(cells, min_size=n, max_size=n)) for c in cols})


GRID = np.array([[5.0, 6.0, 0.5, 0.3, 0.3], [8.0, 9.0, 0.0, 0.5, 0.5]])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.sampled_from(["chinchilla", "kaplan", "kaplan_n", "saturating", "data_constrained"]),
       st.sampled_from(["huber", "ls"]))
def test_loader_and_fitters_raise_only_input_error(df, law, loss):
    try:
        runs = load_runs(df)
        fit(runs, law, loss=loss, grid=GRID if law == "chinchilla" else None, max_iter=30)
    except InputError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([".csv", ".json", ".jsonl", ".parquet", ".tsv"]))
def test_garbage_files_raise_only_input_error(tmp_path_factory, blob, suffix):
    path = tmp_path_factory.mktemp("fuzz") / f"runs{suffix}"
    path.write_bytes(blob)
    try:
        load_runs(path)
    except InputError as exc:
        assert "\n" not in str(exc)
