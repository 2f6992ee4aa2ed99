"""Image-level bootstrap: every resample at once as integer weights times per-image counts.

The random procedure (documented so that anyone can rebuild a replicate)
------------------------------------------------------------------------
``idx = numpy.random.default_rng(seed).integers(0, N, size=(R, N))`` (int64;
PCG64 seeded through SeedSequence, numpy >= 1.17).  Row ``r`` lists the ``N``
images drawn, with replacement, for replicate ``r``; its weights are
``w[r, i] = count of i in idx[r]``.  This is the draw
:func:`scipy.stats.bootstrap` makes for a one-sample statistic with the same
generator.  :func:`bootstrap_indices` returns ``idx``; the engine draws it in
blocks of rows, which yields the same numbers (a test checks it).

Exact sums
----------
Replicate sums are ``w @ counts``.  Integer counts are multiplied in float32
when every partial sum stays below 2**24 (count blocks of more than 2**20
entries; smaller ones use float64), in float64 below 2**53 (so the BLAS
product is exact), else in int64 (exact, slower); beyond 2**63 the counts are
refused.  Panoptic IoU sums are float64 and use a float64 product.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..report import json_ready
from .counts import _Counts

__all__ = ["METHODS", "Intervals", "bootstrap", "bootstrap_indices", "replicate_sums"]

METHODS = ("percentile", "bca")
_BLOCK_BYTES = 16 << 20  # float64 weights of one block of resamples
_SMALL = 1 << 20  # count-block entries below which one float64 product beats float32 + float64
_NORMAL_DIST = None


def _normal():
    """The standard normal distribution (``statistics`` imported on first use: with fractions and
    decimal it costs 0.5 MB that runs without intervals do not need)."""
    global _NORMAL_DIST
    if _NORMAL_DIST is None:
        from statistics import NormalDist

        _NORMAL_DIST = NormalDist()
    return _NORMAL_DIST


# ----------------------------------------------------------------------------- checks
def check_options(resamples, seed, level, method) -> tuple[int, int, float, str]:
    """Validated ``(resamples, seed, level, method)``."""
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise InputError(f"resamples must be a positive integer, got {resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0.0 < float(level) < 1.0:
        raise InputError(f"level must be a fraction in (0, 1), e.g. 0.95, got {level!r}")
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    return int(resamples), int(seed), float(level), method


def _nonempty(counts: _Counts) -> None:
    if not isinstance(counts, _Counts):
        raise InputError(f"expected SemanticCounts or PanopticCounts, got {type(counts).__name__}")
    if counts.num_images == 0:
        raise InputError("no images: a bootstrap needs at least one image")


# ----------------------------------------------------------------------------- random draws
def bootstrap_indices(num_images: int, resamples: int, seed: int) -> np.ndarray:
    """The images drawn by each bootstrap replicate, ``(resamples, num_images)`` int64.

    ``numpy.random.default_rng(seed).integers(0, num_images, size=(resamples, num_images))``:
    row ``r`` holds the image indices (with repeats) of replicate ``r``.
    """
    return np.random.default_rng(seed).integers(0, num_images, size=(resamples, num_images))


def block_rows(n_columns: int, total: int) -> int:
    """Rows per block so that a float64 (rows, n_columns) block stays near 16 MB (a multiple of 8)."""
    rows = max(8, (_BLOCK_BYTES // (8 * max(n_columns, 1))) // 8 * 8)
    return min(rows, total)


def weight_blocks(num_images: int, resamples: int, seed: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, weights)`` blocks of the bootstrap weights, int64 ``(rows, N)``."""
    rng = np.random.default_rng(seed)
    step = block_rows(num_images, resamples)
    for start in range(0, resamples, step):
        rows = min(step, resamples - start)
        idx = rng.integers(0, num_images, size=(rows, num_images))
        idx += (np.arange(rows, dtype=np.int64) * num_images)[:, None]
        yield start, np.bincount(idx.ravel(), minlength=rows * num_images).reshape(rows, num_images)


# ----------------------------------------------------------------------------- exact products
def exact_dtype(bound: float, what: str) -> np.dtype:
    """Cheapest dtype in which sums whose partial sums stay within ``bound`` are exact."""
    if bound < 2.0**24:
        return np.dtype(np.float32)
    if bound < 2.0**53:
        return np.dtype(np.float64)
    if bound < 2.0**63:
        return np.dtype(np.int64)
    raise InputError(f"{what} reach {bound:.3g}, beyond int64: the counts cannot be summed exactly")


