"""Training throughput of scalinglab's trainer against a plain PyTorch GPT of identical shape, same process.

For each size (≈0.6M and ≈2M non-embedding parameters, context 256, byte vocabulary) both train on the same
default-corpus batches with AdamW, gradient clipping and the same batch size, alternating step by step so a busy
machine slows both alike. Prints tokens/s of each, their ratio (goal ≥ 1.0×) and our MFU on full
FLOPs against the measured matmul peak (goal ≥ 50 % at ≈2M).

    .venv/bin/python benchmarks/train_speed.py [--rounds 3] [--steps 8] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from scalinglab.train.accounting import count_params, flops_per_token
from scalinglab.train.config import DataConfig, ModelConfig, TrainConfig
from scalinglab.train.data import TrainWindows, load_tokens
from scalinglab.train.peak import measure_matmul_peak
from scalinglab.train.schedule import plan_run
from scalinglab.train.trainer import train

SIZES = {"0.6M": ModelConfig(n_layer=3, n_head=4, d_model=128), "2M": ModelConfig(n_layer=3, n_head=4, d_model=240)}


class PlainBlock(nn.Module):
    """A textbook pre-LN transformer block: separate Q, K, V projections, PyTorch defaults everywhere."""

    def __init__(self, d: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.fc, self.out = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        h = self.ln1(x)
        q, k, v = (lin(h).view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for lin in (self.q, self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.o(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class PlainGPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(cfg.vocab_size, cfg.d_model), nn.Embedding(cfg.seq_len, cfg.d_model)
        self.blocks = nn.Sequential(*(PlainBlock(cfg.d_model, cfg.n_head) for _ in range(cfg.n_layer)))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe.weight[: idx.shape[1]]
        logits = self.ln_f(self.blocks(x)) @ self.wte.weight.T
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


class PlainLoop:
    """The textbook training step for PlainGPT: AdamW, gradient clipping, the same batches as our trainer."""

    def __init__(self, cfg: TrainConfig, windows: TrainWindows):
        torch.manual_seed(0)
        self.model, self.windows, self.plan = PlainGPT(cfg.model), windows, plan_run(cfg)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-3, weight_decay=0.1)

    def step(self, step: int) -> float:
        """One optimiser step; returns its wall time in seconds."""
        t0 = time.perf_counter()
        batch = torch.from_numpy(self.windows.batch(step * self.plan.batch_size, self.plan.batch_size))
        with torch.enable_grad():  # called from inside our trainer's no-grad evaluation
            loss = self.model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0


def paired_tokens_per_s(cfg: TrainConfig, windows: TrainWindows, steps: int) -> tuple[float, float]:
    """(plain, ours) tokens/s, interleaved step by step so a busy machine slows both alike.

    Our trainer evaluates after every step (a 256-token eval, outside its training clock) and its ``on_eval``
    callback runs one plain step there; ``tokens_per_s`` in each record is cumulative over training time only.
    The first step of each, which warms up allocators and kernels, is left out of both."""
    plan = plan_run(cfg)
    plain, records, plain_times = PlainLoop(cfg, windows), [], []

    def on_eval(record: dict) -> None:
        records.append(record)
        plain_times.append(plain.step(len(plain_times)))

    run = cfg.replace(n_tokens=(steps + 1) * plan.tokens_per_step, eval_every_tokens=plan.tokens_per_step)
    with tempfile.TemporaryDirectory() as run_dir:
        train(run, run_dir, on_eval=on_eval)
    first, last = records[0], records[-1]
    ours_time = last["n_tokens"] / last["tokens_per_s"] - first["n_tokens"] / first["tokens_per_s"]
    tokens = last["n_tokens"] - first["n_tokens"]
    return tokens / sum(plain_times[1:]), tokens / ours_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    data = DataConfig()
    windows = TrainWindows(load_tokens(data).train, 256, seed=0)
    peak = measure_matmul_peak(args.threads)
    print(f"threads {args.threads}   fp32 matmul peak at start {peak / 1e9:.1f} GFLOP/s (re-measured per size, max kept)")
    print(f"{'size':>5} {'N_non_emb':>10} {'batch':>6} {'plain tok/s':>12} {'ours tok/s':>11} {'ratio':>6} "
          f"{'MFU full':>9}")
    for name, model in SIZES.items():
        cfg = TrainConfig(model=model, data=data, n_tokens=10**6, eval_every_tokens=10**12, eval_tokens=256,
                          ckpt_every_steps=10**6, threads=args.threads)
        rounds = [paired_tokens_per_s(cfg, windows, args.steps) for _ in range(args.rounds)]
        plain, ours = [r[0] for r in rounds], [r[1] for r in rounds]
        p, o = statistics.median(plain), statistics.median(ours)
        peak = max(peak, measure_matmul_peak(args.threads, cached=False))
        full = flops_per_token(model)[1]
        mfu = full * o / peak
        print(f"{name:>5} {count_params(model)[1]:>10,} {plan_run(cfg).batch_size:>6} {p:>12,.0f} {o:>11,.0f} "
              f"{o / p:>5.2f}x {mfu:>8.1%}   (peak {peak / 1e9:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
