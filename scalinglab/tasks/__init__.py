"""Task laws: task loss of (N, D), the sigmoid link to accuracy, chained forecasts, predictability verdicts, and
observational scaling across public models."""

from scalinglab.tasks.law import (CHANCE, Interval, TaskDraws, TaskForecast, TaskLaw, fit_task_law, fit_task_laws,
                                 run_finals)
from scalinglab.tasks.verdict import Verdict

__all__ = ["CHANCE", "Interval", "TaskDraws", "TaskForecast", "TaskLaw", "Verdict", "fit_task_law", "fit_task_laws",
           "run_finals"]
