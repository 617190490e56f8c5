"""Memory per device for training: weights, gradients, optimizer state and activations under ZeRO/FSDP sharding and
tensor (TP), pipeline (PP), data (DP) and expert (EP) parallelism — and whether it fits.

Model states (Rajbhandari et al. 2020, ZeRO, arXiv:1910.02054, Sec. 3.1 and Fig. 1): mixed-precision Adam keeps
16-bit weights (2 bytes/param) and gradients (2) plus fp32 master weights, momentum and variance (K = 12), i.e.
16 bytes/param. ZeRO stage 1 shards the optimizer state over the DP ranks, stage 2 also the gradients, stage 3 (=
FSDP full sharding) also the weights. TP and PP split every tensor; EP splits the experts, whose states are then
sharded over the DP/EP ranks that hold the same expert.

Activations (Korthikanti et al. 2022, arXiv:2205.05198, Sec. 4): per layer, 16-bit, s·b·h·(34 + 5·a·s/h) bytes
without parallelism (s sequence, b micro-batch, h width, a heads); with TP degree t, sbh·(10 + 24/t + 5as/(ht))
or, with sequence parallelism, sbh·(34 + 5as/h)/t; selective recomputation drops the 5as/h attention term; full
recomputation keeps only the layer input, 2·sbh. Under 1F1B pipelining the first stage holds L/p layers for p
micro-batches in flight, i.e. L layers' worth (their Sec. 4.2.3). Embedding/logit activations and the MoE router
are left out: they are small next to L layers at these sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

from scalinglab.errors import InputError, require_positive
from scalinglab.plan.flops import ModelSpec

RECOMPUTE_MODES = ("none", "selective", "full")


@dataclass(frozen=True)
class OptimizerPrecision:
    """Bytes per parameter for weights, gradients and optimizer state."""

    weight_bytes: float
    grad_bytes: float
    optimizer_bytes: float
    name: str = "custom"


# Mixed-precision Adam: fp16/bf16 weights and grads, fp32 master copy + momentum + variance (ZeRO, Sec. 3.1).
ADAM_MIXED = OptimizerPrecision(2.0, 2.0, 12.0, "adam-mixed")
ADAM_FP32 = OptimizerPrecision(4.0, 4.0, 8.0, "adam-fp32")  # fp32 weights and grads + momentum + variance
OPTIMIZERS = {p.name: p for p in (ADAM_MIXED, ADAM_FP32)}


@dataclass(frozen=True)
class Parallelism:
    tp: int = 1  # tensor parallel degree
    pp: int = 1  # pipeline parallel degree
    dp: int = 1  # data parallel degree
    ep: int = 1  # expert parallel degree (carved out of dp)
    zero_stage: int = 0  # 0 none, 1 optimizer, 2 + gradients, 3 + weights (= FSDP full shard)
    sequence_parallel: bool = True

    def __post_init__(self):
        for name in ("tp", "pp", "dp", "ep"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise InputError(f"{name} must be a whole number ≥ 1, got {value!r}")
        if self.zero_stage not in (0, 1, 2, 3):
            raise InputError(f"ZeRO stage must be 0, 1, 2 or 3, got {self.zero_stage!r}")
        if self.dp % self.ep:
            raise InputError(f"expert parallel degree {self.ep} must divide the data parallel degree {self.dp}")

    @property
    def n_devices(self) -> int:
        return self.tp * self.pp * self.dp


@dataclass(frozen=True)
class MemoryReport:
    terms_bytes: dict[str, float]
    capacity_bytes: float
    parallelism: Parallelism
    recompute: str
    optimizer: str

    @property
    def total_bytes(self) -> float:
        return sum(self.terms_bytes.values())

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.capacity_bytes

    @property
    def largest_term(self) -> str:
        return max(self.terms_bytes, key=self.terms_bytes.get)

    def to_dict(self) -> dict:
        return {"terms_bytes": dict(self.terms_bytes), "total_bytes": self.total_bytes,
                "capacity_bytes": self.capacity_bytes, "fits": self.fits, "largest_term": self.largest_term,
                "n_devices": self.parallelism.n_devices, "parallelism": vars(self.parallelism).copy(),
                "recompute": self.recompute, "optimizer": self.optimizer}


def model_state_bytes(model: ModelSpec, parallel: Parallelism,
                      precision: OptimizerPrecision = ADAM_MIXED) -> dict[str, float]:
    """Weights, gradients and optimizer state per device (bytes)."""
    expert = model.n_params_expert
    if expert and parallel.ep > model.n_experts:
        raise InputError(f"expert parallel degree {parallel.ep} exceeds the {model.n_experts} experts")
    dense_local = (model.n_params - expert) / (parallel.tp * parallel.pp)
    expert_local = expert / (parallel.tp * parallel.pp * parallel.ep)
    expert_dp = parallel.dp // parallel.ep

    def sharded(from_stage: int) -> float:
        if parallel.zero_stage >= from_stage:
            return dense_local / parallel.dp + expert_local / expert_dp
        return dense_local + expert_local

    return {"weights": precision.weight_bytes * sharded(3),
            "gradients": precision.grad_bytes * sharded(2),
            "optimizer_states": precision.optimizer_bytes * sharded(1)}


def activation_bytes(model: ModelSpec, parallel: Parallelism, micro_batch_size: int = 1,
                     recompute: str = "selective") -> float:
    """Activation memory per device (bytes) for one micro-batch of ``micro_batch_size`` sequences under 1F1B."""
    if recompute not in RECOMPUTE_MODES:
        raise InputError(f"recompute must be one of {', '.join(RECOMPUTE_MODES)}, got {recompute!r}")
    missing = [k for k in ("n_layers", "d_model", "n_heads", "seq_len") if getattr(model, k) is None]
    if missing:
        raise InputError(f"activation memory needs the model's {', '.join(missing)}")
    b = require_positive("micro-batch size", micro_batch_size)
    s, h, a, layers = float(model.seq_len), float(model.d_model), float(model.n_heads), float(model.n_layers)
    t = float(parallel.tp)
    sbh = s * b * h
    attention = 5.0 * a * s / h  # softmax input/output, dropout mask, attention over values
    if recompute == "full":
        per_layer = 2.0 * sbh
    elif parallel.sequence_parallel:
        per_layer = sbh * (34.0 + (0.0 if recompute == "selective" else attention)) / t
    else:
        per_layer = sbh * (10.0 + 24.0 / t + (0.0 if recompute == "selective" else attention / t))
    # 1F1B: the first stage holds L/p layers for p micro-batches in flight = L layers' worth
    return per_layer * layers


def memory_per_device(model: ModelSpec, parallel: Parallelism, capacity_bytes: float, *, micro_batch_size: int = 1,
                      recompute: str = "selective", precision: OptimizerPrecision = ADAM_MIXED) -> MemoryReport:
    """Every memory term per device, the total, and whether it fits in ``capacity_bytes``."""
    require_positive("device memory", capacity_bytes)
    terms = model_state_bytes(model, parallel, precision)
    terms["activations"] = activation_bytes(model, parallel, micro_batch_size, recompute)
    return MemoryReport(terms_bytes=terms, capacity_bytes=float(capacity_bytes), parallelism=parallel,
                        recompute=recompute, optimizer=precision.name)
