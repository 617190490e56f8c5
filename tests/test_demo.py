"""`scalinglab demo` end to end on the smallest preset: with the synthetic trainer (a known law, seconds) and with
the real trainer on the default corpus (about a minute on 2 shared cores)."""

import json

import pandas as pd
import pytest

from scalinglab.cli import main
from scalinglab.ladder import RunStore
from scalinglab.ladder.synthetic import TRUE_LAW
from scalinglab.runs import load_runs

OUTPUTS = ("runs.csv", "curves.csv", "laws.json", "report.html", "report.json", "report_figures/loss_curves.png",
           "report_figures/loss_vs_compute.png", "report_figures/isoflop.png")


def test_demo_recovers_a_known_law_and_writes_the_results_folder(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["demo", "--preset", "test", "--trainer", "synthetic", "--out", str(out), "--quiet"]) == 0
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    laws = json.loads((out / "laws.json").read_text())
    params = laws["law"]["params"]
    # 0.3 % noise on ~11 runs over 0.8 decades: the exponents come back within a few hundredths
    assert params["alpha"] == pytest.approx(TRUE_LAW["alpha"], abs=0.06)
    assert params["beta"] == pytest.approx(TRUE_LAW["beta"], abs=0.06)
    assert laws["backtest"]["median_abs_rel_error"] < 0.02
    runs = load_runs(out / "runs.csv", curves=out / "curves.csv")
    assert len(runs) == laws["n_runs"] and runs.curves is not None
    printed = capsys.readouterr().out
    assert "backtest error" in printed and "Compute-optimal allocation" in printed
    assert "no task evaluations in this ladder" in printed and not (out / "abilities.json").exists()
    # the forecast at the preset's budgets and 10x, 100x beyond the ladder, as printed and in laws.json
    forecast = laws["forecast"]
    assert forecast == json.loads((out / "report.json").read_text())["forecast"]
    targets = {t["target"]: t for t in forecast["targets"]}
    assert {"report budget", "10× the largest run", "100× the largest run"} <= set(targets)
    for t in forecast["targets"]:
        assert t["lo"] < t["loss"] < t["hi"] and t["level"] == 0.9 and "extrapolation" in t["components"]
    assert "Forecast (scalinglab forecast)" in printed
    assert f"{targets['10× the largest run']['loss']:.3f}" in printed
    assert forecast["held_out"] == [] and laws["n_runs_held_out"] == 0 and "Held-out runs" not in printed

    # Running it again trains nothing and refits from the store.
    assert main(["demo", "--preset", "test", "--trainer", "synthetic", "--out", str(out), "--quiet"]) == 0
    assert "already trained" in capsys.readouterr().out
    with RunStore(out / "ladder") as store:
        assert all(r.attempts == 1 for r in store.runs())


def test_the_demo_prints_each_held_out_run_against_its_forecast(tmp_path):
    """What the console shows of a ladder that holds a run out: the rows of the report's held-out table."""
    import numpy as np
    from conftest import synthetic_chinchilla_runs
    from rich.console import Console

    from scalinglab.demo.pipeline import _print_forecast
    from scalinglab.report import ReportOptions, make_report

    runs = synthetic_chinchilla_runs(sizes=np.geomspace(1e7, 1e8, 4), tokens=np.geomspace(2e8, 2e9, 4), seed=5)
    runs["run_id"] = [f"r{i}" for i in range(len(runs))]
    runs["held_out"] = runs["N"] * runs["D"] == (runs["N"] * runs["D"]).max()   # the largest run
    runs.to_csv(tmp_path / "runs.csv", index=False)
    data = make_report(tmp_path / "runs.csv", options=ReportOptions(
        n_resamples=0, approaches=False, backtest=False, forecast_law="chinchilla", forecast_resamples=10))
    console = Console(record=True, width=200)
    _print_forecast(data.forecast, console)
    printed = console.export_text()
    (h,) = data.forecast.held_out
    assert h.run == "r15" and len(data.runs) == 15
    line = next(line for line in printed.splitlines() if " r15 " in line)
    for shown in (f"{h.forecast.loss.estimate:.3f}", f"[{h.forecast.loss.lo:.3f}, {h.forecast.loss.hi:.3f}]",
                  f"{h.loss:.3f}", f"{h.rel_error:+.2%}", "yes" if h.inside else "no", "1.2e+18"):
        assert shown in line, shown
    assert "Held-out runs (trained, not fitted)" in printed


