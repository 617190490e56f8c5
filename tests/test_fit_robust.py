"""Robust fits: a bounded irreducible loss, parameters held at given values, the raw-loss objective, per-run weights,
and bootstraps that count what they lose (and refuse what memory cannot hold)."""

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import reference_file, synthetic_chinchilla_runs
from scalinglab.cli import fit as fit_cli, main
from scalinglab.errors import InputError
from scalinglab.laws import Chinchilla
from scalinglab.laws.bootstrap import bootstrap, bootstrap_memory_bytes
from scalinglab.laws.fit import E_FLOOR_REL, fit, make_objective
from scalinglab.laws.solver import minimize_batched
from scalinglab.runs import load_runs

bootstrap_module = importlib.import_module("scalinglab.laws.bootstrap")  # the package exports a function of that name
TRUE = dict(E=1.8, A=400.0, B=1500.0, alpha=0.34, beta=0.37)
SMALL_GRID = np.array([[a, b, e, al, be] for a in (4.0, 7.0) for b in (5.0, 8.0) for e in (0.0, 0.6)
                       for al in (0.3, 0.5) for be in (0.3, 0.5)])
C4_LOSS = "eval/c4_en-validation/CrossEntropyLoss"


def olmo_ladder_runs() -> pd.DataFrame:
    """The 16 OLMo 2 ladder runs (SOURCE.md): N from final.json, D = tokens seen at the last row, loss = mean of the
    last 5 C4 evaluations (the paper's --moving_avg 5)."""
    final = json.loads(reference_file("olmo_ladder", "final.json").read_text())
    rows = []
    for size in final.values():
        for path in size["paths"]:
            history = pd.read_csv(reference_file("olmo_ladder", "ladder-runs", Path(path).name))
            evals = history.dropna(subset=[C4_LOSS])
            rows.append({"run_id": Path(path).stem, "N": float(size["n"]),
                         "D": float(history["throughput/total_tokens"].iloc[-1]),
                         "loss": float(evals[C4_LOSS].tail(5).mean())})
    return pd.DataFrame(rows)


# --- a bounded E ------------------------------------------------------------------------------------------------
def test_olmo_chinchilla_bootstrap_loses_no_resample_to_the_iteration_limit():
    # Issue 12: unbounded, 24-28 % of 1,000 resamples crawled toward E → 0 until the iteration limit and were
    # dropped. Bounded, each ends converged (a quarter of them at E's lower bound) and the interval uses them all.
    runs = olmo_ladder_runs()
    assert len(runs) == 16
    boot = bootstrap(runs, n_resamples=1000, seed=0)
    assert boot.n_failed == 0 and boot.failures == {}
    assert boot.at_bound["E"]["lower"] >= 100  # the resamples that used to be lost, now bounded solutions
    e = boot.interval("E")
    assert e["n_used"] == 1000
    assert 0 <= e["lo"] < e["estimate"] < e["hi"] <= runs["loss"].min()


def test_e_running_to_zero_ends_converged_on_its_bound():
    # Losses that fall below any positive floor (true E < 0: a misspecified ladder): unbounded, the fit chases
    # log E → −∞ until the iteration limit; bounded, it stops on the bound, converged, at an objective within 1e-6
    # of the unbounded crawl's (the floor E = 1e-8·L_min costs no more), and says where it stopped.
    runs = synthetic_chinchilla_runs(noise=0.003, seed=3, **{**TRUE, "E": -0.05})
    bounded = fit(runs, grid=SMALL_GRID)
    free = fit(runs, grid=SMALL_GRID, bound_e=False)
    assert not free.converged and free.message == "maximum iterations reached"
    assert bounded.converged and bounded.at_bound == {"E": "lower"}
    assert "E at its lower bound" in bounded.message
    assert bounded.params["E"] == pytest.approx(E_FLOOR_REL * runs["loss"].min(), rel=1e-9)
    assert bounded.objective <= free.objective * (1 + 1e-6)
    assert free.bounds == {} and free.at_bound == {}
    assert bounded.to_dict()["bounds"] == {"E": [0.0, pytest.approx(runs["loss"].min())]}


