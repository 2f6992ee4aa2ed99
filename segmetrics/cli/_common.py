"""Shared pieces of the CLI commands: the exit codes, error lines and hints, progress, rendering."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
import threading
import warnings as _warnings
from pathlib import Path
from typing import Callable, Iterator, Optional

import click

from .. import report as R
from ..errors import LabelError, MissingPredictionError, SegmetricsError, SegmetricsWarning

#: The exit codes of every command, in one place (the help texts and docs/cli.md show this table).
EXIT_CODES = {
    0: "success",
    2: "usage or input error (one line 'segmetrics: error: ...' on stderr)",
    3: "a --fail-under / --max-drop / --max-significant-drop gate failed (one line 'segmetrics: FAILED: ...' "
       "on stderr)",
    4: "segmetrics validate found errors (one line 'segmetrics: validate: ...' on stderr)",
    130: "interrupted (Ctrl-C)",
}
EXIT_OK, EXIT_USER_ERROR, EXIT_GATE_FAILED, EXIT_VALIDATION_FAILED, EXIT_INTERRUPTED = 0, 2, 3, 4, 130

EXIT_CODES_HELP = "\b\nExit codes:\n" + "\n".join(f"  {code:<3} {text}" for code, text in EXIT_CODES.items())


def one_line(text: str) -> str:
    return " ".join(str(text).split())


class UserError(click.ClickException):
    """A user or input error: one line ``segmetrics: error: ...`` and exit code 2."""

    exit_code = EXIT_USER_ERROR

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"segmetrics: error: {one_line(self.format_message())}", err=True)


class GateFailed(click.ClickException):
    """A CI gate failed: one line ``segmetrics: FAILED: ...`` and exit code 3."""

    exit_code = EXIT_GATE_FAILED

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"segmetrics: FAILED: {one_line(self.format_message())}", err=True)


class SegmetricsGroup(click.Group):
    """The click group with one format for every error: click's own usage errors
    (bad option values, unknown options, missing arguments) print one line
    ``segmetrics: error: ...`` and exit 2, like the commands' input errors."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"segmetrics: error: {one_line(exc.format_message())}{where}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("segmetrics: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


def label_hint(exc: LabelError) -> Optional[str]:
    """The setting that would read the offending predictions, chosen from the error's fields."""
    r = exc.rules
    if exc.side != "pred" or not r:
        return None
    explicit_map = r.get("pred_label_map") not in (None, "same as label_map")
    if r.get("pred_labels") == "as-gt" and r.get("reduce_zero_label") and not explicit_map:
        return ("predictions are read like the GT files (1..K, 0 = ignore) because of reduce_zero_label; if they "
                "hold class indices 0..K-1, pass --pred-labels class-index (or --no-pred-reduce-zero-label)")
    if r.get("pred_labels") == "class-index" and not explicit_map and r.get("label_map") is not None:
        return ("predictions are read as class indices 0..K-1; if they hold the same raw values as the GT files "
                "(e.g. Cityscapes labelIds), pass --pred-labels as-gt (or --pred-label-map gt)")
    if exc.predicts_ignore and r.get("void_predictions") != "miss":
        return ("to score such predictions as misses (a false negative of the GT class and no false positive, "
                "as the Cityscapes and mmsegmentation scripts do), pass --void-predictions miss")
    return None


def _notes(exc: BaseException) -> str:
    """The notes the library attached to an error (``exc.__notes__``: the ``segmetrics validate``
    command that lists every problem of its kind), for the same line."""
    return "".join(f" -- {one_line(n)}" for n in getattr(exc, "__notes__", ()))


