"""Ladders of training runs: designs (grid, isoFLOP, Chinchilla multiples, WSD cooldown branches), the SQLite run store,
executors (local; Ray in ``scalinglab.ladder.ray_executor``, an optional extra), experiment trackers.

The ladder sits between training and fitting: it imports ``scalinglab.train`` (configs, accounting, the trainer in
worker processes) and exports a ``Runs`` table; it knows nothing about laws or plotting.
"""

from scalinglab.ladder.design import DESIGNS, RunSpec, ShapeContext, chinchilla, grid, isoflop, shape_for
from scalinglab.ladder.executor import Summary, run_ladder
from scalinglab.ladder.plan import LadderSettings, estimate_wall_seconds, machine_rate, register
from scalinglab.ladder.store import RunStore

__all__ = ["DESIGNS", "RunSpec", "ShapeContext", "grid", "isoflop", "chinchilla", "shape_for", "RunStore",
           "run_ladder", "Summary", "LadderSettings", "register", "machine_rate", "estimate_wall_seconds"]
