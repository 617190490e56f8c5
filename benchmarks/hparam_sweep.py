"""Learning-rate and batch-size sweep behind the defaults in ``scalinglab.train.hparams``.

Trains the demo ladder's kind of run (default corpus, byte tokens, context 128, rotary, the trainer's AdamW and
schedule) at a few (N, D) points that span the `small` ladder — its smallest model at ~100 tokens/param, a middle
model at two budgets, and the ladder's largest run — each at a grid of peak learning rates and batch sizes. Prints
one row per run, the best setting per point (the LR optimum refined by a parabola in log LR through the best three),
and the power-law fits LR*(N) = a·N^b and B*(D) = c·D^e across points. Those fits are the defaults.

Runs live in ``--out`` (default ``results/hparam_sweep``) and are not retrained when the script is run again, so
extra LRs or batch multipliers only train what is new. About 10 min on 2 cores for the default grid.

Re-measured (2026-12-03, current trainer, quiet 2 cores, ``--lrs 5.7e-3,8e-3,1.13e-2,1.6e-2,2.26e-2,3.2e-2``, a
factor √2 apart, 6 min): best LR 0.0226 at 10.4k / 1.0M tokens (rule 0.0138; but every LR from 0.0057 to 0.0226
lies within 1.5 %, 2.264–2.307), 0.0113 at 49k / 0.6M (rule 0.0093; 0.016 jumps to 2.456 from 2.246), 0.016 at
49k / 2.4M (1.867; 0.0093's neighbours 0.008 / 0.0113 give 1.924 / 1.899), 0.008 at 175k / 1.6M (rule 0.0065;
0.0113 jumps to 2.241 from 1.958). So the optimum moves with the run's length, not only with N: short runs (~450
steps) fall off a cliff just above the rule, long ones (1700+ steps) are best ~1.7× above it — the rule, one LR per
N, is the compromise, and the refined per-size fit (0.733·N^-0.381, rms 0.078) is too noisy to replace it.
``benchmarks/wsd_validation.py --lr-scales`` finds the same for WSD branches and cosine twins of 20–80 tokens per
parameter: both best at 1.41× the rule.

    .venv/bin/python benchmarks/hparam_sweep.py
    .venv/bin/python benchmarks/hparam_sweep.py --lrs 4e-3,8e-3,1.6e-2 --batch-mults 0.5,1,2
"""

from __future__ import annotations

import argparse
import math
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from scalinglab.ladder.design import make_spec, shape_for
from scalinglab.ladder.plan import LadderSettings, ladder_batch_size
from scalinglab.train.config import TrainConfig

SETTINGS = LadderSettings(seq_len=128, positions="rotary", evals_per_run=1, eval_tokens=32768)
# (total parameters, tokens): the `small` preset's smallest model at ~100 tokens/param, a middle size at a short and
# a long budget (does the best LR move with the number of steps?), and the ladder's largest run (165k, 1.6M tokens).
POINTS = ((10_400, 1_000_000), (45_504, 600_000), (45_504, 2_400_000), (164_736, 1_600_000))


def _config(n_target: float, n_tokens: int, lr: float, batch_mult: float, warmup: float) -> tuple[TrainConfig, object]:
    ctx = SETTINGS.shape_context()
    spec = make_spec("sweep", *shape_for(n_target, ctx), n_tokens, ctx)
    batch = max(1, round(batch_mult * ladder_batch_size(spec, SETTINGS.seq_len)))
    cfg = TrainConfig.from_dict(SETTINGS.train_config(spec)).replace(lr=lr, batch_size=batch, threads=1,
                                                                  warmup_fraction=warmup)
    return cfg, spec


def _train_one(job: tuple) -> dict:
    from scalinglab.train.trainer import train

    n_target, n_tokens, lr, batch_mult, warmup, out = job
    cfg, spec = _config(n_target, n_tokens, lr, batch_mult, warmup)
    name = f"N{spec.n_params}-D{spec.n_tokens}-lr{lr:.3g}-B{cfg.batch_size}" + (f"-w{warmup:g}" if warmup != 0.02 else "")
    result = train(cfg, Path(out) / name)
    return {"n_params": spec.n_params, "n_non_emb": spec.n_params_non_embedding, "n_tokens": spec.n_tokens,
            "lr": lr, "batch": cfg.batch_size, "warmup": warmup, "steps": result.n_steps, "loss": result.final_val_loss}


