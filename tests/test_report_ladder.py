"""The report for a tiny ladder (its SQLite store read in place): every section, every number equal to the fit and the
result objects behind it, failed and diverged runs listed with their reason, the figure files and the JSON."""

import base64
import json
import math

import numpy as np
import pytest
from report_helpers import FAILED_ERROR, Page, shown, tiny_ladder_report

from scalinglab.laws.optimal import compute_optimal
from scalinglab.report.html import interval, num, pct

SECTIONS = ["summary", "trust", "fit", "allocation", "forecast", "figures", "backtest", "plan", "runs", "notes"]
FIGURES = ["loss_vs_compute", "forecast", "compute_optimal", "isoflop", "loss_curves", "residuals", "backtest"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    files, ids = tiny_ladder_report(tmp_path_factory)
    return files, ids, files.html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(report):
    return Page(report[2])


def _rows(page, table):
    return {row[0][0]: row for row in page.tables[table]}


def test_every_section_and_figure_is_present_in_order(page):
    assert page.sections == SECTIONS
    assert list(page.images) == [f"fig-{f}" for f in FIGURES]
    assert page.scripts == 0


def test_fitted_parameters_shown_are_the_fit_results(report, page):
    data = report[0].data
    fit, boot = data.fit, data.boot
    rows = _rows(page, "fit-params")
    expected = dict(fit.params, a=fit.law.a_exponent, b=fit.law.b_exponent)
    assert set(rows) == set(expected)
    for name, value in expected.items():
        text, full = rows[name][1]
        assert float(full) == pytest.approx(value, rel=1e-12)
        assert text == shown(num(value))
        iv = boot.interval(name)
        assert rows[name][3][0] == shown(interval(iv["lo"], iv["hi"]))
        assert rows[name][5][0] == shown(interval(iv["lo_total"], iv["hi_total"]))
    summary = _rows(page, "fit-summary")
    assert float(summary["objective (at the optimum)"][1][1]) == fit.objective
    assert float(summary["R² of loss"][1][1]) == pytest.approx(fit.r_squared, rel=1e-12)
    # every planned run but the failed and the diverged one
    assert float(summary["runs fitted"][1][1]) == fit.n_points == report[1]["n_planned"] - 2


def test_allocation_table_is_the_fitted_laws_optimum(report, page):
    data = report[0].data
    budgets = np.array(data.budgets)
    assert budgets.tolist() == [1e12, 1e13, 1e14, 1e15]  # four decades from above the largest run (3e11 FLOP)
    alloc = compute_optimal(data.fit.law, budgets)
    rows = page.tables["allocation"]
    assert len(rows) == 4
    for row, c, n, d, loss in zip(rows, budgets, alloc.n_params, alloc.n_tokens, alloc.loss):
        assert float(row[0][1]) == c
        assert float(row[1][1]) == pytest.approx(math.log10(c / data.runs.flops.max()), rel=1e-12)
        assert float(row[2][1]) == pytest.approx(n, rel=1e-12)
        assert float(row[3][1]) == pytest.approx(d, rel=1e-12)
        assert float(row[5][1]) == pytest.approx(loss, rel=1e-12)
        iv = data.boot.interval(f"n_opt@{c:.3g}")
        assert row[6][0] == shown(interval(iv["lo_total"], iv["hi_total"], 3))


def test_failed_and_diverged_runs_are_listed_with_their_reason_and_not_fitted(report, page):
    files, ids, html = report
    status = {row[0][0]: row[7][0] for row in page.tables["runs-table"]}
    assert len(status) == ids["n_planned"]
    assert status[ids["failed"]] == f"excluded: failed: {FAILED_ERROR}"
    assert status[ids["diverged"]].startswith("excluded: diverged: final loss")
    assert sum(s == "fitted" for s in status.values()) == ids["n_planned"] - 2
    assert ids["diverged"] not in set(files.data.fit.runs.frame["run_id"])
    assert "&lt;at step 7&gt;" in html and "<at step 7>" not in html   # the stored error text is escaped


def test_runs_table_errors_are_the_fit_residuals(report, page):
    fit = report[0].data.fit
    rows = {row[0][0]: row for row in page.tables["runs-table"] if row[7][0] == "fitted"}
    rel = np.expm1(fit.residuals)
    for rid, r in zip(fit.runs.frame["run_id"], rel):
        assert float(rows[rid][6][1]) == pytest.approx(r, rel=1e-12)
        assert rows[rid][6][0] == pct(r)


def test_trust_box_states_extrapolation_in_decades_and_flags_a_far_forecast(report, page):
    data = report[0].data
    checks = {row[1][0]: row[0][0] for row in page.tables["trust-checks"]}
    # The largest budget (1e15) lies log10(1e15 / 3e11) ≈ 3.5 decades beyond a ladder spanning 1 decade.
    assert checks["extrapolation"] == "warning"
    decades = [float(row[1][1]) for row in page.tables["trust-budgets"]]
    assert decades == pytest.approx([math.log10(c / data.runs.flops.max()) for c in data.budgets], rel=1e-12)
    assert set(checks) >= {"extrapolation", "intervals", "approaches", "near-optimal fits", "backtest"}


def test_backtest_table_is_the_backtest_result(report, page):
    bt = report[0].data.backtest
    held = report[0].data.runs.flops > 2e11
    assert bt.cutoff_flops < 2e11 and len(bt.table) == held.sum() >= 2   # the 3e11 budget is held out
    rows = page.tables["backtest-runs"]
    assert [float(r[5][1]) for r in rows] == pytest.approx(bt.table["predicted"].tolist(), rel=1e-12)
    assert [r[6][0] for r in rows] == [pct(e) for e in bt.table["rel_error"]]


def test_planner_section_plans_with_the_fitted_law(report):
    files = report[0]
    fit = files.data.fit
    plan = json.loads(files.json.read_text())["plans"][0]
    assert plan["request"] == "flops=1e13"
    assert plan["plan"]["law"]["params"] == pytest.approx(fit.params, rel=1e-12)
    assert plan["plan"]["allocation"]["n_params"] == pytest.approx(float(compute_optimal(fit.law, 1e13).n_params),
                                                                  rel=1e-9)


def test_json_holds_the_same_numbers_as_the_page(report):
    files, ids = report[0], report[1]
    data = json.loads(files.json.read_text())
    assert data["fit"]["params"] == pytest.approx(files.data.fit.params, rel=1e-12)
    assert data["n_runs_fitted"] == ids["n_planned"] - 2 and data["n_runs_excluded"] == 2
    assert {r["reason"].split(":")[0] for r in data["excluded"]} == {"failed", "diverged"}
    assert [r["flops"] for r in data["compute_optimal"]] == [1e12, 1e13, 1e14, 1e15]
    assert data["trust"]["worst"] == "warning"
    fitted = {r["run_id"]: r for r in data["runs"]}
    fit = files.data.fit
    assert set(fitted) == set(fit.runs.frame["run_id"])
    for rid, rel in zip(fit.runs.frame["run_id"], np.expm1(fit.residuals)):
        assert fitted[rid]["fit_rel_error"] == pytest.approx(rel, rel=1e-12)


def test_figures_are_embedded_svg_and_written_as_files(report, page):
    files = report[0]
    fig_dir = files.html.with_name("report_figures")
    for name in FIGURES:
        src = page.images[f"fig-{name}"]
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1]).decode("utf-8")
        assert svg == (fig_dir / f"{name}.svg").read_text(encoding="utf-8")
        assert (fig_dir / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_data_renders_as_html_in_a_notebook(report):
    page = Page(report[0].data._repr_html_())
    assert page.sections == ["summary", "trust", "fit", "allocation", "forecast", "notes"]
    assert page.images == {} and page.scripts == 0


def test_figure_functions_work_alone_with_log_axes_units_and_legends_outside_the_data(report):
    from scalinglab.report import figures as F

    data = report[0].data
    fig = F.loss_vs_compute(data.runs, data.fit.law, budgets=data.budgets)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "(FLOP)" in ax.get_xlabel() and "(nats/token)" in ax.get_ylabel()
    fig.draw_without_rendering()
    legend = fig.legends[0].get_window_extent()
    assert legend.y1 < ax.get_window_extent().y0          # the legend sits under the axes, not on the data
    assert fig.axes[1].get_ylabel() == "parameters N"     # the colour bar says what colour means


def test_a_model_size_has_the_same_colour_in_every_figure(report):
    from scalinglab.report import figures as F
    from scalinglab.report.plotting import size_colors

    data = report[0].data
    colors = size_colors(data.runs.n_params)
    a = F.loss_vs_compute(data.runs, data.fit.law, colors=colors).axes[0].collections[0].get_facecolors()
    b = F.residuals(data.fit, colors=colors).axes[0].collections[0].get_facecolors()
    assert np.array_equal(a, b) and len(a) == len(data.runs)
    assert not np.array_equal(a[np.argmin(data.runs.n_params)], a[np.argmax(data.runs.n_params)])


def test_a_folder_of_exported_runs_and_curves_reports_like_the_ladder(report, tmp_path):
    from scalinglab.cli import main
    from scalinglab.ladder import RunStore

    files, ids, _ = report
    with RunStore(files.html.parent / "ladder", create=False) as store:
        store.export(tmp_path / "export")                     # runs.csv + curves.csv, as `scalinglab demo` writes
    out = tmp_path / "folder.html"
    assert main(["report", str(tmp_path / "export"), "-o", str(out), "--bootstrap", "0", "--no-backtest",
                 "--no-approaches", "--no-forecast"]) == 0
    page = Page(out.read_text(encoding="utf-8"))
    status = {row[0][0]: row[7][0] for row in page.tables["runs-table"]}
    assert status[ids["diverged"]].startswith("excluded: diverged")   # found again from the exported curves
    assert ids["failed"] not in status                                # an export holds finished runs only
    assert "fig-loss_curves" in page.images


def test_loss_vs_compute_draws_the_runs_when_the_fit_has_no_optimum(report):
    # Seen on a real 9-run demo ladder: the fit came back with alpha ≈ -30, which has no compute-optimal frontier;
    # the figure must still show the runs instead of failing the whole report.
    import dataclasses

    from scalinglab.report import figures as F

    data = report[0].data
    degenerate = dataclasses.replace(data.fit.law, alpha=-29.8, A=1e-136)
    fig = F.loss_vs_compute(data.runs, degenerate, budgets=data.budgets)
    assert len(fig.axes[0].collections[0].get_offsets()) == len(data.runs)


def test_wsd_branches_draw_each_stable_phase_once_and_each_cooldown_from_its_branch_point():
    import pandas as pd

    from scalinglab.report.figures import cooldown_branches, loss_curves
    from scalinglab.runs.io import runs_from_frame

    # two branches of one stable phase: curves share the prefix up to each branch point, then cool down
    frame = pd.DataFrame({"run_id": ["b1", "b2", "plain"], "n_params": [1e4, 1e4, 2e4], "n_tokens": [4e5, 8e5, 4e5],
                          "loss": [2.2, 2.0, 2.1], "parent": ["s", "s", ""], "branch_tokens": [3.2e5, 6.4e5, 0]})
    steps = [1e5, 2e5, 3.2e5, 4e5, 6.4e5, 8e5]
    stable = [3.0, 2.7, 2.5, 2.45, 2.35, 2.3]
    curves = pd.DataFrame(
        [("b1", t, y) for t, y in zip(steps[:3], stable[:3])] + [("b1", 4e5, 2.2)]
        + [("b2", t, y) for t, y in zip(steps[:5], stable[:5])] + [("b2", 8e5, 2.0)]
        + [("plain", 1e5, 3.0), ("plain", 4e5, 2.1)], columns=["run_id", "n_tokens", "loss"])
    runs = runs_from_frame(frame, curves=curves)
    parts = cooldown_branches(runs)
    assert len(parts["stable"]) == 1 and parts["stable"][0][1][:, 0].tolist() == steps[:5]  # the longest prefix
    assert [xy[:, 0].tolist() for _, xy in parts["cooldown"]] == [[3.2e5, 4e5], [6.4e5, 8e5]]
    assert parts["ends"][1].tolist() == [4e5, 8e5]
    assert "1 stable phases (dotted), 2 cooldown branches" in loss_curves(runs).axes[0].get_title()
    assert cooldown_branches(runs_from_frame(frame.drop(columns=["parent", "branch_tokens"]), curves=curves)) is None
