"""``segmetrics eval``: score a folder / COCO-panoptic set of predictions."""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings as _warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import click
import numpy as np

from .. import report as R
from ..errors import DataFileError, FormatError, InputError, LabelError
from ..presets import (
    CLASS_NAMES_FORMAT,
    LABEL_MAP_FORMAT,
    PRESETS,
    get_preset,
    label_map_lut,
    load_class_names,
    load_label_map,
)
from ._common import (
    EXIT_CODES_HELP,
    GateFailed,
    UserError,
    info,
    progress_bar,
    user_errors,
    warn,
    write_output,
)

__all__ = ["eval_command", "detect_task", "resolve_panoptic_input", "run_semantic", "run_panoptic"]

PRESET_HELP = "\n".join(f"  {p.name:<16} {p.description}" for p in PRESETS.values())

EPILOG = f"""\b
Examples:
  segmetrics eval --demo
  segmetrics eval --preset ade20k --gt ADEChallengeData2016/annotations/validation --pred out/ --per-class
  segmetrics eval --preset cityscapes --gt gtFine/val --pred results/ --json cs.json
  segmetrics eval --preset camvid --gt CamVid/testannot --pred pred/ --fail-under mIoU=60
  segmetrics eval --gt panoptic_val2017.json --pred panoptic_pred.json --per-class
  segmetrics eval --preset ade20k-panoptic --gt ade20k_panoptic_val.json --pred pred.json
  segmetrics eval --gt labels/ --pred pred/ --num-classes 5 --ignore-index 255 --markdown

\b
What is evaluated:
  A COCO-panoptic JSON as --gt (or a PNG folder with a JSON of the same
  name next to it, or a folder holding one JSON and its PNG folder) means
  panoptic; a folder of label PNGs means semantic.  Semantic files pair by
  their path relative to --gt/--pred without extension (subfolders are
  searched); a prediction may also sit flat, paired by file name alone.

\b
Presets:
{PRESET_HELP}

\b
{LABEL_MAP_FORMAT}

\b
{CLASS_NAMES_FORMAT}

\b
Missing predictions (--allow-missing):
  semantic: every scored GT pixel of the image is a false negative of its
  class and a false positive of no class (as if predicted "void", never
  correct); panoptic: every GT segment of the image is a false negative.

\b
Outputs: the table goes to stdout; --json PATH writes the report
(schema: docs/json_schema.md; values are fractions, '-' = stdout);
--per-image PATH.csv one row per image; --markdown prints Markdown for PR
comments instead of the table.  Warnings and progress go to stderr.

{EXIT_CODES_HELP}
"""


# --------------------------------------------------------------------------- inputs
def _sibling_json(folder: Path) -> Path:
    return folder.parent / (folder.name + ".json")


def detect_task(gt: Path) -> str:
    """``"panoptic"`` when ``gt`` is (or sits next to / holds) a COCO-panoptic JSON, else ``"semantic"``."""
    if gt.is_file():
        return "panoptic" if gt.suffix.lower() == ".json" else "semantic"
    if gt.is_dir():
        if _sibling_json(gt).is_file():
            return "panoptic"
        jsons = sorted(gt.glob("*.json"))
        if len(jsons) == 1 and (gt / jsons[0].stem).is_dir():
            return "panoptic"
    return "semantic"


def resolve_panoptic_input(path: Path, folder: Optional[Path], what: str) -> tuple[Path, Path]:
    """Find the (JSON, PNG folder) of a COCO-panoptic ``--gt`` / ``--pred`` argument.

    Accepted: ``X.json`` (+ folder ``X/`` next to it), a folder ``X/`` with ``X.json``
    next to it, or a folder holding one JSON (+ its folder, else the PNGs beside it).
    ``folder`` (``--gt-folder`` / ``--pred-folder``) overrides the PNG folder.
    """
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
        png = folder
    if not png.is_dir():
        flag = "--gt-folder" if what == "ground-truth" else "--pred-folder"
        raise DataFileError(f"no PNG folder for {what} {json_path}: expected {png} (or pass {flag})")
    return json_path, png


