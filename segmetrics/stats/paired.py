"""Paired comparison of two runs on the same images: deltas, intervals, p-values, corrections, a gate.

The random procedures (documented so that anyone can rebuild them)
------------------------------------------------------------------
* Paired bootstrap: the draw of :mod:`segmetrics.stats.resample`
  (``default_rng(seed).integers(0, N, size=(R, N))``), applied to both runs
  with the same rows, so the base and new intervals of :func:`compare` equal
  those of :func:`~segmetrics.stats.bootstrap` on each run with that seed.
* Randomization test: when ``2**N <= permutations`` every swap pattern is
  enumerated (row ``j`` swaps image ``i`` iff bit ``i`` of ``j`` is set, ``j``
  from 0 to ``2**N - 1``); otherwise
  ``default_rng(SeedSequence(seed, spawn_key=(0,))).integers(0, 2, size=(P, N))``
  draws ``P = permutations`` patterns (1 = swap), independent of the
  bootstrap's stream.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np

from ..errors import InputError
from ..report import json_ready
from .counts import _Counts
from .resample import (
    Intervals,
    Operand,
    _nonempty,
    _scalar,
    block_rows,
    check_options,
    collect,
    summarize_replicates,
    weight_blocks,
)

__all__ = ["CORRECTIONS", "Comparison", "compare", "holm", "benjamini_hochberg", "significant_drops",
           "moved_classes", "swap_blocks"]

CORRECTIONS = ("holm", "bh")
TIE = 1e-12  # |d_r| >= |d_obs| - TIE counts as "at least as extreme" (metrics are fractions)


# ----------------------------------------------------------------------------- swaps
def swap_blocks(num_images: int, permutations: int, seed: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, swap patterns)`` blocks, int64 0/1 of shape ``(rows, N)`` (see the module notes)."""
    exact = num_images < 63 and 2**num_images <= permutations
    total = 2**num_images if exact else permutations
    step = block_rows(num_images, total)
    rng = None if exact else np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    bits = np.arange(num_images, dtype=np.int64)
    for start in range(0, total, step):
        rows = min(step, total - start)
        if exact:
            yield start, (np.arange(start, start + rows, dtype=np.int64)[:, None] >> bits) & 1
        else:
            yield start, rng.integers(0, 2, size=(rows, num_images))


