"""The report's abilities section: task laws fitted on a ladder's own task evaluations (or --tasks histories), the
verdicts, accuracy forecasts at the report's budgets, a backtest of the largest budget, and its figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from report_helpers import Page, make_tiny_ladder
from scipy.special import expit

from scalinglab.cli import main
from scalinglab.ladder import RunStore
from scalinglab.report import ReportOptions, make_report, write_report

OPTIONS = ReportOptions(n_resamples=20, approaches=False, forecast=False)


def task_loss(n, d):
    return 0.6 + 40.0 / n ** 0.3 + 300.0 / d ** 0.3   # bits per byte


def add_task_evals(ladder, seed=0):
    """Per finished run, five evaluations of a task that rises along a known sigmoid of its task loss (192 items) and
    one that stays at chance (96 items)."""
    rng = np.random.default_rng(seed)
    with RunStore(ladder) as store:
        curves = store.curves_frame().set_index(["run_id", "n_tokens"])["loss"]
        finals = [task_loss(r.metrics["n_params"], r.metrics["n_tokens"]) for r in store.runs("done")]
        mid = float(np.mean([min(finals), max(finals)]))
        for r in store.runs("done"):
            n, d = r.metrics["n_params"], r.metrics["n_tokens"]
            for f in (0.2, 0.4, 0.6, 0.8, 1.0):
                loss = task_loss(n, d * f)
                acc = 0.25 + 0.65 * expit(-6.0 * (loss - mid)) + 0.005 * rng.standard_normal()
                store.add_curve_point(r.run_id, d * f, float(curves[(r.run_id, d * f)]), tasks={
                    "spelling": {"task_loss": loss, "accuracy": float(np.clip(acc, 0, 1)), "chance": 0.25,
                                 "n_items": 192},
                    "gloss_headword": {"task_loss": 1.3 * loss, "accuracy": 0.25 + 0.02 * rng.standard_normal(),
                                       "chance": 0.25, "n_items": 96}})


@pytest.fixture()
def ladder(tmp_path):
    make_tiny_ladder(tmp_path / "ladder")
    add_task_evals(tmp_path / "ladder")
    return tmp_path / "ladder"


def test_a_ladder_with_task_evaluations_gets_an_abilities_section(ladder, tmp_path):
    files = write_report(ladder, tmp_path / "report.html", options=OPTIONS)
    ab = files.data.abilities
    tasks = {t.task: t for t in ab.tasks}
    assert set(tasks) == {"spelling", "gloss_headword"}
    spelling, gloss = tasks["spelling"], tasks["gloss_headword"]
    assert spelling.law.verdict.predictable and spelling.n_items == 192
    assert not gloss.law.verdict.predictable and "chance" in gloss.law.verdict.reason
    # the backtest forecasts the largest budget's runs from the smaller ones through both steps
    assert spelling.backtest is not None and len(spelling.backtest) >= 2
    assert spelling.backtest_error() < 0.05
    # forecasts at each report budget; a task at chance reports [chance, 1]
    assert len(spelling.forecasts) == len(files.data.budgets) == len(ab.labels)
    assert all((f.reported.lo, f.reported.hi) == (0.25, 1.0) for f in gloss.forecasts)
    saved = json.loads(files.json.read_text())["abilities"]
    assert [t["task"] for t in saved["tasks"]] == [t.task for t in ab.tasks]
    assert saved["tasks"][0]["forecasts"][0]["accuracy_lo"] is not None
    page = Page(files.html.read_text())
    assert "abilities" in page.sections
    assert len(page.tables["abilities-tasks"]) == 2
    assert len(page.tables["abilities-forecasts"]) == 2 * len(files.data.budgets)
    names = {p.name for p in files.figures}
    assert {"abilities_accuracy.svg", "abilities_task_loss.svg", "abilities_sigmoid.svg"} <= names


def test_a_ladder_without_task_evaluations_has_no_abilities_section(tmp_path):
    make_tiny_ladder(tmp_path / "ladder")
    data = make_report(tmp_path / "ladder", options=OPTIONS)
    assert data.abilities is None and data.to_dict()["abilities"] is None


def test_report_reads_tasks_histories_given_on_the_command_line(ladder, tmp_path, capsys):
    with RunStore(ladder) as store:
        store.export(tmp_path / "export")
    out = tmp_path / "r" / "report.html"
    args = ["report", str(tmp_path / "export" / "runs.csv"), "-o", str(out), "--bootstrap", "20", "--no-approaches",
            "--no-forecast", "--tasks", str(tmp_path / "export" / "history.csv")]
    assert main(args + ["--chance", "spelling=0.25", "--chance", "gloss_headword=0.25"]) == 0
    saved = json.loads(out.with_suffix(".json").read_text())["abilities"]
    assert {t["task"] for t in saved["tasks"]} == {"spelling", "gloss_headword"}
    # a task whose chance level is not known is left out with a note, not guessed
    assert main(args) == 0
    saved = json.loads(out.with_suffix(".json").read_text())["abilities"]
    assert saved["tasks"] == [] and any("chance level unknown" in n for n in saved["notes"])
    assert main(args + ["--chance", "spelling=2"]) == 2
    assert "--chance must read TASK=LEVEL" in capsys.readouterr().err
