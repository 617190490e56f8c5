"""scalinglab: measure, fit and plan neural scaling laws.

    import scalinglab as sl
    runs = sl.load_runs("runs.csv")
    result = sl.fit(runs, "chinchilla")                   # Huber on log loss, Hoffmann's grid, one batched solve
    boot = sl.bootstrap(runs, fit_result=result, n_resamples=1000, flops=[1e23])
    sl.compute_optimal(result.law, 5.76e23).rows()
"""

from scalinglab.errors import InputError
from scalinglab.laws import backtest, bootstrap, compare_approaches, compute_optimal, fit, published_law
from scalinglab.runs import Runs, load_runs

__version__ = "0.1.0"
__all__ = ["InputError", "Runs", "load_runs", "fit", "bootstrap", "backtest", "compare_approaches", "compute_optimal",
           "published_law", "__version__"]
