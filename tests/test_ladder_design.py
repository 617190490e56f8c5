"""Ladder designs: the shape rule and the FLOP arithmetic of each design."""

import math
import operator

import numpy as np
import pytest

from scalinglab.errors import InputError
from scalinglab.ladder import LadderSettings, ShapeContext, chinchilla, grid, isoflop, shape_for
from scalinglab.ladder.design import ASPECT_RANGE, MIN_LAYERS, SMALLEST_SHAPE, _counts, parse_numbers
from scalinglab.ladder.plan import MIN_STEPS, STARTUP_SECONDS, estimate_wall_seconds, ladder_batch_size
from scalinglab.train.config import TrainConfig

CTX = ShapeContext(seq_len=128, positions="rotary")


@pytest.mark.parametrize("target", [3e4, 1e5, 3e5, 1e6, 1e7])
def test_shape_rule_hits_the_target_size_with_a_sane_aspect_ratio(target):
    n_layer, d_model = shape_for(target, CTX)
    total = _counts(CTX, n_layer, d_model)[0]
    assert abs(math.log(total / target)) <= 0.1
    assert ASPECT_RANGE[0] <= d_model / n_layer <= ASPECT_RANGE[1]
    assert n_layer >= MIN_LAYERS


@pytest.mark.parametrize("target", [2e4, 2.7e4, 5e4])
def test_tiny_targets_get_two_layer_shapes_between_the_width_16_and_32_sizes(target):
    # Kaplan et al. 2020, Fig. 6: one-layer models sit off the trend; width steps of 8 fill the 10k-33k gap
    n_layer, d_model = shape_for(target, CTX)
    total = _counts(CTX, n_layer, d_model)[0]
    assert n_layer >= 2 and abs(math.log(total / target)) <= 0.1
    assert CTX.model_config(n_layer, d_model).d_model % CTX.model_config(n_layer, d_model).n_head == 0


def test_the_smallest_shape_is_the_smallest_the_rule_returns():
    assert shape_for(9e3, CTX) == SMALLEST_SHAPE == (2, 16)
    with pytest.raises(InputError, match="smallest/largest reachable sizes are 10,400"):
        shape_for(1e3, CTX)


def test_isoflop_runs_spend_their_budget_and_bracket_the_chinchilla_size():
    specs = isoflop([1e11, 1e12], points=4, span=3.0, ctx=CTX)
    for s in specs:
        budget = 1e11 if s.group == "C1e11" else 1e12
        assert 6 * s.n_params * s.n_tokens == pytest.approx(budget, rel=0.01)   # D rounded to whole sequences
    sizes = sorted(s.n_params for s in specs if s.flops_6n < 2e11)
    n_star = math.sqrt(1e11 / 120)  # D = 20 N (Hoffmann et al. 2022, Table 3)
    assert sizes[0] < n_star < sizes[-1]


def test_grid_and_chinchilla_multiples():
    g = grid([1e5], [10, 40], CTX)
    assert [round(s.tokens_per_param) for s in g] == [10, 40]
    c = chinchilla([1e5], [0.5, 2], CTX)
    assert [round(s.tokens_per_param) for s in c] == [10, 40]


def test_every_run_gets_enough_optimiser_steps():
    settings = LadderSettings(seq_len=128, positions="rotary")
    for spec in isoflop([1e11, 1e12], points=4, span=3.0, ctx=CTX):
        cfg = TrainConfig.from_dict(settings.train_config(spec))
        steps = spec.n_tokens // (cfg.batch_size * 128)
        assert steps >= MIN_STEPS or cfg.batch_size == 1
        assert cfg.batch_size == ladder_batch_size(spec, 128)


def test_wall_time_packs_longest_first():
    specs = isoflop([1e11, 1e12], points=3, span=3.0, ctx=CTX)
    seconds, one = estimate_wall_seconds(specs, 1e10, jobs=1)
    _, two = estimate_wall_seconds(specs, 1e10, jobs=2)
    assert one == pytest.approx(STARTUP_SECONDS + sum(seconds))  # one worker start-up, then every run
    assert max(seconds) <= two < one


def test_bad_sizes_are_one_line_errors():
    with pytest.raises(InputError, match="target model size"):
        shape_for(-5, CTX)
    with pytest.raises(InputError, match="span must be"):
        isoflop([1e12], span=0.5, ctx=CTX)
    # fuzz-found: a range ending at the largest double overflowed inside geomspace (RuntimeWarning)
    assert parse_numbers("1e308:1.7976931348623157e308:2", "--budgets") == [1e308, 1.7976931348623157e308]
    # fuzz-found: D = r·N = inf crashed with OverflowError converting to a token count
    with pytest.raises(InputError, match="not a finite number; lower the tokens per parameter"):
        grid([5e4], [1e308], ctx=CTX)
    # fuzz-found: span=1e308 overflowed N*·span (RuntimeWarning) instead of being refused
    for span in (1e308, math.inf, math.nan):
        with pytest.raises(InputError, match="span must be between 1 and"):
            isoflop([1e12], points=3, span=span, ctx=CTX)


@pytest.mark.parametrize("option, limit, keeps", [("min_tokens_per_param", 20, operator.ge),
                                                   ("max_tokens_per_param", 400, operator.le)])
def test_isoflop_drops_sizes_outside_the_tokens_per_param_window(option, limit, keeps):
    full = isoflop([1e12], points=5, span=3.0, ctx=CTX, center_tokens_per_param=100)
    kept = isoflop([1e12], points=5, span=3.0, ctx=CTX, center_tokens_per_param=100, **{option: limit})
    assert not all(keeps(s.tokens_per_param, limit) for s in full)  # the bound drops something here
    assert all(keeps(s.tokens_per_param, limit) for s in kept)
    assert [s for s in full if keeps(s.tokens_per_param, limit)] == kept


