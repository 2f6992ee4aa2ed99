"""Machine facts and the header that every benchmark section records.

One owner for the section header convention (command, date, git revision, machine,
load before / after, versions) so the harnesses cannot drift apart.
"""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load() -> tuple[float, float, float]:
    """The 1 / 5 / 15 minute load averages (zeros where the platform has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def mem_available_bytes() -> int | None:
    """``MemAvailable`` of /proc/meminfo, None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def version(dist: str) -> str:
    """Installed version of a distribution, or "not installed"."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_describe(root: Path = ROOT) -> str:
    """Short revision of the checkout, with a note when tracked files are modified."""
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def busy(load_before: tuple[float, float, float]) -> bool:
    """A run that starts with a 1-minute load above half the CPUs is on a busy machine."""
    return load_before[0] > 0.5 * (os.cpu_count() or 1)


def header(title: str, cmd: str, started, load_before, load_after, dists=()) -> list[str]:
    """The opening lines of a result section: title, command, date, machine, load, versions.

    ``started`` is an aware datetime; ``load_before`` / ``load_after`` come from :func:`load`.
    A run that started on a busy machine says so in bold.
    """
    ncpu = os.cpu_count()
    lines = [
        f"## {title}",
        "",
        f"- command: `{cmd}`",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}; segmetrics at git {git_describe()}",
        f"- machine: `nproc` = {ncpu}, CPU: {cpu_model()}, {platform.system()} {platform.machine()}; "
        f"load average before the run {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} "
        f"(1 / 5 / 15 min), after {load_after[0]:.2f} / {load_after[1]:.2f} / {load_after[2]:.2f}",
        f"- Python {platform.python_version()}"
        + "".join(f", {d} {version(d)}" for d in dists),
    ]
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        lines.append("- this shell sets `PYTHONDONTWRITEBYTECODE`: the tools' fresh processes run without it, from "
                     "compiled bytecode (`harness.prepare_bytecode`), as after `pip install`")
    if busy(load_before):
        lines.append(
            f"- **measured on a shared, busy machine** (load average {load_before[0]:.1f} on {ncpu} CPUs "
            "when the run started): other jobs took CPU time, so absolute times are inflated and a second "
            "thread helps less; compare tools within this run, and re-run on a quiet machine for figures to quote")
    return lines
