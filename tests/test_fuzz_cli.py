"""Fuzz: every command, through its real entry point ``scalinglab.cli.main(argv)``, ends in exit 0 or 2 — never a
traceback, never a RuntimeWarning — whatever tables and option values a user throws at it.

Extends tests/test_fuzz_runs.py (which fuzzes the loader and fitters as functions) to the command line: files with
extreme numbers written as text (±1e308, subnormals, 0, negatives, nan/inf spelt several ways), a BOM, CRLF line
ends, other delimiters, duplicated and unicode headers, empty and one-row files; option values with the same
extremes and huge counts. Exit 2 must come with exactly one ``error:`` line on stderr.

Each command family is one entry of ``FAMILIES`` (a hypothesis strategy of argv lists, given a scratch folder);
add a command by adding an entry. Fits are kept cheap by shrinking every law's multi-start grid to three starts
(``small_grids``): the solver, validation and printing are the real ones. Examples are derandomized, so CI is
reproducible.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scalinglab.cli import main

EXAMPLES = int(os.environ.get("SCALINGLAB_FUZZ_EXAMPLES", 300))  # per command family (fewer for a quick local look)

# --- values as a user might type them ---------------------------------------------------------------------------
EXTREME_TEXT = ["1e308", "-1e308", "1.7976931348623157e308", "5e-324", "-5e-324", "2.2250738585072014e-308", "0",
                "-0", "0.0", "-1", "-3.5e10", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e400",
                "1e-400", "", " ", "abc", "1,5", "0x10", "1_000", "١٢٣"]
numbers = st.one_of(
    st.sampled_from(EXTREME_TEXT),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=1e-3, max_value=1e13).map(lambda x: f"{x:.6g}"),
    st.integers(min_value=-10**20, max_value=10**20).map(str),
)


def mostly(lo: float, hi: float, log: bool = True):
    """An option value: in [lo, hi] (log-uniform when ``log``) six times in seven, an extreme one otherwise — so
    most calls get past validation into the numerics, and each extreme still meets every option."""
    if log:
        good = st.floats(min_value=math.log10(lo), max_value=math.log10(hi)).map(lambda e: f"{10 ** e:.6g}")
    else:
        good = st.floats(min_value=lo, max_value=hi).map(lambda x: f"{x:.6g}")
    return st.integers(0, 6).flatmap(lambda k: numbers if k == 0 else good)


LEVELS = mostly(0.5, 0.99, log=False)
counts_text = st.one_of(st.sampled_from(["0", "1", "2", "3", "-1", "1e3", "nan", "", "x"]),
                        st.integers(min_value=-5, max_value=10**12).map(str))

HEADERS = ["N", "D", "C", "loss", "params", "tokens", "flops", "n_params", "n_tokens", "Loss", "val_loss", "seed",
           "run_id", "unique_tokens", "ñ", "パラメータ", "N ", " loss", "", "Model Size", "Training FLOP"]


@st.composite
def table_text(draw, headers=HEADERS, plausible=None) -> bytes:
    """A delimited text file: random or plausible columns, extreme cells, any delimiter, BOM and line ends."""
    cols = draw(st.lists(st.sampled_from(headers), min_size=0, max_size=5))  # duplicates allowed on purpose
    n = draw(st.integers(min_value=0, max_value=8))
    body = []
    for _ in range(n):
        row = []
        for col in cols:
            if plausible is not None and col in plausible and draw(st.integers(0, 9)) > 0:
                lo, hi = plausible[col]
                row.append(f"{draw(st.floats(min_value=lo, max_value=hi)):.6g}")
            else:
                row.append(draw(numbers))
        body.append(row)
    sep = draw(st.sampled_from([",", ",", ",", ";", "\t", "|"]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [sep.join(cols)] + [sep.join(r) for r in body]
    text = eol.join(lines) + draw(st.sampled_from(["", eol]))
    return ("\ufeff" if draw(st.booleans()) else "").encode() + text.encode("utf-8")


@st.composite
def plausible_text(draw, core, extra, cell, min_rows=5) -> bytes:
    """Mostly well-formed: the ``core`` columns (and some of ``extra``), ``cell(draw, column, row)`` values with one
    cell in ten extreme; a comma or tab, BOM and CRLF as they come. Such tables get past validation to the fit."""
    cols = list(core) + draw(st.lists(st.sampled_from(extra), max_size=2, unique=True))
    n = draw(st.integers(min_value=min_rows, max_value=9))
    rows = []
    for i in range(n):
        row: dict = {}
        for c in cols:
            row[c] = draw(numbers) if draw(st.integers(0, 39)) == 17 else cell(draw, c, i, row)  # ~1 in 40 extreme
        rows.append(list(row.values()))
    sep, eol = draw(st.sampled_from([",", ",", ",", "\t"])), draw(st.sampled_from(["\n", "\r\n"]))
    text = eol.join([sep.join(cols)] + [sep.join(r) for r in rows]) + eol
    return ("\ufeff" if draw(st.booleans()) else "").encode() + text.encode("utf-8")


def _run_cell(draw, col, i, row):
    lo, hi = {"N": (1e4, 1e11), "D": (1e5, 1e13), "C": (1e12, 1e24), "unique_tokens": (1e5, 1e12),
              "seed": (0, 3)}.get(col, (1.5, 8.0))
    return f"{draw(st.floats(min_value=lo, max_value=hi)):.6g}"


def _count_cell(draw, col, i, row):
    if col == "model":
        return draw(st.sampled_from(["m1", "m1", "m2", "ñ"]))
    if col == "problem":
        return str(i)
    if col == "correct" and row.get("n", "").isdigit():
        return str(draw(st.integers(min_value=0, max_value=int(row["n"]))))
    return str(draw(st.integers(min_value=1, max_value=200)) if col == "n" else draw(st.floats(1e6, 1e12)))


def _law_loss(N: float, D: float, noise: float) -> float:
    """Chinchilla's published law (Hoffmann et al. 2022) times log-normal noise: tables whose fits converge."""
    return (1.69 + 406.4 / N ** 0.34 + 410.7 / D ** 0.28) * math.exp(noise)