# --------------------------------------------------------------------------- semantic
@dataclass
class SemanticConfig:
    """Resolved semantic options (preset + flags)."""

    preset: Optional[str]
    num_classes: int
    class_names: tuple
    ignore_index: int
    reduce_zero_label: bool
    pred_reduce_zero_label: bool
    label_map: Optional[str]
    pred_label_map: Optional[str]
    gt_map: Optional[np.ndarray]
    pred_map: Optional[np.ndarray]
    gt_suffix: str
    pred_suffixes: tuple
    absent_rule: str
    void_predictions: str = "error"

    def params(self, allow_missing: bool) -> dict:
        """The ``params`` block of the JSON report."""
        return {
            "preset": self.preset,
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "reduce_zero_label": self.reduce_zero_label,
            "pred_reduce_zero_label": self.pred_reduce_zero_label,
            "label_map": self.label_map,
            "pred_label_map": self.pred_label_map,
            "absent_rule": self.absent_rule,
            "void_predictions": self.void_predictions,
            "allow_missing": allow_missing,
        }

    def miss_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """GT and prediction lookup tables for ``void_predictions="miss"``: an evaluator
        of K + 1 classes where class K ("void prediction") is what a prediction equal
        to the ignore index (after the prediction map) becomes; no GT value reaches it."""
        k, ign = self.num_classes, self.ignore_index
        gt = self.gt_map if self.gt_map is not None else np.arange(k, dtype=np.int64)
        base = self.pred_map if self.pred_map is not None else np.arange(k, dtype=np.int64)
        size = max(base.size, ign + 1) if ign < 65536 else base.size
        pred = np.full(size, ign, dtype=np.int64)
        pred[:base.size] = base
        pred[pred == ign] = k
        if base.size <= ign < size:
            pred[ign] = k  # the raw ignore value itself
        return gt, pred


def semantic_config(
    *,
    preset: Optional[str],
    num_classes: Optional[int],
    class_names_file: Optional[Path],
    ignore_index: Optional[int],
    reduce_zero_label: Optional[bool],
    pred_reduce_zero_label: Optional[bool],
    label_map_file: Optional[Path],
    pred_label_map_file: Optional[str],
    absent_rule: str,
    void_predictions: str = "error",
) -> SemanticConfig:
    """Merge a preset with the flags; flags win.  Raises ``InputError`` on contradictions."""
    p = get_preset(preset) if preset else None
    names = load_class_names(class_names_file) if class_names_file else (p.class_names if p else None)
    if num_classes is not None:
        k = num_classes
    elif class_names_file is not None:
        k = len(names)
    elif p is not None and p.num_classes is not None:
        k = p.num_classes
    else:
        raise InputError(
            "semantic evaluation needs the number of classes: pass --preset, --num-classes or --class-names"
        )
    if class_names_file is not None and len(names) != k:
        raise InputError(f"--class-names {class_names_file} gives {len(names)} names but --num-classes is {k}")
    if names is None or len(names) != k:
        names = tuple(str(i) for i in range(k))
    ignore = ignore_index if ignore_index is not None else (p.ignore_index if p else 255)
    if ignore < 0:
        raise InputError(f"--ignore-index must be >= 0, got {ignore}")
    if 0 <= ignore < k:
        raise InputError(
            f"--ignore-index {ignore} is one of the {k} classes (0..{k - 1}); pick a value outside them"
        )
    rzl = reduce_zero_label if reduce_zero_label is not None else (p.reduce_zero_label if p else False)
    przl = pred_reduce_zero_label if pred_reduce_zero_label is not None else rzl
    if label_map_file is not None:
        mapping, lm_name = load_label_map(label_map_file), str(label_map_file)
    elif p is not None and p.label_map is not None:
        mapping, lm_name = p.label_map, f"preset:{p.name}"
    else:
        mapping, lm_name = None, None
    gt_map = (label_map_lut(mapping, num_classes=k, ignore_index=ignore, reduce_zero_label=rzl)
              if (mapping is not None or rzl) else None)
    if pred_label_map_file == "gt":
        pred_mapping, plm_name = mapping, "same as label_map"
        if mapping is None:
            raise InputError("--pred-label-map gt needs a label map (--label-map or a preset that has one)")
    elif pred_label_map_file:
        pred_mapping, plm_name = load_label_map(pred_label_map_file), str(pred_label_map_file)
    else:
        pred_mapping, plm_name = None, None
    pred_map = (label_map_lut(pred_mapping, num_classes=k, ignore_index=ignore, reduce_zero_label=przl)
                if (pred_mapping is not None or przl) else None)
    return SemanticConfig(
        preset=p.name if p else None, num_classes=k, class_names=tuple(names), ignore_index=ignore,
        reduce_zero_label=rzl, pred_reduce_zero_label=przl, label_map=lm_name, pred_label_map=plm_name,
        gt_map=gt_map, pred_map=pred_map, gt_suffix=p.gt_suffix if p else "",
        pred_suffixes=p.pred_suffixes if p else (), absent_rule=absent_rule, void_predictions=void_predictions,
    )


