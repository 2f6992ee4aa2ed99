"""The ``segmetrics`` command-line interface (click group); one module per command.

Commands: ``eval`` (:mod:`.eval_cmd`), ``report`` (:mod:`.report_cmd`), ``merge``
(:mod:`.merge_cmd`), ``compare`` (:mod:`.compare_cmd`), ``validate``
(:mod:`.validate_cmd`), ``cache`` (:mod:`.cache_cmd`), ``demo`` (:mod:`.demo_cmd`),
and ``train`` / ``predict`` when the optional ``reference_models`` package is
importable.  Every command parses flags, calls the library and renders; exit
codes are listed once, in :data:`._common.EXIT_CODES`.
"""
from __future__ import annotations

import importlib

import click

from .._version import __version__
from ._common import SegmetricsGroup

__all__ = ["cli", "main"]

#: Every command: its module and attribute.  A command's module is imported when the command
#: is run (or listed by ``--help``): ``segmetrics eval`` loads neither the other commands nor
#: ``reference_models``, which keeps the process smaller and its start faster.
COMMANDS = {
    "cache": ("segmetrics.cli.cache_cmd", "cache_command"),
    "compare": ("segmetrics.cli.compare_cmd", "compare_command"),
    "demo": ("segmetrics.cli.demo_cmd", "demo_command"),
    "eval": ("segmetrics.cli.eval_cmd", "eval_command"),
    "merge": ("segmetrics.cli.merge_cmd", "merge_command"),
    "report": ("segmetrics.cli.report_cmd", "report_command"),
    "validate": ("segmetrics.cli.validate_cmd", "validate_command"),
    # the reference model commands need the optional [model] extra
    "train": ("reference_models.cli", "train"),
    "predict": ("reference_models.cli", "predict"),
}
OPTIONAL = ("reference_models",)


class LazyGroup(SegmetricsGroup):
    """The group that imports a command's module on first use.  A command of an optional
    package that cannot be imported is not there, as if it had never been added."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in {*COMMANDS, *self.commands} if self.get_command(ctx, name) is not None)

    def get_command(self, ctx: click.Context, name: str):
        if name in self.commands or name not in COMMANDS:
            return self.commands.get(name)
        module, attr = COMMANDS[name]
        try:
            command = getattr(importlib.import_module(module), attr)
        except ImportError:
            if module.startswith(OPTIONAL):
                return None
            raise
        self.commands[name] = command
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="\b\nStart here:\n  segmetrics demo\n  segmetrics eval --help",
)
@click.version_option(__version__, prog_name="segmetrics")
def cli() -> None:
    """Score semantic and panoptic segmentation predictions."""


def main() -> None:
    """Console-script entry point."""
    cli()
