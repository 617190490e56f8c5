"""Observational scaling (Ruan, Maddison & Hashimoto 2024, arXiv:2405.10938, Sec. 3): PCs of standardised benchmark
scores, each family's components linear in log compute, a benchmark as a sigmoid of the components — predicting
held-out high-compute models from their compute and family."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import reference_file
from scalinglab.errors import InputError
from scalinglab.tasks.observational import (
    holdout_top_compute, load_benchmarks, log_linear_baseline, observational_forecast, principal_components,
)


def test_pca_recovers_a_one_factor_structure_through_missing_scores():
    rng = np.random.default_rng(0)
    ability = rng.standard_normal(200)
    load = np.array([1.0, 0.8, 0.6, 0.9, 0.7])
    X = ability[:, None] * load + 0.05 * rng.standard_normal((200, 5))
    X[rng.random(X.shape) < 0.1] = np.nan
    comps, scores = principal_components(X, k=2)
    assert comps.explained[0] > 0.95
    assert abs(np.corrcoef(scores[:, 0], ability)[0, 1]) > 0.99


@pytest.mark.parametrize("benchmark", ["MMLU", "ARC-C"])
def test_held_out_top_compute_models_beat_a_log_linear_baseline(benchmark):
    table = load_benchmarks(reference_file("obsscaling", "base_llm_benchmark_eval.csv"))
    train, test = holdout_top_compute(table, 0.1)
    assert len(test) == 13   # ceil(10 % of the 123 base models with known FLOPs)
    fc = observational_forecast(train, test, benchmark, n_boot=100, level=0.9, seed=0)
    y = test[benchmark].to_numpy(float)
    ok = np.isfinite(y)
    ours = float(np.mean(np.abs(fc["estimate"].to_numpy() - y)[ok]))
    base = float(np.mean(np.abs(log_linear_baseline(train, test, benchmark) - y)[ok]))
    inside = np.mean(((fc["lo"] <= y) & (y <= fc["hi"]))[ok])
    print(f"\n{benchmark}: MAE observational {ours:.4f} vs log-linear in compute {base:.4f}; "
          f"{inside:.0%} of {ok.sum()} held-out models inside 90 % intervals")
    assert ours < base


def test_a_score_outside_0_1_is_refused_naming_row_and_column(tmp_path):
    df = pd.DataFrame({"Model": ["a", "b"], "Model Family": ["f", "f"], "FLOPs (1E21)": [1.0, 2.0],
                       **{m: [0.3, 0.4] for m in ("MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K",
                                                  "XWinograd", "HumanEval")}})
    df.loc[1, "GSM8K"] = 45.0
    df.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(InputError, match=r"b\.csv, row 2, column 'GSM8K': a benchmark score must lie in \[0, 1\]"):
        load_benchmarks(tmp_path / "b.csv")
