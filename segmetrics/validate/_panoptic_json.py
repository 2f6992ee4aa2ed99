"""The JSON half of ``validate_panoptic``: walk a COCO panoptic file and record every problem.

Unlike :func:`segmetrics.io.coco_panoptic.load_panoptic_json`, which stops at the first
problem, the walk goes on and keeps every problem with its place, so one run lists them
all.  What it can read it returns as arrays per annotation for the PNG checks.
"""
from __future__ import annotations

import math
from itertools import chain
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..io.coco_panoptic import MAX_RGB_ID
from ._findings import MAX_RECORDED, Findings, listing, plural, verb

__all__ = ["Annotation", "ParsedJson", "parse_json", "json_findings"]


@dataclass
class Annotation:
    """One annotation's segments as arrays, in listing order."""

    index: int
    image_id: Any
    file_name: str
    ids: np.ndarray
    category_ids: np.ndarray
    iscrowd: np.ndarray
    area: np.ndarray          # float64, NaN where absent
    bbox: np.ndarray          # float64 (n, 4), NaN where absent
    checkable: bool = True    # segments sound enough to compare with the PNG
    missing_area: int = 0     # segments without an 'area' key


@dataclass
class ParsedJson:
    """What the walk of one file found."""

    role: str                                   # "ground-truth" or "prediction"
    path: Path
    data: Any = None
    categories: dict = field(default_factory=dict)       # id -> category dict (first listing)
    images: dict = field(default_factory=dict)           # id -> (width, height) or None
    annotations: dict = field(default_factory=dict)      # image_id -> Annotation (first listing)
    problems: dict = field(default_factory=dict)         # check code -> list of entries
    problem_counts: dict = field(default_factory=dict)
    n_segments: int = 0
    valid: bool = False

    def problem(self, code: str, entry) -> None:
        self.problem_counts[code] = self.problem_counts.get(code, 0) + 1
        lst = self.problems.setdefault(code, [])
        if len(lst) < MAX_RECORDED:
            lst.append(entry)


def _is_int(x) -> bool:
    return type(x) is int or (isinstance(x, (int, np.integer)) and not isinstance(x, bool))


def _is_number(x) -> bool:
    return (type(x) is int or type(x) is float or isinstance(x, (int, float, np.number))) \
        and not isinstance(x, bool) and math.isfinite(x)


