"""`scalinglab ladder …` and `scalinglab demo` on bad input: one line on stderr, exit code 2, nothing written."""

import os

import numpy as np
import pytest

from scalinglab.cli import main
from scalinglab.ladder import ShapeContext, isoflop

BAD = [
    (["ladder", "plan", "--budgets", "-1e11,1e12"], "FLOP budgets must be a finite number > 0"),
    (["ladder", "plan", "--budgets", "1e11,abc"], "--budgets: cannot read"),
    (["ladder", "plan", "--design", "grid", "--sizes", "0"], "sizes must be a finite number > 0"),
    (["ladder", "plan", "--design", "grid"], "needs --sizes"),
    (["ladder", "plan", "--design", "spiral", "--budgets", "1e12"], "unknown design 'spiral'"),
    (["ladder", "plan", "--budgets", "1e12", "--tokenizer", "morse"], "unknown tokenizer 'morse'"),
    (["ladder", "plan", "--budgets", "1e12", "--corpus", "/no/such/corpus.txt"], "data path does not exist"),
    (["ladder", "plan", "--budgets", "1e12", "--seq-len", "-5"], "seq_len must be >= 1"),
    (["ladder", "plan", "--budgets", "1e12", "--positions", "sideways"], "unknown positions 'sideways'"),
    (["ladder", "plan", "--budgets", "1e12", "--points", "0"], "points per budget"),
    (["ladder", "plan", "--budgets", "1e3"], "too small for an isoFLOP curve"),
    (["ladder", "plan", "--preset", "huge"], "unknown preset 'huge'"),
    (["demo", "--preset", "huge"], "unknown preset 'huge'"),
    (["ladder", "run", "l", "--preset", "test", "--executor", "slurm"], "unknown executor 'slurm'"),
    (["ladder", "run", "l", "--preset", "test", "--procs-per-run", "0"], "--procs-per-run must be >= 1, got 0"),
    (["ladder", "run", "l", "--preset", "test", "--procs-per-run", str(len(os.sched_getaffinity(0)) + 1)],
     f"this machine has {len(os.sched_getaffinity(0))} core(s)"),
    (["ladder", "run", "l", "--preset", "test", "--procs-per-run", "2", "--trainer", "synthetic"],
     "--procs-per-run 2 needs --trainer torch"),
    # the `test` preset's runs take batches of 3 to 7 sequences (the ladder's batch rule)
    (["ladder", "run", "l", "--preset", "test", "--procs-per-run", "2"], "'s batch of 3 sequences"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a[1:3]) + f" #{i}" for i, (a, _) in enumerate(BAD)])
def test_bad_ladder_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []          # nothing created on bad input


def test_run_validates_the_design_before_creating_the_ladder(tmp_path, capsys):
    assert main(["ladder", "run", str(tmp_path / "l"), "--budgets", "1e12", "--tokenizer", "morse"]) == 2
    assert not (tmp_path / "l").exists()


def test_status_and_export_of_a_missing_ladder(tmp_path, capsys):
    assert main(["ladder", "status", str(tmp_path / "none")]) == 2
    assert "no ladder here" in capsys.readouterr().err
    assert main(["ladder", "export", str(tmp_path / "none")]) == 2


def test_plan_prints_runs_flops_and_wall_time(capsys):
    assert main(["ladder", "plan", "--budgets", "1e11,1e12", "--points", "3", "--positions", "rotary",
                 "--seq-len", "128"]) == 0
    out = capsys.readouterr().out
    expected = len(isoflop([1e11, 1e12], points=3, ctx=ShapeContext(seq_len=128, positions="rotary")))
    assert f"{expected} runs" in out and "estimated wall time" in out and "1.0 decades" in out


