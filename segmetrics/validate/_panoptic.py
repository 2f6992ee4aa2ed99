"""``validate_panoptic``: checks of a COCO panoptic set (JSON + PNGs) and its predictions.

The JSON files are walked once (:mod:`._panoptic_json`); then each image's PNGs are
read, parsed, decoded by the compiled decoder and reduced by one nogil pass
(:func:`segmetrics._kernels.segstats_panoptic.segment_stats`: area and box of every id) on a
thread pool; the comparison with ``segments_info`` happens on the worker, and only
the differences come back.  ``write_fixed_json`` writes a copy of the GT JSON with
``area`` and ``bbox`` recomputed from the same pass.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..errors import InputError
from ._files import Buffers, decode, open_png, read_bytes
from ._findings import MAX_RECORDED, Findings, ValidationReport, listing, plural, verb
from ._panoptic_json import Annotation, ParsedJson, json_findings, parse_json

__all__ = ["validate_panoptic"]

#: Per image, at most this many segments of one kind are kept (the counts are exact).
_PER_IMAGE = 50


# ----------------------------------------------------------------------------- one PNG
@dataclass
class _Png:
    """One PNG: header facts, a problem, and its segment statistics."""

    path: Path
    problem: Optional[tuple] = None     # (code, text)
    size: Optional[tuple] = None        # (width, height)
    ids: Optional[np.ndarray] = None
    area: Optional[np.ndarray] = None
    bbox: Optional[np.ndarray] = None
    alpha: Optional[str] = None         # RGBA: "constant 255" or "varies"


def _read_png(path: Path, buffers: Buffers) -> _Png:
    """Read, decode and reduce one PNG: one fused nogil pass, or the Python decoder for the
    files that pass does not take (interlaced ...) and for precise error messages."""
    from .._kernels.segstats_panoptic import png_segment_stats, segment_stats

    png = _Png(path)
    data, problem = read_bytes(path)
    if data is None:
        png.problem = _png_problem(problem)
        return png
    status, hdr, stats, opaque = png_segment_stats(buffers.scratch, data)
    if status < 0:
        png.problem = ("panoptic.corrupt_png", f"{path}: corrupt PNG: {buffers.scratch.message}")
        return png
    if status == 0:
        png.size, ct, depth = (hdr["width"], hdr["height"]), hdr["color_type"], hdr["bit_depth"]
        alpha = "constant 255" if opaque else "varies"
    else:  # the Python decoder: unusual layouts, and the precise wording of decoding errors
        f = open_png(path, data)
        if f.problem is not None:
            png.problem = _png_problem(f.problem)
            return png
        png.size, ct, depth = f.size, f.color_type, f.bit_depth
        if depth == 8 and ct in (2, 6):
            arr = decode(f, buffers)
            if arr is None:
                png.problem = _png_problem(f.problem)
                return png
            stats = segment_stats(arr)
            alpha = "constant 255" if ct == 6 and bool((arr[..., 3] == 255).all()) else "varies"
    if depth != 8 or ct not in (2, 6):
        kind = {0: "grey", 3: "palette", 4: "grey+alpha", 2: "RGB", 6: "RGBA"}.get(ct, f"colour type {ct}")
        png.problem = ("panoptic.not_rgb_png", f"{path} ({depth}-bit {kind})")
        return png
    if ct == 6:
        png.alpha = alpha
        png.problem = ("panoptic.rgba_png", f"{path} (alpha {alpha})")
    png.ids, png.area, png.bbox = stats
    return png


def _png_problem(problem: tuple) -> tuple:
    return ("panoptic.missing_png" if problem[0] == "missing" else "panoptic.corrupt_png", problem[1])


# ----------------------------------------------------------------------------- one image
@dataclass
class _Diff:
    """How a PNG differs from its segments_info (capped lists, exact counts)."""

    unlisted: list = field(default_factory=list)        # (segment id, pixels)
    n_unlisted: int = 0
    no_pixels: list = field(default_factory=list)       # segment ids
    n_no_pixels: int = 0
    stale_area: list = field(default_factory=list)      # (segment id, json area, png area)
    n_stale_area: int = 0
    stale_bbox: list = field(default_factory=list)      # (segment id, json bbox, png bbox)
    n_stale_bbox: int = 0
    n_xyxy: int = 0
    fixed: Optional[tuple] = None                       # (area, bbox) per listed segment


def _compare(ann: Annotation, png: _Png, *, boxes: bool, keep_fixed: bool) -> _Diff:
    """Differences between a PNG's statistics and its listed segments (listing order kept)."""
    from .._kernels import segstats_panoptic as K

    flags, area, box, unlisted, n_unlisted = K.compare_segments(png.ids, png.area, png.bbox, ann.ids, ann.area,
                                                                ann.bbox, boxes)
    d = _Diff(fixed=(area, box) if keep_fixed else None)
    if n_unlisted:
        d.n_unlisted = n_unlisted
        d.unlisted = [(int(i), int(a)) for i, a in zip(png.ids[unlisted][:_PER_IMAGE], png.area[unlisted][:_PER_IMAGE])]
    if not flags.any():
        return d
    empty = (flags & K.NO_PIXELS) != 0
    d.n_no_pixels = int(empty.sum())
    d.no_pixels = ann.ids[empty][:_PER_IMAGE].tolist()
    stale = (flags & K.STALE_AREA) != 0
    d.n_stale_area = int(stale.sum())
    d.stale_area = [(int(i), _num(a), int(b)) for i, a, b in
                    zip(ann.ids[stale][:_PER_IMAGE], ann.area[stale][:_PER_IMAGE], area[stale][:_PER_IMAGE])]
    sb = (flags & K.STALE_BBOX) != 0
    d.n_stale_bbox = int(sb.sum())
    d.n_xyxy = int(((flags & K.BBOX_XYXY) != 0).sum())
    d.stale_bbox = [(int(i), [_num(v) for v in a], b.tolist()) for i, a, b in
                    zip(ann.ids[sb][:_PER_IMAGE], ann.bbox[sb][:_PER_IMAGE], box[sb][:_PER_IMAGE])]
    return d