def _semantic_per_class(names, pc: dict) -> list[dict]:
    rows = []
    for i, name in enumerate(names):
        row = {"id": i, "name": name}
        for key in ("IoU", "Acc", "Dice", "Precision", "Recall", "gt_pixels", "pred_pixels"):
            if key in pc:
                row[key] = pc[key][i]
        rows.append(row)
    return rows


def run_semantic(cfg: SemanticConfig, gt: Path, pred: Path, *, jobs, allow_missing, per_image, quiet,
                 cache_dir=None):
    """Pair, score and build the report; returns ``(report, per_image_rows or None)``."""
    from ..evaluate import count_gt_pixels, evaluate_semantic_files
    from ..io.folders import pair_label_files
    from ..semantic import SemanticEvaluator

    pairing = pair_label_files(gt, pred, gt_suffix=cfg.gt_suffix, pred_suffixes=cfg.pred_suffixes,
                               allow_missing=allow_missing)
    warns = []
    if pairing.extra:
        shown = ", ".join(pairing.extra[:5]) + (" ..." if len(pairing.extra) > 5 else "")
        warns.append(f"{len(pairing.extra)} prediction files match no ground-truth image and were skipped: {shown}")
    if pairing.missing:
        warns.append(f"{len(pairing.missing)} ground-truth images have no prediction and are scored as all-void: "
                     + ", ".join(pairing.missing[:5]) + (" ..." if len(pairing.missing) > 5 else ""))
    k = cfg.num_classes
    miss = cfg.void_predictions == "miss"
    gt_map, pred_map = cfg.miss_tables() if miss else (cfg.gt_map, cfg.pred_map)
    evaluator = SemanticEvaluator(
        k + 1 if miss else k, ignore_index=cfg.ignore_index, reduce_zero_label=False,
        class_names=list(cfg.class_names) + (["<void prediction>"] if miss else []), gt_map=gt_map,
        pred_map=pred_map, per_image=per_image, absent_rule=cfg.absent_rule,
    )
    present = [p for p in pairing.pairs if p[2] is not None]
    absent = [p for p in pairing.pairs if p[2] is None]
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        with progress_bar(len(pairing.pairs), "scoring", quiet=quiet) as tick:
            try:
                evaluate_semantic_files(present, evaluator, jobs=jobs, progress=tick, cache_dir=cache_dir)
            except LabelError as exc:
                text = str(exc)
                if cfg.pred_reduce_zero_label and "prediction" in text and cfg.pred_label_map is None:
                    raise LabelError(
                        f"{exc} -- predictions are read like the GT files (1..K, 0 = ignore) because of "
                        "reduce_zero_label; if they hold class indices 0..K-1, pass --no-pred-reduce-zero-label"
                    ) from None
                if "prediction" in text and cfg.pred_label_map is None and cfg.label_map is not None:
                    raise LabelError(
                        f"{exc} -- predictions are read as class indices 0..{k - 1}; if they hold the same raw "
                        "values as the GT files (e.g. Cityscapes labelIds), pass --pred-label-map gt"
                    ) from None
                if "prediction" in text and "ignore_index" in text and not miss:
                    raise LabelError(
                        f"{exc} -- to score such predictions as misses (a false negative of the GT class and "
                        "no false positive, as the Cityscapes and mmsegmentation scripts do), pass "
                        "--void-predictions miss"
                    ) from None
                raise
            void = count_gt_pixels(absent, evaluator, jobs=jobs, progress=tick)
        result = evaluator.compute()
    warns += [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    warns += list(getattr(result, "warnings", None) or [])
    void = [(i, c[:k]) for i, c in void]
    void_total = np.sum([c for _, c in void], axis=0) if void else None
    confusion = np.asarray(result.confusion)
    if miss:  # column K: predictions scored as misses; row K is empty (no GT value maps there)
        predicted_void = confusion[:k, k].copy()
        warns += _void_prediction_notes(predicted_void, cfg.class_names)
        void_total = predicted_void if void_total is None else void_total + predicted_void
        confusion = confusion[:k, :k]
    if void_total is not None:
        summary = R.semantic_metrics_from_confusion(confusion, void_total, absent_rule=cfg.absent_rule)
        metrics = {k: summary[k] for k in R.SEMANTIC_METRICS}
        per_class = _semantic_per_class(cfg.class_names, summary)
    else:
        metrics = {k: result.metrics[k] for k in R.SEMANTIC_METRICS if k in result.metrics}
        per_class = _semantic_per_class(cfg.class_names, result.per_class)
    gt_root = gt if gt.is_dir() else gt.parent
    dataset = {
        "gt": str(gt), "pred": str(pred), "images": len(pairing.pairs),
        "missing_predictions": len(pairing.missing), "extra_predictions": len(pairing.extra),
        "fingerprint": R.fingerprint_files(gt_root, [p[1] for p in pairing.pairs]),
    }
    report = R.build_report(task="semantic", params=cfg.params(allow_missing), dataset=dataset,
                            metrics=metrics, per_class=per_class, warnings=warns)
    rows = None
    if per_image:
        items = [dict(it, tp=it["tp"][:k], fp=it["fp"][:k], fn=it["fn"][:k]) if miss else it
                 for it in (result.per_image or [])]
        zeros = np.zeros(cfg.num_classes, dtype=np.int64)
        items += [{"image_id": i, "tp": zeros, "fp": zeros, "fn": c, "missing": True} for i, c in void]
        order = {p[0]: n for n, p in enumerate(pairing.pairs)}
        items.sort(key=lambda it: order.get(it["image_id"], len(order)))
        rows = R.per_image_semantic_rows(items, absent_rule=cfg.absent_rule)
    return report, rows


def _void_prediction_notes(predicted_void: np.ndarray, names) -> list:
    """A note saying how many scored pixels were predicted void (``--void-predictions miss``)."""
    total = int(predicted_void.sum())
    if not total:
        return []
    top = np.argsort(-predicted_void, kind="stable")[:3]
    where = ", ".join(f"{names[c]} {int(predicted_void[c])}" for c in top if predicted_void[c])
    return [f"{total} scored pixels were predicted as void (the ignore index) and count as misses of their "
            f"GT class (most for: {where})"]


# --------------------------------------------------------------------------- panoptic
def _panoptic_fingerprint(gt_json: Path, gt_folder: Path, annotations) -> str:
    """SHA-256 of the GT JSON and the PNGs it lists (see docs/json_schema.md)."""
    names = sorted({a["file_name"] for a in annotations})
    folder = os.fspath(gt_folder)
    return R.fingerprint_files(gt_folder.parent, [gt_json] + [os.path.join(folder, n) for n in names],
                               names=[gt_json.name] + names)


def _preset_checks(p, categories, annotations, gt_json: Path) -> list:
    """Warnings when a panoptic GT JSON does not have the layout its preset describes."""
    out = []
    if p is None or p.expected_num_categories is None:
        return out
    ids = sorted(c.get("id") for c in categories if isinstance(c, dict))
    if len(ids) != p.expected_num_categories:
        out.append(f"preset {p.name} expects {p.expected_num_categories} categories but {gt_json.name} has {len(ids)}")
    elif ids != list(range(p.expected_num_categories)):
        out.append(f"preset {p.name} expects category ids 0..{p.expected_num_categories - 1}; "
                   f"{gt_json.name} has {ids[0]}..{ids[-1]}")
    crowd = sum(1 for a in annotations for s in a.get("segments_info", []) if s.get("iscrowd"))
    if crowd:
        out.append(f"preset {p.name} expects no crowd segments but {gt_json.name} has {crowd}")
    return out


def run_panoptic(gt: Path, pred: Path, *, preset, gt_folder, pred_folder, jobs, allow_missing, per_image, quiet,
                 cache_dir=None):
    """Score a COCO-panoptic prediction set; returns ``(report, per_image_rows or None)``."""
    from ..evaluate import evaluate_panoptic_files
    from ..io.coco_panoptic import load_panoptic_json
    from ..panoptic import PanopticEvaluator

    p = get_preset(preset) if preset else None
    gt_json, gt_png = resolve_panoptic_input(gt, gt_folder, "ground-truth")
    pred_json, pred_png = resolve_panoptic_input(pred, pred_folder, "prediction")
    gt_ds = load_panoptic_json(gt_json, gt_png, require_categories=True)
    pred_ds = load_panoptic_json(pred_json, pred_png)
    anns = list(gt_ds.annotations.values())
    warns = _preset_checks(p, gt_ds.categories, anns, gt_json)
    fingerprint = _panoptic_fingerprint(gt_json, gt_png, anns)
    evaluator = PanopticEvaluator(gt_ds.categories, per_image=per_image)
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        with progress_bar(len(gt_ds.annotations), "scoring", quiet=quiet) as tick:
            evaluate_panoptic_files(gt_ds, pred_ds, evaluator, jobs=jobs, progress=tick,
                                    allow_missing=allow_missing, cache_dir=cache_dir)
        result = evaluator.compute()
    # the engine keeps every note in result.warnings and also emits a summary warning
    warns += [w for w in result.warnings if w not in warns]
    warns += [str(w.message) for w in caught
              if issubclass(w.category, UserWarning) and not any(str(w.message) in x or x in str(w.message)
                                                                 for x in warns)
              and "see PanopticResult.warnings" not in str(w.message)]
    m = result.metrics
    metrics = {k: m[k] for k in R.PANOPTIC_METRICS + R.SEMANTIC_METRICS if k in m}
    per_class = []
    for row in result.per_class:
        out = {"id": row["category_id"], "name": row.get("name"), "isthing": bool(row.get("isthing"))}
        for src, dst in (("pq", "PQ"), ("sq", "SQ"), ("rq", "RQ"), ("tp", "TP"), ("fp", "FP"), ("fn", "FN"),
                         ("iou", "IoU"), ("acc", "Acc")):
            if src in row:
                out[dst] = row[src]
        per_class.append(out)
    missing = sum(1 for i in gt_ds.annotations if i not in pred_ds.annotations)
    params = {"preset": p.name if p else None, "gt_folder": str(gt_png), "pred_folder": str(pred_png),
              "allow_missing": allow_missing}
    dataset = {"gt": str(gt_json), "pred": str(pred_json), "images": result.num_images,
               "missing_predictions": missing,
               "categories": m.get("N"), "things": m.get("N_th"), "stuff": m.get("N_st"),
               "fingerprint": fingerprint}
    report = R.build_report(task="panoptic", params=params, dataset=dataset, metrics=metrics,
                            per_class=per_class, warnings=warns)
    rows = None
    if per_image:
        order = {i: n for n, i in enumerate(gt_ds.annotations)}
        items = sorted(result.per_image or [], key=lambda it: order.get(it["image_id"], len(order)))
        rows = R.per_image_panoptic_rows(items, missing={i for i in gt_ds.annotations if i not in pred_ds.annotations})
    return report, rows


# --------------------------------------------------------------------------- command
def _emit(report, rows, *, per_class, json_path, per_image_path, markdown, quiet, fail_under):
    for w in report["warnings"]:
        warn(w, quiet)
    if json_path:
        write_output(json_path, R.to_json(report))
    if per_image_path and rows is not None:
        write_output(per_image_path, R.format_csv(rows))
    if json_path != "-" and per_image_path != "-":
        text = R.format_markdown(report, per_class=per_class) if markdown else R.format_table(report, per_class=per_class)
        click.echo(text, nl=False)
    if fail_under:
        with user_errors():
            reasons = R.check_fail_under(report, fail_under)
        if reasons:
            raise GateFailed("; ".join(reasons) + " (--fail-under)")


def _parse_gate(spec: Optional[str], flag: str) -> Optional[dict]:
    if not spec:
        return None
    try:
        return R.parse_metric_spec(spec, allowed=R.PANOPTIC_METRICS + R.SEMANTIC_METRICS)
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint=flag) from None


