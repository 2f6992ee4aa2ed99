"""``segmetrics compare``: deltas between two JSON reports, with a CI gate."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ._common import EXIT_CODES_HELP, GateFailed, UserError, parse_gate, user_errors, warn

__all__ = ["compare_command", "load_report"]

EPILOG = f"""\b
Examples:
  segmetrics compare main.json pr.json
  segmetrics compare main.json pr.json --max-drop mIoU=0.5,mAcc=1
  segmetrics compare old.json new.json --allow-different-data --top 10

\b
Deltas are NEW - BASE in percentage points.  --max-drop METRIC=POINTS fails
(exit 3) when a metric falls by more than POINTS.  Reports whose GT
fingerprints differ scored different data and are refused (exit 2) unless
--allow-different-data is given.  A metric that is undefined (null, or a
NaN another tool wrote) in either report fails its --max-drop gate; a value
that is not a number is an error.  Per-class rows pair by class id when both
reports list the same classes, else by name (a warning says how the class
lists differ); a different schema_version is a warning.

{EXIT_CODES_HELP}
"""


def load_report(path: Path) -> dict:
    """Read a ``segmetrics eval --json`` report (:func:`segmetrics.report.read_report`)."""
    from .. import report as R

    return R.read_report(path)


@click.command("compare", epilog=EPILOG, short_help="Compare two JSON reports (per-metric and per-class deltas).")
@click.argument("base", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--max-drop", metavar="METRIC=POINTS,...", help="Exit 3 when a metric drops by more than POINTS (percentage points).")
@click.option("--allow-different-data", is_flag=True, help="Compare reports whose GT fingerprints differ.")
@click.option("--per-class/--no-per-class", default=True, show_default=True, help="Print per-class deltas (IoU or PQ).")
@click.option("--top", type=click.IntRange(min=1), help="Only the N per-class rows that dropped most.")
@click.option("-q", "--quiet", is_flag=True, help="No warnings on stderr.")
def compare_command(base: Path, new: Path, max_drop: Optional[str], allow_different_data: bool,
                    per_class: bool, top: Optional[int], quiet: bool) -> None:
    """Print how NEW differs from BASE, metric by metric and class by class."""
    from .. import report as R

    limits = parse_gate(max_drop, "--max-drop", kind="max_drop")
    with user_errors():
        a, b = load_report(base), load_report(new)
        names = (base.name, new.name) if base.name != new.name else (str(base), str(new))
        cmp = R.compare_reports(a, b, names=names)
        if not cmp["same_data"]:
            msg = (f"{names[0]} and {names[1]} scored different ground truth (fingerprints "
                   f"{str(a['dataset'].get('fingerprint'))[:19]} vs {str(b['dataset'].get('fingerprint'))[:19]})")
            if not allow_different_data:
                raise UserError(msg + "; pass --allow-different-data to compare anyway")
            warn(msg, quiet)
        for w in cmp["warnings"]:
            warn(w, quiet)
        click.echo(R.format_comparison(cmp, per_class=per_class, top=top), nl=False)
        reasons = R.check_max_drop(cmp, limits) if limits else []
    if reasons:
        raise GateFailed("; ".join(reasons) + " (--max-drop)")