def _num(x: float):
    return int(x) if float(x).is_integer() else float(x)


@dataclass
class _ImageResult:
    image_id: Any
    gt: _Png
    gt_diff: Optional[_Diff]
    pred: Optional[_Png] = None
    pred_diff: Optional[_Diff] = None
    size_entry: Optional[tuple] = None      # the 'images' entry (width, height) when it differs


def _examine(gt_ann: Annotation, gt_folder: Path, pred_ann: Optional[Annotation], pred_folder: Optional[Path],
             image_size: Optional[tuple], keep_fixed: bool, buffers: Buffers) -> _ImageResult:
    gt = _read_png(gt_folder / gt_ann.file_name, buffers)
    res = _ImageResult(gt_ann.image_id, gt, None)
    if gt.ids is not None and gt_ann.checkable:
        res.gt_diff = _compare(gt_ann, gt, boxes=True, keep_fixed=keep_fixed)
    if image_size is not None and gt.size is not None and gt.size != image_size:
        res.size_entry = image_size
    if gt.ids is not None:
        gt.ids = gt.area = gt.bbox = None   # the diff holds what is needed
    if pred_ann is not None and pred_folder is not None:
        pred = res.pred = _read_png(pred_folder / pred_ann.file_name, buffers)
        if pred.ids is not None and pred_ann.checkable:
            res.pred_diff = _compare(pred_ann, pred, boxes=False, keep_fixed=False)
        pred.ids = pred.area = pred.bbox = None
    return res


