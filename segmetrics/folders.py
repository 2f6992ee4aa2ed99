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
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ._sha import sha256
from . import _pipeline
from ._engine import band as _band
from ._engine.columns import folder_str, png_path
from ._engine.image import zero_area_mask
from ._memory import check_run_memory
from .errors import DataFileError, FormatError, InputError, LabelError, MissingPredictionError, SegmetricsError
from .io.coco_panoptic import (
    FlatColumns,
    PanopticDataset,
    check_id_png_sizes,
    check_segments,
    dataset_from_dict,
    digest_columns,
    load_panoptic_json,
    peek_annotation,
    read_id_png,
    resolve_annotation,
    segment_columns,
)
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
from .conventions import PANOPTIC_VARIANTS, counting_rules, get_profile, resolve_names
from .metrics import ABSENT_RULES
from .io.png import check_same_size, png_header, read_png
from .panoptic import CategoryIndex, PanopticEvaluator, PanopticResult, _categories_bytes, _derived_warnings
from .remote import is_url
from .panoptic import build_result as panoptic_result
from .panoptic import evaluate_image
from .presets import get_preset
from .semantic import SemanticEvaluator, SemanticResult, image_confusion
from .semantic import build_result as semantic_result
from .gtcache import file_digest, probe_cache_dir
from .report import plural
from .state import PanopticState, SemanticState, _shown, fingerprint, id_key
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


def default_jobs() -> int:
    """Default worker count: the CPUs this process may use, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def _jobs(jobs: Optional[int], n: int) -> int:
    return _pipeline.resolve_jobs(jobs, max(1, n), default_jobs)


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


def _digest(*parts: bytes) -> bytes:
    h = sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def _file_bytes(path, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise DataFileError(f"cannot read {path} to fingerprint the {what}: {exc.strerror or exc}") from None


def _band_setting(boundary: bool, dilation_ratio: Optional[float], preset) -> Optional[tuple]:
    """``(dilation_ratio, None)`` of a run with ``boundary`` (the argument, else the preset's
    ratio, else 0.02), or None without; a ratio without ``boundary`` is an :class:`InputError`."""
    if not boundary:
        if dilation_ratio is not None:
            raise InputError("dilation_ratio sets the band width of boundary=True (--dilation-ratio needs --boundary)")
        return None
    if dilation_ratio is None and preset is not None:
        dilation_ratio = preset.dilation_ratio
    if dilation_ratio is None:
        dilation_ratio = _band.DEFAULT_DILATION_RATIO
    return _band.check_ratio(dilation_ratio), None


def _cache_notes(cache_dir) -> list:
    """The one-line note when the GT cache folder cannot be used (the run then scores without
    storing; a folder that can be read still serves its entries)."""
    if cache_dir is None:
        return []
    note = probe_cache_dir(cache_dir)
    return [note] if note else []


@contextlib.contextmanager
def _suggest_validate(command: str, kinds: tuple = (SegmetricsError,)):
    """An error of ``kinds`` about the data (not a missing prediction: its message lists them)
    leaves with a note (``exc.__notes__``) naming the ``segmetrics validate`` command that
    lists every problem of its kind; eval stops at the first."""
    try:
        yield
    except kinds as exc:
        if not isinstance(exc, MissingPredictionError):
            for note in quick_checks(error=exc, validate_command=command):
                exc.add_note(note)
        raise


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


def shard_of(image_id, num_shards: int) -> int:
    """The shard (``0..num_shards-1``) of an image: the first 8 bytes of the SHA-256 of its id,
    as a big-endian integer, modulo ``num_shards``.

    The id is hashed as bytes: a string id as :func:`os.fsencode` gives it (UTF-8, and the
    original bytes of a file name that is not UTF-8), an integer id as its decimal digits.
    The rule depends on nothing but the id, so every machine cuts a dataset alike.
    """
    text = str(int(image_id)) if isinstance(image_id, (int, np.integer)) and not isinstance(image_id, bool) \
        else str(image_id)
    return int.from_bytes(sha256(os.fsencode(text)).digest()[:8], "big") % int(num_shards)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` (:func:`check_shard`); :class:`InputError` naming the text otherwise."""
    index, sep, count = str(text).partition("/")
    if not sep:
        raise InputError(f"--shard {text}: write I/N, e.g. 0/4 (shards are numbered from 0)")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise InputError(f"--shard {text}: write I/N with integers, e.g. 0/4") from None
    return check_shard(i, n)