@st.composite
def law_runs_text(draw, min_rows=6) -> bytes:
    """N × D runs whose losses follow a law with 1 % noise (one cell in 40 extreme), any delimiter/BOM/CRLF."""
    n = draw(st.integers(min_value=min_rows, max_value=14))
    sizes = draw(st.lists(st.floats(min_value=6.0, max_value=10.0), min_size=n, max_size=n))
    tpp = draw(st.lists(st.floats(min_value=0.5, max_value=2.7), min_size=n, max_size=n))
    extra = draw(st.lists(st.sampled_from(["C", "seed", "config"]), max_size=2, unique=True))
    cols = ["N", "D", "loss", *extra]
    rows = []
    for i, (ln, lt) in enumerate(zip(sizes, tpp)):
        N, D = 10 ** ln, 10 ** (ln + lt)
        cells = {"N": f"{N:.6g}", "D": f"{D:.6g}",
                 "loss": f"{_law_loss(N, D, draw(st.floats(min_value=-0.02, max_value=0.02))):.6g}",
                 "C": f"{6 * N * D:.6g}", "seed": str(i % 3), "config": draw(st.sampled_from(["a", "b"]))}
        rows.append([draw(numbers) if draw(st.integers(0, 39)) == 17 else cells[c] for c in cols])
    sep, eol = draw(st.sampled_from([",", ",", ",", "\t", ";"])), draw(st.sampled_from(["\n", "\r\n"]))
    text = eol.join([sep.join(cols)] + [sep.join(r) for r in rows]) + eol
    return ("\ufeff" if draw(st.booleans()) else "").encode() + text.encode("utf-8")


