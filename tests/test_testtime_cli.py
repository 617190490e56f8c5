"""`scalinglab testtime fit`: readable table, JSON, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scalinglab.cli import main


@pytest.fixture()
def counts_csv(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for model, a in (("small", 0.2), ("large", 0.5)):
        p = rng.beta(a, 20.0, 60)
        for i, c in enumerate(rng.binomial(200, p)):
            rows.append({"model": model, "problem": f"q{i}", "n": 200, "correct": int(c),
                         "n_params": 1e6 if model == "small" else 1e7, "tokens_per_sample": 8})
    path = tmp_path / "counts.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path, pd.DataFrame(rows)


def test_fit_prints_a_table_with_pass_at_k_and_extrapolation(counts_csv, capsys):
    path, _ = counts_csv
    assert main(["testtime", "fit", str(path), "--extrapolate", "2000", "--boot", "20"]) == 0
    out = capsys.readouterr().out
    assert "small: 60 problems × 200 samples" in out and "power law with ceiling" in out
    assert "beta-binomial, extended" in out


def test_fit_json_matches_the_estimator(counts_csv, capsys):
    path, df = counts_csv
    assert main(["testtime", "fit", str(path), "--k", "1,10", "--json", "--boot", "10"]) == 0
    data = json.loads(capsys.readouterr().out)
    small = data["models"][0]
    assert small["model"] == "small" and small["k"] == [1, 10]
    g = df[df["model"] == "small"]
    assert small["pass_at_k"][0] == pytest.approx((g["correct"] / g["n"]).mean(), abs=1e-12)
    # inference FLOPs: 2 · n_params per generated token × tokens per sample × k
    assert small["inference_flops_per_problem"] == [2 * 1e6 * 8 * 1, 2 * 1e6 * 8 * 10]


@pytest.mark.parametrize("edit, args, words", [
    (lambda d: d.assign(correct=d["correct"].where(d.index != 3, -1)), [], "correct must be ≥ 0"),
    (lambda d: d.assign(correct=d["correct"].where(d.index != 3, 999)), [], "exceeds n"),
    (lambda d: d, ["--k", "500"], "exceeds n"),
    (lambda d: d, ["--extrapolate", "100"], "must be ≥ n"),
    (lambda d: d, ["--seed", "-1"], "--seed must be ≥ 0"),  # fuzz-found: numpy's ValueError leaked
    (lambda d: d.iloc[0:0], [], "empty"),
    (lambda d: d.drop(columns=["correct"]), [], "missing column 'correct'"),
    (lambda d: d.assign(n=d["n"].astype(str).where(d.index != 5, "lots")), [], "whole number"),
    # fuzz-found: a count beyond int64 crashed with OverflowError instead of naming the row
    (lambda d: d.assign(n=d["n"].astype(object).where(d.index != 5, 10 ** 30)), [], "row 6, column 'n': n is too"),
])
def test_bad_input_exits_2_with_one_line(counts_csv, tmp_path, capsys, edit, args, words):
    _, df = counts_csv
    bad = tmp_path / "bad.csv"
    edit(df).to_csv(bad, index=False)
    assert main(["testtime", "fit", str(bad), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["testtime", "fit", str(tmp_path / "nope.csv")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_run_tiny_preset_writes_counts_that_fit_reads(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "run"
    assert main(["testtime", "run", "--preset", "tiny", "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["models"]) == 2 and len(data["train_flops"]) == 2
    counts = pd.read_csv(out / "counts.csv")
    assert set(counts.columns) >= {"model", "problem", "n", "correct", "n_params", "tokens_per_sample", "train_flops"}
    assert main(["testtime", "fit", str(out / "counts.csv"), "--json", "--boot", "5"]) == 0


@pytest.mark.parametrize("args, words", [
    (["--preset", "huge"], "unknown preset"),
    (["--preset", "tiny", "--task", "chess"], "unknown task"),
])
def test_run_rejects_unknown_presets_and_tasks(tmp_path, capsys, args, words):
    assert main(["testtime", "run", *args, "--out", str(tmp_path / "x")]) == 2
    assert words in capsys.readouterr().err