def parse_json(path, role: str) -> ParsedJson:
    """Read and walk one COCO panoptic JSON (``role``: "ground-truth" or "prediction").

    Raises
    ------
    DataFileError
        The file does not exist or cannot be read.
    """
    from ..errors import DataFileError
    from ..io.coco_panoptic import parse_json_bytes

    path = Path(path)
    out = ParsedJson(role, path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise DataFileError(f"{role} JSON not found: {path}") from None
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        out.data = parse_json_bytes(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        out.problem("panoptic.invalid_json", f"{path}: not valid JSON ({exc})")
        return out
    _walk(out)
    return out


def _walk(out: ParsedJson) -> None:
    data, where = out.data, str(out.path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        found = f"keys {sorted(map(str, data))[:8]}" if isinstance(data, dict) else f"a {type(data).__name__}"
        out.problem("panoptic.json_structure", f"{where}: expected an object with an 'annotations' list, found {found}")
        return
    out.valid = True
    _walk_categories(out, data.get("categories"))
    _walk_images(out, data.get("images"))
    files: dict[str, Any] = {}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann:
            out.problem("panoptic.json_structure", f"annotations[{i}]: no 'image_id'")
            continue
        image_id = ann["image_id"]
        if not isinstance(image_id, (int, str)) or isinstance(image_id, bool):
            out.problem("panoptic.json_structure", f"annotations[{i}]: image_id {image_id!r} is not an integer or string")
            continue
        if image_id in out.annotations:
            out.problem("panoptic.duplicate_image_id", ("annotations", image_id))
            continue
        name = ann.get("file_name")
        if not isinstance(name, str) or not name:
            out.problem("panoptic.json_structure", f"annotations[{i}] (image {image_id!r}): no 'file_name' string")
            continue
        if name in files:
            out.problem("panoptic.duplicate_file_name", (name, files[name], image_id))
        else:
            files[name] = image_id
        segs = ann.get("segments_info")
        if not isinstance(segs, list):
            out.problem("panoptic.json_structure", f"annotations[{i}] (image {image_id!r}): no 'segments_info' list")
            continue
        out.annotations[image_id] = _walk_segments(out, i, image_id, name, segs)
        out.n_segments += len(segs)


def _walk_categories(out: ParsedJson, cats) -> None:
    gt = out.role == "ground-truth"
    if cats is None:
        if gt:
            out.problem("panoptic.json_structure", f"{out.path}: the ground truth needs a 'categories' list")
        return
    if not isinstance(cats, list):
        out.problem("panoptic.json_structure", f"{out.path}: 'categories' is a {type(cats).__name__}, not a list")
        return
    for i, c in enumerate(cats):
        if not isinstance(c, dict) or not _is_int(c.get("id")):
            out.problem("panoptic.json_structure", f"categories[{i}]: no integer 'id'")
            continue
        if c["id"] in out.categories:
            out.problem("panoptic.duplicate_category_id", c["id"])
            continue
        out.categories[c["id"]] = c
        if gt and c.get("isthing") not in (0, 1, True, False):
            out.problem("panoptic.isthing_flag", (c["id"], c.get("name"), c.get("isthing", "<absent>")))


def _walk_images(out: ParsedJson, images) -> None:
    if images is None:
        return
    if not isinstance(images, list):
        out.problem("panoptic.json_structure", f"{out.path}: 'images' is a {type(images).__name__}, not a list")
        return
    for i, im in enumerate(images):
        if not isinstance(im, dict) or "id" not in im:
            out.problem("panoptic.json_structure", f"images[{i}]: no 'id'")
            continue
        if im["id"] in out.images:
            out.problem("panoptic.duplicate_image_id", ("images", im["id"]))
            continue
        w, h = im.get("width"), im.get("height")
        out.images[im["id"]] = (int(w), int(h)) if _is_int(w) and _is_int(h) and w > 0 and h > 0 else None


_INT = frozenset({int})
_NUMBER = frozenset({int, float, type(None)})
_BOX = frozenset({list, type(None)})


def _fast_segments(i: int, image_id, file_name: str, segs: list) -> Optional[Annotation]:
    """The arrays of a ``segments_info`` list of plain, sound JSON values, without a Python
    loop per segment; None when anything needs the detailed walk (which names it)."""
    try:
        ids = [s["id"] for s in segs]
        cats = [s["category_id"] for s in segs]
    except (KeyError, TypeError):
        return None
    crowd = [s.get("iscrowd", 0) for s in segs]
    areas = [s.get("area") for s in segs]
    boxes = [s.get("bbox") for s in segs]
    if not (set(map(type, ids)) <= _INT and set(map(type, cats)) <= _INT and set(map(type, crowd)) <= _INT
            and set(crowd) <= {0, 1} and set(map(type, areas)) <= _NUMBER and set(map(type, boxes)) <= _BOX):
        return None
    listed = [b for b in boxes if b is not None]
    if listed and (set(map(len, listed)) != {4} or not set(map(type, chain.from_iterable(listed))) <= _NUMBER - {type(None)}):
        return None
    try:
        id_arr = np.array(ids, dtype=np.int64)
        cat_arr = np.array(cats, dtype=np.int64)
        area = np.array(areas, dtype=np.float64)   # None -> NaN
        if len(listed) == len(boxes):
            bbox = np.array(boxes, dtype=np.float64).reshape(len(segs), 4)
        else:
            bbox = np.full((len(segs), 4), np.nan)
            for j, b in enumerate(boxes):
                if b is not None:
                    bbox[j] = b
    except OverflowError:
        return None
    if id_arr.size and (id_arr.min() < 1 or id_arr.max() > MAX_RGB_ID or np.unique(id_arr).size != id_arr.size):
        return None
    if np.isnan(area).sum() != areas.count(None) or np.isinf(area).any() or (area < 0).any() or not np.isfinite(bbox[~np.isnan(bbox).all(axis=1)]).all():
        return None
    return Annotation(i, image_id, file_name, id_arr, cat_arr, np.array(crowd, dtype=np.uint8), area, bbox,
                      missing_area=areas.count(None))


def _walk_segments(out: ParsedJson, i: int, image_id, file_name: str, segs: list) -> Annotation:
    fast = _fast_segments(i, image_id, file_name, segs)
    if fast is not None:
        return fast
    rows: list = []          # (id, category, crowd, area, bbox) of the segments that can be used
    ok = True
    absent = 0
    seen: set = set()
    for j, s in enumerate(segs):
        place = f"annotations[{i}] (image {image_id!r}) segments_info[{j}]"
        if not isinstance(s, dict):
            out.problem("panoptic.json_structure", f"{place}: not an object")
            ok = False
            continue
        sid, cid = s.get("id"), s.get("category_id")
        if not _is_int(sid) or not 1 <= sid <= MAX_RGB_ID:
            why = "0 is void and cannot be listed" if sid == 0 and _is_int(sid) else f"{sid!r} is not in [1, {MAX_RGB_ID}]"
            out.problem("panoptic.json_structure", f"{place}: id {why}")
            ok = False
            continue
        if sid in seen:
            out.problem("panoptic.duplicate_segment_id", (image_id, sid))
            ok = False
            continue
        seen.add(sid)
        if not _is_int(cid):
            out.problem("panoptic.json_structure", f"{place} (segment {sid}): category_id {cid!r} is not an integer")
            ok = False
            continue
        c = s.get("iscrowd", 0)
        if c not in (0, 1, True, False):
            out.problem("panoptic.json_structure", f"{place} (segment {sid}): iscrowd {c!r} is not 0 or 1")
            ok = False
        a = s.get("area")
        absent += a is None
        if a is not None and not (_is_number(a) and a >= 0):
            out.problem("panoptic.json_structure", f"{place} (segment {sid}): area {a!r} is not a number >= 0")
            a = None
        b = s.get("bbox")
        if b is not None and not (isinstance(b, list) and len(b) == 4 and all(_is_number(x) for x in b)):
            out.problem("panoptic.json_structure", f"{place} (segment {sid}): bbox {b!r:.60} is not 4 numbers")
            b = None
        rows.append((sid, cid, 1 if c is True or c == 1 else 0, np.nan if a is None else a,
                     [np.nan] * 4 if b is None else b))
    n = len(rows)
    return Annotation(i, image_id, file_name, np.array([r[0] for r in rows], dtype=np.int64),
                      np.array([r[1] for r in rows], dtype=np.int64), np.array([r[2] for r in rows], dtype=np.uint8),
                      np.array([r[3] for r in rows], dtype=np.float64),
                      np.array([r[4] for r in rows], dtype=np.float64).reshape(n, 4), checkable=ok, missing_area=absent)


# ----------------------------------------------------------------------------- findings
def json_findings(parsed: ParsedJson, out: Findings, *, gt_categories: Optional[dict] = None) -> None:
    """Findings of one walked file; ``gt_categories`` (for predictions) are the categories to check
    against (None for the ground truth itself; ``{}`` when the ground truth has none to offer)."""
    role, path = parsed.role, parsed.path
    probs, counts = parsed.problems, parsed.problem_counts
    if "panoptic.invalid_json" in probs:
        out.add("panoptic.invalid_json", probs["panoptic.invalid_json"][0], files=[str(path)])
        return
    if "panoptic.json_structure" in probs:
        n = counts["panoptic.json_structure"]
        out.add("panoptic.json_structure",
                f"{path} ({role}): {plural(n, 'structure problem')}: {listing(probs['panoptic.json_structure'], n, limit=3)}",
                count=n, files=[str(path)], problems=probs["panoptic.json_structure"])
    if "panoptic.duplicate_image_id" in probs:
        n = counts["panoptic.duplicate_image_id"]
        shown = [f"{iid!r} (in '{where}')" for where, iid in probs["panoptic.duplicate_image_id"]]
        out.add("panoptic.duplicate_image_id", f"{path} ({role}): {plural(n, 'image id')} listed more than once "
                f"(the first listing is checked): {listing(shown, n)}", count=n,
                image_ids=[iid for _, iid in probs["panoptic.duplicate_image_id"]], files=[str(path)])
    if "panoptic.duplicate_file_name" in probs:
        n = counts["panoptic.duplicate_file_name"]
        shown = [f"{name} (images {a!r} and {b!r})" for name, a, b in probs["panoptic.duplicate_file_name"]]
        out.add("panoptic.duplicate_file_name", f"{path} ({role}): {plural(n, 'PNG file name')} used by more than "
                f"one annotation: {listing(shown, n, limit=3)}", count=n, files=[str(path)],
                file_names=[x[0] for x in probs["panoptic.duplicate_file_name"]])
    if "panoptic.duplicate_segment_id" in probs:
        n = counts["panoptic.duplicate_segment_id"]
        shown = [f"image {iid!r} segment {sid}" for iid, sid in probs["panoptic.duplicate_segment_id"]]
        out.add("panoptic.duplicate_segment_id", f"{path} ({role}): {plural(n, 'segment id')} listed twice in one "
                f"image: {listing(shown, n, limit=3)}", count=n, files=[str(path)],
                segments=[{"image_id": i, "segment_id": s} for i, s in probs["panoptic.duplicate_segment_id"]])
    if "panoptic.duplicate_category_id" in probs:
        n = counts["panoptic.duplicate_category_id"]
        out.add("panoptic.duplicate_category_id", f"{path} ({role}): category ids listed more than once: "
                f"{listing(probs['panoptic.duplicate_category_id'], n)}", count=n,
                category_ids=probs["panoptic.duplicate_category_id"], files=[str(path)])
    if "panoptic.isthing_flag" in probs:
        n = counts["panoptic.isthing_flag"]
        shown = [f"{cid} ({name}): {flag!r}" for cid, name, flag in probs["panoptic.isthing_flag"]]
        out.add("panoptic.isthing_flag", f"{path}: {plural(n, 'category', 'categories')} {verb(n, 'needs', 'need')} 'isthing' 0 or 1: "
                f"{listing(shown, n)}", count=n, category_ids=[x[0] for x in probs["panoptic.isthing_flag"]])
    cats = parsed.categories if gt_categories is None else gt_categories
    if parsed.valid and cats:
        _category_use(parsed, cats, out, gt=gt_categories is None)


def _category_use(parsed: ParsedJson, cats: dict, out: Findings, *, gt: bool) -> None:
    """Unknown categories, crowd on stuff, several segments of one stuff category (GT), unused categories."""
    path, role = parsed.path, parsed.role
    anns = list(parsed.annotations.values())
    counts = np.array([a.ids.size for a in anns], dtype=np.int64)
    image = np.repeat(np.arange(len(anns)), counts)
    cid = np.concatenate([a.category_ids for a in anns]) if anns else np.zeros(0, dtype=np.int64)
    sid = np.concatenate([a.ids for a in anns]) if anns else np.zeros(0, dtype=np.int64)
    crowd = np.concatenate([a.iscrowd for a in anns]) if anns else np.zeros(0, dtype=np.uint8)
    cat_ids = np.array(sorted(cats), dtype=np.int64)
    known = np.isin(cid, cat_ids)

    def segments(mask):
        idx = np.flatnonzero(mask)
        return int(idx.size), [{"image_id": anns[image[j]].image_id, "segment_id": int(sid[j]),
                                "category_id": int(cid[j])} for j in idx[:MAX_RECORDED].tolist()]

    n_unknown, unknown = segments(~known)
    if n_unknown:
        shown = [f"image {u['image_id']!r} segment {u['segment_id']} -> {u['category_id']}" for u in unknown]
        out.add("panoptic.unknown_category", f"{path} ({role}): {plural(n_unknown, 'segment')} "
                f"{verb(n_unknown, 'has', 'have')} a category_id "
                f"that is not a ground-truth category: {listing(shown, n_unknown, limit=3)}",
                count=n_unknown, segments=unknown, category_ids=np.unique(cid[~known]).tolist())
    if not gt:
        return
    stuff = np.isin(cid, np.array([c for c, v in cats.items() if v.get("isthing") in (0, False)], dtype=np.int64))
    n_crowd_stuff, crowd_stuff = segments(stuff & (crowd == 1))
    if n_crowd_stuff:
        shown = [f"image {u['image_id']!r} segment {u['segment_id']} ({_name(cats, u['category_id'])})" for u in crowd_stuff]
        out.add("panoptic.crowd_on_stuff", f"{path}: {plural(n_crowd_stuff, 'crowd segment')} on stuff categories "
                f"(crowd regions are meant for things): {listing(shown, n_crowd_stuff, limit=3)}",
                count=n_crowd_stuff, segments=crowd_stuff)
    plain = stuff & (crowd == 0)
    pairs = np.stack([image[plain], cid[plain]], axis=1)
    if pairs.size:
        uniq, n_seg = np.unique(pairs, axis=0, return_counts=True)
        multi = [{"image_id": anns[i].image_id, "category_id": int(c), "segments": int(k)}
                 for (i, c), k in zip(uniq[n_seg > 1].tolist(), n_seg[n_seg > 1].tolist())]
        if multi:
            shown = [f"image {u['image_id']!r}: {u['segments']} x {_name(cats, u['category_id'])}" for u in multi]
            out.add("panoptic.stuff_multiple_segments",
                    f"{path}: {plural(len(multi), 'stuff category', 'stuff categories')} "
                    f"{verb(len(multi), 'has', 'have')} several segments in one "
                    f"image; tools disagree on these (panopticapi scores each segment, torchmetrics merges them), "
                    f"and stuff usually has one segment per image (is the isthing flag right?): "
                    f"{listing(shown, len(multi), limit=3)}", count=len(multi), cases=multi[:MAX_RECORDED])
    if cats:
        used = set(np.unique(cid[known]).tolist())
        unused = [c for c in cats if c not in used]
        if unused:
            out.add("panoptic.unused_categories", f"{plural(len(unused), 'category', 'categories')} of {len(cats)} "
                    f"{verb(len(unused), 'has', 'have')} no ground-truth segment: "
                    f"{listing([_name(cats, c) for c in unused], limit=8)}",
                    count=len(unused), category_ids=unused)
        flags = [c.get("isthing") for c in cats.values() if c.get("isthing") in (0, 1, True, False)]
        if flags and (all(flags) or not any(flags)):
            kind = "stuff" if all(flags) else "thing"
            out.add("panoptic.no_things_or_stuff", f"{path}: no {kind} category (every isthing is {int(bool(flags[0]))}): "
                    f"PQ_{'st' if kind == 'stuff' else 'th'} will be NaN")


def _name(cats: dict, cid) -> str:
    c = cats.get(cid)
    return f"{cid} {c.get('name')}" if c and c.get("name") else str(cid)
