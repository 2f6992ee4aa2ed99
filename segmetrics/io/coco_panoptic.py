"""COCO panoptic format: JSON loading and validation, RGB <-> id conversion, PNG reading.

A COCO panoptic dataset is a JSON file (``annotations[]`` with ``image_id``,
``file_name`` and ``segments_info[]`` of ``{id, category_id, iscrowd, area}``;
``categories[]`` with ``id``, ``name``, ``isthing``) plus a folder of RGB PNG
files whose pixel colour encodes the segment id, ``id = R + 256 G + 256^2 B``;
id 0 is void.  The folder defaults to the JSON path without its ``.json``
suffix, as panopticapi assumes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping, MutableMapping
from typing import Any, NamedTuple

import numpy as np

from ..errors import DataFileError, FormatError, InputError
from .coco_lazy import (  # noqa: F401 - re-exported: the JSON parse and the lazy annotations
    NOT_READ,
    LazyAnnotations,
    _ListedSegments,
    file_name,
    parse_json_bytes,
    peek_annotation,
    resolve_annotation,
)

__all__ = [
    "PanopticDataset",
    "load_panoptic_json",
    "default_folder",
    "rgb2id",
    "id2rgb",
    "read_id_png",
    "parse_json_bytes",
    "check_id_png_sizes",
    "MAX_RGB_ID",
    "SegmentColumns",
    "FlatColumns",
    "segment_columns",
    "digest_columns",
    "LazyAnnotations",
    "NOT_READ",
    "file_name",
    "peek_annotation",
    "resolve_annotation",
]

#: The largest id an RGB PNG can encode (2^24 - 1).
MAX_RGB_ID = 256**3 - 1


def rgb2id(rgb) -> np.ndarray:
    """Segment ids of an ``(H, W, 3)`` RGB array: ``R + 256 G + 256^2 B`` as uint32."""
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InputError(f"rgb2id needs an (H, W, 3) array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "iu" or arr.size and (arr.min() < 0 or arr.max() > 255):
            raise InputError(f"rgb2id needs uint8 colour values (0..255), got dtype {arr.dtype}")
        arr = arr.astype(np.uint8)
    a = arr.astype(np.uint32)
    return a[..., 0] | (a[..., 1] << 8) | (a[..., 2] << 16)


def id2rgb(ids) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB encoding of an id map (ids must lie in ``[0, 2^24 - 1]``)."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise InputError(f"id2rgb needs an integer id map, got dtype {arr.dtype}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > MAX_RGB_ID):
        raise InputError(
            f"id2rgb: ids must lie in [0, {MAX_RGB_ID}], got range [{int(arr.min())}, {int(arr.max())}]"
        )
    a = arr.astype(np.uint32)
    return np.stack([a & 255, (a >> 8) & 255, (a >> 16) & 255], axis=-1).astype(np.uint8)


def read_id_png(path, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode a COCO panoptic PNG into an ``(H, W, 3)`` uint8 RGB array.

    The one place segmetrics decodes panoptic PNGs, with the project's decoder
    (:mod:`segmetrics.io.png`).  Use :func:`rgb2id` for ids, or pass the RGB array to
    the panoptic kernel directly, which fuses the conversion into its pixel pass.

    Parameters
    ----------
    path : path-like
        The PNG file.
    max_pixels : int, optional
        Pixel limit for this call (default: the process-wide limit of
        :func:`segmetrics.io.png.set_max_pixels`).

    Raises
    ------
    DataFileError
        The file is missing (or a broken symbolic link), unreadable, not a PNG (an
        empty file, a JPEG ... are named as such), corrupt or truncated.
    FormatError
        The image is not 8-bit RGB (palette, grey, RGBA, 16-bit ...); checked from
        the header, before decoding.
    InputError
        The image has more pixels than the limit (checked before decoding).
    """
    from ..io.png import decode_png, mode_name, read_png_file

    try:
        data, name, info = read_png_file(path, max_pixels=max_pixels, what_missing="PNG file not found")
    except FormatError as exc:  # not a PNG, corrupt, truncated: the file is unusable
        raise DataFileError(str(exc)) from None
    if info["color_type"] != 2 or info["bit_depth"] != 8:
        raise FormatError(
            f"{name}: panoptic PNGs must be 8-bit RGB (id = R + 256 G + 256^2 B), "
            f"got image mode {mode_name(info)!r} of size {info['width']}x{info['height']}")
    try:
        return decode_png(data, name=name, max_pixels=max_pixels)
    except FormatError as exc:
        raise DataFileError(str(exc)) from None