class _Bowl:
    """f(θ) = Σ (θ − c)²: its box-constrained minimum is clip(c, lo, hi), coordinate by coordinate."""
    cheap_derivatives = True

    def __init__(self, centre, bounds):
        self.c, self.bounds, self.weights = np.asarray(centre, float), bounds, np.ones((1, 1))

    def value(self, theta, rows=None):
        return np.sum((theta - self.c) ** 2, axis=1)

    def value_grad_hess(self, theta, rows=None):
        H = np.broadcast_to(2.0 * np.eye(theta.shape[1]), (len(theta), theta.shape[1], theta.shape[1])).copy()
        return self.value(theta), 2.0 * (theta - self.c), H


def test_solver_ends_exactly_on_lower_and_upper_bounds():
    lo, hi = np.array([-np.inf, -3.0, -3.0]), np.array([np.inf, 0.5, 0.5])
    bowl = _Bowl([1.0, -7.0, 2.0], (lo, hi))
    res = minimize_batched(bowl, np.array([[0.0, 0.0, 0.0], [5.0, 0.4, -2.0], [-1.0, 3.0, 9.0]]))
    assert res.converged.all()
    np.testing.assert_allclose(res.theta, np.tile([1.0, -3.0, 0.5], (3, 1)), rtol=0, atol=1e-9)
    assert np.all(res.theta[:, 1] == -3.0) and np.all(res.theta[:, 2] == 0.5)  # exactly on the bound


# --- parameters held at given values ----------------------------------------------------------------------------
def test_fix_holds_public_parameters_and_frees_the_rest():
    runs = synthetic_chinchilla_runs(noise=0.01, seed=0, **TRUE)
    free = fit(runs, grid=SMALL_GRID)
    held = fit(runs, grid=SMALL_GRID, fix={"E": 1.6, "beta": 0.3})
    assert held.converged and held.params["E"] == pytest.approx(1.6, rel=1e-12)
    assert held.params["beta"] == pytest.approx(0.3, rel=1e-12)
    assert set(held.held) == {"e", "beta"} and held.fixed == {"E": 1.6, "beta": 0.3}
    assert held.objective > free.objective  # the truth (E 1.8, β 0.37) is excluded, so the fit is worse
    boot = bootstrap(None, fit_result=held, n_resamples=20, seed=1)
    assert np.all(boot.samples["E"] == held.params["E"]) and boot.samples["alpha"].std() > 0


@pytest.mark.parametrize("fix, message", [({"gamma": 1.0}, "cannot fix 'gamma'"), ({"E": 0.0}, "cannot fix E=0"),
                                          ({"E": "x"}, "must be a number")])
def test_fix_refuses_unknown_or_invalid_parameters(fix, message):
    with pytest.raises(InputError, match=message):
        fit(synthetic_chinchilla_runs(**TRUE), grid=SMALL_GRID, fix=fix)


def test_fix_refuses_parameters_that_are_fitted_jointly():
    # Kaplan's L = (N_c/N)^α is fitted as c = α·log N_c: N_c cannot be held alone.
    with pytest.raises(InputError, match="fitted together"):
        fit(synthetic_chinchilla_runs(**TRUE), "kaplan_n", fix={"N_c": 1e13})


# --- objectives -------------------------------------------------------------------------------------------------
def test_mse_objective_is_least_squares_on_raw_loss_with_exact_derivatives():
    runs = load_runs(synthetic_chinchilla_runs(noise=0.02, seed=4, **TRUE))
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(runs))
    obj, _ = make_objective(Chinchilla, runs, loss="mse", weights=w)
    theta = Chinchilla(**TRUE).theta()[None, :] + np.array([[0.1, -0.2, 0.05, 0.01, -0.02]])
    pred = Chinchilla.from_theta(theta[0]).predict(N=runs.n_params, D=runs.n_tokens)
    f, g, H = obj.value_grad_hess(theta)
    assert f[0] == pytest.approx(np.sum(w * (pred - runs.loss) ** 2), rel=1e-12)
    h = 1e-6
    for j in range(5):
        step = np.zeros((1, 5))
        step[0, j] = h
        fp, gp, _ = obj.value_grad_hess(theta + step)
        fm, gm, _ = obj.value_grad_hess(theta - step)
        assert g[0, j] == pytest.approx((fp[0] - fm[0]) / (2 * h), rel=1e-5, abs=1e-12)
        np.testing.assert_allclose(H[0, j], (gp[0] - gm[0]) / (2 * h), rtol=1e-5, atol=1e-9)


