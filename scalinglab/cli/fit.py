"""CLI: ``scalinglab fit``, ``predict``, ``optimal``."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
