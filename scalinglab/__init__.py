"""scalinglab: measure, fit and plan neural scaling laws.

    import scalinglab as sl
    runs = sl.load_runs("runs.csv")
    result = sl.fit(runs, "chinchilla")                   # Huber on log loss, Hoffmann's grid, one batched solve
    boot = sl.bootstrap(runs, fit_result=result, n_resamples=1000, flops=[1e23])
    sl.compute_optimal(result.law, 5.76e23).rows()
"""

from importlib import import_module

from scalinglab.errors import InputError

__version__ = "0.1.0"
__all__ = ["InputError", "Runs", "load_runs", "fit", "bootstrap", "backtest", "compare_approaches", "compute_optimal",
           "published_law", "load_law", "forecast", "__version__"]

# Imported on first use, so that a ladder worker process (which needs neither) does not load pandas and scipy.
_LAZY = {"Runs": "scalinglab.runs", "load_runs": "scalinglab.runs", **{name: "scalinglab.laws" for name in (
    "fit", "bootstrap", "backtest", "compare_approaches", "compute_optimal", "published_law", "load_law", "forecast")}}
# Subpackages as attributes (sl.laws.Chinchilla, sl.plan.make_plan …), also imported on first use.
_SUBPACKAGES = ("runs", "laws", "plan", "report", "ladder", "train", "testtime", "demo", "cli")


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
    elif name in _SUBPACKAGES:
        value = import_module(f"scalinglab.{name}")
    else:
        raise AttributeError(f"module 'scalinglab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))