@st.composite
def isoflop_text(draw) -> bytes:
    """An isoFLOP design: 2–5 budgets × 3–7 sizes around each budget's optimum, losses from a law with noise."""
    lc = draw(st.floats(min_value=15.0, max_value=20.0))
    n_budgets, n_sizes = draw(st.integers(2, 5)), draw(st.integers(3, 7))
    span = draw(st.floats(min_value=0.3, max_value=2.5))
    rows = []
    for k in range(n_budgets):
        C = 10 ** (lc + 0.5 * k)
        centre = 0.5 * math.log10(C / 6 / 20)  # about 20 tokens per parameter
        for ln in np.linspace(centre - span / 2, centre + span / 2, n_sizes):
            N = 10 ** ln
            D = C / (6 * N)
            loss = _law_loss(N, D, draw(st.floats(min_value=-0.01, max_value=0.01)))
            rows.append([draw(numbers) if draw(st.integers(0, 59)) == 17 else f"{v:.6g}" for v in (N, D, loss)])
    sep = draw(st.sampled_from([",", "\t"]))
    return "\n".join([sep.join(["N", "D", "loss"])] + [sep.join(r) for r in rows]).encode() + b"\n"


runs_tables = st.one_of(table_text(), plausible_text(["N", "D", "loss"], ["C", "unique_tokens", "seed"], _run_cell),
                        law_runs_text(), law_runs_text())
counts_tables = st.one_of(table_text(headers=["model", "problem", "n", "correct", "n_params", "x"]),
                          plausible_text(["model", "problem", "n", "correct"], ["n_params"], _count_cell, 2))
LAWS = ["chinchilla", "kaplan", "kaplan_n", "kaplan_d", "kaplan_c", "saturating", "data_constrained", "nope"]
# Huge counts must be refused up front (memory estimate), never attempted: 1e8 resamples need hundreds of GB.
SMALL_BOOTSTRAP = st.sampled_from(["0", "1", "2", "3", "-1", "0.5", "x", "100000000"])


def _options(pairs: dict, draw, max_size: int | None = None) -> list[str]:
    """A random subset of ``--option value`` pairs (value None: a flag); a later one overrides an earlier one."""
    argv = []
    size = len(pairs) if max_size is None else max_size
    for flag in draw(st.lists(st.sampled_from(sorted(pairs)), max_size=size, unique=True)):
        value = pairs[flag]
        argv += [flag] if value is None else [flag, draw(value)]
    return argv


def _write(folder: Path, name: str, data: bytes) -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


# --- command families: folder → strategy of argv ----------------------------------------------------------------
@st.composite
def runs_table_argv(draw, folder: Path):
    """fit, backtest and report: the commands that read a Runs table (report, with its figures, 1 call in 19)."""
    command = draw(st.sampled_from(["fit"] * 10 + ["backtest"] * 8 + ["report"]))  # a report costs ~30 fits
    if command == "report":
        return draw(report_argv(folder))
    path = _write(folder, draw(st.sampled_from(["runs.csv", "runs.tsv", "runs.txt"])), draw(runs_tables))
    if command == "fit":
        opts = {"--law": st.sampled_from(LAWS), "--loss": st.sampled_from(["huber", "ls", "l1"]),
                "--delta": mostly(1e-4, 1.0), "--asymmetry": mostly(0.5, 10.0), "--bootstrap": SMALL_BOOTSTRAP,
                "--level": LEVELS, "--flops": mostly(1e18, 1e25), "--drop-highest": counts_text, "--json": None}
    else:
        opts = {"--law": st.sampled_from(LAWS), "--cutoff-flops": mostly(1e15, 1e23),
                "--holdout-fraction": mostly(0.1, 0.5, log=False), "--loss": st.sampled_from(["huber", "ls"]),
                "--delta": mostly(1e-4, 1.0), "--drop-highest": counts_text,
                "--json": None}
    return [command, path, *_options(opts, draw)]


@st.composite
def report_argv(draw, folder: Path):
    path = _write(folder, "runs.csv", draw(runs_tables))
    opts = {"--law": st.sampled_from(LAWS), "--level": LEVELS, "--flops": mostly(1e18, 1e25),
            "--drop-highest": counts_text, "--exclude": st.sampled_from(["row 1", "row 0", "row 99", "r1", ""]),
            "--plan": st.sampled_from(["flops=1e24", "accelerator=h100,count=8,days=1", "flops=nan", "x=1", ""])}
    # The report always fits without approaches/backtest and with at most 3 resamples (2 in its forecast): the edges
    # are in the data.
    return ["report", path, "-o", str(folder / "out" / "report.html"), "--no-approaches", "--no-backtest",
            "--bootstrap", draw(st.sampled_from(["0", "2", "3"])), "--forecast-resamples", "2", *_options(opts, draw)]


