"""``segmetrics demo`` (and ``eval --demo``): generate a small dataset, evaluate it, render."""
from __future__ import annotations

import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import click

from ..demo import make_panoptic_demo, make_semantic_demo
from ..folders import evaluate_panoptic_folders, evaluate_semantic_folders
from ._common import GateFailed, info, render, user_errors, with_slices

__all__ = ["demo_command", "run_demo"]


def _command(*args) -> str:
    return " ".join(shlex.quote(str(a)) for a in ("segmetrics", "eval") + args)


def run_demo(demo_dir: Optional[Path], demo_task: str, *, jobs, out: dict, save_state: Optional[str] = None) -> None:
    """Generate the demo data (a temporary folder unless ``demo_dir``), score and render it.

    With ``demo_dir`` each run is announced by the ``segmetrics eval`` command
    that scores the kept files the same way; without it the files are removed
    afterwards, so no command that points into them is printed.  A
    ``--fail-under`` gate applies to each report that has its metric.
    """
    quiet = out["quiet"]
    root = demo_dir if demo_dir is not None else Path(tempfile.mkdtemp(prefix="segmetrics-demo-"))
    analysis = out.get("analysis")
    per_image = bool(out["per_image_path"] or save_state or (analysis is not None and analysis.per_image))
    failures = []
    try:
        with user_errors():
            runs = []
            if demo_task in ("both", "semantic"):
                d = make_semantic_demo(root / "semantic")
                cmd = _command("--gt", d.gt, "--pred", d.pred, "--class-names", d.class_names)
                runs.append(("semantic", cmd, lambda d=d: evaluate_semantic_folders(
                    d.gt, d.pred, class_names=d.class_names, per_image=per_image, jobs=jobs)))
            if demo_task in ("both", "panoptic"):
                d = make_panoptic_demo(root / "panoptic")
                cmd = _command("--gt", d.gt_json, "--pred", d.pred_json, "--preset", "coco-panoptic")
                runs.append(("panoptic", cmd, lambda d=d: evaluate_panoptic_folders(
                    d.gt_json, d.pred_json, preset="coco-panoptic", per_image=per_image, jobs=jobs)))
            for n, (kind, cmd, score) in enumerate(runs):
                if n:
                    click.echo("")
                if demo_dir is not None:
                    info(f"# demo ({kind}): {cmd}", quiet)
                else:
                    info(f"# demo ({kind}), generated in a temporary folder that is removed afterwards "
                         f"(segmetrics demo --demo-dir DIR keeps the files and prints the command)", quiet)
                result = with_slices(score(), analysis)
                if save_state:
                    result.save_state(save_state)
                gates = {k: v for k, v in (out["fail_under"] or {}).items() if k in result.to_report()["metrics"]}
                failures += render(result, **{**out, "fail_under": gates}, gate=False)
    finally:
        if demo_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    if failures:
        raise GateFailed("; ".join(failures) + " (--fail-under)")


@click.command(
    "demo",
    short_help="Generate a small dataset and evaluate it (same as eval --demo).",
    epilog="\b\nExamples:\n  segmetrics demo\n  segmetrics demo --demo-dir demo/ --per-class\n"
           "  segmetrics eval --gt demo/semantic/gt --pred demo/semantic/pred --class-names demo/semantic/classes.txt",
)
@click.option("--demo-dir", type=click.Path(path_type=Path, file_okay=False), help="Keep the generated data here (default: a temporary folder, removed).")
@click.option("--task", "demo_task", type=click.Choice(["both", "semantic", "panoptic"]), default="both", show_default=True, help="Which demo to run.")
@click.option("--per-class", is_flag=True, help="Also print the per-class tables.")
@click.option("--all-classes", is_flag=True, help="With --per-class: also the classes with nothing to score.")
@click.option("--markdown", is_flag=True, help="Print Markdown instead of plain tables.")
@click.option("-q", "--quiet", is_flag=True, help="No notes on stderr.")
def demo_command(demo_dir, demo_task, per_class, all_classes, markdown, quiet) -> None:
    """Generate a deterministic demo dataset (20 semantic label maps with
    perturbed predictions, a small COCO-panoptic set) and print the scores."""
    run_demo(demo_dir, demo_task, jobs=None, out=dict(per_class=per_class, all_classes=all_classes, json_path=None,
                                                     per_image_path=None, markdown=markdown, quiet=quiet,
                                                     fail_under=None))
