"""The worst-K gallery: read an image's files and turn them into small encoded pictures.

Reading goes through the package's readers (:func:`segmetrics.io.png.read_png`,
:func:`segmetrics.io.coco_panoptic.read_id_png`); drawing through
:mod:`.overlays`; the panoptic segment statuses through :mod:`.matching`.
Pillow only encodes the thumbnails (PNG for label pictures, WebP for photos).
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from . import overlays as ov
from .data import GalleryImage, ReportData
from .palettes import STATUS_COLORS

__all__ = ["Panel", "GalleryEntry", "find_input_image", "label_tables", "gallery_entry", "png_bytes",
           "panoptic_gallery_images"]

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: stem endings of GT files that the input photo does not have (Cityscapes, ...)
_GT_STEM_SUFFIXES = ("_gtFine_labelIds", "_gtFine_labelTrainIds", "_gtCoarse_labelIds")
_PHOTO_STEM_SUFFIXES = ("", "_leftImg8bit")


@dataclass
class Panel:
    """One encoded picture of a gallery entry."""

    title: str
    data: bytes
    mime: str
    width: int
    height: int


@dataclass
class GalleryEntry:
    """Everything the report shows for one image."""

    image_id: Any
    scores: Mapping
    panels: list = field(default_factory=list)
    legend: list = field(default_factory=list)   # (label, (r, g, b), kind) kind: "class" or "status"
    error: Optional[str] = None


def png_bytes(pixels: np.ndarray, palette: Optional[np.ndarray] = None) -> bytes:
    """PNG file of an ``(H, W, 3)`` uint8 image, or of an index image with its ``(n, 3)`` palette."""
    from PIL import Image

    if palette is not None:
        im = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), mode="P")
        im.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
    else:
        im = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), mode="RGB")
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def panoptic_gallery_images(gt, pred) -> list[GalleryImage]:
    """Gallery files of every GT image of two COCO panoptic sets, in GT order.

    Parameters
    ----------
    gt, pred : PanopticDataset
        As loaded by :func:`segmetrics.io.coco_panoptic.load_panoptic_json`
        (their ``folder`` is where the PNG files are).

    Returns
    -------
    list of GalleryImage
        With both sides' ``segments_info``; ``pred_path`` None for a GT image
        without prediction.
    """
    out = []
    for image_id, ann in gt.annotations.items():
        p = pred.annotations.get(image_id)
        out.append(GalleryImage(image_id, gt.png_path(image_id), pred.png_path(image_id) if p else None,
                                ann.get("segments_info", []), p.get("segments_info", []) if p else None))
    return out


def find_input_image(images_dir, image_id, gt_path=None) -> Optional[Path]:
    """The input photo of an image in ``images_dir``, or None.

    Notes
    -----
    Tried in order, with the extensions of :data:`PHOTO_SUFFIXES`: the image id
    as a relative path (``frankfurt/frankfurt_000000_000294``), the GT file's
    stem, both with a known GT ending removed (``_gtFine_labelIds`` ...), and each
    of those with ``_leftImg8bit`` appended (Cityscapes); first at the id's
    relative folder, then at the top of ``images_dir``.
    """
    if images_dir is None:
        return None
    root = Path(images_dir)
    rel = Path(str(image_id))
    stems = [rel.name]
    if gt_path is not None:
        stems.append(Path(gt_path).stem)
    for s in list(stems):
        for suf in _GT_STEM_SUFFIXES:
            if s.endswith(suf):
                stems.append(s[: -len(suf)])
    folders = [root / rel.parent, root] if str(rel.parent) not in ("", ".") else [root]
    seen = set()
    for folder in folders:
        for stem in stems:
            for extra in _PHOTO_STEM_SUFFIXES:
                for ext in PHOTO_SUFFIXES:
                    p = folder / f"{stem}{extra}{ext}"
                    if p in seen:
                        continue
                    seen.add(p)
                    if p.is_file():
                        return p
    return None


def _photo(path, size: tuple[int, int]) -> Panel:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = size
        im.draft("RGB", (w, h))
        im = im.resize((w, h), Image.BILINEAR, reducing_gap=2.0)
        buf = io.BytesIO()
        im.save(buf, format="WEBP", quality=70, method=2)
    return Panel("input", buf.getvalue(), "image/webp", w, h)


def label_tables(data: ReportData) -> tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[int], int]:
    """Semantic ``(gt_map, pred_map, ignore_index, num_classes)`` for the error maps.

    Notes
    -----
    The tables given in ``data`` win (pass the evaluator's ``gt_map`` /
    ``pred_map``).  Otherwise they are the run's own, rebuilt from the report's
    ``params`` by :func:`segmetrics.folders.semantic_label_rules` (the resolution
    the folder run used, checked against the run's ``label_tables`` digest).
    """
    from ..folders import semantic_label_rules

    p = data.report.get("params", {})
    k = int(p.get("num_classes") or len(data.report["per_class"]))
    ignore = p.get("ignore_index", 255)
    gt_map, pred_map = data.gt_map, data.pred_map
    if gt_map is None and pred_map is None and p.get("num_classes") is not None:
        rules = semantic_label_rules(p)
        gt_map, pred_map = rules.gt_map, rules.pred_map
    return gt_map, pred_map, ignore, k


def _class_legend(classes: np.ndarray, names: Sequence[str], colors: np.ndarray) -> list:
    return [(names[c], tuple(int(v) for v in colors[c]), "class") for c in classes.tolist() if 0 <= c < len(names)]


def _semantic(data: ReportData, item: GalleryImage, entry: GalleryEntry, max_side: int, colors, tables) -> None:
    from ..io.png import read_png

    gt_lut, pred_lut, ignore, k = tables if tables is not None else label_tables(data)
    fill = ignore if ignore is not None else -1
    gt = ov.apply_lut(_gray(read_png(os.fspath(item.gt_path)), item.gt_path), gt_lut, fill=fill)
    pred = None
    if item.pred_path is not None:
        pred = ov.apply_lut(_gray(read_png(os.fspath(item.pred_path)), item.pred_path), pred_lut, fill=fill)
    codes = ov.semantic_error_map(gt, pred, num_classes=k, ignore_index=ignore)
    f = ov.thumb_factor(gt.shape, max_side)
    g_small = ov.downscale_nearest(gt, f)
    h, w = g_small.shape
    pal = np.concatenate([colors, np.array([STATUS_COLORS["not scored"]], dtype=np.uint8)])
    use_index = len(pal) <= 256

    def label_panel(title, lab):
        idx = np.where((lab >= 0) & (lab < k), lab, k)
        if use_index:
            return Panel(title, png_bytes(idx.astype(np.uint8), pal), "image/png", w, h)
        return Panel(title, png_bytes(pal[idx]), "image/png", w, h)

    entry.panels.append(label_panel("ground truth", g_small))
    if pred is not None:
        entry.panels.append(label_panel("prediction", ov.downscale_nearest(pred, f)))
    else:
        entry.panels.append(Panel("prediction (missing)", png_bytes(np.full((h, w, 3), STATUS_COLORS["missing"],
                                                                              np.uint8)), "image/png", w, h))
    err = ov.colorize_errors(ov.downscale_max(codes, f))
    entry.panels.append(Panel("errors", png_bytes(err), "image/png", w, h))
    present = _present(gt, k) | (_present(pred, k) if pred is not None else False)
    entry.legend = _class_legend(np.flatnonzero(present), data.names, colors) + [
        ("correct", STATUS_COLORS["correct"], "status"), ("wrong", STATUS_COLORS["wrong"], "status"),
        ("not scored (ignore)", STATUS_COLORS["ignored_alt"], "status")]


def _present(labels: np.ndarray, k: int) -> np.ndarray:
    """Which of the classes ``0..k-1`` occur in a class map (boolean, length k)."""
    v = labels[(labels >= 0) & (labels < k)]
    return np.bincount(v.ravel(), minlength=k)[:k] > 0


def _gray(arr: np.ndarray, path) -> np.ndarray:
    if arr.ndim != 2:
        from ..errors import FormatError

        raise FormatError(f"{path}: a semantic label PNG must be single-channel, got shape {arr.shape}")
    return arr


def _panoptic(data: ReportData, item: GalleryImage, entry: GalleryEntry, max_side: int, colors) -> None:
    from ..io.coco_panoptic import read_id_png, rgb2id
    from .matching import segment_matches

    cats = data.category_list()
    dense = {int(c["id"]): i for i, c in enumerate(cats)}
    isthing = np.array([bool(c.get("isthing", 0)) for c in cats])
    gt_segs = list(item.gt_segments or [])
    pred_segs = list(item.pred_segments or [])
    gt = rgb2id(read_id_png(item.gt_path))
    pred = rgb2id(read_id_png(item.pred_path)) if item.pred_path is not None else None
    if pred is not None:
        m = segment_matches(gt, gt_segs, pred, pred_segs, cats, image_id=item.image_id,
                            recompute_gt_areas=bool(data.report.get("params", {}).get("recompute_gt_areas")))
        gt_status, pred_status = m.gt_status, m.pred_status
    else:  # a missing prediction: every GT segment that is not crowd is a false negative
        gt_status = tuple("not scored" if s.get("iscrowd", 0) else "fn" for s in gt_segs)
        pred_status = ()
    f = ov.thumb_factor(gt.shape, max_side)
    g_small = ov.downscale_nearest(gt, f)
    p_small = ov.downscale_nearest(pred, f) if pred is not None else None
    h, w = g_small.shape

    def seg_cols(segs):
        cat = np.array([dense.get(int(s["category_id"]), -1) for s in segs], dtype=np.int64)
        return ov.segment_colors(cat, isthing, colors), cat

    gcol, gcat = seg_cols(gt_segs)
    pcol, pcat = seg_cols(pred_segs)
    g_rgb, p_rgb, st_rgb = ov.panoptic_panels(
        g_small, p_small, [int(s["id"]) for s in gt_segs], gcol, gt_status,
        [int(s["id"]) for s in pred_segs], pcol, pred_status)
    entry.panels += [
        Panel("ground truth", png_bytes(g_rgb), "image/png", w, h),
        Panel("prediction" if pred is not None else "prediction (missing)", png_bytes(p_rgb), "image/png", w, h),
        Panel("segments", png_bytes(st_rgb), "image/png", w, h),
    ]
    present = np.unique(np.concatenate([gcat, pcat]))
    n_fn = sum(s == "fn" for s in gt_status)
    n_fp = sum(s == "fp" for s in pred_status)
    entry.legend = _class_legend(present[present >= 0], data.names, colors) + [
        ("matched", STATUS_COLORS["matched_fill"], "status"),
        (f"false negative (GT, {n_fn})", STATUS_COLORS["fn"], "status"),
        (f"false positive (prediction, {n_fp})", STATUS_COLORS["fp"], "status"),
        ("not scored (crowd, void)", STATUS_COLORS["not scored"], "status")]


def gallery_entry(data: ReportData, row: Mapping, item: Optional[GalleryImage], *, images_dir=None,
                  max_side: int = 320, colors: Optional[np.ndarray] = None, tables=None) -> GalleryEntry:
    """Pictures of one image: input photo (when found), GT, prediction, error map, legend.

    A file that cannot be read does not stop the report: the entry carries the
    error's one-line message instead of pictures.  ``colors`` (the class
    colours) and ``tables`` (:func:`label_tables`) may be passed to compute them once
    per report.
    """
    from ..errors import SegmetricsError

    image_id = row.get("image_id", item.image_id if item is not None else None)
    entry = GalleryEntry(image_id=image_id, scores={k: v for k, v in row.items() if k != "image_id"})
    if item is None:
        entry.error = "no files given for this image"
        return entry
    if colors is None:
        colors, _ = data.colors()
    try:
        if data.task == "panoptic":
            _panoptic(data, item, entry, max_side, colors)
        else:
            _semantic(data, item, entry, max_side, colors, tables)
        photo = item.image_path or find_input_image(images_dir, image_id, item.gt_path)
        if photo is not None and entry.panels:
            entry.panels.insert(0, _photo(photo, (entry.panels[0].width, entry.panels[0].height)))
    except (SegmetricsError, OSError, ValueError) as exc:
        entry.panels = []
        entry.legend = []
        entry.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return entry