# ----------------------------------------------------------------------------- the run
def validate_panoptic(gt_json, pred_json=None, *, gt_folder=None, pred_folder=None, preset=None, jobs=None,
                      write_fixed_json=None, progress=None) -> ValidationReport:
    """Check a COCO panoptic ground truth (and optionally predictions) without scoring.

    Parameters
    ----------
    gt_json, pred_json : path-like
        COCO panoptic JSON files.
    gt_folder, pred_folder : path-like, optional
        Their PNG folders (default: the JSON path without ``.json``, panopticapi's rule).
    preset : str, optional
        A panoptic preset (``coco-panoptic``, ``ade20k-panoptic``): its expected
        layout is checked.
    jobs : int, optional
        Worker threads (default: usable CPUs, at most 8).
    write_fixed_json : path-like, optional
        Write a copy of the GT JSON there with every segment's ``area`` and ``bbox``
        recomputed from the PNGs (images whose PNG cannot be read or whose
        segments_info is malformed are copied unchanged; the report says how many).
    progress : callable, optional
        Called with 1 after each image.

    Returns
    -------
    ValidationReport

    Raises
    ------
    DataFileError
        A JSON file or PNG folder is missing.
    InputError
        A semantic preset, or ``write_fixed_json`` naming the GT JSON itself.

    Notes
    -----
    Areas are pixel counts of each id in the PNG (``id = R + 256 G + 256^2 B``);
    boxes follow COCO, ``[x, y, w, h]`` with ``x, y`` the smallest column and row
    and ``w = x_max - x_min + 1``, ``h = y_max - y_min + 1`` (checked against the
    real COCO sample); a segment with no pixel gets area 0 and box ``[0, 0, 0, 0]``.
    Stale areas are errors for the ground truth (PQ uses the JSON's GT areas, so
    they move the number) and notes for predictions (every tool recomputes them).
    """
    from ..errors import DataFileError
    from ..folders import default_jobs
    from ..io.coco_panoptic import default_folder
    from ..presets import get_preset
    from .._engine.schedule import resolve_jobs, run_indexed

    p = get_preset(preset) if preset else None
    if p is not None and p.task != "panoptic":
        raise InputError(f"preset {p.name} is for {p.task} data; use validate_semantic")
    gt_json = Path(gt_json)
    if write_fixed_json is not None and Path(write_fixed_json).resolve() == gt_json.resolve():
        raise InputError(f"--write-fixed-json {write_fixed_json} would overwrite the ground truth; pick another path")
    gt_folder = Path(gt_folder) if gt_folder is not None else default_folder(gt_json)
    gt = parse_json(gt_json, "ground-truth")
    if not gt_folder.is_dir():
        raise DataFileError(f"no PNG folder for the ground truth {gt_json}: expected {gt_folder}")
    pred = None
    if pred_json is not None:
        pred_json = Path(pred_json)
        pred_folder = Path(pred_folder) if pred_folder is not None else default_folder(pred_json)
        pred = parse_json(pred_json, "prediction")
        if not pred_folder.is_dir():
            raise DataFileError(f"no PNG folder for the predictions {pred_json}: expected {pred_folder}")
    out = Findings()
    json_findings(gt, out)
    if pred is not None:
        json_findings(pred, out, gt_categories=gt.categories)
        _category_flags(gt, pred, out)
    _gt_layout(gt, p, out)
    pairs = _pair(gt, pred, out)
    keep_fixed = write_fixed_json is not None
    results: list = []
    if pairs:
        n_jobs = resolve_jobs(jobs, len(pairs), default_jobs)
        run_indexed(len(pairs),
                    lambda buffers, i: _examine(pairs[i][0], gt_folder, pairs[i][1], pred_folder,
                                                gt.images.get(pairs[i][0].image_id), keep_fixed, buffers),
                    Buffers, n_jobs, sink=lambda _i, r: results.append(r), progress=progress)
    _png_findings(results, out)
    if keep_fixed:
        _write_fixed(gt, results, Path(write_fixed_json), out)
    summary = {
        "gt": str(gt_json), "gt_folder": str(gt_folder), "pred": None if pred is None else str(pred_json),
        "pred_folder": None if pred is None else str(pred_folder), "preset": p.name if p else None,
        "images": len(gt.annotations), "segments": gt.n_segments, "categories": len(gt.categories),
        "pred_images": None if pred is None else len(pred.annotations),
        "described": f"{plural(len(gt.annotations), 'ground-truth image')}, {plural(gt.n_segments, 'segment')}, "
                     f"{plural(len(gt.categories), 'category', 'categories')}"
                     + ("" if pred is None else f"; {plural(len(pred.annotations), 'prediction')}"),
    }
    return ValidationReport("panoptic", out.items, summary)


def _category_flags(gt: ParsedJson, pred: ParsedJson, out: Findings) -> None:
    differ = [(cid, c.get("isthing"), gt.categories[cid].get("isthing")) for cid, c in pred.categories.items()
              if cid in gt.categories and "isthing" in c and bool(c.get("isthing")) != bool(gt.categories[cid].get("isthing"))]
    if differ:
        shown = [f"{cid}: {a!r} vs GT {b!r}" for cid, a, b in differ]
        out.add("panoptic.isthing_differs", f"{pred.path}: {plural(len(differ), 'category', 'categories')} "
                f"{verb(len(differ), 'has', 'have')} other "
                f"isthing flags than the ground truth (the GT's are used): {listing(shown)}",
                count=len(differ), category_ids=[x[0] for x in differ])


