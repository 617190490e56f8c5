"""A synthetic trainer with the real trainer's interface, whose losses follow a known Chinchilla law.

Why: the executor, the run store and the fit pipeline can then be exercised in seconds, and a fit of its output must
recover ``TRUE_LAW``. It honours the trainer contract that matters to a ladder: ``on_eval`` callbacks, ``should_stop``,
a checkpoint in ``run_dir`` written atomically after every step, resume from it, and a final result that does not
depend on how often the run was interrupted. ``SCALINGLAB_SYNTHETIC_STEP_SECONDS`` makes each step sleep, so tests
can interrupt a run mid-way.

Select it with ``scalinglab ladder run --trainer synthetic``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Byte-level-text-like constants (nats/byte); the exponents are Hoffmann et al. 2022's approach-3 fit (Eq. 10).
# L = E + A/N^alpha + B/D^beta; kept as plain numbers because the ladder sits below the fitting code.
TRUE_LAW = {"E": 1.0, "A": 60.0, "B": 150.0, "alpha": 0.34, "beta": 0.28}
NOISE = 0.003  # relative, deterministic per run
STEPS = 8
CHECKPOINT = "synthetic_checkpoint.json"


@dataclass
class SyntheticResult:
    n_params: int
    n_params_non_embedding: int
    n_tokens: int
    flops_6n: float
    flops_full: float
    final_val_loss: float
    final_val_bpb: float
    tokens_per_s: float
    mfu: float
    curve: list = field(default_factory=list)
    completed: bool = True


def _loss(n_params: int, n_tokens: float, seed: int) -> float:
    rng = np.random.default_rng([seed, int(n_params), int(n_tokens)])
    law = TRUE_LAW
    clean = law["E"] + law["A"] / n_params ** law["alpha"] + law["B"] / n_tokens ** law["beta"]
    return float(clean * (1.0 + NOISE * rng.standard_normal()))


def train(cfg, run_dir, *, on_eval=None, should_stop=None) -> SyntheticResult:
    from scalinglab.train.accounting import count_params, flops_per_token

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    total, non_emb = count_params(cfg.model)
    six_n, full = flops_per_token(cfg.model)
    ckpt = run_dir / CHECKPOINT
    state = json.loads(ckpt.read_text()) if ckpt.exists() else {"step": 0, "curve": []}
    pause = float(os.environ.get("SCALINGLAB_SYNTHETIC_STEP_SECONDS", "0"))
    start = time.perf_counter()
    while state["step"] < STEPS:
        if should_stop is not None and should_stop():
            break
        time.sleep(pause)
        state["step"] += 1
        tokens = cfg.n_tokens * state["step"] // STEPS
        loss = _loss(total, tokens, cfg.seed)
        state["curve"].append([tokens, loss])
        tmp = ckpt.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, ckpt)
        if on_eval is not None:
            on_eval({"n_tokens": tokens, "val_loss": loss, "val_bpb": loss / np.log(2), "step": state["step"]})
    done = state["step"] >= STEPS
    final = state["curve"][-1][1] if state["curve"] else float("nan")
    elapsed = max(time.perf_counter() - start, 1e-9)
    return SyntheticResult(n_params=total, n_params_non_embedding=non_emb, n_tokens=cfg.n_tokens,
                           flops_6n=six_n * cfg.n_tokens, flops_full=full * cfg.n_tokens, final_val_loss=final,
                           final_val_bpb=final / np.log(2), tokens_per_s=cfg.n_tokens / elapsed, mfu=0.0,
                           curve=[tuple(p) for p in state["curve"]], completed=done)
