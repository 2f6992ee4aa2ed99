"""Shared pieces of the CLI commands: error translation, exit codes, progress, output."""
from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator, Optional

import click

from ..errors import MissingPredictionError, SegmetricsError

EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_GATE_FAILED = 3

EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  2  usage or input error (one line on stderr)
  3  a --fail-under / --max-drop gate failed (one line on stderr)"""


class UserError(click.ClickException):
    """A user or input error: one line ``segmetrics: error: ...`` and exit code 2."""

    exit_code = EXIT_USER_ERROR

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"segmetrics: error: {self.format_message()}", err=True)


class GateFailed(click.ClickException):
    """A CI gate failed: one line ``segmetrics: FAILED: ...`` and exit code 3."""

    exit_code = EXIT_GATE_FAILED

    def show(self, file=None) -> None:  # noqa: D102 - click API
        click.echo(f"segmetrics: FAILED: {self.format_message()}", err=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@contextlib.contextmanager
def user_errors(hint_missing: Optional[str] = "--allow-missing") -> Iterator[None]:
    """Turn ``SegmetricsError`` and ``OSError`` into :class:`UserError` (exit 2, no traceback)."""
    try:
        yield
    except click.ClickException:
        raise
    except MissingPredictionError as exc:
        msg = _one_line(str(exc))
        if hint_missing:
            msg += f" (pass {hint_missing} to score them as all-void)"
        raise UserError(msg) from None
    except SegmetricsError as exc:
        raise UserError(_one_line(str(exc))) from None
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        raise UserError(_one_line(f"{where}{exc.strerror or exc}")) from None


def warn(message: str, quiet: bool) -> None:
    """Print a warning line on stderr unless ``quiet``."""
    if not quiet:
        click.echo(f"segmetrics: warning: {_one_line(message)}", err=True)


def info(message: str, quiet: bool) -> None:
    """Print an informational line on stderr unless ``quiet``."""
    if not quiet:
        click.echo(message, err=True)


@contextlib.contextmanager
def progress_bar(total: int, label: str, *, quiet: bool) -> Iterator[Optional[Callable[[int], None]]]:
    """Yield ``tick(n)`` that advances a bar on stderr, or None when stderr is no terminal.

    Uses tqdm when installed, else ``click.progressbar``.  ``tick`` is thread-safe.
    """
    if quiet or total <= 1 or not sys.stderr.isatty():
        yield None
        return
    lock = threading.Lock()
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(total=total, desc=label, unit="img", file=sys.stderr, leave=False)
        def tick(n: int = 1) -> None:
            with lock:
                bar.update(n)
        try:
            yield tick
        finally:
            bar.close()
    else:
        with click.progressbar(length=total, label=label, file=sys.stderr) as cbar:
            def tick(n: int = 1) -> None:
                with lock:
                    cbar.update(n)
            yield tick


def write_output(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (``-`` = stdout); parent folders are created."""
    if path == "-":
        click.echo(text, nl=False)
        return
    p = Path(path)
    try:
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {p}: {exc.strerror or exc}") from None
