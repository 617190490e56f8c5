"""The WSD ladder design: sizes × cooldown points, each size's stable phase trained once.

Hägele et al. (2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations",
arXiv:2405.18392, §3-4) find that a warm-up–stable–decay run cooled down over its last ~20 % (1−sqrt shape, to zero)
matches a cosine run of the same length, and that cooldowns forked from one long stable run give the points of a
scaling-law ladder for a fraction of the compute. Here each model size gets one ``stable`` run, trained up to its
last branch point, which saves a checkpoint at every branch point; each (N, D) point is a ``branch`` that starts
from the checkpoint at ``D·(1 − decay_fraction)`` and trains only its cooldown. Every run of one size shares its
batch (the ladder's rule for the shortest point, so that point still gets ``MIN_STEPS`` steps) and a fixed warm-up
(``WSD_WARMUP_FRACTION`` of the shortest point's steps), which makes the stable phase independent of the length.

Points come from an isoFLOP grid or from sizes × tokens-per-parameter ratios:
- ``budgets`` and ``sizes``: every size gets a cooldown at D = C/(6N) for each budget C whose ratio D/N lies inside
  the tokens-per-parameter window. Sizes and budgets log-spaced (size step √k for a budget step k) put points of
  several sizes on each budget, so every budget is an isoFLOP profile, while each size trains its stable phase once
  for all its budgets — the design that gives the most (N, D) points per FLOP.
- ``budgets`` alone: the ``isoflop`` design's own sizes per budget (few budgets share a size, so few points share a
  stable phase).
- ``sizes`` and ``tokens_per_param``: the same ratios for every size.
Either is refused, with a one-line ``InputError``, when a point would need more tokens than the corpus holds
(``max_tokens``), when an explicit ratio lies outside the window, or when the grid leaves no point inside it.
"""

from __future__ import annotations

import math
from collections import defaultdict

from scalinglab.errors import InputError
from scalinglab.ladder.design import (WSD_DECAY_FRACTION, WSD_WARMUP_FRACTION, RunSpec, ShapeContext, _counts,
                                      _group_name, _positive_list, _unique, isoflop, make_spec,
                                      shape_for)


def wsd(ctx: ShapeContext = ShapeContext(), *, budgets=None, sizes=None, tokens_per_param=None, points: int = 5,
        span: float = 4.0, seed: int = 0, center_tokens_per_param: float = 20.0, min_tokens_per_param: float = 0.0,
        max_tokens_per_param: float = math.inf, decay_fraction: float = WSD_DECAY_FRACTION,
        max_tokens: float = math.inf) -> list[RunSpec]:
    """Stable runs and their cooldown branches covering ``budgets`` (isoFLOP) or ``sizes`` × ``tokens_per_param``."""
    if not 0.0 < decay_fraction < 1.0:
        raise InputError(f"decay fraction must be in (0, 1), got {decay_fraction!r}")
    if budgets is not None and sizes is not None:
        targets = _budget_points(sizes, budgets, ctx, seed, min_tokens_per_param, max_tokens_per_param)
    elif budgets is not None:
        targets = isoflop(budgets, points=points, span=span, ctx=ctx, seed=seed,
                          center_tokens_per_param=center_tokens_per_param,
                          min_tokens_per_param=min_tokens_per_param, max_tokens_per_param=max_tokens_per_param)
    elif sizes is not None and tokens_per_param is not None:
        targets = _size_points(sizes, tokens_per_param, ctx, seed, min_tokens_per_param, max_tokens_per_param)
    else:
        raise InputError("the wsd design needs --budgets, or --sizes with --tokens-per-param")
    too_long = [t for t in targets if t.n_tokens > max_tokens]
    if too_long:
        worst = max(too_long, key=lambda t: t.n_tokens)
        raise InputError(f"cooldown {worst.run_id} needs {worst.n_tokens:,} tokens, more than the corpus's "
                         f"{int(max_tokens):,} training tokens; lower the budgets or use a larger corpus")
    families = defaultdict(list)
    for t in targets:
        families[(t.n_layer, t.d_model)].append(t)
    out = []
    for (n_layer, d_model), family in families.items():
        out.extend(_family(n_layer, d_model, family, ctx, seed, decay_fraction))
    return out


def _budget_points(sizes, budgets, ctx, seed, lo, hi) -> list[RunSpec]:
    budgets = _positive_list("FLOP budgets", budgets)
    out = []
    for n in _positive_list("sizes", sizes):
        n_layer, d_model = shape_for(n, ctx)
        total = _counts(ctx, n_layer, d_model)[0]
        for c in budgets:
            tokens = c / (6.0 * total)
            if lo * total <= tokens <= hi * total:
                out.append(make_spec(_group_name("C", c), n_layer, d_model, tokens, ctx, seed))
    out = _unique(out)
    if not out:
        raise InputError(f"no (size, budget) pair of the wsd grid lies inside the tokens-per-parameter window "
                         f"[{lo:g}, {hi:g}]; widen the window or move the budgets towards 6·N²·(tokens per parameter)")
    return out


def _size_points(sizes, ratios, ctx, seed, lo, hi) -> list[RunSpec]:
    ratios = _positive_list("tokens per parameter", ratios)
    outside = [r for r in ratios if not lo <= r <= hi]
    if outside:
        raise InputError(f"cooldown at {outside[0]:g} tokens per parameter is outside the window [{lo:g}, {hi:g}]")
    out = []
    for n in _positive_list("sizes", sizes):
        n_layer, d_model = shape_for(n, ctx)
        total = _counts(ctx, n_layer, d_model)[0]
        out.extend(make_spec(_group_name("tpp", r), n_layer, d_model, r * total, ctx, seed) for r in ratios)
    return out


