"""From a design to a ladder on disk: per-run training configs, a wall-time estimate, and registration in the store.

Wall time is estimated before anything runs: each run's full training FLOPs (attention and output layer included)
divided by an achieved rate, then the runs are packed longest-first onto ``jobs`` slots and the makespan reported.
The achieved rate is the machine's measured matmul peak for the job's thread count times ``ASSUMED_MFU`` (what our
trainer reached on small models here; see the benchmarks), or, once a ladder has finished runs, their own
measured FLOPs per second.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass

from scalinglab.errors import InputError
from scalinglab.ladder.design import RunSpec, ShapeContext
from scalinglab.ladder.store import RunStore

ASSUMED_MFU = 0.3
FALLBACK_FLOPS_PER_S = 10e9  # per thread, when the matmul peak cannot be measured


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

    def __post_init__(self):
        self.data_config()  # validate early: unknown tokenizer or missing corpus path → one-line InputError
        if not isinstance(self.evals_per_run, int) or self.evals_per_run < 1:
            raise InputError(f"evals per run must be a whole number >= 1, got {self.evals_per_run!r}")

    def data_config(self):
        from scalinglab.train.config import DataConfig

        return DataConfig(corpus=self.corpus, tokenizer=self.tokenizer, seed=self.seed)

    def shape_context(self) -> ShapeContext:
        return ShapeContext(seq_len=self.seq_len, vocab_size=self.data_config().vocab_size, positions=self.positions)

    def train_config(self, spec: RunSpec) -> dict:
        from scalinglab.train.config import TrainConfig

        model = self.shape_context().model_config(spec.n_layer, spec.d_model)
        every = max(self.seq_len, spec.n_tokens // self.evals_per_run)
        cfg = TrainConfig(model=model, data=self.data_config(), n_tokens=spec.n_tokens, eval_every_tokens=every,
                          eval_tokens=self.eval_tokens, seed=spec.seed)
        return cfg.to_dict()

    def to_dict(self) -> dict:
        return asdict(self)


def achieved_flops_per_s(threads: int = 1, store: RunStore | None = None) -> tuple[float, str]:
    """FLOP/s one job of ``threads`` threads is expected to reach, and where the number comes from."""
    if store is not None:
        rates = [r.metrics["flops_full"] / r.metrics["wall_seconds"] for r in store.runs("done")
                 if r.metrics.get("wall_seconds") and r.metrics.get("flops_full")]
        if rates:
            rates.sort()
            return rates[len(rates) // 2], f"median of {len(rates)} finished runs in this ladder"
    try:
        from scalinglab.train.peak import measure_matmul_peak
    except ImportError:
        return FALLBACK_FLOPS_PER_S * threads, "a default guess (no matmul peak measurement available)"
    peak = float(measure_matmul_peak(threads))
    return peak * ASSUMED_MFU, f"{ASSUMED_MFU:.0%} of the measured matmul peak ({peak / 1e9:.0f} GFLOP/s)"


def estimate_wall_seconds(specs: list[RunSpec], flops_per_s: float, jobs: int) -> tuple[list[float], float]:
    """Per-run seconds and the ladder's makespan when packed longest-first onto ``jobs`` slots."""
    seconds = [s.flops_full / flops_per_s for s in specs]
    slots = [0.0] * max(1, jobs)
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