@st.composite
def law_argv(draw, folder: Path):
    published = st.sampled_from(["hoffmann2022", "hoffmann2022-tex", "besiroglu2024", "kaplan2020",
                                 "muennighoff2023", "nope"])
    if draw(st.booleans()):
        opts = {"--N": numbers, "--D": numbers, "--C": numbers, "--U": numbers, "--published": published,
                "--json": None}
        return ["predict", *_options(opts, draw)]
    flops = [x for c in draw(st.lists(numbers, min_size=1, max_size=3)) for x in ("--flops", c)]
    return ["optimal", *flops, *_options({"--published": published, "--unique-tokens": numbers, "--json": None},
                                         draw)]


PLAN_OPTIONS = {
    "--flops": numbers, "--params": numbers, "--active-params": numbers, "--tokens": numbers, "--layers": counts_text,
    "--d-model": counts_text, "--heads": counts_text, "--seq-len": counts_text, "--experts": counts_text,
    "--top-k": counts_text, "--accelerator": st.sampled_from(["h100", "b200", "mi300x", "tpu-v5p", "h1000", ""]),
    "--count": numbers, "--days": numbers, "--budget": numbers, "--mfu": numbers, "--pue": numbers,
    "--target-loss": numbers, "--inference-tokens": numbers, "--unique-tokens": numbers,
    "--extra-epochs": counts_text, "--memory": None, "--tp": counts_text, "--pp": counts_text, "--dp": counts_text,
    "--ep": counts_text, "--zero": counts_text, "--micro-batch": counts_text,
    "--recompute": st.sampled_from(["none", "selective", "full", "some"]), "--json": None,
    "--law": st.sampled_from(["chinchilla", "kaplan2020", "muennighoff2023", "gpt5"]),
}


VALID_PLANS = [["--flops", "1e25"], ["--accelerator", "h100", "--count", "8000", "--days", "90", "--params", "1.8e12"],
               ["--target-loss", "2.0", "--inference-tokens", "2e12"], ["--flops", "1e22", "--unique-tokens", "25e9"],
               ["--params", "70e9", "--layers", "80", "--d-model", "8192", "--heads", "64", "--seq-len", "4096",
                "--accelerator", "h100", "--memory", "--dp", "64", "--zero", "3"], ["--params", "7e9", "--tokens", "1e12"]]


@st.composite
def plan_argv(draw, folder: Path):
    """Half the time a valid request with one or two options changed, so the planning code runs, not only checks."""
    if draw(st.booleans()):
        return ["plan", *draw(st.sampled_from(VALID_PLANS)), *_options(PLAN_OPTIONS, draw, max_size=2)]
    return ["plan", *_options(PLAN_OPTIONS, draw)]


@st.composite
def coverage_argv(draw, folder: Path):
    path = _write(folder, "counts.csv", draw(counts_tables))
    ints = st.one_of(counts_text, st.lists(counts_text, min_size=1, max_size=3).map(",".join))
    opts = {"--k": ints, "--extrapolate": ints, "--level": numbers, "--seed": counts_text, "--json": None}
    return ["testtime", "fit", path, "--boot", draw(st.sampled_from(["0", "2", "3", "-1"])), *_options(opts, draw)]


