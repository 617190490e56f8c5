"""The measured experiment: sampling and verification with a scripted model, and a tiny end-to-end run."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scalinglab.testtime.experiment import PRESETS, run_experiment, sample_correct  # noqa: E402
from scalinglab.testtime.tasks import END, get_task  # noqa: E402


class ScriptedModel(torch.nn.Module):
    """Puts probability 1 − eps on the next character of the right answer (or of a fixed wrong one)."""

    def __init__(self, problems, wrong: bool = False, eps: float = 0.0):
        super().__init__()
        self.targets = {p.prompt: ("9" * 6 if wrong else p.answer) + END for p in problems}
        self.eps = eps

    def forward(self, x):
        b, t = x.shape
        logits = torch.full((b, t, 256), -1e9)
        for row in range(b):
            text = bytes(x[row].tolist()).decode("latin-1")
            prompt = next(p for p in self.targets if text.startswith(p))
            done = len(text) - len(prompt)
            target = self.targets[prompt]
            nxt = ord(target[done]) if done < len(target) else ord(END)
            logits[row, -1, :] = np.log(self.eps / 255) if self.eps else -1e9
            logits[row, -1, nxt] = np.log(1 - self.eps) if self.eps else 0.0
        return logits


def test_sampler_counts_exactly_the_verified_answers():
    task = get_task("addition", digits=2)
    problems = task.problems("test", 3)
    right, tokens = sample_correct(ScriptedModel(problems), problems, task, k=8, temperature=1.0, seed=0, seq_len=32)
    assert right.tolist() == [8, 8, 8]
    assert tokens == pytest.approx(np.mean([len(p.answer) + 1 for p in problems]))
    wrong, _ = sample_correct(ScriptedModel(problems, wrong=True), problems, task, k=8, temperature=1.0, seed=0,
                              seq_len=32)
    assert wrong.tolist() == [0, 0, 0]


def test_sampler_is_seeded_and_noise_costs_answers():
    task = get_task("sorting")
    problems = task.problems("test", 4)
    model = ScriptedModel(problems, eps=0.2)  # each character right with probability ≈ 0.8
    a, _ = sample_correct(model, problems, task, k=32, temperature=1.0, seed=3, seq_len=32)
    b, _ = sample_correct(model, problems, task, k=32, temperature=1.0, seed=3, seq_len=32)
    assert a.tolist() == b.tolist()
    expected = [32 * 0.8 ** (len(p.answer) + 1) for p in problems]
    assert np.all(np.abs(a - expected) < 4 * np.sqrt(32 * 0.25) + 1)


def test_tiny_experiment_end_to_end(tmp_path):
    cfg = PRESETS["tiny"]
    result = run_experiment(cfg, tmp_path)
    counts = result.counts
    assert len(counts) == len(cfg.sizes) * cfg.n_test_problems
    assert set(counts["n"]) == {cfg.k} and counts["correct"].between(0, cfg.k).all()
    per_model = counts.groupby("model").first()
    step_tokens = cfg.batch_size * cfg.seq_len  # the trainer runs whole steps: D = n_tokens rounded up
    trained = -(-cfg.n_tokens // step_tokens) * step_tokens
    np.testing.assert_allclose(per_model["train_flops"], 6.0 * per_model["n_params"] * trained)
    assert (per_model["n_params"].diff().dropna() > 0).all()
    test_prompts = set(counts["problem"])
    train_text = (tmp_path / "train_problems.txt").read_text()
    assert not any(line[: line.index("=") + 1] in test_prompts for line in train_text.splitlines())
    assert set(result.exchange.models) == set(per_model.index)
