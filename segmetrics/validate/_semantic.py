"""``validate_semantic``: checks of a folder of label PNGs (and its predictions).

One pass per image on a thread pool: both files are read, their chunks checked,
inflated and unfiltered row by row and each row counted at once, run by run, without
the GIL (:func:`segmetrics._kernels.segstats_semantic.png_label_stats`: the GT histogram, the
histogram of predictions on scored pixels, and how many scored pixels each prediction
reading gets right).  Files that kernel does not take (colour files, sizes that differ,
corrupt files) go through the Python decoder, which also words their problems.  Only
small summaries leave the worker threads; the findings are made from their sums at the
end, in file order (:mod:`._semantic_findings`), so the report does not depend on ``jobs``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import FormatError
from ._findings import MAX_RECORDED, Findings, ValidationReport, listing, plural, verb
from ._files import Buffers, PngFile, decode, open_png, read_bytes
from ._semantic_findings import file_findings, gt_value_findings, nonzero as _nonzero, pred_findings, value_listing
from ..labels import FILE_TABLE_SIZE as _TABLE
from ._semantic_setup import SemanticSetup, semantic_setup

__all__ = ["validate_semantic"]

_FILES_PER_VALUE = 20    # files kept per out-of-range value (the counts are exact)


# ----------------------------------------------------------------------------- one file
def _labels(f: PngFile, buffers: Buffers, slot: int) -> tuple[Optional[np.ndarray], Optional[bool]]:
    """``(2-D uint8/uint16 array, None)``; ``(None, grey)`` for a file with colour
    channels (``grey``: R = G = B everywhere); ``(None, None)`` with ``f.problem`` set."""
    arr = decode(f, buffers, slot)
    if arr is None:
        return None, None
    if arr.ndim == 3:
        grey = arr.shape[2] in (3, 4) and bool((arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all())
        return None, grey
    if arr.dtype == bool:
        arr = arr.view(np.uint8)
    elif arr.dtype not in (np.uint8, np.uint16):
        if arr.dtype.kind not in "iu" or (arr.size and (arr.min() < 0 or arr.max() >= _TABLE)):
            f.problem = ("corrupt", f"{f.path}: label values of dtype {arr.dtype} do not fit 16 bits")
            return None, None
        arr = arr.astype(np.uint16)
    return np.ascontiguousarray(arr), None


@dataclass
class _Record:
    """What one image contributes (small: only non-zero histogram entries)."""

    key: str
    gt: PngFile
    pred: Optional[PngFile]
    gt_colour: Optional[bool] = None              # not single-channel (True: grey saved as colour)
    pred_colour: Optional[bool] = None
    size_mismatch: bool = False
    gt_values: Optional[np.ndarray] = None
    gt_counts: Optional[np.ndarray] = None
    pred_values: Optional[np.ndarray] = None      # on scored pixels
    pred_counts: Optional[np.ndarray] = None
    agree: tuple = (0, 0)


_UNSCORED = np.full(_TABLE, -1, dtype=np.int32)   # code table without classes: nothing is scored


def _examine(key: str, gt_path: Path, pred_path: Optional[Path], setup: SemanticSetup,
             buffers: Buffers) -> _Record:
    """One image: the fused kernel (decode both files row by row and count them), or the
    Python path for what it does not take (colour files, sizes that differ, corrupt files)."""
    from .._kernels.segstats_semantic import label_histogram, pair_stats, png_label_stats

    gdata, gprob = read_bytes(gt_path)
    pdata, pprob = read_bytes(pred_path) if pred_path is not None else (None, None)
    gcodes = setup.gt_codes if setup.gt_codes is not None else _UNSCORED
    codes = list(setup.pred_codes.values()) or [_UNSCORED]
    if gdata is not None and (pred_path is None or pdata is not None):
        status, ghdr, phdr, gh, phs, agree_a, agree_b = png_label_stats(buffers.scratch, gdata, pdata, gcodes,
                                                                        codes[0], codes[-1])
        if status == 0:
            rec = _Record(key, PngFile.from_header(gt_path, ghdr),
                          None if pred_path is None else PngFile.from_header(pred_path, phdr))
            rec.gt_values, rec.gt_counts = _nonzero(gh)
            if phs is not None and setup.gt_codes is not None:
                rec.pred_values, rec.pred_counts = _nonzero(phs)
                rec.agree = (agree_a, agree_b)
            return rec
    gt = open_png(gt_path, gdata) if gdata is not None else PngFile.failed(gt_path, gprob)
    pred = None
    if pred_path is not None:
        pred = open_png(pred_path, pdata) if pdata is not None else PngFile.failed(pred_path, pprob)
    rec = _Record(key, gt, pred)
    if pred is not None and gt.problem is None and pred.problem is None:
        rec.size_mismatch = gt.size != pred.size
    garr = parr = None
    if gt.problem is None:
        garr, rec.gt_colour = _labels(gt, buffers, 0)
    if pred is not None and pred.problem is None and (
            (garr is not None and not rec.size_mismatch) or pred.color_type not in (0, 3)):
        parr, rec.pred_colour = _labels(pred, buffers, 1)   # colour files only to describe them
    if garr is None:
        return rec
    if parr is not None and setup.gt_codes is not None:
        gh, _, phs, agree_a, agree_b = pair_stats(garr, parr, setup.gt_codes, codes[0], codes[-1])
        rec.pred_values, rec.pred_counts = _nonzero(phs)
        rec.agree = (agree_a, agree_b)
    else:
        gh = label_histogram(garr)
    rec.gt_values, rec.gt_counts = _nonzero(gh)
    return rec


# ----------------------------------------------------------------------------- the run
class _Collector:
    """Folds records into sums and per-check lists (on the calling thread, in file order)."""

    def __init__(self, setup: SemanticSetup) -> None:
        self.setup = setup
        self.gt_hist = np.zeros(_TABLE, dtype=np.int64)
        self.pred_hist = np.zeros(_TABLE, dtype=np.int64)    # scored pixels only
        self.agree = [0, 0]
        self.scored_pixels = 0
        self.files: dict[str, list] = {}                     # check -> [(file, detail)]
        self.counts: dict[str, int] = {}
        self.value_files: dict[int, list] = {}               # bad GT value -> files
        self.value_nfiles: dict[int, int] = {}
        self.pred_records: dict[str, list] = {name: [] for name in setup.pred_codes}
        self.n_gt = self.n_pred = 0

    def note(self, check: str, item) -> None:
        self.counts[check] = self.counts.get(check, 0) + 1
        lst = self.files.setdefault(check, [])
        if len(lst) < MAX_RECORDED:
            lst.append(item)

    def side(self, f: Optional[PngFile], colour: Optional[bool], role: str) -> None:
        if f is None:
            return
        if role == "gt":
            self.n_gt += 1
        else:
            self.n_pred += 1
        if f.problem is not None:
            self.note("corrupt", (str(f.path), f.problem[1]))
            return
        if colour is not None:
            self.note("channels", (str(f.path), f.color_type, colour))
            return
        if f.color_type == 3:
            self.note("palette", str(f.path))
        if f.bit_depth == 16:
            self.note("sixteen", str(f.path))

    def add(self, rec: _Record) -> None:
        self.side(rec.gt, rec.gt_colour, "gt")
        self.side(rec.pred, rec.pred_colour, "pred")
        if rec.size_mismatch:
            self.note("size", (rec.key, rec.gt.width, rec.gt.height, rec.pred.width, rec.pred.height))
        if rec.gt_values is None:
            return
        v, c = rec.gt_values, rec.gt_counts
        self.gt_hist[v] += c
        if rec.gt.bit_depth == 16 and v.size and v.max() > 255 and (
                not (v % 256).any() or not (v % 257).any()):
            self.note("scaled", str(rec.gt.path))
        codes = self.setup.gt_codes
        if codes is None:
            return
        cv = codes[v]
        bad = v[cv == -2]
        if bad.size:
            path = str(rec.gt.path)
            self.note("bad_values", path)
            for value in bad.tolist():
                self.value_nfiles[value] = self.value_nfiles.get(value, 0) + 1
                lst = self.value_files.setdefault(value, [])
                if len(lst) < _FILES_PER_VALUE:
                    lst.append(path)
        if not c[cv >= 0].any():
            self.note("all_ignore", str(rec.gt.path))
        if rec.pred_values is not None:
            pv, pc = rec.pred_values, rec.pred_counts
            self.pred_hist[pv] += pc
            self.agree[0] += rec.agree[0]
            self.agree[1] += rec.agree[1]
            self.scored_pixels += int(c[cv >= 0].sum())
            for name, pcodes in self.setup.pred_codes.items():
                void = self.setup.pred_void[name][pv]
                badp = (pcodes[pv] < 0) & ~void
                if void.any() or badp.any():
                    self.pred_records[name].append(
                        (str(rec.pred.path), {int(x): int(y) for x, y in zip(pv[badp], pc[badp])},
                         {int(x): int(y) for x, y in zip(pv[void], pc[void])}))


def validate_semantic(gt, pred=None, *, preset=None, num_classes=None, ignore_index=None,
                      reduce_zero_label=None, label_map=None, pred_label_map=None, pred_labels="auto",
                      jobs=None, progress=None) -> ValidationReport:
    """Check a folder of ground-truth label PNGs (and optionally predictions) without scoring.

    Parameters
    ----------
    gt, pred : path-like
        Folders of label PNGs (searched recursively) or single files, paired as
        ``segmetrics eval`` pairs them (:mod:`segmetrics.io.folders`).
    preset : str, optional
        A semantic preset (``ade20k``, ``cityscapes``, ``camvid``); arguments override it.
    num_classes : int, optional
        Number of classes K.  Without it (and without a preset) the value ranges are
        not checked; the values found are listed instead.
    ignore_index : int, optional
        GT value that is not scored (default: the preset's, else 255).
    reduce_zero_label : bool, optional
        ADE20K rule (GT 0 -> ignore, k -> k - 1).
    label_map, pred_label_map : path or mapping, optional
        Raw value -> class maps (the ``--label-map`` file format of ``segmetrics eval``).
    pred_labels : {"auto", "class-index", "as-gt"}
        How predictions are written when the GT has a label rule (reduce_zero_label
        or a label map): class indices 0..K-1, or the same raw values as the GT
        files.  ``"auto"`` decides from the data and says how.
    jobs : int, optional
        Worker threads (default: usable CPUs, at most 8).
    progress : callable, optional
        Called with 1 after each image.

    Returns
    -------
    ValidationReport
        Findings by severity; see ``docs/validate.md`` for every check.

    Raises
    ------
    DataFileError
        ``gt`` or ``pred`` does not exist.
    InputError
        Contradictory settings (an ignore index inside the classes, a panoptic preset).

    Notes
    -----
    A GT value ``v`` is *out of range* when its class after the label rules,
    ``lut[v]`` (``v - 1`` under ``reduce_zero_label``, ``v`` without rules), is
    neither in ``[0, K)`` nor the ignore index -- the same code tables
    ``segmetrics eval`` counts with.  A prediction is checked only on scored pixels
    (GT not ignored), as eval checks it.  The prediction reading rule is eval's,
    :func:`segmetrics.labels.decide_reading`, on the counts of every file.  Every file is decoded once;
    nothing depends on ``jobs`` or the file order.
    """
    from ..errors import DataFileError
    from ..folders import default_jobs
    from .._engine.schedule import resolve_jobs, run_indexed

    setup = semantic_setup(preset=preset, num_classes=num_classes, ignore_index=ignore_index,
                           reduce_zero_label=reduce_zero_label, label_map=label_map,
                           pred_label_map=pred_label_map, pred_labels=pred_labels)
    gt = Path(gt)
    if not gt.exists():
        raise DataFileError(f"ground-truth path not found: {gt}")
    if pred is not None:
        pred = Path(pred)
        if not pred.exists():
            raise DataFileError(f"prediction path not found: {pred}")
    out = Findings()
    items = _pair(gt, pred, setup, out)
    col = _Collector(setup)
    if items:
        n_jobs = resolve_jobs(jobs, len(items), default_jobs)
        run_indexed(len(items), lambda buffers, i: _examine(*items[i], setup, buffers), Buffers, n_jobs,
                    sink=lambda _i, rec: col.add(rec), progress=progress)
    file_findings(col, out)
    if setup.num_classes is None:
        value_listing(col, out)
    else:
        gt_value_findings(col, setup, out)
        if pred is not None:
            pred_findings(col, setup, out)
    summary = {
        "gt": str(gt), "pred": None if pred is None else str(pred), "params": setup.params(),
        "images": len(items), "gt_files": col.n_gt, "pred_files": col.n_pred,
        "described": f"{plural(col.n_gt, 'ground-truth file')}"
                     + (f", {plural(col.n_pred, 'paired prediction')}" if pred is not None else "")
                     + (f" (preset {setup.preset})" if setup.preset else ""),
    }
    return ValidationReport("semantic", out.items, summary)


# ----------------------------------------------------------------------------- pairing
def _pair(gt: Path, pred: Optional[Path], setup: SemanticSetup, out: Findings) -> list:
    """``[(image_id, gt_path, pred_path or None)]`` and the pairing findings."""
    from ..io.folders import find_label_files, pair_label_files

    try:
        gt_files = find_label_files(gt, suffix=setup.gt_suffix, what="ground-truth")
    except FormatError as exc:
        out.add("semantic.pairing_failed", str(exc), files=[str(gt)])
        return []
    if not gt_files:
        pattern = f"*{setup.gt_suffix}.png" if setup.gt_suffix else "*.png"
        out.add("semantic.no_gt_files", f"no ground-truth label files ({pattern}) under {gt}", files=[str(gt)])
        return []
    if pred is None:
        return [(k, p, None) for k, p in sorted(gt_files.items())]
    try:
        pred_files = find_label_files(pred, strip_suffixes=setup.pred_suffixes, what="prediction")
    except FormatError as exc:
        out.add("semantic.pairing_failed", str(exc), files=[str(pred)])
        return [(k, p, None) for k, p in sorted(gt_files.items())]
    if not pred_files:
        out.add("semantic.no_pred_files", f"no prediction label files (*.png) under {pred}", files=[str(pred)])
        return [(k, p, None) for k, p in sorted(gt_files.items())]
    amb_gt, amb_pred = _ambiguous(gt_files, pred_files, out)
    try:
        pairing = pair_label_files(gt, pred, gt_suffix=setup.gt_suffix, pred_suffixes=setup.pred_suffixes,
                                   allow_missing=True)
        pairs, missing, extra = pairing.pairs, pairing.missing, pairing.extra
    except FormatError as exc:  # a pairing that refuses ambiguity: pair exact keys only
        if not amb_gt:
            out.add("semantic.pairing_failed", str(exc), files=[str(pred)])
        pairs = [(k, p, pred_files.get(k)) for k, p in sorted(gt_files.items())]
        missing = [k for k, _, q in pairs if q is None]
        extra = sorted(set(pred_files) - set(gt_files))
    pairs = [(k, g, None if k in amb_gt else q) for k, g, q in pairs]
    missing = [k for k in missing if k not in amb_gt]
    extra = [k for k in extra if k not in amb_pred]
    if missing:
        out.add("semantic.missing_prediction",
                f"{plural(len(missing), 'ground-truth image')} of {len(gt_files):,} "
                f"{verb(len(missing), 'has', 'have')} no prediction in {pred}: "
                f"{listing(missing)}", count=len(missing), image_ids=missing)
    if extra:
        out.add("semantic.extra_prediction",
                f"{plural(len(extra), 'prediction')} {verb(len(extra), 'matches', 'match')} no ground-truth image "
                f"(eval skips them): {listing(extra)}",
                count=len(extra), image_ids=extra)
    return pairs


def _ambiguous(gt_files: dict, pred_files: dict, out: Findings) -> tuple[set, set]:
    """GT keys and prediction keys whose pairing by file name is ambiguous."""
    def name(key: str) -> str:
        return key.rsplit("/", 1)[-1]

    pred_by_name: dict[str, list] = {}
    for key in pred_files:
        pred_by_name.setdefault(name(key), []).append(key)
    unmatched_by_name: dict[str, list] = {}
    for key in gt_files:
        if key not in pred_files:
            unmatched_by_name.setdefault(name(key), []).append(key)
    cases = []
    amb_gt: set = set()
    amb_pred: set = set()
    for base, gts in sorted(unmatched_by_name.items()):
        cands = [p for p in pred_by_name.get(base, []) if p not in gt_files]
        if len(cands) > 1 or (len(cands) == 1 and len(gts) > 1):
            amb_gt.update(gts)
            amb_pred.update(cands)
            cases.append({"gt": sorted(gts), "pred": sorted(cands)})
    if cases:
        shown = [f"{' / '.join(c['gt'])} <-> {' / '.join(c['pred'])}" for c in cases]
        out.add("semantic.ambiguous_pair",
                f"{plural(len(cases), 'file name')} {verb(len(cases), 'pairs', 'pair')} ambiguously (a flat name "
                f"matches several files): "
                f"{listing(shown, limit=3)}", count=len(cases), cases=cases)
    return amb_gt, amb_pred
