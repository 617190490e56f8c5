"""The report for the Epoch AI reconstruction of Chinchilla's runs (read in place from ../shared/reference), with a
planner request and the Large Language Monkeys sample counts for the test-time section: every section present, the
numbers shown are the fit's, and they reproduce the published ones."""

import json
import math

import numpy as np
import pytest
from conftest import reference_file
from report_helpers import Page, shown

from scalinglab.laws.forecast import forecast
from scalinglab.laws.optimal import compute_optimal
from scalinglab.report import ReportOptions, write_report
from scalinglab.report.html import interval, num
from scalinglab.testtime.counts import load_counts
from scalinglab.testtime.estimators import pass_at_k

SECTIONS = ["summary", "trust", "fit", "allocation", "forecast", "figures", "backtest", "plan", "testtime", "runs",
            "notes"]
FORECAST_RESAMPLES = 50
CHINCHILLA_FLOPS = 5.76e23  # Chinchilla's own training budget (Hoffmann et al. 2022, Table 3)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    runs = reference_file("epoch_chinchilla", "svg_extracted_data.csv")
    counts = reference_file("llmonkeys_pythia_math", "pythia_math_per_problem_counts.csv")
    out = tmp_path_factory.mktemp("epoch") / "epoch.html"
    files = write_report(runs, out, drop_highest=5, options=ReportOptions(
        n_resamples=100, plans=(f"flops={CHINCHILLA_FLOPS}",), counts=str(counts),
        forecast_resamples=FORECAST_RESAMPLES))
    return files, Page(files.html.read_text(encoding="utf-8"))


def test_every_section_is_present(report):
    files, page = report
    assert page.sections == SECTIONS
    assert set(page.images) == {f"fig-{n}" for n in ("loss_vs_compute", "forecast", "compute_optimal", "isoflop",
                                                     "residuals", "backtest", "coverage")}


def test_shown_parameters_are_the_fit_and_reproduce_besiroglu_2024(report):
    files, page = report
    fit = files.data.fit
    rows = {row[0][0]: row for row in page.tables["fit-params"]}
    for name, value in fit.params.items():
        assert float(rows[name][1][1]) == pytest.approx(value, rel=1e-12)
        assert rows[name][1][0] == shown(num(value))
    # Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt", Table 1, 5 highest-loss runs dropped):
    # E = 1.82, A = 482.01, B = 2085.43, alpha = 0.3478, beta = 0.3658.
    shown_value = {k: float(rows[k][1][0]) for k in ("E", "alpha", "beta")}
    assert shown_value["E"] == pytest.approx(1.82, abs=0.01)
    assert shown_value["alpha"] == pytest.approx(0.3478, abs=0.005)
    assert shown_value["beta"] == pytest.approx(0.3658, abs=0.005)


def test_the_five_dropped_runs_are_listed_as_excluded(report):
    files, page = report
    excluded = [row for row in page.tables["runs-table"] if row[7][0].startswith("excluded")]
    assert len(excluded) == 5 and files.data.fit.n_points == 240
    assert all("highest-loss" in row[7][0] for row in excluded)
    fitted_max = files.data.runs.loss.max()
    assert all(float(row[4][1]) > fitted_max for row in excluded)   # they are the five highest losses


def test_planner_section_allocates_chinchillas_budget_with_the_fitted_law(report):
    files, page = report
    plan = files.data.plans[0].result
    expected = compute_optimal(files.data.fit.law, CHINCHILLA_FLOPS)
    assert plan["allocation"]["n_params"] == pytest.approx(float(expected.n_params), rel=1e-9)
    assert plan["allocation"]["loss"] == pytest.approx(float(expected.loss), rel=1e-9)
    cells = {cell[0] for rows in page.tables.values() for row in rows for cell in row}
    assert shown(num(plan["allocation"]["n_params"])) in cells


