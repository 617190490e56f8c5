"""The Runs table: schema, column aliases, loading CSV/Parquet/JSON, validation, export."""

from scalinglab.runs.io import ALIASES, load_runs, read_table, runs_from_frame
from scalinglab.runs.table import Runs

__all__ = ["Runs", "load_runs", "read_table", "runs_from_frame", "ALIASES"]
