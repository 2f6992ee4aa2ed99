"""Folder evaluation: the public folder API, from paths to a result with its state.

:func:`evaluate_semantic_folders` and :func:`evaluate_panoptic_folders` do
everything ``segmetrics eval`` does: presets, label maps, the prediction label
convention (``pred_labels``), pairing files or annotations (missing and extra
predictions), ``void_predictions``, the GT fingerprint, worker threads and
the GT cache.  They return a :class:`~segmetrics.semantic.SemanticResult` /
:class:`~segmetrics.panoptic.PanopticResult` that carries its state, its
parameters, what was scored, notes and warnings; the CLI only renders it.

:func:`evaluate_semantic_files` and :func:`evaluate_panoptic_files` are the
lower level: they add a list of pairs (or two loaded COCO datasets) into an
evaluator, through its state.

Data path: the folder engine (:mod:`segmetrics._pipeline`, the one seam to the
compiled side) decodes and counts on ``jobs`` threads and returns
plain sums; files it does not take go through the reference functions of this
module (Pillow-compatible decoding and the array APIs), which also raise each
image's precise error.  Sums become a state (``state.add_sums``), the state a
result (``build_result``).

Layout: this module holds the semantic half; the panoptic half
(:mod:`segmetrics._folders_panoptic`) loads on first use of one of its names
here (PEP 562), so a semantic run imports no COCO-panoptic reader, panoptic
kernel or result code; what both share is in :mod:`segmetrics._folders_shared`.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from . import _pipeline
from ._engine import band as _band
from ._folders_shared import (  # noqa: F401 - default_jobs, shard_of, parse_shard, check_shard re-exported
    _Sharded,
    _band_setting,
    _file_bytes,
    _is_url,
    _jobs,
    _real_names,
    _sibling_json,
    _staged,
    _suggest_validate,
    check_shard,
    default_jobs,
    parse_shard,
    shard_of,
)
from ._memory import check_run_memory
from .errors import DataFileError, FormatError, InputError, LabelError
from .io.folders import pair_label_files
from .io.labelfiles import load_class_names, load_label_map
from .labels import (
    FILE_TABLE_SIZE,
    PRED_LABELS,
    LabelRules,
    check_ignore,
    check_num_classes,
    decide_pred_labels,
    label_map_lut,
)
from .conventions import counting_rules, get_profile, resolve_names
from .metrics import ABSENT_RULES
from .io.png import check_same_size, png_header, read_png
from .presets import get_preset
from .semantic import SemanticEvaluator, SemanticResult, image_confusion
from .semantic import build_result as semantic_result
from .gtcache import file_digest
from .report import plural
from .state import SemanticState, fingerprint, id_key
from .validate._quick import quick_checks, validate_command_line

__all__ = [
    "default_jobs",
    "read_label_map",
    "detect_task",
    "resolve_panoptic_input",
    "evaluate_semantic_folders",
    "evaluate_panoptic_folders",
    "panoptic_quality",
    "evaluate_semantic_files",
    "evaluate_panoptic_files",
    "pair_panoptic",
    "plan_semantic_run",
    "plan_panoptic_run",
    "SemanticRun",
    "PanopticRun",
    "shard_of",
    "check_shard",
    "parse_shard",
    "semantic_label_rules",
]

#: Images read to decide ``pred_labels="auto"`` (evenly spread over the sorted ids), then at most this many.
AUTO_SAMPLE = (8, 32)


def read_label_map(path) -> np.ndarray:
    """Read a single-channel label PNG as a 2-D integer array.

    Palette (``P``) images give their indices, 8-bit greyscale gives uint8 and
    16-bit greyscale gives uint16/int32.

    Raises
    ------
    DataFileError
        The file is missing or cannot be read.
    FormatError
        The file is not a valid PNG, or the image has colour channels (an RGB
        visualisation instead of labels).
    """
    path = Path(path)
    arr = read_png(path)
    if arr.ndim == 3:
        raise _colour_label_map(path, arr.shape[2], arr.shape[1], arr.shape[0])
    if arr.ndim != 2:
        raise FormatError(f"{path}: a label map must be 2-D, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    return arr


def _colour_label_map(path, channels: int, width: int, height: int) -> FormatError:
    return FormatError(
        f"{path}: a label map must be single-channel (8/16-bit grey or palette), got "
        f"{channels} channels of size {width}x{height} (a colour visualisation?)"
    )


#: PNG colour type -> samples per pixel (0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA)
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def check_label_pair(gt_path, pred_path, image_id) -> None:
    """From the two PNG headers alone, before any decode: both are single-channel label
    maps (else :class:`FormatError`), within the pixel limit and of the same size
    (else :class:`InputError`, see :func:`segmetrics.io.png.check_same_size`)."""
    for path in (gt_path, pred_path):
        w, h, _, color_type = png_header(path)
        channels = _PNG_CHANNELS.get(color_type, 1)
        if channels > 1:
            raise _colour_label_map(Path(path), channels, w, h)
    check_same_size(gt_path, pred_path, image_id)


# ============================================================================ semantic
def _semantic_reference(rules: LabelRules, *, missing: bool = False,
                        band: Optional[tuple] = None) -> Callable[[tuple], np.ndarray]:
    """One image's matrix the slow way (any PNG Pillow reads), or the image's precise error;
    with ``band`` (``(dilation_ratio, dilation)``) ``(matrix, interior)``."""

    def reference(item: tuple) -> np.ndarray:
        image_id, gt_path, pred_path = item
        if not missing:  # both headers before any decode: a size mismatch costs no memory
            check_label_pair(gt_path, pred_path, image_id)
        gt = read_label_map(gt_path)
        pred = None if missing else read_label_map(pred_path)
        try:
            if band is not None:
                return image_confusion(gt, pred, rules, image_id=image_id, pred_all_void=missing,
                                       dilation_ratio=band[0], dilation=band[1])
            return image_confusion(gt, pred, rules, image_id=image_id, pred_all_void=missing)
        except LabelError as exc:
            exc.file = str(gt_path if exc.side == "gt" else pred_path)
            if exc.args and exc.file not in str(exc.args[0]):
                exc.args = (f"{exc.args[0]} (file {exc.file})",) + exc.args[1:]
            raise
        except InputError as exc:
            if str(image_id) in str(exc):
                raise
            raise type(exc)(f"image {image_id!r} ({gt_path} / {pred_path}): {exc}") from None

    return reference


def _count_semantic(state: SemanticState, pairs: list, rules: LabelRules, *, jobs, cache_dir, progress,
                    missing: bool = False, digests: Optional[list] = None, band: Optional[tuple] = None) -> None:
    """Score ``pairs`` with the engine and add the sums into ``state`` (with Boundary IoU
    band counts when ``band``, ``(dilation_ratio, dilation)``, is given).

    ``missing``: the pairs have no prediction; every scored GT pixel is a void
    prediction (the engine counts the void column, K + 1 classes).  ``digests``
    (one entry per pair) receives the SHA-256 of each GT file, hashed from the
    bytes the engine read (:func:`_semantic_digests` for the others).
    """
    if not pairs:
        return
    if missing:
        counting = rules.with_void_column()
        gt_codes, pred_codes = counting.gt_codes(FILE_TABLE_SIZE), counting.void_codes()
        pairs = [(i, g, g) for i, g, _ in pairs]  # the GT file stands in for the prediction
        cache_dir = None
    else:
        counting = rules
        gt_codes, pred_codes = rules.engine_tables()
    sums = _pipeline.semantic_files(
        pairs, num_classes=counting.counted_classes, gt_codes=gt_codes, pred_codes=pred_codes,
        reference=_semantic_reference(rules, missing=missing, band=band), jobs=_jobs(jobs, len(pairs)),
        cache_dir=cache_dir, progress=progress, per_image=state.per_image_kept,
        dilation_ratio=band[0] if band else None, dilation=band[1] if band else None, digests=digests)
    if digests is not None:
        _semantic_digests(pairs, digests)
    state.add_sums(sums, [p[0] for p in pairs], missing=missing, digests=digests)


def evaluate_semantic_files(pairs: Sequence[tuple], evaluator: SemanticEvaluator, *, jobs: Optional[int] = None,
                            cache_dir=None, progress: Optional[Callable[[int], None]] = None) -> SemanticEvaluator:
    """Score ``(image_id, gt_path, pred_path)`` pairs into ``evaluator``.

    Parameters
    ----------
    pairs : sequence of (str, path, path)
        One entry per image.
    evaluator : SemanticEvaluator
        Its label rules say how files are read; the run's sums join its state
        (through ``state.merge``) once every image is scored.
    jobs : int, optional
        Worker threads (default: usable CPUs, at most 8).
    cache_dir : path-like, optional
        Folder of the ground-truth cache (:mod:`segmetrics.gtcache`); None: no cache.
    progress : callable, optional
        Called with ``1`` after each image.

    Returns
    -------
    SemanticEvaluator
        ``evaluator`` itself.

    Notes
    -----
    Counts are integer sums, so the result is identical for every ``jobs``,
    with or without the cache.  Pixels follow
    :func:`segmetrics.semantic.confusion_matrix`'s rules; a bad label is a
    :class:`~segmetrics.errors.LabelError` naming the image, the file, the
    values and their pixel counts; a GT / prediction size mismatch an
    :class:`~segmetrics.errors.InputError` naming both files.  The error of the
    first failing image in input order is raised, and the evaluator is then
    left unchanged.
    """
    pairs = list(pairs)
    for image_id, _, pred_path in pairs:
        if pred_path is None:
            raise InputError(f"image {image_id!r} has no prediction; evaluate_semantic_folders(..., "
                             "allow_missing=True) scores missing predictions as all-void")
    run = SemanticState(evaluator.num_classes, per_image=evaluator.per_image, boundary=evaluator.boundary)
    if evaluator.per_image:
        evaluator.state.check_new_ids([p[0] for p in pairs])  # before any work
    _count_semantic(run, pairs, evaluator.rules, jobs=jobs, cache_dir=cache_dir, progress=progress,
                    band=(evaluator.dilation_ratio, evaluator.dilation) if evaluator.boundary else None)
    evaluator.state.merge(run)
    return evaluator


def _mapping(value, what: str):
    """A label map argument: None, a mapping ``{raw: class, "*": default}``, or a file path."""
    if value is None or isinstance(value, Mapping):
        return value
    if isinstance(value, (str, os.PathLike)):
        return load_label_map(value)
    raise InputError(f"{what} must be a mapping or a label-map file path, got {type(value).__name__}")


def _class_names(value) -> Optional[tuple]:
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return load_class_names(value)
    return tuple(str(n) for n in value)


@dataclasses.dataclass
class _SemanticSetup:
    """The label settings of a folder run, resolved from preset and arguments."""

    preset: Any
    num_classes: int
    class_names: tuple
    ignore_index: int
    reduce_zero_label: bool
    gt_map: Optional[np.ndarray]
    readings: dict            # "class-index" / "as-gt" -> prediction table (None: class indices)
    label_map: Optional[str]
    pred_label_map: Optional[str]
    absent_rule: str
    void_predictions: str
    notes: list               # what the user should know about the settings (a preset's names overridden)

    def rules(self, reading: str) -> LabelRules:
        return LabelRules.build(self.num_classes, ignore_index=self.ignore_index, gt_map=self.gt_map,
                                pred_map=self.readings[reading], void_predictions=self.void_predictions)

    def readings_differ(self) -> bool:
        a, b = self.readings["class-index"], self.readings["as-gt"]
        return (a is None) != (b is None) or (a is not None and not np.array_equal(a, b))

    def params(self, reading: str, rules: LabelRules, allow_missing: bool) -> dict:
        plm = self.pred_label_map
        if plm is None and reading == "as-gt" and self.label_map is not None:
            plm = "same as label_map"
        return {
            "preset": self.preset.name if self.preset else None,
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "reduce_zero_label": self.reduce_zero_label,
            "pred_reduce_zero_label": bool(self.reduce_zero_label and reading == "as-gt"),
            "pred_labels": reading,
            "label_map": self.label_map,
            "pred_label_map": plm,
            "absent_rule": self.absent_rule,
            "void_predictions": self.void_predictions,
            "allow_missing": bool(allow_missing),
            "label_tables": rules.digest(),
        }


def resolve_semantic_setup(*, preset=None, num_classes=None, class_names=None, ignore_index=None,
                           reduce_zero_label=None, label_map=None, pred_label_map=None, absent_rule="mmseg",
                           void_predictions="error", require_classes=True) -> _SemanticSetup:
    """Merge a preset with the arguments (arguments win); :class:`InputError` on contradictions.

    The one resolver of semantic settings: the folder API and ``segmetrics validate``
    call it.  With ``require_classes=False`` (validate lists the values it finds when
    the class count is unknown) a setup without a class count has ``num_classes``
    None, no class names and no label tables.
    """
    p = get_preset(preset) if preset else None
    if p is not None and p.task != "semantic":
        raise InputError(f"preset {p.name} is for {p.task} evaluation, not semantic")
    if absent_rule not in ABSENT_RULES:
        raise InputError(f"absent_rule must be one of {ABSENT_RULES}, got {absent_rule!r}")
    given_names = _class_names(class_names)
    names = given_names if given_names is not None else (p.class_names if p else None)
    if num_classes is not None:
        k = check_num_classes(num_classes)
    elif given_names is not None:
        k = len(given_names)
    elif p is not None and p.num_classes is not None:
        k = p.num_classes
    elif not require_classes:
        k = None
    else:
        raise InputError("semantic evaluation needs the number of classes: pass a preset, num_classes or "
                         "class_names (--preset, --num-classes or --class-names)")
    if given_names is not None and len(given_names) != k:
        raise InputError(f"class_names {class_names} gives {len(given_names)} names but num_classes is {k}")
    notes = []
    if names is not None and len(names) != k:  # num_classes overrides a preset: keep the names that apply
        kept = min(len(names), k)
        notes.append(f"num_classes={k} overrides preset {p.name}'s {len(names)} classes: classes 0..{kept - 1} keep "
                     f"the preset's names" + (f", {kept}..{k - 1} are named by their index" if k > kept else ""))
        names = tuple(names[:kept]) + tuple(str(i) for i in range(kept, k))
    if names is None:
        names = tuple(str(i) for i in range(k or 0))
    ignore = check_ignore(ignore_index) if ignore_index is not None else (p.ignore_index if p else 255)
    if ignore < 0:
        raise InputError(f"ignore_index must be >= 0, got {ignore}")
    if k is not None and 0 <= ignore < k:
        raise InputError(f"ignore_index {ignore} is one of the {k} classes (0..{k - 1}); pick a value outside them")
    rzl = bool(reduce_zero_label) if reduce_zero_label is not None else (p.reduce_zero_label if p else False)
    if label_map is not None:
        mapping = _mapping(label_map, "label_map")
        lm_name = str(label_map) if not isinstance(label_map, Mapping) else "<mapping>"
    elif p is not None and p.label_map is not None:
        mapping, lm_name = p.label_map, f"preset:{p.name}"
    else:
        mapping, lm_name = None, None
    if k is None:
        return _SemanticSetup(p, None, (), ignore, rzl, None, {"class-index": None, "as-gt": None}, lm_name,
                              None if pred_label_map is None else str(pred_label_map), absent_rule,
                              void_predictions, notes)
    gt_map = label_map_lut(mapping, num_classes=k, ignore_index=ignore, reduce_zero_label=rzl) \
        if (mapping is not None or rzl) else None
    pred_mapping = _mapping(pred_label_map, "pred_label_map")
    if pred_mapping is not None:
        plm_name = str(pred_label_map) if not isinstance(pred_label_map, Mapping) else "<mapping>"
        readings = {"class-index": label_map_lut(pred_mapping, num_classes=k, ignore_index=ignore),
                    "as-gt": label_map_lut(pred_mapping, num_classes=k, ignore_index=ignore, reduce_zero_label=rzl)}
    else:
        plm_name = None
        readings = {"class-index": None, "as-gt": gt_map}
    return _SemanticSetup(p, k, tuple(names), ignore, rzl, gt_map, readings, lm_name, plm_name, absent_rule,
                          void_predictions, notes)


def semantic_label_rules(params: Mapping) -> LabelRules:
    """The label rules a semantic folder run counted with, rebuilt from its ``params``.

    The same resolution as :func:`evaluate_semantic_folders` (preset, label-map
    files, ``reduce_zero_label``, the prediction reading); used to draw a saved
    run's files as the run read them (the HTML report's error maps).

    Raises
    ------
    InputError
        The params name a label map given as a mapping (not kept in the
        report), or the rebuilt tables differ from the run's (``label_tables``:
        a label-map file changed or moved since).
    DataFileError
        A label-map file of the run cannot be read.
    """
    def file(name):
        if name in (None, "same as label_map") or str(name).startswith("preset:"):
            return None
        if name == "<mapping>":
            raise InputError("the run's label map was given as a mapping, which the report does not keep")
        return name

    setup = resolve_semantic_setup(
        preset=params.get("preset"), num_classes=params.get("num_classes"), class_names=None,
        ignore_index=params.get("ignore_index"), reduce_zero_label=params.get("reduce_zero_label"),
        label_map=file(params.get("label_map")), pred_label_map=file(params.get("pred_label_map")),
        absent_rule=params.get("absent_rule", "mmseg"), void_predictions=params.get("void_predictions", "error"))
    reading = params.get("pred_labels", "class-index")
    rules = setup.rules(reading if reading in setup.readings else "class-index")
    want = params.get("label_tables")
    if want is not None and rules.digest() != want:
        raise InputError(f"the label tables rebuilt from the run's parameters ({rules.digest()[:19]}) differ from "
                         f"those it counted with ({str(want)[:19]}): a label-map file changed since the run")
    return rules


def _auto_sample(pairs: list, size: int) -> list:
    """Up to ``size`` decoded (gt, pred) pairs, evenly spread over the pairs sorted by image id;
    of a large image every s-th pixel of every s-th row, about 65,536 pixels (class regions
    are larger than the stride).  The engine's decoder reads them (:func:`_pipeline.label_samples`);
    a pair it does not take is read here."""
    ordered = sorted(pairs, key=lambda p: id_key(p[0]))
    idx = sorted(set(np.linspace(0, len(ordered) - 1, min(size, len(ordered))).round().astype(int).tolist()))
    fast = _pipeline.label_samples([ordered[j][1:] for j in idx])
    out = []
    for j, got in zip(idx, fast):
        if got is not None:
            out.append(got)
            continue
        _, g, p = ordered[j]
        try:
            gt, pred = read_label_map(g), read_label_map(p)
        except (DataFileError, FormatError, OSError):
            continue  # the full run names this file's error
        if gt.shape == pred.shape:
            s = _pipeline.sample_stride(*gt.shape)
            # copies: a strided view would keep both whole decoded maps alive until the
            # decision (8 Cityscapes pairs: 32 MB)
            out.append((gt[::s, ::s].copy(), pred[::s, ::s].copy()))
        del gt, pred
    return out


def _decide_reading(setup: _SemanticSetup, pred_labels: str, pairs: list) -> tuple[str, Optional[str]]:
    """The prediction reading and the note that says why (None when there was nothing to decide)."""
    if pred_labels not in PRED_LABELS:
        raise InputError(f"pred_labels must be one of {PRED_LABELS}, got {pred_labels!r}")
    differ = setup.readings_differ()
    if pred_labels != "auto":
        note = f"pred_labels={pred_labels!r} (given): predictions read as {_READING_TEXT[pred_labels]}"
        return pred_labels, note if differ else None
    if not differ:
        return "class-index", None
    present = [p for p in pairs if p[2] is not None]
    if not present:
        return "class-index", None
    error = None
    for size in AUTO_SAMPLE:
        try:
            reading, why = decide_pred_labels(_auto_sample(present, size),
                                              rules_class_index=setup.rules("class-index"),
                                              rules_as_gt=setup.rules("as-gt"))
        except InputError as exc:
            error = exc
            if size >= len(present):
                break
            continue
        return reading, f"pred_labels='auto' chose {reading!r}, predictions read as {_READING_TEXT[reading]}: {why}"
    raise error


_READING_TEXT = {"class-index": "class indices 0..K-1", "as-gt": "the ground truth's raw values"}


def _semantic_digests(pairs: list, digests: list) -> None:
    """Fill the digests the engine left None (GT files it could not read, scored by the
    reference path) by reading those files: every run ends with one digest per image."""
    for j, d in enumerate(digests):
        if d is None:
            digests[j] = file_digest(_file_bytes(pairs[j][1], "ground truth"))


def evaluate_semantic_folders(gt, pred, *, preset: Optional[str] = None, num_classes: Optional[int] = None,
                              ignore_index: Optional[int] = None, reduce_zero_label: Optional[bool] = None,
                              pred_labels: str = "auto", label_map=None, pred_label_map=None,
                              absent_rule: str = "mmseg", void_predictions: str = "error",
                              allow_missing: bool = False, per_image: bool = False, jobs: Optional[int] = None,
                              cache_dir=None, progress: Optional[Callable[[int], None]] = None,
                              class_names=None, shard: Optional[tuple] = None, boundary: bool = False,
                              dilation_ratio: Optional[float] = None, convention: Optional[str] = None,
                              conventions=None) -> SemanticResult:
    """Score a folder of label PNGs against a folder of predictions.

    Parameters
    ----------
    gt, pred : path-like
        Folders (searched recursively; files pair by their path relative to
        the folder without extension, or by name alone when the prediction
        folder is flat) or single PNG files.
    preset : str, optional
        ``"ade20k"``, ``"cityscapes"``, ``"camvid"`` (:mod:`segmetrics.presets`);
        every other argument overrides it.
    num_classes, ignore_index, reduce_zero_label : optional
        As in :class:`~segmetrics.semantic.SemanticEvaluator` (defaults: the
        preset's, else ``ignore_index=255``, no ``reduce_zero_label``).
    pred_labels : {"auto", "class-index", "as-gt"}
        How predictions are written: class indices ``0..K-1``, or the ground
        truth's raw values (its ``reduce_zero_label`` shift and label map);
        ``"auto"`` decides from the data (Notes).
    label_map, pred_label_map : mapping or path, optional
        Raw value -> class maps (``{7: 0, "*": 255}`` or a label-map file, see
        :mod:`segmetrics.io.labelfiles`) for the ground truth and for the
        predictions.
    absent_rule : {"mmseg", "detectron2"}
    void_predictions : {"error", "miss"}
        A prediction equal to the ignore index (after the prediction map) on a
        scored pixel: an error, or a miss of the GT class and nobody's false
        positive (the Cityscapes and mmsegmentation scripts).
    allow_missing : bool
        Score GT images without prediction as all-void instead of raising
        :class:`~segmetrics.errors.MissingPredictionError`.
    per_image : bool
        Keep per-image TP / FP / FN (needed to save a state file).
    jobs, cache_dir, progress
        Worker threads (default: usable CPUs, at most 8), the GT cache folder
        (None: no cache), a callable called with 1 per image.
    class_names : sequence of str or path, optional
        Class names (a file: one per line); without ``num_classes`` their
        number sets K.
    shard : (int, int), optional
        ``(index, count)``: score only the images of shard ``index`` (``0..count-1``),
        as :func:`shard_of` assigns them (the prediction reading is still decided
        on the whole set, so every shard reads predictions alike); the state
        records the shard, so that :func:`segmetrics.merge_states` can refuse
        missing or repeated shards.
    boundary : bool
        Also count Boundary IoU (``mBIoU``, ``mMinIoU``, per-class ``BIoU``,
        ``MinIoU``; ``docs/boundary.md``) in the same pass over the pixels.
    dilation_ratio : float, optional
        The band width as a fraction of each image's diagonal (default: the
        preset's, else 0.02); only with ``boundary``.
    convention : str, optional
        Score with another tool's rules (:mod:`segmetrics.conventions`):
        ``"mmseg"``, ``"detectron2"``, ``"torchmetrics"``, ``"hf-evaluate"``,
        ``"cityscapes"``.  ``"mmseg"`` and ``"hf-evaluate"`` count labels
        outside ``[0, K)`` apart instead of refusing them, as those tools drop
        them, and the result's warnings say how many; ``"cityscapes"`` scores
        void predictions as misses.
    conventions : "all", str or sequence of str, optional
        Also compare the profiles (``result.comparison``, the report's
        ``conventions`` section; :func:`segmetrics.conventions.compare`).
        Per-image counts are then kept (torchmetrics' per-image mean).

    Returns
    -------
    SemanticResult
        With ``params`` (every setting that changes the numbers, the reading
        of the predictions included), ``dataset`` (paths, missing and extra
        ids, the GT fingerprint), ``notes`` and ``warnings``.

    Notes
    -----
    ``pred_labels="auto"``: when the ground truth is read as class indices
    both readings are the same.  Otherwise up to 8 image pairs, spread evenly
    over the image ids, are decoded, and :func:`segmetrics.labels.decide_pred_labels`
    decides on about 65,536 pixels of each (a regular grid): a prediction
    value on scored pixels that only one reading allows decides it (0 with
    ``reduce_zero_label``: class indices; K: GT values); else the reading that
    agrees with the GT on at least twice as many scored pixels, by five
    standard deviations of chance agreement, wins (a reading shifted by one
    class agrees on almost none); else 32 images are tried, then it is an
    :class:`~segmetrics.errors.InputError` that names both options.  The
    sample is safe: values outside the chosen reading remain errors in the
    full run, so a wrong guess cannot score silently.  The decision and its
    reason are in ``params["pred_labels"]`` and ``notes``.

    Fingerprint: SHA-256 over the image ids (JSON text) and each GT file's
    SHA-256 in id order (:func:`segmetrics.state.fingerprint`): the same for a
    whole run and for merged shards of it.
    """
    run = plan_semantic_run(gt, pred, preset=preset, num_classes=num_classes, ignore_index=ignore_index,
                            reduce_zero_label=reduce_zero_label, pred_labels=pred_labels, label_map=label_map,
                            pred_label_map=pred_label_map, absent_rule=absent_rule,
                            void_predictions=void_predictions, allow_missing=allow_missing, per_image=per_image,
                            class_names=class_names, boundary=boundary, dilation_ratio=dilation_ratio,
                            convention=convention, conventions=conventions)
    return run.evaluate(shard=shard, jobs=jobs, cache_dir=cache_dir, progress=progress)


@dataclasses.dataclass
class _SemanticCounting:
    """What counting any subset of a semantic run's pairs needs (small and picklable: one per Dask task)."""

    rules: LabelRules
    per_image: bool
    error_rules: dict          # what a LabelError carries as ``rules`` (for the CLI's hints)
    shards: Optional[int] = None
    validate_command: str = ""  # suggested by data errors
    band: Optional[tuple] = None  # (dilation_ratio, dilation) of a run with boundary metrics

    def __call__(self, pairs: list, *, jobs=None, cache_dir=None, progress=None) -> tuple[SemanticState, list]:
        """The state of ``pairs`` and each pair's GT digest (in the order of ``pairs``)."""
        K = self.rules.num_classes
        check_run_memory("semantic", K, threads=_jobs(jobs, len(pairs)), per_image=self.per_image,
                         num_images=len(pairs), what=f"num_classes={K}")
        state = SemanticState(K, per_image=self.per_image, digest=self.per_image, shards=self.shards,
                              boundary=self.band is not None, conventions=self.rules.out_of_range == "drop")
        with _suggest_validate(self.validate_command):
            digests = self._count(state, pairs, jobs, cache_dir, progress)
        return state, digests

    def _count(self, state, pairs, jobs, cache_dir, progress) -> list:
        digests: list = []
        for local, names in _staged("staged_pairs", pairs):  # the pairs themselves when all are local files
            with _real_names(names):
                present = [q for q in local if q[2] is not None]
                absent = [q for q in local if q[2] is None]
                present_digests, absent_digests = [None] * len(present), [None] * len(absent)
                try:
                    _count_semantic(state, present, self.rules, jobs=jobs, cache_dir=cache_dir, progress=progress,
                                    digests=present_digests, band=self.band)
                    _count_semantic(state, absent, self.rules, jobs=jobs, cache_dir=None, progress=progress,
                                    missing=True, digests=absent_digests, band=self.band)
                except LabelError as exc:
                    exc.rules = dict(self.error_rules)
                    raise
                by_id = dict(zip([q[0] for q in present + absent], present_digests + absent_digests))
            digests.extend(by_id[q[0]] for q in local)
        return digests


@dataclasses.dataclass
class SemanticRun(_Sharded):
    """A semantic folder run as decided before any image is counted (:func:`plan_semantic_run`).

    Attributes
    ----------
    pairs : list of (image_id, gt, pred or None)
        Every pair the run scores, sorted by image id; local files as ``str`` paths (the
        text of their :class:`~pathlib.Path`), remote ones as
        :class:`~segmetrics.remote.RemoteFile`.
    count : callable
        ``count(pairs, *, jobs, cache_dir, progress) -> (state, digests)``: the
        state of any subset of ``pairs`` (states of disjoint subsets merge into
        the state of their union) and the GT digest of each pair.
    params, class_names, absent_rule, dataset, notes
        What the result says (``dataset`` without its fingerprint).
    shard_index : int or None
        Which shard of ``count.shards`` this run is (:meth:`shard`).
    """

    pairs: list
    count: _SemanticCounting
    params: dict
    class_names: tuple
    absent_rule: str
    dataset: dict
    notes: list
    setup: Any = None
    shard_index: Optional[int] = None
    conventions: tuple = ()  # the profiles the result compares (resolve_names)
    _WORK = "pairs"

    def result(self, state: SemanticState, ids: list, digests: list, notes: Sequence[str] = ()) -> SemanticResult:
        """The result of the counted ``state`` of the images ``ids`` with GT ``digests`` (for the
        fingerprint); ``notes`` are added after the run's own and eval's quick checks."""
        self._mark_shard(state)
        command = self.count.validate_command
        if self.shard_index is None:  # a shard may hold nothing; the merged shards are checked by report
            with _suggest_validate(command):
                _semantic_scored(state, self.setup)  # the error when nothing at all is scored
        kept = state.per_image_kept  # images with no scored pixel are known from the per-image counts
        scored_notes = quick_checks(confusion=state.confusion, image_ids=state.image_ids if kept else None,
                                    image_gt_pixels=(state.image_tp + state.image_fn).sum(axis=1) if kept else None,
                                    ignore_index=self.setup.ignore_index, validate_command=command)
        dataset = dict(self.dataset, fingerprint=fingerprint(ids, digests))
        return semantic_result(state, class_names=self.class_names, absent_rule=self.absent_rule,
                               params=self.params, dataset=dataset, notes=list(self.notes) + scored_notes + list(notes),
                               conventions=self.conventions)


def plan_semantic_run(gt, pred, *, preset: Optional[str] = None, num_classes: Optional[int] = None,
                      ignore_index: Optional[int] = None, reduce_zero_label: Optional[bool] = None,
                      pred_labels: str = "auto", label_map=None, pred_label_map=None, absent_rule: str = "mmseg",
                      void_predictions: str = "error", allow_missing: bool = False, per_image: bool = False,
                      class_names=None, boundary: bool = False, dilation_ratio: Optional[float] = None,
                      convention: Optional[str] = None, conventions=None) -> SemanticRun:
    """Everything :func:`evaluate_semantic_folders` decides before counting: settings, pairing, the
    prediction reading (``pred_labels="auto"`` reads a sample here), the convention profile's
    counting rules; the arguments are its own."""
    counting = {}
    if convention is not None:
        convention = get_profile(convention, "semantic").name
        counting = counting_rules(convention, "semantic")
        void_predictions = counting.get("void_predictions", void_predictions)
    shown = resolve_names(conventions, "semantic")  # checked before any work
    per_image = per_image or bool(shown) or convention == "torchmetrics"
    setup = resolve_semantic_setup(preset=preset, num_classes=num_classes, class_names=class_names,
                                   ignore_index=ignore_index, reduce_zero_label=reduce_zero_label, label_map=label_map,
                                   pred_label_map=pred_label_map, absent_rule=absent_rule,
                                   void_predictions=void_predictions)
    band = _band_setting(boundary, dilation_ratio, setup.preset)
    if pred_labels == "as-gt" and setup.pred_label_map is not None:
        raise InputError("pred_labels='as-gt' reads predictions through the GT's label map: leave out "
                         "pred_label_map (or pass pred_labels='class-index' to read them through it)")
    if pred_labels == "as-gt" and setup.gt_map is None:
        raise InputError("pred_labels='as-gt' needs a ground-truth label map or reduce_zero_label (label_map, "
                         "reduce_zero_label or a preset that has one; CLI: --pred-labels as-gt, --pred-label-map gt): "
                         "without one the GT holds class indices and so do the predictions")
    p = setup.preset
    command = validate_command_line(gt, pred, preset=preset, num_classes=num_classes, ignore_index=ignore_index,
                                    reduce_zero_label=reduce_zero_label, label_map=label_map,
                                    pred_label_map=pred_label_map, pred_labels=pred_labels)
    # the run keeps its local paths as str: a third of the memory of Path objects
    pair = functools.partial(pair_label_files, strings=True)
    if _is_url(gt) or _is_url(pred):
        from .remote import pair_label_urls as pair
    with _suggest_validate(command, (FormatError,)):  # files that pair ambiguously
        pairing = pair(gt, pred, gt_suffix=p.gt_suffix if p else "", pred_suffixes=p.pred_suffixes if p else (),
                       allow_missing=allow_missing)
    with _suggest_validate(command):
        reading, note = _decide_reading(setup, pred_labels, pairing.pairs)
    rules = setup.rules(reading)
    if counting.get("out_of_range"):  # the tool drops such labels: count them apart (the decision stays strict)
        rules = dataclasses.replace(rules, out_of_range=counting["out_of_range"])
    params = setup.params(reading, rules, allow_missing)
    if band is not None:
        params.update(_band.params(band[0]))
    error_rules = {k: params[k] for k in ("pred_labels", "reduce_zero_label", "label_map", "pred_label_map",
                                          "void_predictions", "ignore_index")}
    error_rules["pred_labels_given"] = pred_labels != "auto"
    if convention is not None:
        params["convention"] = convention
    dataset = {"gt": str(gt), "pred": str(pred),
               "missing_ids": sorted(pairing.missing, key=id_key), "extra_ids": sorted(pairing.extra, key=id_key)}
    # skipped folder links, the settings, the reading
    notes = list(pairing.notes) + setup.notes + ([note] if note else [])
    count = _SemanticCounting(rules, bool(per_image), error_rules, validate_command=command, band=band)
    return SemanticRun(pairs=list(pairing.pairs), count=count, params=params, class_names=setup.class_names,
                       absent_rule=absent_rule, dataset=dataset, notes=notes, setup=setup, conventions=shown)


def _semantic_scored(state: SemanticState, setup: _SemanticSetup) -> None:
    """:class:`InputError` when no pixel of any image is scored (the images with no scored pixel
    are noted by :func:`~segmetrics.validate.quick_checks`)."""
    n = int(state.num_images)
    if not int(state.confusion.sum()) + int(state.void.sum()) + int(state.missing.sum()):
        rules = ", ".join(filter(None, ["reduce_zero_label" if setup.reduce_zero_label else "",
                                        f"label map {setup.label_map}" if setup.label_map else ""]))
        raise InputError(
            f"nothing to score: no ground-truth pixel of the {plural(n, 'image')} is scored (every pixel is "
            f"ignore_index {setup.ignore_index}{' after ' + rules if rules else ''}); check ignore_index, label_map "
            f"and reduce_zero_label (--ignore-index, --label-map, --reduce-zero-label)")


# ============================================================================ task; the panoptic half
def detect_task(gt) -> str:
    """``"panoptic"`` when ``gt`` is (or sits next to / holds) a COCO-panoptic JSON, else ``"semantic"``
    (a URL: panoptic when it names a ``.json`` file)."""
    if _is_url(gt):
        return "panoptic" if str(gt).split("?", 1)[0].lower().endswith(".json") else "semantic"
    gt = Path(gt)
    if gt.is_file():
        return "panoptic" if gt.suffix.lower() == ".json" else "semantic"
    if gt.is_dir():
        if _sibling_json(gt).is_file():
            return "panoptic"
        jsons = sorted(gt.glob("*.json"))
        if len(jsons) == 1 and (gt / jsons[0].stem).is_dir():
            return "panoptic"
    return "semantic"


#: The panoptic half of the folder API (:mod:`segmetrics._folders_panoptic`), loaded on first use
#: (PEP 562): a semantic run imports none of the panoptic readers, kernels and result code.
_PANOPTIC = frozenset({
    "resolve_panoptic_input", "pair_panoptic", "evaluate_panoptic_files", "panoptic_preset_problems",
    "evaluate_panoptic_folders", "PanopticRun", "plan_panoptic_run", "panoptic_quality",
    "_load_remote_panoptic", "_load_panoptic", "_pair_panoptic", "_panoptic_reference", "_count_panoptic",
    "_digest", "_gt_columns", "_panoptic_digests", "_check_zero_areas", "_panoptic_scored", "_flat_columns",
    "_PanopticCounting",
})


def __getattr__(name: str):
    if name in _PANOPTIC:
        from . import _folders_panoptic

        return getattr(_folders_panoptic, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | _PANOPTIC)
