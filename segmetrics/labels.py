"""Label rules -> kernel code tables: the one place that says how a raw label value is read.

Every path that counts semantic labels (the array API of
:class:`~segmetrics.semantic.SemanticEvaluator`, the folder engine, the
reference path for files the engine does not take, the GT of images without
prediction) asks this module for its code tables.  A code table maps a raw
label value to

* a class ``0..K-1``;
* :data:`IGNORED` (-1): a ground-truth pixel that counts nowhere;
* :data:`BAD` (-2): a value that is an error on a scored pixel;
* ``K`` (with ``void_predictions="miss"``): a prediction that abstains, counted as
  a miss of the GT class and a false positive of no class (the "void column");
* ``K + 1`` (with ``out_of_range="drop"``, the rule of the tools that drop such
  labels silently: see :mod:`segmetrics.conventions`): a label outside
  ``[0, K)`` that is not ignored, counted apart (row ``K + 1`` for the ground
  truth, column ``K + 1`` for predictions) instead of raising.

Rules
-----
* ``gt_map`` / ``pred_map`` are lookup tables applied to raw values first
  (``effective = map[raw]``); their entries lie in ``[0, K)`` or equal
  ``ignore_index``.  A raw value at or beyond a table's length is bad, except
  a raw ground-truth value equal to ``ignore_index`` (it stays ignored).
* A ground-truth value whose effective label is ``ignore_index`` is ignored;
  its prediction is never looked at.
* A prediction whose effective label is ``ignore_index`` is bad on a scored
  pixel (``void_predictions="error"``) or a miss (``"miss"``).
* ``reduce_zero_label`` (ADE20K, mmsegmentation's rule) is the table
  ``0 -> ignore, k -> k - 1``; :func:`label_map_lut` folds it into a label map.
* Predictions are read either as class indices (``pred_labels="class-index"``:
  no table) or like the ground truth (``"as-gt"``: the GT's table); ``"auto"``
  decides from the data by one rule, :func:`decide_reading` (eval gathers its
  evidence from a sample with :func:`decide_pred_labels`, ``segmetrics validate``
  from every file).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from ._sha import sha256
from ._text import listing

__all__ = [
    "IGNORED",
    "BAD",
    "FILE_TABLE_SIZE",
    "MAX_CLASSES",
    "PRED_LABELS",
    "VOID_PREDICTIONS",
    "as_label_array",
    "OUT_OF_RANGE",
    "check_num_classes",
    "check_ignore",
    "check_map",
    "reduce_zero_table",
    "label_map_lut",
    "LabelRules",
    "clearly_more",
    "ReadingEvidence",
    "ReadingDecision",
    "decide_reading",
    "decide_pred_labels",
]

IGNORED = -1
BAD = -2
#: Every value an 8- or 16-bit PNG sample can hold.
FILE_TABLE_SIZE = 65536
#: K * K must fit the kernel's int32 row offsets.
MAX_CLASSES = 46340
PRED_LABELS = ("auto", "class-index", "as-gt")
VOID_PREDICTIONS = ("error", "miss")
OUT_OF_RANGE = ("error", "drop")


def as_label_array(x: Any, name: str) -> np.ndarray:
    """A label map as a native-byte-order integer ndarray (torch tensors without a copy);
    :class:`InputError` for another dtype (class scores need an argmax first)."""
    if type(x) is np.ndarray and x.dtype.kind in "iu" and x.dtype.isnative:
        return x  # the common case, without the checks below (update's per-call cost)
    if type(x).__module__.split(".")[0] == "torch":
        x = x.detach()
        if x.device.type != "cpu":
            x = x.cpu()
        try:
            x = x.numpy()
        except TypeError as exc:  # a torch dtype numpy has no twin for
            raise InputError(f"{name}: torch dtype {x.dtype} is not an integer label dtype") from exc
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise InputError(
            f"{name} must hold integer labels, got dtype {arr.dtype}"
            + (" (cast class scores with argmax first)" if arr.dtype.kind in "fc" else "")
        )
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def check_num_classes(num_classes: Any) -> int:
    """``num_classes`` as an int in ``[1, MAX_CLASSES]`` or an :class:`InputError`."""
    if not _is_int(num_classes):
        raise InputError(f"num_classes must be an integer, got {num_classes!r}")
    k = int(num_classes)
    if not 1 <= k <= MAX_CLASSES:
        raise InputError(f"num_classes must be in [1, {MAX_CLASSES}], got {k}")
    return k


def check_ignore(ignore_index: Any) -> int | None:
    """``ignore_index`` as an int or None, or an :class:`InputError`."""
    if ignore_index is None:
        return None
    if not _is_int(ignore_index):
        raise InputError(f"ignore_index must be an integer or None, got {ignore_index!r}")
    return int(ignore_index)


def _as_table(table: Any, name: str) -> np.ndarray:
    """A lookup table as a native integer ndarray (torch tensors accepted)."""
    if type(table).__module__.split(".")[0] == "torch":
        table = table.detach().cpu().numpy()
    arr = np.asarray(table)
    if arr.dtype.kind not in "iu":
        raise InputError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr


def check_map(table: Any, num_classes: int, ignore_index: int | None, name: str) -> np.ndarray | None:
    """Validate a lookup table: 1-D integer, every entry in ``[0, K)`` or ``== ignore_index``.

    Returns the table as int64 (None stays None).
    """
    if table is None:
        return None
    arr = _as_table(table, name)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{name} must be a non-empty 1-D lookup table, got shape {arr.shape}")
    values = arr.astype(np.int64) if arr.dtype != np.uint64 else arr
    bad = (values < 0) | (values >= num_classes)
    if ignore_index is not None:
        bad &= values != ignore_index
    if bad.any():
        idx = np.flatnonzero(bad)
        shown = ", ".join(f"{name}[{i}] = {arr[i]}" for i in idx[:5])
        raise InputError(
            f"{name} entries must be in [0, {num_classes}) or equal ignore_index={ignore_index}: "
            f"{shown}{' ...' if idx.size > 5 else ''} ({idx.size} bad entries)"
        )
    return values.astype(np.int64)


def reduce_zero_table(num_classes: int, ignore_index: int) -> np.ndarray:
    """mmsegmentation's ``reduce_zero_label`` as a table: 0 -> ignore, k -> k - 1 for 1..K."""
    table = np.arange(-1, num_classes, dtype=np.int64)
    table[0] = ignore_index
    return table


