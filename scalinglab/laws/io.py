"""The one law reader: every law file the project writes, read back into a ``Law``.

Accepted shapes (JSON objects):
- ``scalinglab fit --json`` / ``--save``: ``{"law": "chinchilla", "params": {...}, "converged": true, ...}``;
- ``report.json`` (``scalinglab report``): the fit under ``"fit"``;
- the demo's ``laws.json``: the fit under ``"law"``;
- ``scalinglab plan --json``: ``{"law": {"name": ..., "params": {...}}, ...}``;
- a bare parameter object, e.g. ``{"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}`` (Chinchilla),
  read as the one law whose parameter names it has.
A fit marked ``"converged": false`` is refused, with one message wherever it is read.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from scalinglab.errors import InputError
from scalinglab.laws.forms import Law

_SHAPES = ("a fit (scalinglab fit --save/--json), report.json, the demo's laws.json, plan --json output, or bare "
           "parameters such as {\"E\": 1.69, \"A\": 406.4, \"B\": 410.7, \"alpha\": 0.34, \"beta\": 0.28}")


def law_from_params(name: str, params: dict, source: str = "<law>") -> Law:
    """A law of kind ``name`` from ``{parameter: value}``; every parameter given, each a finite number."""
    from scalinglab.laws import LAWS
    cls = LAWS.get(str(name).strip().lower())
    if cls is None:
        raise InputError(f"unknown law '{name}' (choose from {', '.join(LAWS)})", source=source)
    if not isinstance(params, dict):
        raise InputError("'params' must be an object of name: value", source=source)
    expected = cls.param_names()
    missing = [p for p in expected if p not in params]
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        problem = f"is missing {', '.join(missing)}" if missing else f"has no parameter(s) {', '.join(extra)}"
        raise InputError(f"law '{cls.name}' {problem} (its parameters: {', '.join(expected)})", source=source)
    values = {}
    for p in expected:
        v = params[p]
        try:
            values[p] = float(v)
        except (TypeError, ValueError):
            raise InputError(f"parameter '{p}' must be a number, got {v!r}", source=source) from None
        if isinstance(v, bool) or not math.isfinite(values[p]):
            raise InputError(f"parameter '{p}' must be a finite number, got {v!r}", source=source)
    return cls(**values)


def _refuse_unconverged(data: dict, source: str) -> None:
    if data.get("converged") is False:
        raise InputError(f"this fit did not converge ({data.get('message') or 'no message'}); refit before using "
                         "it", source=source)


def _bare(data: dict, source: str) -> Law:
    from scalinglab.laws import LAWS
    matches = [name for name, cls in LAWS.items() if set(cls.param_names()) == set(data)]
    if len(matches) != 1:
        raise InputError(f"not a law file: expected {_SHAPES}", source=source)
    return law_from_params(matches[0], data, source)


def law_from_dict(data, source: str = "<law>") -> Law:
    """Read any of the shapes in the module docstring; refuse unconverged fits and anything else."""
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object: {_SHAPES}", source=source)
    _refuse_unconverged(data, source)
    if "groups" in data and "by" in data:
        raise InputError(f"holds {len(data['groups'])} fits, one per --by group; save one group's fit (fit without "
                         "--by on that group's runs)", source=source)
    if "params" in data:
        name = data.get("law", data.get("name", "chinchilla"))
        if isinstance(name, str):
            return law_from_params(name, data["params"], source)
    for key in ("fit", "law"):  # report.json ("fit"), the demo's laws.json and plan --json ("law")
        if isinstance(data.get(key), dict):
            return law_from_dict(data[key], source)
    return _bare(data, source)


def load_law(path: str | Path) -> Law:
    """The law in a JSON file written by scalinglab (or by hand); see the module docstring for what is accepted."""
    p = Path(path)
    if not p.is_file():
        raise InputError("law file not found", source=str(p))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({type(exc).__name__}: {' '.join(str(exc).split())})",
                         source=str(p)) from None
    return law_from_dict(data, str(p))
