"""``scalinglab report`` from the command line: user text is escaped, bad input is a one-line error with exit code 2,
and the defaults it chooses (budgets, backtest cut) follow the data."""

import numpy as np
import pytest
from conftest import synthetic_chinchilla_runs
from report_helpers import Page

from scalinglab.cli import main
from scalinglab.report.analysis import backtest_cutoff, default_budgets
from scalinglab.report.html import esc, num
from scalinglab.report.planning import parse_request

SCRIPT = "<script>alert('run')</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'


@pytest.fixture()
def runs_csv(tmp_path):
    df = synthetic_chinchilla_runs(sizes=np.geomspace(1e7, 1e9, 4), tokens=np.geomspace(1e8, 1e10, 4), seed=3)
    df["run_id"] = [f"run{i}" for i in range(len(df))]
    df.loc[0, "run_id"] = SCRIPT
    df.loc[1, "run_id"] = ATTRIBUTE
    df["note"] = "<b>bold</b>"
    path = tmp_path / "runs & <co>.csv"
    df.to_csv(path, index=False)
    return path


def test_a_run_named_script_is_escaped_everywhere(runs_csv, tmp_path, capsys):
    out = tmp_path / "report.html"
    code = main(["report", str(runs_csv), "-o", str(out), "--bootstrap", "0", "--no-backtest", "--no-approaches",
                 "--no-forecast", "--exclude", ATTRIBUTE])
    assert code == 0
    assert str(out) in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "<img src=x" not in html and "<co>" not in html
    assert esc(SCRIPT) in html and esc(ATTRIBUTE) in html
    page = Page(html)
    assert page.scripts == 0
    status = {row[0][0]: row[7][0] for row in page.tables["runs-table"]}
    assert status[SCRIPT] == "fitted"                                    # the parser reads back the exact names
    assert status[ATTRIBUTE] == "excluded: excluded by the user (--exclude)"
    other = {row[0][0]: row[8][0] for row in page.tables["runs-table"]}
    assert other[SCRIPT] == "note: <b>bold</b>"                         # column values too: shown, as text
    assert "<b>bold</b>" not in html and esc("<b>bold</b>") in html


@pytest.mark.parametrize("args, message", [
    (["missing.csv"], "file not found"),
    (["{runs}", "-o", "{tmp}/report.txt"], "ending in .html"),
    (["{runs}", "--plan", "warp=9"], "unknown key 'warp'"),
    (["{runs}", "--plan", "flops=lots"], "must be a number"),
    (["{runs}", "--exclude", "no-such-run"], "unknown run 'no-such-run'"),
    (["{runs}", "--bootstrap", "1"], "at least 2 resamples"),
    (["{runs}", "--law", "cubic"], "unknown law 'cubic'"),
    (["{tmp}"], "no ladder store"),
])
def test_bad_input_is_one_line_and_exit_code_2(runs_csv, tmp_path, capsys, args, message):
    argv = ["report"] + [a.format(runs=runs_csv, tmp=tmp_path) for a in args] + ["-o", str(tmp_path / "r.html")] * (
        "-o" not in args)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_default_budgets_start_at_the_next_decade_above_the_largest_run():
    assert default_budgets(np.array([1e18, 3.2e21])) == (1e22, 1e23, 1e24, 1e25)
    assert default_budgets(np.array([1e20, 1e21])) == (1e21, 1e22, 1e23, 1e24)


def test_backtest_cut_falls_between_isoflop_budgets_and_holds_out_about_a_fifth():
    flops = np.repeat([1e18, 1e19, 1e20, 1e21, 1e22], 4) * np.tile([1.0, 1.05, 1.1, 1.2], 5)
    cut = backtest_cutoff(flops, n_min=6)
    assert cut == pytest.approx(1.2e21)            # the 1e22 budget (4 of 20 runs = 20 %) is held out
    assert backtest_cutoff(flops[:8], n_min=6) is None   # holding out 1e19 would leave 4 runs to fit 5 parameters
    assert backtest_cutoff(np.full(10, 1e20), n_min=6) is None          # one budget: nothing to hold out


def test_plan_requests_parse_like_the_plan_command():
    fields, assume, law = parse_request("accelerator=h100, count=1e3, days=30, mfu=0.35")
    assert fields == {"accelerator": "h100", "count": 1000, "days": 30.0} and assume == {"mfu": 0.35}
    assert law is None
    assert parse_request("flops=1e24,law=chinchilla")[2] == "chinchilla"


def test_numbers_are_shown_with_four_significant_digits():
    assert num(1.8172180990092800) == "1.817"
    assert num(2.791737e9) == "2.792×10<sup>9</sup>"
    assert num(1e21) == "1×10<sup>21</sup>"
    assert num(float("nan")) == "—"


def test_same_seed_same_bytes(runs_csv, tmp_path):
    pages = []
    for name in ("a", "b"):
        out = tmp_path / name / "report.html"
        assert main(["report", str(runs_csv), "-o", str(out), "--bootstrap", "20", "--seed", "7", "--no-backtest",
                     "--no-approaches", "--exclude", ATTRIBUTE, "--forecast-law", "chinchilla",
                     "--forecast-resamples", "10"]) == 0
        pages.append((out.read_bytes(), out.with_suffix(".json").read_bytes(),
                      (out.parent / "report_figures" / "loss_vs_compute.svg").read_bytes(),
                      (out.parent / "report_figures" / "forecast.svg").read_bytes()))
    assert pages[0] == pages[1]
    assert "forecast-targets" in Page(pages[0][0].decode("utf-8")).tables   # the forecast is in what was compared