def label_map_lut(mapping: Mapping | None, *, num_classes: int, ignore_index: int,
                  reduce_zero_label: bool = False) -> np.ndarray:
    """Turn a raw -> class mapping into a lookup table (int64 array, index = raw value).

    Parameters
    ----------
    mapping : mapping or None
        Raw value -> class index, with an optional ``"*"`` default (as
        :func:`segmetrics.io.labelfiles.load_label_map` returns), or None for
        the identity.
    num_classes, ignore_index : int
        Classes must lie in ``[0, num_classes)`` or equal ``ignore_index``.
    reduce_zero_label : bool
        Apply the ADE20K rule first (raw 0 -> ignore, raw r -> ``mapping[r - 1]``).

    Returns
    -------
    numpy.ndarray
        With a mapping: length 256, or 65536 when a raw value above 255 is
        listed (every entry is a class or the ignore index).  Without one (the
        identity, possibly shifted): length ``num_classes + reduce_zero_label``,
        so raw values beyond the classes stay errors.

    Notes
    -----
    ``lut[v]`` is ``mapping[v']`` with ``v' = v - 1`` under ``reduce_zero_label``
    (``v = 0`` is ignored) and ``v' = v`` otherwise; values not listed take
    ``mapping["*"]`` when given, else ``ignore_index``.
    """
    mapping = dict(mapping) if mapping is not None else None
    default = ignore_index
    if mapping is not None:
        default = mapping.pop("*", ignore_index)
        for raw, cls in mapping.items():
            if cls != ignore_index and not 0 <= cls < num_classes:
                raise InputError(
                    f"label map sends raw value {raw} to class {cls}, outside [0, {num_classes}) "
                    f"and not the ignore index {ignore_index}"
                )
        if default != ignore_index and not 0 <= default < num_classes:
            raise InputError(f"label map default class {default} is outside [0, {num_classes})")
    if mapping is None:
        size = num_classes + int(reduce_zero_label)
    else:
        top = max(mapping) if mapping else 0
        if top + int(reduce_zero_label) >= FILE_TABLE_SIZE:
            raise InputError(f"label map raw value {top} does not fit a 16-bit label PNG")
        size = 256 if top + int(reduce_zero_label) < 256 else FILE_TABLE_SIZE
    raw = np.arange(size, dtype=np.int64)
    src = raw - 1 if reduce_zero_label else raw
    if mapping is None:
        lut = src.copy()
    else:
        lut = np.full(size, default, dtype=np.int64)
        for r, cls in mapping.items():
            lut[src == r] = cls
    if reduce_zero_label:
        lut[0] = ignore_index
    return lut


