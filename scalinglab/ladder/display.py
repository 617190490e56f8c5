"""Rich rendering of a ladder plan: the runs, their FLOPs and the estimated wall time, printed before anything runs."""

from __future__ import annotations

import json
import math

from rich import box
from rich.console import Console
from rich.table import Table


def _plan_table(specs, seconds, title: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("run", "N params", "D tokens", "D/N", "6ND FLOPs", "full FLOPs", "est."):
        table.add_column(col, justify="left" if col == "run" else "right")
    for s, t in zip(specs, seconds):
        table.add_row(s.run_id, f"{s.n_params:,}", f"{s.n_tokens:,}", f"{s.tokens_per_param:.1f}",
                      f"{6.0 * s.n_params * s.n_tokens:.2e}", f"{s.flops_full:.2e}", duration(t))
    return table


def duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


def show_plan(specs, jobs: int, threads: int, console: Console, store=None, as_json: bool = False,
              eval_tokens: float = 0.0) -> float:
    """Print the runs, their FLOPs and the estimated wall time; returns the estimated makespan in seconds."""
    from scalinglab.ladder.plan import calibration, estimate_wall_seconds, machine_rate

    rate, source = machine_rate(threads)
    scale, n_cal = calibration(store, rate)
    if n_cal:
        source += f"; rescaled ×{scale:.2f} to match {n_cal} finished run(s)"
    seconds, makespan = estimate_wall_seconds(specs, rate, jobs, eval_tokens, scale)
    total_full = sum(s.spent_flops for s in specs)  # a WSD ladder: its stable phases counted once
    if as_json:
        print(json.dumps({"runs": [s.to_dict() | {"est_seconds": t} for s, t in zip(specs, seconds)],
                          "total_flops_full": total_full, "est_wall_seconds": makespan, "jobs": jobs,
                          "threads": threads, "rate_flops_per_s": rate, "rate_source": source}, indent=2))
        return makespan
    # the (N, D) points the law is fitted on: not a WSD stable phase, not a held-out run
    points = [s for s in specs if s.role != "stable" and not s.held_out] or list(specs)
    compute = [6.0 * s.n_params * s.n_tokens for s in points]
    held = [6.0 * s.n_params * s.n_tokens for s in specs if s.held_out]
    console.print(_plan_table(specs, seconds, f"{len(specs)} runs"))
    console.print(f"compute 6ND: {min(compute):.3g} … {max(compute):.3g} FLOPs "
                  f"({_decades(compute):.1f} decades) over {len(points)} fitted points"
                  + (f", {len(held)} held-out run(s) at up to {max(held):.3g}" if held else "")
                  + f"; full FLOPs in total {total_full:.3g}")
    console.print(f"estimated wall time: {duration(makespan)} with {jobs} job(s) × {threads} thread(s) "
                  f"(matmuls at {rate / 1e9:.1f} GFLOP/s per job: {source})")
    return makespan


def _decades(values) -> float:
    return math.log10(max(values) / min(values)) if values else 0.0
