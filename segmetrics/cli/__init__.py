"""The ``segmetrics`` command-line interface (click group); one module per command.

Commands: ``eval`` (:mod:`.eval_cmd`), ``report`` (:mod:`.report_cmd`), ``merge``
(:mod:`.merge_cmd`), ``compare`` (:mod:`.compare_cmd`), ``demo`` (:mod:`.demo_cmd`),
and ``train`` / ``predict`` when the optional ``reference_models`` package is
importable.  Every command parses flags, calls the library and renders; exit
codes are listed once, in :data:`._common.EXIT_CODES`.
"""
from __future__ import annotations

import click

from .._version import __version__
from ._common import SegmetricsGroup
from .compare_cmd import compare_command
from .demo_cmd import demo_command
from .eval_cmd import eval_command
from .merge_cmd import merge_command
from .report_cmd import report_command

__all__ = ["cli", "main"]


@click.group(
    cls=SegmetricsGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="\b\nStart here:\n  segmetrics demo\n  segmetrics eval --help",
)
@click.version_option(__version__, prog_name="segmetrics")
def cli() -> None:
    """Score semantic and panoptic segmentation predictions."""


for _command in (eval_command, report_command, merge_command, compare_command, demo_command):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    cli()


try:  # the reference model commands need the optional [model] extra
    from reference_models.cli import predict, train
except ImportError:
    pass
else:
    cli.add_command(train)
    cli.add_command(predict)
