"""The accelerator catalog: peak FLOP/s, memory, board power and price per device, read from YAML.

The built-in catalog is ``accelerators.yaml`` next to this module, one entry per device with its source. Users add
or override entries with a YAML file of the same shape; names match case-insensitively, and an unknown name fails
with the closest known names suggested.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import yaml

from scalinglab.errors import InputError

BUILTIN_CATALOG = Path(__file__).with_name("accelerators.yaml")
_REQUIRED = ("bf16_flops", "memory_bytes")
_OPTIONAL = ("fp8_flops", "memory_bandwidth_bytes_per_s", "board_watts", "price_per_hour_usd")


@dataclass(frozen=True)
class Accelerator:
    """One device. Throughputs are dense peak FLOP/s; ``None`` marks a figure its maker does not publish."""

    name: str
    bf16_flops: float
    memory_bytes: float
    fp8_flops: float | None = None
    memory_bandwidth_bytes_per_s: float | None = None
    board_watts: float | None = None
    price_per_hour_usd: float | None = None
    description: str = ""
    source: str = ""
    aliases: tuple[str, ...] = ()

    def peak_flops(self, precision: str = "bf16") -> float:
        """Dense peak FLOP/s at ``precision`` ('bf16' or 'fp8')."""
        if precision == "bf16":
            return self.bf16_flops
        if precision == "fp8":
            if self.fp8_flops is None:
                raise InputError(f"accelerator '{self.name}' has no FP8 throughput in the catalog; use --precision bf16")
            return self.fp8_flops
        raise InputError(f"precision must be 'bf16' or 'fp8', got {precision!r}")


def _entry(name: str, raw: object, source: str) -> Accelerator:
    if not isinstance(raw, dict):
        raise InputError(f"entry '{name}' must be a mapping of fields", source=source)
    known = set(_REQUIRED) | set(_OPTIONAL) | {"aliases", "description", "source"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"entry '{name}' has unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                         source=source)
    values: dict[str, float | None] = {}
    for key in _REQUIRED + _OPTIONAL:
        value = raw.get(key)
        if value is None:
            if key in _REQUIRED:
                raise InputError(f"entry '{name}' is missing '{key}'", source=source)
            values[key] = None
            continue
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InputError(f"entry '{name}': '{key}' must be a number, got {value!r}", source=source) from None
        if not (0 < v < float("inf")):
            raise InputError(f"entry '{name}': '{key}' must be a finite number > 0, got {value!r}", source=source)
        values[key] = v
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list):
        raise InputError(f"entry '{name}': 'aliases' must be a list", source=source)
    return Accelerator(name=str(name).lower(), description=str(raw.get("description", "")),
                       source=" ".join(str(raw.get("source", "")).split()),
                       aliases=tuple(str(a).lower() for a in aliases), **values)


def load_catalog(extra_path: str | Path | None = None) -> dict[str, Accelerator]:
    """The built-in catalog, updated by the entries of ``extra_path`` (a user's YAML file) when given.

    A user entry with a new name adds a device; one with a built-in name overrides only the fields it lists
    (e.g. just ``price_per_hour_usd``)."""
    catalog: dict[str, Accelerator] = {}
    raw_fields: dict[str, dict] = {}
    paths = [BUILTIN_CATALOG] + ([Path(extra_path)] if extra_path is not None else [])
    for path in paths:
        if not path.is_file():
            raise InputError("accelerator catalog file not found", source=str(path))
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(f"not valid YAML ({type(exc).__name__})", source=str(path)) from None
        if not isinstance(raw, dict) or not raw:
            raise InputError("expected a mapping of accelerator name → fields", source=str(path))
        for name, fields in raw.items():
            key = str(name).lower()
            if isinstance(fields, dict) and key in raw_fields:
                fields = {**raw_fields[key], **fields}
            acc = _entry(key, fields, str(path))
            raw_fields[key] = fields
            catalog[acc.name] = acc
    return catalog


def get_accelerator(name: str, catalog: dict[str, Accelerator] | None = None) -> Accelerator:
    """Look up a device by name or alias (case-insensitive); unknown names suggest the closest known ones."""
    catalog = load_catalog() if catalog is None else catalog
    key = str(name).strip().lower()
    lookup = {acc.name: acc for acc in catalog.values()}
    for acc in catalog.values():
        for alias in acc.aliases:
            lookup.setdefault(alias, acc)
    if key in lookup:
        return lookup[key]
    close = difflib.get_close_matches(key, list(lookup), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(catalog))}"
    raise InputError(f"unknown accelerator '{name}'{hint}")
