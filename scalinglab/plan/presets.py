"""Which law the planner uses: a published law, ``key=value`` parameters, or a JSON file of a fitted law.

Names: every law of ``scalinglab.laws.published`` (hoffmann2022, hoffmann2022-tex, besiroglu2024, kaplan2020,
muennighoff2023), plus two planner names:
- ``chinchilla`` = hoffmann2022, Approach 3 as printed (E 1.69, A 406.4, B 410.7, α 0.34, β 0.28) — the default;
- ``chinchilla-sardana``: the printed E, A, B with α 0.336, β 0.283, the Chinchilla constants that reproduce
  Sardana et al. 2023 (arXiv:2401.00448) to four digits (70B on 1T tokens → loss 1.9473).
"""

from __future__ import annotations

import json
from pathlib import Path

from scalinglab.errors import InputError
from scalinglab.laws import LAWS, Chinchilla, Law
from scalinglab.laws.published import PUBLISHED

PRESETS: dict[str, Law] = {name: law for name, (law, _source) in PUBLISHED.items()}
PRESETS["chinchilla"] = PRESETS["hoffmann2022"]
PRESETS["chinchilla-sardana"] = Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.336, beta=0.283)
DEFAULT_LAW = "chinchilla"


def _build(name: str, params: dict, source: str) -> Law:
    cls = LAWS.get(str(name).lower())
    if cls is None:
        raise InputError(f"unknown law '{name}'; known: {', '.join(sorted(LAWS))}", source=source)
    expected = set(cls.param_names())
    if set(params) != expected:
        raise InputError(f"law '{cls.name}' needs parameters {', '.join(sorted(expected))}; got "
                         f"{', '.join(sorted(params)) or 'none'}", source=source)
    try:
        values = {k: float(v) for k, v in params.items()}
    except (TypeError, ValueError):
        raise InputError(f"law parameters must be numbers: {params}", source=source) from None
    return cls(**values)


def parse_law_params(text: str, law_name: str = "chinchilla") -> Law:
    """``"E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28"`` → a law of kind ``law_name``."""
    params = {}
    for item in str(text).split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--law-params expects key=value pairs separated by commas, got {item.strip()!r}")
        params[key.strip()] = value.strip()
    return _build(law_name, params, "--law-params")


def load_law_file(path: str | Path) -> Law:
    """A fitted law saved as JSON, as ``scalinglab fit`` writes it: ``{"law": "chinchilla", "params": {...}}``
    (a bare ``{"E": …}`` means Chinchilla). A fit marked ``"converged": false`` is refused."""
    p = Path(path)
    if not p.is_file():
        raise InputError("law file not found", source=str(p))
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({type(exc).__name__})", source=str(p)) from None
    if not isinstance(raw, dict):
        raise InputError("expected a JSON object", source=str(p))
    if raw.get("converged") is False:
        raise InputError(f"this fit did not converge ({raw.get('message', 'no message')}); refit before planning "
                         "with it", source=str(p))
    if "params" in raw:
        if not isinstance(raw["params"], dict):
            raise InputError("'params' must be an object of name → value", source=str(p))
        return _build(raw.get("law", raw.get("name", "chinchilla")), raw["params"], str(p))
    return _build("chinchilla", raw, str(p))


def resolve_law(spec: str | None = None, law_params: str | None = None) -> Law:
    """``spec``: a preset name or a path to a JSON law file; ``law_params`` overrides with explicit parameters."""
    if law_params is not None:
        kind = spec if spec in LAWS else "chinchilla"
        return parse_law_params(law_params, kind)
    if spec is None:
        return PRESETS[DEFAULT_LAW]
    key = str(spec).strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    if key.endswith(".json") or Path(spec).is_file():
        return load_law_file(spec)
    raise InputError(f"unknown law '{spec}'; presets: {', '.join(PRESETS)}, or a path to a fitted-law JSON file")
