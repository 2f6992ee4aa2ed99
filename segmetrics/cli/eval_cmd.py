"""``segmetrics eval``: parse flags, call the folder API, render the result."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..errors import DataFileError, InputError
from ..folders import detect_task, evaluate_panoptic_folders, evaluate_semantic_folders, parse_shard
from ..gtcache import default_cache_dir
from ..io.labelfiles import CLASS_NAMES_FORMAT, LABEL_MAP_FORMAT
from ..presets import PRESETS
from ..remote import is_url
from ._common import (
    EXIT_CODES_HELP,
    analysis_options,
    check_outputs,
    output_options,
    parse_gate,
    progress_bar,
    render,
    user_errors,
    with_slices,
)
from .demo_cmd import run_demo

__all__ = ["eval_command"]


class _PathOrURL(click.ParamType):
    name = "path"

    def convert(self, value, param, ctx):
        return value if is_url(value) else Path(value)


PATH_OR_URL = _PathOrURL()


def _shard(ctx, param, value):
    try:
        return value and parse_shard(value)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


PRESET_HELP = "\n".join(f"  {p.name:<16} {p.description}" for p in PRESETS.values())

EPILOG = f"""\b
Examples:
  segmetrics eval --demo
  segmetrics eval --preset ade20k --gt ADEChallengeData2016/annotations/validation --pred out/ --per-class
  segmetrics eval --preset cityscapes --gt gtFine/val --pred results/ --json cs.json
  segmetrics eval --preset camvid --gt CamVid/testannot --pred pred/ --fail-under mIoU=60
  segmetrics eval --gt panoptic_val2017.json --pred panoptic_pred.json --per-class --save-state run.smstate
  segmetrics eval --preset ade20k-panoptic --gt ade20k_panoptic_val.json --pred pred.json
  segmetrics eval --gt labels/ --pred pred/ --num-classes 5 --ignore-index 255 --markdown
  segmetrics eval --preset cityscapes --gt gtFine/val --pred results/ --boundary

\b
What is evaluated:
  A COCO-panoptic JSON as --gt (or a PNG folder with a JSON of the same
  name next to it, or a folder holding one JSON and its PNG folder) means
  panoptic; a folder of label PNGs means semantic.  Semantic files pair by
  their path relative to --gt/--pred without extension (subfolders are
  searched); a prediction may also sit flat, paired by file name alone.

\b
How predictions are written (--pred-labels, semantic):
  class-index: class indices 0..K-1 (what a model outputs); as-gt: the
  GT files' raw values (ADE20K 1..K, Cityscapes labelIds), read through the
  GT's rules; auto (default): decided from a sample of the images, the
  same way for every preset; the report says which reading was used and why.

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
Scaling out (docs/scaling.md):
  --shard I/N --save-state part-I.smstate scores shard I (0..N-1) of the
  images; 'segmetrics merge part-*.smstate -o all.smstate' joins the N
  shards (a missing or repeated shard is refused).  --dask tcp://HOST:8786
  or --dask local:N scores on a Dask cluster; the GT cache is then each
  worker's own default folder unless --cache-dir names one.  --gt/--pred
  (and --gt-folder/--pred-folder) may be fsspec URLs: s3://, gs://,
  https://, ... (the [dist] extra; the worker scoring a file fetches it).

\b
Boundary metrics (--boundary, docs/boundary.md): semantic mBIoU and
mMinIoU (per class BIoU, MinIoU), panoptic Boundary PQ (BPQ BSQ BRQ),
counted in the same pass as the mask metrics, on bands of
max(1, round(R x image diagonal)) pixels: R = --dilation-ratio, default the
preset's (cityscapes 0.005) or 0.02.  Panoptic reports always hold
PQ-dagger (PQdag: stuff classes scored without the 0.5 threshold).

