"""Training throughput of scalinglab's trainer against the trainer of a baseline commit and a plain PyTorch GPT, in
one process.

The ladder's sizes (≈15k, 50k and 100k non-embedding parameters, context 128, rotary positions, the demo's batch
rule at 100 tokens per parameter) by default; ``--sizes 0.6M,2M`` the earlier context-256 sizes. The baseline is
the whole ``scalinglab`` package of ``--baseline-ref`` (default: the commit before the speed work), extracted with
``git archive`` into a temporary folder under another package name and imported next to today's.

Each round trains one short run with each trainer (baseline, ours, plain; the order rotates each round), the demo's
evaluation share included (``evals_per_run`` evaluations of ``eval_tokens`` scaled to the run's length), so a busy
machine slows all alike; the first round is a warm-up and left out. Prints, per size, tokens/s of the training steps
(``train``, evaluation excluded, as each trainer reports it) and end to end (``e2e``: wall time of the whole
``train()`` call, evaluation and checkpoints included), the ratio ours/baseline as the median over rounds with its
min–max spread, and whether the two trainers' final losses have the same bits. Every trainer run is a forked child
of this one process (see ``timed_run``), started in turn, never two at once.

With ``--quality-tpp R`` it instead trains the 15k model for R tokens per parameter (the demo's rules: batch,
learning rate, cosine schedule, evaluations) with both trainers at seeds 0 and 1 and prints the final held-out
losses: our change of the loss at a fixed seed against the seed-to-seed spread (the noise floor, 1-4 % at R = 20).

Measured (2026-12-02, 2 shared cores, one other process at nice 10, load ~1.7, ``--rounds 5 --steps 40``),
ours/baseline median [min-max]: 15k 1.62x [1.14-1.71] train, 1.55x e2e (78K vs 50K tokens/s); 50k 1.13x
[0.97-1.17], 1.03x; 100k 1.07x [0.99-1.30], 1.07x. A ``--rounds 3`` run just before: 15k 1.79x [1.49-1.91], 1.62x
e2e; 50k 1.30x, 1.27x; 100k 1.13x, 1.12x. The 15k model's gain is the CPU attention for heads narrower than 16
(``model._CausalAttentionCPU``; the commit before it, 8aaebef, measured 1.10x); the 50k and 100k models have
32-wide heads, which stay on the CPU flash kernel (explicit matmuls measured no faster there), and their steps are
~50 % weight matmuls already at 50-80 GFLOP/s, one core's fp32 peak being ~80.
The wsd demo preset's shapes with 8-wide heads (2026-12-02, load ~2.5 with a forecast benchmark running,
``--rounds 3 --steps 40 --sizes 39k,76k``): 39k (L2d40) 1.60x [1.21-1.70] train, 1.45x e2e (44.4K vs 27.1K
tokens/s); 76k (L2d56) 1.66x [1.27-1.86], 1.67x e2e (30.6K vs 18.4K).
``--quality-tpp 20`` (404k tokens): ours/baseline −0.87 % (seed 0), −2.14 % (seed 1), seed 1 vs 0 −2.6 %
(baseline), −3.8 % (ours); with ``--baseline-ref 8aaebef``, our attention change alone: +0.35 %, −1.45 %, seed noise
−2.1 %. The bits change (fused AdamW; the attention's summation order), the final loss moves less than seeds do.

    .venv/bin/python benchmarks/train_speed.py [--rounds 7] [--steps 40] [--threads 1] [--baseline-ref REF]
    .venv/bin/python benchmarks/train_speed.py --quality-tpp 40
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from scalinglab.ladder.design import ShapeContext, make_spec
from scalinglab.ladder.plan import ladder_batch_size
from scalinglab.train.accounting import count_params
from scalinglab.train.config import DataConfig, ModelConfig, TrainConfig
from scalinglab.train.data import TrainWindows, load_tokens
from scalinglab.train.schedule import plan_run
from scalinglab.train.trainer import measure_matmul_peak, train

BASELINE_REF = "efe70ca"  # main before the speed work of issue 15
LADDER = ShapeContext(seq_len=128, positions="rotary")
# name: (model, tokens per parameter of the demo run whose batch and evaluation share it copies)
SIZES = {"15k": (LADDER.model_config(2, 24), 100.0), "50k": (LADDER.model_config(4, 32), 100.0),
         "100k": (LADDER.model_config(2, 64), 100.0),
         # the wsd demo preset's shapes with 8-wide heads (its 49k and 90k sizes)
         "39k": (LADDER.model_config(2, 40), 100.0), "76k": (LADDER.model_config(2, 56), 100.0),
         "0.6M": (ModelConfig(n_layer=3, n_head=4, d_model=128), 20.0),
         "2M": (ModelConfig(n_layer=3, n_head=4, d_model=240), 20.0)}
DEMO_EVALS, DEMO_EVAL_TOKENS = 5, 32768  # the small preset's evaluation settings


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
    """The textbook loop for PlainGPT (AdamW, gradient clipping, our batches), training steps only."""
    torch.manual_seed(0)
    model, plan = PlainGPT(cfg.model), plan_run(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    start = time.perf_counter()
    for step in range(steps):
        batch = torch.from_numpy(windows.batch(step * plan.batch_size, plan.batch_size))
        model(batch[:, :-1], batch[:, 1:]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * plan.tokens_per_step / (time.perf_counter() - start)


def load_baseline(ref: str, into: Path):
    """``train`` and ``TrainConfig`` of the scalinglab package at git ``ref``, importable as ``scalinglab_baseline``."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(root), "archive", ref, "scalinglab"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / "scalinglab_baseline"
    (into / "scalinglab").rename(package)
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\bscalinglab\.", "scalinglab_baseline.", text), encoding="utf-8")
    sys.path.insert(0, str(into))
    trainer = importlib.import_module("scalinglab_baseline.train.trainer")
    config = importlib.import_module("scalinglab_baseline.train.config")
    return trainer.train, config.TrainConfig, trainer.measure_matmul_peak


