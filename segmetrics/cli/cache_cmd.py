"""``segmetrics cache info|clear``: look at or empty the ground-truth cache folder."""
from __future__ import annotations

from pathlib import Path

import click

from ._common import user_errors

__all__ = ["cache_command"]

EPILOG = """\b
Examples:
  segmetrics cache info
  segmetrics cache info --cache-dir /scratch/segm-cache
  segmetrics cache clear

\b
`segmetrics eval` keeps decoded ground truth in this folder (default
$XDG_CACHE_HOME/segmetrics or ~/.cache/segmetrics; eval --cache-dir / --no-cache).
Files left by an interrupted run are removed by the next run; `clear` removes
every entry (only the cache's own files)."""

_CACHE_DIR = click.option(
    "--cache-dir", type=click.Path(path_type=Path), default=None,
    help="The cache folder (default: $XDG_CACHE_HOME/segmetrics or ~/.cache/segmetrics).")


def _size(n: int) -> str:
    """``12.3 MB (12,345,678 bytes)``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


@click.group("cache", short_help="Show or empty the ground-truth cache.", epilog=EPILOG)
def cache_command() -> None:
    """Show (info) or empty (clear) the folder where `segmetrics eval` keeps decoded
    ground truth between runs."""


@cache_command.command("info", short_help="Location, size, entries and leftovers of the cache.")
@_CACHE_DIR
def info_command(cache_dir) -> None:
    """Print the cache's location, size, entries and the files interrupted runs left,
    one fact per line."""
    from ..gtcache import cache_info
    from ..report import plural

    with user_errors(hint_missing=None):
        info = cache_info(cache_dir)
    click.echo(f"location: {info['location']}" + ("" if info["exists"] else " (does not exist yet)"))
    click.echo(f"size: {_size(info['size_bytes'])} in {plural(info['files'], 'file')}")
    click.echo(f"entries: {info['entries']:,} decoded ground-truth images "
               f"in {plural(info['packs'], 'pack file')} (format version {info['format_version']})")
    click.echo(f"leftovers of interrupted runs: {plural(info['orphans'], 'file')} ({_size(info['orphan_bytes'])}); "
               f"the next run removes them")
    if info["old_versions"]:
        versions = ", ".join(f"v{v}" for v in info["old_versions"])
        click.echo(f"older format versions, no longer read: {versions} (`segmetrics cache clear` removes them)")
    if info["in_use"] is not None:
        click.echo("in use: " + ("yes, a run is storing entries now" if info["in_use"] else "no"))


@cache_command.command("clear", short_help="Remove every entry of the cache.")
@_CACHE_DIR
def clear_command(cache_dir) -> None:
    """Remove every cached entry (only the cache's own files) and say what was removed."""
    from ..gtcache import cache_clear
    from ..report import plural

    with user_errors(hint_missing=None):
        out = cache_clear(cache_dir)
    click.echo(f"removed {plural(out['removed_files'], 'file')} ({_size(out['removed_bytes'])}) "
               f"from {out['location']}")
    if out["in_use"]:
        click.echo(f"left {plural(out['in_use'], 'file')} that a running evaluation is writing")