@click.command(
    "eval",
    epilog=EPILOG,
    short_help="Score predictions against ground truth (semantic folders or COCO panoptic).",
)
@click.option("--gt", "gt", type=click.Path(path_type=Path), help="Ground truth: folder of label PNGs, or a COCO-panoptic JSON (or its PNG folder).")
@click.option("--pred", "pred", type=click.Path(path_type=Path), help="Predictions in the same layout as --gt.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), help="Dataset preset (classes, names, ignore index, label map); flags override it.")
@click.option("--task", type=click.Choice(["auto", "semantic", "panoptic"]), default="auto", show_default=True, help="Force the kind of evaluation instead of detecting it.")
@click.option("--num-classes", type=click.IntRange(min=1), help="Number of classes (semantic).")
@click.option("--ignore-index", type=click.IntRange(min=0), help="GT value that is not scored (semantic; default 255).")
@click.option("--reduce-zero-label/--no-reduce-zero-label", default=None, help="ADE20K rule: GT 0 -> ignore, k -> k-1 (semantic).")
@click.option("--pred-reduce-zero-label/--no-pred-reduce-zero-label", default=None, help="Apply the same rule to predictions (default: as --reduce-zero-label, i.e. predictions use the files' 1..K values).")
@click.option("--label-map", type=click.Path(path_type=Path, dir_okay=False), help="Raw GT value -> class file (format below).")
@click.option("--pred-label-map", metavar="FILE|gt", help="Label map for predictions; 'gt' = the GT's map (default: predictions are class indices).")
@click.option("--class-names", type=click.Path(path_type=Path, dir_okay=False), help="Class names, one per line.")
@click.option("--absent-rule", type=click.Choice(["mmseg", "detectron2"]), default="mmseg", show_default=True, help="Class predicted but absent from GT: IoU 0 (mmseg) or left out (detectron2).")
@click.option("--void-predictions", type=click.Choice(["error", "miss"]), default="error", show_default=True, help="Semantic: a prediction equal to the ignore index (after --pred-label-map) on a scored pixel is an error, or a miss of the GT class (no false positive), as the Cityscapes and mmsegmentation scripts count it.")
@click.option("--gt-folder", type=click.Path(path_type=Path, file_okay=False), help="Panoptic: GT PNG folder when not next to the JSON.")
@click.option("--pred-folder", type=click.Path(path_type=Path, file_okay=False), help="Panoptic: prediction PNG folder when not next to the JSON.")
@click.option("--per-class", is_flag=True, help="Also print the per-class table.")
@click.option("--json", "json_path", metavar="PATH", help="Write the JSON report ('-' = stdout).")
@click.option("--per-image", "per_image_path", metavar="PATH.csv", help="Write one CSV row per image ('-' = stdout).")
@click.option("--markdown", is_flag=True, help="Print Markdown (for PR comments) instead of the plain table.")
@click.option("--fail-under", metavar="METRIC=PCT,...", help="Exit 3 when a metric is below a percentage, e.g. mIoU=45.0,PQ=40.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker threads (default: usable CPUs, at most 8).")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Ground-truth cache folder (default: $XDG_CACHE_HOME/segmetrics or ~/.cache/segmetrics). "
                   "Decoded GT is kept there, keyed by the GT files' content and the label settings, so later "
                   "runs against the same GT skip decoding it.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the ground-truth cache.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, warnings or notes on stderr.")