def size_config(model: ModelConfig, tokens_per_param: float, steps: int, threads: int) -> TrainConfig:
    """A ``steps``-step run with the batch of the demo's run of this size and its share of evaluation tokens."""
    total = count_params(model)[0]
    demo = make_spec("bench", model.n_layer, model.d_model, tokens_per_param * total,
                     ShapeContext(model.seq_len, model.vocab_size, model.positions))
    batch = ladder_batch_size(demo, model.seq_len)
    n_tokens = steps * batch * model.seq_len
    eval_tokens = max(model.seq_len, round(DEMO_EVAL_TOKENS * n_tokens / demo.n_tokens))
    return TrainConfig(model=model, data=DataConfig(), n_tokens=n_tokens, batch_size=batch,
                       eval_every_tokens=n_tokens // DEMO_EVALS, eval_tokens=eval_tokens, threads=threads)


def timed_run(train_fn, cfg) -> tuple[float, float, float]:
    """(train tokens/s as the trainer reports it, end-to-end tokens/s, final loss) of one fresh run, trained in a
    forked child of this process: our trainer tunes the C allocator (``trainer._keep_freed_memory``), a
    process-wide setting that cannot be undone and would otherwise speed up every later baseline run too."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: train, report one JSON line, exit without running the parent's clean-ups
        code = 1
        try:
            with tempfile.TemporaryDirectory() as run_dir:
                start = time.perf_counter()
                result = train_fn(cfg, run_dir)
                wall = time.perf_counter() - start
            os.write(write_end, json.dumps([result.tokens_per_s, result.n_tokens / wall,
                                            result.final_val_loss.hex()]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status or not text:
        raise RuntimeError(f"benchmark child failed (status {status})")
    train_tps, e2e_tps, loss_hex = json.loads(text)
    return train_tps, e2e_tps, float.fromhex(loss_hex)


def bench_size(name: str, args, baseline) -> None:
    model, tpp = SIZES[name]
    cfg = size_config(model, tpp, args.steps, args.threads)
    base_train, base_config, base_peak = baseline
    for peak in (measure_matmul_peak, base_peak):  # once, before forking: each child reuses the cached value
        peak(args.threads)
    base_cfg = base_config.from_dict(cfg.to_dict())
    windows = TrainWindows(load_tokens(cfg.data).train, model.seq_len, seed=0)
    runners = {"baseline": lambda: timed_run(base_train, base_cfg), "ours": lambda: timed_run(train, cfg),
               "plain": lambda: (plain_tokens_per_s(cfg, windows, args.steps),) * 2 + (float("nan"),)}
    order, got = list(runners), {k: [] for k in runners}
    for r in range(args.rounds + 1):
        for key in order[r % 3:] + order[:r % 3]:
            result = runners[key]()
            if r:
                got[key].append(result)
    ratio = {kind: [o[i] / b[i] for o, b in zip(got["ours"], got["baseline"])] for i, kind in enumerate(("train",
                                                                                                          "e2e"))}
    med = {k: [statistics.median(x[i] for x in v) for i in range(2)] for k, v in got.items()}
    same_bits = got["ours"][0][2].hex() == got["baseline"][0][2].hex()
    print(f"{name:>5} {count_params(model)[1]:>9,} {cfg.batch_size:>5} "
          f"{med['baseline'][0]:>10,.0f} {med['ours'][0]:>10,.0f} {med['plain'][0]:>10,.0f} "
          f"{_spread(ratio['train']):>18} {med['baseline'][1]:>9,.0f} {med['ours'][1]:>9,.0f} "
          f"{_spread(ratio['e2e']):>18}  {'same' if same_bits else 'differ'} "
          f"({got['baseline'][0][2]:.6f} / {got['ours'][0][2]:.6f})")


def quality(tokens_per_param: float, args, baseline) -> None:
    """Final held-out loss of one full demo-style run, baseline and ours, seeds 0 and 1."""
    model, _ = SIZES["15k"]
    total = count_params(model)[0]
    spec = make_spec("quality", model.n_layer, model.d_model, tokens_per_param * total, LADDER)
    cfg = TrainConfig(model=model, data=DataConfig(), n_tokens=spec.n_tokens, batch_size=ladder_batch_size(spec, 128),
                      eval_every_tokens=spec.n_tokens // DEMO_EVALS, eval_tokens=DEMO_EVAL_TOKENS, threads=args.threads)
    base_train, base_config, _ = baseline
    loss = {}
    for seed in (0, 1):
        run = cfg.replace(seed=seed)
        loss["baseline", seed] = timed_run(base_train, base_config.from_dict(run.to_dict()))[2]
        loss["ours", seed] = timed_run(train, run)[2]
    print(f"15k model, {spec.n_tokens:,} tokens ({tokens_per_param:g} per parameter), batch {cfg.batch_size}")
    for seed in (0, 1):
        b, o = loss["baseline", seed], loss["ours", seed]
        print(f"  seed {seed}: baseline {b:.5f}  ours {o:.5f}  ours/baseline − 1 = {o / b - 1:+.3%}  "
              f"({'same bits' if b.hex() == o.hex() else 'bits differ'})")
    print(f"  seed noise: baseline seed 1 / seed 0 − 1 = {loss['baseline', 1] / loss['baseline', 0] - 1:+.3%}, "
          f"ours {loss['ours', 1] / loss['ours', 0] - 1:+.3%}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x [{min(values):.2f}-{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", default="15k,50k,100k", help=f"comma list of {', '.join(SIZES)}")
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--quality-tpp", type=float, default=None, help="train one full run per trainer and seed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        baseline = load_baseline(args.baseline_ref, Path(tmp))
        if args.quality_tpp:
            for peak in (measure_matmul_peak, baseline[2]):
                peak(args.threads)
            return quality(args.quality_tpp, args, baseline)
        print(f"threads {args.threads}, {args.steps} steps per run, {args.rounds} rounds (+1 warm-up), baseline "
              f"{args.baseline_ref}; tokens/s medians, ratio ours/baseline median [min-max over rounds]")
        print(f"{'size':>5} {'N_non_emb':>9} {'batch':>5} {'base train':>10} {'ours train':>10} {'plain':>10} "
              f"{'ratio train':>18} {'base e2e':>9} {'ours e2e':>9} {'ratio e2e':>18}  final loss bits")
        for name in args.sizes.split(","):
            bench_size(name.strip(), args, baseline)


if __name__ == "__main__":
    main()
