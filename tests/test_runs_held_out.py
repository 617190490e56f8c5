"""Held-out runs in the Runs table: the ``held_out`` column is read as yes/no, bad cells are one-line errors, and a
run marked held out moves no fit, from the library or the command line, while a table without the column is
unchanged."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_chinchilla_runs

from scalinglab.cli import main
from scalinglab.errors import InputError
from scalinglab.laws.backtest import backtest
from scalinglab.laws.fit import fit
from scalinglab.runs import load_runs

GRID = dict(sizes=np.geomspace(1e7, 1e8, 4), tokens=np.geomspace(2e8, 2e9, 4), seed=5)
# far off the law the other runs follow: if it were fitted, every parameter would move
OUTLIER = {"N": 4e8, "D": 8e9, "loss": 9.0}


def _tables(tmp_path, cell="yes"):
    """The same 16 runs without and with a 17th run marked held out; the paths of both as CSV."""
    base = synthetic_chinchilla_runs(**GRID)
    held = pd.concat([base.assign(held_out=""), pd.DataFrame([OUTLIER | {"held_out": cell}])], ignore_index=True)
    paths = tmp_path / "base.csv", tmp_path / "held.csv"
    base.to_csv(paths[0], index=False)
    held.to_csv(paths[1], index=False)
    return paths


@pytest.mark.parametrize("header", ["held_out", "Held-Out", "holdout", "heldout", "is_held_out"])
def test_held_out_cells_read_as_yes_or_no_and_empty_is_no(tmp_path, header):
    cells = ["true", "FALSE", "1", "0", " yes ", "No", ""]
    rows = "".join(f"{1e7 * (i + 1)},1e9,{3.5 - 0.1 * i},{c}\n" for i, c in enumerate(cells))
    path = tmp_path / "runs.csv"
    path.write_text(f"N,D,loss,{header}\n{rows}")
    runs = load_runs(path)
    assert runs.held_out.tolist() == [True, False, True, False, True, False, False]
    assert runs.meta_columns == () and runs.column("held_out").dtype == bool
    assert len(runs.fitted()) == 4 and runs.held_out_runs().n_params.tolist() == [1e7, 3e7, 5e7]
    assert runs.fitted().notes[-1] == "3 runs marked held_out are not fitted; see the held-out forecast"


def test_json_booleans_numbers_and_a_missing_key_are_read(tmp_path):
    records = [{"N": 1e7, "D": 1e9, "loss": 3.5, "held_out": True}, {"N": 2e7, "D": 1e9, "loss": 3.4, "held_out": 0},
               {"N": 3e7, "D": 1e9, "loss": 3.3, "held_out": 1.0}, {"N": 4e7, "D": 1e9, "loss": 3.2}]
    (tmp_path / "runs.json").write_text(json.dumps(records))
    assert load_runs(tmp_path / "runs.json").held_out.tolist() == [True, False, True, False]


def test_an_explicit_column_map_names_the_held_out_column(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("N,D,loss,test_run\n1e7,1e9,3.5,no\n2e7,1e9,3.3,yes\n")
    assert load_runs(path).meta_columns == ("test_run",)
    assert load_runs(path, columns={"held_out": "test_run"}).held_out.tolist() == [False, True]


@pytest.mark.parametrize("cell, shown", [("maybe", "'maybe'"), ("2", "'2'"), ("y", "'y'"), ("0.5", "'0.5'")])
def test_a_bad_held_out_cell_is_one_line_naming_row_and_column_and_exits_2(tmp_path, capsys, cell, shown):
    path = tmp_path / "runs.csv"
    path.write_text(f"N,D,loss,Held Out\n1e7,1e9,3.5,no\n2e7,1e9,3.3,{cell}\n")
    message = f"row 2, column 'Held Out': held_out must be true/false, 1/0 or yes/no (empty: false), found {shown}"
    with pytest.raises(InputError) as info:
        load_runs(path)
    assert str(info.value) == f"{path}, {message}"
    for argv in (["fit", str(path)], ["report", str(path), "-o", str(tmp_path / "r.html")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err == f"error: {path}, {message}\n"


def test_every_run_held_out_leaves_nothing_to_fit(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    path.write_text("N,D,loss,held_out\n1e7,1e9,3.5,yes\n2e7,1e9,3.3,yes\n")
    with pytest.raises(InputError, match="all 2 runs are marked held_out: none is left to fit"):
        load_runs(path).fitted()
    assert main(["fit", str(path)]) == 2 and "none is left to fit" in capsys.readouterr().err


def test_a_table_without_the_column_is_unchanged(tmp_path):
    base, _ = _tables(tmp_path)
    runs = load_runs(base)
    assert "held_out" not in runs.frame and not runs.held_out.any() and runs.held_out.shape == (16,)
    assert runs.fitted() is runs and runs.held_out_runs() is None
    assert fit(runs).runs is runs   # nothing copied, no note added


def test_a_held_out_run_moves_no_fit_bit_for_bit(tmp_path):
    base, held = _tables(tmp_path)
    alone, with_held = fit(load_runs(base)), fit(load_runs(held))
    assert with_held.params == alone.params and with_held.objective == alone.objective
    assert with_held.n_points == 16 and len(load_runs(held)) == 17
    assert "1 run marked held_out is not fitted; see the held-out forecast" in with_held.to_dict()["notes"]
    # and it is no run of the backtest either: the same fit on the same smaller runs, the same runs predicted
    bt_alone, bt_held = backtest(base, cutoff_flops=2e17), backtest(held, cutoff_flops=2e17)
    assert bt_held.fit.params == bt_alone.fit.params
    assert bt_held.table["predicted"].tolist() == bt_alone.table["predicted"].tolist()


def test_fit_and_forecast_on_the_command_line_leave_the_held_out_run_out_and_say_so(tmp_path, capsys):
    base, held = _tables(tmp_path, cell="TRUE")
    outs = []
    for path in (base, held):
        assert main(["fit", str(path), "--json"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[1]["params"] == outs[0]["params"] and outs[1]["n_points"] == 16
    assert outs[1]["notes"][-1] == ("1 run marked held_out is not fitted; see `scalinglab report`, which "
                                    "forecasts them")
    forecasts = []
    for path in (base, held):
        assert main(["forecast", str(path), "--N", "1e9", "--D", "2e10", "--law", "chinchilla", "--resamples", "10",
                     "--json"]) == 0
        forecasts.append(json.loads(capsys.readouterr().out)["targets"])
    assert forecasts[1] == forecasts[0]
    assert main(["backtest", str(held), "--cutoff-flops", "2e17"]) == 0
    assert "note: 1 run marked held_out is not fitted" in capsys.readouterr().out
