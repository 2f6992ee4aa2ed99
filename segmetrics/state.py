"""Evaluation states (fields declared once, mergeable) and the run-state file.

A state holds the sums an evaluation needs and nothing else; every count is
written by the state's own methods (``add_*``, :meth:`merge`), and the metrics
are computed from it afterwards.  Each state class declares its fields once, in
``FIELDS`` (the model is torchmetrics' ``add_state``): name, dtype, shape rule,
reduction and group.  Saving, loading, merging and copying all follow that
table, so a field added there (a later feature's counts) is saved, loaded and
merged with no other change.

Shape symbols: ``K`` classes / categories, ``K+1`` with the void column,
``N`` images (rows of per-image fields), ``M`` matches, ``C`` matches under
the variant rules of :mod:`segmetrics.conventions`, integers literally.

Reductions
----------
* ``sum``: integer counts, added.  Associative and commutative exactly.
* ``cat``: rows along the image axis (``N``) or the match axis (``M``),
  concatenated.  Rows are kept in a canonical order, so that a state does not
  depend on the order in which images, threads, shards or merges came:
  image rows ascending by image id (integers by value, before strings by
  text, see :func:`id_key`); match rows by image row (keeping each image's
  own order), or, without per-image rows, by ``(category, IoU)``; variant
  matches by ``(variant, category, IoU)``.  Float sums
  are only ever taken with :func:`math.fsum` over a category's or an image's
  matches, which is correctly rounded, hence order-free.
* Warnings (one line each, from the per-image scoring) are kept sorted.

Groups
------
``counts`` (always), ``per_image`` (per-image rows, the image id of each,
and the image of each match; the CLI's ``--save-state`` always keeps it) and
``digest`` (a SHA-256 of each image's ground truth, folder runs only) and
``conventions`` (what other tools' rules need beyond the counts, when a run
asks for them: semantic pixels with labels outside ``[0, K)`` counted apart,
panoptic counts and matches under the variant matching rules of
:mod:`segmetrics.conventions`).  Later features add their own groups (documented in ``docs/json_schema.md``):
``boundary`` (boundary intersection / union per class, boundary-PQ counts and
PQ-dagger sums), ``boundary_image`` (the same per image), ``slices`` and
``shard``.  A group is either present with all its fields or absent.

Run-state file (``.smstate``)
-----------------------------
A zip archive (deflate) that is read without pickle: a JSON header
(``header.json``), the image ids and warnings as JSON (``image_ids.json``,
``warnings.json``), each field as a ``.npy`` member read with
``numpy.lib.format.read_array(allow_pickle=False)`` after its size, dtype and
shape were checked against the header, and ``checksum.sha256``: SHA-256 over
every other member (name, length, bytes, in name order).  A wrong format name,
a newer format version, a bad checksum or a truncated file is a
:class:`~segmetrics.errors.FormatError` naming the file.  Writing is
deterministic: the same state gives the same bytes.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from ._version import __version__
from .conventions import PANOPTIC_VARIANTS
from .errors import DataFileError, FormatError, InputError
from .pq import iou_sums as _iou_sums

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SUFFIX",
    "Field",
    "id_key",
    "SemanticState",
    "PanopticState",
    "write_state_file",
    "read_state_file",
    "fingerprint",
    "image_counts",
]

FORMAT_NAME = "segmetrics-run-state"
FORMAT_VERSION = 1
SUFFIX = ".smstate"
_DIGEST = 32
_MAX_JSON = 1 << 28  # bytes a JSON member may declare
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Field:
    """One field of a state.

    Attributes
    ----------
    name : str
    dtype : str
        numpy dtype name.
    shape : tuple
        Shape rule: ``"K"``, ``"K+1"``, ``"N"``, ``"M"``, ``"C"`` or integers.
    reduce : {"sum", "cat"}
    group : str
    doc : str
    """

    name: str
    dtype: str
    shape: tuple
    reduce: str
    group: str
    doc: str

    def concrete_shape(self, k: int, n: int = 0, m: int = 0, c: int = 0) -> tuple:
        sizes = {"K": k, "K+1": k + 1, "N": n, "M": m, "C": c}
        return tuple(sizes[s] if isinstance(s, str) else s for s in self.shape)


def id_key(image_id: Any) -> tuple:
    """Sort key of image ids: integers by value, then everything else by its text."""
    if isinstance(image_id, (int, np.integer)) and not isinstance(image_id, (bool, np.bool_)):
        return (0, int(image_id), "")
    return (1, 0, str(image_id))


def _json_id(image_id: Any) -> Any:
    """An image id as JSON keeps it: int or str (numpy ints become ints, other types their text)."""
    if isinstance(image_id, (int, np.integer)) and not isinstance(image_id, (bool, np.bool_)):
        return int(image_id)
    return image_id if isinstance(image_id, str) else str(image_id)


def _shown(ids: list) -> str:
    return ", ".join(repr(i) for i in ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


class _State:
    """Machinery shared by the states: the field table drives storage, merge, copy and files."""

    TASK = ""
    FIELDS: tuple = ()

    def __init__(self, num_classes: int, *, per_image: bool = False, digest: bool = False,
                 conventions: bool = False) -> None:
        if digest and not per_image:
            raise InputError("per-image GT digests need per-image rows (per_image=True)")
        self.num_classes = int(num_classes)
        groups = {"counts"} | ({"per_image"} if per_image else set()) | ({"digest"} if digest else set()) \
            | ({"conventions"} if conventions else set())
        self.groups = frozenset(groups)
        self._sums: dict[str, np.ndarray] = {}
        self._blocks: dict[str, list] = {}
        for f in self._fields():
            if f.reduce == "sum":  # a scalar sum is a numpy scalar: cheaper to add to than a 0-d array
                shape = f.concrete_shape(self.num_classes)
                self._sums[f.name] = np.zeros(shape, dtype=f.dtype) if shape else np.dtype(f.dtype).type(0)
            else:
                self._blocks[f.name] = []
        self._ids: list = []
        self._id_keys: set = set()
        self._warnings: list[str] = []
        self._canonical = True

    # ---- the table
    def _fields(self) -> list:
        return [f for f in self.FIELDS if f.group in self.groups]

    @classmethod
    def field(cls, name: str) -> Field:
        return next(f for f in cls.FIELDS if f.name == name)

    @property
    def per_image_kept(self) -> bool:
        return "per_image" in self.groups

    @property
    def conventions_kept(self) -> bool:
        """Whether the state holds the ``conventions`` field group."""
        return "conventions" in self.groups

    # ---- reading
    def __getattr__(self, name: str):
        # sums and concatenated fields read as attributes (state.confusion, state.image_tp, ...)
        d = self.__dict__
        if name in d.get("_sums", {}):
            return d["_sums"][name]
        if name in d.get("_blocks", {}):
            return self._array(name)
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def _array(self, name: str) -> np.ndarray:
        self._canonicalize()
        blocks = self._blocks[name]
        if not blocks:
            f = self.field(name)
            return np.zeros(f.concrete_shape(self.num_classes), dtype=f.dtype)
        return blocks[0]

    @property
    def image_ids(self) -> list:
        """Image ids of the per-image rows, in the canonical order (empty without per-image rows)."""
        self._canonicalize()
        return list(self._ids)

    @property
    def warnings(self) -> list:
        """Per-image warnings, sorted."""
        self._canonicalize()
        return list(self._warnings)

    @property
    def num_images(self) -> int:
        return int(self._sums["num_images"])

    # ---- writing (private: the public add_* methods of the subclasses call these)
    def check_new_ids(self, ids: list) -> list:
        """Raise :class:`InputError` unless ``ids`` are distinct and new to this state; returns their keys."""
        keys = [id_key(i) for i in ids]
        dup = [i for i, key in zip(ids, keys) if key in self._id_keys]
        if len(set(keys)) != len(keys) or dup:
            shown = dup or [i for i, key in zip(ids, keys) if keys.count(key) > 1]
            raise InputError(f"duplicate image ids {_shown(shown)}: per-image rows need distinct image ids")
        return keys

    def _add_rows(self, ids: list, keys: list, rows: dict) -> int:
        """Append per-image rows (``rows``: field -> (n, ...) array); returns the first row index."""
        first = len(self._ids)
        self._ids.extend(_json_id(i) for i in ids)
        self._id_keys.update(keys)
        for name, arr in rows.items():
            if name in self._blocks:
                self._blocks[name].append(np.asarray(arr, dtype=self.field(name).dtype))
        self._canonical = False
        return first

    def _add_blocks(self, rows: dict) -> None:
        for name, arr in rows.items():
            if name in self._blocks:
                self._blocks[name].append(np.asarray(arr, dtype=self.field(name).dtype))
        self._canonical = False

    def add_warnings(self, lines: Iterable[str]) -> None:
        """Add data warnings (one line each; kept sorted)."""
        lines = list(lines)
        if lines:
            self._warnings.extend(str(x) for x in lines)
            self._canonical = False

    def _canonicalize(self) -> None:
        if self._canonical:
            return
        arrays = {}
        for name, blocks in self._blocks.items():
            f = self.field(name)
            arrays[name] = (np.concatenate(blocks) if len(blocks) > 1 else blocks[0]) if blocks else \
                np.zeros(f.concrete_shape(self.num_classes), dtype=f.dtype)
        image_fields = [f.name for f in self._fields() if f.reduce == "cat" and f.shape[0] == "N"]
        match_fields = [f.name for f in self._fields() if f.reduce == "cat" and f.shape[0] == "M"]
        if self.per_image_kept:
            keys = [id_key(i) for i in self._ids]
            order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
            self._ids = [self._ids[i] for i in order.tolist()]
            for name in image_fields:
                arrays[name] = arrays[name][order]
            if "match_image" in arrays:
                inverse = np.empty(order.size, dtype=np.int64)
                inverse[order] = np.arange(order.size, dtype=np.int64)
                arrays["match_image"] = inverse[arrays["match_image"]]
                morder = np.argsort(arrays["match_image"], kind="stable")
                for name in match_fields:
                    arrays[name] = arrays[name][morder]
        elif "match_cat" in arrays:
            morder = np.lexsort((arrays["match_iou"], arrays["match_cat"]))
            for name in match_fields:
                arrays[name] = arrays[name][morder]
        if "conv_match_cat" in arrays:
            corder = np.lexsort((arrays["conv_match_iou"], arrays["conv_match_cat"], arrays["conv_match_var"]))
            for name in [f.name for f in self._fields() if f.reduce == "cat" and f.shape[0] == "C"]:
                arrays[name] = arrays[name][corder]
        self._blocks = {name: [np.ascontiguousarray(arr)] for name, arr in arrays.items()}  # all 1-D or more
        self._warnings.sort()
        self._canonical = True

    # ---- merge, copy, arrays
    def _compatible(self, other: "_State") -> None:
        if type(other) is not type(self):
            raise InputError(f"can only merge a {type(self).__name__}, got {type(other).__name__}")
        if other.num_classes != self.num_classes:
            raise InputError(f"cannot merge states of {other.num_classes} and {self.num_classes} classes")
        if other.groups != self.groups:
            extra = sorted(self.groups ^ other.groups)
            raise InputError(f"cannot merge states that keep different fields ({', '.join(extra)} in only one "
                             "of them; per_image differs?)")

    def merge(self, other: "_State") -> "_State":
        """Add ``other`` into this state (in place) and return self.

        Raises :class:`InputError` when the states hold different classes or
        fields, or when both have per-image rows for one image id.  The result
        does not depend on the merge order, bit for bit.
        """
        self._compatible(other)
        if other is self:
            raise InputError("cannot merge a state into itself (every image would count twice)")
        other_ids = other.image_ids
        if self.per_image_kept:
            keys = [id_key(i) for i in other_ids]
            dup = [i for i, key in zip(other_ids, keys) if key in self._id_keys]
            if dup:
                raise InputError(f"cannot merge: both states hold image ids {_shown(dup)}")
        offset = len(self._ids)
        for name, arr in other._sums.items():
            self._sums[name] += arr
        rows = {name: other._array(name) for name in other._blocks}
        if "match_image" in rows:
            rows["match_image"] = rows["match_image"] + offset
        self._ids.extend(other_ids)
        self._id_keys.update(id_key(i) for i in other_ids)
        self._add_blocks(rows)
        self.add_warnings(other.warnings)
        return self

    def to_arrays(self) -> dict:
        """Every field as an array (canonical order), plus ``image_ids`` and ``warnings`` lists."""
        self._canonicalize()
        out = {name: arr.copy() for name, arr in self._sums.items()}
        out.update({name: self._array(name).copy() for name in self._blocks})
        out["image_ids"] = list(self._ids)
        out["warnings"] = list(self._warnings)
        return out

    @classmethod
    def from_arrays(cls, num_classes: int, arrays: dict, *, groups: Iterable[str] = ("counts",)) -> "_State":
        """The inverse of :meth:`to_arrays`; shapes and dtypes are checked (:class:`InputError`)."""
        groups = set(groups)
        unknown = groups - {f.group for f in cls.FIELDS}
        if unknown:
            raise InputError(f"{cls.__name__} has no field group {sorted(unknown)}")
        state = cls(num_classes, per_image="per_image" in groups, digest="digest" in groups,
                    conventions="conventions" in groups)
        ids = list(arrays.get("image_ids", []))
        n = len(ids) if state.per_image_kept else 0
        m = int(np.asarray(arrays.get("match_cat", np.zeros(0))).shape[0]) if "match_cat" in state._blocks else 0
        c = int(np.asarray(arrays.get("conv_match_cat", np.zeros(0))).shape[0]) \
            if "conv_match_cat" in state._blocks else 0
        for f in state._fields():
            if f.name not in arrays:
                raise InputError(f"field {f.name!r} is missing")
            arr = np.asarray(arrays[f.name])
            want = f.concrete_shape(state.num_classes, n, m, c)
            if arr.shape != want or arr.dtype != np.dtype(f.dtype):
                raise InputError(f"field {f.name!r} must be {f.dtype} of shape {want}, got {arr.dtype} {arr.shape}")
            if f.reduce == "sum":
                state._sums[f.name] = arr.copy() if arr.shape else arr.dtype.type(arr)
            elif arr.shape[0]:
                state._blocks[f.name] = [arr.copy()]
        if state.per_image_kept:
            if state.num_images != n:
                raise InputError(f"{n} per-image rows for num_images={state.num_images}")
            keys = state.check_new_ids(ids)
            state._ids = [_json_id(i) for i in ids]
            state._id_keys = set(keys)
            if "match_image" in state._blocks and m and (
                    arrays["match_image"].min() < 0 or arrays["match_image"].max() >= n):
                raise InputError("match_image points outside the image rows")
        if "match_cat" in state._blocks and m and (
                arrays["match_cat"].min() < 0 or arrays["match_cat"].max() >= state.num_classes):
            raise InputError("match_cat holds a category outside [0, K)")
        if "conv_match_cat" in state._blocks and c and (
                arrays["conv_match_cat"].min() < 0 or arrays["conv_match_cat"].max() >= state.num_classes
                or arrays["conv_match_var"].min() < 0 or arrays["conv_match_var"].max() >= len(PANOPTIC_VARIANTS)):
            raise InputError("conv_match_cat / conv_match_var hold a category or variant out of range")
        state._warnings = [str(w) for w in arrays.get("warnings", [])]
        state._canonical = False
        state._canonicalize()
        return state

    def copy(self) -> "_State":
        """An independent copy."""
        return self.from_arrays(self.num_classes, self.to_arrays(), groups=self.groups)

    def fingerprint(self, extra: bytes = b"") -> str | None:
        """``sha256:<hex>`` of the image ids and their GT digests (None without digests); see :func:`fingerprint`."""
        if "digest" not in self.groups:
            return None
        return fingerprint(self.image_ids, self._array("image_digest"), extra)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(num_classes={self.num_classes}, num_images={self.num_images}, "
                f"groups={sorted(self.groups)})")


def fingerprint(image_ids: list, digests: np.ndarray, extra: bytes = b"") -> str:
    """The dataset fingerprint: SHA-256 over ``extra`` and, per image in canonical id order,
    the id as JSON text, a NUL byte and the image's 32-byte GT digest.

    It depends only on what was scored (not on paths or on the order of files,
    threads or shards), and the fingerprint of merged shards equals the
    fingerprint of the whole run.
    """
    order = sorted(range(len(image_ids)), key=lambda i: id_key(image_ids[i]))
    h = hashlib.sha256(extra)
    for i in order:
        h.update(json.dumps(_json_id(image_ids[i])).encode("ascii") + b"\0")
        d = digests[i]
        h.update(bytes(d) if isinstance(d, (bytes, bytearray)) else np.asarray(d, dtype=np.uint8).tobytes())
    return "sha256:" + h.hexdigest()


# ----------------------------------------------------------------------------- semantic
_IMAGE_DIGEST = Field("image_digest", "uint8", ("N", _DIGEST), "cat", "digest",
                      "SHA-256 of each image's ground truth (see segmetrics.folders)")
_IMAGE_MISSING = Field("image_missing", "bool", ("N",), "cat", "per_image",
                       "the image had no prediction (scored as all-void)")


def image_counts(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tp, fp, fn)`` per class of one image's (K, K) matrix: the diagonal, column sums minus it,
    row sums minus it."""
    tp = np.diag(cm).copy()
    return tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp


