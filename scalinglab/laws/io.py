"""Reading a law back from JSON (the output of ``scalinglab fit --json`` / ``--save``)."""

from __future__ import annotations

import json
from pathlib import Path

from scalinglab.errors import InputError
from scalinglab.laws.forms import Law


def law_from_dict(data: dict, source: str = "<law>") -> Law:
    from scalinglab.laws import LAWS
    if not isinstance(data, dict) or "law" not in data or "params" not in data:
        raise InputError("expected a JSON object with 'law' and 'params' (as written by scalinglab fit --json)",
                         source=source)
    name = data["law"]
    if name not in LAWS:
        raise InputError(f"unknown law '{name}' (choose from {', '.join(LAWS)})", source=source)
    cls = LAWS[name]
    params = data["params"]
    if not isinstance(params, dict):
        raise InputError("'params' must be an object of name: value", source=source)
    missing = [p for p in cls.param_names() if p not in params]
    if missing:
        raise InputError(f"law '{name}' is missing parameter(s) {', '.join(missing)}", source=source)
    values = {}
    for p in cls.param_names():
        try:
            values[p] = float(params[p])
        except (TypeError, ValueError):
            raise InputError(f"parameter '{p}' must be a number, got {params[p]!r}", source=source) from None
    return cls(**values)


def load_law(path: str | Path) -> Law:
    p = Path(path)
    if not p.is_file():
        raise InputError("law file not found", source=str(p))
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", source=str(p)) from None
    if isinstance(data, dict) and "fit" in data and "law" not in data:
        data = data["fit"]
    return law_from_dict(data, str(p))
