"""``segmetrics validate``: check a dataset (and predictions) without scoring."""
from __future__ import annotations

from pathlib import Path
import click

from ..presets import PRESETS
from ..report import plural
from ._common import EXIT_VALIDATION_FAILED, UserError, user_errors, write_output

__all__ = ["validate_command", "EXIT_VALIDATION_FAILED"]

EPILOG = """\b
Examples:
  segmetrics validate --preset ade20k --gt ADEChallengeData2016/annotations/validation --pred out/
  segmetrics validate --preset cityscapes --gt gtFine/val
  segmetrics validate --gt labels/ --num-classes 5
  segmetrics validate --gt panoptic_val2017.json --pred panoptic_pred.json --json findings.json
  segmetrics validate --gt panoptic_val2017.json --write-fixed-json panoptic_val2017_fixed.json

\b
What is checked (docs/validate.md lists every check, its code and how to fix it):
  semantic: label values against the classes (per value: pixels and files),
  labelIds vs trainIds, 0- vs 1-based predictions, palette / RGB / 16-bit
  files, sizes, missing / extra / ambiguous pairs, all-ignore images;
  panoptic: JSON structure, duplicate ids and file names, unknown categories,
  isthing flags, PNG ids vs segments_info, stale area and bbox, crowd on
  stuff, image sizes, RGBA PNGs, missing and unknown predictions.

\b
Output: findings grouped by severity on stdout (errors, warnings, info);
--json PATH writes them as JSON ('-' = stdout, then no table).

\b
Exit codes:
  0  no error (warnings and info allowed)
  2  usage or input error (one line on stderr)
  4  errors found (with --fail-on warning: errors or warnings)"""


class ValidationFailed(click.ClickException):
    """Validation found errors: one line ``segmetrics: validate: ...`` and exit code 4."""

    exit_code = EXIT_VALIDATION_FAILED

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"segmetrics: validate: {self.format_message()}", err=True)


@click.command("validate", epilog=EPILOG, short_help="Check a dataset (and predictions) without scoring.")
@click.option("--gt", "gt", type=click.Path(path_type=Path), required=True,
              help="Ground truth: folder of label PNGs, or a COCO-panoptic JSON (or its PNG folder).")
@click.option("--pred", "pred", type=click.Path(path_type=Path), help="Predictions in the same layout (optional).")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), help="Dataset preset; flags override it.")
@click.option("--task", type=click.Choice(["auto", "semantic", "panoptic"]), default="auto", show_default=True,
              help="Force the kind of data instead of detecting it.")
@click.option("--num-classes", type=click.IntRange(min=1), help="Number of classes (semantic).")
@click.option("--ignore-index", type=click.IntRange(min=0), help="GT value that is not scored (semantic; default 255).")
@click.option("--reduce-zero-label/--no-reduce-zero-label", default=None,
              help="ADE20K rule: GT 0 -> ignore, k -> k-1 (semantic).")
@click.option("--label-map", type=click.Path(path_type=Path, dir_okay=False), help="Raw GT value -> class file.")
@click.option("--pred-label-map", type=click.Path(path_type=Path, dir_okay=False),
              help="Raw prediction value -> class file.")
@click.option("--pred-labels", type=click.Choice(["auto", "class-index", "as-gt"]), default="auto", show_default=True,
              help="How predictions are written when the GT has a label rule: class indices, or raw values like "
                   "the GT files; auto decides from the data and says how.")
@click.option("--gt-folder", type=click.Path(path_type=Path, file_okay=False), help="Panoptic: GT PNG folder.")
@click.option("--pred-folder", type=click.Path(path_type=Path, file_okay=False), help="Panoptic: prediction PNG folder.")
@click.option("--json", "json_path", metavar="PATH", help="Write the findings as JSON ('-' = stdout).")
@click.option("--write-fixed-json", "fixed_json", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT",
              help="Panoptic: write a copy of the GT JSON with area and bbox recomputed from the PNGs.")
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
              help="Exit 4 on errors, or also on warnings.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker threads (default: usable CPUs, at most 8).")
def validate_command(gt, pred, preset, task, num_classes, ignore_index, reduce_zero_label, label_map, pred_label_map,
                     pred_labels, gt_folder, pred_folder, json_path, fixed_json, fail_on, jobs):
    """Check ground truth (and optionally predictions) for problems that break or silently
    change scores; nothing is scored.  Findings are errors, warnings or info."""
    from ..folders import detect_task, resolve_panoptic_input
    from ..errors import DataFileError, InputError
    from ..validate import format_text, validate_panoptic, validate_semantic

    with user_errors(hint_missing=None):
        if not gt.exists():
            raise DataFileError(f"ground-truth path not found: {gt}")
        if pred is not None and not pred.exists():
            raise DataFileError(f"prediction path not found: {pred}")
        kind = task if task != "auto" else (PRESETS[preset].task if preset else detect_task(gt))
        if preset and PRESETS[preset].task != kind:
            raise InputError(f"preset {preset} is for {PRESETS[preset].task} data, not {kind}")
        if kind == "panoptic":
            bad = [f for f, v in (("--num-classes", num_classes), ("--ignore-index", ignore_index),
                                  ("--reduce-zero-label", reduce_zero_label), ("--label-map", label_map),
                                  ("--pred-label-map", pred_label_map),
                                  ("--pred-labels", None if pred_labels == "auto" else pred_labels)) if v is not None]
            if bad:
                raise UserError(f"{', '.join(bad)} apply to semantic data; panoptic categories come from the GT JSON")
            gt_json, gt_png = resolve_panoptic_input(gt, gt_folder, "ground-truth")
            pred_json = pred_png = None
            if pred is not None:
                pred_json, pred_png = resolve_panoptic_input(pred, pred_folder, "prediction")
            report = validate_panoptic(gt_json, pred_json, gt_folder=gt_png, pred_folder=pred_png, preset=preset,
                                       jobs=jobs, write_fixed_json=fixed_json)
        else:
            if fixed_json is not None:
                raise UserError("--write-fixed-json applies to COCO panoptic data")
            if gt.is_file() and gt.suffix.lower() == ".json":
                raise InputError(f"{gt} is a JSON file; semantic validation needs a folder of label PNGs")
            report = validate_semantic(gt, pred, preset=preset, num_classes=num_classes, ignore_index=ignore_index,
                                       reduce_zero_label=reduce_zero_label, label_map=label_map,
                                       pred_label_map=pred_label_map, pred_labels=pred_labels, jobs=jobs)
    if json_path:
        from ..report import to_json

        write_output(json_path, to_json(report.to_dict()))
    if json_path != "-":
        click.echo(format_text(report), nl=False)
    groups = report.by_severity()
    failing = groups["error"] + (groups["warning"] if fail_on == "warning" else [])
    if failing:
        raise ValidationFailed(f"{plural(len(groups['error']), 'error')}, {plural(len(groups['warning']), 'warning')} "
                               f"({', '.join(sorted({f.code for f in failing}))})")
