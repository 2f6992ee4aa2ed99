"""How predictions are written: class indices, or the same raw values as the GT files.

When the ground truth goes through a label rule (ADE20K's ``reduce_zero_label``,
Cityscapes' labelId -> trainId map), a prediction file can be written two ways:
as class indices (``class-index``: 0..K-1, trainIds) or with the GT files' raw
values (``as-gt``: 1..K, labelIds).  Read the wrong way, every class shifts and
the score is silently wrong.  :func:`decide_reading` is the one rule that tells
them apart from counts the validator (and eval's quick checks) already have.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["READINGS", "Evidence", "Decision", "decide_reading", "reading_label", "clearly_more"]

#: Reading names: class indices, the GT files' raw values, an explicit prediction label map.
READINGS: tuple[str, ...] = ("class-index", "as-gt", "map")

#: One reading must agree with the GT on at least this many times the other's pixels ...
AGREEMENT_RATIO = 2.0
#: ... and on at least this share of the scored pixels more, to be "clearly" better.
AGREEMENT_MARGIN = 0.01


def reading_label(name: str) -> str:
    """Words for a reading, for messages."""
    return {"class-index": "read as class indices", "as-gt": "read like the GT files",
            "map": "through the prediction label map"}.get(name, name)


def clearly_more(a: int, b: int, total: int) -> bool:
    """True when count ``a`` is far above ``b``: ``a >= 2 b`` and ``a - b >= 1 %`` of ``total``."""
    return total > 0 and a >= AGREEMENT_RATIO * b and (a - b) >= AGREEMENT_MARGIN * total and a > 0


@dataclass(frozen=True)
class Evidence:
    """Counts over scored pixels (GT not ignored) that tell two readings apart.

    Attributes
    ----------
    only_a, only_b : dict
        Prediction value -> pixels, for values that only reading A (resp. B) sends
        to a class (the other sends them to the ignore index or out of range).
    agree_a, agree_b : int
        Scored pixels whose prediction, under reading A (resp. B), equals the GT class.
    scored : int
        Scored pixels counted.
    """

    only_a: dict
    only_b: dict
    agree_a: int
    agree_b: int
    scored: int

    @classmethod
    def from_counts(cls, pred_hist_scored: np.ndarray, codes_a: np.ndarray, codes_b: np.ndarray,
                    agree_a: int, agree_b: int, scored: int) -> "Evidence":
        """Evidence from the histogram of prediction values on scored pixels and two code tables."""
        v = np.flatnonzero(pred_hist_scored)
        ok_a, ok_b = codes_a[v] >= 0, codes_b[v] >= 0
        only_a = {int(x): int(pred_hist_scored[x]) for x in v[ok_a & ~ok_b]}
        only_b = {int(x): int(pred_hist_scored[x]) for x in v[ok_b & ~ok_a]}
        return cls(only_a, only_b, int(agree_a), int(agree_b), int(scored))


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`decide_reading`: ``reading`` is None when the data cannot tell."""

    reading: Optional[str]
    reason: str
    evidence: Evidence
    names: tuple

    def fields(self) -> dict:
        """Structured fields for a finding."""
        e = self.evidence
        return {"agree": {self.names[0]: e.agree_a, self.names[1]: e.agree_b}, "scored_pixels": e.scored,
                "values_only": {self.names[0]: e.only_a, self.names[1]: e.only_b}}


def _values(d: dict) -> str:
    items = sorted(d.items())
    shown = ", ".join(f"{v} ({c:,} px)" for v, c in items[:4])
    return shown + (f" and {len(items) - 4} more" if len(items) > 4 else "")


def decide_reading(ev: Evidence, names: tuple = READINGS[:2]) -> Decision:
    """Which reading the predictions use.

    Parameters
    ----------
    ev : Evidence
    names : tuple of str
        Names of readings A and B.

    Returns
    -------
    Decision

    Notes
    -----
    1. Values: when predictions hold values that only one reading sends to a
       class (ADE20K: 0 only as class index, K only as GT-like; Cityscapes: 19..33
       only as labelIds), and none that only the other does, that reading wins.
    2. Otherwise agreement: the reading whose classes equal the GT on far more
       scored pixels wins (:func:`clearly_more`: at least twice as many, and 1 % of
       the scored pixels more); a shifted reading agrees on almost none.
    3. Otherwise the data cannot tell (``reading`` None).
    """
    a, b = names
    if ev.only_a and not ev.only_b:
        return Decision(a, f"values only {a} allows occur: {_values(ev.only_a)}", ev, names)
    if ev.only_b and not ev.only_a:
        return Decision(b, f"values only {b} allows occur: {_values(ev.only_b)}", ev, names)
    share = (lambda n: f"{n / ev.scored:.1%}") if ev.scored else (lambda n: "0")
    told = (f"{a} agrees with the GT on {share(ev.agree_a)} of {ev.scored:,} scored pixels, "
            f"{b} on {share(ev.agree_b)}")
    if clearly_more(ev.agree_a, ev.agree_b, ev.scored):
        return Decision(a, told, ev, names)
    if clearly_more(ev.agree_b, ev.agree_a, ev.scored):
        return Decision(b, told, ev, names)
    both = f"; values only {a} allows: {_values(ev.only_a)}; only {b}: {_values(ev.only_b)}" \
        if ev.only_a and ev.only_b else ""
    return Decision(None, told + both, ev, names)
