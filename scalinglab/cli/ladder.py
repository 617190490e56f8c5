"""CLI commands for `scalinglab ladder` (being built; see the issue tracker)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