def test_mse_fit_recovers_the_law_and_names_every_objective():
    runs = synthetic_chinchilla_runs(noise=0.003, seed=5, **TRUE)
    mse = fit(runs, loss="mse", grid=SMALL_GRID)
    assert mse.converged and mse.loss == "mse"
    assert mse.params["E"] == pytest.approx(TRUE["E"], abs=0.05)
    assert mse.params["alpha"] == pytest.approx(TRUE["alpha"], abs=0.03)
    assert fit(runs, loss="huber", grid=SMALL_GRID).loss == "huber_log"  # old names stay accepted
    assert fit(runs, loss="ls", grid=SMALL_GRID).to_dict()["loss"] == "ls_log"
    with pytest.raises(InputError, match="huber_log, ls_log, mse"):
        fit(runs, loss="l1")


# --- per-run weights --------------------------------------------------------------------------------------------
def test_weight_two_equals_the_run_counted_twice():
    df = synthetic_chinchilla_runs(noise=0.01, seed=6, **TRUE).assign(run_id=lambda d: [f"r{i}" for i in range(len(d))])
    twice = df.index % 5 == 0
    weighted = fit(df.assign(weight=np.where(twice, 2.0, 1.0)), grid=SMALL_GRID)
    repeated = fit(pd.concat([df, df[twice].assign(run_id=lambda d: d["run_id"] + "b")], ignore_index=True),
                   grid=SMALL_GRID)
    assert weighted.objective == pytest.approx(repeated.objective, rel=1e-9)
    for k, v in repeated.params.items():
        assert weighted.params[k] == pytest.approx(v, rel=1e-6), k
    assert weighted.to_dict()["weighted"] is True
    assert abs(fit(df, grid=SMALL_GRID).params["E"] - weighted.params["E"]) > 1e-6  # the weights did something


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "heavy"])
def test_weight_column_is_validated(bad):
    df = synthetic_chinchilla_runs(**TRUE).astype(str).assign(weight="1")
    df.loc[3, "weight"] = bad
    with pytest.raises(InputError, match=r"row 4, column 'weight'"):
        load_runs(df)


def test_bootstrap_multiplies_resample_counts_by_weights(monkeypatch):
    df = synthetic_chinchilla_runs(noise=0.01, seed=7, **TRUE)
    w = np.linspace(0.5, 3.0, len(df))
    base = fit(df.assign(weight=w), grid=SMALL_GRID)
    seen = {}
    real = bootstrap_module.minimize_batched

    def spy(obj, theta0, **kw):
        seen["weights"] = obj.weights.copy()
        return real(obj, theta0, **kw)

    monkeypatch.setattr(bootstrap_module, "minimize_batched", spy)
    boot = bootstrap(None, fit_result=base, n_resamples=30, seed=3)
    n = len(df)
    counts = np.random.default_rng(3).multinomial(n, np.full(n, 1.0 / n), size=30).astype(float)
    k = len(seen["weights"]) // 30
    np.testing.assert_array_equal(seen["weights"], np.repeat(counts, k, axis=0) * w)
    assert boot.n_failed == 0