class SemanticState(_State):
    """Sums of a semantic evaluation: a confusion matrix, void pixels, per-image TP / FP / FN.

    Notes
    -----
    ``confusion[i, j]`` counts pixels of GT class ``i`` predicted ``j``;
    ``void[i]`` GT pixels of class ``i`` predicted as void (a prediction equal to
    the ignore index under ``void_predictions="miss"``) and ``missing[i]`` GT
    pixels of class ``i`` in images without prediction: both are false
    negatives of ``i`` and false positives of no class.  Per image: ``tp = diag``, ``fp = column sums - tp``,
    ``fn = row sums - tp`` (void pixels included).
    """

    TASK = "semantic"
    FIELDS = (
        Field("num_images", "int64", (), "sum", "counts", "images counted"),
        Field("confusion", "int64", ("K", "K"), "sum", "counts", "rows = GT class, columns = predicted class"),
        Field("void", "int64", ("K",), "sum", "counts", "GT pixels per class predicted as void"),
        Field("missing", "int64", ("K",), "sum", "counts", "GT pixels per class of images without prediction"),
        Field("image_tp", "int64", ("N", "K"), "cat", "per_image", "true-positive pixels per image and class"),
        Field("image_fp", "int64", ("N", "K"), "cat", "per_image", "false-positive pixels per image and class"),
        Field("image_fn", "int64", ("N", "K"), "cat", "per_image", "false-negative pixels per image and class"),
        _IMAGE_MISSING,
        _IMAGE_DIGEST,
        Field("dropped_gt", "int64", ("K+1",), "sum", "conventions",
              "pixels per predicted class (K: a prediction outside [0, K) too) whose GT label is outside [0, K) "
              "and not ignored (out_of_range='drop')"),
        Field("dropped_pred", "int64", ("K",), "sum", "conventions",
              "GT pixels per class predicted outside [0, K) and not as the ignore index (out_of_range='drop')"),
    )

    def _fold(self, cm: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, dict]:
        """A (K, K), void-column (K+1, K+1) or dropped-label (K+2, K+2) matrix (see
        :class:`~segmetrics.labels.LabelRules`) as (K x K counts, void vector or None,
        the ``conventions`` sums or {})."""
        k = self.num_classes
        if cm.shape == (k + 2, k + 2):
            if not self.conventions_kept:
                raise InputError("labels outside [0, K) were counted apart (out_of_range='drop'): the state needs "
                                 "the conventions field group")
            dropped_gt = np.append(cm[k + 1, :k], cm[k + 1, k:].sum())
            return cm[:k, :k], cm[:k, k], {"dropped_gt": dropped_gt, "dropped_pred": cm[:k, k + 1]}
        if cm.shape == (k + 1, k + 1):
            return cm[:k, :k], cm[:k, k], {}
        if cm.shape != (k, k):
            raise InputError(f"confusion matrix must be ({k}, {k}) or ({k + 1}, {k + 1}), got {cm.shape}")
        return cm, None, {}

    def _add_dropped(self, extra: dict) -> None:
        for name, arr in extra.items():
            self._sums[name] += arr

    def add_counted(self, count, num_images: int) -> tuple:
        """Let ``count(matrix)`` add images into the confusion matrix in place (the fast path).

        ``count`` returns the kernel's ``(bad_gt, bad_pred)`` pixel counts; when
        either is non-zero the call is undone (``count`` runs again on a scratch
        matrix, which is subtracted) and the flags are returned for the caller's
        error.  Only for states without per-image rows.
        """
        if self.per_image_kept:
            raise InputError("a state with per-image rows takes images one by one (add_image)")
        cm = self._sums["confusion"]
        bad = count(cm)
        if bad[0] or bad[1]:
            undo = np.zeros_like(cm)
            count(undo)
            cm -= undo
            return bad
        self._sums["num_images"] += num_images
        return bad

    def add_image(self, cm, *, image_id: Any = None, missing: bool = False, digest: bytes | None = None) -> None:
        """Add one image's confusion matrix ((K, K), or (K+1, K+1) with the void column, or
        (K+2, K+2) with labels outside [0, K) counted apart)."""
        counts, void, extra = self._fold(np.asarray(cm, dtype=np.int64))
        rows = None
        if self.per_image_kept:
            keys = self.check_new_ids([image_id])
            tp, fp, fn = image_counts(counts)
            if void is not None:
                fn = fn + void
            if extra:  # as the kernels count them: predictions on dropped GT are false positives
                fn = fn + extra["dropped_pred"]
                fp = fp + extra["dropped_gt"][:-1]
            rows = {"image_tp": tp[None], "image_fp": fp[None], "image_fn": fn[None],
                    "image_missing": np.array([missing])}
            if "digest" in self.groups:
                rows["image_digest"] = _digest_rows([digest])
        self._sums["confusion"] += counts
        if void is not None:
            self._sums["missing" if missing else "void"] += void
        self._add_dropped(extra)
        self._sums["num_images"] += 1
        if rows is not None:
            self._add_rows([image_id], keys, rows)

    def add_sums(self, sums, image_ids: list, *, missing: bool = False, digests: list | None = None) -> None:
        """Add what the folder engine returned for ``image_ids`` (a ``SemanticSums``).

        ``sums.confusion`` is (K, K), or (K+1, K+1) when the engine counted the
        void column, or (K+2, K+2) with labels outside [0, K) counted apart;
        per-image rows (``sums.image_tp`` ...) are in the order of ``image_ids``.
        """
        counts, void, extra = self._fold(np.asarray(sums.confusion, dtype=np.int64))
        rows = None
        k = self.num_classes
        if self.per_image_kept:
            if sums.image_tp is None:
                raise InputError("these sums have no per-image rows (run the engine with per_image=True)")
            keys = self.check_new_ids(list(image_ids))
            rows = {"image_tp": sums.image_tp[:, :k], "image_fp": sums.image_fp[:, :k],
                    "image_fn": sums.image_fn[:, :k], "image_missing": np.full(len(image_ids), bool(missing))}
            if "digest" in self.groups:
                rows["image_digest"] = _digest_rows(digests)
        self._sums["confusion"] += counts
        if void is not None:
            self._sums["missing" if missing else "void"] += void
        self._add_dropped(extra)
        self._sums["num_images"] += int(sums.num_images)
        if rows is not None:
            self._add_rows(list(image_ids), keys, rows)

    @property
    def per_image(self) -> list | None:
        """Per-image rows as dicts ``{image_id, tp, fp, fn}`` (canonical order), or None."""
        if not self.per_image_kept:
            return None
        tp, fp, fn = self.image_tp, self.image_fp, self.image_fn
        return [{"image_id": i, "tp": tp[j], "fp": fp[j], "fn": fn[j]} for j, i in enumerate(self.image_ids)]


