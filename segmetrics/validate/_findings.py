"""Findings, the registry of check codes, and the validation report.

Every check has a stable code (``semantic.label_out_of_range``), one severity and a
one-line title, registered once in :data:`CHECKS`; ``docs/validate.md`` explains
each (a test keeps the two in step).  A :class:`Finding` is one check that fired:
its code, severity, one human line, how many things it concerns and structured
fields (files, image ids, segment ids, values with pixel counts) for JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..report import listing, plural  # noqa: F401  (the one plural and listing rules, for the validate modules)

__all__ = ["SEVERITIES", "Check", "CHECKS", "Finding", "ValidationReport", "listing", "verb", "format_text"]

SEVERITIES: tuple[str, ...] = ("error", "warning", "info")

#: How many items a finding's structured lists keep (the count says how many there were).
MAX_RECORDED = 1000


@dataclass(frozen=True)
class Check:
    """One kind of finding: its code, severity and title."""

    code: str
    severity: str
    title: str


def _checks(*rows: tuple[str, str, str]) -> dict[str, Check]:
    out = {}
    for code, severity, title in rows:
        if severity not in SEVERITIES or code in out:
            raise ValueError(f"bad check row {code!r}")  # a programming error in this table
        out[code] = Check(code, severity, title)
    return out


#: Every check ``segmetrics validate`` runs (docs/validate.md explains each).
CHECKS: dict[str, Check] = _checks(
    # semantic: files and pairing
    ("semantic.no_gt_files", "error", "no ground-truth label PNG found"),
    ("semantic.no_pred_files", "error", "no prediction label PNG found"),
    ("semantic.pairing_failed", "error", "the files cannot be paired (two files give one image id)"),
    ("semantic.missing_prediction", "error", "ground-truth images without a prediction"),
    ("semantic.extra_prediction", "warning", "predictions that match no ground-truth image"),
    ("semantic.ambiguous_pair", "error", "a prediction that could pair with several images, or the reverse"),
    ("semantic.corrupt_file", "error", "a label file that cannot be read or decoded"),
    ("semantic.not_single_channel", "error", "RGB, RGBA or grey+alpha files where label maps are expected"),
    ("semantic.palette_png", "info", "palette PNGs (read as palette indices)"),
    ("semantic.sixteen_bit", "info", "16-bit label PNGs"),
    ("semantic.scaled_16bit", "warning", "16-bit files whose values look scaled (multiples of 256 or 257)"),
    ("semantic.size_mismatch", "error", "ground truth and prediction of an image differ in size"),
    # semantic: label values
    ("semantic.label_values", "info", "label values found (no class count given to check them against)"),
    ("semantic.label_out_of_range", "error", "ground-truth values that are neither a class nor ignored"),
    ("semantic.gt_looks_like_labelids", "error", "ground truth looks like Cityscapes labelIds, trainIds expected"),
    ("semantic.gt_looks_like_trainids", "error", "ground truth looks like trainIds, the label map expects labelIds"),
    ("semantic.gt_looks_one_based", "error", "ground truth looks like 0 = other, 1..K (ADE20K) without reduce_zero_label"),
    ("semantic.gt_zero_based_with_reduce_zero_label", "warning",
     "ground truth looks 0-based already but reduce_zero_label shifts it"),
    ("semantic.all_ignore", "warning", "images whose ground truth is entirely ignored"),
    ("semantic.unused_classes", "info", "classes that never occur in the ground truth"),
    ("semantic.pred_out_of_range", "error", "prediction values on scored pixels that are no class"),
    ("semantic.pred_void", "error", "predictions equal to the ignore index on scored pixels"),
    ("semantic.pred_convention", "info", "how predictions are read (class indices or like the GT files) and why"),
    ("semantic.pred_convention_mismatch", "error",
     "predictions written in the other convention (0- vs 1-based, labelIds vs trainIds)"),
    ("semantic.pred_convention_unclear", "warning", "the prediction convention cannot be told from the data"),
    # panoptic: JSON
    ("panoptic.invalid_json", "error", "a file that is not valid JSON"),
    ("panoptic.json_structure", "error", "fields missing or of the wrong type in a COCO panoptic JSON"),
    ("panoptic.duplicate_image_id", "error", "an image id listed twice"),
    ("panoptic.duplicate_file_name", "error", "two annotations pointing at one PNG"),
    ("panoptic.duplicate_segment_id", "error", "a segment id listed twice in one image"),
    ("panoptic.duplicate_category_id", "error", "a category id listed twice"),
    ("panoptic.unknown_category", "error", "segments whose category_id is not a ground-truth category"),
    ("panoptic.isthing_flag", "error", "categories without a valid isthing flag (0 or 1)"),
    ("panoptic.isthing_differs", "warning", "the prediction file's isthing flags differ from the ground truth's"),
    ("panoptic.no_things_or_stuff", "info", "no thing (or no stuff) category: PQ_th (or PQ_st) will be NaN"),
    ("panoptic.unused_categories", "info", "categories without any ground-truth segment"),
    ("panoptic.crowd_on_stuff", "warning", "iscrowd=1 on a stuff category"),
    ("panoptic.stuff_multiple_segments", "warning", "a stuff category with several segments in one image"),
    ("panoptic.missing_area", "warning", "ground-truth segments without 'area'"),
    ("panoptic.empty_annotation", "warning", "ground-truth images with no segment at all"),
    ("panoptic.image_without_annotation", "warning", "'images' entries and annotations that do not match up"),
    ("panoptic.preset_layout", "warning", "the dataset does not have the layout its preset describes"),
    # panoptic: PNGs
    ("panoptic.missing_png", "error", "an annotation's PNG file does not exist"),
    ("panoptic.corrupt_png", "error", "a PNG that cannot be read or decoded"),
    ("panoptic.rgba_png", "error", "RGBA panoptic PNGs (8-bit RGB expected)"),
    ("panoptic.not_rgb_png", "error", "grey, palette or 16-bit panoptic PNGs (8-bit RGB expected)"),
    ("panoptic.image_size_mismatch", "error", "a PNG whose size differs from its 'images' entry"),
    ("panoptic.pred_size_mismatch", "error", "a prediction PNG whose size differs from the ground-truth PNG"),
    ("panoptic.unlisted_png_id", "error", "ids in a PNG that segments_info does not list"),
    ("panoptic.segment_without_pixels", "error", "listed segments with no pixel in the PNG"),
    ("panoptic.stale_area", "error", "ground-truth 'area' values that differ from the PNG's pixel counts"),
    ("panoptic.stale_bbox", "warning", "ground-truth 'bbox' values that differ from the PNG"),
    ("panoptic.bbox_xyxy", "warning", "bboxes written [x1, y1, x2, y2] instead of COCO's [x, y, w, h]"),
    ("panoptic.pred_stale_area", "info", "prediction 'area' values that differ from the PNG (recomputed by every tool)"),
    # panoptic: pairing
    ("panoptic.missing_prediction", "error", "ground-truth images without a prediction"),
    ("panoptic.unknown_image", "warning", "predictions for images that are not in the ground truth"),
    ("panoptic.image_id_type", "error", "image ids that differ between the files only by type (1 vs \"1\")"),
    ("panoptic.fixed_json", "info", "a copy of the JSON with areas and bboxes recomputed was written"),
)


def verb(n: int, one: str, many: str) -> str:
    """The verb that agrees with a count (``plural(n, "image")`` then ``verb(n, "has", "have")``)."""
    return one if n == 1 else many




@dataclass
class Finding:
    """One check that fired.

    Attributes
    ----------
    code : str
        Stable identifier, a key of :data:`CHECKS`.
    severity : {"error", "warning", "info"}
    message : str
        One human line naming the files / image ids / segment ids with counts.
    count : int
        How many things (files, images, segments, values) it concerns.
    fields : dict
        Structured details for JSON: ``files``, ``image_ids``, ``segments``,
        ``values`` (value -> pixels), ... Lists hold at most :data:`MAX_RECORDED`
        items; ``count`` says how many there were.
    """

    code: str
    severity: str
    message: str
    count: int = 1
    fields: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "count": self.count, **_jsonable(self.fields)}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class Findings:
    """Collects findings; the severity of each comes from :data:`CHECKS`."""

    def __init__(self) -> None:
        self.items: list[Finding] = []

    def add(self, code: str, message: str, *, count: int = 1, **fields) -> Finding:
        """Record a finding of check ``code``; list fields are cut to :data:`MAX_RECORDED`."""
        check = CHECKS[code]
        kept = {k: (list(v)[:MAX_RECORDED] if isinstance(v, (list, tuple)) else v) for k, v in fields.items()}
        f = Finding(code, check.severity, message, int(count), kept)
        self.items.append(f)
        return f


@dataclass
class ValidationReport:
    """What ``segmetrics validate`` found.

    Attributes
    ----------
    task : {"semantic", "panoptic"}
    findings : list of Finding
        Errors first, then warnings, then info; within a severity in the order
        the checks ran.
    summary : dict
        Inputs, parameters and counts (files, images, segments).
    """

    task: str
    findings: list[Finding]
    summary: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        self.findings = sorted(self.findings, key=lambda f: rank[f.severity])

    def by_severity(self) -> dict[str, list[Finding]]:
        """``{"error": [...], "warning": [...], "info": [...]}``."""
        return {s: [f for f in self.findings if f.severity == s] for s in SEVERITIES}

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no finding is an error (warnings and info allowed)."""
        return not self.errors

    def codes(self, severity: str | None = None) -> list[str]:
        """Codes of the findings (of one severity), in report order."""
        return [f.code for f in self.findings if severity is None or f.severity == severity]

    def get(self, code: str) -> Finding | None:
        """The finding of check ``code``, or None."""
        return next((f for f in self.findings if f.code == code), None)

    def to_dict(self) -> dict:
        """JSON-ready dict: task, summary, counts by severity and the findings."""
        groups = self.by_severity()
        return {
            "task": self.task,
            "ok": self.ok,
            "counts": {s: len(groups[s]) for s in SEVERITIES},
            "summary": _jsonable(self.summary),
            "findings": [f.to_dict() for f in self.findings],
        }


def format_text(report: ValidationReport) -> str:
    """The report as text for a terminal: a summary line, then the findings by severity."""
    s = report.summary
    head = [f"segmetrics validate ({report.task}): {s.get('described', '')}".rstrip()]
    groups = report.by_severity()
    names = {"error": "errors", "warning": "warnings", "info": "info"}
    for sev in SEVERITIES:
        if not groups[sev]:
            continue
        head.append(f"{names[sev]} ({len(groups[sev])}):")
        head += [f"  [{f.code}] {f.message}" for f in groups[sev]]
    n_err, n_warn = len(groups["error"]), len(groups["warning"])
    verdict = "clean" if not n_err and not n_warn else (
        f"{plural(n_err, 'error')}, {plural(n_warn, 'warning')}")
    head.append(f"result: {verdict}" + (f" ({plural(len(groups['info']), 'note')})" if groups["info"] else ""))
    return "\n".join(head) + "\n"
