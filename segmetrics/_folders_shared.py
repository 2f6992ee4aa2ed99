"""What both halves of the folder API share (:mod:`segmetrics.folders`, semantic, and
:mod:`segmetrics._folders_panoptic`, loaded by panoptic runs only): worker threads, the band
setting, the GT cache's notes, the ``segmetrics validate`` hint on data errors, remote files
(without importing :mod:`segmetrics.remote` for local ones), shards.  :mod:`segmetrics.folders`
re-exports the public names (``default_jobs``, ``shard_of``, ``parse_shard``, ``check_shard``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from ._sha import sha256
from ._urls import _is_url, _remote  # noqa: F401 - _is_url re-exported to both halves
from . import _pipeline
from ._engine import band as _band
from .errors import DataFileError, InputError, MissingPredictionError, SegmetricsError
from .gtcache import probe_cache_dir
from .validate._quick import quick_checks


def default_jobs() -> int:
    """Default worker count: the CPUs this process may use, at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(8, n))


def _jobs(jobs: Optional[int], n: int) -> int:
    return _pipeline.resolve_jobs(jobs, max(1, n), default_jobs)


def _file_bytes(path, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise DataFileError(f"cannot read {path} to fingerprint the {what}: {exc.strerror or exc}") from None


def _band_setting(boundary: bool, dilation_ratio: Optional[float], preset) -> Optional[tuple]:
    """``(dilation_ratio, None)`` of a run with ``boundary`` (the argument, else the preset's
    ratio, else 0.02), or None without; a ratio without ``boundary`` is an :class:`InputError`."""
    if not boundary:
        if dilation_ratio is not None:
            raise InputError("dilation_ratio sets the band width of boundary=True (--dilation-ratio needs --boundary)")
        return None
    if dilation_ratio is None and preset is not None:
        dilation_ratio = preset.dilation_ratio
    if dilation_ratio is None:
        dilation_ratio = _band.DEFAULT_DILATION_RATIO
    return _band.check_ratio(dilation_ratio), None


def _cache_notes(cache_dir) -> list:
    """The one-line note when the GT cache folder cannot be used (the run then scores without
    storing; a folder that can be read still serves its entries)."""
    if cache_dir is None:
        return []
    note = probe_cache_dir(cache_dir)
    return [note] if note else []


def _staged(how: str, *work) -> Iterator[tuple]:
    """``segmetrics.remote.<how>(*work)``: the work in chunks whose remote files are fetched to
    local ones, each with its local path -> URL names; ``work`` itself with no names when that
    module is not loaded (every file is then local)."""
    remote = _remote()
    return iter([(*work, {})]) if remote is None else getattr(remote, how)(*work)


def _real_names(names: dict):
    """:func:`segmetrics.remote.real_names` of a chunk's names (there are none for local files)."""
    return _remote().real_names(names) if names else contextlib.nullcontext()


@contextlib.contextmanager
def _suggest_validate(command: str, kinds: tuple = (SegmetricsError,)):
    """An error of ``kinds`` about the data (not a missing prediction: its message lists them)
    leaves with a note (``exc.__notes__``) naming the ``segmetrics validate`` command that
    lists every problem of its kind; eval stops at the first."""
    try:
        yield
    except kinds as exc:
        if not isinstance(exc, MissingPredictionError):
            for note in quick_checks(error=exc, validate_command=command):
                exc.add_note(note)
        raise


def shard_of(image_id, num_shards: int) -> int:
    """The shard (``0..num_shards-1``) of an image: the first 8 bytes of the SHA-256 of its id,
    as a big-endian integer, modulo ``num_shards``.

    The id is hashed as bytes: a string id as :func:`os.fsencode` gives it (UTF-8, and the
    original bytes of a file name that is not UTF-8), an integer id as its decimal digits.
    The rule depends on nothing but the id, so every machine cuts a dataset alike.
    """
    text = str(int(image_id)) if isinstance(image_id, (int, np.integer)) and not isinstance(image_id, bool) \
        else str(image_id)
    return int.from_bytes(sha256(os.fsencode(text)).digest()[:8], "big") % int(num_shards)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` (:func:`check_shard`); :class:`InputError` naming the text otherwise."""
    index, sep, count = str(text).partition("/")
    if not sep:
        raise InputError(f"--shard {text}: write I/N, e.g. 0/4 (shards are numbered from 0)")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise InputError(f"--shard {text}: write I/N with integers, e.g. 0/4") from None
    return check_shard(i, n)


def check_shard(index, count) -> tuple[int, int]:
    """``(index, count)`` as ints, or :class:`InputError` (shards are numbered from 0)."""
    try:
        i, n = int(index), int(count)
    except (TypeError, ValueError):
        raise InputError(f"a shard is (index, count) with integers, got ({index!r}, {count!r})") from None
    if n < 1 or not 0 <= i < n:
        raise InputError(f"shard {i}/{n}: the index must be 0..{n - 1} (shards are numbered from 0) and the "
                         "count at least 1")
    return i, n


class _Sharded:
    """Sharding and the shard mark, shared by :class:`~segmetrics.folders.SemanticRun` and
    :class:`~segmetrics.folders.PanopticRun`."""

    _WORK = ""  # the field holding the run's images: pairs or items

    @property
    def work(self) -> list:
        """The images the run scores (``pairs`` or ``items``), sorted as the run keeps them."""
        return getattr(self, self._WORK)

    def shard(self, index: int, count: int):
        """The run restricted to shard ``index`` of ``count`` (:func:`shard_of` of each image id); the
        dataset's missing and extra ids are restricted alike, so merged shards give the whole run."""
        i, n = check_shard(index, count)
        if self.shard_index is not None:
            raise InputError("this run is a shard already")
        dataset = dict(self.dataset)
        for key in ("missing_ids", "extra_ids"):
            dataset[key] = [x for x in dataset[key] if shard_of(x, n) == i]
        return dataclasses.replace(self, **{self._WORK: [x for x in self.work if shard_of(x[0], n) == i]},
                                   count=dataclasses.replace(self.count, shards=n), dataset=dataset, shard_index=i)

    def evaluate(self, *, shard: Optional[tuple] = None, jobs=None, cache_dir=None,
                 progress: Optional[Callable[[int], None]] = None):
        """Count the run's images here (``shard``: only shard ``(index, count)`` of them) and
        return its result, with the GT cache's notes."""
        run = self if shard is None else self.shard(*shard)
        state, digests = run.count(run.work, jobs=jobs, cache_dir=cache_dir, progress=progress)
        return run.result(state, [x[0] for x in run.work], digests, notes=_cache_notes(cache_dir))

    def _mark_shard(self, state) -> None:
        if self.shard_index is not None and not state.shard_runs.any():
            state.add_shard(self.shard_index)


def _sibling_json(folder: Path) -> Path:
    return folder.parent / (folder.name + ".json")
