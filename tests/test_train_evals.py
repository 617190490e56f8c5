"""The task suite of our own ladder: held out of training, deterministic, scored right, recorded at every evaluation."""

import math
from contextlib import nullcontext

import numpy as np
import pytest
import torch

from scalinglab.errors import InputError
from scalinglab.train import default_corpus, evals
from scalinglab.train.config import DataConfig, ModelConfig, TrainConfig
from scalinglab.train.data import load_tokens
from scalinglab.train.model import GPT
from scalinglab.train.testing import tiny_train_config, write_tiny_corpus
from scalinglab.train.trainer import train


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """The default corpus with the suite held out (one cache build, ~15 s, shared by this module's tests)."""
    try:
        default_corpus.source_files()
    except InputError as exc:
        pytest.skip(str(exc))
    mp = pytest.MonkeyPatch()
    mp.setenv("SCALINGLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield load_tokens(DataConfig(tasks=True))
    mp.undo()


def test_the_suite_has_its_three_tasks_at_chance_one_quarter(tokens):
    suite, encoded = tokens.suite
    assert {t: suite.n_items(t) for t in suite.tasks} == evals.N_ITEMS
    assert all(suite.chance(t) == 0.25 for t in suite.tasks)
    for item in suite.items:
        assert len(set(item.choices)) == 4 and item.choices[item.answer] not in item.choices[:item.answer]
    # the answer's position is drawn per item, so guessing a fixed position scores about chance
    answers = np.array([i.answer for i in suite.items])
    assert all(0.15 < np.mean(answers == k) < 0.35 for k in range(4))
    assert len(encoded) == len(suite.items)


def test_no_task_item_appears_in_the_training_stream(tokens):
    suite, _ = tokens.suite
    stream = tokens.train.tobytes() + b"\x00" + tokens.val.tobytes()
    found = [(i.task, t[:40]) for i in suite.items for t in evals.item_texts(i) if stream.find(t.encode()) >= 0]
    assert found == []
    # ... while the corpus itself holds them: the hold-out removed them (a sample, to keep the test short)
    corpus = "\x00".join(default_corpus.iter_documents())
    sample = suite.items[::16]
    assert all(corpus.find(i.source) >= 0 for i in sample)


def test_the_suite_is_the_same_for_a_seed_and_differs_for_another():
    try:
        a, b, c = evals.build_suite(), evals.build_suite(), evals.build_suite(seed=1)
    except InputError as exc:
        pytest.skip(str(exc))
    assert a == b and a.to_json() == b.to_json()
    assert a != c and {i.source for i in a.items} != {i.source for i in c.items}
    assert evals.TaskSuite.from_json(a.to_json()) == a


def _direct_scores(model, item, enc, seq_len):
    """Per-byte negative log-likelihood of each choice, one plain forward per choice (no padding, no batching)."""
    out = []
    for choice in enc["choices"]:
        ctx = enc["context"][-max(1, min(evals.MAX_CONTEXT_BYTES, seq_len + 1 - len(choice))):]
        ids = torch.tensor([ctx + choice])
        logp = torch.log_softmax(model(ids[:, :-1]).float(), dim=-1)[0]
        nll = -sum(float(logp[len(ctx) - 1 + j, tok]) for j, tok in enumerate(choice))
        out.append(nll / len(choice))
    return np.array(out)


def test_evaluation_scores_every_choice_by_its_log_likelihood_and_repeats_exactly(tokens):
    suite, encoded = tokens.suite
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=2, n_head=2, d_model=32, seq_len=128, positions="rotary")).eval()
    ev = evals.SuiteEvaluator(suite, encoded, tokens.token_bytes, 128)
    with torch.inference_mode():
        first = ev.evaluate(model, torch.device("cpu"), nullcontext)
        again = ev.evaluate(model, torch.device("cpu"), nullcontext)
        assert first == again
        # the batched, padded scoring equals one forward per choice, for items of every task
        picks = [next(k for k, i in enumerate(suite.items) if i.task == t) for t in suite.tasks]
        for k in picks:
            direct = _direct_scores(model, suite.items[k], encoded[k], 128)
            batched = ev.last_scores[k]
            np.testing.assert_allclose(batched, direct, rtol=1e-4)
    for task, m in first.items():
        assert 0 <= m["accuracy"] <= 1 and m["n_items"] == suite.n_items(task) and m["chance"] == 0.25
        assert 6 < m["task_loss"] < 10   # an untrained byte model: about 8 bits per byte


def test_the_trainer_records_the_tasks_at_every_evaluation_the_same_for_a_seed(tokens, tmp_path):
    model = ModelConfig(n_layer=2, n_head=2, d_model=32, seq_len=64, positions="rotary")
    cfg = TrainConfig(model=model, data=DataConfig(tasks=True), n_tokens=16 * 64 * 12, batch_size=16, lr=1e-2,
                      eval_every_tokens=16 * 64 * 4, eval_tokens=1024, threads=1)
    runs = []
    for name in ("a", "b"):
        records = []
        train(cfg, tmp_path / name, on_eval=records.append)
        runs.append(records)
    a, b = runs
    assert len(a) == 3 and all(set(r["tasks"]) == set(evals.N_ITEMS) for r in a)
    assert [r["tasks"] for r in a] == [r["tasks"] for r in b]
    assert a[-1]["tasks"]["spelling"]["task_loss"] < a[0]["tasks"]["spelling"]["task_loss"]   # it learns


def test_another_corpus_says_in_one_line_that_no_tasks_are_evaluated(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    corpus = write_tiny_corpus(tmp_path / "data")
    base = tiny_train_config(corpus)
    cfg = base.replace(data=DataConfig(corpus=str(corpus), val_fraction=0.1, tasks=True))
    records = []
    train(cfg, tmp_path / "run", on_eval=records.append)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [evals.NO_TASKS_NOTE.format(corpus=corpus)]
    assert records and all("tasks" not in r for r in records)
    # the switch is off by default and then absent from the saved config, so earlier configs read as before
    assert "tasks" not in base.data.to_dict() and cfg.data.to_dict()["tasks"] is True
    assert math.isfinite(records[-1]["val_loss"])
