"""``segmetrics report``: render a run-state file exactly as ``eval`` rendered the run."""
from __future__ import annotations

from pathlib import Path

import click

from ..runs import load_state
from ._common import (
    EXIT_CODES_HELP,
    analysis_options,
    check_outputs,
    output_options,
    parse_gate,
    render,
    user_errors,
    with_slices,
)

__all__ = ["report_command"]

EPILOG = f"""\b
Examples:
  segmetrics eval --preset ade20k --gt gt/ --pred pred/ --save-state run.smstate
  segmetrics report run.smstate --per-class
  segmetrics report run.smstate --json report.json --per-image images.csv
  segmetrics report all.smstate --fail-under mIoU=45
  segmetrics report run.smstate --ci --worst 10 --per-class
  segmetrics report run.smstate --html report.html --images photos/
  segmetrics report run.smstate --html report.html --gt /new/place/gt --pred /new/place/pred

\b
The JSON, CSV, table and Markdown are the ones 'segmetrics eval' writes for
the same run (and the same --ci, --worst options), byte for byte; a state
saved with --slices keeps its manifest.  The HTML gallery reads the images
from where the run found them, or from --gt / --pred when they moved.  A
file that is not a segmetrics state file, was written by a newer
segmetrics, or was changed or truncated after it was written is refused
(exit 2).

{EXIT_CODES_HELP}
"""


@click.command("report", epilog=EPILOG, short_help="Render a run-state file (.smstate) as eval does.")
@click.argument("state", type=click.Path(dir_okay=False, path_type=Path))
@output_options
@analysis_options
@click.option("--gt", type=click.Path(path_type=Path), help="With --html: where the ground truth is now, when it moved "
              "since the run (panoptic: the JSON).")
@click.option("--pred", type=click.Path(path_type=Path), help="With --html: where the predictions are now.")
@click.option("--gt-folder", type=click.Path(path_type=Path, file_okay=False), help="With --html, panoptic: the GT PNG "
              "folder when not next to the JSON.")
@click.option("--pred-folder", type=click.Path(path_type=Path, file_okay=False), help="With --html, panoptic: the "
              "prediction PNG folder.")
def report_command(state: Path, per_class, all_classes, json_path, per_image_path, markdown, fail_under,
                   quiet, analysis, gt, pred, gt_folder, pred_folder) -> None:
    """Print the metrics of a saved run (table, JSON, per-image CSV, Markdown, HTML)."""
    gates = parse_gate(fail_under, "--fail-under")
    check_outputs(json_path, per_image_path)
    moved = {k: v for k, v in (("gt", gt), ("pred", pred), ("gt_folder", gt_folder), ("pred_folder", pred_folder))
             if v is not None}
    if moved and analysis.html is None:
        raise click.UsageError(f"--{next(iter(moved)).replace('_', '-')} applies with --html (the gallery's files)")
    with user_errors():
        result = load_state(state)
    render(with_slices(result, analysis), per_class=per_class, all_classes=all_classes, json_path=json_path,
           per_image_path=per_image_path, markdown=markdown, quiet=quiet, fail_under=gates, analysis=analysis,
           moved=moved)