WSD_SETTINGS = LadderSettings(seq_len=128, positions="rotary", evals_per_run=5, eval_tokens=32768)


def _wsd_specs():
    from scalinglab.ladder.wsd import wsd

    return wsd(WSD_SETTINGS.shape_context(), budgets=(5e10, 1.6e11, 5e11, 1.6e12), points=5, span=3.0,
               center_tokens_per_param=100, min_tokens_per_param=20, max_tokens_per_param=400)


def test_wsd_branch_points_are_where_each_runs_own_cooldown_starts():
    from scalinglab.train.schedule import plan_run

    specs = _wsd_specs()
    stables = {s.run_id: s for s in specs if s.role == "stable"}
    branches = [s for s in specs if s.role == "branch"]
    assert len(branches) >= 6 and {b.parent for b in branches} == set(stables)
    for b in branches:
        plan = plan_run(TrainConfig.from_dict(WSD_SETTINGS.train_config(b)))
        assert plan.n_tokens == b.n_tokens and plan.decay_start * plan.tokens_per_step == b.branch_tokens
        assert plan.decay_steps == round(0.2 * plan.n_steps) and plan.min_lr == 0.0
        stable = stables[b.parent]
        assert b.branch_tokens in stable.snapshot_tokens and b.batch_size == stable.batch_size
        assert 20 <= b.tokens_per_param <= 400
    for s in stables.values():  # the stable phase keeps its peak rate to the end and saves every branch point
        plan = plan_run(TrainConfig.from_dict(WSD_SETTINGS.train_config(s)))
        assert plan.decay_steps == 0 and plan.n_tokens == max(s.snapshot_tokens)


def test_wsd_spends_each_stable_phase_once():
    specs = _wsd_specs()
    stables = [s for s in specs if s.role == "stable"]
    branches = [s for s in specs if s.role == "branch"]
    # spent = every stable phase once + every cooldown; represented = each point as its own run
    spent = sum(s.flops_full for s in stables) + sum(b.flops_full * b.train_tokens / b.n_tokens for b in branches)
    assert sum(b.spent_flops for b in branches) == pytest.approx(spent, rel=1e-12)
    assert sum(b.spent_flops for b in branches) < sum(b.flops_full for b in branches)
    assert all(b.flops_full == pytest.approx(b.flops_full / b.n_tokens * b.n_tokens) for b in branches)


def test_wsd_refuses_cooldowns_beyond_the_corpus_or_the_window():
    from scalinglab.ladder.wsd import wsd

    with pytest.raises(InputError, match="more than the corpus's 1,000,000 training tokens"):
        wsd(CTX, sizes=[2e4], tokens_per_param=[20, 100], max_tokens=1e6)
    with pytest.raises(InputError, match="outside the window"):
        wsd(CTX, sizes=[2e4], tokens_per_param=[20, 500], max_tokens_per_param=400)


def test_wsd_grid_puts_each_size_on_every_budget_inside_the_window():
    """Budgets × sizes: each size's points are D = C/(6N) for the budgets inside [min, max] tokens per parameter,
    all branches of its one stable run, so budgets hold several sizes (isoFLOP profiles) and sizes many budgets."""
    from scalinglab.ladder.wsd import wsd

    ctx = WSD_SETTINGS.shape_context()
    budgets = list(np.geomspace(2e10, 1.6e12, 7))
    specs = wsd(ctx, budgets=budgets, sizes=[1e4, 2e4, 3.3e4, 5.8e4], min_tokens_per_param=15,
                max_tokens_per_param=320)
    stables = [s for s in specs if s.role == "stable"]
    branches = [s for s in specs if s.role == "branch"]
    assert len(stables) == 4 and {b.parent for b in branches} == {s.run_id for s in stables}
    expected = 0
    for s in stables:
        own = [b for b in branches if b.parent == s.run_id]
        inside = [c for c in budgets if 15 <= c / (6 * s.n_params) / s.n_params <= 320]
        expected += len(inside)
        want = sorted(c / (6 * s.n_params) for c in inside)  # to a whole step of the size's shared batch
        assert [abs(b.n_tokens - d) <= b.batch_size * 128 for b, d in zip(sorted(own, key=lambda b: b.n_tokens),
                                                                         want)] == [True] * len(want)
    assert len(branches) == expected
    per_budget = {}
    for b in branches:
        per_budget.setdefault(b.group, set()).add(b.n_params)
    assert max(len(v) for v in per_budget.values()) >= 3  # several sizes share a budget
    with pytest.raises(InputError, match="no \\(size, budget\\) pair"):
        wsd(ctx, budgets=[1e10], sizes=[1e5], min_tokens_per_param=20, max_tokens_per_param=200)


def test_a_cosine_run_keeps_a_warm_up_and_batch_fixed_by_its_design():
    """A cosine twin of a WSD branch (benchmarks/wsd_validation.py) trains at the branch's batch and warm-up; a run
    that fixes neither gets the usual rules."""
    import dataclasses

    settings = LadderSettings(seq_len=128, positions="rotary")
    spec = grid([2e4], [20], ctx=settings.shape_context())[0]
    usual = TrainConfig.from_dict(settings.train_config(spec))
    fixed = TrainConfig.from_dict(settings.train_config(dataclasses.replace(spec, batch_size=5,
                                                                            warmup_tokens=5 * 128 * 7)))
    assert usual.schedule == fixed.schedule == "cosine"
    assert usual.warmup_tokens is None and fixed.warmup_tokens == 5 * 128 * 7
    assert fixed.batch_size == 5 and usual.batch_size != 5
