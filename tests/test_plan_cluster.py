"""Cluster plan: accelerator-hours, days, facility power, energy and cost; the inverse question."""

import pytest

from scalinglab.errors import InputError
from scalinglab.plan.catalog import get_accelerator
from scalinglab.plan.cluster import ClusterAssumptions, plan_cluster
from scalinglab.plan.planner import PlanRequest, make_plan
from scalinglab.laws.published import published_law

H100 = get_accelerator("h100")


def test_gtc2024_hopper_cluster_power_and_tokens():
    # NVIDIA GTC 2024 keynote (J. Huang, 18 March 2024): training a 1.8T-parameter GPT-MoE on Hopper takes
    # 8,000 GPUs, 90 days and about 15 MW. With the documented defaults (700 W board, 1.82× DGX server overhead,
    # PUE 1.43) the provisioned facility power must be within ±15 % of 15 MW.
    plan = plan_cluster(H100, count=8000, days=90, flops_per_token=6 * 1.8e12)
    assert plan.facility_mw == pytest.approx(15.0, rel=0.15)
    # Tokens such a run can process at MFU 0.40 (Llama 3: 38-43 % on H100) counting all 1.8T parameters as active
    # (the active count is not public, so this is the lower bound): 989.4 TFLOP/s dense BF16 (H100 SXM datasheet).
    expected = 8000 * 989.4e12 * 0.40 * 90 * 86400 / (6 * 1.8e12)
    assert plan.n_tokens == pytest.approx(expected, rel=1e-9)
    assert 1e12 < plan.n_tokens < 1e13  # the keynote's "several trillion tokens"
    assert plan.energy_mwh == pytest.approx(plan.average_watts * 90 * 24 / 1e6)
    assert plan.average_watts < plan.facility_watts


def test_workload_and_count_give_days_and_cost():
    # device-hours = FLOPs / (peak · MFU · 3600); cost = device-hours · price; days = device-hours / (count · 24)
    a = ClusterAssumptions(mfu=0.5, price_per_hour_usd=2.0)
    plan = plan_cluster(H100, flops=1e24, count=1000, assumptions=a)
    hours = 1e24 / (989.4e12 * 0.5 * 3600)
    assert plan.device_hours == pytest.approx(hours)
    assert plan.days == pytest.approx(hours / 1000 / 24)
    assert plan.cost_usd == pytest.approx(2.0 * hours)


def test_days_fix_a_whole_number_of_accelerators():
    plan = plan_cluster(H100, flops=1e24, days=30)
    assert plan.count == int(plan.count) and plan.days <= 30
    assert plan_cluster(H100, flops=1e24, count=plan.count - 1).days > 30


def test_budget_buys_device_hours():
    plan = plan_cluster(H100, count=100, budget_usd=1e6, assumptions=ClusterAssumptions(price_per_hour_usd=2.5))
    assert plan.device_hours == pytest.approx(1e6 / 2.5)
    assert plan.cost_usd == pytest.approx(1e6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(flops=1e25, count=10, days=9), "infeasible"),
    (dict(count=8, days=1, budget_usd=10.0), "exactly two"),
    (dict(count=8), "exactly two"),
    (dict(flops=1e22, budget_usd=1e5), "--count or --days"),
    (dict(flops=1e22, count=8, budget_usd=1.0), "infeasible"),
    (dict(days=10, budget_usd=5.0), "infeasible"),
    (dict(count=0, days=1), "count"),
    (dict(count=8.5, days=1), "whole number"),
])
def test_contradictory_or_infeasible_constraints(kwargs, message):
    with pytest.raises(InputError, match=message):
        plan_cluster(H100, **kwargs)


@pytest.mark.parametrize("field, value", [("mfu", 1.5), ("mfu", 0.0), ("pue", 0.9), ("server_overhead", -1.0)])
def test_bad_assumptions_rejected(field, value):
    with pytest.raises(InputError):
        ClusterAssumptions(**{field: value})


def test_unpublished_board_power_needs_an_override():
    tpu = get_accelerator("tpu-v5p")
    assert plan_cluster(tpu, count=64, days=1).facility_watts is None
    plan = plan_cluster(tpu, count=64, days=1, assumptions=ClusterAssumptions(board_watts=500.0))
    assert plan.facility_watts == pytest.approx(64 * 500 * 1.82 * 1.43)


def test_inverse_largest_compute_optimal_model():
    # Given accelerators and days only, the plan spends the cluster's FLOPs on the compute-optimal model.
    plan = make_plan(PlanRequest(accelerator="h100", count=8000, days=90))
    alloc, law = plan.allocation, published_law("chinchilla")
    assert alloc.flops == pytest.approx(plan.cluster.flops)
    assert 6 * alloc.n_params * alloc.n_tokens == pytest.approx(plan.cluster.flops)
    for factor in (0.8, 1.25):  # any other split of the same FLOPs loses
        n = alloc.n_params * factor
        assert float(law.predict(n_params=n, n_tokens=alloc.flops / (6 * n))) > alloc.loss