def _family(n_layer, d_model, points: list[RunSpec], ctx: ShapeContext, seed: int, decay: float) -> list[RunSpec]:
    """One size's stable run and branches. Step arithmetic mirrors ``scalinglab.train.schedule.plan_run`` (whole
    steps of one batch; warm-up ceil(tokens/step); cooldown round(fraction·steps)); tests check they agree."""
    from scalinglab.ladder.plan import ladder_batch_size

    shortest = min(points, key=lambda p: p.n_tokens)
    batch = ladder_batch_size(shortest, ctx.seq_len)
    step_tokens = batch * ctx.seq_len
    steps = sorted({max(2, round(p.n_tokens / step_tokens)) for p in points})
    warmup = math.ceil(WSD_WARMUP_FRACTION * steps[0])
    full_per_token = _counts(ctx, n_layer, d_model)[3]
    stable_id = f"stable-L{n_layer}d{d_model}" + (f"-s{seed}" if seed else "")
    groups = {max(2, round(p.n_tokens / step_tokens)): p.group for p in points}
    branches, previous = [], 0
    for n_steps in steps:
        start = n_steps - min(n_steps - warmup, round(decay * n_steps))
        spec = make_spec(groups[n_steps], n_layer, d_model, n_steps * step_tokens, ctx, seed)
        own = (start * step_tokens - previous) + (n_steps - start) * step_tokens  # stable segment + cooldown
        branches.append(RunSpec(**{**spec.__dict__, "role": "branch", "parent": stable_id,
                                   "branch_tokens": start * step_tokens, "batch_size": batch,
                                   "warmup_tokens": warmup * step_tokens, "decay_fraction": decay,
                                   "flops_spent": full_per_token * own}))
        previous = max(previous, start * step_tokens)
    snapshots = tuple(sorted({b.branch_tokens for b in branches}))
    stable = make_spec("stable", n_layer, d_model, snapshots[-1], ctx, seed)
    stable = RunSpec(**{**stable.__dict__, "run_id": stable_id, "role": "stable", "snapshot_tokens": snapshots,
                        "batch_size": batch, "warmup_tokens": warmup * step_tokens, "flops_spent": 0.0})
    return [stable, *branches]


def corpus_train_tokens(settings) -> int:
    """Tokens in the training split of the ladder's corpus (prepares the token cache on first use)."""
    from scalinglab.train.data import load_tokens

    return int(len(load_tokens(settings.data_config()).train))


def design_from_options(settings, sizes, tpp, budgets, points, span, *, decay_fraction=WSD_DECAY_FRACTION,
                        min_tpp=0.0, max_tpp=math.inf) -> list[RunSpec]:
    """The CLI's ``--design wsd``: budgets × sizes inside the window, budgets alone (isoFLOP, centred on
    ``--tokens-per-param``, default 20) or sizes × ratios, checked against the corpus."""
    from scalinglab.ladder.design import parse_numbers

    common = dict(ctx=settings.shape_context(), seed=settings.seed, points=points, span=span,
                  min_tokens_per_param=min_tpp, max_tokens_per_param=max_tpp, decay_fraction=decay_fraction,
                  max_tokens=corpus_train_tokens(settings))
    if budgets and sizes:
        if tpp:
            raise InputError("the wsd design with --budgets and --sizes takes no --tokens-per-param (the window "
                             "--min-tpp/--max-tpp chooses each size's budgets)")
        return wsd(budgets=parse_numbers(budgets, "--budgets"), sizes=parse_numbers(sizes, "--sizes"), **common)
    if budgets:
        center = parse_numbers(tpp or "20", "--tokens-per-param")
        if len(center) != 1:
            raise InputError("the wsd design with --budgets takes one --tokens-per-param value (its centre)")
        return wsd(budgets=parse_numbers(budgets, "--budgets"), center_tokens_per_param=center[0], **common)
    if sizes and tpp:
        return wsd(sizes=parse_numbers(sizes, "--sizes"), tokens_per_param=parse_numbers(tpp, "--tokens-per-param"),
                   **common)
    raise InputError("the wsd design needs --budgets, or --sizes with --tokens-per-param")


def show_saving(specs: list[RunSpec], jobs: int, threads: int, console, as_json: bool = False,
                eval_tokens: float = 0.0) -> dict:
    """Print what the WSD ladder spends against the same points as separate cosine runs."""
    import json

    from scalinglab.ladder.display import duration
    from scalinglab.ladder.plan import machine_rate, wsd_saving

    rate, _ = machine_rate(threads)
    saving = wsd_saving(specs, rate, jobs, eval_tokens)
    if as_json:
        print(json.dumps({"runs": [s.to_dict() for s in specs], **saving}, indent=2))
        return saving
    console.print(f"WSD: {saving['points']} (N, D) points from {saving['stable_runs']} stable run(s); full FLOPs "
                  f"spent {saving['flops_spent']:.3g} vs {saving['flops_separate']:.3g} as separate cosine runs "
                  f"({saving['flops_saving']:.0%} saved); estimated wall time {duration(saving['est_wall_seconds'])} "
                  f"vs {duration(saving['est_wall_seconds_separate'])}")
    return saving
