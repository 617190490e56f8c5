"""One value type for a quantity with an interval."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided interval at ``level`` (e.g. 0.9 for a 90 % interval)."""

    estimate: float
    lo: float
    hi: float
    level: float

    def __contains__(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "lo": self.lo, "hi": self.hi, "level": self.level}