def _gt_layout(gt: ParsedJson, preset, out: Findings) -> None:
    from ..folders import panoptic_preset_problems

    if not gt.valid:
        return
    empty = [a.image_id for a in gt.annotations.values() if a.ids.size == 0]
    if empty:
        out.add("panoptic.empty_annotation", f"{plural(len(empty), 'ground-truth image')} "
                f"{verb(len(empty), 'has', 'have')} no segment (all void): "
                f"{listing(empty)}", count=len(empty), image_ids=empty)
    missing_area = sum(a.missing_area for a in gt.annotations.values())
    if missing_area:
        imgs = [a.image_id for a in gt.annotations.values() if a.missing_area]
        out.add("panoptic.missing_area", f"{plural(missing_area, 'ground-truth segment')} in {plural(len(imgs), 'image')} "
                f"{verb(missing_area, 'has', 'have')} no 'area' (panopticapi needs it; --write-fixed-json adds it): "
                f"{listing(imgs)}",
                count=missing_area, image_ids=imgs)
    if gt.images:
        no_ann = [i for i in gt.images if i not in gt.annotations]
        no_img = [i for i in gt.annotations if i not in gt.images]
        if no_ann or no_img:
            parts = []
            if no_ann:
                parts.append(f"{plural(len(no_ann), 'images entry', 'images entries')} without annotation "
                             f"({listing(no_ann)})")
            if no_img:
                parts.append(f"{plural(len(no_img), 'annotation')} without an images entry ({listing(no_img)})")
            out.add("panoptic.image_without_annotation", f"{gt.path}: " + "; ".join(parts),
                    count=len(no_ann) + len(no_img), images_without_annotation=no_ann, annotations_without_image=no_img)
    crowd = sum(int(a.iscrowd.sum()) for a in gt.annotations.values())
    problems = panoptic_preset_problems(preset, gt.categories, crowd, gt.path.name)
    if problems:
        out.add("panoptic.preset_layout", "; ".join(problems), count=len(problems), problems=problems)


def _pair(gt: ParsedJson, pred: Optional[ParsedJson], out: Findings) -> list:
    """``[(gt annotation, pred annotation or None)]`` in GT order, and the pairing findings."""
    if pred is None or not pred.valid or not gt.valid:
        return [(a, None) for a in gt.annotations.values()]
    missing = [i for i in gt.annotations if i not in pred.annotations]
    unknown = [i for i in pred.annotations if i not in gt.annotations]
    by_text = {str(i): i for i in missing}
    typed = [(by_text[str(i)], i) for i in unknown if str(i) in by_text]
    if typed:
        moved = {g for g, _ in typed} | {q for _, q in typed}
        missing = [i for i in missing if i not in moved]
        unknown = [i for i in unknown if i not in moved]
        shown = [f"{g!r} vs {q!r}" for g, q in typed]
        out.add("panoptic.image_id_type", f"{plural(len(typed), 'image id')} {verb(len(typed), 'differs', 'differ')} between the "
                f"ground truth and the "
                f"predictions only by type (integer vs string), so they do not pair: {listing(shown)}",
                count=len(typed), image_ids=[g for g, _ in typed])
    if missing:
        out.add("panoptic.missing_prediction", f"{plural(len(missing), 'ground-truth image')} of "
                f"{len(gt.annotations):,} {verb(len(missing), 'has', 'have')} no prediction in {pred.path}: "
                f"{listing(list(map(repr, missing)))}",
                count=len(missing), image_ids=missing)
    if unknown:
        out.add("panoptic.unknown_image", f"{plural(len(unknown), 'prediction')} {verb(len(unknown), 'is', 'are')} for images "
                f"not in the ground truth "
                f"(eval ignores them): {listing(list(map(repr, unknown)))}", count=len(unknown), image_ids=unknown)
    return [(a, pred.annotations.get(a.image_id)) for a in gt.annotations.values()]


# ----------------------------------------------------------------------------- PNG findings
class _Tally:
    """Exact counts and capped example lists of one kind of PNG finding."""

    def __init__(self) -> None:
        self.n = 0
        self.images: list = []
        self.n_images = 0
        self.items: list = []

    def add(self, image_id, items: list, n: int) -> None:
        if n <= 0:
            return
        self.n += n
        self.n_images += 1
        if len(self.images) < MAX_RECORDED:
            self.images.append(image_id)
        room = MAX_RECORDED - len(self.items)
        if room > 0:
            self.items.extend(items[:room])


