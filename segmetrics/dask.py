"""Folder evaluation on a Dask cluster: the same results as :mod:`segmetrics.folders`, bit for bit.

:func:`evaluate_semantic_folders` and :func:`evaluate_panoptic_folders` take the
keywords of their :mod:`segmetrics.folders` namesakes and a ``client``::

    from distributed import Client
    res = segmetrics.dask.evaluate_semantic_folders("s3://bucket/gt", "s3://bucket/pred", preset="ade20k",
                                                    client=Client("tcp://scheduler:8786"), per_image=True)

How a run goes: the client plans the run as the local one does (settings,
pairing, the ``pred_labels="auto"`` decision on a sample, the panoptic JSONs),
cuts the pairs into chunks and submits one task per chunk; each task runs the
compiled folder pipeline on its chunk (``jobs`` threads, GIL released; files
behind URLs are fetched by the worker, :mod:`segmetrics.remote`) and returns the
chunk's state and GT digests.  The states are merged by a tree of tasks
(:data:`FAN_IN` at a time) and the client builds the result as the local run
does.  States are integer sums plus per-image rows in a canonical order, so
the report (per-image rows and warnings included) and the saved state file
are those of the local run, byte for byte.

Faults: a worker lost mid-run is Dask's to handle (the nanny restarts it and
the scheduler runs its tasks again); every chunk's result is used once by key,
and with per-image rows every merge refuses an image counted twice.  An image
that cannot be scored fails its task; the error of the first failing chunk in
input order is raised (the other tasks are cancelled), as the local run raises
the first failing image's.

GT cache on workers: ``cache_dir`` is a folder on the workers' machines (the
same path on each); :data:`PER_WORKER` (the CLI's default with ``--dask``)
lets each worker use its own default folder (``$XDG_CACHE_HOME/segmetrics`` or
``~/.cache/segmetrics`` of the user the worker runs as).  Workers on one
machine share a folder safely: one task at a time stores entries (the cache's
writer lock), the others read, so a cold run stores part of the GT and the
next runs fill the rest.

dask and distributed are imported inside the functions (the ``[dist]`` extra).
"""
from __future__ import annotations

import math
import pickle
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .errors import InputError
from .folders import check_shard, default_jobs, plan_panoptic_run, plan_semantic_run

__all__ = ["PER_WORKER", "FAN_IN", "evaluate_semantic_folders", "evaluate_panoptic_folders", "connect",
           "default_chunk_size"]

#: ``cache_dir`` value: each worker uses :func:`segmetrics.gtcache.default_cache_dir` of its own machine.
PER_WORKER = "per-worker"
#: States merged per reduction task.
FAN_IN = 8


@dataclass
class _Part:
    """What a task returns: a state, the image ids counted and their GT digests (for the fingerprint)."""

    state: Any
    ids: list
    digests: list


@dataclass
class _Chunk:
    """A task's work: the counting and its images.  One object, so that Dask does not walk the
    annotations looking for futures in them (that walk cost more than the scoring), pickled as one
    bytes object (not one out-of-band buffer per small segment array)."""

    count: Any
    items: list

    def __reduce__(self):
        return _unpickle_chunk, (pickle.dumps((self.count, self.items), protocol=pickle.HIGHEST_PROTOCOL),)


def _unpickle_chunk(data: bytes) -> _Chunk:
    return _Chunk(*pickle.loads(data))


def _count(chunk: _Chunk, jobs: Optional[int], cache_dir) -> _Part:
    """One chunk on a worker (runs there)."""
    if cache_dir == PER_WORKER:
        from .gtcache import default_cache_dir

        cache_dir = default_cache_dir()
    state, digests = chunk.count(chunk.items, jobs=jobs or 1, cache_dir=cache_dir, progress=None)
    return _Part(state, [x[0] for x in chunk.items], digests)


def _merge(*parts: _Part) -> _Part:
    """Several parts as one (runs on a worker); refuses images counted twice when rows are kept."""
    first = parts[0]
    state, ids, digests = first.state, list(first.ids), list(first.digests)
    for p in parts[1:]:
        state.merge(p.state)
        ids.extend(p.ids)
        digests.extend(p.digests)
    return _Part(state, ids, digests)