@contextlib.contextmanager
def user_errors(hint_missing: Optional[str] = "--allow-missing") -> Iterator[None]:
    """Turn ``SegmetricsError``, ``OSError`` and ``MemoryError`` into :class:`UserError` (exit 2, no traceback);
    library warnings are silenced (the commands print the result's warnings themselves)."""
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", SegmetricsWarning)
            yield
    except click.ClickException:
        raise
    except MissingPredictionError as exc:
        msg = one_line(str(exc))
        if hint_missing:
            msg += f" (pass {hint_missing} to score them as all-void)"
        raise UserError(msg + _notes(exc)) from None
    except LabelError as exc:
        hint = label_hint(exc)
        raise UserError(one_line(str(exc)) + (f" -- {hint}" if hint else "") + _notes(exc)) from None
    except SegmetricsError as exc:
        raise UserError(one_line(str(exc)) + _notes(exc)) from None
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        raise UserError(one_line(f"{where}{exc.strerror or exc}")) from None
    except MemoryError as exc:  # the up-front estimate (segmetrics._memory) missed; still one line
        raise UserError(one_line(f"out of memory{': ' + str(exc) if str(exc) else ''}; fewer worker threads "
                                 "(-j 1) or fewer classes need less")) from None


def warn(message: str, quiet: bool) -> None:
    """Print a warning line on stderr unless ``quiet``."""
    if not quiet:
        click.echo(f"segmetrics: warning: {one_line(message)}", err=True)


def info(message: str, quiet: bool) -> None:
    """Print an informational line on stderr unless ``quiet``."""
    if not quiet:
        click.echo(message, err=True)


@contextlib.contextmanager
def progress_bar(label: str, *, quiet: bool) -> Iterator[Optional[Callable[[int], None]]]:
    """Yield ``tick(n)`` that advances a counter on stderr, or None when stderr is no terminal.

    Uses tqdm when installed, else a plain counter line.  ``tick`` is thread-safe.
    """
    if quiet or not sys.stderr.isatty():
        yield None
        return
    lock = threading.Lock()
    try:
        from tqdm import tqdm  # optional ([progress] extra)
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(desc=label, unit="img", file=sys.stderr, leave=False)

        def tick(n: int = 1) -> None:
            with lock:
                bar.update(n)
        try:
            yield tick
        finally:
            bar.close()
        return
    done = [0]

    def count(n: int = 1) -> None:
        with lock:
            done[0] += n
            click.echo(f"\r{label}: {R.plural(done[0], 'image')}", err=True, nl=False)
    try:
        yield count
    finally:
        if done[0]:
            click.echo("\r" + " " * (len(label) + 24) + "\r", err=True, nl=False)


