"""The report's planner section: ``--plan 'key=value,…'`` requests answered by ``scalinglab.plan`` with the fitted law.

Keys are the ``scalinglab plan`` option names without dashes: ``flops``, ``params``, ``tokens``, ``active-params``,
``layers``, ``d-model``, ``heads``, ``seq-len``, ``accelerator``, ``count``, ``days``, ``budget``, ``mfu``, ``pue``,
``target-loss``, ``inference-tokens``, ``unique-tokens``, and ``law`` (a published law to plan with instead of the
fit). Example: ``--plan 'accelerator=h100,count=1024,days=30'``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from scalinglab.errors import InputError
from scalinglab.laws.fit import FitResult
from scalinglab.laws.published import published_law
from scalinglab.plan.cluster import ClusterAssumptions
from scalinglab.plan.planner import PlanRequest, make_plan

_FLOAT = {"flops": "flops", "params": "n_params", "tokens": "n_tokens", "active-params": "n_params_active",
          "days": "days", "budget": "budget_usd", "target-loss": "target_loss", "inference-tokens": "inference_tokens",
          "unique-tokens": "unique_tokens", "count": "count"}
_INT = {"layers": "n_layers", "d-model": "d_model", "heads": "n_heads", "seq-len": "seq_len"}
_ASSUME = {"mfu": "mfu", "pue": "pue"}
_TEXT = {"accelerator": "accelerator", "law": "law"}
KEYS = (*_FLOAT, *_INT, *_ASSUME, *_TEXT)


@dataclass(frozen=True)
class PlanSection:
    request: str        # the user's text, as given
    law: str            # which law answered it
    result: dict        # Plan.to_dict()

    def to_dict(self) -> dict:
        return {"request": self.request, "law": self.law, "plan": self.result}


def _number(key: str, text: str, kind=float):
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"--plan {key} must be a number, got {text!r}") from None
    if kind is int:
        if value != int(value):
            raise InputError(f"--plan {key} must be a whole number, got {text!r}")
        return int(value)
    return value


def parse_request(text: str) -> tuple[dict, dict, str | None]:
    """'accelerator=h100,count=1024' → (PlanRequest fields, assumption overrides, law name or None)."""
    fields, assume, law = {}, {}, None
    items = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    if not items:
        raise InputError("--plan needs key=value pairs, e.g. 'flops=1e24' or 'accelerator=h100,count=1024,days=30'")
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip().lower().replace("_", "-"), value.strip()
        if not sep or not value:
            raise InputError(f"--plan expects key=value pairs separated by commas, got {item!r}")
        if key in _FLOAT:
            fields[_FLOAT[key]] = _number(key, value)
        elif key in _INT:
            fields[_INT[key]] = _number(key, value, int)
        elif key in _ASSUME:
            assume[_ASSUME[key]] = _number(key, value)
        elif key == "accelerator":
            fields["accelerator"] = value
        elif key == "law":
            law = value
        else:
            raise InputError(f"--plan: unknown key '{key}' (known: {', '.join(KEYS)})")
    if "count" in fields:
        fields["count"] = _number("count", str(fields["count"]), int)
    return fields, assume, law


def plan_sections(requests, fit_result: FitResult) -> list[PlanSection]:
    out = []
    for text in requests:
        fields, assume, law = parse_request(text)
        law_fields = {"law": published_law(law) if law is not None else fit_result.law}
        try:
            assumptions = replace(ClusterAssumptions(), **assume)
        except (TypeError, ValueError) as exc:
            raise InputError(f"--plan: {exc}") from None
        plan = make_plan(PlanRequest(**fields, **law_fields, assumptions=assumptions))
        label = law if law is not None else f"fitted {fit_result.law.name}"
        out.append(PlanSection(request=str(text), law=label, result=plan.to_dict()))
    return out
