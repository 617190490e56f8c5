"""One planning request → the sections that answer it: allocation, inference-aware or data-constrained sizing,
training FLOPs, cluster time/energy/cost, memory per device.

What is given decides what is planned:
- ``flops`` alone → the compute-optimal (N, D) under the law (with ``unique_tokens``: the data-constrained optimum);
- ``target_loss`` (+ ``inference_tokens``) → Sardana et al.'s inference-aware (N, D);
- ``n_params`` with ``n_tokens`` or ``flops`` → the training FLOPs / tokens of that model;
- an ``accelerator`` with one of {count, days} (workload known) or two of {count, days, budget} (workload unknown)
  → the cluster plan; with no model given that is the inverse question: the largest compute-optimal model the
  cluster can train;
- ``memory=True`` with the model's shape and an accelerator → memory per device under the given parallelism.
"""

from __future__ import annotations

from dataclasses import dataclass

from scalinglab.errors import InputError
from scalinglab.laws import DataConstrained, Law
from scalinglab.laws.published import published_law
from scalinglab.plan.allocation import Allocation, compute_optimal
from scalinglab.plan.catalog import get_accelerator, load_catalog
from scalinglab.plan.cluster import ClusterAssumptions, ClusterPlan, plan_cluster
from scalinglab.plan.data_constrained import DataConstrainedPlan, data_constrained_optimal
from scalinglab.plan.flops import ModelSpec, TrainingFlops, training_flops
from scalinglab.plan.inference_aware import InferenceAwarePlan, inference_aware
from scalinglab.plan.memory import OPTIMIZERS, MemoryReport, Parallelism, memory_per_device, memory_warnings


@dataclass(frozen=True)
class PlanRequest:
    flops: float | None = None
    n_params: float | None = None
    n_params_active: float | None = None
    n_tokens: float | None = None
    n_layers: int | None = None
    d_model: int | None = None
    n_heads: int | None = None
    seq_len: int | None = None
    n_experts: int = 1
    experts_per_token: int = 1
    accelerator: str | None = None
    catalog_path: str | None = None
    count: int | None = None
    days: float | None = None
    budget_usd: float | None = None
    assumptions: ClusterAssumptions = ClusterAssumptions()
    law: Law | None = None   # None: the default published law (chinchilla; muennighoff2023 with unique_tokens)
    target_loss: float | None = None
    inference_tokens: float | None = None
    unique_tokens: float | None = None
    extra_epochs: int = 4
    memory: bool = False
    parallelism: Parallelism = Parallelism()
    recompute: str = "selective"
    micro_batch_size: int = 1
    optimizer: str = "adam-mixed"


@dataclass(frozen=True)
class Plan:
    law: Law
    allocation: Allocation | None = None
    inference_aware: InferenceAwarePlan | None = None
    data_constrained: DataConstrainedPlan | None = None
    training: TrainingFlops | None = None
    cluster: ClusterPlan | None = None
    memory: MemoryReport | None = None
    model: ModelSpec | None = None
    warnings: tuple[str, ...] = ()  # what stops the plan from running as given (does not fit, below one batch)

    def to_dict(self) -> dict:
        out: dict = {"law": {"name": self.law.name, "params": self.law.params()}}
        for key in ("allocation", "inference_aware", "data_constrained", "cluster", "memory"):
            section = getattr(self, key)
            if section is not None:
                out[key] = section.to_dict()
        if self.training is not None:
            t = self.training
            out["training"] = {"n_tokens": t.n_tokens, "flops_6nd": t.flops_6nd,
                               "flops_with_attention": t.flops_with_attention}
        if self.model is not None:
            out["model"] = {k: getattr(self.model, k) for k in ("n_params", "n_params_active", "n_layers", "d_model",
                                                                 "n_heads", "seq_len", "n_experts", "experts_per_token")}
        out["warnings"] = list(self.warnings)
        return out


_FLAGS = {"flops": "--flops", "n_params": "--params", "n_tokens": "--tokens", "unique_tokens": "--unique-tokens",
          "n_layers": "--layers", "d_model": "--d-model", "n_heads": "--heads", "seq_len": "--seq-len",
          "n_params_active": "--active-params"}


def _check_contradictions(req: PlanRequest) -> None:
    def given(*names):
        return [_FLAGS[n] for n in names if getattr(req, n) is not None]

    if req.target_loss is not None and given("flops", "n_params", "n_tokens", "unique_tokens"):
        raise InputError(f"contradictory: --target-loss chooses the model size and tokens itself; drop "
                         f"{', '.join(given('flops', 'n_params', 'n_tokens', 'unique_tokens'))}")
    if req.inference_tokens is not None and req.target_loss is None:
        raise InputError("--inference-tokens needs --target-loss (the quality the served model must reach)")
    if req.flops is not None and req.n_params is not None and req.n_tokens is not None:
        raise InputError("contradictory: --flops, --params and --tokens over-determine the run; give two of them")
    if req.n_tokens is not None and req.n_params is None:
        raise InputError("--tokens needs --params (or use --flops for a compute budget)")
    if req.unique_tokens is not None and req.n_params is not None:
        raise InputError("contradictory: --unique-tokens chooses the model size itself; drop --params")
    shape = given("n_layers", "d_model", "n_heads", "seq_len", "n_params_active")
    if shape and req.n_params is None:
        raise InputError(f"{', '.join(shape)} describe a model: also give --params")