def check_shard(index, count) -> tuple[int, int]:
    """``(index, count)`` as ints, or :class:`InputError` (shards are numbered from 0)."""
    try:
        i, n = int(index), int(count)
    except (TypeError, ValueError):
        raise InputError(f"a shard is (index, count) with integers, got ({index!r}, {count!r})") from None
    if n < 1 or not 0 <= i < n:
        raise InputError(f"shard {i}/{n}: the index must be 0..{n - 1} (shards are numbered from 0) and the "
                         "count at least 1")
    return i, n


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
        from .remote import real_names, staged_pairs

        digests: list = []
        for local, names in staged_pairs(pairs):  # the pairs themselves when all are local files
            with real_names(names):
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


class _Sharded:
    """Sharding and the shard mark, shared by :class:`SemanticRun` and :class:`PanopticRun`."""

    _WORK = ""  # the field holding the run's images: pairs or items

    @property
    def work(self) -> list:
        """The images the run scores (``pairs`` or ``items``), sorted as the run keeps them."""
        return getattr(self, self._WORK)

    def shard(self, index: int, count: int):
        """The run restricted to shard ``index`` of ``count`` (:func:`shard_of` of each image id); the
        dataset's missing and extra ids are restricted alike, so merged shards give the whole run."""
        i, n = check_shard(index, count)
        if self.shard_index is not None:
            raise InputError("this run is a shard already")
        dataset = dict(self.dataset)
        for key in ("missing_ids", "extra_ids"):
            dataset[key] = [x for x in dataset[key] if shard_of(x, n) == i]
        return dataclasses.replace(self, **{self._WORK: [x for x in self.work if shard_of(x[0], n) == i]},
                                   count=dataclasses.replace(self.count, shards=n), dataset=dataset, shard_index=i)

    def evaluate(self, *, shard: Optional[tuple] = None, jobs=None, cache_dir=None,
                 progress: Optional[Callable[[int], None]] = None):
        """Count the run's images here (``shard``: only shard ``(index, count)`` of them) and
        return its result, with the GT cache's notes."""
        run = self if shard is None else self.shard(*shard)
        state, digests = run.count(run.work, jobs=jobs, cache_dir=cache_dir, progress=progress)
        return run.result(state, [x[0] for x in run.work], digests, notes=_cache_notes(cache_dir))

    def _mark_shard(self, state) -> None:
        if self.shard_index is not None and not state.shard_runs.any():
            state.add_shard(self.shard_index)


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
    if is_url(gt) or is_url(pred):
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


# ============================================================================ panoptic
def _sibling_json(folder: Path) -> Path:
    return folder.parent / (folder.name + ".json")


def detect_task(gt) -> str:
    """``"panoptic"`` when ``gt`` is (or sits next to / holds) a COCO-panoptic JSON, else ``"semantic"``
    (a URL: panoptic when it names a ``.json`` file)."""
    if is_url(gt):
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


def resolve_panoptic_input(path, folder, what: str) -> tuple[Path, Path]:
    """Find the (JSON, PNG folder) of a COCO-panoptic ground truth or prediction.

    Accepted: ``X.json`` (+ folder ``X/`` next to it), a folder ``X/`` with ``X.json``
    next to it, or a folder holding one JSON (+ its folder, else the PNGs beside it).
    ``folder`` overrides the PNG folder.  ``what``: ``"ground-truth"`` or ``"prediction"``.
    """
    path = Path(path)
    flag = "gt_folder / --gt-folder" if what == "ground-truth" else "pred_folder / --pred-folder"
    if not path.exists():
        raise DataFileError(f"{what} path not found: {path}")
    if path.is_file():
        if path.suffix.lower() != ".json":
            raise FormatError(f"{what} {path} is not a COCO-panoptic JSON file")
        json_path, png = path, path.with_suffix("")
    elif _sibling_json(path).is_file():
        json_path, png = _sibling_json(path), path
    else:
        jsons = sorted(path.glob("*.json"))
        if len(jsons) != 1:
            raise FormatError(
                f"{what} folder {path} holds {len(jsons)} JSON files and none named {_sibling_json(path).name} "
                f"next to it; pass the panoptic JSON file itself"
            )
        json_path = jsons[0]
        png = path / json_path.stem if (path / json_path.stem).is_dir() else path
    if folder is not None:
        png = Path(folder)
    if not png.is_dir():
        how = "" if folder is not None else f" (default: the JSON path without .json; pass {flag})"
        raise DataFileError(f"no PNG folder for {what} {json_path}: {what} PNG folder {png} does not exist{how}")
    return json_path, png


