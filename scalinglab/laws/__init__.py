"""Scaling-law forms, fitting, Chinchilla approaches, uncertainty and compute-optimal allocation."""

from scalinglab.laws.data_constrained import DataConstrained
from scalinglab.laws.forms import (
    FLOPS_PER_PARAM_TOKEN, Chinchilla, KaplanC, KaplanD, KaplanJoint, KaplanN, Law, Saturating, complete_inputs,
)

LAWS: dict[str, type[Law]] = {cls.name: cls for cls in
                              (Chinchilla, KaplanJoint, KaplanN, KaplanD, KaplanC, Saturating, DataConstrained)}

__all__ = ["LAWS", "FLOPS_PER_PARAM_TOKEN", "Law", "Chinchilla", "KaplanN", "KaplanD", "KaplanC", "KaplanJoint",
           "Saturating", "DataConstrained", "complete_inputs"]