@dataclass(frozen=True, eq=False)
class LabelRules:
    """Validated label rules of one evaluation and the code tables they give.

    Attributes
    ----------
    num_classes : int
        K, the scored classes ``0..K-1``.
    ignore_index : int or None
    gt_map, pred_map : ndarray of int64 or None
        Effective lookup tables (``reduce_zero_label`` folded in).
    void_predictions : {"error", "miss"}
        What a prediction equal to ``ignore_index`` (after ``pred_map``) on a
        scored pixel is.
    out_of_range : {"error", "drop"}
        What a label outside ``[0, K)`` that is not ignored is: an error, or
        (``"drop"``) counted apart, as mmsegmentation and HF ``evaluate`` drop
        it from their histograms (:mod:`segmetrics.conventions` says what each
        tool makes of those pixels).

    Notes
    -----
    The kernels count ``counted_classes`` columns: K, or K + 1 with
    ``void_predictions="miss"``, where column K (no row reaches it) holds the
    abstaining predictions, or K + 2 with ``out_of_range="drop"``: column K the
    predictions equal to the ignore index (whatever ``void_predictions`` says),
    column K + 1 the other predictions outside ``[0, K)``, row K + 1 the
    ground-truth pixels outside ``[0, K)`` (row K is never reached).
    """

    num_classes: int
    ignore_index: int | None
    gt_map: np.ndarray | None
    pred_map: np.ndarray | None
    void_predictions: str = "error"
    out_of_range: str = "error"

    @classmethod
    def build(cls, num_classes: Any, *, ignore_index: Any = 255, gt_map: Any = None, pred_map: Any = None,
              void_predictions: str = "error", out_of_range: str = "error") -> "LabelRules":
        """Check every argument and return the rules (:class:`InputError` on a bad one)."""
        k = check_num_classes(num_classes)
        ign = check_ignore(ignore_index)
        if void_predictions not in VOID_PREDICTIONS:
            raise InputError(f"void_predictions must be one of {VOID_PREDICTIONS}, got {void_predictions!r}")
        if out_of_range not in OUT_OF_RANGE:
            raise InputError(f"out_of_range must be one of {OUT_OF_RANGE}, got {out_of_range!r}")
        if void_predictions == "miss" and ign is None:
            raise InputError("void_predictions='miss' needs an ignore_index (the value a void prediction holds)")
        extra = 2 if out_of_range == "drop" else int(void_predictions == "miss")
        if k + extra > MAX_CLASSES:
            raise InputError(f"void_predictions='miss' / out_of_range='drop' need num_classes + {extra} <= "
                             f"{MAX_CLASSES}")
        return cls(k, ign, check_map(gt_map, k, ign, "gt_map"), check_map(pred_map, k, ign, "pred_map"),
                   void_predictions, out_of_range)

    @property
    def counted_classes(self) -> int:
        """Columns the kernels count: K, plus the void column with ``void_predictions="miss"``, or
        K + 2 with ``out_of_range="drop"``."""
        if self.out_of_range == "drop":
            return self.num_classes + 2
        return self.num_classes + (self.void_predictions == "miss")

    def gt_codes(self, size: int | None = None) -> np.ndarray:
        """Ground-truth code table (class, IGNORED or BAD).

        ``size=None``: as long as ``gt_map`` (or K), for the array kernel, which
        handles a raw ``ignore_index`` beyond the table itself; a size (the file
        engine's 65536) folds that rule into the table.
        """
        k, ign = self.num_classes, self.ignore_index
        values = np.arange(k, dtype=np.int64) if self.gt_map is None else self.gt_map
        codes = _codes(values, k)
        if ign is not None:
            codes[values == ign] = IGNORED
        if size is None and self.out_of_range == "drop":
            size = max(FILE_TABLE_SIZE, codes.size)  # every 8/16-bit value counted, not refused
        if size is None:
            return codes
        out = _fit(codes, size, self._dropped())
        if ign is not None and codes.size <= ign < size:
            out[ign] = IGNORED
        return out

    def _dropped(self) -> int:
        """The code of a label outside ``[0, K)``: BAD, or K + 1 with ``out_of_range="drop"``."""
        return self.num_classes + 1 if self.out_of_range == "drop" else BAD

    def pred_codes(self, size: int | None = None) -> np.ndarray:
        """Prediction code table (class, K for a void prediction under ``"miss"``, or BAD)."""
        k, ign = self.num_classes, self.ignore_index
        values = np.arange(k, dtype=np.int64) if self.pred_map is None else self.pred_map
        codes = _codes(values, k, self._dropped())
        if self.out_of_range == "drop" and size is None:
            size = max(FILE_TABLE_SIZE, codes.size)
        if (self.void_predictions == "miss" or self.out_of_range == "drop") and ign is not None:
            codes[values == ign] = k
            if codes.size <= ign < max(size or 0, FILE_TABLE_SIZE):  # the raw void value beyond the table
                codes = _fit(codes, ign + 1, self._dropped())
                codes[ign] = k
        return codes if size is None else _fit(codes, size, self._dropped())

    def void_codes(self, size: int = FILE_TABLE_SIZE) -> np.ndarray:
        """Prediction code table of an image without prediction: every pixel a void prediction."""
        return np.full(size, self.num_classes, dtype=np.int32)

    def file_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """The 65536-entry ``(gt_codes, pred_codes)`` the folder engine reads 8/16-bit PNGs with."""
        return self.gt_codes(FILE_TABLE_SIZE), self.pred_codes(FILE_TABLE_SIZE)

    def engine_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`file_tables` as the folder engine takes them: each cut after its last entry
        that is not BAD (at least 256 entries, every 8-bit value), the kernel counting a value
        beyond a table as a bad label, as the full table's tail says.  The two full tables are
        512 kB that a run would keep resident for the few values its files hold.  With
        ``out_of_range="drop"`` the tails are not BAD, and the full tables are returned."""
        if self._dropped() != BAD:
            return self.file_tables()
        size = max(256, self.gt_map.size if self.gt_map is not None else self.num_classes,
                   self.pred_map.size if self.pred_map is not None else self.num_classes)
        if self.ignore_index is not None and 0 <= self.ignore_index < FILE_TABLE_SIZE:
            size = max(size, self.ignore_index + 1)  # the ignored (or void) raw value is in both tables
        size = min(size, FILE_TABLE_SIZE)
        out = []
        for table in (self.gt_codes(size), self.pred_codes(size)):
            kept = np.flatnonzero(table != BAD)
            out.append(table[:max(256, int(kept[-1]) + 1 if kept.size else 0)].copy())
        return out[0], out[1]

    def with_void_column(self) -> "LabelRules":
        """The same rules counting K + 1 classes, class K being no GT value's (for void predictions)."""
        return LabelRules(self.num_classes, self.ignore_index, self.gt_map, self.pred_map, "miss", self.out_of_range)

    def digest(self) -> str:
        """``sha256:<hex>`` of K, the ignore index, ``void_predictions``, ``out_of_range`` (when
        ``"drop"``) and both lookup tables: equal digests count every label value the same way."""
        drop = "|drop" if self.out_of_range == "drop" else ""
        h = sha256(f"{self.num_classes}|{self.ignore_index}|{self.void_predictions}{drop}".encode())
        for table in (self.gt_map, self.pred_map):
            h.update(b"|none" if table is None else b"|" + np.ascontiguousarray(table, dtype="<i8").tobytes())
        return "sha256:" + h.hexdigest()

    def differs_from(self, other: "LabelRules") -> str | None:
        """Why two rule sets count differently (None when they count the same)."""
        for attr in ("num_classes", "ignore_index", "void_predictions", "out_of_range"):
            if getattr(self, attr) != getattr(other, attr):
                return f"{attr} differs ({getattr(self, attr)!r} vs {getattr(other, attr)!r})"
        for attr in ("gt_map", "pred_map"):
            a, b = getattr(self, attr), getattr(other, attr)
            if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
                return f"{attr} differs"
        return None


