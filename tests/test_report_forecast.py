"""The report's forecast section from the command line: targets and resamples as `scalinglab forecast` names them,
the section turned off, a report that still builds (and says why) when the forecast cannot be computed, and the fit's
objective named as the fit used it. (Its numbers against sl.forecast: tests/test_report_epoch.py.)"""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_chinchilla_runs
from report_helpers import Page

from scalinglab.cli import main
from scalinglab.errors import InputError
from scalinglab.laws.fit import fit
from scalinglab.laws.forecast import forecast
from scalinglab.laws.forms import _grid
from scalinglab.report import ReportOptions, make_report
from scalinglab.report.render import render_fragment

FAST = ["--bootstrap", "0", "--no-backtest", "--no-approaches"]
SMALL_GRID = _grid([0.0, 5.0, 10.0], [0.0, 5.0, 10.0], [0.0, 0.5], [0.3, 0.6], [0.3, 0.6])


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "runs.csv"
    synthetic_chinchilla_runs(sizes=np.geomspace(1e7, 1e8, 4), tokens=np.geomspace(2e8, 2e9, 4), seed=5).to_csv(
        path, index=False)
    return path


def test_a_target_given_as_n_and_d_is_forecast_with_its_interval(runs_csv, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", str(runs_csv), "-o", str(out), *FAST, "--forecast-law", "chinchilla",
                 "--forecast-resamples", "10", "--N", "1e9", "--D", "2e10", "--seed", "3"]) == 0
    rows = Page(out.read_text(encoding="utf-8")).tables["forecast-targets"]
    mine = [r for r in rows if r[0][0] == "your target"]
    assert len(mine) == 1 and float(mine[0][2][1]) == 1e9 and float(mine[0][3][1]) == 2e10
    expected = forecast(runs_csv, [{"N": 1e9, "D": 2e10}], "chinchilla", n_resamples=10, seed=3).targets[0]
    assert float(mine[0][5][1]) == pytest.approx(expected.loss.estimate, rel=1e-9)
    saved = json.loads(out.with_suffix(".json").read_text())["forecast"]
    assert saved["n_resamples"] == 10 and saved["seed"] == 3
    t = saved["targets"][-1]
    assert t["target"] == "your target"
    assert (t["lo"], t["hi"]) == pytest.approx((expected.loss.lo, expected.loss.hi), rel=1e-9)
    assert t["lo"] < t["loss"] < t["hi"] and t["level"] == 0.9 and set(t["components"]) == set(t["shares"])
    assert len(saved["band"]) > 2 and saved["band"][0]["flops"] == pytest.approx(6 * 1e8 * 2e9)
    assert saved["held_out"] == [] and json.loads(out.with_suffix(".json").read_text())["n_runs_held_out"] == 0


def _law(n, d):
    """The fixture's law (synthetic_chinchilla_runs' defaults) without noise."""
    return 1.8 + 400.0 / n ** 0.34 + 1500.0 / d ** 0.37


def _with_held_out(runs_csv, path):
    """The fixture's runs and two runs marked held out: one inside the ladder at its law's loss, one 16× the largest
    fitted run's compute (4e8 × 8e9 against 1e8 × 2e9) 50 % above its law's loss, far outside any interval."""
    held = pd.DataFrame([{"N": 3e7, "D": 6e8, "loss": _law(3e7, 6e8)},
                         {"N": 4e8, "D": 8e9, "loss": 1.5 * _law(4e8, 8e9)}])
    pd.concat([pd.read_csv(runs_csv).assign(held_out="no"), held.assign(held_out="yes")]).to_csv(path, index=False)
    return path, held


def test_held_out_runs_are_forecast_against_their_loss_and_fitted_nowhere(runs_csv, tmp_path):
    (path, held), out = _with_held_out(runs_csv, tmp_path / "held.csv"), tmp_path / "r.html"
    assert main(["report", str(path), "-o", str(out), *FAST, "--forecast-law", "chinchilla",
                 "--forecast-resamples", "10", "--seed", "3"]) == 0
    saved = json.loads(out.with_suffix(".json").read_text())
    assert (saved["n_runs_fitted"], saved["n_runs_held_out"]) == (16, 2)
    assert saved["fit"]["params"] == fit(runs_csv).params            # bit for bit: the runs moved no fit
    got = saved["forecast"]["held_out"]
    expected = forecast(runs_csv, [{"N": n, "D": d} for n, d in zip(held["N"], held["D"])], "chinchilla",
                        n_resamples=10, seed=3).targets
    for h, e, (_, run) in zip(got, expected, held.iterrows()):
        assert (h["N"], h["D"], h["actual_loss"]) == (run["N"], run["D"], run["loss"])
        assert h["flops"] == pytest.approx(6 * run["N"] * run["D"], rel=1e-12)
        assert (h["loss"], h["lo"], h["hi"]) == pytest.approx((e.loss.estimate, e.loss.lo, e.loss.hi), rel=1e-9)
        assert h["rel_error"] == pytest.approx(h["loss"] / h["actual_loss"] - 1, rel=1e-12)
    assert [h["inside"] for h in got] == [True, False] and got[1]["rel_error"] < -0.2
    assert got[0]["extrapolation_decades"] == 0 and got[1]["extrapolation_decades"] == pytest.approx(np.log10(16))
    html = out.read_text(encoding="utf-8")
    page = Page(html)
    rows = page.tables["forecast-held-out"]
    assert [r[0][0] for r in rows] == ["row 17", "row 18"] and [r[9][0] for r in rows] == ["yes", "no"]
    assert [float(r[7][1]) for r in rows] == held["loss"].tolist()
    assert [float(r[5][1]) for r in rows] == pytest.approx([h["loss"] for h in got], rel=1e-12)
    assert "1 of 2 inside the 90% interval" in html
    status = {r[0][0]: r[7][0] for r in page.tables["runs-table"]}
    assert status["row 17"] == status["row 18"] == "held out: the forecast's error" and status["row 1"] == "fitted"
    assert "2 runs marked held_out are not fitted; see the held-out forecast" in html
    assert "fig-forecast" in page.images and "open diamonds are the held-out runs" in html


