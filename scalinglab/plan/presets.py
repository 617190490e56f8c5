"""Which law the planner uses: a published preset, ``key=value`` parameters, or a JSON file of a fitted law.

Presets (nats/token):
- ``chinchilla``: Hoffmann et al. 2022 (arXiv:2203.15556) Approach 3 as printed, E 1.69, A 406.4, B 410.7,
  α 0.34, β 0.28 — the planner's default.
- ``chinchilla-tex``: the same fit unrounded from the paper's TeX source (as used by Epoch AI).
- ``chinchilla-sardana``: the constants Sardana et al. 2023 (arXiv:2401.00448) quote for Chinchilla,
  α 0.336, β 0.283 with the printed E, A, B; their 70B/1T example gives loss 1.9473 with these.
- ``epoch2024``: Besiroglu et al. 2024 (arXiv:2404.10102) refit of the Chinchilla data.
- ``muennighoff2023``: the data-constrained C4 fit of Muennighoff et al. 2023 (arXiv:2305.16264).
"""

from __future__ import annotations

import json
from pathlib import Path

from scalinglab.errors import InputError
from scalinglab.laws import LAWS, Chinchilla, DataConstrained, Law

PRESETS: dict[str, Law] = {
    "chinchilla": Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
    "chinchilla-tex": Chinchilla(E=1.69337, A=406.401, B=410.723, alpha=0.33917084, beta=0.2849083),
    "chinchilla-sardana": Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.336, beta=0.283),
    "epoch2024": Chinchilla(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658),
    "muennighoff2023": DataConstrained.published(),
}
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
    """A fitted law saved as JSON: ``{"law": "chinchilla", "params": {...}}`` (a bare ``{"E": …}`` means Chinchilla)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("law file not found", source=str(p))
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({type(exc).__name__})", source=str(p)) from None
    if not isinstance(raw, dict):
        raise InputError("expected a JSON object", source=str(p))
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
