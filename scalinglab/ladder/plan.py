"""From a design to a ladder on disk: per-run training configs, a wall-time estimate, and registration in the store.

Wall time is estimated before anything runs: per run, its full training FLOPs (attention and output layer included)
at ``ASSUMED_MFU`` of the machine's measured matmul peak, a per-token overhead for the non-matmul work that
dominates the tiniest models, and its evaluation forwards; then the runs are packed longest-first onto ``jobs``
slots, each of which first pays one worker start-up (workers are reused across runs, see the executor), and the
makespan reported. Once a ladder has finished runs, the model is rescaled by the median ratio of their measured to
modelled time, which also absorbs a machine shared with other work.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass

from scalinglab.errors import InputError
from scalinglab.ladder.design import RunSpec, ShapeContext
from scalinglab.ladder.store import RunStore

ASSUMED_MFU = 0.3
FALLBACK_FLOPS_PER_S = 10e9  # per thread, when the matmul peak cannot be measured
MIN_STEPS = 300
# A worker's start-up, paid once per slot: Python, torch (and the torch._dynamo import that building an optimizer
# triggers), the trainer, the matmul-peak measurement. Measured here: ~4 s; a reused worker starts its next run in
# ~0.1 s (tiny preset, store timestamps).
STARTUP_SECONDS = 4.0
OVERHEAD_SECONDS_PER_TOKEN = 10e-6  # non-matmul work per token at these sizes (element-wise ops, optimiser steps)


@dataclass(frozen=True)
class LadderSettings:
    """What every run of a ladder shares: data, context length, evaluation cadence, seed."""

    corpus: str = "default"
    tokenizer: str = "byte"
    seq_len: int = 256
    positions: str = "learned"
    evals_per_run: int = 8
    eval_tokens: int = 32768
    seed: int = 0
    tasks: bool = False  # hold out and evaluate the task suite (scalinglab.train.evals; default corpus only)

    def __post_init__(self):
        self.data_config()  # validate early: unknown tokenizer or missing corpus path → one-line InputError
        if not isinstance(self.evals_per_run, int) or self.evals_per_run < 1:
            raise InputError(f"evals per run must be a whole number >= 1, got {self.evals_per_run!r}")

    def data_config(self):
        from scalinglab.train.config import DataConfig

        return DataConfig(corpus=self.corpus, tokenizer=self.tokenizer, seed=self.seed,
                          tasks=self.tasks and self.corpus == "default")

    @property
    def task_note(self) -> str | None:
        """One line when tasks were asked for but this corpus has none; else None."""
        from scalinglab.train.evals import NO_TASKS_NOTE

        return NO_TASKS_NOTE.format(corpus=self.corpus) if self.tasks and self.corpus != "default" else None

    def shape_context(self) -> ShapeContext:
        return ShapeContext(seq_len=self.seq_len, vocab_size=self.data_config().vocab_size, positions=self.positions)

    def train_config(self, spec: RunSpec) -> dict:
        from scalinglab.train.config import TrainConfig

        model = self.shape_context().model_config(spec.n_layer, spec.d_model)
        every = max(self.seq_len, spec.train_tokens // self.evals_per_run)
        cfg = TrainConfig(model=model, data=self.data_config(), n_tokens=spec.n_tokens, eval_every_tokens=every,
                          eval_tokens=self.eval_tokens, seed=spec.seed,
                          batch_size=spec.batch_size or ladder_batch_size(spec, self.seq_len), **_wsd_fields(spec))
        return cfg.to_dict()

    def to_dict(self) -> dict:
        out = asdict(self)
        if not self.tasks:  # added later: left out when off, so earlier ladders' settings still match
            del out["tasks"]
        return out


def _wsd_fields(spec: RunSpec) -> dict:
    """A stable phase or cooldown branch: WSD decaying to zero (Hägele et al. 2024), a fixed warm-up, and where the
    branch's stable checkpoint lies (the executor's run folders are siblings: ``<ladder>/runs/<run_id>``)."""
    if spec.role == "run":  # a plain cosine run; a warm-up fixed by the design (e.g. a WSD branch's twin) is kept
        return {"warmup_tokens": spec.warmup_tokens} if spec.warmup_tokens else {}
    fields = {"schedule": "wsd", "min_lr_ratio": 0.0, "warmup_tokens": spec.warmup_tokens}
    if spec.role == "stable":
        return fields | {"decay_fraction": 0.0, "snapshot_tokens": list(spec.snapshot_tokens)}
    return fields | {"decay_fraction": spec.decay_fraction,
                     "init_from": f"../{spec.parent}/snapshots/tokens-{spec.branch_tokens}.pt"}


def ladder_batch_size(spec: RunSpec, seq_len: int) -> int:
    """Sequences per step: the trainer's rule of N (``scalinglab.train.hparams``), capped so the run takes at least
    ``MIN_STEPS`` optimiser steps.

    Why: that rule sizes the batch for ~20 tokens per parameter; an isoFLOP ladder also trains large models on few
    tokens, which would then get ~100 steps, and their loss would measure too few updates rather than capacity.
    Measured here (165k parameters, 0.3M tokens of the default corpus, Kaplan's LR rule then): 91 steps → loss 2.80,
    296 steps → 2.57.
    """
    from scalinglab.train.hparams import default_batch_size

    by_rule = default_batch_size(spec.n_params_non_embedding, seq_len)
    return max(1, min(by_rule, spec.n_tokens // (MIN_STEPS * seq_len)))


def machine_rate(threads: int = 1) -> tuple[float, str]:
    """Matmul FLOP/s one job of ``threads`` threads is expected to reach, and where the number comes from."""
    try:
        from scalinglab.train.peak import measure_matmul_peak
    except ImportError:
        return FALLBACK_FLOPS_PER_S * threads, "a default guess (no matmul peak measurement available)"
    peak = float(measure_matmul_peak(threads))
    return peak * ASSUMED_MFU, f"{ASSUMED_MFU:.0%} of the measured matmul peak, {peak / 1e9:.0f} GFLOP/s"


def run_seconds(spec: RunSpec, flops_per_s: float, eval_tokens: float = 0.0) -> float:
    """Modelled wall time of one run in a started worker: matmul time, per-token overhead, evaluation forwards."""
    fpt = spec.flops_full / spec.n_tokens
    per_token = fpt / flops_per_s + OVERHEAD_SECONDS_PER_TOKEN
    return spec.train_tokens * per_token + eval_tokens * per_token / 3.0


def wsd_saving(specs: list[RunSpec], flops_per_s: float, jobs: int, eval_tokens: float = 0.0) -> dict:
    """What a WSD ladder spends against the same points trained as separate cosine runs: full FLOPs and the
    estimated makespan of each (the cosine runs' time modelled the same way, without calibration)."""
    points = [s for s in specs if s.role != "stable"]
    separate = [RunSpec(**{**s.__dict__, "role": "run", "branch_tokens": 0, "flops_spent": None}) for s in points]
    spent = sum(s.spent_flops for s in points)
    represented = sum(s.flops_full for s in points)
    wsd_time = estimate_wall_seconds(specs, flops_per_s, jobs, eval_tokens)[1]
    cosine_time = estimate_wall_seconds(separate, flops_per_s, jobs, eval_tokens)[1]
    return {"points": len(points), "stable_runs": len(specs) - len(points), "flops_spent": spent,
            "flops_separate": represented, "flops_saving": 1.0 - spent / represented, "est_wall_seconds": wsd_time,
            "est_wall_seconds_separate": cosine_time}


def calibration(store: RunStore | None, flops_per_s: float) -> tuple[float, int]:
    """Median of measured/modelled time over a ladder's finished runs (1.0 when none): rescales the estimates."""
    if store is None:
        return 1.0, 0
    ratios = []
    for r in store.runs("done"):
        wall = r.metrics.get("wall_seconds")
        if wall:
            ratios.append(wall / run_seconds(RunSpec.from_dict(r.spec), flops_per_s))
    if not ratios:
        return 1.0, 0
    ratios.sort()
    return ratios[len(ratios) // 2], len(ratios)


def estimate_wall_seconds(specs: list[RunSpec], flops_per_s: float, jobs: int, eval_tokens: float = 0.0,
                          scale: float = 1.0) -> tuple[list[float], float]:
    """Per-run seconds and the ladder's makespan when packed longest-first onto ``jobs`` slots (each slot starts
    with one worker start-up)."""
    seconds = [scale * run_seconds(s, flops_per_s, eval_tokens) for s in specs]
    slots = [STARTUP_SECONDS] * max(1, min(jobs, len(specs)))
    for t in sorted(seconds, reverse=True):
        heapq.heapreplace(slots, slots[0] + t)
    return seconds, max(slots)


def register(store: RunStore, specs: list[RunSpec], settings: LadderSettings) -> int:
    """Write the ladder's runs into its store (idempotent); returns how many runs were new."""
    if not specs:
        raise InputError("the ladder design produced no runs")
    existing = store.get_meta("settings")
    if existing is not None and existing != settings.to_dict():
        raise InputError("this ladder directory was created with different settings "
                         f"({_diff(existing, settings.to_dict())}); use a new directory", source=str(store.dir))
    if existing is None:
        store.set_meta("settings", settings.to_dict())
    return store.add_runs([(s.run_id, s.to_dict(), settings.train_config(s)) for s in specs])


def _diff(old: dict, new: dict) -> str:
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return ", ".join(f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in keys)
