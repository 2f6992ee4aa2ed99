"""Evaluation states (fields declared once, mergeable) and the run-state file.

A state holds the sums an evaluation needs and nothing else; every count is
written by the state's own methods (``add_*``, :meth:`merge`), and the metrics
are computed from it afterwards.  Each state class declares its fields once, in
``FIELDS`` (the model is torchmetrics' ``add_state``): name, dtype, shape rule,
reduction and group.  Saving, loading, merging and copying all follow that
table, so a field added there (a later feature's counts) is saved, loaded and
merged with no other change.

Shape symbols: ``K`` classes / categories, ``K+1`` with the void column,
``N`` images (rows of per-image fields), ``M`` matches, ``B`` Boundary PQ
matches, ``P`` PQ-dagger stuff pairs, ``C`` per-image confusion cells, ``V``
matches under the variant rules of :mod:`segmetrics.conventions`, ``S``
shards, integers literally.

Reductions
----------
* ``sum``: integer counts, added.  Associative and commutative exactly.
* ``cat``: rows along the image axis (``N``) or the match axis (``M``),
  concatenated.  Rows are kept in a canonical order, so that a state does not
  depend on the order in which images, threads, shards or merges came:
  image rows ascending by image id (integers by value, before strings by
  text, see :func:`id_key`); match rows (``M``, ``B``) by image row (keeping
  each image's own order), or, without per-image rows, by ``(category, IoU)``;
  stuff pairs (``P``) by ``(category, IoU)`` (then image row, where the
  state has cells); cell rows by image row (each image's cells ascending by
  cell index); variant matches (``V``) by ``(variant, category, IoU)``.  Float sums
  are only ever taken with :func:`math.fsum` over a category's or an image's
  matches, which is correctly rounded, hence order-free.
* Warnings (one line each, from the per-image scoring) are kept sorted.

Groups
------
``counts`` (always), ``per_image`` (per-image rows, the image id of each,
and the image of each match; the CLI's ``--save-state`` always keeps it) and
``digest`` (a SHA-256 of each image's ground truth, folder runs only),
``cells`` (each image's non-zero confusion cells, so that an image can be taken
out again exactly: :meth:`~_State.drop_images`, used to count an image that two
torch.distributed ranks scored once; the array evaluators keep it with their
per-image rows, the folder engine does not, and a merge keeps it only when both
states have it) and ``shard`` (``shard_runs``: how often each of the ``S``
shards of a ``--shard I/S`` run was counted; a complete merge holds 1 for
each), ``dagger`` (panoptic, always in new states: PQ-dagger's stuff pairs
and GT segment counts), ``boundary`` (semantic band counts per class, Boundary
PQ counts and matches; runs with ``boundary=True``), ``boundary_image`` (the
same per image, with per-image rows) and ``conventions`` (what other tools'
rules need beyond the counts, when a folder run asks for them: semantic pixels
with labels outside ``[0, K)`` counted apart, panoptic counts and matches under
the variant matching rules of :mod:`segmetrics.conventions`; run-level sums
only, so never together with ``cells``).  Later features add their own groups
(documented in ``docs/json_schema.md``).  A group is either present with all
its fields or absent.  A slice manifest is no field group: the header keeps it
(``slices``, one value per image row).

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

import io
import os
import zipfile
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from ._sha import sha256
from ._version import __version__
from .conventions import PANOPTIC_VARIANTS
from .errors import DataFileError, FormatError, InputError
from .pq import iou_sums as _iou_sums
from ._text import listing

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
#: concatenated axes whose rows belong to an image: axis symbol -> the field holding each row's image row
_POINTERS = {"M": "match_image", "B": "bmatch_image", "P": "stuff_image", "C": "cell_image"}
#: list axes ordered by value when their rows have no image pointer: axis -> (category, IoU, outer keys...),
#: sorted by the outer keys first, then category, then IoU
_BY_VALUE = {"M": ("match_cat", "match_iou"), "B": ("bmatch_cat", "bmatch_iou"), "P": ("stuff_cat", "stuff_iou"),
             "V": ("conv_match_cat", "conv_match_iou", "conv_match_var")}
#: the length field and header ``counts`` name of each list axis (``S``, shards, is a sum axis)
_LISTS = {"M": ("match_cat", "matches"), "B": ("bmatch_cat", "boundary_matches"), "P": ("stuff_cat", "stuff_pairs"),
          "C": ("cell_count", "cells"), "V": ("conv_match_cat", "conv_matches")}
#: axes ordered by value even with image pointers (the image row then only breaks ties): the
#: stuff pairs, so that a state with cells lists them as one without
_ALWAYS_BY_VALUE = frozenset({"P"})


@dataclass(frozen=True)
class Field:
    """One field of a state.

    Attributes
    ----------
    name : str
    dtype : str
        numpy dtype name.
    shape : tuple
        Shape rule: ``"K"``, ``"K+1"``, ``"N"``, a list axis (``"M"``, ``"B"``, ``"P"``, ``"C"``,
        ``"V"``), ``"S"`` or integers.
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

    def concrete_shape(self, k: int, n: int = 0, lists: dict | None = None, s: int = 0) -> tuple:
        """The shape for ``k`` classes, ``n`` image rows, ``lists`` (list axis -> length), ``s`` shards."""
        sizes = {"K": k, "K+1": k + 1, "N": n, "S": s, **{axis: 0 for axis in _LISTS}}
        sizes.update(lists or {})
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


