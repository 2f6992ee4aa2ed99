"""The wording rules of messages, with no dependency (the CLI's start-up imports them).

:func:`plural` and :func:`listing` are the one place for "3 images" and "a, b and 12 more";
:mod:`segmetrics.report` re-exports them.
"""
from __future__ import annotations

from typing import Optional, Sequence

__all__ = ["plural", "listing"]


def plural(n: int, word: str, words: Optional[str] = None) -> str:
    """``"1 image"``, ``"3 images"`` (thousands separated; ``words`` for irregular plurals)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def listing(items: Sequence, total: Optional[int] = None, *, limit: int = 5) -> str:
    """``"a, b, c and 12 more"``: the first ``limit`` items and how many are left out (``total``:
    how many there are in all, when ``items`` holds only the first ones).  The one rule for
    naming a few of many in a message."""
    total = len(items) if total is None else total
    shown = ", ".join(str(x) for x in list(items)[:limit])
    more = total - min(len(items), limit)
    return f"{shown} and {more} more" if more > 0 else shown