def _codes(values: np.ndarray, k: int, bad: int = BAD) -> np.ndarray:
    """int32 codes of effective labels: the class where it is one, else ``bad``."""
    codes = values.astype(np.int32)
    codes[(values < 0) | (values >= k)] = bad
    return codes


def _fit(codes: np.ndarray, size: int, bad: int = BAD) -> np.ndarray:
    """``codes`` cut or padded with ``bad`` to ``size`` entries."""
    out = np.full(size, bad, dtype=np.int32)
    n = min(size, codes.size)
    out[:n] = codes[:n]
    return out


# ----------------------------------------------------------------------------- prediction convention
#: A reading wins by agreement with this many times the other's scored pixels, by this share of
#: the scored pixels and by this many standard deviations of chance agreement (``sqrt(a + b)``).
AGREEMENT_RATIO, AGREEMENT_MARGIN, AGREEMENT_SIGMAS = 2.0, 0.01, 5.0


def clearly_more(a: int, b: int, total: int) -> bool:
    """True when count ``a`` is far above ``b`` among ``total``: ``a >= 2 b``, and ``a - b`` is
    at least 1 % of ``total`` and five standard deviations of chance (``5 sqrt(a + b)``)."""
    return (a > 0 and total > 0 and a >= AGREEMENT_RATIO * b and a - b >= AGREEMENT_MARGIN * total
            and a - b >= AGREEMENT_SIGMAS * (a + b) ** 0.5)