def _data_constrained_law(req: PlanRequest, law: Law) -> DataConstrained:
    if isinstance(law, DataConstrained):
        return law
    if req.law is None:
        return published_law("muennighoff2023")
    raise InputError(f"--unique-tokens needs a data-constrained law (e.g. --law muennighoff2023), not '{law.name}'")


def make_plan(req: PlanRequest) -> Plan:
    _check_contradictions(req)
    if req.law is not None and not isinstance(req.law, Law):
        raise InputError(f"the planner takes a Law object, got {type(req.law).__name__} {req.law!r} (a name: "
                         "scalinglab.laws.published_law(name); a file: scalinglab.laws.io.load_law(path))")
    law = req.law if req.law is not None else published_law()
    model = None
    if req.n_params is not None:
        model = ModelSpec(n_params=req.n_params, n_params_active=req.n_params_active, n_layers=req.n_layers,
                          d_model=req.d_model, n_heads=req.n_heads, seq_len=req.seq_len, n_experts=req.n_experts,
                          experts_per_token=req.experts_per_token)
    sections: dict = {}
    workload = req.flops
    if req.target_loss is not None:
        ia = inference_aware(law, req.target_loss, req.inference_tokens or 0.0)
        sections["inference_aware"] = ia
        workload = ia.training_flops
        model = ModelSpec(n_params=ia.n_params)  # so that a cluster plan states its training tokens
    elif model is not None and req.n_tokens is not None:
        sections["training"] = training_flops(model, req.n_tokens)
        workload = sections["training"].flops

    acc = None
    constraints = any(v is not None for v in (req.count, req.days, req.budget_usd))
    if req.accelerator is not None:
        acc = get_accelerator(req.accelerator, load_catalog(req.catalog_path))
    if acc is not None and (constraints or not req.memory):
        per_token = model.flops_per_token() if model is not None else None
        cluster = plan_cluster(acc, flops=workload, count=req.count, days=req.days, budget_usd=req.budget_usd,
                               assumptions=req.assumptions, flops_per_token=per_token)
        sections["cluster"] = cluster
        if workload is None and model is None:
            workload = cluster.flops  # inverse: the largest compute-optimal model this cluster can train
    elif constraints and acc is None:
        raise InputError("--count, --days and --budget need --accelerator")

    if model is not None and req.flops is not None and req.n_tokens is None:
        sections["training"] = training_flops(model, req.flops / model.flops_per_token())
    if model is None and req.target_loss is None and workload is not None:
        if req.unique_tokens is not None:
            dc = data_constrained_optimal(workload, req.unique_tokens, _data_constrained_law(req, law),
                                          req.extra_epochs)
            sections["data_constrained"] = dc
            law = _data_constrained_law(req, law)
        else:
            sections["allocation"] = compute_optimal(law, workload)
    elif req.unique_tokens is not None and workload is None:
        raise InputError("--unique-tokens needs a compute budget: --flops, or --accelerator with --count and --days")

    if req.optimizer not in OPTIMIZERS:
        raise InputError(f"unknown optimizer '{req.optimizer}'; known: {', '.join(OPTIMIZERS)}")
    if req.memory and (model is None or acc is None):
        raise InputError("--memory needs --params with the model's shape and an --accelerator (device memory)")
    if model is not None:  # every plan with a model size states its memory per device, asked for or not
        cluster = sections.get("cluster")
        layout = req.parallelism
        if not req.memory and layout == Parallelism() and cluster is not None:
            layout = Parallelism(dp=cluster.count)  # default: plain data parallelism over the whole cluster
        sections["memory"] = memory_per_device(model, layout, None if acc is None else acc.memory_bytes,
                                               micro_batch_size=req.micro_batch_size, recompute=req.recompute,
                                               precision=OPTIMIZERS[req.optimizer], require_shape=req.memory)
    if not sections:
        raise InputError("nothing to plan: give --flops, --params with --tokens, --target-loss, or --accelerator "
                         "with --count and --days")
    training = sections.get("training")
    tokens = training.n_tokens if training is not None else getattr(sections.get("cluster"), "n_tokens", None)
    warnings = memory_warnings(sections.get("memory"), tokens, None if acc is None else acc.name,
                               getattr(sections.get("cluster"), "count", None))
    return Plan(law=law, model=model, warnings=tuple(warnings), **sections)
