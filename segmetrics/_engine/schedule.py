"""The one scheduler of the folder engine.

A run of ``n`` images is a shared :class:`~segmetrics._kernels.folder.WorkCounter`
(an atomic counter in C) and one *worker* per thread.  A worker takes image
indices from the counter until none is left: :class:`Loop` calls a Python
function per image (it reads the files and makes one GIL-free kernel call), a
compiled worker (:class:`Batch`) makes a single nogil call that takes every image
itself (:meth:`segmetrics._kernels.folder_panoptic.PanopticBatch.run`).  Both kinds
go through :func:`run`, which starts the threads, reports progress on the calling
thread and raises the error of the smallest failing index, whatever the schedule:
a failure at index ``i`` stops the hand-out of indices above ``i``, and indices
below it still run, so a smaller failing index is still found.

Each worker owns its state (decode buffers, per-thread sums), so results are
integer sums independent of the schedule.

Besides the folder engine, ``segmetrics validate`` runs its per-file checks on it
(:func:`run_indexed`, :func:`resolve_jobs`).
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .._kernels.folder import WorkCounter
from ..errors import InputError

__all__ = ["Loop", "Batch", "run", "run_indexed", "resolve_jobs"]

_POLL_S = 0.05


class _Failures:
    """Errors by index; the first one stops the hand-out above it."""

    def __init__(self, counter: WorkCounter):
        self.counter = counter
        self.lock = threading.Lock()
        self.errors: dict[int, BaseException] = {}

    def add(self, i: int, exc: BaseException) -> None:
        with self.lock:
            self.errors.setdefault(i, exc)
        self.counter.stop_before(max(i, 0))

    def first(self) -> Optional[BaseException]:
        with self.lock:
            return self.errors[min(self.errors)] if self.errors else None

    def before(self, i: int) -> bool:
        with self.lock:
            return any(j <= i for j in self.errors)


class Loop:
    """A worker that calls ``work(i)`` for each index it takes.  ``done`` counts the
    calls, or is ``count()`` when given (the images that count as finished).

    With an ordered sink (see :func:`run_indexed`), ``work(i)``'s result is handed to
    the calling thread, at most ``window`` results ahead of it.
    """

    def __init__(self, work: Callable[[int], Any], count: Optional[Callable[[], int]] = None):
        self.work = work
        self.count = count
        self.calls = 0
        self.ordered: Optional[_Ordered] = None

    @property
    def done(self) -> int:
        return self.calls if self.count is None else self.count()

    def run(self, counter: WorkCounter, failures: _Failures) -> None:
        ordered = self.ordered
        while True:
            if ordered is not None:
                ordered.window.acquire()
            i = counter.next()
            if i < 0:
                if ordered is not None:
                    ordered.window.release()
                return
            try:
                r = self.work(i)
            except BaseException as exc:  # noqa: BLE001 - raised on the calling thread
                failures.add(i, exc)
                if ordered is not None:
                    ordered.wake()
                return
            if ordered is not None:
                ordered.put(i, r)
            self.calls += 1


class Batch:
    """A compiled worker: ``call(counter)`` takes indices itself without the GIL;
    ``count()`` tells how many images it has finished (for progress)."""

    def __init__(self, call: Callable[[WorkCounter], None], count: Callable[[], int]):
        self.call = call
        self.count = count

    @property
    def done(self) -> int:
        return self.count()

    def run(self, counter: WorkCounter, failures: _Failures) -> None:
        try:
            self.call(counter)
        except BaseException as exc:  # noqa: BLE001 - raised on the calling thread
            failures.add(-1, exc)  # not an image's error: before every index


class _Ordered:
    """Results handed from the workers to the calling thread in index order."""

    def __init__(self, window: int):
        self.window = threading.Semaphore(window)
        self.cond = threading.Condition()
        self.results: dict[int, Any] = {}

    def put(self, i: int, r: Any) -> None:
        with self.cond:
            self.results[i] = r
            self.cond.notify_all()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def drain(self, n: int, failures: _Failures, sink: Callable[[int, Any], None],
              progress: Optional[Callable[[int], None]]) -> None:
        for i in range(n):
            with self.cond:
                while i not in self.results and not failures.before(i):
                    self.cond.wait(_POLL_S)
                if i not in self.results:
                    return
                r = self.results.pop(i)
            self.window.release()
            sink(i, r)
            if progress is not None:
                progress(1)

    def release_all(self, k: int) -> None:
        for _ in range(k):  # wake workers blocked on a full window
            self.window.release()


def run(n: int, workers: Sequence, *, progress: Optional[Callable[[int], None]] = None,
        sink: Optional[Callable[[int, Any], None]] = None, window: int = 0) -> None:
    """Run ``workers`` (one thread each) over the indices ``0..n-1``.

    ``progress(1)`` is called on the calling thread once per finished image (the
    sum of the workers' ``done``).  With ``sink`` (:class:`Loop` workers only),
    ``sink(i, result)`` is called on the calling thread in index order, at most
    ``window`` results ahead.  The error of the smallest failing index is raised
    after every thread has stopped; an interrupt of the calling thread stops the
    hand-out, waits for the threads and is re-raised.
    """
    counter = WorkCounter(n)
    failures = _Failures(counter)
    ordered = None
    if sink is not None:
        ordered = _Ordered(max(1, window))
        for w in workers:
            w.ordered = ordered
    threads = [threading.Thread(target=w.run, args=(counter, failures), name=f"segmetrics-{j}", daemon=True)
               for j, w in enumerate(workers)]
    reported = 0
    try:
        for th in threads:
            th.start()
        if ordered is not None:
            ordered.drain(n, failures, sink, progress)
        for th in threads:
            while th.is_alive():
                th.join(_POLL_S)
                if progress is not None and ordered is None:
                    reported = _report(workers, reported, progress)
    except BaseException:
        counter.cancel()
        raise
    finally:
        if ordered is not None:
            ordered.release_all(len(workers))
        for th in threads:
            th.join()
    exc = failures.first()
    if exc is not None:
        raise exc
    if progress is not None and ordered is None:
        _report(workers, reported, progress)


def _report(workers: Sequence, reported: int, progress: Callable[[int], None]) -> int:
    done = sum(w.done for w in workers)
    for _ in range(done - reported):
        progress(1)
    return max(done, reported)


def run_indexed(n: int, work: Callable[[Any, int], Any], make_state: Callable[[], Any], jobs: int,
                *, sink: Optional[Callable[[int, Any], None]] = None,
                progress: Optional[Callable[[int], None]] = None) -> list:
    """``work(state, i)`` for ``i`` in ``range(n)`` on ``jobs`` threads (:func:`run` with
    :class:`Loop` workers), each thread with its own ``state = make_state()``; returns
    the states (in thread order) for the caller to reduce.  With ``sink``,
    ``sink(i, result)`` is called on the calling thread in index order (at most
    ``4 * jobs`` results wait)."""
    jobs = max(1, min(jobs, n))
    states = [make_state() for _ in range(jobs)]
    workers = [Loop(lambda i, st=st: work(st, i)) for st in states]
    run(n, workers, progress=progress, sink=sink, window=4 * jobs)
    return states


def resolve_jobs(jobs: Optional[int], n_items: int, default: Callable[[], int]) -> int:
    """Validated worker count (``default()`` when ``jobs`` is None), never more than the
    number of items; :class:`~segmetrics.errors.InputError` for anything but a positive integer."""
    n = default() if jobs is None else jobs
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"jobs must be a positive integer, got {jobs!r}")
    return max(1, min(int(n), n_items))
