"""The ``scalinglab`` command line: a thin Typer app that parses, delegates and prints.

Each command group lives in its own module with a ``register(app)`` function. User errors (``InputError``) become a
one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import click
import typer

from scalinglab.errors import InputError

app = typer.Typer(
    name="scalinglab",
    help="Measure, fit and plan neural scaling laws.\n\nExample: scalinglab fit runs.csv --law chinchilla --bootstrap 1000",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    from scalinglab.cli import fit as fit_cmds
    from scalinglab.cli import ladder as ladder_cmds
    from scalinglab.cli import plan as plan_cmds
    from scalinglab.cli import testtime as testtime_cmds

    for module in (fit_cmds, ladder_cmds, plan_cmds, testtime_cmds):
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; map InputError and usage errors to exit code 2 with a one-line message."""
    try:
        result = app(args=argv, standalone_mode=False)
        return int(result) if isinstance(result, int) else 0
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except click.exceptions.UsageError as exc:
        print(f"error: {exc.format_message()}", file=sys.stderr)
        code = 2
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        code = 130
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    if __name__ == "__main__" or argv is None:
        sys.exit(code)
    return code
