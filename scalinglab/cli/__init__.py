"""The ``scalinglab`` command line: a thin Typer app that parses, delegates and prints.

Each command group lives in its own module with a ``register(app)`` function. User errors (``InputError``) become a
one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import functools
import sys

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
    from scalinglab.cli import isoflop as isoflop_cmds
    from scalinglab.cli import ladder as ladder_cmds
    from scalinglab.cli import plan as plan_cmds
    from scalinglab.cli import report as report_cmds
    from scalinglab.cli import tasks as tasks_cmds
    from scalinglab.cli import testtime as testtime_cmds
    from scalinglab.cli import train as train_cmds

    from scalinglab.cli import forecast as forecast_cmds

    for module in (fit_cmds, isoflop_cmds, forecast_cmds, ladder_cmds, plan_cmds, testtime_cmds, report_cmds, tasks_cmds,
                   train_cmds):
        module.register(app)


_register_all()


@functools.lru_cache(maxsize=4)
def _built(n_commands: int, n_groups: int):
    return typer.main.get_command(app)


def _command():
    # Typer builds the click command from every function signature on each call (~60 ms); build it once per set of
    # registered commands, so that in-process callers (tests, the fuzz test's thousands of calls) pay it once.
    return _built(len(app.registered_commands), len(app.registered_groups))


def main(argv: list[str] | None = None) -> int:
    """Entry point. Returns the exit code when called with ``argv`` (tests); exits the process otherwise.

    ``InputError`` and command-line usage errors print one line on stderr and exit 2, never a traceback.
    """
    try:
        # Outside standalone mode the parser returns a command's exit code (typer.Exit) instead of raising it.
        result = _command().main(args=argv, prog_name="scalinglab", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except (typer.Exit, typer.Abort) as exc:
        code = getattr(exc, "exit_code", 1) if isinstance(exc, typer.Exit) else 130
    except Exception as exc:
        # Usage errors from the CLI parser (bad option values, unknown options, missing arguments).
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(exc.format_message())
            code = 0
        else:
            print(f"error: {' '.join(exc.format_message().split())}", file=sys.stderr)
            code = int(exc.exit_code)
    if argv is None:
        sys.exit(code)
    return code