def write_output(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (``-`` = stdout) as UTF-8; parent folders are created.

    Image ids made from file names that are not UTF-8 hold their bytes as lone
    surrogates (``os.fsdecode``); they are written back as those very bytes
    (``surrogateescape``), so a CSV row names the file exactly.  JSON escapes them
    (``\\udcXX``), which ``json.loads`` reads back to the same id.
    """
    data = text.encode("utf-8", "surrogateescape")
    if path == "-":
        click.echo(data, nl=False)
        return
    p = Path(path)
    try:
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    except OSError as exc:
        raise UserError(f"cannot write {p}: {exc.strerror or exc}") from None


def parse_gate(spec: Optional[str], flag: str, kind: str = "fail_under", allowed=None) -> Optional[dict]:
    """``--fail-under`` / ``--max-drop`` as ``{metric: percent}`` (a bad spec is a usage error)."""
    if not spec:
        return None
    if allowed is None and kind == "fail_under":
        allowed = R.PANOPTIC_METRICS + R.SEMANTIC_METRICS
    try:
        return R.parse_metric_spec(spec, allowed=allowed, kind=kind)
    except SegmetricsError as exc:
        raise click.BadParameter(str(exc), param_hint=flag) from None


def check_outputs(json_path: Optional[str], per_image_path: Optional[str]) -> None:
    if json_path == "-" and per_image_path == "-":
        raise click.UsageError("--json - and --per-image - would mix JSON and CSV on stdout; send one to a file")


@dataclasses.dataclass(frozen=True)
class Analysis:
    """The statistics and picture options of ``eval`` and ``report`` (:func:`analysis_options`)."""

    ci: Optional[float] = None            # confidence level as a fraction, or None: no intervals
    resamples: int = 1000
    seed: int = 0
    ci_method: str = "percentile"
    worst: Optional[int] = None
    slices: Optional[Path] = None
    html: Optional[str] = None
    images: Optional[Path] = None
    plots: Optional[Path] = None

    @property
    def per_image(self) -> bool:
        """Whether an option needs the per-image counts of the run."""
        return any(v is not None for v in (self.ci, self.worst, self.slices, self.html, self.plots))

    @property
    def outputs(self) -> list:
        """The flags that belong to one run (with ``eval --demo``: one task only)."""
        return [f for f, v in (("--html", self.html), ("--plots", self.plots), ("--slices", self.slices))
                if v is not None]


def _level(value: Optional[str]) -> Optional[float]:
    if value is None:
        return None
    try:
        level = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number (a confidence level in percent, e.g. 95)",
                                 param_hint="--ci") from None
    if not 50.0 <= level < 100.0:
        raise click.BadParameter(f"{value} is not a confidence level in percent in [50, 100), e.g. 95",
                                 param_hint="--ci")
    return level / 100.0


_ANALYSIS_OPTIONS = (
    click.option("--ci", "ci", metavar="[LEVEL]", is_flag=False, flag_value="95", default=None,
                 help="Bootstrap confidence intervals (LEVEL in percent, default 95) for every headline metric "
                      "and per-class value: table, JSON 'intervals'."),
    click.option("--resamples", type=click.IntRange(min=1), help="With --ci: bootstrap resamples (default 1000)."),
    click.option("--seed", type=click.IntRange(min=0), help="With --ci: seed of the resampling (default 0)."),
    click.option("--ci-method", type=click.Choice(["percentile", "bca"]),
                 help="With --ci: percentile (default) or bias-corrected and accelerated intervals."),
    click.option("--worst", type=click.IntRange(min=1), metavar="K",
                 help="List the K images with the lowest mIoU / PQ (table and JSON); with --html, the gallery "
                      "size (default 24)."),
    click.option("--slices", type=click.Path(path_type=Path, dir_okay=False), metavar="MANIFEST.csv",
                 help="Metrics per attribute value: a CSV with an image_id column and attribute columns."),
    click.option("--html", "html", metavar="PATH", help="Write a self-contained HTML report."),
    click.option("--images", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
                 help="With --html: input photos shown beside the worst images."),
    click.option("--plots", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
                 help="Write every figure as PNG and SVG into DIR (needs matplotlib: the [plot] extra)."),
)
_ANALYSIS_NAMES = ("ci", "resamples", "seed", "ci_method", "worst", "slices", "html", "images", "plots")


def analysis_options(f):
    """The statistics and picture flags of ``eval`` and ``report``, passed to the command as one
    ``analysis`` argument (an :class:`Analysis`)."""
    @functools.wraps(f)
    def command(*args, **kwargs):
        given = {name: kwargs.pop(name) for name in _ANALYSIS_NAMES}
        if given["ci"] is None:
            extra = [f"--{n.replace('_', '-')}" for n in ("resamples", "seed", "ci_method") if given[n] is not None]
            if extra:
                raise click.UsageError(f"{', '.join(extra)} {'applies' if len(extra) == 1 else 'apply'} with --ci")
        if given["images"] is not None and given["html"] is None:
            raise click.UsageError("--images applies with --html")
        defaults = Analysis()
        analysis = Analysis(ci=_level(given["ci"]), slices=given["slices"], worst=given["worst"],
                            html=given["html"], images=given["images"], plots=given["plots"],
                            **{n: given[n] if given[n] is not None else getattr(defaults, n)
                               for n in ("resamples", "seed", "ci_method")})
        return f(*args, analysis=analysis, **kwargs)
    for opt in reversed(_ANALYSIS_OPTIONS):
        command = opt(command)
    return command


def with_slices(result, analysis: Optional[Analysis]):
    """The result with the ``--slices`` manifest attached (unchanged without one)."""
    if analysis is None or analysis.slices is None:
        return result
    with user_errors():
        return result.with_slices(analysis.slices)


def render(result, *, per_class: bool, json_path: Optional[str], per_image_path: Optional[str], markdown: bool,
           quiet: bool, fail_under: Optional[dict], all_classes: bool = False, gate: bool = True,
           analysis: Optional[Analysis] = None, moved: Optional[dict] = None) -> list:
    """Print a result as ``eval`` does: warnings and notes on stderr, the JSON report, the
    per-image CSV, the HTML report and figures, the table or Markdown; then the ``--fail-under`` gate.

    ``analysis`` holds the statistics and picture options; ``moved`` the ``--gt`` / ``--pred``
    places of a state file's data.  Returns the gate's failure reasons; raises
    :class:`GateFailed` on them when ``gate``.
    """
    a = analysis or Analysis()
    with user_errors():
        iv = result.intervals(level=a.ci, resamples=a.resamples, seed=a.seed, method=a.ci_method) \
            if a.ci is not None else None
        report = result.to_report(intervals=iv, worst=a.worst)
    rows = result.per_image_rows() if per_image_path else None
    if per_image_path and rows is None:
        raise UserError("--per-image: this run kept no per-image counts (save states with per_image=True)")
    for w in report["warnings"]:
        warn(w, quiet)
    for n in report["notes"]:
        info(f"segmetrics: note: {one_line(n)}", quiet)
    if json_path:
        write_output(json_path, R.to_json(report))
    if per_image_path:
        write_output(per_image_path, R.format_csv(rows))
    pictures(result, report, iv, a, quiet, moved or {})
    if json_path != "-" and per_image_path != "-":
        fmt = R.format_markdown if markdown else R.format_table
        text = fmt(report, per_class=per_class, all_classes=all_classes)
        click.echo(text, nl=False)
    reasons = []
    if fail_under:
        with user_errors():
            reasons = R.check_fail_under(report, fail_under)
    if reasons and gate:
        raise GateFailed("; ".join(reasons) + " (--fail-under)")
    return reasons


def output_options(f):
    """The rendering flags shared by ``eval`` and ``report``."""
    for opt in reversed((
        click.option("--per-class", is_flag=True, help="Also print the per-class table (classes with nothing to "
                     "score left out)."),
        click.option("--all-classes", is_flag=True, help="With --per-class: also the classes with nothing to score."),
        click.option("--json", "json_path", metavar="PATH", help="Write the JSON report ('-' = stdout)."),
        click.option("--per-image", "per_image_path", metavar="PATH.csv",
                     help="Write one CSV row per image ('-' = stdout)."),
        click.option("--markdown", is_flag=True, help="Print Markdown (for PR comments) instead of the plain table."),
        click.option("--fail-under", metavar="METRIC=PCT,...",
                     help="Exit 3 when a metric is below a percentage, e.g. mIoU=45.0,PQ=40."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar, warnings or notes on stderr."),
    )):
        f = opt(f)
    return f


def pictures(result, report: dict, intervals, a: Analysis, quiet: bool, moved: dict) -> None:
    """``--html`` and ``--plots`` of ``eval`` / ``report`` (the [plot] extra for the figures)."""
    if a.html is None and a.plots is None:
        return
    from ..render.source import render_result, result_data
    from ..render.plots import save_plots

    with user_errors():
        if a.html is not None:
            for note in render_result(result, a.html, report=report, images_dir=a.images,
                                      worst=a.worst if a.worst is not None else 24, **moved):
                info(f"segmetrics: note: {one_line(note)}", quiet)
            info(f"segmetrics: wrote {a.html}", quiet)
        if a.plots is not None:
            data, _ = result_data(result, report=report, images=False)
            try:
                written = save_plots(data, a.plots)
            except ImportError:
                raise UserError("--plots needs matplotlib: pip install 'segmetrics[plot]'") from None
            info(f"segmetrics: wrote {R.plural(len(written), 'figure file')} to {a.plots}", quiet)
