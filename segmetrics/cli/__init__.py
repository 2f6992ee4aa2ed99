"""The ``segmetrics`` command-line interface (click group); one module per command."""
from __future__ import annotations

import click

from .. import __version__

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="segmetrics")
def cli() -> None:
    """Score semantic and panoptic segmentation predictions."""


def main() -> None:
    """Console-script entry point."""
    cli()