def test_held_out_runs_without_a_forecast_section_are_said_not_forecast(runs_csv, tmp_path):
    from scalinglab.runs import load_runs

    data = make_report(load_runs(_with_held_out(runs_csv, tmp_path / "held.csv")[0]),
                       options=ReportOptions(n_resamples=0, approaches=False, backtest=False, forecast=False))
    assert len(data.runs) == 16 and len(data.input.held_out) == 2 and data.forecast is None
    assert "the forecast section is off (--no-forecast), so the held-out runs are not forecast" in data.notes


def test_no_forecast_leaves_the_section_and_figure_out(runs_csv, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", str(runs_csv), "-o", str(out), *FAST, "--no-forecast"]) == 0
    page = Page(out.read_text(encoding="utf-8"))
    assert "forecast" not in page.sections and "fig-forecast" not in page.images
    assert json.loads(out.with_suffix(".json").read_text())["forecast"] is None


def test_the_report_builds_and_says_why_when_the_forecast_cannot_be_computed(tmp_path):
    # 5 runs: enough for the report's Chinchilla fit (5 parameters), too few for the interaction form's 6 (one of
    # the auto forms), and the Chinchilla form alone (the fallback) has no compute-optimal point (beta < 0)
    path, out = tmp_path / "five.csv", tmp_path / "r.html"
    synthetic_chinchilla_runs(sizes=[1e7, 3e7, 1e8, 3e7, 1e7], tokens=[2e8], seed=1).assign(
        D=[2e8, 6e8, 2e9, 2e9, 6e9]).to_csv(path, index=False)
    assert main(["report", str(path), "-o", str(out), *FAST, "--forecast-resamples", "10"]) == 0
    html = out.read_text(encoding="utf-8")
    page = Page(html)
    assert "forecast" in page.sections and "fig-forecast" not in page.images
    assert 'id="forecast-unavailable"' in html and "need at least 6 runs" in html
    assert "the chinchilla form alone: law &#x27;chinchilla&#x27;" in html and "no compute-optimal" in html
    saved = json.loads(out.with_suffix(".json").read_text())["forecast"]
    assert saved["available"] is False and "need at least 6 runs" in saved["reason"]


def test_when_the_mixture_of_forms_fails_the_section_shows_the_fitted_form_alone_and_says_so(runs_csv, monkeypatch):
    import scalinglab.report.forecast as section

    def mixture_fails(runs, targets, law, **kw):
        if law == "auto":
            raise InputError("no mixture today")
        return forecast(runs, targets, law, **kw)

    monkeypatch.setattr(section, "forecast", mixture_fails)
    data = make_report(runs_csv, options=ReportOptions(n_resamples=0, approaches=False, backtest=False,
                                                       forecast_resamples=10))
    assert [f.law for f in data.forecast.result.forms] == ["chinchilla"]
    assert "no mixture today" in data.forecast.reason and "chinchilla form alone" in data.forecast.reason
    html = render_fragment(data)
    assert 'id="forecast-fallback"' in html and "no mixture today" in html
    assert "forecast-targets" in Page(html).tables
    assert data.to_dict()["forecast"]["reason"] == data.forecast.reason


@pytest.mark.parametrize("args, message", [
    (["--N", "1e9"], "give one --D per --N"),
    (["--N", "0", "--D", "1e9"], "--N must be a finite number > 0"),
    (["--forecast-resamples", "1"], "at least 2 resamples"),
    (["--forecast-law", "kaplan_c"], "needs a law of N and D"),
    (["--forecast-law", "cubic"], "unknown law 'cubic'"),
])
def test_bad_forecast_options_are_one_line_and_exit_code_2(runs_csv, tmp_path, capsys, args, message):
    assert main(["report", str(runs_csv), "-o", str(tmp_path / "r.html"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_the_fit_section_names_the_objective_the_fit_used(runs_csv):
    data = make_report(runs_csv, options=ReportOptions(n_resamples=0, approaches=False, backtest=False,
                                                       forecast=False))
    huber = Page(render_fragment(data))
    assert "Huber on log loss" in render_fragment(data) and huber.sections[:3] == ["summary", "trust", "fit"]
    mse = render_fragment(dataclasses.replace(data, fit=fit(data.runs, "chinchilla", loss="mse", grid=SMALL_GRID)))
    fit_text = mse[mse.index('id="fit"'):mse.index('id="allocation"')]
    assert "<code>mse</code> objective (least squares on raw loss)" in fit_text
    assert "log" not in fit_text.split("objective", 1)[1].split("starts")[0]
    assert "δ" not in fit_text.split("starts")[0]          # δ is Huber's; a least-squares fit has none
