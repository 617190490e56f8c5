"""Scaling-law forms, fitting, Chinchilla approaches, uncertainty and compute-optimal allocation."""

from scalinglab.laws.data_constrained import DataConstrained
from scalinglab.laws.interaction import Interaction
from scalinglab.laws.forms import (
    FLOPS_PER_PARAM_TOKEN, Chinchilla, KaplanC, KaplanD, KaplanJoint, KaplanN, Law, Saturating, complete_inputs,
)

LAWS: dict[str, type[Law]] = {cls.name: cls for cls in
                              (Chinchilla, KaplanJoint, KaplanN, KaplanD, KaplanC, Saturating, DataConstrained,
                               Interaction)}

from scalinglab.laws.fit import FitResult, fit, fit_many  # noqa: E402  (needs LAWS above)
from scalinglab.laws.approaches import compare_approaches  # noqa: E402
from scalinglab.laws.backtest import BacktestResult, backtest  # noqa: E402
from scalinglab.laws.bootstrap import BootstrapResult, bootstrap  # noqa: E402
from scalinglab.laws.forecast import ForecastResult, forecast, forecast_many  # noqa: E402
from scalinglab.laws.interval import Interval  # noqa: E402
from scalinglab.laws.optimal import Allocation, compute_optimal  # noqa: E402
from scalinglab.laws.published import DEFAULT_LAW, PUBLISHED, published_law  # noqa: E402
from scalinglab.laws.io import law_from_dict, load_law  # noqa: E402

__all__ = ["LAWS", "FLOPS_PER_PARAM_TOKEN", "Law", "Chinchilla", "KaplanN", "KaplanD", "KaplanC", "KaplanJoint",
           "Saturating", "DataConstrained", "Interaction", "complete_inputs", "fit", "fit_many", "FitResult",
           "bootstrap", "BootstrapResult", "backtest", "BacktestResult", "forecast", "forecast_many", "ForecastResult",
           "Interval", "compare_approaches",
           "compute_optimal", "Allocation", "PUBLISHED", "DEFAULT_LAW", "published_law", "law_from_dict", "load_law"]
