"""``segmetrics report``: render a run-state file exactly as ``eval`` rendered the run."""
from __future__ import annotations

from pathlib import Path

import click

from ..runs import load_state
from ._common import EXIT_CODES_HELP, check_outputs, output_options, parse_gate, render, user_errors

__all__ = ["report_command"]

EPILOG = f"""\b
Examples:
  segmetrics eval --preset ade20k --gt gt/ --pred pred/ --save-state run.smstate
  segmetrics report run.smstate --per-class
  segmetrics report run.smstate --json report.json --per-image images.csv
  segmetrics report all.smstate --fail-under mIoU=45
  segmetrics report run.smstate --conventions all

\b
The JSON, CSV, table and Markdown are the ones 'segmetrics eval' writes for
the same run, byte for byte.  A file that is not a segmetrics state file, was
written by a newer segmetrics, or was changed or truncated after it was
written is refused (exit 2).

{EXIT_CODES_HELP}
"""


@click.command("report", epilog=EPILOG, short_help="Render a run-state file (.smstate) as eval does.")
@click.argument("state", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--conventions", "compare", metavar="all|NAME,...",
              help="Also show every tool's numbers side by side (computed from the state's sums).")
@output_options
def report_command(state: Path, compare, per_class, all_classes, json_path, per_image_path, markdown, fail_under,
                   quiet) -> None:
    """Print the metrics of a saved run (table, JSON, per-image CSV, Markdown)."""
    gates = parse_gate(fail_under, "--fail-under")
    check_outputs(json_path, per_image_path)
    with user_errors():
        result = load_state(state)
        if compare:
            result = result.with_conventions(compare)
    render(result, per_class=per_class, all_classes=all_classes, json_path=json_path, per_image_path=per_image_path,
           markdown=markdown, quiet=quiet, fail_under=gates)
