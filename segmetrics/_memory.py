"""How much memory a folder run needs, and how much this process may still take.

The folder API calls :func:`check_run_memory` before it allocates anything of
size K x K, so that a run that cannot fit (``num_classes=46340`` is a 17 GB
matrix, and a run holds several) stops with one line that says how much it
would need and what lowers it, instead of being killed by the kernel.
"""
from __future__ import annotations

import os
from typing import Optional

from .errors import InputError

__all__ = ["available_memory", "run_memory", "check_run_memory"]

#: K x K int64 matrices a semantic run holds at its peak besides one per worker thread
#: (measured with tracemalloc on ``evaluate_semantic_folders`` + ``to_report``: the run's
#: sums, the state and the result's copy), and two more with per-image counts
#: (``per_image=True``, ``save_state``).
SEMANTIC_MATRICES = 3
PER_IMAGE_MATRICES = 2
#: (K+1) x (K+1) int64 matrices a panoptic run holds at its peak (measured: 4.05, any
#: number of threads; one more for a margin).
PANOPTIC_MATRICES = 5
#: Bytes per (image, class) of per-image counts: TP, FP, FN as int64, twice (the
#: engine's rows and the state's arrays).
PER_IMAGE_BYTES = 6 * 8
#: Bytes a run allocates besides the matrices (file lists, rows, tables): measured below 1 MB
#: on small runs, counted generously.
BASE = 32 * 2**20
#: Below this, estimates are not checked (the interpreter's own use dominates them).
SMALL = 64 * 2**20


def _read_kib(path: str, key: str) -> Optional[int]:
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if line.startswith(key.encode() + b":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_headroom() -> Optional[int]:
    """``memory.max - memory.current`` of this process's cgroup (v2), when it has a limit."""
    try:
        with open("/proc/self/cgroup", "rb") as fh:
            rel = next((ln.split(b":", 2)[2].strip().decode() for ln in fh if ln.startswith(b"0::")), None)
        if rel is None:
            return None
        base = os.path.join("/sys/fs/cgroup", rel.lstrip("/"))
        with open(os.path.join(base, "memory.max"), "rb") as fh:
            limit = fh.read().strip()
        if limit == b"max":
            return None
        with open(os.path.join(base, "memory.current"), "rb") as fh:
            current = int(fh.read().strip())
        return max(0, int(limit) - current)
    except (OSError, ValueError, StopIteration, IndexError):
        return None


def available_memory() -> Optional[int]:
    """Bytes this process may still allocate, or None when the system does not say.

    The smallest of: the system's available memory (``MemAvailable``), the
    headroom under the address-space limit (``RLIMIT_AS`` minus the process's
    current virtual size) and the headroom of its cgroup's memory limit.
    """
    found = []
    avail = _read_kib("/proc/meminfo", "MemAvailable")
    if avail is not None:
        found.append(avail)
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            used = _read_kib("/proc/self/status", "VmSize") or 0
            found.append(max(0, soft - used))
    except (ImportError, OSError, ValueError):
        pass
    cg = _cgroup_headroom()
    if cg is not None:
        found.append(cg)
    return min(found) if found else None


def run_memory(task: str, num_classes: int, *, threads: int, per_image: bool, num_images: int) -> tuple[int, int]:
    """``(bytes, matrices)``: the peak memory of a folder run's matrices and per-image counts.

    Notes
    -----
    Semantic: ``32 MiB + (threads + 3 [+ 2 with per-image counts]) * K^2 * 8`` bytes (one
    K x K int64 confusion matrix per worker thread, the run's sums, the state,
    the result) plus ``48 * N * K`` with per-image counts.  Panoptic:
    ``32 MiB + 5 * (K + 1)^2 * 8`` (the category-map matrix; the engine keeps no
    per-thread copy) plus the same per-image term.
    """
    if task == "semantic":
        side = num_classes
        matrices = threads + SEMANTIC_MATRICES + (PER_IMAGE_MATRICES if per_image else 0)
    else:
        side = num_classes + 1
        matrices = PANOPTIC_MATRICES
    need = BASE + matrices * side * side * 8
    if per_image:
        need += PER_IMAGE_BYTES * num_images * num_classes
    return need, matrices


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_run_memory(task: str, num_classes: int, *, threads: int, per_image: bool, num_images: int,
                     what: str, available: Optional[int] = None) -> None:
    """Raise :class:`InputError` when the run's matrices (:func:`run_memory`) cannot fit
    in :func:`available_memory` (or ``available``); nothing when the system does not say.

    The message gives the estimate, what is available and what lowers it: fewer
    worker threads (semantic; ``jobs`` / ``-j``), per-image counts left out,
    fewer classes.
    """
    need, matrices = run_memory(task, num_classes, threads=threads, per_image=per_image, num_images=num_images)
    if need < SMALL:
        return
    avail = available_memory() if available is None else available
    if avail is None or need <= avail:
        return
    side = num_classes if task == "semantic" else num_classes + 1
    one = side * side * 8
    if task == "semantic":
        held = f"{matrices} of {_gib(one)}: one per worker thread ({threads}), the run's sums, state and result"
    else:
        held = f"{matrices} of {_gib(one)} for the category-map confusion"
    lower = []
    if task == "semantic" and threads > 1:
        one_thread, _ = run_memory(task, num_classes, threads=1, per_image=per_image, num_images=num_images)
        lower.append(f"one worker thread (jobs=1, -j 1) needs {_gib(one_thread)}")
    if per_image:
        without, _ = run_memory(task, num_classes, threads=threads, per_image=False, num_images=num_images)
        lower.append(f"without per-image counts (no --per-image / --save-state) {_gib(without)}")
    lower.append("fewer classes need less (memory grows with their square)")
    raise InputError(f"{what} needs about {_gib(need)} of memory for its {side} x {side} confusion matrices "
                     f"({held}) but about {_gib(avail)} is available; " + "; ".join(lower))