def check_id_png_sizes(gt_path, pred_path, image_id) -> tuple[int, int]:
    """:func:`segmetrics.io.png.check_same_size` for two panoptic PNGs, with
    :func:`read_id_png`'s error classes (a file that is not a PNG is a
    :class:`DataFileError`): both headers are read before either file is decoded."""
    from ..io.png import check_same_size

    try:
        return check_same_size(gt_path, pred_path, image_id)
    except FormatError as exc:
        raise DataFileError(str(exc)) from None


def default_folder(json_path) -> Path:
    """The PNG folder panopticapi assumes for a JSON file: its path without ``.json``."""
    p = Path(json_path)
    return p.with_suffix("") if p.suffix == ".json" else Path(str(p).replace(".json", ""))


@dataclass
class PanopticDataset:
    """A validated COCO panoptic JSON.

    Attributes
    ----------
    path : Path or None
        The JSON file.
    folder : Path or None
        The folder holding the PNG files.
    annotations : Mapping
        ``image_id -> annotation`` dict (``file_name``, ``segments_info``), in file
        order.  Loaded from a file it is a :class:`LazyAnnotations`: each dict is
        parsed from the file's bytes when first looked up, then kept (the same dict
        on every lookup), so a run that only scores the files builds none of them.
    images : dict
        ``image_id -> image record`` (may be empty: prediction files often have none).
    categories : list of dict
        ``{id, name, isthing, ...}`` in file order (may be empty for predictions).
    columns : Mapping
        ``image_id -> SegmentColumns`` (a :class:`FlatColumns` when loaded from a
        file, any mapping otherwise): each annotation's ``segments_info`` as
        validated at load time, in array form (what the folder pipeline scores
        from).  An entry is used only while the annotation still holds the very
        ``segments_info`` list it was built from, with the same length; segment
        dicts must not be edited in place after loading (load or build a new
        dataset instead).
    """

    path: Path | None
    folder: Path | None
    annotations: MutableMapping[Any, dict] = field(default_factory=dict)
    images: dict[Any, dict] = field(default_factory=dict)
    categories: list[dict] = field(default_factory=list)
    columns: Mapping[Any, "SegmentColumns"] = field(default_factory=dict, repr=False, compare=False)

    def png_path(self, image_id) -> Path:
        """Path of the PNG of ``image_id``."""
        folder = self.folder if self.folder is not None else Path(".")
        return folder / file_name(self.annotations, image_id)


def _check_id(value, where: str, what: str) -> None:
    """FormatError when an image id cannot be a dict key (ids are integers or strings; other
    hashable values are kept as they are)."""
    if type(value) in (int, str):
        return
    try:
        hash(value)
    except TypeError:
        raise FormatError(f"{where}: {what} that is a {type(value).__name__}: {value!r:.80} "
                          f"(expected an integer or a string)") from None


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _check_categories(cats, where: str, require_isthing: bool) -> list[dict]:
    if not isinstance(cats, list):
        raise FormatError(f"{where}: 'categories' must be a list, got {type(cats).__name__}")
    seen = set()
    for i, c in enumerate(cats):
        if not isinstance(c, dict) or not _is_int(c.get("id")):
            raise FormatError(f"{where}: categories[{i}] needs an integer 'id', got {c!r:.80}")
        if c["id"] in seen:
            raise FormatError(f"{where}: category id {c['id']} appears more than once in 'categories'")
        seen.add(c["id"])
        if require_isthing and c.get("isthing") not in (0, 1, True, False):
            raise FormatError(
                f"{where}: category {c['id']} ({c.get('name', '?')}) needs 'isthing' 0 or 1, "
                f"got {c.get('isthing')!r}"
            )
    return cats


def load_panoptic_json(path, folder=None, *, require_categories: bool = False) -> PanopticDataset:
    """Load and validate a COCO panoptic JSON file.

    Parameters
    ----------
    path : str or PathLike
        The JSON file.
    folder : str or PathLike, optional
        The PNG folder; default: ``path`` without ``.json`` (panopticapi's rule).
    require_categories : bool
        Require a ``categories`` list with ``isthing`` (ground truth does).

    Returns
    -------
    PanopticDataset

    Notes
    -----
    Checked here: the top level is an object with an ``annotations`` list;
    every annotation has ``image_id``, a string ``file_name`` and a
    ``segments_info`` list; image ids are unique; every segment has an integer
    ``id`` in ``[1, 2^24 - 1]`` (0 is void) unique within its image and an
    integer ``category_id``; ``iscrowd`` is 0 or 1 when present.  Category
    membership and PNG contents are checked during evaluation.  Each image's
    segments are kept as sorted array columns (``PanopticDataset.columns``) so
    the folder pipeline does not check them again per image.
    """
    path = Path(path)
    where = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        ds = _scanned_dataset(raw, path, folder, require_categories)
        if ds is not None:
            return ds
        data = parse_json_bytes(raw)
    except FileNotFoundError as exc:
        raise DataFileError(f"{where}: JSON file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{where}: not valid JSON ({exc})") from exc
    except OSError as exc:
        raise DataFileError(f"{where}: cannot read ({exc})") from exc
    del raw
    return dataset_from_dict(data, path=path, folder=folder, require_categories=require_categories)


