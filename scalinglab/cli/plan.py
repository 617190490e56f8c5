"""CLI: ``scalinglab plan`` — parse options, delegate to ``scalinglab.plan.planner``, print tables or JSON."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from scalinglab.cli.common import law_option
from scalinglab.errors import InputError
from scalinglab.plan.cluster import ClusterAssumptions
from scalinglab.plan.memory import MemoryReport, Parallelism, format_bytes
from scalinglab.plan.planner import Plan, PlanRequest, make_plan

_DEFAULTS = ClusterAssumptions()


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and (abs(value) >= 1e5 or 0 < abs(value) < 1e-2):
        text = f"{value:.4g}"
    elif isinstance(value, float):
        text = f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def _table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("quantity", style="bold")
    table.add_column("value", justify="right")
    for key, value in rows:
        table.add_row(key, value)
    return table


def _render(plan: Plan, console: Console) -> None:
    law = plan.law
    console.print(f"law: {law.name} " + ", ".join(f"{k}={v:.6g}" for k, v in law.params().items()))
    if plan.inference_aware is not None:
        ia = plan.inference_aware
        console.print(_table(f"Inference-aware size for loss {ia.target_loss:g} (Sardana et al. 2023)", [
            ("parameters N", _fmt(ia.n_params)), ("training tokens D", _fmt(ia.n_tokens)),
            ("tokens per parameter", _fmt(ia.tokens_per_param)), ("inference tokens", _fmt(ia.inference_tokens)),
            ("training FLOPs", _fmt(ia.training_flops)), ("inference FLOPs", _fmt(ia.inference_flops)),
            ("total FLOPs", _fmt(ia.total_flops)),
            ("Chinchilla-optimal N for the same loss", _fmt(ia.chinchilla_n_params)),
            ("Chinchilla-optimal D", _fmt(ia.chinchilla_n_tokens)),
            ("FLOPs saved vs Chinchilla-optimal", _fmt(ia.flops_saved))]))
    if plan.allocation is not None:
        a = plan.allocation
        title = "Largest compute-optimal model for this cluster" if plan.cluster is not None else "Compute-optimal"
        console.print(_table(f"{title} ({a.method})", [
            ("FLOPs", _fmt(a.flops)), ("parameters N", _fmt(a.n_params)), ("tokens D", _fmt(a.n_tokens)),
            ("tokens per parameter", _fmt(a.tokens_per_param)), ("predicted loss", _fmt(a.loss, "nats/token"))]))
    if plan.data_constrained is not None:
        dc = plan.data_constrained
        console.print(_table("Data-constrained optimum (Muennighoff et al. 2023)", [
            ("FLOPs", _fmt(dc.flops)), ("unique tokens U", _fmt(dc.unique_tokens)),
            ("parameters N", _fmt(dc.n_params)), ("tokens D", _fmt(dc.n_tokens)), ("epochs", _fmt(dc.epochs)),
            ("predicted loss", _fmt(dc.loss, "nats/token")),
            ("loss if all tokens were fresh", _fmt(dc.unconstrained_loss, "nats/token"))]))
        table = Table(title="Marginal return of each epoch at this N", title_justify="left")
        for col in ("epoch", "tokens", "loss", "loss gain", "token worth vs fresh", "epoch FLOPs"):
            table.add_column(col, justify="right")
        for r in dc.epoch_returns:
            table.add_row(str(r.epoch), _fmt(r.n_tokens), f"{r.loss:.4f}",
                          "—" if r.loss_gain is None else f"{r.loss_gain:.4f}", f"{r.token_worth:.3f}",
                          _fmt(r.extra_flops))
        console.print(table)
    if plan.training is not None:
        t = plan.training
        console.print(_table("Training FLOPs", [
            ("parameters (total / active)", f"{_fmt(plan.model.n_params)} / {_fmt(plan.model.active)}"),
            ("tokens", _fmt(t.n_tokens)), ("6·N_active·D", _fmt(t.flops_6nd)),
            ("with attention", _fmt(t.flops_with_attention))]))
    if plan.cluster is not None:
        c, s = plan.cluster, plan.cluster.assumptions
        console.print(_table(f"Cluster plan on {c.count:,} × {c.accelerator}", [
            ("FLOPs", _fmt(c.flops)), ("tokens for the given model", _fmt(c.n_tokens)),
            ("device-hours", _fmt(c.device_hours)), ("wall days", _fmt(c.days)),
            ("facility power (provisioned)", _fmt(c.facility_mw, "MW")),
            ("average draw", _fmt(None if c.average_watts is None else c.average_watts / 1e6, "MW")),
            ("energy", _fmt(c.energy_mwh, "MWh")), ("cost", _fmt(c.cost_usd, "USD")),
            ("assumptions", f"MFU {s.mfu:g}, PUE {s.pue:g}, server overhead {s.server_overhead:g}×, "
                            f"power utilisation {s.power_utilisation:g}, {s.precision}")]))
    if plan.memory is not None:
        _render_memory(plan.memory, console)
    for warning in plan.warnings:
        console.print(f"warning: {warning}", style="bold red", markup=False, highlight=False)


def _render_memory(m: MemoryReport, console: Console) -> None:
    rows = [(k.replace("_", " "), format_bytes(v)) for k, v in m.terms_bytes.items()]
    if not m.activations_counted:
        rows.append(("activations", "not counted (give --layers, --d-model, --heads, --seq-len)"))
    if m.fits is None:
        verdict = "unknown: give --accelerator"
    elif m.fits:
        verdict = "yes" if m.activations_counted else "yes, for the model states"
    else:
        verdict = f"NO — largest term: {m.largest_term.replace('_', ' ')}"
    p = m.parallelism
    rows += [("total per device", format_bytes(m.total_bytes)),
             ("device memory", "n/a" if m.capacity_bytes is None else format_bytes(m.capacity_bytes)),
             ("fits", verdict),
             ("layout", f"TP {p.tp} × PP {p.pp} × DP {p.dp:,} (EP {p.ep}), ZeRO {p.zero_stage}, "
                        f"recompute {m.recompute}, {m.optimizer} = {p.n_devices:,} devices")]
    if m.fits is False:
        rows.append(("smallest layout that fits", "none (activations alone are too large)" if m.fix is None
                     else m.fix.describe()))
    if m.batch_tokens is not None:
        rows.append(("one batch (a sequence per DP rank)", _fmt(m.batch_tokens, "tokens")))
    console.print(_table("Memory per device", rows))


def plan_cmd(
    flops: float = typer.Option(None, "--flops", help="training compute budget C in FLOPs, e.g. 1e25"),
    params: float = typer.Option(None, "--params", help="model parameters N (total, all experts)"),
    active_params: float = typer.Option(None, "--active-params", help="MoE: parameters used per token"),
    tokens: float = typer.Option(None, "--tokens", help="training tokens D"),
    layers: int = typer.Option(None, "--layers", help="transformer layers (for attention FLOPs and memory)"),
    d_model: int = typer.Option(None, "--d-model", help="model width"),
    heads: int = typer.Option(None, "--heads", help="attention heads (for activation memory)"),
    seq_len: int = typer.Option(None, "--seq-len", help="training sequence length"),
    experts: int = typer.Option(1, "--experts", help="MoE: experts per layer"),
    top_k: int = typer.Option(1, "--top-k", help="MoE: experts each token uses"),
    accelerator: str = typer.Option(None, "--accelerator", help="catalog name, e.g. h100, b200, mi300x, tpu-v5p"),
    catalog: str = typer.Option(None, "--catalog", help="YAML file adding/overriding accelerators"),
    count: float = typer.Option(None, "--count", help="number of accelerators (8000 or 8e3)"),
    days: float = typer.Option(None, "--days", help="wall-clock days"),
    budget: float = typer.Option(None, "--budget", help="budget in US dollars"),
    mfu: float = typer.Option(_DEFAULTS.mfu, "--mfu", help="model FLOPs utilisation (Llama 3: 0.38-0.43 on H100)"),
    pue: float = typer.Option(_DEFAULTS.pue, "--pue", help="facility PUE (US average 2023: 1.43; AI sites: 1.14)"),
    server_overhead: float = typer.Option(_DEFAULTS.server_overhead, "--server-overhead",
                                          help="server watts per board watt (DGX H100: 1.82)"),
    power_utilisation: float = typer.Option(_DEFAULTS.power_utilisation, "--power-utilisation",
                                            help="average / rated power during training (for energy)"),
    board_watts: float = typer.Option(None, "--board-watts", help="override the accelerator's board power"),
    price_per_hour: float = typer.Option(None, "--price-per-hour", help="override the price per device-hour (USD)"),
    precision: str = typer.Option("bf16", "--precision", help="bf16 or fp8 peak throughput"),
    law: str = typer.Option(None, "--law", help="published law (chinchilla [default], chinchilla-sardana, "
                                                "hoffmann2022-tex, besiroglu2024, kaplan2020, muennighoff2023) or "
                                                "a law file: fit --save/--json output, report.json, the demo's "
                                                "laws.json"),
    law_params: str = typer.Option(None, "--law-params", help="explicit parameters, e.g. "
                                                              "'E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28'"),
    target_loss: float = typer.Option(None, "--target-loss", help="inference-aware sizing: loss to reach"),
    inference_tokens: float = typer.Option(None, "--inference-tokens", help="lifetime inference tokens"),
    unique_tokens: float = typer.Option(None, "--unique-tokens", help="data-constrained: unique tokens available"),
    extra_epochs: int = typer.Option(4, "--extra-epochs", help="epochs past the optimum in the returns table"),
    memory: bool = typer.Option(False, "--memory", help="memory per device (needs shape and --accelerator)"),
    tp: int = typer.Option(1, "--tp", help="tensor parallel degree"),
    pp: int = typer.Option(1, "--pp", help="pipeline parallel degree"),
    dp: int = typer.Option(1, "--dp", help="data parallel degree"),
    ep: int = typer.Option(1, "--ep", help="expert parallel degree (divides --dp)"),
    zero: int = typer.Option(0, "--zero", help="ZeRO stage 0-3 (3 = FSDP full shard)"),
    recompute: str = typer.Option("selective", "--recompute", help="activation recomputation: none, selective, full"),
    micro_batch: int = typer.Option(1, "--micro-batch", help="sequences per micro-batch"),
    optimizer: str = typer.Option("adam-mixed", "--optimizer", help="adam-mixed (16 B/param) or adam-fp32"),
    no_sequence_parallel: bool = typer.Option(False, "--no-sequence-parallel", help="TP without sequence parallel"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """Plan a training run from a scaling law: model size and tokens, accelerators, days, MW, dollars, memory.

    Examples:
      scalinglab plan --flops 1e25
      scalinglab plan --accelerator h100 --count 8000 --days 90 --params 1.8e12
      scalinglab plan --target-loss 2.0 --inference-tokens 2e12
      scalinglab plan --flops 1e22 --unique-tokens 25e9
      scalinglab plan --params 70e9 --layers 80 --d-model 8192 --heads 64 --seq-len 4096 --accelerator h100 \\
        --memory --dp 64 --zero 3 --recompute full
    """
    try:
        assumptions = ClusterAssumptions(mfu=mfu, server_overhead=server_overhead, pue=pue,
                                         power_utilisation=power_utilisation, precision=precision,
                                         board_watts=board_watts, price_per_hour_usd=price_per_hour)
        parallelism = Parallelism(tp=tp, pp=pp, dp=dp, ep=ep, zero_stage=zero,
                                  sequence_parallel=not no_sequence_parallel)
    except TypeError as exc:  # a non-numeric value slipped through
        raise InputError(str(exc)) from None
    request = PlanRequest(
        flops=flops, n_params=params, n_params_active=active_params, n_tokens=tokens, n_layers=layers,
        d_model=d_model, n_heads=heads, seq_len=seq_len, n_experts=experts, experts_per_token=top_k,
        accelerator=accelerator, catalog_path=catalog, count=count, days=days, budget_usd=budget,
        assumptions=assumptions, law=law_option(law, law_params), target_loss=target_loss,
        inference_tokens=inference_tokens, unique_tokens=unique_tokens, extra_epochs=extra_epochs, memory=memory,
        parallelism=parallelism, recompute=recompute, micro_batch_size=micro_batch, optimizer=optimizer)
    plan = make_plan(request)
    if as_json:
        typer.echo(json.dumps(plan.to_dict(), indent=2))
    else:
        _render(plan, Console())


def register(app: typer.Typer) -> None:
    """Add ``scalinglab plan`` to the main app."""
    app.command("plan")(plan_cmd)