def _png_findings(results: list, out: Findings) -> None:
    t = {k: _Tally() for k in ("missing", "corrupt", "rgba", "not_rgb", "size", "pred_size", "unlisted", "no_pixels",
                               "stale_area", "stale_bbox", "xyxy", "pred_area")}
    for r in results:
        for side, png in (("ground truth", r.gt), ("prediction", r.pred)):
            if png is None or png.problem is None:
                continue
            key = {"panoptic.missing_png": "missing", "panoptic.corrupt_png": "corrupt", "panoptic.rgba_png": "rgba",
                   "panoptic.not_rgb_png": "not_rgb"}[png.problem[0]]
            t[key].add(r.image_id, [{"image_id": r.image_id, "file": str(png.path), "side": side,
                                     "detail": png.problem[1], "alpha": png.alpha}], 1)
        if r.size_entry is not None:
            t["size"].add(r.image_id, [{"image_id": r.image_id, "png": list(r.gt.size), "images_entry": list(r.size_entry)}], 1)
        if r.pred is not None and r.pred.size is not None and r.gt.size is not None and r.pred.size != r.gt.size:
            t["pred_size"].add(r.image_id, [{"image_id": r.image_id, "gt": list(r.gt.size), "pred": list(r.pred.size)}], 1)
        for side, d in (("gt", r.gt_diff), ("pred", r.pred_diff)):
            if d is None:
                continue
            t["unlisted"].add(r.image_id, [{"image_id": r.image_id, "side": side, "segment_id": s, "pixels": a}
                                           for s, a in d.unlisted], d.n_unlisted)
            t["no_pixels"].add(r.image_id, [{"image_id": r.image_id, "side": side, "segment_id": s}
                                            for s in d.no_pixels], d.n_no_pixels)
            tally = t["stale_area"] if side == "gt" else t["pred_area"]
            tally.add(r.image_id, [{"image_id": r.image_id, "segment_id": s, "json": a, "png": b}
                                   for s, a, b in d.stale_area], d.n_stale_area)
        if r.gt_diff is not None:
            t["stale_bbox"].add(r.image_id, [{"image_id": r.image_id, "segment_id": s, "json": a, "png": b}
                                             for s, a, b in r.gt_diff.stale_bbox], r.gt_diff.n_stale_bbox)
            t["xyxy"].add(r.image_id, [], r.gt_diff.n_xyxy)

    const = sum(1 for i in t["rgba"].items if i["alpha"] == "constant 255")
    for key, code, noun, verbs, text, field in (
            ("missing", "panoptic.missing_png", "PNG file", ("does", "do"), "not exist (listed in the JSON)", "file"),
            ("corrupt", "panoptic.corrupt_png", "PNG file", ("cannot", "cannot"), "be decoded", "detail"),
            ("rgba", "panoptic.rgba_png", "PNG", ("is", "are"), "RGBA; eval needs 8-bit RGB"
             + (f" ({const} {verb(const, 'has', 'have')} a constant alpha of 255: drop the alpha channel)"
                if const else ""), "detail"),
            ("not_rgb", "panoptic.not_rgb_png", "PNG", ("is", "are"), "not 8-bit RGB (id = R + 256 G + 256^2 B)",
             "detail")):
        x = t[key]
        if x.n:
            shown = [i[field] + (" (prediction)" if i["side"] == "prediction" and field == "file" else "")
                     for i in x.items]
            out.add(code, f"{plural(x.n, noun)} {verb(x.n, *verbs)} {text}: {listing(shown, x.n, limit=3)}",
                    count=x.n, files=[i["file"] for i in x.items], image_ids=x.images)
    for key, code, noun, text, show in (
            ("size", "panoptic.image_size_mismatch", "ground-truth PNG", "in size from their 'images' entry",
             lambda i: f"{i['image_id']!r} (PNG {i['png'][0]}x{i['png'][1]}, images entry "
                       f"{i['images_entry'][0]}x{i['images_entry'][1]})"),
            ("pred_size", "panoptic.pred_size_mismatch", "prediction PNG", "in size from the ground truth",
             lambda i: f"{i['image_id']!r} (GT {i['gt'][0]}x{i['gt'][1]}, prediction {i['pred'][0]}x{i['pred'][1]})")):
        x = t[key]
        if x.n:
            out.add(code, f"{plural(x.n, noun)} {verb(x.n, 'differs', 'differ')} {text}: "
                    f"{listing([show(i) for i in x.items], x.n, limit=3)}", count=x.n, image_ids=x.images,
                    sizes=x.items)
    _segments_finding(out, "panoptic.unlisted_png_id", t["unlisted"], "segment id", "PNG",
                      ("is", "are"), "not in segments_info",
                      lambda i: f"image {i['image_id']!r} id {i['segment_id']} ({i['pixels']:,} px, {_side(i)})")
    _segments_finding(out, "panoptic.segment_without_pixels", t["no_pixels"], "listed segment", "image",
                      ("has", "have"), "no pixel in the PNG", lambda i: f"image {i['image_id']!r} segment {i['segment_id']} "
                                                            f"({_side(i)})")
    _segments_finding(out, "panoptic.stale_area", t["stale_area"], "ground-truth area", "image",
                      ("differs", "differ"), "from the PNG's pixel counts (PQ uses them; stale areas can push PQ "
                      "past 100; "
                      "--write-fixed-json writes a corrected copy)",
                      lambda i: f"image {i['image_id']!r} segment {i['segment_id']}: {i['json']} vs {i['png']} px")
    _segments_finding(out, "panoptic.stale_bbox", t["stale_bbox"], "ground-truth bbox", "image",
                      ("differs", "differ"), "from the PNG ([x, y, w, h])",
                      lambda i: f"image {i['image_id']!r} segment {i['segment_id']}: {i['json']} vs {i['png']}")
    x = t["xyxy"]
    if x.n:
        out.add("panoptic.bbox_xyxy", f"{plural(x.n, 'bbox', 'bboxes')} in {plural(x.n_images, 'image')} "
                f"{verb(x.n, 'is', 'are')} written "
                f"[x1, y1, x2, y2]; COCO uses [x, y, width, height]: {listing(x.images)}", count=x.n,
                image_ids=x.images)
    x = t["pred_area"]
    if x.n:
        out.add("panoptic.pred_stale_area", f"{plural(x.n, 'prediction area')} in {plural(x.n_images, 'image')} "
                f"{verb(x.n, 'differs', 'differ')} "
                f"from the PNG (harmless: every tool counts prediction pixels itself): {listing(x.images)}",
                count=x.n, image_ids=x.images, segments=x.items)