def _plain_json(image_id: int | str) -> str:
    """``json.dumps`` of a plain int or str id, without the encoder where no escape is needed."""
    if type(image_id) is int:
        return str(image_id)
    if image_id.isascii() and image_id.isprintable() and '"' not in image_id and "\\" not in image_id:
        return f'"{image_id}"'
    import json  # (on first use: 0.1 MB that a run with plain ids does without)

    return json.dumps(image_id)


def _shown(ids: list) -> str:
    return listing([repr(i) for i in ids[:5]], len(ids))


class _State:
    """Machinery shared by the states: the field table drives storage, merge, copy and files."""

    TASK = ""
    FIELDS: tuple = ()
    ALWAYS: frozenset = frozenset({"counts"})  # the groups every new state keeps

    def __init__(self, num_classes: int, *, per_image: bool = False, digest: bool = False, cells: bool = False,
                 shards: int | None = None, boundary: bool = False, conventions: bool = False) -> None:
        if (digest or cells) and not per_image:
            raise InputError("per-image GT digests and cells need per-image rows (per_image=True)")
        if cells and conventions:
            raise InputError("the conventions sums are run-level: a state with per-image cells cannot keep them")
        if shards is not None and (not isinstance(shards, (int, np.integer)) or shards < 1):
            raise InputError(f"shards must be a positive number of shards, got {shards!r}")
        groups = set(self.ALWAYS) | ({"per_image"} if per_image else set()) | ({"digest"} if digest else set()) \
            | ({"cells"} if cells else set()) | ({"shard"} if shards is not None else set()) \
            | ({"conventions"} if conventions else set())
        if boundary:
            groups |= {"boundary", "boundary_image"} if per_image else {"boundary"}
        self._setup(num_classes, groups, int(shards) if shards is not None else 0)

    def _setup(self, num_classes: int, groups: set, shards: int) -> None:
        self.num_classes = int(num_classes)
        self.num_shards = shards
        self.groups = frozenset(groups)
        self._sums: dict[str, np.ndarray] = {}
        self._blocks: dict[str, list] = {}
        for f in self._fields():
            if f.reduce == "sum":  # a scalar sum is a numpy scalar: cheaper to add to than a 0-d array
                shape = f.concrete_shape(self.num_classes, s=self.num_shards)
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
    def boundary_kept(self) -> bool:
        """Whether the state holds boundary counts (a run with ``boundary=True``)."""
        return "boundary" in self.groups

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

    def _axis_fields(self, axis: str) -> list:
        return [f.name for f in self._fields() if f.reduce == "cat" and f.shape[0] == axis]

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
        inverse = None
        if self.per_image_kept:
            keys = [id_key(i) for i in self._ids]
            order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
            self._ids = [self._ids[i] for i in order.tolist()]
            for name in self._axis_fields("N"):
                arrays[name] = arrays[name][order]
            inverse = np.empty(order.size, dtype=np.int64)
            inverse[order] = np.arange(order.size, dtype=np.int64)
        for axis in _LISTS:
            pointer = _POINTERS.get(axis)
            has_pointer = inverse is not None and pointer in arrays
            if has_pointer:
                arrays[pointer] = inverse[arrays[pointer]]
            by_value = axis in _BY_VALUE and _BY_VALUE[axis][0] in arrays
            if by_value and (axis in _ALWAYS_BY_VALUE or not has_pointer):
                cat, iou, *outer = _BY_VALUE[axis]  # outer keys (the variant) sort first
                ties = (arrays[pointer],) if has_pointer else ()
                rorder = np.lexsort(ties + (arrays[iou], arrays[cat], *(arrays[o] for o in outer)))
            elif has_pointer:  # rows of each image together, in image order
                rorder = np.argsort(arrays[pointer], kind="stable")
            else:
                continue
            for name in self._axis_fields(axis):
                arrays[name] = arrays[name][rorder]
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
        if other.num_shards != self.num_shards:
            raise InputError(f"cannot merge shards of a run cut in {other.num_shards} with shards of a run cut in "
                             f"{self.num_shards}")

    def merge(self, other: "_State") -> "_State":
        """Add ``other`` into this state (in place) and return self.

        Raises :class:`InputError` when the states hold different classes or
        fields, or when both have per-image rows for one image id.  The result
        does not depend on the merge order, bit for bit.  The per-image cells
        are kept only when both states have them.
        """
        if other is self:
            raise InputError("cannot merge a state into itself (every image would count twice)")
        if "cells" in self.groups and "cells" not in other.groups and "per_image" in other.groups:
            self.drop_cells()
        elif "cells" in other.groups and "cells" not in self.groups and "per_image" in self.groups:
            other = other.copy()
            other.drop_cells()
        self._compatible(other)
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
        for pointer in _POINTERS.values():
            if pointer in rows:
                rows[pointer] = rows[pointer] + offset
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
        if "counts" not in groups or ({"digest", "cells"} & groups and "per_image" not in groups) or (
                "boundary_image" in groups and not {"per_image", "boundary"} <= groups) or (
                "boundary" in groups and "per_image" in groups and "boundary_image" not in groups) or (
                "cells" in groups and not cls.ALWAYS <= groups) or {"cells", "conventions"} <= groups:
            raise InputError(f"inconsistent field groups {sorted(groups)}")

        def rows(name):
            return int(np.shape(arrays.get(name, ()))[0]) if name in arrays else 0

        s = rows("shard_runs") if "shard" in groups else 0
        if "shard" in groups and s == 0:
            raise InputError("field 'shard_runs' must list at least one shard")
        state = cls.__new__(cls)
        state._setup(num_classes, groups, s)
        ids = list(arrays.get("image_ids", []))
        n = len(ids) if state.per_image_kept else 0
        lists = {axis: rows(name) for axis, (name, _) in _LISTS.items() if name in state._blocks}
        for f in state._fields():
            if f.name not in arrays:
                raise InputError(f"field {f.name!r} is missing")
            arr = np.asarray(arrays[f.name])
            want = f.concrete_shape(state.num_classes, n, lists, state.num_shards)
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
            for axis, pointer in _POINTERS.items():
                if pointer in state._blocks and lists.get(axis) and (
                        np.min(arrays[pointer]) < 0 or np.max(arrays[pointer]) >= n):
                    raise InputError(f"{pointer} points outside the image rows")
        for axis, (cat, *_) in _BY_VALUE.items():
            if cat in state._blocks and lists.get(axis) and (
                    np.min(arrays[cat]) < 0 or np.max(arrays[cat]) >= state.num_classes):
                raise InputError(f"{cat} holds a category outside [0, K)")
        c = lists.get("C", 0)
        if c and (np.min(arrays["cell_index"]) < 0 or np.max(arrays["cell_index"]) >= int(np.prod(state._cell_shape()))
                  or np.min(arrays["cell_count"]) <= 0):
            raise InputError("cell_index outside the confusion matrix or a cell_count that is not positive")
        v = lists.get("V", 0)
        if v and (np.min(arrays["conv_match_var"]) < 0 or np.max(arrays["conv_match_var"]) >= len(PANOPTIC_VARIANTS)):
            raise InputError("conv_match_var holds a variant outside the variant rules")
        state._warnings = [str(w) for w in arrays.get("warnings", [])]
        state._canonical = False
        state._canonicalize()
        return state

    def row_arrays(self) -> dict:
        """:meth:`to_arrays` without the sums: the concatenated fields, ``image_ids`` and ``warnings``."""
        out = self.to_arrays()
        for name in self._sums:
            del out[name]
        return out

    def sum_arrays(self) -> dict:
        """The sums (copies), field name -> array or numpy scalar."""
        return {name: np.copy(arr) if np.ndim(arr) else arr.dtype.type(arr) for name, arr in self._sums.items()}

    @classmethod
    def from_parts(cls, num_classes: int, sums: dict, parts: list, *, groups: Iterable[str]) -> "_State":
        """A state of the sums ``sums`` and the rows of ``parts`` (:meth:`row_arrays` of states that hold
        disjoint images), concatenated as :meth:`merge` does; checked as :meth:`from_arrays`."""
        arrays = dict(sums)
        arrays["image_ids"] = [i for p in parts for i in p.get("image_ids", [])]
        arrays["warnings"] = [w for p in parts for w in p.get("warnings", [])]
        for f in cls.FIELDS:
            if f.reduce != "cat" or f.group not in set(groups):
                continue
            blocks, offset = [], 0
            for p in parts:
                arr = np.asarray(p[f.name])
                blocks.append(arr + offset if f.name in _POINTERS.values() else arr)
                offset += len(p.get("image_ids", []))
            arrays[f.name] = np.concatenate(blocks) if blocks else \
                np.zeros(f.concrete_shape(num_classes), dtype=f.dtype)
        return cls.from_arrays(num_classes, arrays, groups=groups)

    # ---- shards and taking images out
    def add_shard(self, index: int) -> None:
        """Record that this state holds the images of shard ``index`` (0-based) of ``num_shards``."""
        if "shard" not in self.groups:
            raise InputError("this state was not made for a sharded run (shards=None)")
        if not 0 <= index < self.num_shards:
            raise InputError(f"shard index {index} outside 0..{self.num_shards - 1}")
        self._sums["shard_runs"][index] += 1

    def _image_mask(self, ids: list) -> np.ndarray:
        self._canonicalize()
        pos = {id_key(x): j for j, x in enumerate(self._ids)}
        absent = [i for i in ids if id_key(i) not in pos]
        if absent:
            raise InputError(f"image ids {_shown(absent)} are not in this state")
        mask = np.zeros(len(self._ids), dtype=bool)
        mask[[pos[id_key(i)] for i in ids]] = True
        return mask

    def _warning_owner(self, image_id) -> str:
        # the per-image scoring starts each warning with the image it is about
        return f"image {_json_id(image_id)!r}:"

    def image_record(self, image_id) -> dict:
        """Everything ``image_id`` added to this state: its per-image rows, its matches and cells (in
        canonical order) and the warnings naming it; two records are equal iff the image was scored alike."""
        if "cells" not in self.groups:
            raise InputError("image records need the per-image cells (group 'cells')")
        mask = self._image_mask([image_id])
        out: dict = {}
        for name in self._axis_fields("N"):
            out[name] = self._array(name)[mask]
        for axis, pointer in _POINTERS.items():
            if pointer in self._blocks:
                sel = mask[self._array(pointer)]
                for name in self._axis_fields(axis):
                    if name != pointer:
                        out[name] = self._array(name)[sel]
        prefix = self._warning_owner(image_id)
        out["warnings"] = [w for w in self._warnings if w.startswith(prefix)]
        return out

    def drop_images(self, ids: list) -> None:
        """Take images out again: their counts are subtracted and their rows, matches, cells and
        warnings (those that start with ``image <id>:``, as the per-image scoring writes them) removed.

        Needs the ``cells`` group (the pixel counts of each image).  Raises
        :class:`InputError` for an id that is not in the state.
        """
        if "cells" not in self.groups:
            raise InputError("taking images out of a state needs its per-image cells (group 'cells'; the array "
                             "evaluators keep them with per_image=True)")
        ids = list(ids)
        if not ids:
            return
        mask = self._image_mask(ids)
        self._subtract(mask)
        keep = ~mask
        new_row = np.cumsum(keep) - 1
        arrays = {name: self._array(name) for name in self._blocks}
        for name in self._axis_fields("N"):
            arrays[name] = arrays[name][keep]
        for axis, pointer in _POINTERS.items():
            if pointer in arrays:
                rsel = keep[arrays[pointer]]
                for name in self._axis_fields(axis):
                    arrays[name] = arrays[name][rsel]
                arrays[pointer] = new_row[arrays[pointer]]
        self._blocks = {name: [np.ascontiguousarray(a)] for name, a in arrays.items()}
        prefixes = tuple(self._warning_owner(i) for i in ids)
        self._warnings = [w for w in self._warnings if not w.startswith(prefixes)]
        self._ids = [i for i, k in zip(self._ids, keep.tolist()) if k]
        self._id_keys = {id_key(i) for i in self._ids}
        self._sums["num_images"] -= int(mask.sum())

    def drop_cells(self) -> None:
        """Forget the per-image cells (the group ``cells``, with what only it needs)."""
        self._canonicalize()
        self.groups = self.groups - {"cells"}
        for f in self.FIELDS:
            if f.group == "cells":
                self._blocks.pop(f.name, None)
        self._canonical = False

    def _add_cells(self, row: int, cells: dict) -> None:
        self._add_blocks({"cell_image": np.full(cells["cell_index"].size, row, dtype=np.int64), **cells})

    def _refuse_cells(self) -> None:
        if "cells" in self.groups:
            raise InputError("the folder engine's sums have no per-image cells: make the state without cells")

    def _cells_of(self, mask: np.ndarray) -> np.ndarray:
        """The cells of the images in ``mask``, added up, as a dense array of :meth:`_cell_shape`."""
        cells = np.zeros(int(np.prod(self._cell_shape())), dtype=np.int64)
        sel = mask[self._array("cell_image")]
        np.add.at(cells, self._array("cell_index")[sel], self._array("cell_count")[sel])
        return cells.reshape(self._cell_shape())

    def _cell_shape(self) -> tuple:
        raise NotImplementedError

    def _subtract(self, mask: np.ndarray) -> None:
        """Subtract the counts of the images in ``mask`` from the sums (``num_images`` aside)."""
        raise NotImplementedError

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
    n = len(image_ids)
    kinds = {type(i) for i in image_ids}
    if kinds <= {int} or kinds == {str}:
        # the common cases, without a key object per image: plain ints sort by value, strings by text
        order = sorted(range(n), key=image_ids.__getitem__)
        texts = [_plain_json(i) for i in image_ids]
    else:
        import json

        order = sorted(range(n), key=lambda i: id_key(image_ids[i]))
        texts = [json.dumps(_json_id(i)) for i in image_ids]
    parts = [extra]
    for i in order:
        d = digests[i]
        parts += (texts[i].encode("ascii"), b"\0",
                  bytes(d) if isinstance(d, (bytes, bytearray)) else np.asarray(d, dtype=np.uint8).tobytes())
    return "sha256:" + sha256(b"".join(parts)).hexdigest()