def _refined_optimum(lrs: np.ndarray, losses: np.ndarray) -> float:
    """Vertex of the parabola in log LR through the best point and its neighbours (the best LR at an edge)."""
    order = np.argsort(lrs)
    lrs, losses = lrs[order], losses[order]
    i = int(np.argmin(losses))
    if i == 0 or i == len(lrs) - 1:
        return float(lrs[i])
    x, y = np.log(lrs[i - 1:i + 2]), losses[i - 1:i + 2]
    a, b, _ = np.polyfit(x, y, 2)
    return float(np.exp(-b / (2 * a))) if a > 0 else float(lrs[i])


def _power_law(x: list[float], y: list[float]) -> tuple[float, float]:
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(math.exp(intercept)), float(slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lrs", default="4e-3,8e-3,1.6e-2,3.2e-2")
    parser.add_argument("--warmups", default="0.1", help="warm-up fractions of the run's steps")
    parser.add_argument("--batch-mults", default="1", help="multiples of the ladder's batch rule")
    parser.add_argument("--out", type=Path, default=Path("results/hparam_sweep"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    lrs = [float(x) for x in args.lrs.split(",")]
    mults = [float(x) for x in args.batch_mults.split(",")]
    warmups = [float(x) for x in args.warmups.split(",")]
    jobs = [(n, d, lr, m, w, str(args.out)) for n, d in POINTS for lr in lrs for m in mults for w in warmups]
    jobs.sort(key=lambda j: -j[0] * j[1])  # longest first keeps both workers busy to the end
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        rows = list(pool.map(_train_one, jobs))

    print(f"{'N':>8} {'N_nonemb':>8} {'D':>10} {'D/N':>5} {'batch':>5} {'steps':>6} {'warmup':>6} {'lr':>8} "
          f"{'loss':>7}")
    for r in sorted(rows, key=lambda r: (r["n_params"], r["n_tokens"], r["batch"], r["warmup"], r["lr"])):
        print(f"{r['n_params']:>8,} {r['n_non_emb']:>8,} {r['n_tokens']:>10,} {r['n_tokens'] / r['n_params']:>5.0f} "
              f"{r['batch']:>5} {r['steps']:>6} {r['warmup']:>6g} {r['lr']:>8.3g} {r['loss']:>7.4f}")
    best = []
    print("\nbest per point (LR refined by a parabola in log LR at the best batch and warm-up):")
    for n, d in sorted({(r["n_params"], r["n_tokens"]) for r in rows}):
        group = [r for r in rows if (r["n_params"], r["n_tokens"]) == (n, d)]
        top = min(group, key=lambda r: r["loss"])
        same = [r for r in group if (r["batch"], r["warmup"]) == (top["batch"], top["warmup"])]
        lr_star = _refined_optimum(np.array([r["lr"] for r in same]), np.array([r["loss"] for r in same]))
        best.append({**top, "lr_star": lr_star})
        print(f"  N={n:,} D={d:,}: loss {top['loss']:.4f} at lr {top['lr']:.3g} batch {top['batch']} warm-up "
              f"{top['warmup']:g} ({top['steps']} steps); refined lr* {lr_star:.3g}")
    # One LR* per size: the geometric mean over the budgets swept at that size, since the rule is a function of N
    # alone (every run of a size is trained alike whatever its budget).
    sizes = sorted({b["n_params"] for b in best})
    per_size = [{"n_params": n, "n_non_emb": next(b["n_non_emb"] for b in best if b["n_params"] == n),
                 "lr_star": math.exp(np.mean([math.log(b["lr_star"]) for b in best if b["n_params"] == n]))}
                for n in sizes]
    print("per size: " + ", ".join(f"N={p['n_params']:,} lr* {p['lr_star']:.3g}" for p in per_size))
    if len(sizes) >= 2:
        for key, label in (("n_params", "total N"), ("n_non_emb", "non-embedding N")):
            a, b = _power_law([p[key] for p in per_size], [p["lr_star"] for p in per_size])
            rms = math.sqrt(np.mean([math.log(a * p[key] ** b / p["lr_star"]) ** 2 for p in per_size]))
            print(f"LR*({label}) = {a:.4g} · N^{b:.3f}   (rms log residual {rms:.3f})")

if __name__ == "__main__":
    main()