# ----------------------------------------------------------------------------- corrections
def _ranked(p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1:
        raise InputError(f"p-values must be a 1-D array, got shape {p.shape}")
    if np.any(p[~np.isnan(p)] < 0) or np.any(p[~np.isnan(p)] > 1):
        raise InputError("p-values must lie in [0, 1]")
    idx = np.flatnonzero(~np.isnan(p))
    return p, idx[np.argsort(p[idx], kind="stable")], np.full(p.shape, np.nan)


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values (family-wise error rate); NaN entries stay NaN and are not in the family.

    Notes
    -----
    With the ``m`` defined p-values sorted, ``p_(1) <= ... <= p_(m)``:
    ``adj_(i) = min(1, max_{j <= i} (m - j + 1) p_(j))``.  Rejecting where
    ``adj <= alpha`` is Holm's step-down procedure.
    """
    p, order, out = _ranked(p_values)
    m = order.size
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg-adjusted p-values (false discovery rate); NaN entries stay NaN.

    Notes
    -----
    ``adj_(i) = min(1, min_{j >= i} m p_(j) / j)`` over the ``m`` defined
    p-values sorted ascending; rejecting where ``adj <= alpha`` controls the
    FDR at ``alpha`` for independent or positively dependent tests.
    """
    p, order, out = _ranked(p_values)
    m = order.size
    adj = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(np.minimum.accumulate(adj[::-1])[::-1], 1.0)
    return out


# ----------------------------------------------------------------------------- result
@dataclasses.dataclass(frozen=True)
class Comparison:
    """Paired comparison of a base and a new run, metric by metric.

    Attributes
    ----------
    base, new, delta : dict of str to float or ndarray
        Full-data values and ``delta = new - base`` (headline: floats; per
        class: ``(K,)`` arrays).
    low, high : dict
        Paired bootstrap interval of the delta.
    p_value : dict
        Two-sided p-value of the paired randomization test.
    p_holm, p_bh : dict
        Per-class p-values adjusted over the classes of one metric (Holm,
        Benjamini-Hochberg); per-class keys only.
    base_intervals, new_intervals : Intervals
        Each run's own bootstrap intervals (same draw).
    level, method, resamples, seed, permutations : as passed
    exact : bool
        True when the randomization test enumerated all ``2**N`` swaps.
    num_images : int
    headline, per_class : tuple of str
    """

    base: dict
    new: dict
    delta: dict
    low: dict
    high: dict
    p_value: dict
    p_holm: dict
    p_bh: dict
    base_intervals: Intervals
    new_intervals: Intervals
    level: float
    method: str
    resamples: int
    seed: int
    permutations: int
    exact: bool
    num_images: int
    headline: tuple
    per_class: tuple

    def to_dict(self) -> dict:
        """JSON-ready: ``metrics: {m: {base, new, delta, low, high, p_value}}``, ``per_class: {m: {...lists}}``."""
        fields = ("base", "new", "delta", "low", "high", "p_value")
        out = {"metrics": {k: {f: getattr(self, f)[k] for f in fields} for k in self.headline},
               "per_class": {k: {**{f: getattr(self, f)[k] for f in fields},
                                 "p_holm": self.p_holm[k], "p_bh": self.p_bh[k]} for k in self.per_class},
               "level": self.level, "method": self.method, "resamples": self.resamples, "seed": self.seed,
               "permutations": self.permutations, "exact_permutations": self.exact,
               "num_images": self.num_images}
        return json_ready(out)


# ----------------------------------------------------------------------------- the comparison
def _randomization(base: _Counts, new: _Counts, keys: tuple, d_obs: dict, permutations: int,
                   seed: int) -> tuple[dict, bool]:
    """Two-sided p-values of the paired randomization test, one per key."""
    n = base.num_images
    diff = new.int_block() - base.int_block()
    fb, fn_ = base.float_block(), new.float_block()
    op = Operand(diff, None if fb is None else fn_ - fb, n, "randomization sums")
    b_int = base.int_block().sum(axis=0)
    n_int = new.int_block().sum(axis=0)
    # Sums of a swapped pair: base' = base + s @ (new - base), new' = new - s @ (new - base); added in
    # float64 only where that is exact, else in int64
    exact_add = op.dtype != np.int64 and float(np.max(b_int + n_int, initial=0)) < 2.0**53
    b_tot = b_int.astype(np.float64) if exact_add else b_int
    n_tot = n_int.astype(np.float64) if exact_add else n_int
    bf, nf = base.float_totals(), new.float_totals()
    exact = n < 63 and 2**n <= permutations
    hits = {k: 0 for k in keys}
    total = 0
    for _, s in swap_blocks(n, permutations, seed):
        ints, floats = op.times(s)
        if not exact_add:
            ints = ints.astype(np.int64)
        both = np.concatenate([b_tot + ints, n_tot - ints]).astype(np.float64, copy=False)
        fboth = None if floats is None else np.concatenate([bf + floats, nf - floats])
        values = base.evaluate(both, fboth)
        rows = s.shape[0]
        total += rows
        for k in keys:
            d = values[k][rows:] - values[k][:rows]
            with np.errstate(invalid="ignore"):
                extreme = (np.abs(d) >= np.abs(d_obs[k]) - TIE) | np.isnan(d)
            hits[k] = hits[k] + extreme.sum(axis=0)
    p = {}
    for k in keys:
        p_k = hits[k] / total if exact else (hits[k] + 1) / (total + 1)
        p[k] = _scalar(np.where(np.isnan(d_obs[k]), np.nan, p_k))
    return p, exact


def compare(base: _Counts, new: _Counts, *, resamples: int = 1000, seed: int = 0, level: float = 0.95,
            method: str = "percentile", permutations: int | None = None) -> Comparison:
    """Compare two runs on the same images: delta, paired bootstrap interval, randomization p-value.

    Parameters
    ----------
    base, new : SemanticCounts or PanopticCounts
        Per-image counts of the two runs, rows in the same image order (same
        classes, rule and, when both carry them, image ids).
    resamples : int, default 1000
        Paired bootstrap replicates.
    seed : int, default 0
    level : float, default 0.95
    method : {"percentile", "bca"}
        Interval method (see :func:`~segmetrics.stats.bootstrap`).
    permutations : int, optional
        Random swap patterns of the randomization test (default: ``resamples``);
        when ``2**N <= permutations`` all ``2**N`` patterns are enumerated instead.

    Returns
    -------
    Comparison

    Notes
    -----
    ``delta = metric(new) - metric(base)`` on the full data.  Paired
    bootstrap: replicate ``r`` draws images with replacement (weights ``w[r]``)
    and scores both runs on the same draw; the interval of
    ``metric(w[r] @ new) - metric(w[r] @ base)`` is taken as in
    :func:`~segmetrics.stats.bootstrap`.  Randomization test (H0: the two
    runs' per-image counts are exchangeable within each image): pattern ``s``
    swaps the base and new counts of the images with ``s_i = 1``, the metrics
    are recomputed from the swapped sums and ``d_s = metric(new') - metric(base')``.
    The two-sided p-value is ``(#{|d_s| >= |d_obs|} + 1) / (P + 1)`` for ``P``
    random patterns (never 0; valid at every ``P``), or
    ``#{|d_s| >= |d_obs|} / 2**N`` with exact enumeration (the identity and the
    full swap are among the patterns, so ``p >= 2 / 2**N``).  Ties count with a
    tolerance of 1e-12 (rounding of one sum in another order must not decide),
    and a pattern where the metric is undefined (NaN) counts as at least as
    extreme (conservative).  A value undefined on the full data in either run
    gets NaN for delta, interval and p-value.  Per-class p-values are also
    given Holm and Benjamini-Hochberg adjusted over the defined classes of
    each per-class metric.
    """
    for side, c in (("base", base), ("new", new)):
        if not isinstance(c, _Counts):
            raise InputError(f"{side} must be SemanticCounts or PanopticCounts, got {type(c).__name__}")
    why = base.same_setup(new)
    if why:
        raise InputError(f"cannot compare these runs image by image: {why}")
    _nonempty(base)
    resamples, seed, level, method = check_options(resamples, seed, level, method)
    permutations = resamples if permutations is None else permutations
    permutations = check_options(permutations, seed, level, method)[0]
    keys = base.headline + base.per_class
    n = base.num_images
    b_est, n_est = base.metrics(), new.metrics()
    d_est = {k: np.asarray(n_est[k], dtype=np.float64) - np.asarray(b_est[k], dtype=np.float64) for k in keys}

    # paired bootstrap: both runs side by side in one product, on the same draw
    fb = base.float_block()
    floats = None if fb is None else np.hstack([fb, new.float_block()])
    op = Operand(np.hstack([base.int_block(), new.int_block()]), floats, n, "bootstrap sums")
    reps = collect(base, op, weight_blocks(n, resamples, seed), keys, resamples, parts=2)
    b_rep = {k: v[0] for k, v in reps.items()}
    n_rep = {k: v[1] for k, v in reps.items()}
    d_rep = {k: n_rep[k] - b_rep[k] for k in keys}
    jb = jn = jd = None
    if method == "bca":
        jb, jn = base.leave_one_out(), new.leave_one_out()
        jd = {k: jn[k] - jb[k] for k in keys}
    opts = dict(level=level, method=method, resamples=resamples, seed=seed, keep_replicates=False)
    d_iv = summarize_replicates(base, d_est, d_rep, jd, **opts)
    b_iv = summarize_replicates(base, b_est, b_rep, jb, **opts)
    n_iv = summarize_replicates(new, n_est, n_rep, jn, **opts)
    p, exact = _randomization(base, new, keys, d_est, permutations, seed)
    return Comparison(
        base={k: _scalar(b_est[k]) for k in keys}, new={k: _scalar(n_est[k]) for k in keys},
        delta={k: _scalar(d_est[k]) for k in keys}, low=d_iv.low, high=d_iv.high, p_value=p,
        p_holm={k: holm(p[k]) for k in base.per_class}, p_bh={k: benjamini_hochberg(p[k]) for k in base.per_class},
        base_intervals=b_iv, new_intervals=n_iv, level=level, method=method, resamples=resamples, seed=seed,
        permutations=permutations, exact=exact, num_images=n, headline=base.headline, per_class=base.per_class,
    )


# ----------------------------------------------------------------------------- gates
def significant_drops(comparison: Comparison, *, alpha: float = 0.05, metrics: Sequence[str] | None = None,
                      min_drop: float = 0.0) -> list[str]:
    """Headline metrics whose drop is significant: the gate "fail only on a real drop".

    Parameters
    ----------
    comparison : Comparison
    alpha : float, default 0.05
        Significance level of the two-sided randomization test.
    metrics : sequence of str, optional
        Headline metrics to gate (default: all).
    min_drop : float, default 0
        Also require the drop to exceed this many units (fractions: 0.005 is
        half a percentage point).

    Returns
    -------
    list of str
        The metrics that fail, in the order given.

    Notes
    -----
    Metric ``m`` fails iff ``delta_m < -min_drop`` and ``p_m <= alpha``, where
    ``p_m`` is the two-sided randomization p-value of :func:`compare`.  Under
    H0 (no difference) a given metric fails with probability at most about
    ``alpha / 2`` (only drops fail).  Gating several metrics multiplies the
    chances of a false alarm; the p-values are not corrected across headline
    metrics (they are strongly dependent).  An undefined delta or p-value
    (NaN) never fails this gate; a ``max_drop`` gate reports those.
    """
    if not 0.0 < alpha < 1.0:
        raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
    names = comparison.headline if metrics is None else tuple(metrics)
    unknown = [m for m in names if m not in comparison.headline]
    if unknown:
        raise InputError(f"unknown metric {unknown[0]!r}; available: {', '.join(comparison.headline)}")
    return [m for m in names
            if comparison.delta[m] < -min_drop and comparison.p_value[m] <= alpha]


def moved_classes(comparison: Comparison, metric: str, *, alpha: float = 0.05, correction: str = "holm") -> np.ndarray:
    """Boolean ``(K,)``: classes whose per-class ``metric`` changed significantly after correction.

    Notes
    -----
    Class ``c`` moved iff its adjusted p-value (``correction`` = ``"holm"``,
    family-wise error rate, or ``"bh"``, false discovery rate, over the
    classes defined in both runs) is ``<= alpha``.  The sign of ``delta`` says
    in which direction.
    """
    if metric not in comparison.per_class:
        raise InputError(f"unknown per-class metric {metric!r}; available: {', '.join(comparison.per_class)}")
    if correction not in CORRECTIONS:
        raise InputError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    adj = (comparison.p_holm if correction == "holm" else comparison.p_bh)[metric]
    with np.errstate(invalid="ignore"):
        return np.asarray(adj <= alpha)
