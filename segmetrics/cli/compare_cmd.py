"""``segmetrics compare``: deltas between two runs, their significance (state files), CI gates."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from .. import report as R
from ._common import EXIT_CODES_HELP, GateFailed, UserError, info, one_line, parse_gate, user_errors, warn, \
    write_output

__all__ = ["compare_command", "load_report"]

EPILOG = f"""\b
Examples:
  segmetrics compare main.json pr.json --max-drop mIoU=0.5,mAcc=1
  segmetrics compare main.smstate pr.smstate
  segmetrics compare main.smstate pr.smstate --max-significant-drop mIoU=0 --alpha 0.05
  segmetrics compare main.smstate pr.smstate --json cmp.json --html cmp.html
  segmetrics compare old.json new.json --allow-different-data --top 10

\b
Deltas are NEW - BASE in percentage points.  Given two run-state files
(eval --save-state) of the same images, each delta also gets a paired
bootstrap interval (images resampled jointly) and a two-sided p-value from a
paired randomization test (each image's two results swapped at random), and
per-class changes are flagged 'up' / 'down' when significant after a
multiple-comparison correction over the classes (--correction holm or bh).
Two JSON reports give the deltas only.

\b
Gates (exit 3):
  --max-drop METRIC=POINTS  fails when METRIC fell by more than POINTS,
      whatever the noise.
  --max-significant-drop METRIC=POINTS  (state files) fails when METRIC
      fell by more than POINTS AND the randomization p-value of the change
      is <= --alpha: a drop larger than what swapping the two runs'
      predictions image by image explains.  POINTS=0: any significant drop.

\b
Reports or states whose GT fingerprints differ scored different data and are
refused (exit 2) unless --allow-different-data (deltas only).  A metric that
is undefined in either run fails its gates; a value that is not a number is
an error.  Per-class rows pair by class id when both list the same classes,
else by name (JSON reports; a warning says how the class lists differ).

{EXIT_CODES_HELP}
"""


def load_report(path: Path) -> dict:
    """Read a ``segmetrics eval --json`` report (:func:`segmetrics.report.read_report`)."""
    return R.read_report(path)


def _is_state(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _level(value: float) -> float:
    if not 50.0 <= value < 100.0:
        raise click.BadParameter(f"{value:g} is not a confidence level in percent in [50, 100), e.g. 95",
                                 param_hint="--level")
    return value / 100.0


@click.command("compare", epilog=EPILOG, short_help="Compare two runs (JSON reports or state files): deltas, "
                                                    "intervals, p-values.")
@click.argument("base", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--max-drop", metavar="METRIC=POINTS,...", help="Exit 3 when a metric drops by more than POINTS (percentage points).")
@click.option("--max-significant-drop", metavar="METRIC=POINTS,...",
              help="State files: exit 3 when a metric drops by more than POINTS and the drop is significant (p <= --alpha).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True,
              help="Significance level of the flags and of --max-significant-drop.")
@click.option("--correction", type=click.Choice(["holm", "bh"]), default="holm", show_default=True,
              help="Per-class multiple-comparison correction: Holm (family-wise) or Benjamini-Hochberg (false discovery rate).")
@click.option("--level", type=float, default=95.0, show_default=True, help="State files: level of the delta intervals, in percent.")
@click.option("--resamples", type=click.IntRange(min=1), default=1000, show_default=True, help="State files: bootstrap resamples.")
@click.option("--permutations", type=click.IntRange(min=1), help="State files: swap patterns of the randomization test (default: --resamples; all 2^N when fewer).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="State files: seed of the resampling and the swaps.")
@click.option("--ci-method", type=click.Choice(["percentile", "bca"]), default="percentile", show_default=True, help="State files: interval method.")
@click.option("--allow-different-data", is_flag=True, help="Compare runs whose GT fingerprints differ (deltas only).")
@click.option("--per-class/--no-per-class", default=True, show_default=True, help="Print per-class deltas (IoU or PQ).")
@click.option("--top", type=click.IntRange(min=1), help="Only the N per-class rows that dropped most.")
@click.option("--json", "json_path", metavar="PATH", help="Write the comparison as JSON ('-' = stdout).")
@click.option("--html", "html", metavar="PATH", help="Write the comparison page (self-contained HTML).")
@click.option("--plots", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Write the figures as PNG and SVG (needs matplotlib).")
@click.option("-q", "--quiet", is_flag=True, help="No warnings or notes on stderr.")
def compare_command(base: Path, new: Path, max_drop: Optional[str], max_significant_drop: Optional[str], alpha: float,
                    correction: str, level: float, resamples: int, permutations: Optional[int], seed: int,
                    ci_method: str, allow_different_data: bool, per_class: bool, top: Optional[int],
                    json_path: Optional[str], html: Optional[str], plots: Optional[Path], quiet: bool) -> None:
    """Print how NEW differs from BASE, metric by metric and class by class."""
    limits = parse_gate(max_drop, "--max-drop", kind="max_drop")
    sig_limits = parse_gate(max_significant_drop, "--max-significant-drop", kind="max_drop")
    level = _level(level)
    names = (base.name, new.name) if base.name != new.name else (str(base), str(new))
    states = _is_state(base) and _is_state(new)
    run_cmp = None
    with user_errors():
        if states:
            from ..runs import load_state

            ra, rb = load_state(base), load_state(new)
            a, b = ra.to_report(), rb.to_report()
        else:
            a, b = (load_report(p) if not _is_state(p) else _state_report(p) for p in (base, new))
        cmp = R.compare_reports(a, b, names=names)
        if not cmp["same_data"]:
            msg = (f"{names[0]} and {names[1]} scored different ground truth (fingerprints "
                   f"{str(a['dataset'].get('fingerprint'))[:19]} vs {str(b['dataset'].get('fingerprint'))[:19]})")
            if not allow_different_data:
                raise UserError(msg + "; pass --allow-different-data to compare the numbers anyway (deltas only)")
            warn(msg + ": deltas only, no significance", quiet)
        elif states:
            from ..stats.results import compare_results

            run_cmp = compare_results(ra, rb, names=names, level=level, resamples=resamples, seed=seed,
                                      method=ci_method, permutations=permutations, alpha=alpha, correction=correction)
            cmp = dict(run_cmp.rows(), warnings=cmp["warnings"])
        if sig_limits and run_cmp is None:
            raise UserError("--max-significant-drop needs two run-state files of the same images "
                            "(segmetrics eval --save-state); JSON reports carry no per-image counts")
        for w in cmp["warnings"]:
            warn(w, quiet)
        _outputs(cmp, a, b, names, json_path, html, plots, quiet)
        if json_path != "-":
            click.echo(R.format_comparison(cmp, per_class=per_class, top=top), nl=False)
            if run_cmp is None:
                click.echo("\nNo intervals or p-values: significance needs two run-state files of the same images\n"
                           "(segmetrics eval --save-state; segmetrics compare BASE.smstate NEW.smstate).")
        reasons = [r + " (--max-drop)" for r in (R.check_max_drop(cmp, limits) if limits else [])]
        if sig_limits:
            failed = run_cmp.significant_drops(sig_limits)
            reasons += [r + " (--max-significant-drop)"
                        for r in R.significant_drop_reasons(cmp, sig_limits, failed, alpha)]
    if reasons:
        raise GateFailed("; ".join(reasons))


def _state_report(path: Path) -> dict:
    from ..runs import load_state

    return load_state(path).to_report()


def _outputs(cmp: dict, a: dict, b: dict, names: tuple, json_path, html, plots, quiet: bool) -> None:
    if json_path:
        from ..stats.results import comparison_document

        write_output(json_path, R.to_json(comparison_document(cmp, names=names, task=a["task"])))
    if html:
        from ..render.source import render_comparison

        render_comparison(b, a, cmp, html)
        info(f"segmetrics: wrote {html}", quiet)
    if plots is not None:
        from ..render.data import ReportData
        from ..render.plots import save_plots

        try:
            written = save_plots(ReportData(b, base_report=a, comparison=cmp), plots)
        except ImportError:
            raise UserError("--plots needs matplotlib: pip install 'segmetrics[plot]'") from None
        info(f"segmetrics: wrote {R.plural(len(written), 'figure file')} to {one_line(str(plots))}", quiet)
