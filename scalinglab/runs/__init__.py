"""The Runs table: schema, column aliases and explicit column maps, loading CSV/Parquet/JSON, validation, groups."""

from scalinglab.runs.columns import ALIASES, parse_column_map
from scalinglab.runs.groups import Group, iter_groups, parse_by
from scalinglab.runs.io import load_runs, read_table, runs_from_frame
from scalinglab.runs.table import Runs

__all__ = ["Runs", "load_runs", "read_table", "runs_from_frame", "ALIASES", "parse_column_map", "Group", "iter_groups",
           "parse_by"]
