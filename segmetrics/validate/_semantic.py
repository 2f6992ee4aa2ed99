"""``validate_semantic``: checks of a folder of label PNGs (and its predictions).

One pass per image on a thread pool: both files are read, their chunks checked,
inflated and unfiltered row by row and each row counted at once, run by run, without
the GIL (:func:`segmetrics._kernels.segstats.png_label_stats`: the GT histogram, the
histogram of predictions on scored pixels, and how many scored pixels each prediction
reading gets right).  Files that kernel does not take (colour files, sizes that differ,
corrupt files) go through the Python decoder, which also words their problems.  Only
small summaries leave the worker threads; the findings are made from their sums at the
end, in file order, so the report does not depend on ``jobs``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from ..errors import FormatError, InputError, SegmetricsError
from ._findings import MAX_RECORDED, Findings, ValidationReport, listing, plural
from ._files import Buffers, PngFile, decode, open_png, read_bytes
from ._readings import READINGS, Evidence, decide_reading, reading_label

__all__ = ["validate_semantic", "SemanticSetup", "semantic_setup"]

_TABLE = 65536
_FILES_PER_VALUE = 20    # files kept per out-of-range value (the counts are exact) ...
_VALUES_WITH_FILES = 100  # ... for this many values
_COLOUR_NAMES = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


# ----------------------------------------------------------------------------- settings
@dataclass
class SemanticSetup:
    """Resolved label rules: preset + arguments (arguments win), and the code tables.

    ``gt_codes[v]`` is the class of raw GT value ``v`` (>= 0), -1 ignored or -2 not
    allowed; ``pred_codes[name]`` the same for a prediction reading (``class-index``:
    values are class indices; ``as-gt``: predictions hold the same raw values as
    the GT files; ``map``: an explicit prediction label map) and ``pred_void[name]``
    where a reading sends a value to the ignore index.
    """

    preset: Optional[str]
    num_classes: Optional[int]
    ignore_index: int
    reduce_zero_label: bool
    label_map: Optional[dict]
    label_map_name: Optional[str]
    pred_labels: str
    gt_suffix: str = ""
    pred_suffixes: tuple = ()
    gt_lut: Optional[np.ndarray] = None
    gt_codes: Optional[np.ndarray] = None
    pred_codes: dict = field(default_factory=dict)
    pred_void: dict = field(default_factory=dict)

    def params(self) -> dict:
        """The settings as a JSON-ready dict (the report's ``summary.params``)."""
        return {"preset": self.preset, "num_classes": self.num_classes, "ignore_index": self.ignore_index,
                "reduce_zero_label": self.reduce_zero_label, "label_map": self.label_map_name,
                "pred_labels": self.pred_labels}


def _load_mapping(value, what: str) -> tuple[Optional[dict], Optional[str]]:
    from ..presets import load_label_map

    if value is None:
        return None, None
    if isinstance(value, Mapping):
        return dict(value), f"<{what} mapping>"
    return load_label_map(value), str(value)


def semantic_setup(*, preset=None, num_classes=None, ignore_index=None, reduce_zero_label=None,
                   label_map=None, pred_label_map=None, pred_labels="auto") -> SemanticSetup:
    """Resolve the label rules of a semantic validation (the seam to the library's resolver).

    Raises
    ------
    InputError
        Unknown or panoptic preset, a bad ``pred_labels``, an ignore index that is a
        class, or a label map that sends values outside the classes.
    """
    from ..presets import get_preset, label_map_lut

    p = get_preset(preset) if preset else None
    if p is not None and p.task != "semantic":
        raise InputError(f"preset {p.name} is for {p.task} data; use validate_panoptic")
    if pred_labels not in READINGS[:2] + ("auto",):
        raise InputError(f"pred_labels must be 'auto', 'class-index' or 'as-gt', got {pred_labels!r}")
    k = num_classes if num_classes is not None else (p.num_classes if p else None)
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
    ignore = ignore_index if ignore_index is not None else (p.ignore_index if p else 255)
    if ignore < 0:
        raise InputError(f"ignore_index must be >= 0, got {ignore}")
    if k is not None and ignore < k:
        raise InputError(f"ignore_index {ignore} is one of the {k} classes (0..{k - 1}); pick a value outside them")
    rzl = bool(reduce_zero_label) if reduce_zero_label is not None else (p.reduce_zero_label if p else False)
    mapping, map_name = _load_mapping(label_map, "label")
    if mapping is None and p is not None and p.label_map is not None:
        mapping, map_name = dict(p.label_map), f"preset:{p.name}"
    pred_mapping, _ = _load_mapping(pred_label_map, "prediction label")
    setup = SemanticSetup(preset=p.name if p else None, num_classes=None if k is None else int(k),
                          ignore_index=int(ignore), reduce_zero_label=rzl, label_map=mapping,
                          label_map_name=map_name, pred_labels="map" if pred_mapping is not None else pred_labels,
                          gt_suffix=p.gt_suffix if p else "", pred_suffixes=p.pred_suffixes if p else ())
    if k is None:
        return setup
    if mapping is not None or rzl:
        setup.gt_lut = label_map_lut(mapping, num_classes=k, ignore_index=ignore, reduce_zero_label=rzl)
    luts = {"class-index": None}
    if pred_mapping is not None:
        luts = {"map": label_map_lut(pred_mapping, num_classes=k, ignore_index=ignore)}
    elif setup.gt_lut is not None:
        luts["as-gt"] = setup.gt_lut
    for name, lut in luts.items():
        gcodes, pcodes = _code_tables(k, ignore, setup.gt_lut, lut)
        setup.gt_codes = gcodes
        setup.pred_codes[name] = pcodes
        setup.pred_void[name] = _void_table(lut, ignore)
    return setup


def _code_tables(k: int, ignore: int, gt_lut, pred_lut) -> tuple[np.ndarray, np.ndarray]:
    """The evaluator's own code tables for these label rules (one owner of the rule)."""
    from .._pipeline import semantic_code_tables
    from ..semantic import SemanticEvaluator

    ev = SemanticEvaluator(k, ignore_index=ignore, gt_map=gt_lut, pred_map=pred_lut)
    g, p = semantic_code_tables(ev)
    return np.ascontiguousarray(g, dtype=np.int32), np.ascontiguousarray(p, dtype=np.int32)


def _void_table(lut: Optional[np.ndarray], ignore: int) -> np.ndarray:
    """``void[v]``: raw prediction value ``v`` means "the ignore index" under a reading."""
    void = np.zeros(_TABLE, dtype=bool)
    if lut is None:
        if ignore < _TABLE:
            void[ignore] = True
        return void
    n = min(lut.size, _TABLE)
    void[:n] = lut[:n] == ignore
    if n <= ignore < _TABLE:
        void[ignore] = True
    return void


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


def _nonzero(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.flatnonzero(hist)
    return v, hist[v]


_UNSCORED = np.full(_TABLE, -1, dtype=np.int32)   # code table without classes: nothing is scored


def _examine(key: str, gt_path: Path, pred_path: Optional[Path], setup: SemanticSetup,
             buffers: Buffers) -> _Record:
    """One image: the fused kernel (decode both files row by row and count them), or the
    Python path for what it does not take (colour files, sizes that differ, corrupt files)."""
    from .._kernels.segstats import label_histogram, pair_stats, png_label_stats

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
    (GT not ignored), as eval checks it.  The prediction reading rule is
    :func:`segmetrics.validate.decide_reading`.  Every file is decoded once;
    nothing depends on ``jobs`` or the file order.
    """
    from ..errors import DataFileError
    from ..evaluate import default_jobs
    from .._pipeline import resolve_jobs, run_indexed

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
    _file_findings(col, out)
    if setup.num_classes is None:
        _value_listing(col, out)
    else:
        _gt_value_findings(col, setup, out)
        if pred is not None:
            _pred_findings(col, setup, out)
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
                f"{plural(len(missing), 'ground-truth image')} of {len(gt_files):,} have no prediction in {pred}: "
                f"{listing(missing)}", count=len(missing), image_ids=missing)
    if extra:
        out.add("semantic.extra_prediction",
                f"{plural(len(extra), 'prediction')} match no ground-truth image (eval skips them): {listing(extra)}",
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
                f"{plural(len(cases), 'file name')} pair ambiguously (a flat name matches several files): "
                f"{listing(shown, limit=3)}", count=len(cases), cases=cases)
    return amb_gt, amb_pred


# ----------------------------------------------------------------------------- findings
def _file_findings(col: _Collector, out: Findings) -> None:
    def files(check):
        return col.files.get(check, []), col.counts.get(check, 0)

    lst, n = files("corrupt")
    if n:
        out.add("semantic.corrupt_file", f"{plural(n, 'file')} cannot be read: {listing([d for _, d in lst], n, limit=3)}",
                count=n, files=[f for f, _ in lst], reasons=[d for _, d in lst])
    lst, n = files("channels")
    if n:
        kinds = sorted({_COLOUR_NAMES.get(ct, str(ct)) for _, ct, _ in lst})
        grey = sum(1 for *_, g in lst if g)
        hint = (f"; {grey} of them hold the same value in R, G and B (grey labels saved as colour: "
                "keep one channel)" if grey else " (a colour visualisation instead of labels?)")
        out.add("semantic.not_single_channel",
                f"{plural(n, 'file')} are {'/'.join(kinds)} where single-channel label maps are expected"
                f"{hint}: {listing([f for f, *_ in lst])}", count=n, files=[f for f, *_ in lst], grey_as_colour=grey)
    for check, code, text in (
            ("palette", "semantic.palette_png", "are palette PNGs, read as palette indices (as PIL and mmseg read "
                                                "them); make sure the indices are the class ids"),
            ("sixteen", "semantic.sixteen_bit", "are 16-bit label PNGs"),
            ("scaled", "semantic.scaled_16bit", "are 16-bit files holding only multiples of 256 or 257 (8-bit labels "
                                                "scaled to 16 bits by an image converter?)")):
        lst, n = files(check)
        if n:
            out.add(code, f"{plural(n, 'file')} {text}: {listing(lst)}", count=n, files=lst)
    lst, n = files("size")
    if n:
        shown = [f"{k} (GT {gw}x{gh}, prediction {pw}x{ph})" for k, gw, gh, pw, ph in lst]
        out.add("semantic.size_mismatch", f"{plural(n, 'image')} differ in size between GT and prediction: "
                f"{listing(shown, n, limit=3)}", count=n, image_ids=[x[0] for x in lst],
                sizes=[{"image_id": k, "gt": [gw, gh], "pred": [pw, ph]} for k, gw, gh, pw, ph in lst])
    lst, n = files("all_ignore")
    if n:
        out.add("semantic.all_ignore", f"{plural(n, 'image')} have no scored pixel (the whole GT is ignored): "
                f"{listing(lst)}", count=n, files=lst)


def _value_text(values: dict, *, limit: int = 8) -> str:
    return listing([f"{v} ({c:,} px)" for v, c in values.items()], len(values), limit=limit)


def _value_listing(col: _Collector, out: Findings) -> None:
    v, c = _nonzero(col.gt_hist)
    if v.size:
        values = {int(a): int(b) for a, b in zip(v, c)}
        out.add("semantic.label_values",
                f"GT values found: {_value_text(values, limit=12)}; pass --num-classes or --preset to check them "
                f"against the classes", count=len(values), values=values)


def _gt_value_findings(col: _Collector, setup: SemanticSetup, out: Findings) -> None:
    k, ign, codes, hist = setup.num_classes, setup.ignore_index, setup.gt_codes, col.gt_hist
    present = np.flatnonzero(hist)
    bad = present[codes[present] == -2]
    rule = _gt_rule(setup)
    if bad.size:
        values = {int(v): int(hist[v]) for v in bad}
        shown = [f"{v} ({hist[v]:,} px in {plural(col.value_nfiles[v], 'file')}, e.g. {col.value_files[v][0]})"
                 for v in bad[:5].tolist()]
        first = bad[:_VALUES_WITH_FILES].tolist()
        out.add("semantic.label_out_of_range",
                f"GT values outside the {k} classes{rule} and not the ignore index {ign}: "
                f"{listing(shown, len(values), limit=5)} ({plural(col.counts['bad_values'], 'file')} in all)",
                count=len(values), values=values, files=col.files["bad_values"],
                files_affected=col.counts["bad_values"], files_by_value={v: col.value_files[v] for v in first},
                files_with_value={v: col.value_nfiles[v] for v in values})
    vals = set(present.tolist())
    mapping = setup.label_map
    if mapping is None and not setup.reduce_zero_label:
        if k == 19 and vals and max(vals - {ign}, default=0) > 18 and (vals - {ign}) <= set(range(34)):
            out.add("semantic.gt_looks_like_labelids",
                    f"GT values {_span(vals - {ign})} look like Cityscapes labelIds (0..33) but 19 classes are "
                    "expected as trainIds: use --preset cityscapes (maps labelIds to trainIds) or the "
                    "*_gtFine_labelTrainIds.png files", values=sorted(vals))
        elif vals and 0 in vals and k in vals and max(vals - {ign}) == k:
            out.add("semantic.gt_looks_one_based",
                    f"GT values span 0..{k} with {k} classes: they look like '0 = other, 1..{k} = classes' "
                    f"(ADE20K); pass --reduce-zero-label (--preset ade20k does)", values=sorted(vals))
    if mapping is not None and max((x for x in mapping if x != "*"), default=0) >= k and vals and ign in vals \
            and vals <= set(range(k)) | {ign}:
        out.add("semantic.gt_looks_like_trainids",
                f"GT values {_span(vals - {ign})} and {ign} are class indices already (trainIds), but the label map "
                f"{setup.label_map_name} expects raw labelIds and would score them wrongly: drop the label map "
                "(or validate the *_labelIds files)", values=sorted(vals))
    if setup.reduce_zero_label and mapping is None and vals and k not in vals and 255 in vals and ign != 0:
        out.add("semantic.gt_zero_based_with_reduce_zero_label",
                f"reduce_zero_label is on but the GT never holds {k} and holds 255: the files look 0-based "
                f"already (0..{k - 1}, 255 ignored), and reduce_zero_label would shift every class by one; "
                "drop --reduce-zero-label if so", values=sorted(vals))
    per_class = np.bincount(codes[present][codes[present] >= 0], weights=hist[present][codes[present] >= 0],
                            minlength=k)[:k]
    unused = np.flatnonzero(per_class == 0)
    if unused.size and present.size:
        out.add("semantic.unused_classes",
                f"{plural(int(unused.size), 'class', 'classes')} of {k} never occur in the GT: "
                f"{listing(unused.tolist(), limit=12)}", count=int(unused.size), classes=unused.tolist())


def _span(values) -> str:
    vals = sorted(values)
    return f"{vals[0]}..{vals[-1]}" if vals else "(none)"


def _gt_rule(setup: SemanticSetup) -> str:
    if setup.label_map_name:
        return f" after the label map {setup.label_map_name}"
    if setup.reduce_zero_label:
        return " after reduce_zero_label (raw 1..K)"
    return ""


def _pred_findings(col: _Collector, setup: SemanticSetup, out: Findings) -> None:
    k, ign = setup.num_classes, setup.ignore_index
    names = list(setup.pred_codes)
    reading = names[0]
    if len(names) == 2:
        ev = Evidence.from_counts(col.pred_hist, setup.pred_codes[names[0]], setup.pred_codes[names[1]],
                                  col.agree[0], col.agree[1], col.scored_pixels)
        decision = decide_reading(ev, tuple(names))
        what = _convention_words(setup)
        if setup.pred_labels == "auto":
            if decision.reading is None:
                out.add("semantic.pred_convention_unclear",
                        f"cannot tell whether predictions are {what[0]} or {what[1]}: {decision.reason}; "
                        "pass --pred-labels class-index or as-gt", **decision.fields())
            else:
                reading = decision.reading
                out.add("semantic.pred_convention",
                        f"predictions read as {what[names.index(reading)]} ({reading}): {decision.reason}",
                        reading=reading, **decision.fields())
        else:
            reading = setup.pred_labels
            if decision.reading is not None and decision.reading != reading:
                other = decision.reading
                out.add("semantic.pred_convention_mismatch",
                        f"predictions are read as {what[names.index(reading)]} (pred_labels={reading}) but look "
                        f"like {what[names.index(other)]}: {decision.reason}; pass --pred-labels {other}",
                        reading=reading, suggested=other, **decision.fields())
    records = col.pred_records.get(reading, [])
    bad_files = [(f, vals) for f, vals, _ in records if vals]
    if bad_files:
        totals: dict = {}
        nfiles: dict = {}
        for _, vals in bad_files:
            for v, c in vals.items():
                totals[v] = totals.get(v, 0) + c
                nfiles[v] = nfiles.get(v, 0) + 1
        shown = [f"{v} ({totals[v]:,} px in {plural(nfiles[v], 'file')})" for v in sorted(totals)]
        out.add("semantic.pred_out_of_range",
                f"prediction values on scored pixels that are no class 0..{k - 1} ({reading_label(reading)}): "
                f"{listing(shown, limit=5)}; files: {listing([f for f, _ in bad_files])}",
                count=len(bad_files), values={v: totals[v] for v in sorted(totals)},
                files=[f for f, _ in bad_files])
    void_files = [(f, sum(v.values())) for f, _, v in records if v]
    if void_files:
        total = sum(n for _, n in void_files)
        values = sorted({v for _, _, vals in records for v in vals})
        out.add("semantic.pred_void",
                f"{total:,} scored pixels in {plural(len(void_files), 'prediction')} are predicted as void (value"
                f"{'s' if len(values) > 1 else ''} {listing(values)}, which {reading_label(reading)} become the ignore "
                f"index {ign}); eval refuses them unless --void-predictions miss: "
                f"{listing([f'{f} ({n:,} px)' for f, n in void_files], limit=3)}",
                count=len(void_files), pixels=total, values=values, files=[f for f, _ in void_files])


def _convention_words(setup: SemanticSetup) -> tuple[str, str]:
    """How the two readings are called for this dataset (ADE20K / Cityscapes wording)."""
    from ..presets import CITYSCAPES_LABELID_TO_TRAINID

    k = setup.num_classes
    mapping = {x: y for x, y in (setup.label_map or {}).items() if x != "*"}
    if mapping and all(mapping.get(a) == b for a, b in CITYSCAPES_LABELID_TO_TRAINID.items()):
        return "trainIds (0..18)", "labelIds (like the GT files)"
    if setup.reduce_zero_label and not mapping:
        return f"0-based class indices (0..{k - 1})", f"1-based values like the GT files (1..{k})"
    return f"class indices (0..{k - 1})", "raw values like the GT files"