@pytest.mark.slow
def test_demo_with_the_real_trainer(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["demo", "--preset", "test", "--out", str(out), "--quiet"]) == 0
    laws = json.loads((out / "laws.json").read_text())
    assert laws["n_runs"] >= 6
    assert (out / "report_figures" / "loss_curves.png").stat().st_size > 0
    # the task suite was evaluated at every evaluation, exported, fitted and printed: a verdict per task, or, where
    # this 0.6-decade ladder's task-loss law is refused as degenerate, a note naming the task and why
    suite = {"spelling", "gloss_headword", "fortune_ending"}
    metrics = set(pd.read_csv(out / "history.csv")["metric"])
    assert {f"{t}/{m}" for t in suite for m in ("accuracy", "task_loss")} <= metrics
    abilities = json.loads((out / "abilities.json").read_text())
    fitted = {t["task"] for t in abilities["tasks"]}
    noted = {task for task in suite if any(f"task '{task}'" in n for n in abilities["notes"])}
    assert fitted | noted == suite and not fitted & noted
    assert abilities == json.loads((out / "report.json").read_text())["abilities"]
    assert (out / "history.csv").stat().st_size > 0 and "Abilities" in capsys.readouterr().out
    with RunStore(out / "ladder") as store:
        for run in store.runs():
            assert run.status == "done"
            assert 0.5 < run.metrics["final_loss"] < 5.6   # below uniform over bytes, ln 256 = 5.55 nats
            assert run.metrics["tokens_per_s"] > 0 and run.metrics["mfu"] > 0


@pytest.mark.parametrize("name", ["wsd", "tiny", "small", "forecast", "medium", "large"])
def test_no_preset_run_repeats_the_default_corpus(name):
    """Every run of every demo ladder sees each training token at most once: a repeated-data run would mix the
    data-constrained regime (Muennighoff et al. 2023) into a law fitted as if data were unlimited."""
    from scalinglab.demo.presets import get_preset
    from scalinglab.train.data import load_tokens

    preset = get_preset(name)
    train_tokens = len(load_tokens(preset.settings.data_config()).train)
    longest = max(preset.specs(), key=lambda s: s.n_tokens)
    assert longest.n_tokens <= train_tokens, f"{longest.run_id} needs {longest.n_tokens:,} of {train_tokens:,}"


@pytest.mark.parametrize("name", ["wsd", "tiny", "small", "forecast", "medium", "large"])
def test_presets_keep_runs_inside_their_tokens_per_parameter_window(name):
    from scalinglab.demo.presets import get_preset

    preset = get_preset(name)
    ratios = [s.tokens_per_param for s in preset.specs() if s.role != "stable" and not s.held_out]
    assert min(ratios) >= preset.min_tokens_per_param > 0 and max(ratios) <= preset.max_tokens_per_param


def test_the_default_wsd_preset_is_a_ladder_worth_fitting():
    """Issue 15's design goals for the default demo: >= 30 (N, D) points over >= 2 decades of compute, each size's
    stable phase trained once, and one held-out run beyond the largest fitted compute."""
    from scalinglab.demo.presets import get_preset

    specs = get_preset("wsd").specs()
    points = [s for s in specs if s.role == "branch" and not s.held_out]
    held = [s for s in specs if s.held_out]
    stables = [s for s in specs if s.role == "stable"]
    flops = [6 * s.n_params * s.n_tokens for s in points]
    assert len(points) >= 30 and max(flops) / min(flops) >= 100
    assert len(held) == 1 and 6 * held[0].n_params * held[0].n_tokens > 1.5 * max(flops)
    assert len(stables) == len({s.parent for s in points}) + 1  # one per size, and the held-out run's own
    assert sum(s.spent_flops for s in points) < 0.75 * sum(s.flops_full for s in points)
