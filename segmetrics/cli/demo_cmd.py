"""``segmetrics demo``: the same as ``segmetrics eval --demo``."""
from __future__ import annotations

from pathlib import Path

import click

from .eval_cmd import eval_command

__all__ = ["demo_command"]


@click.command(
    "demo",
    short_help="Generate a small dataset and evaluate it (same as eval --demo).",
    epilog="\b\nExamples:\n  segmetrics demo\n  segmetrics demo --demo-dir demo/ --per-class\n"
           "  segmetrics eval --gt demo/semantic/gt --pred demo/semantic/pred --class-names demo/semantic/classes.txt",
)
@click.option("--demo-dir", type=click.Path(path_type=Path, file_okay=False), help="Keep the generated data here (default: a temporary folder, removed).")
@click.option("--task", "demo_task", type=click.Choice(["both", "semantic", "panoptic"]), default="both", show_default=True, help="Which demo to run.")
@click.option("--per-class", is_flag=True, help="Also print the per-class tables.")
@click.option("--markdown", is_flag=True, help="Print Markdown instead of plain tables.")
@click.option("-q", "--quiet", is_flag=True, help="No notes on stderr.")
@click.pass_context
def demo_command(ctx, demo_dir, demo_task, per_class, markdown, quiet) -> None:
    """Generate a deterministic demo dataset (20 semantic label maps with
    perturbed predictions, a small COCO-panoptic set) and print the scores."""
    ctx.invoke(eval_command, demo=True, demo_dir=demo_dir, demo_task=demo_task,
               per_class=per_class, markdown=markdown, quiet=quiet)
