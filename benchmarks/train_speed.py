"""Training throughput of scalinglab's trainer against a plain PyTorch GPT of identical shape, same process.

For each size (≈0.6M and ≈2M non-embedding parameters, context 256, byte vocabulary) both train on the same
default-corpus batches with AdamW, gradient clipping and the same batch size; rounds alternate between the two
so a busy machine slows both alike. Prints tokens/s of each, their ratio (goal ≥ 1.0×) and our MFU on full
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


def plain_tokens_per_s(cfg: TrainConfig, windows: TrainWindows, steps: int) -> float:
    torch.manual_seed(0)
    model = PlainGPT(cfg.model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    plan = plan_run(cfg)
    elapsed = 0.0
    for step in range(steps + 1):  # step 0 warms up allocators and kernels, untimed
        t0 = time.perf_counter()
        batch = torch.from_numpy(windows.batch(step * plan.batch_size, plan.batch_size))
        loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step:
            elapsed += time.perf_counter() - t0
    return steps * plan.tokens_per_step / elapsed


def ours_tokens_per_s(cfg: TrainConfig, steps: int) -> float:
    """Our trainer's own step timing; an evaluation after every step (excluded from its clock) reports the
    cumulative training time, so the first step's warm-up can be left out as for the plain loop."""
    plan = plan_run(cfg)
    records: list[dict] = []
    run = cfg.replace(n_tokens=(steps + 1) * plan.tokens_per_step, eval_every_tokens=plan.tokens_per_step)
    with tempfile.TemporaryDirectory() as run_dir:
        train(run, run_dir, on_eval=records.append)
    first, last = records[0], records[-1]
    train_time = last["n_tokens"] / last["tokens_per_s"] - first["n_tokens"] / first["tokens_per_s"]
    return (last["n_tokens"] - first["n_tokens"]) / train_time


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
        plain, ours = [], []
        for _ in range(args.rounds):
            plain.append(plain_tokens_per_s(cfg, windows, args.steps))
            ours.append(ours_tokens_per_s(cfg, args.steps))
        p, o = statistics.median(plain), statistics.median(ours)
        peak = max(peak, measure_matmul_peak(args.threads, cached=False))
        full = flops_per_token(model)[1]
        mfu = full * o / peak
        print(f"{name:>5} {count_params(model)[1]:>10,} {plan_run(cfg).batch_size:>6} {p:>12,.0f} {o:>11,.0f} "
              f"{o / p:>5.2f}x {mfu:>8.1%}   (peak {peak / 1e9:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
