"""The Runs table: aliases, derivation from C = 6ND, file formats, and one-line errors for every bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from scalinglab.cli import main
from scalinglab.errors import InputError
from scalinglab.laws.fit import fit
from scalinglab.runs import load_runs

GOOD = "N,D,loss\n1e7,1e9,3.5\n2e7,1e9,3.3\n4e7,2e9,3.1\n8e7,4e9,2.9\n1.6e8,8e9,2.7\n3.2e8,1.6e10,2.6\n"


def write(tmp_path, text, name="runs.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("header", ["N,D,loss", "params,tokens,loss", "model_size,tokens,val_loss",
                                    "Model Size,D,loss", "n_params,n_tokens,final_loss"])
def test_aliases_map_to_canonical_columns_and_flops_is_derived(tmp_path, header):
    runs = load_runs(write(tmp_path, header + "\n1e7,1e9,3.5\n2e7,3e9,3.1\n"))
    assert runs.n_params.tolist() == [1e7, 2e7]
    assert runs.flops.tolist() == pytest.approx([6e16, 3.6e17])
    assert runs.notes == ("flops derived as C = 6·N·D",)


def test_tokens_derived_from_flops_and_params_said_in_notes(tmp_path):
    runs = load_runs(write(tmp_path, "Model Size,Training FLOP,loss,color\n1e8,6e18,3.0,#fff\n"))
    assert runs.n_tokens[0] == pytest.approx(1e10)
    assert "n_tokens derived as D = C / (6·N)" in runs.notes
    assert runs.frame["color"].tolist() == ["#fff"]  # extra metadata kept as-is


def test_params_derived_from_flops_and_tokens(tmp_path):
    runs = load_runs(write(tmp_path, "C,tokens,loss\n6e18,1e10,3.0\n"))
    assert runs.n_params[0] == pytest.approx(1e8)


def test_optional_columns_and_formats(tmp_path):
    df = pd.DataFrame({"params": [1e7, 2e7], "tokens": [1e9, 2e9], "loss": [3.4, 3.2],
                       "unique_tokens": [5e8, 2e9], "seed": [0, 1], "run_id": ["a", "b"], "lr": [1e-3, 2e-3]})
    df.to_parquet(tmp_path / "r.parquet")
    (tmp_path / "r.json").write_text(json.dumps(df.to_dict(orient="records")))
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in df.to_dict(orient="records")))
    for name in ("r.parquet", "r.json", "r.jsonl"):
        runs = load_runs(tmp_path / name)
        assert runs.frame["unique_tokens"].tolist() == [5e8, 2e9]
        assert runs.frame["run_id"].tolist() == ["a", "b"]
        assert runs.frame["lr"].tolist() == [1e-3, 2e-3]


BAD = [
    ("N,D\n1e7,1e9\n", r"missing column 'loss'", None),
    ("N,loss\n1e7,3.0\n", r"need two of n_params .* missing n_tokens and flops", None),
    ("N,D,loss\n1e7,1e9,3.5\n2e7,abc,3.1\n", r"row 2, column 'D': n_tokens must be a number, found 'abc'", 2),
    ("N,D,loss\n1e7,1e9,3.5\n2e7,1e9,\n", r"row 2, column 'loss': loss must be a number, found an empty cell", 2),
    ("N,D,loss\n1e7,1e9,nan\n", r"row 1, column 'loss': loss must be a finite number", 1),
    ("N,D,loss\n1e7,inf,3\n", r"row 1, column 'D': n_tokens must be a finite number", 1),
    ("N,D,loss\n1e7,1e9,3.5\n0,1e9,3.1\n", r"row 2, column 'N': n_params must be > 0", 2),
    ("N,D,loss\n1e7,1e9,-3.5\n", r"row 1, column 'loss': loss must be > 0", 1),
    ("N,D,loss\n1e7,1e9,3.5\n2e7,1e9,3.1\n1e7,1e9,3.5\n", r"row 3: duplicated run \(same N, D, C and loss as row 1\)", 3),
    ("run_id,N,D,loss\nx,1e7,1e9,3.5\nx,2e7,1e9,3.1\n", r"row 2, column 'run_id': duplicated run id 'x'", 2),
    ("N,params,D,loss\n1,1,1,1\n", r"columns 'N' and 'params' both mean n_params; .* --columns N=N", None),
    # issue 16.1: C = 6·N·D overflows to inf; refused like a given inf, naming the row and the derived column
    ("N,D,loss\n1e7,1e9,3.5\n1e308,1e308,3.1\n", r"row 2, column 'flops': C = 6·N·D gives inf from N=1e\+308", 2),
    ("C,N,loss\n1e-320,1e300,3.1\n", r"row 1, column 'n_tokens': D = C / \(6·N\) gives 0 ", 1),
    # issue 16.2: a duplicated header names the duplicated column
    ("N,N,loss\n1e7,1e9,3.5\n", r"duplicated column 'N' in the header", None),

    ("", r"cannot read|no runs", None),
]


@pytest.mark.parametrize("text,pattern,row", BAD)
def test_bad_inputs_raise_one_line_input_error_naming_file_row_column(tmp_path, text, pattern, row):
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=pattern) as info:
        load_runs(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert info.value.row == row


@pytest.mark.parametrize("text,pattern,row", BAD)
def test_bad_inputs_exit_2_on_the_cli_with_one_line(tmp_path, capsys, text, pattern, row):
    path = write(tmp_path, text)
    assert main(["fit", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_fewer_points_than_parameters(tmp_path, capsys):
    path = write(tmp_path, "N,D,loss\n1e7,1e9,3.5\n2e7,1e9,3.3\n4e7,2e9,3.1\n")
    with pytest.raises(InputError, match="5 free parameters; need at least 5 runs, got 3"):
        fit(load_runs(path), "chinchilla")
    assert main(["fit", str(path)]) == 2


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_runs(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="unknown file type '.xlsx'"):
        load_runs(write(tmp_path, "x", "runs.xlsx"))


def test_curves_validated_against_runs(tmp_path):
    runs_path = write(tmp_path, "run_id,N,D,loss\na,1e7,1e9,3.5\nb,2e7,1e9,3.3\n")
    good = write(tmp_path, "run_id,tokens,loss\na,5e8,3.9\na,1e9,3.5\nb,1e9,3.3\n", "curves.csv")
    runs = load_runs(runs_path, curves=good)
    assert runs.curves.groupby("run_id").size().to_dict() == {"a": 2, "b": 1}
    bad = write(tmp_path, "run_id,tokens,loss\nzz,5e8,3.9\n", "bad.csv")
    with pytest.raises(InputError, match="row 1, column 'run_id': curve point for unknown run id 'zz'"):
        load_runs(runs_path, curves=bad)


def test_drop_highest_loss_and_subset_keep_row_numbers():
    runs = load_runs(pd.DataFrame({"N": [1e7, 2e7, 3e7, 4e7], "D": [1e9] * 4, "loss": [3.0, 5.0, 2.0, 4.0]}))
    kept = runs.drop_highest_loss(2)
    assert sorted(kept.loss.tolist()) == [2.0, 3.0]
    assert sorted(kept.rows.tolist()) == [1, 3]
    assert np.all(np.isin(kept.loss, runs.loss))


@pytest.mark.parametrize("argv", [["fit"], ["backtest", "--json"]])
def test_drop_highest_all_runs_is_one_line_input_error(tmp_path, capsys, argv):
    # Fuzz-found: backtest --drop-highest ≥ len(runs) crashed with IndexError in np.quantile of an empty array.
    runs = load_runs(pd.DataFrame({"N": [1e7, 2e7, 3e7], "D": [1e9] * 3, "loss": [3.0, 5.0, 2.0]}))
    with pytest.raises(InputError, match="would drop all 3 runs"):
        runs.drop_highest_loss(3)
    path = write(tmp_path, "N,D,loss\n1e7,1e9,3.5\n2e7,1e9,3.3\n")
    assert main([argv[0], str(path), "--drop-highest", "29", *argv[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert "would drop all 2 runs" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("sep,name", [(";", "runs.csv"), ("\t", "runs.csv"), ("|", "runs.txt"), ("\t", "runs.tsv")])
def test_semicolon_tab_and_pipe_separated_files_are_read(tmp_path, sep, name):
    # issue 16.2: a semicolon-separated file was read as one column "N;D;loss"
    runs = load_runs(write(tmp_path, GOOD.replace(",", sep), name))
    assert runs.n_params.tolist() == [1e7, 2e7, 4e7, 8e7, 1.6e8, 3.2e8] and runs.loss[-1] == 2.6


def test_decimal_commas_in_a_semicolon_file_are_named(tmp_path):
    path = write(tmp_path, "N;D;loss\n1e7;1e9;3,5\n2e7;1e9;3,3\n")
    with pytest.raises(InputError, match=r"row 1, column 'loss': loss must be a number, found '3,5'"):
        load_runs(path)


def test_ambiguous_separator_is_refused_saying_how_to_pass_the_file(tmp_path):
    path = write(tmp_path, "N;D\tloss\n1e7;1e9\t3.5\n")
    with pytest.raises(InputError, match=r"split evenly on semicolon and tab; save the table comma-separated"):
        load_runs(path)


def test_a_semicolon_header_over_comma_rows_says_what_the_file_looks_like(tmp_path):
    path = write(tmp_path, "N;D;loss\n1e7,1e9,3.5\n2e7,1e9,3.3\n")
    with pytest.raises(InputError, match=r"the header is semicolon-separated \(3 columns\) but line 2 has 1 fields"):
        load_runs(path)


def test_derived_overflow_exits_2_without_a_runtime_warning(tmp_path, capsys):
    import warnings
    path = write(tmp_path, GOOD + "1e308,1e308,2.5\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["fit", str(path)]) == 2
    err = capsys.readouterr().err
    assert "row 7, column 'flops'" in err and err.count("\n") == 1


# Issue 12.5: a metadata column named like a weak alias is never misread.
@pytest.mark.parametrize("header,meta", [("size,N,D,loss", "size"), ("name,N,D,loss", "name"),
                                         ("Run,N,D,loss", "Run")])
def test_weak_alias_beside_a_strong_one_or_repeating_stays_metadata(tmp_path, header, meta):
    # 'size' is a label beside N; 'name' and 'Run' repeat (the model's name across token counts), so no run id
    text = header + "\nsmall,1e7,1e9,3.5\nsmall,1e7,2e9,3.3\nbig,4e7,2e9,3.1\n"
    runs = load_runs(write(tmp_path, text))
    assert runs.meta_columns == (meta,) and runs.column(meta).tolist() == ["small", "small", "big"]
    assert runs.n_params.tolist() == [1e7, 1e7, 4e7] and "run_id" not in runs.frame


def test_a_lone_weak_alias_with_fitting_values_is_read_and_said(tmp_path):
    runs = load_runs(write(tmp_path, "name,size,D,loss\na,1e7,1e9,3.5\nb,2e7,1e9,3.3\n"))
    assert runs.frame["run_id"].tolist() == ["a", "b"] and runs.n_params.tolist() == [1e7, 2e7]
    assert any("column 'size' read as n_params" in n for n in runs.notes)


def test_explicit_column_map_wins_and_the_rest_is_metadata(tmp_path):
    text = "params,eval/c4/loss,loss,size,tokens\n1e7,3.5,3.9,S,1e9\n2e7,3.3,3.7,M,1e9\n"
    runs = load_runs(write(tmp_path, text), columns={"N": "params", "loss": "eval/c4/loss"})
    assert runs.loss.tolist() == [3.5, 3.3] and runs.n_tokens.tolist() == [1e9, 1e9]
    # the second loss column and the label 'size' (a weak alias of N, but N is mapped) stay metadata
    assert runs.meta_columns == ("meta:loss", "size")
    assert runs.column("meta:loss").tolist() == [3.9, 3.7] and runs.column("size").tolist() == ["S", "M"]


@pytest.mark.parametrize("columns,pattern", [
    ({"N": "nope"}, r"--columns N=nope: no column 'nope' \(columns found: N, D, loss\)"),
    ({"width": "N"}, r"--columns: unknown quantity 'width'"),
    ({"N": "D", "D": "D"}, r"uses column 'D' twice"),
])
def test_bad_column_map_is_one_line(tmp_path, columns, pattern):
    with pytest.raises(InputError, match=pattern):
        load_runs(write(tmp_path, GOOD), columns=columns)


def test_numeric_metadata_reads_back_as_numbers_labels_and_codes_stay_text(tmp_path):
    """A ladder export's extra columns (branch_tokens, lr) are numbers when read back, empty cells NaN; labels and
    zero-padded codes keep their text."""
    runs = load_runs(write(tmp_path, "N,D,loss,branch_tokens,lr,config,code\n"
                                     "1e7,1e9,3.5,,3e-3,cosine,007\n2e7,1e9,3.3,5e8,1e-3,wsd,010\n"))
    assert runs.frame["branch_tokens"].dtype == float
    assert np.isnan(runs.frame["branch_tokens"].iloc[0]) and runs.frame["branch_tokens"].iloc[1] == 5e8
    assert runs.frame["lr"].tolist() == [3e-3, 1e-3]
    assert runs.frame["config"].tolist() == ["cosine", "wsd"]
    assert runs.frame["code"].tolist() == ["007", "010"]


def test_by_takes_a_quantity_alias_or_the_users_own_header(tmp_path):
    from scalinglab.runs.groups import iter_groups

    runs = load_runs(write(tmp_path, "model_size,tokens,loss,Run\n1e7,1e9,3.5,a\n1e7,2e9,3.3,b\n2e7,1e9,3.2,c\n"),
                     columns={"N": "model_size"})
    for name in ("model_size", "N", "params", "n_params"):
        groups = list(iter_groups(runs, name))
        assert [g.key for g in groups] == [{name: 1e7}, {name: 2e7}]
        assert [len(g.runs) for g in groups] == [2, 1]
    assert runs.column("model_size").tolist() == [1e7, 1e7, 2e7]
    with pytest.raises(InputError, match="names one column twice"):
        list(iter_groups(runs, "N,model_size"))