# ----------------------------------------------------------------------------- semantic
_IMAGE_DIGEST = Field("image_digest", "uint8", ("N", _DIGEST), "cat", "digest",
                      "SHA-256 of each image's ground truth (see segmetrics.folders)")
_IMAGE_MISSING = Field("image_missing", "bool", ("N",), "cat", "per_image",
                       "the image had no prediction (scored as all-void)")
_CELLS = (Field("cell_image", "int64", ("C",), "cat", "cells", "image row of each per-image confusion cell"),
          Field("cell_index", "int64", ("C",), "cat", "cells", "flat index of the cell (see _cell_shape)"),
          Field("cell_count", "int64", ("C",), "cat", "cells", "pixels in the cell (> 0)"))
_SHARD = Field("shard_runs", "int64", ("S",), "sum", "shard", "times each shard's images were counted")


def _cell_rows(flat: np.ndarray, counts: np.ndarray) -> dict:
    """One image's cells, ascending by flat index, repeated indices added up, zero counts dropped."""
    flat = np.asarray(flat, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    index, inverse = np.unique(flat, return_inverse=True)
    total = np.zeros(index.size, dtype=np.int64)
    np.add.at(total, inverse, counts)
    keep = total != 0
    return {"cell_index": index[keep], "cell_count": total[keep]}


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
        *_CELLS,
        _SHARD,
        Field("boundary_inter", "int64", ("K",), "sum", "boundary", "band pixels in both the GT and the prediction"),
        Field("boundary_gt", "int64", ("K",), "sum", "boundary", "GT band pixels"),
        Field("boundary_pred", "int64", ("K",), "sum", "boundary", "predicted band pixels on scored GT"),
        Field("image_boundary_inter", "int64", ("N", "K"), "cat", "boundary_image", "boundary_inter per image"),
        Field("image_boundary_gt", "int64", ("N", "K"), "cat", "boundary_image", "boundary_gt per image"),
        Field("image_boundary_pred", "int64", ("N", "K"), "cat", "boundary_image", "boundary_pred per image"),
        Field("dropped_gt", "int64", ("K+1",), "sum", "conventions",
              "pixels per predicted class (K: a prediction outside [0, K) too) whose GT label is outside [0, K) "
              "and not ignored (out_of_range='drop')"),
        Field("dropped_pred", "int64", ("K",), "sum", "conventions",
              "GT pixels per class predicted outside [0, K) and not as the ignore index (out_of_range='drop')"),
    )
    _BAND = ("boundary_inter", "boundary_gt", "boundary_pred")

    def _band_rows(self, band, n: int) -> dict:
        """The boundary sums and rows to add: ``band`` is ``(3, K')`` (one image) or
        ``(n, 3, K')`` band counts (intersection, GT band, predicted band), K' >= K."""
        if not self.boundary_kept:
            return {}
        if band is None:
            raise InputError("this state keeps boundary counts: pass the images' band counts")
        k = self.num_classes
        arr = np.asarray(band, dtype=np.int64)
        rows = arr.reshape(n, 3, arr.shape[-1])[:, :, :k]
        out = {name: rows[:, j].sum(axis=0) for j, name in enumerate(self._BAND)}
        if "boundary_image" in self.groups:
            out.update({"image_" + name: rows[:, j] for j, name in enumerate(self._BAND)})
        return out

    def _add_band(self, band_rows: dict) -> dict:
        """Add the sums of :meth:`_band_rows`; returns its per-image rows."""
        for name in self._BAND:
            if name in band_rows:
                self._sums[name] += band_rows.pop(name)
        return band_rows

    def _cell_shape(self) -> tuple:
        # rows: GT class; columns: predicted class, then K = void (or missing, by image_missing)
        return (self.num_classes, self.num_classes + 1)

    def _subtract(self, mask: np.ndarray) -> None:
        k = self.num_classes
        missing = self._array("image_missing")
        for flag, column in ((False, "void"), (True, "missing")):
            sel = mask & (missing == flag)
            if sel.any():
                cells = self._cells_of(sel)
                self._sums["confusion"] -= cells[:, :k]
                self._sums[column] -= cells[:, k]
        if "boundary_image" in self.groups:
            for name in self._BAND:
                self._sums[name] -= self._array("image_" + name)[mask].sum(axis=0)

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

    def add_image(self, cm, *, image_id: Any = None, missing: bool = False, digest: bytes | None = None,
                  band=None) -> None:
        """Add one image's confusion matrix ((K, K), or (K+1, K+1) with the void column, or
        (K+2, K+2) with labels outside [0, K) counted apart) and, in a state with boundary
        counts, its ``(3, K)`` / ``(3, K+1)`` band counts ``band`` (intersection, GT band,
        predicted band)."""
        counts, void, extra = self._fold(np.asarray(cm, dtype=np.int64))
        band_rows = self._band_rows(band, 1)
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
        band_rows = self._add_band(band_rows)
        if rows is not None:
            first = self._add_rows([image_id], keys, {**rows, **band_rows})
            if "cells" in self.groups:
                full = np.zeros(self._cell_shape(), dtype=np.int64)
                full[:, :-1] = counts
                if void is not None:
                    full[:, -1] = void
                flat = np.flatnonzero(full)
                self._add_cells(first, {"cell_index": flat, "cell_count": full.reshape(-1)[flat]})

    def add_sums(self, sums, image_ids: list, *, missing: bool = False, digests: list | None = None) -> None:
        """Add what the folder engine returned for ``image_ids`` (a ``SemanticSums``).

        ``sums.confusion`` is (K, K), or (K+1, K+1) when the engine counted the
        void column, or (K+2, K+2) with labels outside [0, K) counted apart;
        per-image rows (``sums.image_tp`` ...) are in the order of ``image_ids``;
        band counts in ``sums.boundary`` / ``sums.image_boundary``.
        """
        self._refuse_cells()
        counts, void, extra = self._fold(np.asarray(sums.confusion, dtype=np.int64))
        band_rows = {}
        if self.boundary_kept:
            per_image = "boundary_image" in self.groups
            band = getattr(sums, "image_boundary" if per_image else "boundary", None)
            if band is None:
                raise InputError("these sums have no band counts (run the engine with a dilation ratio)")
            band_rows = self._band_rows(band if per_image else np.asarray(band)[None], len(image_ids) if per_image
                                        else 1)
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
        band_rows = self._add_band(band_rows)
        if rows is not None:
            self._add_rows(list(image_ids), keys, {**rows, **band_rows})

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
    PQ-dagger (``dagger``): ``gt_segments`` (non-crowd GT segments per category)
    and ``stuff_cat`` / ``stuff_iou``, every same-category pair of a stuff category
    whose GT segment is not crowd with its mask IoU.  Boundary PQ (``boundary``):
    ``btp`` ... ``bmatch_iou`` as ``tp`` ... ``match_iou`` for the matching on
    ``min(mask IoU, boundary IoU)``.  With cells, ``stuff_image`` and
    ``image_gt_segments`` let an image's PQ-dagger counts be taken out again.
    Conventions (``conventions``): ``conv_tp`` ... ``conv_match_iou``, the run
    under each option set of :data:`segmetrics.conventions.PANOPTIC_VARIANTS`.
    """

    TASK = "panoptic"
    ALWAYS = frozenset({"counts", "dagger"})
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
        *_CELLS,
        _SHARD,
        Field("gt_segments", "int64", ("K",), "sum", "dagger", "non-crowd GT segments per category"),
        Field("stuff_cat", "int64", ("P",), "cat", "dagger", "category of each stuff pair (PQ-dagger)"),
        Field("stuff_iou", "float64", ("P",), "cat", "dagger", "mask IoU of each stuff pair"),
        Field("stuff_image", "int64", ("P",), "cat", "cells", "image row of each stuff pair"),
        Field("image_gt_segments", "int64", ("N", "K"), "cat", "cells", "gt_segments per image"),
        Field("btp", "int64", ("K",), "sum", "boundary", "Boundary PQ matched segments per category"),
        Field("bfp", "int64", ("K",), "sum", "boundary", "Boundary PQ unmatched predictions per category"),
        Field("bfn", "int64", ("K",), "sum", "boundary", "Boundary PQ unmatched GT segments per category"),
        Field("bmatch_cat", "int64", ("B",), "cat", "boundary", "dense category of each Boundary PQ match"),
        Field("bmatch_iou", "float64", ("B",), "cat", "boundary", "min(mask IoU, boundary IoU) of each match"),
        Field("bmatch_image", "int64", ("B",), "cat", "boundary_image", "image row of each Boundary PQ match"),
        Field("image_btp", "int64", ("N", "K"), "cat", "boundary_image", "btp per image"),
        Field("image_bfp", "int64", ("N", "K"), "cat", "boundary_image", "bfp per image"),
        Field("image_bfn", "int64", ("N", "K"), "cat", "boundary_image", "bfn per image"),
        Field("conv_tp", "int64", (len(PANOPTIC_VARIANTS), "K"), "sum", "conventions",
              "matched segments per variant of the matching rules and category"),
        Field("conv_fp", "int64", (len(PANOPTIC_VARIANTS), "K"), "sum", "conventions",
              "unmatched predicted segments per variant and category"),
        Field("conv_fn", "int64", (len(PANOPTIC_VARIANTS), "K"), "sum", "conventions",
              "unmatched GT segments per variant and category"),
        Field("conv_match_var", "int64", ("V",), "cat", "conventions", "variant of each variant match"),
        Field("conv_match_cat", "int64", ("V",), "cat", "conventions", "dense category of each variant match"),
        Field("conv_match_iou", "float64", ("V",), "cat", "conventions", "IoU of each variant match"),
    )

    def _cell_shape(self) -> tuple:
        return (self.num_classes + 1, self.num_classes + 1)  # the category-map matrix

    def _subtract(self, mask: np.ndarray) -> None:
        names = [("tp", "image_tp"), ("fp", "image_fp"), ("fn", "image_fn"), ("gt_segments", "image_gt_segments")]
        if "boundary_image" in self.groups:
            names += [("btp", "image_btp"), ("bfp", "image_bfp"), ("bfn", "image_bfn")]
        for name, rows in names:
            self._sums[name] -= self._array(rows)[mask].sum(axis=0)
        self._sums["confusion"] -= self._cells_of(mask)

    def _extra(self, src, n: int, per_image_rows: bool) -> tuple[dict, dict]:
        """(sums, list / row blocks) of the PQ-dagger and boundary groups from ``src`` (an
        ``ImageStats`` or a ``PanopticSums``: the same attribute names)."""
        sums, blocks = {}, {}
        if "dagger" in self.groups:
            if getattr(src, "stuff_cat", None) is None:
                raise InputError("this state keeps PQ-dagger counts: these statistics have none")
            sums["gt_segments"] = src.gt_segments
            blocks.update(stuff_cat=src.stuff_cat, stuff_iou=src.stuff_iou)
        if self.boundary_kept:
            if getattr(src, "btp", None) is None:
                raise InputError("this state keeps Boundary PQ counts: these statistics have none "
                                 "(score with boundary=True)")
            sums.update(btp=src.btp, bfp=src.bfp, bfn=src.bfn)
            blocks.update(bmatch_cat=src.bmatch_cat, bmatch_iou=src.bmatch_iou)
            if "boundary_image" in self.groups and per_image_rows:
                rows = [getattr(src, "image_" + x) for x in ("btp", "bfp", "bfn")]
                if rows[0] is None:
                    raise InputError("these sums have no per-image Boundary PQ rows")
                blocks.update(image_btp=rows[0], image_bfp=rows[1], image_bfn=rows[2])
        return sums, blocks

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
        sums, blocks = self._extra(stats, 1, False)
        keys = None
        if self.per_image_kept:
            keys = self.check_new_ids([stats.image_id])
            rows.update(image_tp=stats.tp[None], image_fp=stats.fp[None], image_fn=stats.fn[None],
                        image_missing=np.array([missing]))
            if "digest" in self.groups:
                rows["image_digest"] = _digest_rows([digest])
            if "boundary_image" in self.groups:
                rows.update(image_btp=stats.btp[None], image_bfp=stats.bfp[None], image_bfn=stats.bfn[None])
        self._sums["tp"] += stats.tp
        self._sums["fp"] += stats.fp
        self._sums["fn"] += stats.fn
        for name, v in sums.items():
            self._sums[name] += v
        np.add.at(self._sums["confusion"].reshape(-1), stats.confusion_index, stats.confusion_count)
        self._add_variants(stats.variants)
        self._sums["num_images"] += 1
        if keys is not None:
            first = self._add_rows([stats.image_id], keys, {})
            rows["match_image"] = np.full(stats.match_cat.size, first, dtype=np.int64)
            if "boundary_image" in self.groups:
                rows["bmatch_image"] = np.full(stats.bmatch_cat.size, first, dtype=np.int64)
            if "cells" in self.groups:
                self._add_cells(first, _cell_rows(stats.confusion_index, stats.confusion_count))
                rows["stuff_image"] = np.full(np.size(stats.stuff_cat), first, dtype=np.int64)
                rows["image_gt_segments"] = np.asarray(stats.gt_segments, dtype=np.int64)[None]
        self._add_blocks({**rows, **blocks})
        self.add_warnings(stats.warnings)

    def add_sums(self, sums, image_ids: list, *, missing=None, digests: list | None = None) -> None:
        """Add what the folder engine returned (a ``PanopticSums``) for ``image_ids`` (its items' ids).

        ``missing`` flags the images scored without prediction (one bool per image).
        """
        self._refuse_cells()
        n = len(image_ids)
        rows: dict = {"match_cat": sums.match_cat, "match_iou": sums.match_iou}
        extra_sums, blocks = self._extra(sums, n, True)
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
            for name in ("image_btp", "image_bfp", "image_bfn"):
                if name in blocks:
                    image_rows[name] = blocks.pop(name)
        self._sums["tp"] += sums.tp
        self._sums["fp"] += sums.fp
        self._sums["fn"] += sums.fn
        for name, v in extra_sums.items():
            self._sums[name] += v
        self._sums["confusion"] += sums.confusion
        self._add_variants(getattr(sums, "variants", None))
        self._sums["num_images"] += int(sums.num_images)
        if keys is not None:
            first = self._add_rows(list(image_ids), keys, image_rows)
            rows["match_image"] = np.asarray(sums.match_image, dtype=np.int64) + first
            if "boundary_image" in self.groups:
                rows["bmatch_image"] = np.asarray(sums.bmatch_image, dtype=np.int64) + first
        self._add_blocks({**rows, **blocks})
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

    def stuff_iou_sum(self) -> np.ndarray:
        """Per-category sum of the stuff pairs' mask IoUs (PQ-dagger; correctly rounded)."""
        return _iou_sums(self.stuff_cat, self.stuff_iou, self.num_classes)

    def boundary_iou_sum(self) -> np.ndarray:
        """Per-category sum of the Boundary PQ matches' IoUs (correctly rounded)."""
        return _iou_sums(self.bmatch_cat, self.bmatch_iou, self.num_classes)

    def image_boundary_iou_sum(self) -> np.ndarray | None:
        """``(N, K)`` per-image Boundary PQ IoU sums (None without per-image boundary rows)."""
        if "boundary_image" not in self.groups:
            return None
        return _iou_sums(self.bmatch_cat, self.bmatch_iou, self.num_classes, match_image=self.bmatch_image,
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
    h = sha256()
    for name in sorted(members):
        data = members[name]
        h.update(name.encode("utf-8") + b"\0" + len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _counts(ids: list, arrays: dict) -> dict:
    """The header's ``counts``: images, matches, and the other lists / shards when the state has them."""
    out = {"images": len(ids), "matches": int(arrays["match_cat"].shape[0]) if "match_cat" in arrays else 0}
    for field, name in _LISTS.values():
        if field in arrays and name != "matches":
            out[name] = int(arrays[field].shape[0])
    if "shard_runs" in arrays:
        out["shards"] = int(arrays["shard_runs"].shape[0])
    return out


def write_state_file(path, state: _State, header: dict) -> None:
    """Write ``state`` and the JSON-ready ``header`` (task-level facts: params, classes,
    dataset, notes) to ``path`` atomically (a temporary file, then a rename)."""
    import json

    arrays = state.to_arrays()
    ids, warnings = arrays.pop("image_ids"), arrays.pop("warnings")
    head = dict(header)
    head.update(format=FORMAT_NAME, version=FORMAT_VERSION, segmetrics_version=__version__, task=state.TASK,
                num_classes=state.num_classes, groups=sorted(state.groups),
                counts=_counts(ids, arrays))
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
    import json

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
        int(header["counts"]["matches"])  # every header has it
        lists = {axis: int(header["counts"].get(name, 0)) for axis, (_, name) in _LISTS.items()}
        s = int(header["counts"].get("shards", 0))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise FormatError(f"{path}: the header lacks num_classes, groups or counts") from None
    members = {"header.json": raw}
    members["image_ids.json"] = _read_member(zf, "image_ids.json", _MAX_JSON, path)
    members["warnings.json"] = _read_member(zf, "warnings.json", _MAX_JSON, path)
    fields = [f for f in cls.FIELDS if f.group in groups]
    arrays: dict = {}
    for f in fields:
        shape = f.concrete_shape(k, n, lists, s)
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