\b
Outputs: the table goes to stdout; --json PATH writes the report
(schema: docs/json_schema.md; values are fractions, '-' = stdout);
--per-image PATH.csv one row per image; --markdown prints Markdown for PR
comments instead of the table; --save-state PATH the run-state file that
'segmetrics report', 'merge' and 'compare' read; --html PATH a
self-contained report with the worst images; --plots DIR the figures.
--ci adds bootstrap intervals, --worst K the K worst images, --slices
MANIFEST.csv metrics per attribute value (docs/statistics.md).  Warnings,
notes and progress go to stderr.

{EXIT_CODES_HELP}
"""

_SEMANTIC_ONLY = ("--num-classes", "--ignore-index", "--reduce-zero-label", "--label-map", "--pred-label-map",
                  "--class-names", "--pred-labels", "--void-predictions")


def _pred_labels(pred_labels: Optional[str], pred_rzl: Optional[bool], pred_label_map: Optional[str]):
    """``--pred-labels`` with its older spellings; returns (pred_labels, pred_label_map file or None)."""
    given = {("--pred-labels", pred_labels) if pred_labels else None,
             ("--[no-]pred-reduce-zero-label", "as-gt" if pred_rzl else "class-index") if pred_rzl is not None else None,
             ("--pred-label-map gt", "as-gt") if pred_label_map == "gt" else None} - {None}
    if len({v for _, v in given}) > 1:
        raise click.UsageError(f"{' and '.join(sorted(f for f, _ in given))} contradict each other")
    reading = next(iter(given))[1] if given else "auto"
    return reading, (None if pred_label_map == "gt" else pred_label_map)


@click.command("eval", epilog=EPILOG,
               short_help="Score predictions against ground truth (semantic folders or COCO panoptic).")
@click.option("--gt", "gt", type=PATH_OR_URL, help="Ground truth: folder of label PNGs, or a COCO-panoptic JSON (or its PNG folder); a URL with the [dist] extra.")
@click.option("--pred", "pred", type=PATH_OR_URL, help="Predictions in the same layout as --gt.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), help="Dataset preset (classes, names, ignore index, label map); flags override it.")
@click.option("--task", type=click.Choice(["auto", "semantic", "panoptic"]), default="auto", show_default=True, help="Force the kind of evaluation instead of detecting it.")
@click.option("--num-classes", type=click.IntRange(min=1), help="Number of classes (semantic).")
@click.option("--ignore-index", type=click.IntRange(min=0), help="GT value that is not scored (semantic; default 255).")
@click.option("--reduce-zero-label/--no-reduce-zero-label", default=None, help="ADE20K rule: GT 0 -> ignore, k -> k-1 (semantic).")
@click.option("--pred-labels", type=click.Choice(["auto", "class-index", "as-gt"]), help="How predictions are written (semantic; default auto, see below).")
@click.option("--pred-reduce-zero-label/--no-pred-reduce-zero-label", default=None, help="Older spelling of --pred-labels as-gt / class-index.")
@click.option("--label-map", type=click.Path(path_type=Path, dir_okay=False), help="Raw GT value -> class file (format below).")
@click.option("--pred-label-map", metavar="FILE|gt", help="Label map for predictions; 'gt' = --pred-labels as-gt.")
@click.option("--class-names", type=click.Path(path_type=Path, dir_okay=False), help="Class names, one per line.")
@click.option("--absent-rule", type=click.Choice(["mmseg", "detectron2"]), default="mmseg", show_default=True, help="Class predicted but absent from GT: IoU 0 (mmseg) or left out (detectron2).")
@click.option("--void-predictions", type=click.Choice(["error", "miss"]), default="error", show_default=True, help="Semantic: a prediction equal to the ignore index (after --pred-label-map) on a scored pixel is an error, or a miss of the GT class (no false positive), as the Cityscapes and mmsegmentation scripts count it.")
@click.option("--gt-folder", type=PATH_OR_URL, help="Panoptic: GT PNG folder when not next to the JSON.")
@click.option("--pred-folder", type=PATH_OR_URL, help="Panoptic: prediction PNG folder when not next to the JSON.")
@click.option("--recompute-gt-areas", is_flag=True, help="Panoptic: use the GT PNGs' pixel counts instead of the JSON 'area' fields.")
@click.option("--boundary", is_flag=True, help="Also compute Boundary IoU (semantic) / Boundary PQ (panoptic), see below.")
@click.option("--dilation-ratio", type=click.FloatRange(min=0, min_open=True, max=1), help="With --boundary: band width as a fraction of the image diagonal (default: the preset's, else 0.02).")
@output_options
@analysis_options
@click.option("--save-state", metavar="PATH", help="Write the run-state file (counts per image included) for 'segmetrics report' / 'merge'.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker threads (default: usable CPUs, at most 8).")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Ground-truth cache folder (default: $XDG_CACHE_HOME/segmetrics or ~/.cache/segmetrics). "
                   "Decoded GT is kept there, keyed by the GT files' content and the label settings, so later "
                   "runs against the same GT skip decoding it.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the ground-truth cache.")
@click.option("--max-pixels", type=click.IntRange(min=1), help="Refuse images with more pixels than this (default 134217728 = 2**27; the decoder's cap is 2**31).")
@click.option("--allow-missing", is_flag=True, help="Score GT images without prediction as all-void instead of failing.")
@click.option("--shard", metavar="I/N", callback=_shard, help="Score only shard I of N (0-based; the SHA-256 of each image id picks its shard); merge the shards' --save-state files with 'segmetrics merge'.")
@click.option("--dask", "dask", metavar="ADDRESS", help="Score on a Dask cluster: tcp://HOST:8786, or local:N[xT] for N local worker processes (T threads each); needs the [dist] extra.")
@click.option("--demo", is_flag=True, help="Generate a small demo dataset and evaluate it (no --gt/--pred).")
@click.option("--demo-dir", type=click.Path(path_type=Path, file_okay=False), help="Keep the demo data in this folder (default: a temporary folder, removed).")
@click.option("--demo-task", type=click.Choice(["both", "semantic", "panoptic"]), default="both", show_default=True, help="Which demo to run.")
def eval_command(gt, pred, preset, task, num_classes, ignore_index, reduce_zero_label, pred_labels,
                 pred_reduce_zero_label, label_map, pred_label_map, class_names, absent_rule, void_predictions,
                 gt_folder, pred_folder, recompute_gt_areas, boundary, dilation_ratio, per_class, all_classes,
                 json_path, per_image_path, markdown, fail_under, quiet, save_state, jobs, cache_dir, no_cache,
                 max_pixels, allow_missing, shard, dask, demo, demo_dir, demo_task,
                 analysis):
    """Score predictions against ground truth and print the metrics.

    Semantic: aAcc mAcc mIoU fwIoU mDice (+ mBIoU mMinIoU with --boundary).
    Panoptic: PQ SQ RQ and PQ-dagger (all, things, stuff; + BPQ BSQ BRQ with
    --boundary) plus the semantic metrics of the panoptic maps.  Tables print
    percentages; JSON holds fractions.
    """
    gates = parse_gate(fail_under, "--fail-under")
    check_outputs(json_path, per_image_path)
    out = dict(per_class=per_class, all_classes=all_classes, json_path=json_path, per_image_path=per_image_path, markdown=markdown,
               quiet=quiet, fail_under=gates)
    if dilation_ratio is not None and not boundary:
        raise click.UsageError("--dilation-ratio sets the band width of --boundary: add --boundary")
    if demo:
        if gt or pred:
            raise click.UsageError("--demo generates its own data; leave out --gt and --pred")
        if boundary:
            raise click.UsageError("--boundary applies to --gt / --pred runs, not to --demo")
        if demo_task == "both" and (json_path or per_image_path or save_state or analysis.outputs):
            raise click.UsageError("--json/--per-image/--save-state/--html/--plots/--slices with --demo need one task: "
                                   "add --demo-task semantic or panoptic")
        run_demo(demo_dir, demo_task, jobs=jobs, out=dict(out, analysis=analysis), save_state=save_state)
        return
    if gt is None or pred is None:
        raise click.UsageError("both --gt and --pred are required (or try --demo)")
    if no_cache and cache_dir is not None:
        raise click.UsageError("--cache-dir and --no-cache contradict each other")
    runner = dict(shard=shard) if shard else {}
    evaluate_panoptic, evaluate_semantic = evaluate_panoptic_folders, evaluate_semantic_folders
    if dask:
        from .. import dask as sm_dask  # the module; dask itself loads when the run starts

        evaluate_panoptic, evaluate_semantic = sm_dask.evaluate_panoptic_folders, sm_dask.evaluate_semantic_folders
        runner["client"] = dask
    if not no_cache and cache_dir is None:
        cache_dir = sm_dask.PER_WORKER if dask else default_cache_dir()
    reading, pred_label_map = _pred_labels(pred_labels, pred_reduce_zero_label, pred_label_map)
    per_image = bool(per_image_path or save_state or analysis.per_image)
    with user_errors():
        if max_pixels is not None:
            from ..io.png import set_max_pixels  # the decoder, loaded only when asked

            set_max_pixels(max_pixels)
        for what, path in (("ground-truth", gt), ("prediction", pred)):
            if not is_url(path) and not path.exists():
                raise DataFileError(f"{what} path not found: {path}")
        detected = detect_task(gt)
        kind = task if task != "auto" else (PRESETS[preset].task if preset else detected)
        if preset and PRESETS[preset].task != kind:
            raise InputError(f"preset {preset} is for {PRESETS[preset].task} evaluation, not {kind}")
        if preset and kind == "semantic" and detected == "panoptic":
            raise InputError(f"preset {preset} is for semantic label folders but --gt {gt} is COCO-panoptic data")
        if kind == "panoptic" and detected != "panoptic":
            raise InputError(f"panoptic evaluation needs a COCO-panoptic JSON as --gt; {gt} is a folder of label "
                             f"images without {Path(str(gt)).name}.json next to it")
        with progress_bar("scoring", quiet=quiet) as tick:
            if kind == "panoptic":
                given = (num_classes, ignore_index, reduce_zero_label, label_map, pred_label_map, class_names,
                         None if reading == "auto" else reading,
                         None if void_predictions == "error" else void_predictions)
                bad = [flag for flag, v in zip(_SEMANTIC_ONLY, given) if v is not None]
                if bad:
                    raise click.UsageError(f"{', '.join(bad)} apply to semantic evaluation; panoptic categories "
                                           "come from the GT JSON")
                result = evaluate_panoptic(
                    gt, pred, gt_folder=gt_folder, pred_folder=pred_folder, preset=preset,
                    allow_missing=allow_missing, per_image=per_image, recompute_gt_areas=recompute_gt_areas,
                    jobs=jobs, cache_dir=cache_dir, progress=tick, boundary=boundary,
                    dilation_ratio=dilation_ratio, **runner)
            else:
                if recompute_gt_areas:
                    raise click.UsageError("--recompute-gt-areas applies to panoptic evaluation")
                if (is_url(gt) or gt.is_file()) and str(gt).lower().endswith(".json"):
                    raise InputError(f"{gt} is a JSON file; semantic evaluation needs a folder of label PNGs")
                result = evaluate_semantic(
                    gt, pred, preset=preset, num_classes=num_classes, ignore_index=ignore_index,
                    reduce_zero_label=reduce_zero_label, pred_labels=reading, label_map=label_map,
                    pred_label_map=pred_label_map, absent_rule=absent_rule, void_predictions=void_predictions,
                    allow_missing=allow_missing, per_image=per_image, jobs=jobs, cache_dir=cache_dir,
                    progress=tick, class_names=class_names, boundary=boundary,
                    dilation_ratio=dilation_ratio, **runner)
        result = with_slices(result, analysis)
        if save_state:
            result.save_state(save_state)
    render(result, **out, analysis=analysis)