def _load_remote_panoptic(x, folder, what: str) -> tuple[PanopticDataset, Any]:
    """:func:`_load_panoptic` where the JSON or the PNG folder is a URL (:mod:`segmetrics.remote`)."""
    from .remote import RemoteFile, as_path, local_copy, real_names

    if is_url(x):
        url = str(x)
        if not url.lower().endswith(".json"):
            raise FormatError(f"{what} {url}: a URL must name the COCO-panoptic JSON file itself")
        json_path, local = RemoteFile(url), local_copy(url)
        png = as_path(folder) if folder is not None else RemoteFile(url[:-5])
    else:  # a local JSON with a PNG folder URL
        json_path = local = Path(x)
        png = as_path(folder)
    with real_names({local: str(json_path)}):
        ds = load_panoptic_json(local, require_categories=what == "ground-truth")
    return dataclasses.replace(ds, path=json_path, folder=png), json_path


def _load_panoptic(x, folder, what: str) -> tuple[PanopticDataset, Optional[Path]]:
    """A dataset from a path (resolved as :func:`resolve_panoptic_input`), a dict or a loaded dataset;
    also the JSON path when there is one."""
    gt = what == "ground-truth"
    if is_url(x) or is_url(folder):
        return _load_remote_panoptic(x, folder, what)
    if isinstance(x, (str, os.PathLike)):
        json_path, png = resolve_panoptic_input(x, folder, what)
        return load_panoptic_json(json_path, png, require_categories=gt), json_path
    if isinstance(x, PanopticDataset):
        ds = dataclasses.replace(x, folder=Path(folder)) if folder is not None else x
    elif isinstance(x, dict):
        if folder is None:
            raise InputError(f"a {what} panoptic JSON given as a dict needs its PNG folder")
        ds = dataset_from_dict(x, folder=folder, require_categories=gt)
    else:
        raise InputError(f"the {what} must be a COCO-panoptic JSON path, a dict or a PanopticDataset, "
                         f"got {type(x).__name__}")
    if ds.folder is None or not Path(ds.folder).is_dir():
        how = "" if folder is not None else " (default: the JSON path without .json; pass it explicitly)"
        raise DataFileError(f"{what} PNG folder {ds.folder} does not exist{how}")
    return ds, ds.path


def pair_panoptic(gt: PanopticDataset, pred: PanopticDataset, *, allow_missing: bool = False
                  ) -> tuple[list, list, list]:
    """Pair GT and prediction annotations by image id, in GT order: the one pairing rule.

    Returns ``(items, missing, extra)``: ``(image_id, gt_annotation, pred_annotation
    or None)`` per GT image, the GT ids without prediction, the prediction ids
    that are no GT image (ignored).

    Raises
    ------
    MissingPredictionError
        GT images have no prediction and ``allow_missing`` is False.
    """
    items, missing, extra = _pair_panoptic(gt, pred, allow_missing)
    g_ann, p_ann = gt.annotations, pred.annotations
    items = [(i, resolve_annotation(g_ann, i, g), None if p is None else resolve_annotation(p_ann, i, p))
             for i, g, p in items]
    return items, missing, extra


def _pair_panoptic(gt: PanopticDataset, pred: PanopticDataset, allow_missing: bool) -> tuple[list, list, list]:
    """:func:`pair_panoptic` with :data:`~segmetrics.io.coco_panoptic.NOT_READ` for annotations
    not parsed yet (the folder pipeline parses only those it must look at)."""
    g_ann, p_ann = gt.annotations, pred.annotations
    items = [(i, peek_annotation(g_ann, i), peek_annotation(p_ann, i)) for i in g_ann]
    missing = [i for i, _, p in items if p is None]
    if missing and not allow_missing:
        shown = ", ".join(repr(i) for i in missing[:5])
        raise MissingPredictionError(
            f"{len(missing)} of {len(g_ann)} ground-truth images have no prediction in {pred.path}: image ids "
            f"{shown}{' ...' if len(missing) > 5 else ''}", missing=missing, total=len(g_ann))
    extra = [i for i in p_ann if i not in g_ann]
    return items, missing, extra


def _panoptic_reference(gt: PanopticDataset, pred: PanopticDataset, cats: CategoryIndex,
                        recompute_gt_areas: bool, band: Optional[tuple] = None,
                        variants=None) -> Callable[[tuple], Any]:
    """One image's statistics the slow way (Pillow decoding, the array API), or its error
    (with Boundary PQ when ``band``, ``(dilation_ratio, dilation)``, is given; with the
    ``variants`` rules counted too)."""

    def reference(item: tuple):
        image_id, g_ann, p_ann = item
        g_ann = resolve_annotation(gt.annotations, image_id, g_ann)
        p_ann = None if p_ann is None else resolve_annotation(pred.annotations, image_id, p_ann)
        g_path = gt.png_path(image_id)
        if p_ann is not None:  # both headers before any decode: a size mismatch costs no memory
            check_id_png_sizes(g_path, pred.png_path(image_id), image_id)
        g_rgb = read_id_png(g_path)
        if p_ann is None:
            p_ids, p_segs, p_name = np.zeros(g_rgb.shape[:2], dtype=np.uint32), [], "<missing prediction>"
        else:
            p_path = pred.png_path(image_id)
            p_ids, p_segs, p_name = read_id_png(p_path), p_ann["segments_info"], str(p_path)
        return evaluate_image(g_rgb, g_ann["segments_info"], p_ids, p_segs, cats, image_id=image_id,
                              recompute_gt_areas=recompute_gt_areas, gt_name=str(g_path), pred_name=p_name,
                              dilation_ratio=band[0] if band else None, dilation=band[1] if band else None,
                              variants=variants)

    return reference


