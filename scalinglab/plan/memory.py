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

When a layout does not fit, ``smallest_fit`` searches the layouts that would — more ZeRO sharding, full
recomputation, tensor parallelism up to one 8-GPU node (Narayanan et al. 2021, arXiv:2104.04473, keep TP inside a
node), and as many data-parallel ranks as needed — and names the one with the fewest devices.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from scalinglab.errors import InputError, require_positive
from scalinglab.plan.flops import ModelSpec

RECOMPUTE_MODES = ("none", "selective", "full")
TP_DEGREES = (1, 2, 4, 8)  # tensor parallelism stays inside one 8-accelerator node
MAX_DEVICES = 2**48  # search bound; far beyond any cluster
# Context length assumed for "one batch" when none is given: GPT-3 and Chinchilla trained at 2048 tokens
# (Brown et al. 2020, arXiv:2005.14165, Sec. 2.2; Hoffmann et al. 2022, arXiv:2203.15556, Sec. 4).
DEFAULT_SEQ_LEN = 2048


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
class Layout:
    """A parallel layout with its recomputation mode and the memory per device it needs."""

    parallelism: Parallelism
    recompute: str | None  # None: activations not counted (model shape unknown)
    total_bytes: float

    def describe(self) -> str:
        p = self.parallelism
        zero = f"ZeRO {p.zero_stage}" + (" (FSDP full shard)" if p.zero_stage == 3 else "")
        how = f"recompute {self.recompute}" if self.recompute else "model states only"
        return (f"{p.n_devices:,} devices (TP {p.tp} × PP {p.pp} × DP {p.dp:,}, {zero}, {how}): "
                f"{format_bytes(self.total_bytes)} per device")


