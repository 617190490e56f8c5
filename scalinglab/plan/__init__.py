"""Planning: compute-optimal, inference-aware and data-constrained allocation; the accelerator catalog; cluster
time, energy, cost; and memory per device."""

from scalinglab.plan.allocation import Allocation, PowerLawFrontier, compute_optimal
from scalinglab.plan.catalog import Accelerator, get_accelerator, load_catalog
from scalinglab.plan.cluster import ClusterAssumptions, ClusterPlan, plan_cluster
from scalinglab.plan.data_constrained import DataConstrainedPlan, data_constrained_optimal
from scalinglab.plan.flops import ModelSpec, TrainingFlops, training_flops
from scalinglab.plan.inference_aware import InferenceAwarePlan, inference_aware

__all__ = ["Accelerator", "Allocation", "ClusterAssumptions", "ClusterPlan", "DataConstrainedPlan",
           "InferenceAwarePlan", "ModelSpec", "PowerLawFrontier", "TrainingFlops", "compute_optimal",
           "data_constrained_optimal", "get_accelerator", "inference_aware", "load_catalog", "plan_cluster",
           "training_flops"]