def _scanned_dataset(raw: bytes, path: Path, folder, require_categories: bool) -> PanopticDataset | None:
    """The dataset of a file the compiled scanner takes (``sm_json.h``), with
    :class:`LazyAnnotations`; None when the general way must parse it (a form the
    scanner declines, or a problem whose message that way words)."""
    from .._kernels.panoptic import scan_panoptic_json

    scanned = scan_panoptic_json(raw, MAX_RGB_ID)
    if scanned is None:
        return None
    image_ids, names, spans, flat, cat_span, img_span = scanned
    anns = LazyAnnotations(raw, image_ids, names, spans)
    if len(anns) != len(image_ids):
        return None  # an image id listed twice: dataset_from_dict names it
    where = str(path)
    cats, images = _categories_and_images(
        None if cat_span is None else parse_json_bytes(raw[cat_span[0]:cat_span[1]]),
        None if img_span is None else parse_json_bytes(raw[img_span[0]:img_span[1]]),
        where, require_categories)
    extra: dict = {}
    for j in np.flatnonzero(flat[6] == 0).tolist():  # the detailed checks name the offending segment
        image_id = image_ids[j]
        segs = anns.listed_segments(j)
        cols = segment_columns(segs, *check_segments(segs, f"{where}: image {image_id!r}", max_id=MAX_RGB_ID))
        if cols is not None:
            extra[image_id] = cols
    return PanopticDataset(
        path=path,
        folder=Path(folder) if folder is not None else default_folder(path),
        annotations=anns,
        images=images,
        categories=cats,
        columns=FlatColumns(image_ids, _ListedSegments(anns), flat, extra),
    )


def _categories_and_images(cats, image_list, where: str, require_categories: bool) -> tuple[list, dict]:
    """The checked ``categories`` list and the ``id -> image record`` dict of a file's
    ``categories`` and ``images`` values (None when absent)."""
    if cats is None:
        if require_categories:
            raise FormatError(f"{where}: the ground-truth file needs a 'categories' list")
        cats = []
    cats = _check_categories(cats, where, require_isthing=require_categories)
    images: dict = {}
    for i, im in enumerate(image_list or []):
        if not isinstance(im, dict) or "id" not in im:
            raise FormatError(f"{where}: images[{i}] has no 'id'")
        _check_id(im["id"], where, f"images[{i}] has an id")
        if im["id"] in images:
            raise FormatError(f"{where}: duplicate image id {im['id']!r} in 'images'")
        images[im["id"]] = im
    return cats, images


def dataset_from_dict(data, *, path=None, folder=None, require_categories: bool = False) -> PanopticDataset:
    """Validate an already parsed COCO panoptic dict (see :func:`load_panoptic_json`)."""
    where = str(path) if path is not None else "<panoptic json>"
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise FormatError(
            f"{where}: not a COCO panoptic file (expected an object with an 'annotations' list"
            + (f"; found keys {sorted(data)[:8]}" if isinstance(data, dict) else f"; found a {type(data).__name__}")
            + ")"
        )
    cats, images = _categories_and_images(data.get("categories"), data.get("images"), where, require_categories)

    anns: dict = {}
    seg_lists: list = []
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise FormatError(f"{where}: annotations[{i}] has no 'image_id' (not COCO panoptic?)")
        image_id = ann["image_id"]
        if not isinstance(ann.get("file_name"), str):
            raise FormatError(f"{where}: annotation of image {image_id!r} has no 'file_name' string")
        segs = ann.get("segments_info")
        if not isinstance(segs, list):
            raise FormatError(f"{where}: annotation of image {image_id!r} has no 'segments_info' list")
        _check_id(image_id, where, f"annotations[{i}] has an image_id")
        if image_id in anns:
            raise FormatError(f"{where}: duplicate image id {image_id!r} in 'annotations'")
        anns[image_id] = ann
        seg_lists.append(segs)
    from .._kernels.panoptic import segment_columns_all

    flat = segment_columns_all(seg_lists, MAX_RGB_ID)
    extra: dict = {}
    for j in np.flatnonzero(flat[6] == 0).tolist():  # the detailed checks name the offending segment
        image_id = data["annotations"][j]["image_id"]
        segs = seg_lists[j]
        cols = segment_columns(segs, *check_segments(segs, f"{where}: image {image_id!r}", max_id=MAX_RGB_ID))
        if cols is not None:
            extra[image_id] = cols
    columns = FlatColumns(list(anns), seg_lists, flat, extra)
    if folder is None and path is not None:
        folder = default_folder(path)
    return PanopticDataset(
        path=Path(path) if path is not None else None,
        folder=Path(folder) if folder is not None else None,
        annotations=anns,
        images=images,
        categories=cats,
        columns=columns,
    )


