"""Test-time compute scaling: pass@k and friends, coverage laws, verifiable tasks, train↔test exchange."""

from scalinglab.testtime.counts import SampleCounts, load_counts
from scalinglab.testtime.distribution import SuccessDistribution, fit_success_distribution
from scalinglab.testtime.exchange import ExchangeRate, exchange_rate
from scalinglab.testtime.estimators import (PassAtK, best_of_k, majority_vote_at_k, pass_at_k, pass_at_k_summary,
                                            validate_counts)
from scalinglab.testtime.power_law import ExpPowerLaw, PowerLawFit, fit_power_law
from scalinglab.testtime.tasks import TASKS, Problem, Task, get_task

__all__ = ["ExchangeRate", "ExpPowerLaw", "exchange_rate", "PassAtK", "PowerLawFit", "Problem", "SampleCounts", "SuccessDistribution", "TASKS", "Task",
           "best_of_k", "fit_power_law", "fit_success_distribution", "get_task", "load_counts", "majority_vote_at_k",
           "pass_at_k", "pass_at_k_summary", "validate_counts"]