class Operand:
    """An (N, C) integer block, plus optional float columns, ready for ``weights @ block``.

    ``weight_sum`` bounds the sum of the absolute weights of one row (N for
    bootstrap weights); the product dtype is chosen so that every partial sum
    is exact.  Integer and float columns share one float64 product when the
    integers are multiplied in float64 anyway, or when the block is small
    (below ``_SMALL`` entries float32 saves less than a second BLAS call costs).
    """

    def __init__(self, ints: np.ndarray, floats: np.ndarray | None, weight_sum: float, what: str):
        peak = float(np.abs(ints).max()) if ints.size else 0.0
        self.dtype = exact_dtype(weight_sum * peak, what)
        entries = ints.shape[0] * (ints.shape[1] + (0 if floats is None else floats.shape[1]))
        if self.dtype == np.float32 and entries <= _SMALL:
            self.dtype = np.dtype(np.float64)
        self.split = ints.shape[1]
        self.joint = floats is not None and self.dtype == np.float64
        if self.joint:
            self.ints = np.ascontiguousarray(np.hstack([ints, floats]), dtype=np.float64)
            self.floats = None
        else:
            self.ints = np.ascontiguousarray(ints, dtype=self.dtype)
            self.floats = None if floats is None else np.ascontiguousarray(floats, dtype=np.float64)

    def times(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``(weights @ ints, weights @ floats)``: the first exact (int64 or float64), the second float64."""
        ints = weights.astype(self.dtype, copy=False) @ self.ints
        if self.joint:
            return ints[:, :self.split], ints[:, self.split:]
        if self.dtype == np.float32:
            ints = ints.astype(np.float64)
        floats = None if self.floats is None else weights.astype(np.float64, copy=False) @ self.floats
        return ints, floats


def replicate_sums(counts: _Counts, *, resamples: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Summed count columns of every bootstrap replicate (what the metrics are computed from).

    Returns
    -------
    ints : ndarray, shape (resamples, Ci)
        Exact sums of ``counts.int_block()`` (float64 below 2**53, else int64).
    floats : ndarray, shape (resamples, Cf), or None
        Sums of ``counts.float_block()`` (panoptic IoU sums).
    """
    _nonempty(counts)
    resamples, seed, _, _ = check_options(resamples, seed, 0.5, "percentile")
    op = Operand(counts.int_block(), counts.float_block(), counts.num_images, "bootstrap sums")
    parts = [op.times(w) for _, w in weight_blocks(counts.num_images, resamples, seed)]
    ints = np.concatenate([p[0] for p in parts])
    floats = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
    return ints, floats


# ----------------------------------------------------------------------------- interval rules
def _sorted_defined(rep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replicates sorted along axis 0 (NaN last) and the number of defined ones per column."""
    return np.sort(rep, axis=0), np.count_nonzero(~np.isnan(rep), axis=0)


def quantile(sorted_rep: np.ndarray, n: np.ndarray, q) -> np.ndarray:
    """Linear-interpolation quantile (numpy's default, Hyndman-Fan type 7) of the first ``n`` rows.

    ``q`` is a probability per column (broadcast); NaN where ``n == 0`` or ``q`` is NaN.
    """
    q = np.broadcast_to(np.asarray(q, dtype=np.float64), n.shape)
    ok = (n > 0) & ~np.isnan(q)
    qq = np.where(ok, q, 0.0)
    h = (np.maximum(n, 1) - 1) * qq
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n, 1) - 1)
    t = h - lo
    a = np.take_along_axis(sorted_rep, lo[None, ...], axis=0)[0]
    b = np.take_along_axis(sorted_rep, hi[None, ...], axis=0)[0]
    with np.errstate(invalid="ignore"):
        diff = b - a
        out = np.where(t >= 0.5, b - diff * (1.0 - t), a + diff * t)
    return np.where(ok, out, np.nan)


def _ndtr(x: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: v if math.isnan(v) else _normal().cdf(v), otypes=[np.float64])(x)


def _ndtri(p: np.ndarray) -> np.ndarray:
    def one(v: float) -> float:
        if math.isnan(v):
            return v
        if v <= 0.0:
            return -math.inf
        if v >= 1.0:
            return math.inf
        return _normal().inv_cdf(v)
    return np.vectorize(one, otypes=[np.float64])(p)


def bca_probabilities(rep: np.ndarray, estimate: np.ndarray, jack: np.ndarray, level: float):
    """BCa's adjusted lower and upper probabilities per column.

    ``rep`` (R, ...) replicates, ``estimate`` (...) the full-data value,
    ``jack`` (N, ...) the leave-one-image-out values; NaN entries are left out.
    """
    n_def = np.count_nonzero(~np.isnan(rep), axis=0)
    below = np.count_nonzero(rep < estimate, axis=0) + np.count_nonzero(rep <= estimate, axis=0)
    z0 = _ndtri(np.where(n_def > 0, below / (2.0 * np.maximum(n_def, 1)), np.nan))
    ok = ~np.isnan(jack)
    m = np.count_nonzero(ok, axis=0)
    mean = np.where(ok, jack, 0.0).sum(axis=0) / np.maximum(m, 1)
    u = np.where(ok, (m - 1) * (mean - jack), 0.0)
    u2 = u * u
    num = (u2 * u).sum(axis=0)
    den = u2.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        accel = np.where(den > 0, num / (6.0 * den**1.5), 0.0)
    alpha = (1.0 - level) / 2.0
    out = []
    for z in (_normal().inv_cdf(alpha), _normal().inv_cdf(1.0 - alpha)):
        s = z0 + z
        with np.errstate(invalid="ignore", divide="ignore"):
            shrink = np.where(accel == 0.0, 1.0, 1.0 - accel * s)
            out.append(_ndtr(z0 + s / shrink))
    return out[0], out[1], accel


def interval(rep: np.ndarray, estimate: np.ndarray, jack: np.ndarray | None, level: float,
             method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(low, high, defined)`` of replicates ``rep`` (R, ...) for one statistic."""
    srt, n = _sorted_defined(rep)
    alpha = (1.0 - level) / 2.0
    if method == "bca":
        p_lo, p_hi, _ = bca_probabilities(rep, estimate, jack, level)
    else:
        p_lo, p_hi = alpha, 1.0 - alpha
    undefined = np.isnan(estimate)
    low = np.where(undefined, np.nan, quantile(srt, n, p_lo))
    high = np.where(undefined, np.nan, quantile(srt, n, p_hi))
    return low, high, n


# ----------------------------------------------------------------------------- result
@dataclasses.dataclass(frozen=True)
class Intervals:
    """Bootstrap confidence intervals of every headline metric and every per-class value.

    Attributes
    ----------
    estimate, low, high : dict of str to float or ndarray
        The full-data value and the interval bounds: floats for headline
        metrics, ``(K,)`` arrays for per-class values.  NaN where undefined.
    defined : dict of str to int or ndarray
        How many resamples defined the value (a class absent from a resample
        has no value there; the interval is taken over the others).
    level, method, resamples, seed, num_images
    headline, per_class : tuple of str
        The keys of each kind.
    replicates : dict of str to ndarray, or None
        ``(R,)`` / ``(R, K)`` replicate values when asked for.
    """

    estimate: dict
    low: dict
    high: dict
    defined: dict
    level: float
    method: str
    resamples: int
    seed: int
    num_images: int
    headline: tuple
    per_class: tuple
    replicates: dict | None = None

    def to_dict(self) -> dict:
        """JSON-ready ``{"metrics": {m: {low, high, level, method, resamples, seed}}, "per_class": {m: {...}}}``.

        Per-class entries hold lists (one value per class, None where undefined).
        """
        common = {"level": self.level, "method": self.method, "resamples": self.resamples, "seed": self.seed}
        out = {"metrics": {}, "per_class": {}}
        for kind, keys in (("metrics", self.headline), ("per_class", self.per_class)):
            for key in keys:
                out[kind][key] = {"low": self.low[key], "high": self.high[key], **common}
        return json_ready(out)


def _scalar(v):
    return float(v) if np.ndim(v) == 0 else v


def _unstack(a: np.ndarray, parts: int) -> np.ndarray:
    """(rows, parts * C) side-by-side column groups -> (parts * rows, C), group by group."""
    rows, cols = a.shape
    return a.reshape(rows, parts, cols // parts).transpose(1, 0, 2).reshape(parts * rows, cols // parts)


def collect(counts: _Counts, op: Operand, blocks, keys: tuple, resamples: int, parts: int = 1) -> dict:
    """Replicate values of ``keys`` over all weight blocks: ``{key: (parts, R) or (parts, R, K)}``.

    The operand holds ``parts`` runs side by side (the paired bootstrap's base
    and new counts); each run's sums are scored separately.
    """
    out: dict = {}
    for start, w in blocks:
        ints, floats = op.times(w)
        rows = w.shape[0]
        values = counts.evaluate(_unstack(ints, parts).astype(np.float64, copy=False),
                                 None if floats is None else _unstack(floats, parts))
        for key in keys:
            v = values[key].reshape((parts, rows) + values[key].shape[1:])
            if key not in out:
                out[key] = np.empty((parts, resamples) + v.shape[2:], dtype=np.float64)
            out[key][:, start:start + rows] = v
    return out


def summarize_replicates(counts: _Counts, estimate: dict, reps: dict, jack: dict | None, *, level: float,
                         method: str, resamples: int, seed: int, keep_replicates: bool) -> Intervals:
    """The :class:`Intervals` of replicate arrays."""
    low, high, defined = {}, {}, {}
    for key, rep in reps.items():
        lo, hi, n = interval(rep, np.asarray(estimate[key], dtype=np.float64),
                             None if jack is None else jack[key], level, method)
        low[key], high[key], defined[key] = _scalar(lo), _scalar(hi), (int(n) if np.ndim(n) == 0 else n)
    return Intervals(
        estimate={k: _scalar(estimate[k]) for k in reps}, low=low, high=high, defined=defined,
        level=level, method=method, resamples=resamples, seed=seed, num_images=counts.num_images,
        headline=counts.headline, per_class=counts.per_class, replicates=reps if keep_replicates else None,
    )


def bootstrap(counts: _Counts, *, resamples: int = 1000, seed: int = 0, level: float = 0.95,
              method: str = "percentile", keep_replicates: bool = False) -> Intervals:
    """Image-level bootstrap confidence intervals for every headline metric and per-class value.

    Parameters
    ----------
    counts : SemanticCounts or PanopticCounts
        Per-image counts of one run.
    resamples : int, default 1000
        Number of bootstrap replicates R.
    seed : int, default 0
        Seed of ``numpy.random.default_rng`` (see the module notes for the exact draw).
    level : float, default 0.95
        Confidence level.
    method : {"percentile", "bca"}
        Percentile interval, or bias-corrected and accelerated (jackknife
        acceleration over images).
    keep_replicates : bool
        Keep the replicate values in the result.

    Returns
    -------
    Intervals

    Notes
    -----
    Replicate ``r`` draws N images with replacement (weights ``w[r]``), sums
    their integer counts (``w[r] @ counts``, exact) and computes every metric
    from the sums exactly as the dataset-level metric is computed (never an
    average of per-image scores).  Percentile: the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` linear-interpolation quantiles of the replicates.
    BCa (Efron 1987): ``z0 = Phi^-1((#{t_r < t} + #{t_r <= t}) / 2R)``,
    acceleration ``a = sum U_i^3 / (6 (sum U_i^2)^1.5)`` with
    ``U_i = (n - 1)(mean_j t_(j) - t_(i))`` over the leave-one-image-out
    values ``t_(i)`` (``a = 0`` when they are all equal), probabilities
    ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` for ``z = Phi^-1((1 -/+ level) / 2)``;
    this is :func:`scipy.stats.bootstrap`'s BCa.  A value undefined in a
    replicate (NaN: a class absent from the resample, or no category to
    average) is left out of the quantiles and of BCa's counts; ``defined``
    says how many replicates remained.  A value undefined on the full data
    has a NaN interval.
    """
    _nonempty(counts)
    resamples, seed, level, method = check_options(resamples, seed, level, method)
    estimate = counts.metrics()
    keys = counts.headline + counts.per_class
    op = Operand(counts.int_block(), counts.float_block(), counts.num_images, "bootstrap sums")
    reps = collect(counts, op, weight_blocks(counts.num_images, resamples, seed), keys, resamples)
    reps = {k: v[0] for k, v in reps.items()}
    jack = counts.leave_one_out() if method == "bca" else None
    return summarize_replicates(counts, estimate, reps, jack, level=level, method=method, resamples=resamples,
                                seed=seed, keep_replicates=keep_replicates)
