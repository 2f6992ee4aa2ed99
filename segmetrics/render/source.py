"""Pictures of a result or a run-state file: :class:`ReportData` with the gallery's files.

A result knows what it scored: its image ids (in the state) and where the
files were (``dataset``: the GT and prediction folders, or the COCO-panoptic
JSON files and their PNG folders).  :func:`result_data` finds the files of the
images again with the package's own pairing rules (:func:`segmetrics.io.folders.pair_label_files`,
:func:`segmetrics.folders.resolve_panoptic_input`) and reads the label tables the
run counted with (:func:`segmetrics.folders.semantic_label_rules`), so the
gallery draws each image exactly as it was scored.  For a state file whose
data moved, ``gt`` / ``pred`` give the new places.  :func:`render_result` and
:func:`render_comparison` write the HTML pages that ``segmetrics eval``,
``report`` and ``compare`` write with ``--html``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional

from .data import ReportData
from .gallery import panoptic_gallery_images
from .html import render_compare_html, render_html

__all__ = ["gallery_images", "result_data", "render_result", "render_comparison"]


def _one_path(value, what: str, flag: str) -> Path:
    from ..errors import InputError

    if isinstance(value, list):
        raise InputError(f"the run's {what} is not one folder (a merge of runs from {len(value)} places): pass {flag}")
    if not value:
        raise InputError(f"the run does not say where its {what} is: pass {flag}")
    return Path(value)


def gallery_images(result, *, gt=None, pred=None, gt_folder=None, pred_folder=None) -> tuple[list, dict]:
    """The files of a folder run's images (``GalleryImage`` per image) and, for a semantic run,
    its label tables as ``{"gt_map", "pred_map"}``.

    Parameters
    ----------
    result : SemanticResult or PanopticResult
        A folder run (or its state file).
    gt, pred : path-like, optional
        Where the ground truth and the predictions are now (default: the paths
        of the run, ``result.dataset``).  Panoptic: the JSON files.
    gt_folder, pred_folder : path-like, optional
        Panoptic PNG folders, when not next to the JSON files.

    Raises
    ------
    InputError, DataFileError, FormatError
        The files cannot be found or read (the message names the path and the
        option that gives the new place).
    """
    d = result.dataset
    gt = Path(gt) if gt is not None else _one_path(d.get("gt"), "ground truth", "--gt")
    pred = Path(pred) if pred is not None else _one_path(d.get("pred"), "prediction", "--pred")
    if result.task == "panoptic":
        from ..folders import resolve_panoptic_input
        from ..io.coco_panoptic import load_panoptic_json

        if gt_folder is None and d.get("gt_folder") and not isinstance(d["gt_folder"], list) and gt == Path(d["gt"]):
            gt_folder = d["gt_folder"]
        if pred_folder is None and d.get("pred_folder") and not isinstance(d["pred_folder"], list) \
                and pred == Path(d["pred"]):
            pred_folder = d["pred_folder"]
        g_json, g_png = resolve_panoptic_input(gt, gt_folder, "ground-truth")
        p_json, p_png = resolve_panoptic_input(pred, pred_folder, "prediction")
        return panoptic_gallery_images(load_panoptic_json(g_json, g_png, require_categories=True),
                                       load_panoptic_json(p_json, p_png)), {}
    from ..folders import semantic_label_rules
    from ..io.folders import pair_label_files
    from ..presets import get_preset
    from .data import GalleryImage

    p = result.params
    preset = get_preset(p["preset"]) if p.get("preset") else None
    rules = semantic_label_rules(p)
    pairing = pair_label_files(gt, pred, gt_suffix=preset.gt_suffix if preset else "",
                               pred_suffixes=preset.pred_suffixes if preset else (), allow_missing=True)
    images = [GalleryImage(image_id, g, q) for image_id, g, q in pairing.pairs]
    return images, {"gt_map": rules.gt_map, "pred_map": rules.pred_map}


def result_data(result, *, report: Optional[Mapping] = None, intervals=None, worst: Optional[int] = None,
                images: bool = True, gt=None, pred=None, gt_folder=None, pred_folder=None) -> tuple[ReportData, list]:
    """The :class:`ReportData` of a result, with the gallery's files when ``images`` and they can be
    found; returns ``(data, notes)``, the notes saying why the gallery is empty when it is.

    Files that cannot be found where the run found them leave the gallery out (a note says
    why); places given here (``gt``, ``pred``, ...) that do not hold them are an error.
    """
    from ..errors import SegmetricsError

    notes: list = []
    extras: dict = {}
    given = any(x is not None for x in (gt, pred, gt_folder, pred_folder))
    if images and result.state is not None and result.state.per_image_kept:
        try:
            files, tables = gallery_images(result, gt=gt, pred=pred, gt_folder=gt_folder, pred_folder=pred_folder)
            extras.update(images=files, **tables)
        except (SegmetricsError, OSError) as exc:
            if given:
                raise
            notes.append(f"no worst-image gallery: {str(exc).splitlines()[0]} (--gt / --pred give the data's "
                         f"new place)")
    return ReportData.from_result(result, report=report, intervals=intervals, worst=worst, **extras), notes


def render_result(result, path, *, report: Optional[Mapping] = None, intervals=None, images_dir=None,
                  worst: int = 24, gt=None, pred=None, gt_folder=None, pred_folder=None, **kwargs) -> list:
    """Write the HTML report of a result (what ``eval`` / ``report ... --html`` write).

    Parameters
    ----------
    result : SemanticResult or PanopticResult
    path : path-like
    report : dict, optional
        The report already made (``result.to_report(...)``), else made here with ``intervals``.
    intervals : segmetrics.stats.Intervals, optional
    images_dir : path-like, optional
        Input photos beside the worst images.
    worst : int
        Gallery size (0: none).
    gt, pred, gt_folder, pred_folder : path-like, optional
        Where the data are now, when they moved since the run.
    **kwargs
        Further options of :func:`segmetrics.render.render_html`.

    Returns
    -------
    list of str
        Notes (why the gallery is empty, when it is).
    """
    data, notes = result_data(result, report=report, intervals=intervals, images=worst > 0, gt=gt, pred=pred,
                              gt_folder=gt_folder, pred_folder=pred_folder)
    render_html(data, path, images_dir=images_dir, worst=worst, **kwargs)
    return notes


def render_comparison(new_report: Mapping, base_report: Mapping, rows: Mapping, path, **kwargs) -> Path:
    """Write the comparison page of ``segmetrics compare --html`` from comparison rows
    (:meth:`segmetrics.stats.results.RunComparison.rows` or :func:`segmetrics.report.compare_reports`)."""
    sig = rows.get("significance") or {}
    comparison = dict(rows, alpha=sig.get("alpha", 0.05))
    if sig.get("correction"):
        corr = {"holm": "Holm", "bh": "Benjamini-Hochberg"}[sig["correction"]]
        comparison.update(correction=corr,
                          metrics_rule=f"p <= {sig['alpha']:g} (two-sided paired randomization test over "
                                       f"{sig['images']} images; not corrected across metrics)",
                          per_class_rule=f"{corr}-adjusted p <= {sig['alpha']:g}")
    return render_compare_html(ReportData(new_report, base_report=base_report, comparison=comparison), path,
                               **kwargs)