def connect(client):
    """A ``distributed.Client`` from ``client``: a Client (returned as it is), a scheduler address
    (``tcp://HOST:8786``), or ``local:N`` / ``local:NxT`` (a new LocalCluster of N worker processes
    with T threads each; default T: :func:`segmetrics.folders.default_jobs` divided by N, at least 1).

    Returns ``(client, close)``: ``close()`` shuts down what this call started (nothing for a Client).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("Dask evaluation needs dask[distributed] (pip install 'segmetrics[dist]')") from None
    if isinstance(client, Client):
        return client, lambda: None
    if not isinstance(client, str):
        raise InputError(f"client must be a distributed.Client, a scheduler address or local:N, got {client!r}")
    if client.startswith("local:"):
        n, _, t = client[len("local:"):].partition("x")
        try:
            workers, threads = int(n), int(t) if t else 0
        except ValueError:
            raise InputError(f"--dask {client}: write local:N or local:NxT (N worker processes, T threads each)") \
                from None
        if workers < 1 or threads < 0 or (t and threads < 1):
            raise InputError(f"--dask {client}: N and T must be at least 1")
        threads = threads or max(1, default_jobs() // workers)
        # a free port for the scheduler's HTTP routes (no dashboard), so that clusters side by side do not clash
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True, dashboard_address=":0")
        c = Client(cluster)

        def close():
            c.close()
            cluster.close()
        return c, close
    try:
        c = Client(client, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler {client}: {exc}") from None
    return c, c.close


def default_chunk_size(n_items: int, threads: int) -> int:
    """Images per task: about 8 tasks per worker thread (load balance), between 8 and 512 images."""
    return max(8, min(512, math.ceil(n_items / max(1, 8 * threads))))


def _run(client, count, items: list, *, chunk_size: Optional[int], jobs: Optional[int], cache_dir,
         progress: Optional[Callable[[int], None]]) -> _Part:
    from distributed import as_completed

    c, close = connect(client)
    try:
        threads = sum(c.nthreads().values()) or 1
        size = chunk_size or default_chunk_size(len(items), threads)
        if size < 1:
            raise InputError(f"chunk_size must be at least 1, got {size}")
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        if not chunks:
            return _count(_Chunk(count, []), jobs, None)
        token = uuid.uuid4().hex[:12]
        futures = [c.submit(_count, _Chunk(count.part(ch) if hasattr(count, "part") else count, ch), jobs, cache_dir,
                            key=f"segmetrics-count-{token}-{i}", pure=False) for i, ch in enumerate(chunks)]
        index = {f.key: i for i, f in enumerate(futures)}
        level, depth = futures, 0
        while len(level) > 1:
            depth += 1
            level = [c.submit(_merge, *level[i:i + FAN_IN], key=f"segmetrics-merge-{token}-{depth}-{i}", pure=False)
                     for i in range(0, len(level), FAN_IN)]
        final = level[0]
        failed = None
        for fut in as_completed(futures):
            i = index[fut.key]
            if fut.status == "error":
                failed = i if failed is None else min(failed, i)
            elif progress is not None:
                progress(len(chunks[i]))
            if failed is not None and all(f.status == "finished" for f in futures[:failed]):
                break  # every earlier chunk was scored: this is the first failure in input order
        if failed is not None:
            exc = futures[failed].exception()
            c.cancel(futures + [final])
            raise exc
        return final.result()
    finally:
        close()


def _evaluate(run, client, *, chunk_size, jobs, cache_dir, progress, shard):
    if shard is not None:
        run = run.shard(*check_shard(*shard))
    part = _run(client, run.count, run.work, chunk_size=chunk_size, jobs=jobs, cache_dir=cache_dir,
                progress=progress)
    return run.result(part.state, part.ids, part.digests)


def evaluate_semantic_folders(gt, pred, *, client, chunk_size: Optional[int] = None, jobs: Optional[int] = None,
                              cache_dir=None, progress: Optional[Callable[[int], None]] = None,
                              shard: Optional[tuple] = None, **kwargs):
    """:func:`segmetrics.folders.evaluate_semantic_folders` with the images scored on a Dask cluster.

    Parameters
    ----------
    gt, pred, **kwargs
        As :func:`segmetrics.folders.evaluate_semantic_folders` (``preset``,
        ``num_classes``, ``per_image``, ...); paths or URLs the workers can read.
    client : distributed.Client or str
        A client, a scheduler address or ``local:N`` / ``local:NxT`` (see :func:`connect`).
    chunk_size : int, optional
        Images per task (default :func:`default_chunk_size`).
    jobs : int, optional
        Threads of the folder pipeline inside each task (default 1: the
        workers' own threads run tasks side by side).
    cache_dir : path, :data:`PER_WORKER` or None
        The GT cache folder on the workers (None: no cache).
    progress : callable, optional
        Called with the number of images of each chunk as it completes.
    shard : (int, int), optional
        As in :func:`segmetrics.folders.evaluate_semantic_folders`.

    Returns
    -------
    SemanticResult
        Identical to the local run's, bit for bit.
    """
    return _evaluate(plan_semantic_run(gt, pred, **kwargs), client, chunk_size=chunk_size, jobs=jobs,
                     cache_dir=cache_dir, progress=progress, shard=shard)


def evaluate_panoptic_folders(gt_json, pred_json, *, client, chunk_size: Optional[int] = None,
                              jobs: Optional[int] = None, cache_dir=None,
                              progress: Optional[Callable[[int], None]] = None, shard: Optional[tuple] = None,
                              **kwargs):
    """:func:`segmetrics.folders.evaluate_panoptic_folders` with the images scored on a Dask cluster.

    The JSONs are read by the client; each task receives its images' annotations and
    segment columns only, and reads (or fetches) their PNGs.  Other parameters as in
    :func:`evaluate_semantic_folders`.

    Returns
    -------
    PanopticResult
        Identical to the local run's, bit for bit.
    """
    return _evaluate(plan_panoptic_run(gt_json, pred_json, **kwargs), client, chunk_size=chunk_size, jobs=jobs,
                     cache_dir=cache_dir, progress=progress, shard=shard)