def _count_panoptic(state: PanopticState, items: list, gt: PanopticDataset, pred: PanopticDataset,
                    cats: CategoryIndex, *, recompute_gt_areas: bool, jobs, cache_dir, progress,
                    digests: Optional[list] = None, band: Optional[tuple] = None) -> None:
    if not items:
        return
    variants = PANOPTIC_VARIANTS if state.conventions_kept else None
    sums = _pipeline.panoptic_files(items, gt, pred, cats, recompute_gt_areas=recompute_gt_areas,
                                    jobs=_jobs(jobs, len(items)), cache_dir=cache_dir, progress=progress,
                                    per_image=state.per_image_kept,
                                    reference=_panoptic_reference(gt, pred, cats, recompute_gt_areas, band, variants),
                                    dilation_ratio=band[0] if band else None, dilation=band[1] if band else None,
                                    variants=variants, digests=digests)
    if digests is not None:
        _panoptic_digests(gt, items, jobs, digests)  # the images the compiled pass did not hash
    state.add_sums(sums, [it[0] for it in items], missing=[it[2] is None for it in items], digests=digests)


def evaluate_panoptic_files(gt_dataset: PanopticDataset, pred_dataset: PanopticDataset,
                            evaluator: PanopticEvaluator, *, jobs: Optional[int] = None, cache_dir=None,
                            progress: Optional[Callable[[int], None]] = None,
                            allow_missing: bool = False) -> PanopticEvaluator:
    """Score a COCO-panoptic prediction set into ``evaluator``.

    Parameters
    ----------
    gt_dataset, pred_dataset : PanopticDataset
        As loaded by :func:`segmetrics.io.coco_panoptic.load_panoptic_json`.
    evaluator : PanopticEvaluator
        The run's state joins its state once every image is scored; a run that
        raises leaves it unchanged.
    jobs, cache_dir, progress
        As in :func:`evaluate_panoptic_folders`.
    allow_missing : bool
        Score GT images without prediction (every GT segment a false negative)
        instead of raising :class:`~segmetrics.errors.MissingPredictionError`.

    Returns
    -------
    PanopticEvaluator
        ``evaluator`` itself.  Pairing notes (missing, extra predictions) are
        added to its state's warnings.
    """
    items, missing, extra = _pair_panoptic(gt_dataset, pred_dataset, allow_missing)
    run = PanopticState(len(evaluator.categories), per_image=evaluator.per_image, boundary=evaluator.boundary)
    _count_panoptic(run, items, gt_dataset, pred_dataset, evaluator.categories,
                    recompute_gt_areas=evaluator.recompute_gt_areas, jobs=jobs, cache_dir=cache_dir,
                    progress=progress,
                    band=(evaluator.dilation_ratio, evaluator.dilation) if evaluator.boundary else None)
    run.add_warnings(_derived_warnings({"missing_ids": missing, "extra_ids": extra}))
    evaluator.state.merge(run)
    return evaluator


def panoptic_preset_problems(p, category_ids, n_crowd: int | Callable[[], int], gt_name: str) -> list:
    """What does not fit the layout a panoptic preset describes (its category count and ids
    0..N-1, no crowd segment), one sentence each: eval's warnings and validate's
    ``panoptic.preset_layout`` finding.  ``n_crowd``: the GT's crowd segments, or a function
    counting them (called only when the preset describes a layout)."""
    out = []
    if p is None or p.expected_num_categories is None:
        return out
    if callable(n_crowd):
        n_crowd = n_crowd()
    ids = sorted(category_ids)
    if len(ids) != p.expected_num_categories:
        out.append(f"preset {p.name} expects {p.expected_num_categories} categories but {gt_name} has {len(ids)}")
    elif ids != list(range(p.expected_num_categories)):
        out.append(f"preset {p.name} expects category ids 0..{p.expected_num_categories - 1}; "
                   f"{gt_name} has {ids[0]}..{ids[-1]}")
    if n_crowd:
        out.append(f"preset {p.name} expects no crowd segments but {gt_name} has {n_crowd}")
    return out