@dataclass(frozen=True)
class ReadingEvidence:
    """Counts over scored pixels (GT not ignored) that tell two prediction readings apart.

    Attributes
    ----------
    only_a, only_b : dict
        Prediction value -> pixels, for the values that only reading A (resp. B)
        sends to a class (the other sends them to the ignore index or out of range).
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
    def from_histogram(cls, pred_hist_scored: np.ndarray, codes_a: np.ndarray, codes_b: np.ndarray,
                       agree_a: int, agree_b: int) -> "ReadingEvidence":
        """Evidence from the histogram of raw prediction values on scored pixels and the two
        readings' prediction code tables (a code >= 0 is a class)."""
        hist = np.asarray(pred_hist_scored)
        v = np.flatnonzero(hist)
        ok_a, ok_b = _lookup(codes_a, v) >= 0, _lookup(codes_b, v) >= 0
        return cls({int(x): int(hist[x]) for x in v[ok_a & ~ok_b]},
                   {int(x): int(hist[x]) for x in v[ok_b & ~ok_a]}, int(agree_a), int(agree_b), int(hist.sum()))


@dataclass(frozen=True)
class ReadingDecision:
    """What :func:`decide_reading` found: ``choice`` 0 (reading A), 1 (reading B) or None
    (the data cannot tell), and the reason, one clause naming the evidence."""

    choice: int | None
    reason: str
    evidence: ReadingEvidence


def _values(d: dict) -> str:
    return listing([f"{v} ({c:,} px)" for v, c in sorted(d.items())], limit=4)


def decide_reading(ev: ReadingEvidence, names: tuple = ("class indices", "the GT's raw values"), *,
                   what: str = "scored pixels") -> ReadingDecision:
    """Which of two readings the predictions use: the one rule of ``pred_labels="auto"``.

    Parameters
    ----------
    ev : ReadingEvidence
    names : (str, str)
        How readings A and B are called in the reason.
    what : str
        What the counts are over (``"sampled scored pixels"`` for eval's sample).

    Returns
    -------
    ReadingDecision

    Notes
    -----
    1. Values: when predictions hold values on scored pixels that only one reading
       sends to a class (ADE20K: 0 only as class indices, K only as the GT's raw
       values; Cityscapes: 19..33 only as labelIds), and none that only the other
       does, that reading wins.
    2. Otherwise agreement: the reading whose classes equal the GT on clearly more
       scored pixels wins (:func:`clearly_more`: at least twice as many, by 1 % of
       the scored pixels and by five standard deviations of chance); a reading
       shifted by one class agrees on almost none.
    3. Otherwise the data cannot tell (``choice`` None).
    """
    only = (ev.only_a, ev.only_b)
    for j in (0, 1):
        if only[j] and not only[1 - j]:
            n = len(only[j])
            return ReadingDecision(j, f"prediction value{'s' if n > 1 else ''} {_values(only[j])} "
                                      f"{'occur' if n > 1 else 'occurs'} on scored pixels and only {names[j]} "
                                      f"allow {'them' if n > 1 else 'it'}", ev)
    pct = [100.0 * a / ev.scored if ev.scored else 0.0 for a in (ev.agree_a, ev.agree_b)]
    told = (f"read as {names[0]} the predictions agree with the ground truth on {pct[0]:.1f}% of {ev.scored:,} "
            f"{what}, read as {names[1]} on {pct[1]:.1f}%")
    for j, (a, b) in enumerate(((ev.agree_a, ev.agree_b), (ev.agree_b, ev.agree_a))):
        if clearly_more(a, b, ev.scored):
            return ReadingDecision(j, told, ev)
    both = f"; values only {names[0]} allow: {_values(ev.only_a)}; only {names[1]}: {_values(ev.only_b)}" \
        if ev.only_a and ev.only_b else ""
    return ReadingDecision(None, told + both, ev)


