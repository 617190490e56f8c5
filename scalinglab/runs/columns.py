"""Which column of a user's table means which quantity: aliases, explicit maps, and the rule for ambiguous names.

The rule, in order:
1. An explicit map (``columns={"N": "params", "loss": "eval/c4/loss"}``; keys are canonical names or their short
   aliases) decides; every other column that would alias to a mapped quantity stays metadata.
2. Otherwise a column whose name is a *strong* alias (``N``, ``params``, ``Model Size``, ``val_loss``, …) means that
   quantity; two strong aliases of one quantity are an error that names both and says how to choose.
3. *Weak* aliases are everyday words (``size``, ``name``, ``run``, ``id``) that name metadata as often as a quantity.
   One is read as its quantity only when no strong alias or map names that quantity and its values fit (every cell a
   number for a numeric quantity; unique labels for a run id), and a note says so; otherwise it stays metadata.
Every column not used by rules 1-3 is kept, under its own name, as metadata.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from scalinglab.errors import InputError

# Column names seen in the wild, compared after lower-casing and dropping spaces, '_', '-', '.' and '(…)' units.
ALIASES: dict[str, tuple[str, ...]] = {
    "n_params": ("nparams", "n", "params", "parameters", "modelsize", "numparams", "nparameters", "paramsn"),
    "n_tokens": ("ntokens", "d", "tokens", "trainingtokens", "datasize", "tokensd", "numtokens", "ntrain"),
    "flops": ("flops", "c", "flop", "compute", "trainingflop", "trainingflops", "trainingcompute"),
    "loss": ("loss", "valloss", "finalloss", "evalloss", "validationloss", "lossnats", "testloss"),
    "unique_tokens": ("uniquetokens", "u", "ud", "uniquetokensu", "uniquedata"),
    "epochs": ("epochs", "nepochs", "numepochs"),
    "run_id": ("runid", "runname"),
    "seed": ("seed",),
    "weight": ("weight",),
    "held_out": ("heldout", "holdout", "isheldout"),
}
WEAK_ALIASES: dict[str, tuple[str, ...]] = {"n_params": ("size",), "run_id": ("run", "name", "id")}
TEXT_COLUMNS = ("run_id",)
_STRONG = {alias: canon for canon, aliases in ALIASES.items() for alias in aliases}
_WEAK = {alias: canon for canon, aliases in WEAK_ALIASES.items() for alias in aliases}
_SHORT = {"n_params": "N", "n_tokens": "D", "flops": "C", "unique_tokens": "U"}


def norm(name) -> str:
    return re.sub(r"[\s_\-.]|\(.*?\)|\[.*?\]", "", str(name).lower())


def canonical_name(key: str, what: str = "--columns") -> str:
    """'N', 'params', 'n_params' → 'n_params'; an unknown quantity is an error listing the known ones."""
    canon = _STRONG.get(norm(key)) or _WEAK.get(norm(key)) or (key if key in ALIASES else None)
    if canon is None:
        known = ", ".join(f"{c} ({_SHORT[c]})" if c in _SHORT else c for c in ALIASES)
        raise InputError(f"{what}: unknown quantity '{key}' (known: {known}, or meta to keep a column as metadata)")
    return canon


def _fits(values, canon: str) -> bool:
    """Whether a weak alias's cells can mean ``canon``: all numbers (numeric quantities) or unique labels (run id)."""
    if canon in TEXT_COLUMNS:
        labels = pd.Series(values).astype(str)
        return bool(labels.str.strip().ne("").all() and not labels.duplicated().any())
    for v in values:
        try:
            x = float(v.strip()) if isinstance(v, str) else float(v)
        except (TypeError, ValueError):
            return False
        if isinstance(v, bool) or not math.isfinite(x):
            return False
    return True