def _gt_columns(gt: PanopticDataset, image_id, ann):
    """The checked columns of an image's GT segments (as loaded, or checked again when changed)."""
    segs = resolve_annotation(gt.annotations, image_id, ann)["segments_info"]
    cols = gt.columns.get(image_id)
    if cols is None or not cols.describes(segs):
        cols = segment_columns(segs, *check_segments(segs, f"image {image_id!r}: ground-truth"))
    return cols


def _panoptic_digests(gt: PanopticDataset, items: list, jobs: Optional[int], out: Optional[list] = None) -> list:
    """Per image: SHA-256 of its GT PNG bytes and its checked segments
    (:func:`~segmetrics.io.coco_panoptic.digest_columns`), on ``jobs`` threads (reading and hashing release
    the GIL).  The segments of images whose loaded columns still hold are hashed straight from
    the flat column arrays; the others from :func:`_gt_columns`.  The error of the first failing
    image in input order is raised.  ``out``: a list with an entry per item, of which only the
    None entries are computed (the compiled batch hashes the files it reads, see
    :func:`segmetrics._pipeline.panoptic_files`)."""
    n = len(items)
    out = [None] * n if out is None else out
    todo = [i for i, d in enumerate(out) if d is None]
    if not todo:
        return out
    g_folder = folder_str(gt)
    flat = gt.columns
    if isinstance(flat, FlatColumns):
        start, end, ok = flat.ranges([it[0] for it in items], [it[1] for it in items])
        start, end, ok = start.tolist(), end.tolist(), ok.tolist()
        arrays = digest_columns(flat)
        views = [memoryview(a).cast("B") for a in arrays]
        sizes = [a.itemsize for a in arrays]
    else:
        ok = [False] * n

    def work(_, i: int) -> None:
        image_id, ann, _ = items[i]
        if ok[i]:
            a, b = start[i], end[i]
            tail = [v[a * size:b * size] for v, size in zip(views, sizes)]
        else:
            tail = [a.tobytes() for a in digest_columns(_gt_columns(gt, image_id, ann))]
        out[i] = _digest(_file_bytes(png_path(gt, g_folder, image_id), "ground truth"), *tail)

    _pipeline.run_indexed(len(todo), lambda slot, j: work(slot, todo[j]), lambda: None, _jobs(jobs, len(todo)))
    return out


def _check_zero_areas(gt: PanopticDataset, items: list, gt_name: str) -> None:
    """:class:`FormatError` when a GT segment that is not crowd has ``area`` 0 in the JSON.

    Every listed segment covers pixels of its PNG (one that does not is an error
    of its image), so an area of 0 is never right, and PQ computed with it is
    wrong for the whole category (IoU above 1, or a union of 0): the run stops
    before any work and names the image and the segment.  ``recompute_gt_areas``
    uses the PNG's pixel counts instead.  Crowd segments are exempt (their area
    is not used).
    """
    def zero_areas(cols) -> np.ndarray:
        return np.flatnonzero(zero_area_mask(cols.area, cols.iscrowd))

    counts = np.zeros(len(items), dtype=np.int64)
    flat = gt.columns
    if isinstance(flat, FlatColumns):  # the loaded columns, in one pass over the flat arrays
        start, end, ok = flat.ranges([it[0] for it in items], [it[1] for it in items])
        bad = np.concatenate([[0], np.cumsum(zero_area_mask(flat.area, flat.iscrowd))])
        counts[ok] = (bad[end] - bad[start])[ok]
    else:
        ok = np.zeros(len(items), dtype=bool)
    for j in np.flatnonzero(~ok).tolist():  # annotations edited since loading, or no flat columns
        image_id, ann, _ = items[j]
        counts[j] = zero_areas(_gt_columns(gt, image_id, ann)).size
    hit = np.flatnonzero(counts)
    if not hit.size:
        return
    image_id, ann, _ = items[int(hit[0])]
    cols = _gt_columns(gt, image_id, ann)
    z = int(zero_areas(cols)[0])
    sid, cid, found = int(cols.ids[z]), int(cols.category_ids[z]), int(counts.sum())
    more = f" ({plural(found, 'segment')} with area 0 in all)" if found > 1 else ""
    raise FormatError(
        f"image {image_id!r}: ground-truth segment {sid} (category {cid}) has area 0 in {gt_name} but covers "
        f"pixels in its PNG{more}; PQ would use a wrong union; pass recompute_gt_areas=True "
        f"(--recompute-gt-areas) to use the PNGs' pixel counts")


