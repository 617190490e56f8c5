"""The test-time experiment: train GPTs of several sizes on a verifiable task, sample k answers per test problem,
count the correct ones, fit coverage laws and compute the train↔test exchange rate.

Training uses the project's trainer (``scalinglab.train``) on a byte-level corpus of training problems, one
``prompt answer`` line each; test problems never appear in it (the task's split is by problem). Sampling is plain
ancestral sampling at a temperature, batched over the k samples of one problem, stopping at the end-of-answer mark.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from scalinglab.errors import InputError
from scalinglab.testtime.counts import counts_from_frame
from scalinglab.testtime.exchange import ExchangeRate, exchange_rate
from scalinglab.testtime.tasks import END, Problem, Task, get_task


@dataclass(frozen=True)
class ExperimentConfig:
    """Sizes are (n_layer, n_head, d_model); every model trains on ``n_tokens`` tokens of training problems."""

    task: str = "addition"
    task_options: dict = field(default_factory=lambda: {"digits": 3})
    sizes: tuple[tuple[int, int, int], ...] = ((1, 2, 16), (2, 2, 32), (2, 4, 64), (3, 4, 96))
    n_tokens: int = 1_000_000
    n_train_problems: int = 20_000
    n_test_problems: int = 64
    k: int = 256
    temperature: float = 1.0
    seq_len: int = 64
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0
    threads: int = 2

    def __post_init__(self):
        if len(self.sizes) < 2:
            raise InputError("the experiment needs at least 2 model sizes")
        if self.k < 2 or self.n_test_problems < 2:
            raise InputError("k and n_test_problems must be ≥ 2")
        if not self.temperature > 0:
            raise InputError(f"temperature must be > 0, got {self.temperature}")


_FACTS = {"n_ops": 1, "max_operand": 9, "test_fraction": 0.25}  # the 300 one-operation facts, a quarter held out

PRESETS = {
    # Seconds: for tests and smoke runs.
    "tiny": ExperimentConfig(task="arithmetic", task_options=_FACTS, sizes=((1, 2, 16), (1, 2, 32)), n_tokens=8_000,
                             n_train_problems=100, n_test_problems=6, k=16, seq_len=32, batch_size=16, threads=1),
    # ≈ 4 minutes on 2 cores: 4 two-layer sizes learn reversed two-digit addition from 3,000 training problems
    # (3M tokens each) and are sampled 256 times on 100 held-out operand pairs. Held-out problems must be solvable by
    # a rule the model can learn: on held-out one-operation facts (a fact never seen can only be guessed) coverage
    # did not grow with size (exchange-rate slope +0.95, i.e. no saving). Two layers at least: at 3M tokens one-layer
    # models stayed at pass@1 < 1 % while two-layer ones of width 48 reached 58 %.
    "small": ExperimentConfig(task="addition", task_options={"digits": 2, "reverse": True},
                              sizes=((2, 2, 16), (2, 2, 24), (2, 4, 32), (2, 4, 48)), n_tokens=3_000_000,
                              n_train_problems=3000, n_test_problems=100, k=256, seq_len=32, batch_size=32, lr=5e-3),
}


@dataclass(frozen=True)
class ExperimentResult:
    config: ExperimentConfig
    counts: pd.DataFrame            # model, problem, n, correct, n_params, tokens_per_sample, train_flops
    train_losses: dict
    exchange: ExchangeRate
    seconds: float

    def as_dict(self) -> dict:
        return {"config": asdict(self.config), "train_losses": self.train_losses, "exchange": self.exchange.as_dict(),
                "seconds": self.seconds, "counts": self.counts.to_dict(orient="records")}


def write_corpus(problems: list[Problem], path: Path, *, min_bytes: int = 50_000, seed: int = 0) -> Path:
    """The training problems, one line each, in shuffled passes until the file holds ``min_bytes`` (the trainer's
    held-out tail is then a slice of training problems too: it tracks fitting, not generalisation)."""
    rng = np.random.default_rng(seed)
    parts, size = [], 0
    while size < min_bytes:
        for i in rng.permutation(len(problems)):
            parts.append(problems[i].text)
            size += len(problems[i].text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts), encoding="ascii")
    return path


def sample_correct(model, problems: list[Problem], task: Task, *, k: int, temperature: float, seed: int,
                   seq_len: int) -> tuple[np.ndarray, float]:
    """Correct counts out of k samples per problem, and the mean number of generated tokens per sample."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    max_new = max(len(p.answer) for p in problems) + 2
    correct, generated = np.zeros(len(problems), dtype=np.int64), []
    model.eval()
    with torch.no_grad():
        for i, problem in enumerate(problems):
            x = torch.tensor(list(problem.prompt.encode("ascii")), dtype=torch.long).repeat(k, 1)
            done = torch.zeros(k, dtype=torch.bool)
            length = torch.zeros(k)
            for _ in range(max_new):
                logits = model(x[:, -seq_len:])[:, -1, :] / temperature
                nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen)
                length += (~done).float()
                x = torch.cat([x, nxt], dim=1)
                done |= nxt[:, 0] == ord(END)
                if bool(done.all()):
                    break
            start = len(problem.prompt)
            for row in x[:, start:].tolist():
                text = bytes(row).decode("latin-1")  # every byte maps to a character: no accidental matches
                correct[i] += END in text and task.verify(problem, text)
            generated.append(float(length.mean()))
    return correct, float(np.mean(generated))


