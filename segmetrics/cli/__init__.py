"""The ``segmetrics`` command-line interface (click group); one module per command.

Commands: ``eval`` (:mod:`.eval_cmd`), ``compare`` (:mod:`.compare_cmd`),
``demo`` (:mod:`.demo_cmd`), and ``train`` / ``predict`` when the optional
``reference_models`` package is importable.
"""
from __future__ import annotations

import click

from .. import __version__
from .compare_cmd import compare_command
from .demo_cmd import demo_command
from .eval_cmd import eval_command

__all__ = ["cli", "main"]


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="\b\nStart here:\n  segmetrics demo\n  segmetrics eval --help",
)
@click.version_option(__version__, prog_name="segmetrics")
def cli() -> None:
    """Score semantic and panoptic segmentation predictions."""


cli.add_command(eval_command)
cli.add_command(compare_command)
cli.add_command(demo_command)


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