def test_testtime_section_reproduces_the_monkeys_pass_at_k(report):
    files, page = report
    counts = load_counts(reference_file("llmonkeys_pythia_math", "pythia_math_per_problem_counts.csv"))
    rows = page.tables["testtime-passk"]
    shown_rows = {(r[0][0], int(float(r[1][1]))): float(r[2][1]) for r in rows}
    # SOURCE.md beside the counts: mean pass@k of Pythia 2.8B at k = 1 / 100 / 10000 is 0.0203 / 0.4220 / 0.8125.
    assert shown_rows[("Pythia 2.8B", 1)] == pytest.approx(0.0203, abs=5e-5)
    assert shown_rows[("Pythia 2.8B", 100)] == pytest.approx(0.4220, abs=5e-5)
    assert shown_rows[("Pythia 2.8B", 10000)] == pytest.approx(0.8125, abs=5e-5)
    for (model, k), value in shown_rows.items():
        g = counts.group(model)
        assert value == pytest.approx(float(np.mean(pass_at_k(g["n"].to_numpy(), g["correct"].to_numpy(), k))),
                                      rel=1e-12)


def test_trust_box_reports_extrapolation_and_approach_agreement(report):
    files, page = report
    trust = files.data.trust
    max_c = files.data.runs.flops.max()
    decades = [float(row[1][1]) for row in page.tables["trust-budgets"]]
    assert decades == pytest.approx([math.log10(c / max_c) for c in files.data.budgets], rel=1e-12)
    checks = {row[1][0]: row for row in page.tables["trust-checks"]}
    assert "approaches" in checks and trust.approach_spread is not None
    a = [float(row[1][1]) for row in page.tables["approaches"]]
    assert max(a) - min(a) == pytest.approx(trust.approach_spread, rel=1e-12)


def test_forecast_section_shows_sl_forecast_at_the_budgets_and_beyond_the_largest_run(report):
    """The section's numbers are sl.forecast's on the same runs: at each budget's compute-optimal point under the
    fitted law (as the allocation table shows it) and at 10× and 100× the largest run, with three law forms."""
    files, page = report
    data = files.data
    max_c = data.runs.flops.max()
    flops = np.sort(np.array(list(data.budgets) + [10 * max_c, 100 * max_c]))
    alloc = compute_optimal(data.fit.law, flops)
    targets = [{"N": n, "D": c / (6 * n)} for n, c in zip(alloc.n_params, flops)]
    expected = forecast(data.runs, targets, "auto", level=0.9, n_resamples=FORECAST_RESAMPLES, seed=0)
    rows = page.tables["forecast-targets"]
    assert len(rows) == len(targets) == 6
    assert [r[0][0] for r in rows].count("10× the largest run") == 1
    for row, t in zip(rows, expected.targets):
        assert float(row[1][1]) == pytest.approx(t.flops, rel=1e-9)
        assert float(row[2][1]) == pytest.approx(t.n_params, rel=1e-9)
        assert float(row[5][1]) == pytest.approx(t.loss.estimate, rel=1e-9)
        assert row[6][0] == shown(interval(t.loss.lo, t.loss.hi))
        assert float(row[4][1]) == pytest.approx(t.extrapolation_decades, rel=1e-9)
    for row, t in zip(page.tables["forecast-components"], expected.targets):
        total = sum(v * v for v in t.components.values())
        assert [float(c[1]) for c in row[2:]] == pytest.approx([v * v / total for v in t.components.values()])
    forms = {r[0][0]: float(r[1][1]) for r in page.tables["forecast-forms"]}
    assert forms == pytest.approx({f.law: f.weight for f in expected.forms})
    assert set(forms) == {"chinchilla", "kaplan", "interaction"}
    # the report's budget points are the allocation table's
    for row, alloc_row in zip([r for r in rows if r[0][0] == "report budget"], page.tables["allocation"]):
        assert float(row[2][1]) == pytest.approx(float(alloc_row[2][1]), rel=1e-9)
    saved = json.loads(files.json.read_text())["forecast"]
    for t, e in zip(saved["targets"], expected.targets):
        assert (t["loss"], t["lo"], t["hi"], t["level"]) == pytest.approx(
            (e.loss.estimate, e.loss.lo, e.loss.hi, 0.9), rel=1e-9)
        assert t["components"] == pytest.approx(e.components, rel=1e-9, abs=1e-15)
        assert sum(t["shares"].values()) == pytest.approx(1.0)
    assert [f["weight"] for f in saved["forms"]] == pytest.approx([f.weight for f in expected.forms])