@pytest.mark.parametrize("extra, message", [
    (["--tokens-per-param", "20,500", "--max-tpp", "400"], "outside the window [0, 400]"),
    (["--tokens-per-param", "20,4000"], "more than the corpus's"),
], ids=["window", "corpus"])
def test_wsd_design_beyond_the_window_or_corpus_is_refused_at_plan_time(extra, message, capsys, tmp_path,
                                                                        monkeypatch):
    from scalinglab.train.testing import write_tiny_corpus

    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    corpus = write_tiny_corpus(tmp_path / "data", n_bytes=200_000)
    argv = ["ladder", "plan", "--design", "wsd", "--sizes", "1.2e4", "--corpus", str(corpus), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


FAILING_TRAINER = "scalinglab.ladder.no_such_module:train"  # every run fails in its worker (ModuleNotFoundError)
TINY = ["--budgets", "2.5e10", "--points", "2", "--span", "1.5", "--seq-len", "64", "--positions", "rotary"]


def _text_corpus(path, n_bytes):
    words = ["scaling", "law", "token", "model", "loss", "compute", "data", "the", "of", "a"]
    rng = np.random.default_rng(0)
    text = " ".join(rng.choice(words, size=n_bytes // 4))[:n_bytes]
    path.write_text(text)
    return path


def test_an_unreadable_corpus_is_one_line_and_exit_2_before_the_ladder_exists(tmp_path, capsys):
    corpus = tmp_path / "random.bin"
    corpus.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes() + b"\0")
    # Before the fix the runs were registered and started, each failed in its worker, and the command exited 1.
    assert main(["ladder", "run", str(tmp_path / "l"), *TINY, "--corpus", str(corpus), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "random.bin" in err and "not a text, JSONL or Parquet file" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "l").exists()


def test_a_preset_runs_on_the_corpus_given_and_refuses_design_options(tmp_path, capsys):
    corpus = tmp_path / "random.bin"
    corpus.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes() + b"\0")
    # Before the fix --corpus was dropped in silence under --preset: the preset trained on the default corpus.
    assert main(["ladder", "run", str(tmp_path / "l"), "--preset", "test", "--corpus", str(corpus), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "random.bin" in err and len(err.splitlines()) == 1 and not (tmp_path / "l").exists()
    assert main(["ladder", "plan", "--preset", "test", "--budgets", "1e11:1e12:2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --preset test fixes the design; drop --budgets or the preset"


def test_a_corpus_too_small_for_a_sequence_is_refused_naming_the_corpus(tmp_path, capsys):
    corpus = _text_corpus(tmp_path / "tiny.txt", 3000)  # 15-token blocks of 3000 bytes: held-out < one sequence
    assert main(["ladder", "run", str(tmp_path / "l"), *TINY, "--corpus", str(corpus), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "tiny.txt" in err and "fewer than one sequence" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "l").exists()


def test_the_corpus_check_says_how_many_epochs_the_longest_run_makes(tmp_path):
    from scalinglab.ladder import LadderSettings
    from scalinglab.ladder.preflight import check_corpus

    n_bytes = 100_000
    settings = LadderSettings(corpus=str(_text_corpus(tmp_path / "c.txt", n_bytes)), seq_len=64,
                              positions="rotary", eval_tokens=1024)
    specs = isoflop([2.5e10], points=2, span=1.5, ctx=settings.shape_context())
    check = check_corpus(settings, specs)
    longest = max(s.n_tokens for s in specs)
    # Byte tokens: the training split is the 99 % of the text not held out (val_fraction 0.01), less a partial window.
    assert longest / (0.99 * n_bytes) <= check.epochs <= longest / (0.97 * n_bytes)
    assert check.epochs > 1 and f"{check.epochs:.1f} epochs" in check.summary()
    assert check_corpus(settings, specs, trainer="synthetic") is None  # the synthetic trainer reads no data


def test_a_rerun_lists_failed_runs_with_their_reasons_and_exits_non_zero(tmp_path, capsys):
    ladder = str(tmp_path / "l")
    corpus = str(_text_corpus(tmp_path / "c.txt", 100_000))
    assert main(["ladder", "run", ladder, *TINY, "--corpus", corpus, "--trainer", FAILING_TRAINER, "--jobs", "1",
                 "--quiet"]) == 1
    capsys.readouterr()
    # Before the fix the rerun printed "all 0 runs are finished; nothing to do" and exited 0.
    assert main(["ladder", "run", ladder, "--quiet"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "nothing to do" not in out
    assert "2 failed" in out and out.count("ModuleNotFoundError") == 2 and "--retry-failed" in out


def test_retry_failed_runs_the_failed_runs_again(tmp_path, capsys):
    ladder = str(tmp_path / "l")
    corpus = str(_text_corpus(tmp_path / "c.txt", 100_000))
    assert main(["ladder", "run", ladder, *TINY, "--corpus", corpus, "--trainer", FAILING_TRAINER, "--jobs", "1",
                 "--quiet"]) == 1
    assert main(["ladder", "run", ladder, "--retry-failed", "--trainer", "synthetic", "--quiet"]) == 0
    assert main(["ladder", "run", ladder, "--quiet"]) == 0
    assert "all 2 runs are finished" in capsys.readouterr().out