@st.composite
def ladder_plan_argv(draw, folder: Path):
    spans = st.one_of(numbers, st.tuples(numbers, numbers, st.sampled_from(["2", "3", "0", "-1", "x"])).map(":".join),
                      st.lists(numbers, min_size=1, max_size=3).map(",".join))
    opts = {"--design": st.sampled_from(["grid", "isoflop", "chinchilla", "spiral"]), "--budgets": spans,
            "--sizes": spans, "--tokens-per-param": spans, "--points": st.sampled_from(["1", "3", "0", "-2", "x"]),
            "--span": numbers, "--multiples": spans, "--seq-len": st.sampled_from(["16", "64", "0", "-1", "1e9"]),
            "--positions": st.sampled_from(["learned", "rotary", "sideways"]),
            "--tokenizer": st.sampled_from(["byte", "morse"]), "--jobs": counts_text, "--json": None}
    base = draw(st.sampled_from([[], ["--budgets", "1e11:1e12:2", "--points", "3", "--seq-len", "64"],
                                 ["--design", "grid", "--sizes", "5e4,1e5", "--tokens-per-param", "10,20"],
                                 ["--design", "chinchilla", "--sizes", "5e4:2e5:2"], ["--preset", "tiny"]]))
    return ["ladder", "plan", *base, *_options(opts, draw, max_size=2 if base else None)]


@st.composite
def forecast_argv(draw, folder: Path):
    """forecast and isoflop: the commands that forecast from, or analyse, a Runs table (few resamples: the edges are
    in the data and the targets)."""
    if draw(st.booleans()):
        path = _write(folder, draw(st.sampled_from(["runs.csv", "runs.tsv"])), draw(runs_tables))
        n, d, c = mostly(1e8, 1e12), mostly(1e9, 1e13), mostly(1e18, 1e25)
        targets = draw(st.sampled_from(["nd", "nd", "flops", "flops", "any"]))
        if targets == "nd":
            pairs = draw(st.lists(st.tuples(n, d), min_size=1, max_size=3))
            argv = [x for a, b in pairs for x in ("--N", a, "--D", b)]
        elif targets == "flops":
            argv = [x for a in draw(st.lists(c, min_size=1, max_size=3)) for x in ("--flops", a)]
        else:
            argv = _options({"--N": n, "--D": d, "--flops": c}, draw)
        opts = {"--level": LEVELS, "--json": None,
                "--law": st.sampled_from(["auto", "chinchilla", "kaplan", "interaction", "kaplan_c", "nope"])}
        return ["forecast", path, "--resamples", draw(st.sampled_from(["2", "3", "0", "-1", "100000000"])), *argv,
                *_options(opts, draw)]
    path = _write(folder, "runs.csv", draw(st.one_of(isoflop_text(), isoflop_text(), runs_tables)))
    opts = {"--flops": mostly(1e18, 1e25), "--level": LEVELS, "--window": mostly(0.2, 3.0), "--json": None}
    return ["isoflop", path, "--resamples", draw(st.sampled_from(["2", "3", "0", "100000000"])), *_options(opts, draw)]


TASK_METRICS = ["eval/downstream_bpb/piqa_val_rc_5shot_bpb", "eval/downstream/piqa_val_rc_5shot_len_norm",
                "eval/downstream/piqa_val_rc_5shot_acc", "eval/c4_en/CrossEntropyLoss", "nope", ""]


def _history_cell(draw, col, i, row):
    if col == "run_id":
        return f"r{i % 4}"
    if col == "metric":
        return draw(st.sampled_from(TASK_METRICS))
    lo, hi = {"tokens": (1e6, 1e11), "N": (1e6, 1e10)}.get(col, (0.0, 1.0))
    return f"{draw(st.floats(min_value=lo, max_value=hi)):.6g}"


@st.composite
def law_history_text(draw) -> bytes:
    """A long eval history that a task law can fit: 6–8 runs × 3–5 checkpoints of PIQA's bits per byte (a law of
    N and D with noise) and its accuracy (a sigmoid of it), one extreme cell in a third of them; N from a column or
    not."""
    with_n = draw(st.booleans())
    cols = ["run_id", "tokens", "metric", "value"] + (["N"] if with_n else [])
    rows = []
    for r in range(draw(st.integers(6, 8))):
        N = 10 ** draw(st.floats(min_value=7.0, max_value=10.0))
        for k in range(draw(st.integers(3, 5))):
            D = N * 20 * 2.0 ** (k - 2)
            bpb = _law_loss(N, D, draw(st.floats(min_value=-0.02, max_value=0.02))) / 2.5
            acc = 0.5 + 0.45 / (1 + math.exp(8 * (bpb - 1.0)))
            for metric, value in ((TASK_METRICS[0], bpb), (TASK_METRICS[1], acc)):
                cells = [f"r{r}", f"{D:.6g}", metric, f"{value:.6g}"] + ([f"{N:.6g}"] if with_n else [])
                rows.append(cells)
    if draw(st.integers(0, 2)) == 0:  # one table in three has one extreme cell somewhere
        i, j = draw(st.integers(0, len(rows) - 1)), draw(st.integers(1, len(cols) - 1))
        rows[i][j] = draw(numbers)
    text = "\n".join([",".join(cols)] + [",".join(r) for r in rows]) + "\n"
    return text.encode("utf-8")


