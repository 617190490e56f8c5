"""Eval histories: one loader for W&B exports, JSONL and long tables; N from a column, a side file or an option;
validation that names file, row and column."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import reference_file
from scalinglab.errors import InputError
from scalinglab.runs.history import load_history


def test_the_olmo_ladder_loads_in_place_with_n_from_final_json():
    folder = reference_file("olmo_ladder", "ladder-runs")
    h = load_history(folder, params_file=reference_file("olmo_ladder", "final.json"))
    assert len(h.run_ids) == 16
    for task in ("hellaswag", "arc_easy", "arc_challenge", "piqa", "csqa", "socialiqa", "openbookqa", "mmlu"):
        assert task in h.tasks("accuracy") and task in h.tasks("task_loss")
    acc = h.series("mmlu", "accuracy")
    run = acc[acc["run_id"] == "1B-10xC"]
    # N of the 1.3B files: final.json's n (the authors' count, SOURCE.md)
    assert run["n_params"].iloc[0] == 1_279_395_840
    raw = pd.read_csv(folder / "1B-10xC.csv")
    groups = {"stem": 0.215, "humanities": 0.335, "social_sciences": 0.219, "other": 0.231}
    expected = sum(w * raw[f"eval/downstream/mmlu_{g}_test_rc_5shot_len_norm"].iloc[-1] for g, w in groups.items())
    assert run["value"].iloc[-1] == pytest.approx(expected / sum(groups.values()), rel=1e-12)
    assert run["n_tokens"].iloc[-1] == raw["throughput/total_tokens"].iloc[-1]
    # ARC-Easy is the test split (Bhagia et al.'s reported set), not val
    arc = h.series("arc_easy", "accuracy")
    first = arc[arc["run_id"] == "1B-10xC"]["value"].iloc[0]
    assert first == raw["eval/downstream/arc_easy_test_rc_5shot_len_norm"].iloc[0]


def _wide(run_id, N=None):
    df = pd.DataFrame({"tokens": [1e8, 2e8, 3e8], "qa/task_loss": [1.5, 1.3, 1.2], "qa/accuracy": [0.3, 0.35, 0.4]})
    if N is not None:
        df.insert(0, "N", N)
    return df.assign(run_id=run_id)


def test_wide_jsonl_long_csv_and_n_sources_give_one_history(tmp_path):
    a, b = _wide("a", 1e7), _wide("b", 2e7)
    wide = tmp_path / "wide.jsonl"
    wide.write_text("\n".join(json.dumps(r) for r in pd.concat([a, b]).to_dict(orient="records")))
    long = pd.concat([a, b]).melt(id_vars=["run_id", "N", "tokens"], var_name="metric", value_name="value")
    long.drop(columns="N").to_csv(tmp_path / "long.csv", index=False)
    pd.DataFrame({"run_id": ["a", "b"], "N": [1e7, 2e7]}).to_csv(tmp_path / "params.csv", index=False)
    h1 = load_history(wide)
    h2 = load_history(tmp_path / "long.csv", params_file=tmp_path / "params.csv")
    key = ["run_id", "n_tokens", "task", "kind"]
    f1 = h1.to_long().sort_values(key).reset_index(drop=True)
    f2 = h2.to_long().sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(f1, f2)
    assert sorted(f1["kind"].unique()) == ["accuracy", "task_loss"] and set(f1["task"]) == {"qa"}
    # one N for all runs without one
    _wide("c").drop(columns="run_id").to_csv(tmp_path / "c.csv", index=False)
    h3 = load_history(tmp_path / "c.csv", n_params=3e7)
    assert h3.run_ids == ["c"] and (h3.frame["n_params"] == 3e7).all()


def test_custom_patterns_map_other_names(tmp_path):
    df = pd.DataFrame({"tokens": [1e8, 2e8], "N": 1e7, "val/bpb_piqa": [1.4, 1.3], "val/acc_piqa": [0.6, 0.62]})
    df.to_csv(tmp_path / "r.csv", index=False)
    h = load_history(tmp_path / "r.csv", patterns=["task_loss=val/bpb_(?P<task>.+)", "accuracy=val/acc_(?P<task>.+)"])
    assert h.series("piqa", "accuracy")["value"].tolist() == [0.6, 0.62]


@pytest.mark.parametrize("case, needle", [
    ("no_tokens", r"t\.csv: no tokens column"),
    ("pattern", r"metric pattern 'accuracy/nothing_.\*' matches no metric in .*t\.csv"),
    ("accuracy", r"t\.csv, row 2, column 'qa/accuracy': accuracy must lie in \[0, 1\], found 1\.3"),
    ("no_n", r"t\.csv, row 1, column 'N': run 't' has no N"),
    ("not_number", r"t\.csv, row 3, column 'qa/task_loss': expected a number, found 'oops'"),
])
def test_bad_input_names_file_row_and_column(tmp_path, case, needle):
    df = _wide("t", 1e7).drop(columns="run_id")
    kwargs = {}
    if case == "no_tokens":
        df = df.drop(columns="tokens")
    elif case == "pattern":
        kwargs["patterns"] = ["accuracy=accuracy/nothing_.*", "task_loss=(?P<task>.+)/task_loss"]
    elif case == "accuracy":
        df.loc[1, "qa/accuracy"] = 1.3
    elif case == "no_n":
        df = df.drop(columns="N")
    else:
        df["qa/task_loss"] = df["qa/task_loss"].astype(object)
        df.loc[2, "qa/task_loss"] = "oops"
    df.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(InputError, match=needle):
        load_history(tmp_path / "t.csv", **kwargs)


def test_a_run_id_in_two_files_and_an_empty_folder_are_refused(tmp_path):
    _wide("same", 1e7).to_csv(tmp_path / "x.csv", index=False)
    _wide("same", 1e7).to_csv(tmp_path / "y.csv", index=False)
    with pytest.raises(InputError, match="run id 'same' appears in more than one file"):
        load_history(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no history files"):
        load_history(tmp_path / "empty")
    assert np.isfinite(load_history(tmp_path / "x.csv").frame["value"]).all()


def test_metrics_of_one_task_in_a_long_table_are_averaged_per_evaluation(tmp_path):
    long = pd.DataFrame({"run_id": "r", "N": 1e7, "tokens": [1e8, 1e8, 2e8, 2e8],
                         "metric": ["eval/downstream/mmlu_stem_test_rc_5shot_len_norm",
                                    "eval/downstream/mmlu_other_test_rc_5shot_len_norm"] * 2,
                         "value": [0.2, 0.4, 0.3, 0.5]})
    long.to_csv(tmp_path / "long.csv", index=False)
    acc = load_history(tmp_path / "long.csv").series("mmlu", "accuracy")
    # question-count weights of MMLU's STEM (0.215) and other (0.231) test groups
    expected = [(0.215 * 0.2 + 0.231 * 0.4) / 0.446, (0.215 * 0.3 + 0.231 * 0.5) / 0.446]
    np.testing.assert_allclose(acc["value"], expected, rtol=1e-12)
    assert acc["row"].tolist() == [1, 3]
