"""``segmetrics eval``: parse flags, call the folder API, render the result."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..errors import DataFileError, InputError
from ..presets import PRESETS
from .._urls import _is_url as is_url  # segmetrics.remote loads for URLs only
from ._common import (
    analysis_options,
    check_outputs,
    output_options,
    parse_gate,
    progress_bar,
    render,
    user_errors,
    with_slices,
)
from ._eval_help import EPILOG
from .demo_cmd import run_demo

__all__ = ["eval_command"]


class _PathOrURL(click.ParamType):
    name = "path"

    def convert(self, value, param, ctx):
        return value if is_url(value) else Path(value)


PATH_OR_URL = _PathOrURL()


def _shard(ctx, param, value):
    try:
        from ..folders import parse_shard

        return value and parse_shard(value)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


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
@click.option("--convention", metavar="NAME", help="Score with another tool's rules (docs/conventions.md): semantic mmseg, detectron2, torchmetrics, hf-evaluate, cityscapes; panoptic panopticapi, torchmetrics, cityscapes.")
@click.option("--conventions", "compare", metavar="all|NAME,...", help="Also print every tool's numbers side by side and how much each rule moves them.")
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
                 gt_folder, pred_folder, recompute_gt_areas, boundary, dilation_ratio, convention, compare, per_class,
                 all_classes, json_path, per_image_path, markdown, fail_under, quiet, save_state, jobs, cache_dir,
                 no_cache, max_pixels, allow_missing, shard, dask, demo, demo_dir, demo_task, analysis):
    """Score predictions against ground truth and print the metrics.

    Semantic: aAcc mAcc mIoU fwIoU mDice (+ mBIoU mMinIoU with --boundary).
    Panoptic: PQ SQ RQ and PQ-dagger (all, things, stuff; + BPQ BSQ BRQ with
    --boundary) plus the semantic metrics of the panoptic maps.  Tables print
    percentages; JSON holds fractions.
    """
    # the library (numpy, the kernels) loads here, not with the command: --help stays fast
    from .. import folders as sm_folders  # its panoptic half loads only for a panoptic run
    from ..folders import detect_task
    from ..gtcache import default_cache_dir

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
    engine = sm_folders
    if dask:
        from .. import dask as sm_dask  # the module; dask itself loads when the run starts

        engine = sm_dask
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
                result = engine.evaluate_panoptic_folders(
                    gt, pred, gt_folder=gt_folder, pred_folder=pred_folder, preset=preset,
                    allow_missing=allow_missing, per_image=per_image, recompute_gt_areas=recompute_gt_areas,
                    jobs=jobs, cache_dir=cache_dir, progress=tick, boundary=boundary,
                    dilation_ratio=dilation_ratio, convention=convention, conventions=compare, **runner)
            else:
                if recompute_gt_areas:
                    raise click.UsageError("--recompute-gt-areas applies to panoptic evaluation")
                if (is_url(gt) or gt.is_file()) and str(gt).lower().endswith(".json"):
                    raise InputError(f"{gt} is a JSON file; semantic evaluation needs a folder of label PNGs")
                result = engine.evaluate_semantic_folders(
                    gt, pred, preset=preset, num_classes=num_classes, ignore_index=ignore_index,
                    reduce_zero_label=reduce_zero_label, pred_labels=reading, label_map=label_map,
                    pred_label_map=pred_label_map, absent_rule=absent_rule, void_predictions=void_predictions,
                    allow_missing=allow_missing, per_image=per_image, jobs=jobs, cache_dir=cache_dir,
                    progress=tick, class_names=class_names, boundary=boundary,
                    dilation_ratio=dilation_ratio, convention=convention, conventions=compare, **runner)
        result = with_slices(result, analysis)
        if save_state:
            result.save_state(save_state)
    render(result, **out, analysis=analysis)