def check_segments(segs, where: str, *, max_id: int = 2**32 - 2) -> tuple[list, list, list, list]:
    """Validate a ``segments_info`` list and return its columns.

    Checks that ids are integers in ``[1, max_id]`` and unique, ``category_id``
    is an integer, ``iscrowd`` is 0 or 1 and ``area`` (optional) a non-negative
    number.  Returns ``(ids, category_ids, iscrowd, areas)`` as lists, in
    listing order (``iscrowd`` defaults to 0, a missing area is ``None``).
    """
    ids: list = []
    cats: list = []
    crowd: list = []
    areas: list = []
    for j, s in enumerate(segs):
        if type(s) is not dict and not isinstance(s, dict):
            raise FormatError(f"{where}: segments_info[{j}] is not an object")
        sid = s.get("id")
        # ``type(x) is int`` is the common case (plain JSON ints, bools excluded); _is_int the general one
        if type(sid) is not int and not _is_int(sid):
            raise FormatError(f"{where}: segments_info[{j}] needs an integer 'id', got {sid!r}")
        if sid == 0:
            raise FormatError(f"{where}: segment id 0 is reserved for void and cannot be listed")
        if sid < 0 or sid > max_id:
            raise FormatError(f"{where}: segment id {sid} is outside [1, {max_id}]")
        cid = s.get("category_id")
        if type(cid) is not int and not _is_int(cid):
            raise FormatError(f"{where}: segment {sid} needs an integer 'category_id', got {cid!r}")
        iscrowd = s.get("iscrowd", 0)
        if iscrowd not in (0, 1, True, False):
            raise FormatError(f"{where}: segment {sid} has iscrowd={iscrowd!r} (expected 0 or 1)")
        area = s.get("area")
        if area is not None and not ((type(area) is int or type(area) is float) and area >= 0) and (
            isinstance(area, bool) or not isinstance(area, (int, float, np.number)) or area < 0
        ):
            raise FormatError(f"{where}: segment {sid} has an invalid area {area!r}")
        ids.append(int(sid))
        cats.append(int(cid))
        crowd.append(1 if iscrowd else 0)
        areas.append(area)
    if len(set(ids)) != len(ids):
        seen: set = set()
        dup = next(i for i in ids if i in seen or seen.add(i))
        raise FormatError(f"{where}: duplicate segment id {dup} in segments_info")
    return ids, cats, crowd, areas


class SegmentColumns(NamedTuple):
    """A validated ``segments_info`` list as arrays sorted by segment id.

    Attributes
    ----------
    segments : list
        The ``segments_info`` list the columns were built from.
    ids : ndarray of int64
        Segment ids, ascending.
    category_ids : ndarray of int64
        COCO ``category_id`` of each segment (same order).
    iscrowd : ndarray of uint8
    area : ndarray of float64
        JSON ``area``; NaN where absent.
    order : ndarray of intp
        Listing position of each sorted segment (``ids = listed_ids[order]``).
    """

    segments: list
    ids: np.ndarray
    category_ids: np.ndarray
    iscrowd: np.ndarray
    area: np.ndarray
    order: np.ndarray

    def describes(self, segments) -> bool:
        """Whether these columns still stand for ``segments``: the very list they were
        built from, with the same length (see :class:`PanopticDataset`)."""
        return segments is self.segments and len(segments) == self.ids.size