def _segments_finding(out: Findings, code: str, tally: _Tally, noun: str, place: str, verbs: tuple, text: str,
                      show) -> None:
    """One finding about segments: how many, in how many images, the first few."""
    if tally.n:
        out.add(code, f"{plural(tally.n, noun, noun + ('es' if noun.endswith('x') else 's'))} in "
                f"{plural(tally.n_images, place)} {verb(tally.n, *verbs)} {text}: "
                f"{listing([show(i) for i in tally.items], tally.n, limit=3)}",
                count=tally.n, image_ids=tally.images, segments=tally.items)


def _side(item: dict) -> str:
    return "ground truth" if item.get("side") == "gt" else "prediction"


# ----------------------------------------------------------------------------- fixed JSON
def _write_fixed(gt: ParsedJson, results: list, path: Path, out: Findings) -> None:
    """Write the GT JSON with recomputed ``area`` and ``bbox`` (atomically)."""
    from ..errors import DataFileError

    if not gt.valid:
        out.add("panoptic.fixed_json", f"{path} was not written: {gt.path} is not a COCO panoptic file", files=[str(path)])
        return
    data = gt.data
    anns = data["annotations"]
    fixed = areas = boxes = 0
    untouched = []
    for r in results:
        ann = gt.annotations[r.image_id]
        if r.gt_diff is None or r.gt_diff.fixed is None:
            untouched.append(r.image_id)
            continue
        area, box = r.gt_diff.fixed
        for s, a, b in zip(anns[ann.index]["segments_info"], area.tolist(), box.tolist()):
            areas += s.get("area") != a
            boxes += s.get("bbox") != b
            s["area"] = a
            s["bbox"] = b if a else [0, 0, 0, 0]
        fixed += 1
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fixed-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError as exc:
        raise DataFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    tail = (f"; {plural(len(untouched), 'image')} copied unchanged (PNG unreadable or segments_info malformed): "
            f"{listing(list(map(repr, untouched)))}" if untouched else "")
    out.add("panoptic.fixed_json", f"wrote {path}: {plural(fixed, 'image')} recomputed, {plural(areas, 'area')} and "
            f"{plural(boxes, 'bbox', 'bboxes')} changed{tail}", count=fixed, files=[str(path)],
            areas_changed=areas, bboxes_changed=boxes, images_unchanged=untouched)