def _panoptic_scored(state: PanopticState, items: list, gt: PanopticDataset, *, require: bool = True) -> list:
    """A note on the GT images that list no segment (they add nothing); :class:`InputError`
    when nothing counts in any image (TP + FP + FN = 0 in every category) and ``require``."""
    if require and not (int(state.tp.sum()) + int(state.fp.sum()) + int(state.fn.sum())):
        raise InputError(
            f"nothing to score: no category has a ground-truth or predicted segment that counts in the "
            f"{plural(len(items), 'image')} (TP + FP + FN = 0: the ground truth lists no segment that is not "
            f"crowd, and every predicted segment lies mostly on void or crowd)")
    ids, anns = [it[0] for it in items], [it[1] for it in items]
    if isinstance(gt.columns, FlatColumns):  # the loaded columns' rows, where they still hold
        start, end, ok = gt.columns.ranges(ids, anns)
        counts, ok = (end - start).tolist(), ok.tolist()
    else:
        counts, ok = [0] * len(items), [False] * len(items)
    empty = [image_id for image_id, ann, n, held in zip(ids, anns, counts, ok)
             if not (n if held else len(resolve_annotation(gt.annotations, image_id, ann)["segments_info"]))]
    if not empty:
        return []
    one = len(empty) == 1
    return [f"{plural(len(empty), 'ground-truth image')} {'lists' if one else 'list'} no segment (the PNG is all "
            f"void), so nothing in {'it' if one else 'them'} is scored: {_shown(empty)}"]


def evaluate_panoptic_folders(gt_json, pred_json, *, gt_folder=None, pred_folder=None, preset: Optional[str] = None,
                              allow_missing: bool = False, per_image: bool = False, recompute_gt_areas: bool = False,
                              jobs: Optional[int] = None, cache_dir=None,
                              progress: Optional[Callable[[int], None]] = None,
                              with_semantic: bool = True, shard: Optional[tuple] = None, boundary: bool = False,
                              dilation_ratio: Optional[float] = None, convention: Optional[str] = None,
                              conventions=None) -> PanopticResult:
    """PQ / SQ / RQ (and the category-map metrics) of a COCO-panoptic prediction set.

    Parameters
    ----------
    gt_json, pred_json : path-like, dict or PanopticDataset
        COCO panoptic JSON files (or a folder next to / holding one, as
        :func:`resolve_panoptic_input` finds it), or loaded data.
    gt_folder, pred_folder : path-like, optional
        PNG folders; default: the JSON path without ``.json`` (panopticapi's rule).
    preset : {"coco-panoptic", "ade20k-panoptic"}, optional
        Checks the layout the preset describes (warnings).
    allow_missing : bool
        Score GT images without prediction: every GT segment a false negative.
    per_image : bool
        Keep per-image counts and matches (needed to save a state file).
    recompute_gt_areas : bool
        Use GT PNG pixel counts instead of the JSON ``area`` fields.
    jobs, cache_dir, progress
        Worker threads (default: usable CPUs, at most 8), the GT cache folder
        (None: no cache), a callable called with 1 per image.
    with_semantic : bool
        Also compute mIoU, fwIoU, mAcc and aAcc of the category maps.
    shard : (int, int), optional
        ``(index, count)``: score only the images of shard ``index`` (``0..count-1``),
        as :func:`shard_of` assigns them; the state records the shard, so that
        :func:`segmetrics.merge_states` can refuse missing or repeated shards.
    boundary : bool
        Also compute Boundary PQ (``BPQ BSQ BRQ`` and ``_th`` / ``_st``;
        ``docs/boundary.md``) in the same pass over the pixels.  PQ-dagger is always
        computed.
    dilation_ratio : float, optional
        The band width as a fraction of each image's diagonal (default: the
        preset's, else 0.02); only with ``boundary``.
    convention : {"panopticapi", "torchmetrics", "cityscapes"}, optional
        Score PQ with another tool's matching rules (:mod:`segmetrics.conventions`);
        the category-map metrics and per-image rows stay panopticapi's.
    conventions : "all", str or sequence of str, optional
        Also compare the profiles (``result.comparison``, the report's
        ``conventions`` section).  The variant rules are counted in the same
        pass and kept in the state (its ``conventions`` field group).

    Returns
    -------
    PanopticResult

    Notes
    -----
    Same rules as :class:`~segmetrics.panoptic.PanopticEvaluator`.  Annotations
    pair by image id (:func:`pair_panoptic`); predictions for images not in
    the GT are ignored with a warning.  Fingerprint: SHA-256 over the
    categories and, per image in id order, the id and a SHA-256 of its GT PNG
    and segments (:func:`segmetrics.state.fingerprint`).
    """
    run = plan_panoptic_run(gt_json, pred_json, gt_folder=gt_folder, pred_folder=pred_folder, preset=preset,
                            allow_missing=allow_missing, per_image=per_image, recompute_gt_areas=recompute_gt_areas,
                            with_semantic=with_semantic, boundary=boundary, dilation_ratio=dilation_ratio,
                            convention=convention, conventions=conventions)
    return run.evaluate(shard=shard, jobs=jobs, cache_dir=cache_dir, progress=progress)


