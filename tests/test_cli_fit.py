"""The fit / backtest / predict / optimal commands: the same numbers as the Python API, JSON for machines."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import synthetic_chinchilla_runs
from scalinglab.cli import main
from scalinglab.laws import Chinchilla
from scalinglab.laws.fit import fit
from scalinglab.laws.optimal import compute_optimal
from scalinglab.laws.published import published_law

TRUE = dict(E=1.8, A=400.0, B=1500.0, alpha=0.34, beta=0.37)


@pytest.fixture()
def runs_csv(tmp_path):
    path = tmp_path / "runs.csv"
    synthetic_chinchilla_runs(noise=0.01, seed=0, **TRUE).to_csv(path, index=False)
    return path


def run_json(capsys, args):
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_fit_json_equals_python_api(capsys, runs_csv):
    out = run_json(capsys, ["fit", str(runs_csv), "--json"])
    api = fit(runs_csv)
    assert out["law"] == "chinchilla" and out["converged"] is True
    assert out["objective"] == pytest.approx(api.objective, rel=1e-12)
    for k, v in api.params.items():
        assert out["params"][k] == pytest.approx(v, rel=1e-9)
    assert out["notes"] == ["flops derived as C = 6·N·D"]


def test_fit_with_bootstrap_prints_intervals_and_saves_a_law_file(capsys, runs_csv, tmp_path):
    saved = tmp_path / "law.json"
    assert main(["fit", str(runs_csv), "--bootstrap", "50", "--flops", "1e22", "--save", str(saved)]) == 0
    text = capsys.readouterr().out
    assert "90% interval" in text and "n_opt@1e+22" in text and "converged" in text
    out = run_json(capsys, ["optimal", "--flops", "1e22", "--law-file", str(saved), "--json"])
    law = fit(runs_csv).law
    assert out["allocations"][0]["n_params"] == pytest.approx(float(law.optimal_n_params(1e22)), rel=1e-6)
    boot = json.loads(saved.read_text())["bootstrap"]
    assert boot["n_resamples"] == 50 and {r["quantity"] for r in boot["intervals"]} >= {"a", "b", "n_opt@1e+22"}


def test_optimal_uses_published_chinchilla_by_default(capsys):
    out = run_json(capsys, ["optimal", "--flops", "5.76e23", "--json"])
    expect = compute_optimal(published_law("hoffmann2022"), 5.76e23)
    assert out["allocations"][0]["n_params"] == pytest.approx(float(expect.n_params), rel=1e-12)
    out = run_json(capsys, ["optimal", "--flops", "2.21e19", "--published", "hoffmann2022-tex", "--json"])
    assert out["allocations"][0]["n_params"] == pytest.approx(389e6, rel=0.01)  # Hoffmann et al. Table A3 row


def test_predict(capsys):
    out = run_json(capsys, ["predict", "--N", "70e9", "--D", "1.4e12", "--json"])
    assert out["loss"] == pytest.approx(1.69 + 406.4 / 70e9**0.34 + 410.7 / 1.4e12**0.28, rel=1e-12)
    out = run_json(capsys, ["predict", "--N", "6.34e9", "--D", "242e9", "--U", "25e9", "--published",
                            "muennighoff2023", "--json"])
    assert out["loss"] == pytest.approx(2.2256440889984477, rel=1e-12)  # datablations README value


def test_backtest_cli(capsys, runs_csv):
    out = run_json(capsys, ["backtest", str(runs_csv), "--cutoff-flops", "1e17", "--json"])
    assert out["n_held_out"] == len(out["runs"]) > 0
    assert out["median_abs_rel_error"] == pytest.approx(np.median([abs(r["rel_error"]) for r in out["runs"]]))


@pytest.mark.parametrize("args,needle", [
    (["optimal", "--flops", "0"], "--flops must be a finite number > 0"),
    (["optimal", "--flops", "1e21", "--published", "nope"], "unknown published law 'nope'"),
    (["optimal", "--flops", "1e21", "--published", "muennighoff2023"], "also needs unique_tokens"),
    (["predict", "--N", "1e9"], "needs n_params, n_tokens; give n_tokens"),
    (["predict", "--N", "1e308", "--D", "1e308"], "'flops' derived from C = 6·N·D is not a finite number > 0"),
    (["fit", "RUNS", "--law", "gpt"], "unknown law 'gpt'"),
    (["fit", "RUNS", "--loss", "l1"], "unknown loss 'l1'"),
    (["fit", "RUNS", "--bootstrap", "1"], "at least 2 resamples"),
    (["fit", "RUNS", "--law", "data_constrained"], "needs column(s) unique_tokens"),
    (["optimal", "--flops", "1e21", "--law-file", "missing.json"], "law file not found"),
    (["fit"], "Missing argument"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, runs_csv, args, needle):
    args = [str(runs_csv) if a == "RUNS" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_commands_exit_code_reaches_the_shell():
    import typer

    from scalinglab.cli import app

    @app.command("exit-code-probe", hidden=True)
    def probe():
        raise typer.Exit(3)

    assert main(["exit-code-probe"]) == 3


def test_fit_approaches_table_says_why_an_interval_is_missing(capsys, tmp_path):
    # Two isoFLOP budgets × exactly 3 sizes: approach 2 has an estimate but no interval (no residual to resample).
    law = Chinchilla(**TRUE)
    rows = []
    for c in (1e18, 1e19):
        for n in law.optimal_n_params(c) * np.array([0.3, 1.0, 3.0]):
            rows.append({"N": n, "D": c / (6 * n), "loss": float(law.predict(N=n, D=c / (6 * n)))})
    path = tmp_path / "isoflop.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    assert main(["fit", str(path), "--approaches"]) == 0
    out = capsys.readouterr().out
    assert "— (see note)" in out and "no interval" in out


@pytest.fixture()
def configs_csv(tmp_path):
    """Two configurations from different known laws, plus one with too few runs, in one table; 'size' is a label."""
    other = dict(E=2.1, A=800.0, B=900.0, alpha=0.40, beta=0.30)
    parts = [synthetic_chinchilla_runs(noise=0.002, seed=1, **TRUE).assign(config="a"),
             synthetic_chinchilla_runs(noise=0.002, seed=2, **other).assign(config="b"),
             synthetic_chinchilla_runs(noise=0.002, seed=3, **TRUE).head(3).assign(config="tiny")]
    df = pd.concat(parts, ignore_index=True).rename(columns={"N": "params", "loss": "eval/c4/loss"})
    df["size"] = np.where(df["params"] > 1e8, "large", "small")
    path = tmp_path / "configs.csv"
    df.to_csv(path, index=False)
    return path, {"a": TRUE, "b": other}


def test_fit_by_config_fits_each_group_and_reports_the_one_that_cannot_be(capsys, configs_csv):
    path, truth = configs_csv
    code = main(["fit", str(path), "--by", "config", "--columns", "N=params,loss=eval/c4/loss", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    out = json.loads(captured.out)
    assert [g["group"] for g in out["groups"]] == [{"config": "a"}, {"config": "b"}, {"config": "tiny"}]
    assert out["n_fitted"] == 2 and [g["n_runs"] for g in out["groups"]] == [36, 36, 3]
    for g in out["groups"][:2]:  # noise 0.2 %: each group recovers its own law's exponents
        want = truth[g["group"]["config"]]
        assert g["params"]["alpha"] == pytest.approx(want["alpha"], abs=0.03)
        assert g["params"]["beta"] == pytest.approx(want["beta"], abs=0.03)
    assert "need at least 5 runs, got 3" in out["groups"][2]["error"]
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "group config=tiny" in err[0] and err[0].startswith("error: ")


def test_fit_by_exits_2_when_no_group_can_be_fitted(capsys, tmp_path):
    df = synthetic_chinchilla_runs(noise=0.01, seed=0, **TRUE).head(6).assign(config=["x", "y"] * 3)
    df.to_csv(tmp_path / "small.csv", index=False)
    assert main(["fit", str(tmp_path / "small.csv"), "--by", "config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split("group ")[1].split(")")[0] for line in err] == ["config=x", "config=y"]
    assert all("need at least 5 runs, got 3" in line for line in err)


@pytest.mark.parametrize("args,needle", [
    (["--by", "colour", "--columns", "N=params,loss=eval/c4/loss"], "--by: no column 'colour' (metadata columns: "
                                                                    "config, size)"),
    (["--columns", "N=parms,loss=eval/c4/loss"], "--columns N=parms: no column 'parms'"),
    (["--columns", "N"], "--columns expects QUANTITY=COLUMN pairs"),
    ([], "missing column 'loss'"),
])
def test_bad_by_and_columns_are_one_line_exit_2(capsys, configs_csv, args, needle):
    path, _ = configs_csv
    for command in ("fit", "backtest"):
        assert main([command, str(path), *args]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1


def test_report_by_config_writes_one_report_per_group(capsys, configs_csv, tmp_path):
    path, truth = configs_csv
    out = tmp_path / "rep" / "report.html"
    code = main(["report", str(path), "-o", str(out), "--by", "config", "--columns", "N=params,loss=eval/c4/loss",
                 "--bootstrap", "0", "--no-approaches", "--no-backtest"])
    assert code == 0 and "group config=tiny" in capsys.readouterr().err
    for config in ("a", "b"):
        data = json.loads((tmp_path / "rep" / f"report-{config}.json").read_text())
        assert data["n_runs_fitted"] == 36
        assert data["fit"]["params"]["alpha"] == pytest.approx(truth[config]["alpha"], abs=0.03)
    assert not (tmp_path / "rep" / "report-tiny.html").exists()


@pytest.mark.parametrize("args, needle", [(["--delta", "1e308"], "--delta must be between 1e-12 and 1000"),
                                          (["--delta", "5e-324"], "--delta must be between"),
                                          (["--asymmetry", "1e308"], "--asymmetry must be between 1e-06 and 1e+06")])
def test_a_huber_delta_or_asymmetry_out_of_range_is_refused(capsys, runs_csv, args, needle):
    # Before the fix a delta of 1e308 overflowed inside the solver (RuntimeWarning) and 5e-324 "converged" at 0.
    assert main(["fit", str(runs_csv), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_a_degenerate_fit_whose_rising_term_underflows_is_refused(capsys, tmp_path):
    """Nine runs the fuzz test drew: the best Chinchilla start ends at beta = -61.6 with log B = -1829, a term that
    rises with D and was kept small only by a coefficient below the smallest double. Stored as B = 2.2e-308 it
    predicted inf at the runs themselves (an overflow warning in R²); now it is refused in one line."""
    path = tmp_path / "runs.csv"
    path.write_text("N,D,loss\n5.73685e+10,7.79405e+12,2.00001\n1e+09,7.1479e+12,1.5\n9.27991e+10,6.67524e+12,1.5\n"
                    "4.20289e+10,4.66326e+12,7.9766\n4.13238e+10,4.35572e+12,1.53457\n1e+07,1.46795e+12,2.14571\n"
                    "745040,1e+09,3.27357\n6.416e+10,7.95154e+12,3.16526\n6.15593e+08,7.74836e+12,7\n")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["fit", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "underflows while beta" in err and len(err.splitlines()) == 1