def _lookup(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``table[values]`` with BAD for values outside the table (a plain gather when all are inside)."""
    if values.size == 0:
        return np.zeros(0, dtype=np.int32)
    if values.dtype.kind == "u" and values.dtype.itemsize <= 2 and table.size >= 1 << (8 * values.dtype.itemsize):
        return table[values]
    lo, hi = int(values.min()), int(values.max())
    if lo >= 0 and hi < table.size:
        return table[values]
    v = values.astype(np.int64)
    inside = (v >= 0) & (v < table.size)
    out = np.full(v.shape, BAD, dtype=np.int32)
    out[inside] = table[v[inside]]
    return out


def decide_pred_labels(samples: Sequence[tuple[np.ndarray, np.ndarray]], *, rules_class_index: LabelRules,
                       rules_as_gt: LabelRules) -> tuple[str, str]:
    """Decide how predictions are written (``pred_labels="auto"``) from sample images.

    Parameters
    ----------
    samples : sequence of (gt, pred) integer arrays
        Decoded label maps of a few images (same shape within a pair).
    rules_class_index, rules_as_gt : LabelRules
        The rules under each reading (same ground-truth side).

    Returns
    -------
    (str, str)
        ``"class-index"`` or ``"as-gt"``, and the reason, one clause.

    Raises
    ------
    InputError
        The sample has no scored pixel, or neither reading is clearly right; the
        message names both options.

    Notes
    -----
    :func:`decide_reading` decides on the counts of the sampled scored pixels (a value
    is *allowed* by a reading when it is a class under it, or a void prediction where
    ``void_predictions="miss"``).  An unlucky sample cannot give a silently wrong
    number: values the chosen reading does not allow are errors in the full run.
    """
    gcodes = rules_class_index.gt_codes(FILE_TABLE_SIZE)
    tables = [r.pred_codes(FILE_TABLE_SIZE) for r in (rules_class_index, rules_as_gt)]
    scored_total = 0
    agree = [0, 0]
    counts: dict = {}
    for gt, pred in samples:
        g = _lookup(gcodes, np.asarray(gt).ravel())
        scored = g >= 0
        if not scored.any():
            continue
        gc = g[scored]
        pv = np.asarray(pred).ravel()[scored]
        scored_total += int(gc.size)
        if pv.dtype.kind == "u" and pv.dtype.itemsize <= 2:  # the values present, without a sort
            n = np.bincount(pv)
            values = np.flatnonzero(n)
            n = n[values]
        else:
            values, n = np.unique(pv, return_counts=True)
        for v, c in zip(values.tolist(), n.tolist()):
            counts[v] = counts.get(v, 0) + c
        for j, table in enumerate(tables):
            agree[j] += int(np.count_nonzero(_lookup(table, pv) == gc))
    if scored_total == 0:
        raise InputError("pred_labels='auto' cannot decide how the predictions are written: the sampled "
                         "images have no scored ground-truth pixel; pass pred_labels='class-index' or 'as-gt'")
    values = np.array(sorted(counts), dtype=np.int64)
    ok = [_lookup(t, values) >= 0 for t in tables]
    ev = ReadingEvidence({int(v): counts[v] for v in values[ok[0] & ~ok[1]].tolist()},
                         {int(v): counts[v] for v in values[ok[1] & ~ok[0]].tolist()},
                         agree[0], agree[1], scored_total)
    decision = decide_reading(ev, ("class indices", "the ground truth's raw values"),
                              what="sampled scored pixels")
    if decision.choice is not None:
        return ("class-index", "as-gt")[decision.choice], decision.reason
    raise InputError(f"pred_labels='auto' cannot tell how the predictions are written: {decision.reason}; pass "
                     f"pred_labels='class-index' or 'as-gt' (CLI: --pred-labels)")