def _flat_columns(cols: list) -> FlatColumns:
    """``(image_id, SegmentColumns)`` pairs as one :class:`FlatColumns` (shared flat arrays)."""
    offsets = np.zeros(len(cols) + 1, dtype=np.int64)
    np.cumsum([c.ids.size for _, c in cols], out=offsets[1:])

    def flat(name: str, dtype) -> np.ndarray:
        return np.concatenate([getattr(c, name) for _, c in cols]).astype(dtype, copy=False) if cols \
            else np.zeros(0, dtype)
    arrays = (offsets, flat("ids", np.int64), flat("category_ids", np.int64), flat("iscrowd", np.uint8),
              flat("area", np.float64), flat("order", np.intp), np.ones(len(cols), dtype=np.uint8))
    return FlatColumns([i for i, _ in cols], [c.segments for _, c in cols], arrays, {})


@dataclasses.dataclass
class _PanopticCounting:
    """What counting any subset of a panoptic run's items needs (:meth:`part` makes it small for a Dask task)."""

    gt: PanopticDataset
    pred: PanopticDataset
    categories: CategoryIndex
    recompute_gt_areas: bool
    per_image: bool
    shards: Optional[int] = None
    validate_command: str = ""  # suggested by data errors
    memory_what: str = ""       # what sets the number of categories, for the memory estimate
    band: Optional[tuple] = None  # (dilation_ratio, dilation) of a run with boundary metrics
    conventions: bool = False     # also count the variant matching rules (segmetrics.conventions)

    def part(self, items: list) -> "_PanopticCounting":
        """The same counting with datasets cut down to ``items``: their annotations, and their segment
        columns in a few flat arrays (cheap to send to a Dask worker)."""
        def cut(ds: PanopticDataset, which: int) -> PanopticDataset:
            anns = {it[0]: resolve_annotation(ds.annotations, it[0], it[which]) for it in items
                    if it[which] is not None}
            cols = [(i, c) for i in anns if (c := ds.columns.get(i)) is not None]
            return dataclasses.replace(ds, annotations=anns, images={}, columns=_flat_columns(cols))
        return dataclasses.replace(self, gt=cut(self.gt, 1), pred=cut(self.pred, 2))

    def __call__(self, items: list, *, jobs=None, cache_dir=None, progress=None) -> tuple[PanopticState, list]:
        """The state of ``items`` and each item's GT digest (in the order of ``items``)."""
        from .remote import real_names, staged_panoptic

        K = len(self.categories)
        check_run_memory("panoptic", K, threads=_jobs(jobs, len(items)), per_image=self.per_image,
                         num_images=len(items), what=self.memory_what or f"{plural(K, 'category', 'categories')}")
        state = PanopticState(K, per_image=self.per_image, digest=self.per_image, shards=self.shards,
                              boundary=self.band is not None, conventions=self.conventions)
        digests: list = []
        with _suggest_validate(self.validate_command):
            for local, gt, pred, names in staged_panoptic(items, self.gt, self.pred):
                with real_names(names):
                    part = [None] * len(local)
                    _count_panoptic(state, local, gt, pred, self.categories,
                                    recompute_gt_areas=self.recompute_gt_areas, jobs=jobs, cache_dir=cache_dir,
                                    progress=progress, digests=part, band=self.band)
                digests.extend(part)
        return state, digests


@dataclasses.dataclass
class PanopticRun(_Sharded):
    """A panoptic run as decided before any image is counted (:func:`plan_panoptic_run`); the
    counterpart of :class:`SemanticRun` (``items`` in place of ``pairs``)."""

    items: list
    count: _PanopticCounting
    with_semantic: bool
    params: dict
    dataset: dict
    run_warnings: list
    categories: list
    shard_index: Optional[int] = None
    notes: list = dataclasses.field(default_factory=list)
    conventions: tuple = ()  # the profiles the result compares (resolve_names)
    _WORK = "items"

    def result(self, state: PanopticState, ids: list, digests: list, notes: Sequence[str] = ()) -> PanopticResult:
        """The result of the counted ``state`` of the images ``ids`` with GT ``digests``; ``notes``
        are added after the run's own (eval's quick checks come last)."""
        self._mark_shard(state)
        command = self.count.validate_command
        with _suggest_validate(command):
            scored = _panoptic_scored(state, self.items, self.count.gt, require=self.shard_index is None)
        dataset = dict(self.dataset, fingerprint=fingerprint(ids, digests, _categories_bytes(self.categories)))
        result = panoptic_result(state, self.count.categories, with_semantic=self.with_semantic, params=self.params,
                                 dataset=dataset, run_warnings=self.run_warnings,
                                 notes=scored + list(self.notes) + list(notes), conventions=self.conventions)
        quick = quick_checks(panoptic_sq=[row["sq"] for row in result.per_class], validate_command=command)
        return dataclasses.replace(result, notes=result.notes + tuple(quick)) if quick else result


