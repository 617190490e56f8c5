"""The project's one user-facing error type.

Every public function that takes user data validates it at the boundary and raises ``InputError`` with a
one-line message naming what is wrong and where (file, row, column). The CLI turns it into exit code 2.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: a one-line, actionable message. The CLI prints it and exits with code 2."""

    def __init__(self, message: str, *, source: str | None = None, row: int | None = None,
                 column: str | None = None):
        self.source, self.row, self.column = source, row, column
        where = []
        if source:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        text = f"{', '.join(where)}: {message}" if where else message
        super().__init__(" ".join(text.split()))  # one line, always


def require_positive(name: str, value: float) -> float:
    """Validate a scalar that must be a finite number > 0 (FLOP budgets, sizes, counts)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not (v > 0 and v < float("inf")):
        raise InputError(f"{name} must be a finite number > 0, got {value!r}")
    return v