@st.composite
def tasks_argv(draw, folder: Path):
    """tasks fit and tasks forecast on a long eval history (run_id, tokens, metric, value; N from a column or
    --n-params), with few resamples."""
    history = st.one_of(table_text(headers=["run_id", "tokens", "metric", "value", "N", "_step", "x"]),
                        plausible_text(["run_id", "tokens", "metric", "value"], ["N"], _history_cell, 8),
                        law_history_text(), law_history_text())
    path = _write(folder, "history.csv", draw(history))
    opts = {"--n-params": mostly(1e7, 1e10), "--smooth": counts_text, "--json": None,
            "--law": st.sampled_from(["chinchilla", "kaplan", "nope"]),
            "--metric": st.sampled_from(["accuracy=nope", "task_loss:piqa=.*_bpb", "x"])}
    argv = ["tasks", draw(st.sampled_from(["fit", "forecast"])), path, "--bootstrap",
            draw(st.sampled_from(["0", "2", "3", "-1"])), *_options(opts, draw)]
    if argv[1] == "forecast":
        argv += ["--N", draw(mostly(1e9, 1e11)), "--D", draw(mostly(1e10, 1e13)), "--level", draw(LEVELS)]
    return argv


FAMILIES = {"fit/backtest/report": runs_table_argv, "predict/optimal": law_argv, "plan": plan_argv,
            "testtime fit": coverage_argv, "ladder plan": ladder_plan_argv, "forecast/isoflop": forecast_argv,
            "tasks": tasks_argv}


# --- the property -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def small_grids():
    """Three starts per law instead of Hoffmann's 4,500: a fit then costs milliseconds, and the data decide."""
    from scalinglab.laws import LAWS as REGISTRY

    with pytest.MonkeyPatch.context() as mp:
        for cls in set(REGISTRY.values()):
            grid = cls.default_grid()
            few = grid[np.unique(np.linspace(0, len(grid) - 1, 3).astype(int))]
            mp.setattr(cls, "default_grid", classmethod(lambda c, few=few: few.copy()))
        import importlib

        forecast_module = importlib.import_module("scalinglab.laws.forecast")  # the module, not the function
        # forecast's backtest folds bootstrap 200 resamples each; 3 exercise the same code at a fraction of the cost
        mp.setitem(forecast_module.forecast.__kwdefaults__, "n_fold_resamples", 3)
        yield


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` with numpy's RuntimeWarnings as errors: a leaked warning fails like a traceback."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("error", RuntimeWarning)
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def check_outcome(argv, code, out, err) -> None:
    assert code in (0, 2), f"exit {code} for {argv}: {err or out}"
    assert "Traceback" not in out + err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), f"{argv}: {err!r}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_command_ends_in_exit_0_or_2_with_one_line(family):
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def property(data):
        with tempfile.TemporaryDirectory() as tmp:
            argv = data.draw(FAMILIES[family](Path(tmp)), label="argv")
            code, out, err = run_cli(argv)
            event(f"{argv[0]} exit {code}")  # --hypothesis-show-statistics: how many got past validation
            check_outcome(argv, code, out, err)

    property()


@pytest.mark.parametrize("argv", [["predict", "--N", "1e308", "--D", "1e308"],
                                  ["predict", "--C", "1e308", "--N", "1e-308"]])
def test_derived_inputs_that_overflow_are_refused(argv):
    code, out, err = run_cli(argv)
    assert code == 2 and err.startswith("error:")