def run_experiment(cfg: ExperimentConfig, work_dir: Path | str, *,
                   progress: Callable[[str], None] | None = None) -> ExperimentResult:
    """Train every size, sample, count, and compute the exchange rate (see module docstring)."""
    import torch

    from scalinglab.train.checkpoint import load_checkpoint
    from scalinglab.train.config import DataConfig, ModelConfig, TrainConfig
    from scalinglab.train.model import GPT
    from scalinglab.train.trainer import train

    say = progress or (lambda message: None)
    start = time.perf_counter()
    work = Path(work_dir)
    task = get_task(cfg.task, **cfg.task_options)
    corpus = write_corpus(task.problems("train", cfg.n_train_problems, seed=cfg.seed), work / "train_problems.txt",
                          seed=cfg.seed)
    test = task.problems("test", cfg.n_test_problems, seed=cfg.seed + 1)
    rows, losses = [], {}
    previous_threads = torch.get_num_threads()
    try:
        for i, (n_layer, n_head, d_model) in enumerate(cfg.sizes):
            name = f"L{n_layer}-H{n_head}-D{d_model}"
            model_cfg = ModelConfig(n_layer=n_layer, n_head=n_head, d_model=d_model, seq_len=cfg.seq_len)
            train_cfg = TrainConfig(model=model_cfg, data=DataConfig(corpus=str(corpus), val_fraction=0.05),
                                    n_tokens=cfg.n_tokens, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
                                    threads=cfg.threads, eval_tokens=1024, ckpt_every_steps=10**9)
            say(f"training {name}")
            result = train(train_cfg, work / name)
            losses[name] = result.final_val_loss
            model = GPT(model_cfg)
            model.load_state_dict(load_checkpoint(work / name)["model"])
            torch.set_num_threads(cfg.threads)
            say(f"sampling {name}: {len(test)} problems × {cfg.k}")
            correct, tokens = sample_correct(model, test, task, k=cfg.k, temperature=cfg.temperature,
                                             seed=cfg.seed + 1000 * i, seq_len=cfg.seq_len)
            for problem, c in zip(test, correct):
                rows.append({"model": name, "problem": problem.prompt, "n": cfg.k, "correct": int(c),
                             "n_params": float(result.n_params), "tokens_per_sample": tokens,
                             "train_flops": 6.0 * result.n_params * result.n_tokens})
    finally:
        torch.set_num_threads(previous_threads)
    counts = pd.DataFrame(rows)
    table = counts_from_frame(counts, "experiment")
    rate = exchange_rate(table, seed=cfg.seed)
    return ExperimentResult(config=cfg, counts=counts, train_losses=losses, exchange=rate,
                            seconds=time.perf_counter() - start)