class FlatColumns(Mapping):
    """``image_id -> SegmentColumns`` of a whole file, made in one compiled pass.

    The columns of every image live in shared flat arrays (``ids``,
    ``category_ids``, ``iscrowd``, ``area``, ``order``; image ``j`` in file order
    owns rows ``offsets[j]:offsets[j + 1]``); looking an image up returns views of
    its rows.  Images whose segments needed the detailed Python checks have their
    own :class:`SegmentColumns` instead.  The folder pipeline reads the flat arrays
    directly (:meth:`ranges`).
    """

    def __init__(self, image_ids: list, segments: list, flat: tuple, extra: dict):
        self.offsets, self.ids, self.category_ids, self.iscrowd, self.area, self.order, ok = flat
        self.segments = segments
        self._pos = {image_id: j for j, image_id in enumerate(image_ids)}
        self._flat_ok = ok.astype(bool)
        self._extra = extra
        self._lists = None

    def __getitem__(self, image_id) -> SegmentColumns:
        j = self._pos.get(image_id)
        if j is None or not self._flat_ok[j]:
            return self._extra[image_id]
        a, b = int(self.offsets[j]), int(self.offsets[j + 1])
        return SegmentColumns(self.segments[j], self.ids[a:b], self.category_ids[a:b], self.iscrowd[a:b],
                              self.area[a:b], self.order[a:b])

    def __iter__(self):
        return (i for i, j in self._pos.items() if self._flat_ok[j] or i in self._extra)

    def __len__(self) -> int:
        return int(self._flat_ok.sum()) + len(self._extra)

    def ranges(self, image_ids, annotations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(start, end, ok)`` rows of the flat arrays for each image, where ``ok`` says
        that the image's annotation (None: no annotation; :data:`NOT_READ`: not parsed
        yet) still holds the very ``segments_info`` list with the same length as at
        load time."""
        n = len(image_ids)
        start, end, ok = [0] * n, [0] * n, [False] * n
        if self._lists is None:  # plain lists: element access without NumPy scalars
            self._lists = (self._flat_ok.tolist(), self.offsets.tolist())
        pos, segments, (flat_ok, offsets) = self._pos, self.segments, self._lists
        lazy = segments.annotations if type(segments) is _ListedSegments else None
        if lazy is not None and lazy.untouched():
            lazy = None  # NOT_READ items are as loaded
        for i, (image_id, ann) in enumerate(zip(image_ids, annotations)):
            j = pos.get(image_id)
            if j is None or ann is None or not flat_ok[j]:
                continue
            a, b = offsets[j], offsets[j + 1]
            if ann is NOT_READ and lazy is not None:
                ann = lazy.peek(image_id)  # parsed, set or deleted since the items were made?
                if ann is None:
                    continue
            if ann is NOT_READ:  # not parsed yet: as scanned
                start[i], end[i], ok[i] = a, b, True
                continue
            segs = ann.get("segments_info")
            if segs is segments[j] and len(segs) == b - a:  # SegmentColumns.describes, on the flat rows
                start[i], end[i], ok[i] = a, b, True
        return np.array(start, dtype=np.int64), np.array(end, dtype=np.int64), np.array(ok, dtype=bool)


def _fast_columns(segments: list) -> SegmentColumns | None:
    """:class:`SegmentColumns` of a ``segments_info`` list of plain JSON values with unique ids
    (checked in one compiled pass); None when the detailed checks must look at it."""
    from .._kernels.panoptic import segment_columns as _columns

    arrays = _columns(segments, MAX_RGB_ID)
    return None if arrays is None else SegmentColumns(segments, *arrays)


def digest_columns(columns) -> list:
    """The segment columns of a GT image as its fingerprint digest hashes them, after the PNG's
    bytes: ids, category ids, crowd flags and areas as contiguous little-endian int64, int64,
    uint8 and float64 arrays (``columns``: a :class:`SegmentColumns` or :class:`FlatColumns`)."""
    return [np.ascontiguousarray(a, dtype=dtype) for a, dtype in (
        (columns.ids, "<i8"), (columns.category_ids, "<i8"), (columns.iscrowd, np.uint8), (columns.area, "<f8"))]


def segment_columns(segments, ids: list, category_ids: list, crowd: list, areas: list) -> SegmentColumns | None:
    """Sorted array columns of a checked ``segments_info`` (the lists :func:`check_segments` returns).

    Returns None when a value does not fit the arrays (a ``category_id`` beyond
    int64, an area beyond float64); callers then work from the dicts.
    """
    try:
        id_arr = np.array(ids, dtype=np.int64)
        cat_arr = np.array(category_ids, dtype=np.int64)
        area = np.array([np.nan if a is None else float(a) for a in areas], dtype=np.float64)
    except OverflowError:
        return None
    order = np.argsort(id_arr, kind="stable")
    return SegmentColumns(segments, id_arr[order], cat_arr[order], np.array(crowd, dtype=np.uint8)[order],
                          area[order], order)