@click.option("--allow-missing", is_flag=True, help="Score GT images without prediction as all-void instead of failing.")
@click.option("--demo", is_flag=True, help="Generate a small demo dataset and evaluate it (no --gt/--pred).")
@click.option("--demo-dir", type=click.Path(path_type=Path, file_okay=False), help="Keep the demo data in this folder (default: a temporary folder, removed).")
@click.option("--demo-task", type=click.Choice(["both", "semantic", "panoptic"]), default="both", show_default=True, help="Which demo to run.")
@click.pass_context
def eval_command(ctx, gt, pred, preset, task, num_classes, ignore_index, reduce_zero_label, pred_reduce_zero_label,
                 label_map, pred_label_map, class_names, absent_rule, void_predictions, gt_folder, pred_folder, per_class, json_path,
                 per_image_path, markdown, fail_under, jobs, cache_dir, no_cache, quiet, allow_missing, demo, demo_dir,
                 demo_task):
    """Score predictions against ground truth and print the metrics.

    Semantic: aAcc mAcc mIoU fwIoU mDice.  Panoptic: PQ SQ RQ (all, things,
    stuff) plus the semantic metrics of the panoptic maps.  Tables print
    percentages; JSON holds fractions.
    """
    gates = _parse_gate(fail_under, "--fail-under")
    out = dict(per_class=per_class, json_path=json_path, per_image_path=per_image_path, markdown=markdown,
               quiet=quiet, fail_under=gates)
    if demo:
        if gt or pred:
            raise click.UsageError("--demo generates its own data; leave out --gt and --pred")
        if demo_task == "both" and (json_path or per_image_path):
            raise click.UsageError("--json/--per-image with --demo need one task: add --demo-task semantic or panoptic")
        _run_demo(demo_dir, demo_task, jobs=jobs, out=out)
        return
    if gt is None or pred is None:
        raise click.UsageError("both --gt and --pred are required (or try --demo)")
    if no_cache and cache_dir is not None:
        raise click.UsageError("--cache-dir and --no-cache contradict each other")
    if no_cache:
        cache_dir = None
    elif cache_dir is None:
        from ..gtcache import default_cache_dir

        cache_dir = default_cache_dir()
    with user_errors():
        if not gt.exists():
            raise DataFileError(f"ground-truth path not found: {gt}")
        if not pred.exists():
            raise DataFileError(f"prediction path not found: {pred}")
        detected = detect_task(gt)
        kind = task if task != "auto" else (PRESETS[preset].task if preset else detected)
        if preset and PRESETS[preset].task != kind:
            raise InputError(f"preset {preset} is for {PRESETS[preset].task} evaluation, not {kind}")
        if preset and kind == "semantic" and detected == "panoptic":
            raise InputError(f"preset {preset} is for semantic label folders but --gt {gt} is COCO-panoptic data")
        if kind == "panoptic" and detected != "panoptic":
            raise InputError(f"panoptic evaluation needs a COCO-panoptic JSON as --gt; {gt} is a folder of label images "
                             f"without {_sibling_json(gt).name} next to it")
        if kind == "panoptic":
            bad = [f for f, v in (("--num-classes", num_classes), ("--ignore-index", ignore_index),
                                  ("--reduce-zero-label", reduce_zero_label), ("--label-map", label_map),
                                  ("--pred-label-map", pred_label_map), ("--class-names", class_names),
                                  ("--void-predictions", None if void_predictions == "error" else void_predictions))
                   if v is not None]
            if bad:
                raise click.UsageError(f"{', '.join(bad)} apply to semantic evaluation; panoptic categories come from the GT JSON")
            report, rows = run_panoptic(gt, pred, preset=preset, gt_folder=gt_folder, pred_folder=pred_folder,
                                        jobs=jobs, allow_missing=allow_missing, per_image=bool(per_image_path), quiet=quiet,
                                        cache_dir=cache_dir)
        else:
            if kind == "semantic" and gt.is_file() and gt.suffix.lower() == ".json":
                raise InputError(f"{gt} is a JSON file; semantic evaluation needs a folder of label PNGs")
            cfg = semantic_config(preset=preset, num_classes=num_classes, class_names_file=class_names,
                                  ignore_index=ignore_index, reduce_zero_label=reduce_zero_label,
                                  pred_reduce_zero_label=pred_reduce_zero_label, label_map_file=label_map,
                                  pred_label_map_file=pred_label_map, absent_rule=absent_rule,
                                  void_predictions=void_predictions)
            report, rows = run_semantic(cfg, gt, pred, jobs=jobs, allow_missing=allow_missing,
                                        per_image=bool(per_image_path), quiet=quiet, cache_dir=cache_dir)
    _emit(report, rows, **out)