def _digest_rows(digests) -> np.ndarray:
    if digests is None or any(d is None for d in digests):
        raise InputError("this state keeps per-image GT digests: pass one 32-byte digest per image")
    out = np.frombuffer(b"".join(bytes(d) for d in digests), dtype=np.uint8)
    if out.size != _DIGEST * len(digests):
        raise InputError("GT digests must be 32 bytes (SHA-256)")
    return out.reshape(len(digests), _DIGEST)


# ----------------------------------------------------------------------------- panoptic
class PanopticState(_State):
    """Sums of a panoptic evaluation: per-category TP / FP / FN, the match IoUs, the category-map matrix.

    Notes
    -----
    ``match_cat`` / ``match_iou`` list every true positive (its dense category
    and IoU); ``iou_sum`` of a category is :func:`math.fsum` of its IoUs.
    ``confusion`` is the (K+1) x (K+1) pixel matrix of the painted category
    maps (row / column K: void).  With per-image rows, ``match_image`` gives
    each match's image row, so per-image IoU sums follow the same way.
    """

    TASK = "panoptic"
    FIELDS = (
        Field("num_images", "int64", (), "sum", "counts", "images counted"),
        Field("tp", "int64", ("K",), "sum", "counts", "matched segments per category"),
        Field("fp", "int64", ("K",), "sum", "counts", "unmatched predicted segments per category"),
        Field("fn", "int64", ("K",), "sum", "counts", "unmatched GT segments per category"),
        Field("confusion", "int64", ("K+1", "K+1"), "sum", "counts", "category-map pixels; row / column K: void"),
        Field("match_cat", "int64", ("M",), "cat", "counts", "dense category of each match"),
        Field("match_iou", "float64", ("M",), "cat", "counts", "IoU of each match"),
        Field("match_image", "int64", ("M",), "cat", "per_image", "image row of each match"),
        Field("image_tp", "int64", ("N", "K"), "cat", "per_image", "matched segments per image and category"),
        Field("image_fp", "int64", ("N", "K"), "cat", "per_image", "unmatched predictions per image and category"),
        Field("image_fn", "int64", ("N", "K"), "cat", "per_image", "unmatched GT segments per image and category"),
        _IMAGE_MISSING,
        _IMAGE_DIGEST,
        Field("conv_tp", "int64", (len(PANOPTIC_VARIANTS), "K"), "sum", "conventions",
              "matched segments per variant of the matching rules and category"),
        Field("conv_fp", "int64", (len(PANOPTIC_VARIANTS), "K"), "sum", "conventions",
              "unmatched predicted segments per variant and category"),
        Field("conv_fn", "int64", (len(PANOPTIC_VARIANTS), "K"), "sum", "conventions",
              "unmatched GT segments per variant and category"),
        Field("conv_match_var", "int64", ("C",), "cat", "conventions", "variant of each variant match"),
        Field("conv_match_cat", "int64", ("C",), "cat", "conventions", "dense category of each variant match"),
        Field("conv_match_iou", "float64", ("C",), "cat", "conventions", "IoU of each variant match"),
    )

    def _add_variants(self, variants) -> None:
        """The variant sums ``(tp, fp, fn, match_var, match_cat, match_iou)`` of an image or a run."""
        if not self.conventions_kept:
            return
        if variants is None:
            raise InputError("this state keeps the conventions field group: count the images with the variant "
                             "rules (variants=segmetrics.conventions.PANOPTIC_VARIANTS)")
        tp, fp, fn, m_var, m_cat, m_iou = variants
        self._sums["conv_tp"] += tp
        self._sums["conv_fp"] += fp
        self._sums["conv_fn"] += fn
        self._add_blocks({"conv_match_var": m_var, "conv_match_cat": m_cat, "conv_match_iou": m_iou})

    def add_image(self, stats, *, missing: bool = False, digest: bytes | None = None) -> None:
        """Add one image's statistics (an ``ImageStats`` of the per-image scoring)."""
        k = self.num_classes
        if np.shape(stats.tp) != (k,):
            raise InputError("these image statistics were computed for other categories")
        rows: dict = {"match_cat": stats.match_cat, "match_iou": stats.match_iou}
        keys = None
        if self.per_image_kept:
            keys = self.check_new_ids([stats.image_id])
            rows.update(image_tp=stats.tp[None], image_fp=stats.fp[None], image_fn=stats.fn[None],
                        image_missing=np.array([missing]))
            if "digest" in self.groups:
                rows["image_digest"] = _digest_rows([digest])
        self._sums["tp"] += stats.tp
        self._sums["fp"] += stats.fp
        self._sums["fn"] += stats.fn
        np.add.at(self._sums["confusion"].reshape(-1), stats.confusion_index, stats.confusion_count)
        self._add_variants(stats.variants)
        self._sums["num_images"] += 1
        if keys is not None:
            first = self._add_rows([stats.image_id], keys, {})
            rows["match_image"] = np.full(stats.match_cat.size, first, dtype=np.int64)
        self._add_blocks(rows)
        self.add_warnings(stats.warnings)

    def add_sums(self, sums, image_ids: list, *, missing=None, digests: list | None = None) -> None:
        """Add what the folder engine returned (a ``PanopticSums``) for ``image_ids`` (its items' ids).

        ``missing`` flags the images scored without prediction (one bool per image).
        """
        n = len(image_ids)
        rows: dict = {"match_cat": sums.match_cat, "match_iou": sums.match_iou}
        keys = None
        if self.per_image_kept:
            if sums.image_tp is None:
                raise InputError("these sums have no per-image rows (run the engine with per_image=True)")
            keys = self.check_new_ids(list(image_ids))
            flags = np.zeros(n, dtype=bool) if missing is None else np.asarray(missing, dtype=bool)
            image_rows = {"image_tp": sums.image_tp, "image_fp": sums.image_fp, "image_fn": sums.image_fn,
                          "image_missing": flags}
            if "digest" in self.groups:
                image_rows["image_digest"] = _digest_rows(digests)
        self._sums["tp"] += sums.tp
        self._sums["fp"] += sums.fp
        self._sums["fn"] += sums.fn
        self._sums["confusion"] += sums.confusion
        self._add_variants(getattr(sums, "variants", None))
        self._sums["num_images"] += int(sums.num_images)
        if keys is not None:
            first = self._add_rows(list(image_ids), keys, image_rows)
            rows["match_image"] = np.asarray(sums.match_image, dtype=np.int64) + first
        self._add_blocks(rows)
        self.add_warnings(sums.warnings)

    def iou_sum(self) -> np.ndarray:
        """Per-category sum of match IoUs (correctly rounded, order independent)."""
        return _iou_sums(self.match_cat, self.match_iou, self.num_classes)

    def image_iou_sum(self) -> np.ndarray | None:
        """``(N, K)`` per-image, per-category IoU sums (None without per-image rows)."""
        if not self.per_image_kept:
            return None
        return _iou_sums(self.match_cat, self.match_iou, self.num_classes, match_image=self.match_image,
                         num_images=len(self.image_ids))

    @property
    def per_image(self) -> list | None:
        """Per-image rows as dicts ``{image_id, tp, fp, fn, iou_sum}`` (canonical order), or None."""
        if not self.per_image_kept:
            return None
        tp, fp, fn, iou = self.image_tp, self.image_fp, self.image_fn, self.image_iou_sum()
        return [{"image_id": i, "tp": tp[j], "fp": fp[j], "fn": fn[j], "iou_sum": iou[j]}
                for j, i in enumerate(self.image_ids)]