def plan_panoptic_run(gt_json, pred_json, *, gt_folder=None, pred_folder=None, preset: Optional[str] = None,
                      allow_missing: bool = False, per_image: bool = False, recompute_gt_areas: bool = False,
                      with_semantic: bool = True, boundary: bool = False,
                      dilation_ratio: Optional[float] = None, convention: Optional[str] = None,
                      conventions=None) -> PanopticRun:
    """Everything :func:`evaluate_panoptic_folders` decides before counting: the JSONs loaded and
    checked, pairing, the preset's layout warnings; the arguments are its own."""
    p = get_preset(preset) if preset else None
    if p is not None and p.task != "panoptic":
        raise InputError(f"preset {p.name} is for {p.task} evaluation, not panoptic")
    band = _band_setting(boundary, dilation_ratio, p)
    if convention is not None:
        convention = get_profile(convention, "panoptic").name
    shown = resolve_names(conventions, "panoptic")  # checked before any work
    variants = bool(shown) or convention not in (None, "panopticapi", "cityscapes")

    def command(gt_path=gt_json, pred_path=pred_json) -> str:
        as_path = (lambda x, name: x if isinstance(x, (str, os.PathLike)) else name)
        return validate_command_line(as_path(gt_path, "GT.json"), as_path(pred_path, "PRED.json"), preset=preset,
                                     gt_folder=gt_folder, pred_folder=pred_folder)

    with _suggest_validate(command(), (FormatError,)):  # JSON files with structure problems
        gt, gt_path = _load_panoptic(gt_json, gt_folder, "ground-truth")
        pred, pred_path = _load_panoptic(pred_json, pred_folder, "prediction")
    cats = CategoryIndex(gt.categories)
    gt_name = gt_path.name if gt_path is not None else "the ground truth"
    if not gt.annotations:
        raise InputError(f"{gt_name} lists no image (its 'annotations' are empty): nothing to score")
    items, missing, extra = _pair_panoptic(gt, pred, allow_missing)
    validate = command(gt_path or gt_json, pred_path or pred_json)
    with _suggest_validate(validate):
        if not recompute_gt_areas:
            _check_zero_areas(gt, items, gt_name)
        run_warnings = panoptic_preset_problems(
            p, [c.get("id") for c in gt.categories if isinstance(c, dict)],
            lambda: sum(1 for it in items for seg in resolve_annotation(gt.annotations, it[0], it[1]).get(
                "segments_info", []) if seg.get("iscrowd")), gt_name)
    result_cats = [{"id": c, "name": n, "isthing": bool(t)} for c, n, t in zip(cats.ids, cats.names, cats.isthing)]
    dataset = {"gt": str(gt_path if gt_path is not None else gt.path),
               "pred": str(pred_path if pred_path is not None else pred.path),
               "gt_folder": str(gt.folder), "pred_folder": str(pred.folder),
               "missing_ids": sorted(missing, key=id_key), "extra_ids": sorted(extra, key=id_key)}
    params = {"preset": p.name if p else None, "allow_missing": bool(allow_missing),
              "recompute_gt_areas": bool(recompute_gt_areas)}
    if band is not None:
        params.update(_band.params(band[0]))
    notes = []
    if convention is not None:
        params["convention"] = convention
        if variants and per_image:
            notes.append(f"convention {convention}: per-image rows (CSV) follow panopticapi's rules; the "
                         f"{convention} counts are kept for the whole run")
    counting = _PanopticCounting(gt, pred, cats, bool(recompute_gt_areas), bool(per_image), validate_command=validate,
                                 memory_what=f"the {plural(len(cats), 'category', 'categories')} of {gt_name}",
                                 band=band, conventions=variants)
    return PanopticRun(items=items, count=counting, with_semantic=with_semantic, params=params, dataset=dataset,
                       run_warnings=run_warnings, categories=result_cats, notes=notes, conventions=shown)


def panoptic_quality(gt_json, pred_json, gt_folder=None, pred_folder=None, *, jobs: Optional[int] = None,
                     **kwargs) -> PanopticResult:
    """Alias of :func:`evaluate_panoptic_folders` (the PNG folders may be given by position)."""
    return evaluate_panoptic_folders(gt_json, pred_json, gt_folder=gt_folder, pred_folder=pred_folder, jobs=jobs,
                                     **kwargs)