def resolve_columns(df: pd.DataFrame, source: str, columns: dict | None = None, *, check_weak: bool = True
                    ) -> tuple[dict[str, str], list[str]]:
    """canonical name → the user's column, and the notes to show; see the module docstring for the rule.

    ``columns`` maps a quantity (canonical name or alias) to a column, or ``meta`` to a column (or list of columns)
    kept as metadata whatever its name. ``check_weak=False`` (loss curves, where a run id repeats on every point)
    reads a lone weak alias without checking its values."""
    names = list(df.columns)
    dup = pd.Index(names)[pd.Index(names).duplicated()]
    if len(dup):
        raise InputError(f"duplicated column '{dup[0]}' in the header; rename or drop one", source=source)
    mapping, forced_meta = _explicit(names, source, columns or {})
    strong: dict[str, list[str]] = {}
    weak: dict[str, list[str]] = {}
    for col in names:
        if col in mapping.values() or col in forced_meta:
            continue
        key = norm(col)
        for table, found in ((_STRONG, strong), (_WEAK, weak)):
            if key in table and table[key] not in mapping:
                found.setdefault(table[key], []).append(col)
    for canon, cols in strong.items():
        if len(cols) > 1:
            short = _SHORT.get(canon, canon)
            raise InputError(f"columns '{cols[0]}' and '{cols[1]}' both mean {canon}; keep one, or choose with "
                             f"--columns {short}={cols[0]}", source=source)
        mapping[canon] = cols[0]
    notes = []
    for canon, cols in weak.items():
        if canon in mapping:
            continue
        short = _SHORT.get(canon, canon)
        if len(cols) == 1 and (not check_weak or _fits(df[cols[0]].to_numpy(), canon)):
            mapping[canon] = cols[0]
            notes.append(f"column '{cols[0]}' read as {canon} (map another with --columns {short}=COLUMN)")
        else:
            notes.append(f"column(s) {', '.join(repr(c) for c in cols)} kept as metadata, not read as {canon} "
                         f"(to read one as {canon}: --columns {short}={cols[0]})")
    return mapping, notes


def _explicit(names: list, source: str, columns: dict) -> tuple[dict[str, str], set]:
    mapping: dict[str, str] = {}
    meta: set = set()
    for key, col in columns.items():
        cols = col if isinstance(col, (list, tuple)) else [col]
        for c in cols:
            if c not in names:
                raise InputError(f"--columns {key}={c}: no column '{c}' (columns found: "
                                 f"{', '.join(map(str, names))})", source=source)
        if str(key).strip().lower() == "meta":
            meta.update(cols)
            continue
        canon = canonical_name(str(key))
        if len(cols) != 1:
            raise InputError(f"--columns {key}: give one column, got {len(cols)}", source=source)
        if canon in mapping:
            raise InputError(f"--columns maps {canon} twice ('{mapping[canon]}' and '{cols[0]}')", source=source)
        if cols[0] in mapping.values() or cols[0] in meta:
            raise InputError(f"--columns uses column '{cols[0]}' twice", source=source)
        mapping[canon] = cols[0]
    return mapping, meta


def parse_column_map(text: str | None) -> dict[str, str | list[str]]:
    """``"N=params,loss=eval/c4/loss,meta=size"`` → ``{"N": "params", "loss": "eval/c4/loss", "meta": ["size"]}``."""
    out: dict = {}
    if text is None:
        return out
    for item in str(text).split(","):
        if not item.strip():
            continue
        key, sep, col = item.partition("=")
        key, col = key.strip(), col.strip()
        if not sep or not key or not col:
            raise InputError(f"--columns expects QUANTITY=COLUMN pairs separated by commas, got {item.strip()!r}")
        if key.lower() == "meta":
            out.setdefault("meta", []).append(col)
        elif key in out:
            raise InputError(f"--columns gives {key} twice")
        else:
            out[key] = col
    if not out:
        raise InputError("--columns expects QUANTITY=COLUMN pairs, e.g. 'N=params,loss=eval/c4/loss'")
    return out
