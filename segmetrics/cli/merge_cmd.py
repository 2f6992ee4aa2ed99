"""``segmetrics merge``: one run-state file from the states of disjoint image sets."""
from __future__ import annotations

from pathlib import Path

import click

from ..report import plural
from ..runs import merge_states
from ._common import EXIT_CODES_HELP, info, user_errors

__all__ = ["merge_command"]

EPILOG = f"""\b
Examples:
  segmetrics eval --gt gt/part1 --pred pred/part1 --preset ade20k --save-state part1.smstate
  segmetrics merge part1.smstate part2.smstate part3.smstate -o all.smstate
  segmetrics report all.smstate

\b
The merged state equals the state of one run over all the images, bit for
bit, whatever the order of the inputs.  Refused (exit 2): states of different
tasks, parameters or class lists, an image that is in two states, a file that
is not a valid state file; for shard states (eval --shard I/N), a shard
given twice or missing (unless --partial), or a mix with whole runs:

\b
  for i in 0 1 2 3; do segmetrics eval ... --shard $i/4 --save-state part-$i.smstate; done
  segmetrics merge part-*.smstate -o all.smstate

{EXIT_CODES_HELP}
"""


@click.command("merge", epilog=EPILOG, short_help="Merge run-state files of disjoint image sets.")
@click.argument("states", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The merged state file to write.")
@click.option("--partial", is_flag=True, help="Shard states (eval --shard): merge some of the shards (the rest later).")
@click.option("-q", "--quiet", is_flag=True, help="No summary line on stderr.")
def merge_command(states, output: Path, partial: bool, quiet: bool) -> None:
    """Merge STATES (written by 'segmetrics eval --save-state') into one state file."""
    with user_errors():
        result = merge_states(states, partial=partial)
        result.save_state(output)
    info(f"segmetrics: merged {plural(len(states), 'state')} ({plural(result.num_images, 'image')}) into {output}",
         quiet)