def _run_demo(demo_dir: Optional[Path], demo_task: str, *, jobs, out) -> None:
    from ..demo import make_panoptic_demo, make_semantic_demo

    quiet = out["quiet"]
    root = demo_dir if demo_dir is not None else Path(tempfile.mkdtemp(prefix="segmetrics-demo-"))
    try:
        with user_errors():
            failures = []
            if demo_task in ("both", "semantic"):
                d = make_semantic_demo(root / "semantic")
                info(f"# demo (semantic): segmetrics eval --gt {d.gt} --pred {d.pred} --class-names {d.class_names}", quiet)
                cfg = semantic_config(preset=None, num_classes=None, class_names_file=d.class_names, ignore_index=255,
                                      reduce_zero_label=False, pred_reduce_zero_label=None, label_map_file=None,
                                      pred_label_map_file=None, absent_rule="mmseg")
                report, rows = run_semantic(cfg, d.gt, d.pred, jobs=jobs, allow_missing=False,
                                            per_image=bool(out["per_image_path"]), quiet=quiet)
                failures += _emit_collect(report, rows, out)
            if demo_task in ("both", "panoptic"):
                if demo_task == "both":
                    click.echo("")
                d = make_panoptic_demo(root / "panoptic")
                info(f"# demo (panoptic): segmetrics eval --gt {d.gt_json} --pred {d.pred_json}", quiet)
                report, rows = run_panoptic(d.gt_json, d.pred_json, preset="coco-panoptic", gt_folder=None,
                                            pred_folder=None, jobs=jobs, allow_missing=False,
                                            per_image=bool(out["per_image_path"]), quiet=quiet)
                failures += _emit_collect(report, rows, out)
            if demo_dir is None:
                info("# the demo data was generated in a temporary folder and removed; keep it with --demo-dir DIR", quiet)
            if failures:
                raise GateFailed("; ".join(failures) + " (--fail-under)")
    finally:
        if demo_dir is None:
            shutil.rmtree(root, ignore_errors=True)


def _emit_collect(report, rows, out) -> list:
    """Like :func:`_emit` but returns gate failures instead of raising (demo runs two reports)."""
    gates = out["fail_under"]
    if gates:  # a demo prints two reports: each gate applies where its metric exists
        gates = {k: v for k, v in gates.items() if k in report["metrics"]}
    try:
        _emit(report, rows, **{**out, "fail_under": None})
        return R.check_fail_under(report, gates) if gates else []
    except InputError as exc:
        raise UserError(str(exc)) from None
