"""Cluster plan: a training workload on N accelerators → device-hours, wall days, energy, facility power and cost.

Relations (per device rate R = peak FLOP/s × MFU):
    device_hours = flops / (R · 3600) = count · days · 24,      cost = device_hours · price.
Given the workload (FLOPs), one of {count, days} fixes the other; given no workload, two of {count, days, budget}
fix the FLOPs the cluster can deliver. Constraints beyond that act as limits and an exceeded limit is an error.

Power (defaults documented in ``ClusterAssumptions``):
    facility power (provisioned) = count · board_watts · server_overhead · PUE
    average draw                 = facility power · power_utilisation,   energy = average draw · wall time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scalinglab.errors import InputError, require_positive
from scalinglab.plan.catalog import Accelerator

SECONDS_PER_DAY = 86400.0
JOULES_PER_MWH = 3.6e9


@dataclass(frozen=True)
class ClusterAssumptions:
    """Documented, overridable defaults.

    mfu: model FLOPs utilisation. Llama 3 pre-training reached 38-43 % BF16 MFU on 8,192-16,384 H100s
        (Dubey et al. 2024, arXiv:2407.21783, Table 4); 0.40 sits in that range.
    server_overhead: server power per accelerator board watt. A DGX H100 is rated 10.2 kW for 8 × 700 W GPUs,
        1.82× (NVIDIA DGX H100 user guide); Epoch AI's GPU-cluster dataset uses the same 1.82× multiplier
        (epoch.ai/data/gpu-clusters-documentation/estimation).
    pue: power usage effectiveness, facility / IT power. 1.43 is the average over all US data centres in 2023
        reported by the 2024 United States Data Center Energy Usage Report (Shehabi et al. 2024), as quoted by
        Epoch AI (same page); AI-specialised sites averaged 1.14 — pass --pue 1.14 for those.
    power_utilisation: average node draw / rated node power during training. Measured 0.76 on 8-GPU H100 nodes
        (Newkirk et al. 2025, arXiv:2506.14551). Used for energy only; facility power is the provisioned peak.
    """

    mfu: float = 0.40
    server_overhead: float = 1.82
    pue: float = 1.43
    power_utilisation: float = 0.76
    precision: str = "bf16"
    board_watts: float | None = None  # overrides the catalog
    price_per_hour_usd: float | None = None  # overrides the catalog

    def __post_init__(self):
        for name in ("mfu", "power_utilisation"):
            value = require_positive(name, getattr(self, name))
            if value > 1.0:
                raise InputError(f"{name} is a fraction in (0, 1], got {value}")
        for name in ("server_overhead", "pue"):
            if require_positive(name, getattr(self, name)) < 1.0:
                raise InputError(f"{name} is a ratio ≥ 1, got {getattr(self, name)}")
        for name in ("board_watts", "price_per_hour_usd"):
            if getattr(self, name) is not None:
                require_positive(name, getattr(self, name))


@dataclass(frozen=True)
class ClusterPlan:
    accelerator: str
    count: int
    days: float
    flops: float
    device_hours: float
    flops_per_s_per_device: float  # peak × MFU
    cost_usd: float | None
    facility_watts: float | None  # provisioned: count · board · overhead · PUE
    average_watts: float | None  # facility_watts · power_utilisation
    energy_mwh: float | None
    n_tokens: float | None = None  # tokens the FLOPs buy for the given model, when a model was given
    assumptions: ClusterAssumptions = ClusterAssumptions()

    @property
    def facility_mw(self) -> float | None:
        return None if self.facility_watts is None else self.facility_watts / 1e6

    def to_dict(self) -> dict:
        out = asdict(self)
        out["facility_mw"] = self.facility_mw
        return out


def _price(acc: Accelerator, assumptions: ClusterAssumptions) -> float | None:
    return assumptions.price_per_hour_usd if assumptions.price_per_hour_usd is not None else acc.price_per_hour_usd


def plan_cluster(acc: Accelerator, *, flops: float | None = None, count: float | None = None,
                 days: float | None = None, budget_usd: float | None = None,
                 assumptions: ClusterAssumptions = ClusterAssumptions(),
                 flops_per_token: float | None = None) -> ClusterPlan:
    """Solve the cluster relations for whatever is not given; see the module docstring for what may be given.

    ``flops_per_token`` (training FLOPs per token of the model) turns the plan's FLOPs into a token count.
    """
    for name, value in (("flops", flops), ("count", count), ("days", days), ("budget", budget_usd)):
        if value is not None:
            require_positive(name, value)
    if count is not None and float(count) != int(count):
        raise InputError(f"count must be a whole number of accelerators, got {count}")
    rate = acc.peak_flops(assumptions.precision) * assumptions.mfu
    price = _price(acc, assumptions)
    if budget_usd is not None and price is None:
        raise InputError(f"accelerator '{acc.name}' has no price in the catalog; pass --price-per-hour with --budget")

    budget_hours = None if budget_usd is None else budget_usd / price
    if flops is not None:
        hours = flops / rate / 3600.0
        if count is None and days is None:
            what = "a budget alone does not split device-hours into count and days" if budget_usd else "nothing"
            raise InputError(f"with a fixed workload give --count or --days ({what} given)")
        if count is None:
            count = math.ceil(hours / (days * 24.0))
        needed_days = hours / (count * 24.0)
        if days is not None and needed_days > days * (1 + 1e-9):
            raise InputError(f"infeasible: {flops:.3g} FLOPs need {needed_days:.1f} days on {int(count)} × {acc.name} "
                             f"at MFU {assumptions.mfu:g}, more than the {days:g} days given")
        days = needed_days
    else:
        given = sum(v is not None for v in (count, days, budget_usd))
        if given != 2:
            raise InputError(f"without a workload (--flops or --params with --tokens) give exactly two of --count, "
                             f"--days, --budget ({given} given)")
        if budget_hours is None:
            hours = count * days * 24.0
        elif count is not None:
            hours, days = budget_hours, budget_hours / (count * 24.0)
        else:
            count = math.floor(budget_hours / (days * 24.0))
            if count < 1:
                raise InputError(f"infeasible: a budget of ${budget_usd:,.0f} buys {budget_hours:.0f} device-hours, "
                                 f"less than one {acc.name} for {days:g} days")
            hours = count * days * 24.0
        flops = hours * 3600.0 * rate
    count = int(count)
    cost = None if price is None else hours * price
    if budget_usd is not None and cost > budget_usd * (1 + 1e-9):
        raise InputError(f"infeasible: the plan costs ${cost:,.0f}, more than the budget of ${budget_usd:,.0f}")

    board = assumptions.board_watts if assumptions.board_watts is not None else acc.board_watts
    facility = average = energy = None
    if board is not None:
        facility = count * board * assumptions.server_overhead * assumptions.pue
        average = facility * assumptions.power_utilisation
        energy = average * days * SECONDS_PER_DAY / JOULES_PER_MWH
    n_tokens = None if flops_per_token is None else flops / require_positive("flops_per_token", flops_per_token)
    return ClusterPlan(accelerator=acc.name, count=count, days=days, flops=flops, device_hours=hours,
                       flops_per_s_per_device=rate, cost_usd=cost, facility_watts=facility, average_watts=average,
                       energy_mwh=energy, n_tokens=n_tokens, assumptions=assumptions)