_STATES = {cls.TASK: cls for cls in (SemanticState, PanopticState)}


# ----------------------------------------------------------------------------- the file
def _member_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr).copy(order="C"), allow_pickle=False)
    return buf.getvalue()


def _checksum(members: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(members):
        data = members[name]
        h.update(name.encode("utf-8") + b"\0" + len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def write_state_file(path, state: _State, header: dict) -> None:
    """Write ``state`` and the JSON-ready ``header`` (task-level facts: params, classes,
    dataset, notes) to ``path`` atomically (a temporary file, then a rename)."""
    arrays = state.to_arrays()
    ids, warnings = arrays.pop("image_ids"), arrays.pop("warnings")
    head = dict(header)
    counts = {"images": len(ids), "matches": int(arrays["match_cat"].shape[0]) if "match_cat" in arrays else 0}
    if "conv_match_cat" in arrays:
        counts["conv_matches"] = int(arrays["conv_match_cat"].shape[0])
    head.update(format=FORMAT_NAME, version=FORMAT_VERSION, segmetrics_version=__version__, task=state.TASK,
                num_classes=state.num_classes, groups=sorted(state.groups), counts=counts)
    members = {
        "header.json": json.dumps(head, allow_nan=False).encode("ascii"),  # key order kept: reports follow it
        "image_ids.json": json.dumps(ids).encode("ascii"),
        "warnings.json": json.dumps(warnings).encode("ascii"),
    }
    for name, arr in arrays.items():
        members[name + ".npy"] = _member_bytes(arr)
    members["checksum.sha256"] = _checksum(members).encode("ascii")
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(members):
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, members[name], compresslevel=6)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise InputError(f"cannot write the state file {path}: {exc.strerror or exc}") from None


def _read_member(zf: zipfile.ZipFile, name: str, limit: int, path: str) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise FormatError(f"{path}: member {name} is missing (not a complete segmetrics state file)") from None
    if info.file_size > limit:
        raise FormatError(f"{path}: member {name} declares {info.file_size} bytes, more than its header allows")
    return zf.read(name)


def read_state_file(path) -> tuple[dict, _State]:
    """Read a run-state file; returns ``(header, state)``.

    Raises
    ------
    FormatError
        Not a segmetrics state file, a newer format version, a truncated or
        corrupted file (bad CRC or checksum), fields of the wrong shape.
    DataFileError
        The file cannot be opened.
    """
    path = os.fspath(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DataFileError(f"state file not found: {path}") from None
    except IsADirectoryError:
        raise DataFileError(f"{path} is a folder, not a state file") from None
    except PermissionError as exc:
        raise DataFileError(f"cannot read {path}: {exc.strerror}") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise FormatError(f"{path} is not a segmetrics state file (not a complete zip archive: "
                          "truncated or another kind of file)") from None
    try:
        with zf:
            return _read_open(zf, path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        if isinstance(exc, (FormatError, InputError)):
            raise
        raise FormatError(f"{path}: corrupted state file ({exc})") from None


def _read_open(zf: zipfile.ZipFile, path: str) -> tuple[dict, _State]:
    raw = _read_member(zf, "header.json", _MAX_JSON, path)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FormatError(f"{path}: the header is not JSON (corrupted state file)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise FormatError(f"{path} is not a segmetrics run-state file (format name missing or wrong)")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise FormatError(f"{path}: invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise FormatError(f"{path} was written in state format version {version} (segmetrics "
                          f"{header.get('segmetrics_version')}); this segmetrics {__version__} reads up to "
                          f"version {FORMAT_VERSION}: upgrade segmetrics")
    cls = _STATES.get(header.get("task"))
    if cls is None:
        raise FormatError(f"{path}: unknown task {header.get('task')!r}")
    try:
        k = int(header["num_classes"])
        groups = set(header["groups"])
        n = int(header["counts"]["images"])
        m = int(header["counts"]["matches"])
        c = int(header["counts"].get("conv_matches", 0))
    except (KeyError, TypeError, ValueError):
        raise FormatError(f"{path}: the header lacks num_classes, groups or counts") from None
    members = {"header.json": raw}
    members["image_ids.json"] = _read_member(zf, "image_ids.json", _MAX_JSON, path)
    members["warnings.json"] = _read_member(zf, "warnings.json", _MAX_JSON, path)
    fields = [f for f in cls.FIELDS if f.group in groups]
    arrays: dict = {}
    for f in fields:
        shape = f.concrete_shape(k, n, m, c)
        limit = int(np.prod(shape, dtype=np.int64)) * np.dtype(f.dtype).itemsize + 4096
        data = _read_member(zf, f.name + ".npy", limit, path)
        members[f.name + ".npy"] = data
        try:
            arr = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise FormatError(f"{path}: field {f.name} cannot be read ({exc})") from None
        if arr.shape != shape or arr.dtype != np.dtype(f.dtype):
            raise FormatError(f"{path}: field {f.name} is {arr.dtype} {arr.shape}, expected {f.dtype} {shape}")
        arrays[f.name] = arr
    stored = _read_member(zf, "checksum.sha256", 64, path).decode("ascii", "replace")
    if stored != _checksum(members):
        raise FormatError(f"{path}: checksum mismatch (the file was changed or corrupted after it was written)")
    try:
        arrays["image_ids"] = json.loads(members["image_ids.json"])
        arrays["warnings"] = json.loads(members["warnings.json"])
        state = cls.from_arrays(k, arrays, groups=groups)
    except (InputError, ValueError, TypeError) as exc:
        raise FormatError(f"{path}: inconsistent state file ({exc})") from None
    return header, state
