"""``scalinglab tasks fit|forecast``: JSON a machine can read, tables a person can, exit 2 on bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scalinglab.cli import main
from test_tasks_laws import write_ladder


@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    write_ladder(root / "runs")
    return root


def test_forecast_json_lists_each_task_with_its_interval_and_verdict(ladder, capsys):
    args = ["tasks", "forecast", str(ladder / "runs"), "--params-file", str(ladder / "runs-params.csv"),
            "--chance", "demo=0.25", "--N", "2e8", "--D", "2e10", "--N", "1e12", "--D", "2e13", "--bootstrap", "50",
            "--smooth", "1", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 2
    for row in out:
        for key in ("task", "task_loss", "accuracy", "accuracy_lo", "accuracy_hi", "predictable", "reason"):
            assert key in row
        assert row["task"] == "demo" and row["predictable"] is True
        assert 0.25 <= row["accuracy_lo"] <= row["accuracy"] <= row["accuracy_hi"] <= 1.0
    assert out[1]["task_loss"] < out[0]["task_loss"]   # a much larger model has lower task loss
    assert out[1]["target_position"] > out[0]["target_position"]


def test_fit_prints_a_table_with_the_verdict(ladder, capsys):
    assert main(["tasks", "fit", str(ladder / "runs"), "--params-file", str(ladder / "runs-params.csv"),
                 "--chance", "demo=0.25", "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "demo" in out and "yes" in out and "midpoint" in out


@pytest.mark.parametrize("case, needle", [
    ("no_tokens", "no tokens column"),
    ("pattern", "matches no metric"),
    ("accuracy", "row 3, column 'demo/accuracy': accuracy must lie in [0, 1]"),
    ("no_n", "has no N"),
    ("chance", "--chance must read TASK=LEVEL"),
    ("targets", "give one --D per --N"),
])
def test_bad_input_is_one_line_and_exit_2(ladder, tmp_path, capsys, case, needle):
    run = next((ladder / "runs").glob("*.csv"))
    df = pd.read_csv(run)
    extra = ["--params-file", str(ladder / "runs-params.csv"), "--chance", "demo=0.25"]
    if case == "no_tokens":
        df = df.drop(columns="throughput/total_tokens")
    elif case == "pattern":
        extra += ["--metric", "accuracy=nothing/.*"]
    elif case == "accuracy":
        df.loc[2, "demo/accuracy"] = -0.1
    elif case == "no_n":
        extra = ["--chance", "demo=0.25"]
    elif case == "chance":
        extra = ["--n-params", "1e7", "--chance", "demo"]
    path = tmp_path / run.name
    df.to_csv(path, index=False)
    targets = ["--N", "1e9", "--D", "2e10"] + (["--N", "2e9"] if case == "targets" else [])
    code = main(["tasks", "forecast", str(path), *extra, *targets, "--bootstrap", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err
    if case not in ("chance", "targets"):   # data errors name the file
        assert path.name in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_runs_with_fewer_evaluations_than_the_smoothing_window_are_averaged_over_what_they_have(tmp_path, capsys):
    """Found by the CLI fuzz test: with every run evaluated fewer times than --smooth (default 5), the rolling
    window left no checkpoint at all and the sigmoid's start grid crashed on an empty array (ValueError)."""
    import math

    metrics = ["eval/downstream_bpb/piqa_val_rc_5shot_bpb", "eval/downstream/piqa_val_rc_5shot_len_norm"]
    rows = ["run_id,tokens,metric,value,N"]
    for r, e in enumerate([7, 7.5, 8, 8.5, 9, 9.5, 10]):
        N = 10 ** e
        for k in range(3):
            D = N * 20 * 2.0 ** (k - 1)
            bpb = (1.69 + 406.4 / N ** 0.34 + 410.7 / D ** 0.28) / 2.5
            acc = 0.5 + 0.45 / (1 + math.exp(8 * (bpb - 1.0)))
            rows += [f"r{r},{D:.6g},{metrics[0]},{bpb:.6g},{N:.6g}", f"r{r},{D:.6g},{metrics[1]},{acc:.6g},{N:.6g}"]
    path = tmp_path / "history.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["tasks", "fit", str(path), "--bootstrap", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [t["task"] for t in out] == ["piqa"] and math.isfinite(out[0]["midpoint"]) and out[0]["converged"]