# --- memory -----------------------------------------------------------------------------------------------------
def test_bootstrap_too_large_for_memory_is_refused_before_allocating(monkeypatch):
    # Issue 16 item 3: 10¹² resamples of 36 runs would need ~10¹⁶ bytes; numpy used to fail allocating the counts.
    base = fit(synthetic_chinchilla_runs(**TRUE), grid=SMALL_GRID)
    with pytest.raises(InputError, match=r"needs about [\d,.]+ GB of memory"):
        bootstrap(None, fit_result=base, n_resamples=10**12)
    monkeypatch.setattr(bootstrap_module, "available_memory_bytes", lambda: 8e9)
    with pytest.raises(InputError, match=r"use at most ([\d,]+) resamples") as err:
        bootstrap(None, fit_result=base, n_resamples=10**8)
    most = int(err.value.args[0].rsplit("at most ", 1)[1].split()[0].replace(",", ""))
    k, p = 1 + min(len(base.near_optima) - 1, bootstrap_module.MAX_EXTRA_STARTS), 5
    assert bootstrap_memory_bytes(most, 36, k, p, 7) <= 8e9 < bootstrap_memory_bytes(most + 1, 36, k, p, 7)
    assert 1e5 < most < 1e8


# --- the command line -------------------------------------------------------------------------------------------
@pytest.fixture()
def runs_csv(tmp_path):
    path = tmp_path / "runs.csv"
    synthetic_chinchilla_runs(noise=0.01, seed=0, **TRUE).to_csv(path, index=False)
    return path


def test_cli_fix_and_bound_options(capsys, runs_csv):
    assert main(["fit", str(runs_csv), "--fix", "E=1.6,beta=0.3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"]["E"] == pytest.approx(1.6) and out["params"]["beta"] == pytest.approx(0.3)
    assert out["fixed"] == {"E": 1.6, "beta": 0.3} and out["bounds"] == {}
    assert main(["fit", str(runs_csv), "--no-bound-e", "--loss", "mse", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bounds"] == {} and out["loss"] == "mse"
    assert main(["backtest", str(runs_csv), "--fix", "E=1.7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fit"]["params"]["E"] == pytest.approx(1.7)


@pytest.mark.parametrize("args, message", [
    (["fit", "{csv}", "--fix", "gamma=1"], "cannot fix 'gamma'"),
    (["fit", "{csv}", "--fix", "E"], "--fix expects NAME=VALUE"),
    (["backtest", "{csv}", "--fix", "E=1,E=2"], "each name once"),
    (["fit", "{csv}", "--loss", "l1"], "unknown loss 'l1'"),
    (["fit", "{csv}", "--bootstrap", "1000000000000"], "GB of memory"),
])
def test_cli_bad_options_end_in_one_line_and_exit_2(capsys, runs_csv, args, message):
    assert main([a.format(csv=runs_csv) for a in args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_help_names_each_objective(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one option per line: phrases are not broken by the help box
    assert main(["fit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("huber_log", "ls_log", "least squares on the raw loss", "--fix", "--no-bound-e"):
        assert phrase in text


def test_cli_counts_failed_resamples_and_flags_thin_intervals(capsys, runs_csv, monkeypatch):
    # Force failures (15 solver steps per resample; these take 4-39): the text says how many failed and marks the
    # intervals resting on fewer than 90 % of the resamples.
    monkeypatch.setattr(bootstrap_module, "MAX_ITER", 15)
    monkeypatch.setattr(fit_cli.console, "_width", 200)  # table cells unwrapped
    assert main(["fit", str(runs_csv), "--bootstrap", "40", "--seed", "2"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    failed = int(text.split(" failed to refit")[0].rsplit(", ", 1)[1])
    assert failed > 4 and "maximum iterations reached" in text
    assert f"on {(40 - failed) / 40:.0%} of resamples" in text


def test_r_squared_is_undefined_not_a_division_warning_when_every_loss_is_equal(tmp_path, capsys):
    # Fuzz-found: `scalinglab fit` on runs that all share one loss divided by a zero total variance.
    runs = load_runs(pd.DataFrame({"N": [1e7, 2e7, 4e7, 8e7, 1.6e8, 3.2e8], "D": [1e9, 2e9] * 3, "loss": [3.0] * 6}))
    result = fit(runs, "chinchilla", loss="ls")
    assert np.isnan(result.r_squared)
    assert result.to_dict()["r_squared"] is None
    path = tmp_path / "runs.csv"
    runs.to_csv(path)
    assert main(["fit", str(path), "--json", "--loss", "ls"]) == 0
    assert json.loads(capsys.readouterr().out)["r_squared"] is None