def format_bytes(n_bytes: float) -> str:
    """Decimal units, as accelerator memory is quoted (80 GB)."""
    for unit, scale in (("EB", 1e18), ("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.3g} {unit}"
    return f"{n_bytes:,.0f} B"


@dataclass(frozen=True)
class MemoryReport:
    terms_bytes: dict[str, float]
    capacity_bytes: float | None  # None: no accelerator given, nothing to compare with
    parallelism: Parallelism
    recompute: str
    optimizer: str
    activations_counted: bool = True  # False when the model's shape is unknown: model states only
    fix: Layout | None = None  # the layout with the fewest devices that fits, when this one does not
    batch_tokens: float | None = None  # tokens in one optimizer step at this layout (one sequence per DP rank)

    @property
    def total_bytes(self) -> float:
        return sum(self.terms_bytes.values())

    @property
    def fits(self) -> bool | None:
        return None if self.capacity_bytes is None else self.total_bytes <= self.capacity_bytes

    @property
    def largest_term(self) -> str:
        return max(self.terms_bytes, key=self.terms_bytes.get)

    def to_dict(self) -> dict:
        return {"terms_bytes": dict(self.terms_bytes), "total_bytes": self.total_bytes,
                "capacity_bytes": self.capacity_bytes, "fits": self.fits, "largest_term": self.largest_term,
                "n_devices": self.parallelism.n_devices, "parallelism": vars(self.parallelism).copy(),
                "recompute": self.recompute, "optimizer": self.optimizer,
                "activations_counted": self.activations_counted, "batch_tokens": self.batch_tokens,
                "fix": None if self.fix is None else {"n_devices": self.fix.parallelism.n_devices,
                                                      "parallelism": vars(self.fix.parallelism).copy(),
                                                      "recompute": self.fix.recompute,
                                                      "total_bytes": self.fix.total_bytes,
                                                      "text": self.fix.describe()}}


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


def has_shape(model: ModelSpec) -> bool:
    """Whether activation memory can be computed (layers, width, heads and context are known)."""
    return all(getattr(model, k) is not None for k in ("n_layers", "d_model", "n_heads", "seq_len"))


def _total_bytes(model, parallel, micro_batch_size, recompute, precision, with_activations: bool) -> float:
    states = sum(model_state_bytes(model, parallel, precision).values())
    return states + (activation_bytes(model, parallel, micro_batch_size, recompute) if with_activations else 0.0)


def memory_per_device(model: ModelSpec, parallel: Parallelism, capacity_bytes: float | None, *,
                      micro_batch_size: int = 1, recompute: str = "selective",
                      precision: OptimizerPrecision = ADAM_MIXED, require_shape: bool = True) -> MemoryReport:
    """Every memory term per device, the total, whether it fits in ``capacity_bytes`` and, if not, the smallest
    layout that would.

    ``require_shape=False`` leaves activations out (and says so) for a model whose shape is unknown.
    """
    if capacity_bytes is not None:
        require_positive("device memory", capacity_bytes)
    counted = require_shape or has_shape(model)
    terms = model_state_bytes(model, parallel, precision)
    if counted:
        terms["activations"] = activation_bytes(model, parallel, micro_batch_size, recompute)
    seq_len = model.seq_len if model.seq_len is not None else DEFAULT_SEQ_LEN
    report = MemoryReport(terms_bytes=terms, capacity_bytes=None if capacity_bytes is None else float(capacity_bytes),
                          parallelism=parallel, recompute=recompute, optimizer=precision.name,
                          activations_counted=counted,
                          batch_tokens=float(parallel.dp) * float(micro_batch_size) * float(seq_len))
    if report.fits is False:
        report = replace(report, fix=smallest_fit(model, parallel, report.capacity_bytes, micro_batch_size=
                                                  micro_batch_size, recompute=recompute, precision=precision,
                                                  with_activations=counted))
    return report


def smallest_fit(model: ModelSpec, parallel: Parallelism, capacity_bytes: float, *, micro_batch_size: int = 1,
                 recompute: str = "selective", precision: OptimizerPrecision = ADAM_MIXED,
                 with_activations: bool = True) -> Layout | None:
    """The layout with the fewest devices that fits, from ``parallel`` with more sharding, recomputation, TP up to 8
    and more DP ranks; ties go to the least change. None when nothing fits (activations alone too large)."""
    best, best_key = None, None
    modes = dict.fromkeys((recompute, "full")) if with_activations else (recompute,)
    tps = sorted({parallel.tp, *(t for t in TP_DEGREES if t > parallel.tp)})
    if model.n_heads is not None:  # TP splits the heads
        tps = [t for t in tps if model.n_heads % t == 0] or [parallel.tp]
    for zero in range(parallel.zero_stage, 4):
        for mode in modes:
            for tp in tps:
                def total(dp: int) -> float:
                    layout = replace(parallel, tp=tp, dp=dp, zero_stage=zero)
                    return _total_bytes(model, layout, micro_batch_size, mode, precision, with_activations)

                dp = _fewest_ranks(total, parallel.ep, capacity_bytes, sharded=zero > 0)
                if dp is None:
                    continue
                layout = replace(parallel, tp=tp, dp=dp, zero_stage=zero)
                key = (layout.n_devices, zero, mode != recompute, tp)
                if best_key is None or key < best_key:
                    best, best_key = Layout(layout, mode if with_activations else None, total(dp)), key
    return best


def _fewest_ranks(total, ep: int, capacity_bytes: float, *, sharded: bool) -> int | None:
    """Fewest DP ranks (a multiple of ``ep``) whose ``total(dp)`` fits; memory never grows with DP, so bisect."""
    if total(ep) <= capacity_bytes:
        return ep
    top = MAX_DEVICES // ep
    if not sharded or total(ep * top) > capacity_bytes:
        return None
    lo, hi = 1, top  # total(ep·lo) does not fit, total(ep·hi) does
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if total(ep * mid) <= capacity_bytes else (mid, hi)
    return ep * hi


def memory_warnings(report: MemoryReport | None, n_tokens: float | None, device: str | None = None,
                    n_devices: int | None = None) -> list[str]:
    """Plain sentences for what stops a plan from running as given: it does not fit (and what would, on the
    ``n_devices`` of the cluster or on more), or its tokens do not fill one batch."""
    if report is None:
        return []
    out = []
    where = f"one {device}'s" if device else "the device's"
    if report.fits is False:
        total = f"{format_bytes(report.total_bytes)} per device"
        cap = format_bytes(report.capacity_bytes)
        if report.fix is not None:
            need = report.fix.parallelism.n_devices
            verdict = ("" if n_devices is None else f"; it fits on this cluster's {n_devices:,} devices with more "
                       "sharding" if need <= n_devices else f" and this cluster's {n_devices:,} are too few")
            out.append(f"does not fit: {total} is more than {where} {cap}{verdict}; the smallest layout that fits "
                       f"uses {report.fix.describe()}")
        else:
            out.append(f"does not fit: {total} is more than {where} {cap}, and no layout up to TP {TP_DEGREES[-1]} "
                       f"with ZeRO 3 and full recomputation fits: lower --micro-batch or --seq-len")
    if n_tokens is not None and report.batch_tokens is not None and n_tokens < report.batch_tokens:
        p = report.parallelism
        out.append(f"{n_tokens:,.0f} training tokens are less than one batch of {report.batch_tokens:,.0f} tokens "
                   f"(one sequence per data-parallel rank: DP {p.dp:,} × micro-batch × sequence length): "
                   "not a single optimizer step")
    return out
