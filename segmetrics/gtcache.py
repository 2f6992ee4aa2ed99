"""On-disk cache of decoded ground truth, for scoring many predictions against one GT.

Leaderboards and per-epoch validation decode the same ground-truth PNGs again
and again.  The folder pipeline (:mod:`segmetrics._pipeline`) can instead keep
each decoded GT image as *runs per row*: ``values`` and ``lengths`` uint16
arrays, runs never crossing a row end.  For semantic GT a value is the label
after the evaluator's lookup table, ignore rule and ``reduce_zero_label``
(code ``c`` stored as ``c + 2``: 0 = bad label, 1 = ignored); for panoptic GT
it is the dense segment index (0 = void, ``1..n`` = the listed segment ids in
ascending order).  The counting kernels consume the runs directly, so a warm
image costs reading the GT file (to hash it), one read from the cache and
decoding only the prediction.

Entry key
---------
``sha256(format version, kind, params, per-image extra, GT file bytes)``: the
content of the GT file (not its name or time stamp) and every parameter that
changes the decoded form (``params``: the semantic code table, which folds in
``num_classes``, ``ignore_index``, ``gt_map`` and ``reduce_zero_label``;
``extra``: the sorted GT segment ids of a panoptic image).  A changed GT file or
setting therefore maps to a new entry; stale entries are never read
(:meth:`GTCache.clear` removes everything).

Files
-----
Creating a file costs far more than appending to one on many file systems, so
entries are packed: each writer thread of each run appends its entries to its
own ``<dir>/v1/<unique>.pack`` and, when the run ends (:meth:`GTCache.close`),
writes the pack's index ``<unique>.idx`` (keys, offsets, sizes; CRC-32 checked)
to a temporary file that :func:`os.replace` puts in place.  No two writers ever
share a file, so concurrent runs (threads or processes) filling the same entries
are safe: both packs hold a valid copy.  An entry is a 64-byte header (magic,
key, width, height, number of runs, CRC-32 of the payload) and the payload;
readers check all of it and treat any mismatch as a miss (the next copy of the
key, or a recomputation, is used).  A pack without index (a run that was
killed) is ignored.
"""
from __future__ import annotations

import hashlib
import os
import struct
import threading
import uuid
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["GTCache", "CachedRuns", "default_cache_dir", "FORMAT_VERSION"]

#: Bumped whenever the decoded form or the file layout changes.
FORMAT_VERSION = 1

_MAGIC = b"SMGTRUNS"
_HEADER = struct.Struct("<8s32sIIQI4x")  # magic, key, width, height, runs, crc32 -> 64 bytes
_IDX_MAGIC = b"SMGTIDX1"
_IDX_ROW = struct.Struct("<32sQQ")       # key, offset, size

try:  # libdeflate's CRC-32 (same polynomial as zlib's, several times faster)
    from deflate import crc32 as _crc32
except ImportError:  # pragma: no cover - deflate is a dependency of the PNG decoder
    _crc32 = zlib.crc32


class CachedRuns(NamedTuple):
    """One cached ground-truth image: runs per row and the image size."""

    values: np.ndarray
    lengths: np.ndarray
    width: int
    height: int


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/segmetrics``, else ``~/.cache/segmetrics``."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "segmetrics"


class _Writer:
    """One thread's pack file and the index rows of what it appended."""

    def __init__(self, root: Path):
        self.stem = root / f"{os.getpid()}-{uuid.uuid4().hex}"
        self.fh = open(self.stem.with_suffix(".pack"), "ab")
        self.offset = 0
        self.rows: list[bytes] = []


class GTCache:
    """A folder of decoded ground-truth entries, safe for concurrent threads and processes.

    Parameters
    ----------
    directory : path-like
        Where entries live (created on first write).  Files go under a
        ``v<FORMAT_VERSION>`` subfolder.
    kind : str
        ``"semantic"`` or ``"panoptic"`` (part of every key).
    params : bytes
        Everything besides the GT file that changes the decoded form of every
        image (see the module docstring); part of every key.

    Notes
    -----
    Call :meth:`close` (or use the object as a context manager) when a run is
    done: it writes the indexes that make the new entries visible to later runs.
    Failing to write (read-only or full disk) never fails an evaluation:
    :attr:`write_errors` counts it and writing stops.
    """

    def __init__(self, directory, kind: str, params: bytes = b""):
        self.root = Path(directory) / f"v{FORMAT_VERSION}"
        base = hashlib.sha256()
        for part in (f"segmetrics-gtcache-{FORMAT_VERSION}".encode(), kind.encode(), params):
            base.update(len(part).to_bytes(8, "little"))
            base.update(part)
        self._base = base
        self._lock = threading.Lock()
        self._index: dict[bytes, list[tuple[Path, int, int]]] | None = None
        self._local = threading.local()
        self._writers: list[_Writer] = []
        self._files: list = []
        self._writable = True
        self.hits = self.misses = self.writes = self.write_errors = self.bad_entries = 0

    # ---------------------------------------------------------------- keys
    def key(self, gt_content: bytes, extra: bytes = b"") -> bytes:
        """The 32-byte key of a GT file's content (plus per-image parameters ``extra``)."""
        h = self._base.copy()
        h.update(len(extra).to_bytes(8, "little"))
        h.update(extra)
        h.update(gt_content)
        return h.digest()

    # ---------------------------------------------------------------- reading
    def _load_index(self) -> dict:
        with self._lock:
            if self._index is not None:
                return self._index
            index: dict[bytes, list[tuple[Path, int, int]]] = {}
            try:
                idx_files = sorted(self.root.glob("*.idx"), key=_mtime)
            except OSError:
                idx_files = []
            for idx in idx_files:  # oldest first: newer copies are tried first
                rows = _read_index(idx)
                pack = idx.with_suffix(".pack")
                for key, offset, size in rows:
                    index.setdefault(key, []).insert(0, (pack, offset, size))
            self._index = index
            return index

    def get(self, key: bytes) -> CachedRuns | None:
        """The entry of ``key``, or None when it is missing or every copy fails a check."""
        locations = self._load_index().get(key)
        if locations:
            for loc in list(locations):
                entry = self._read_entry(loc, key)
                if entry is not None:
                    self._count("hits")
                    return entry
                self._count("bad_entries")
                self.discard(key, loc)
        self._count("misses")
        return None

    def _read_entry(self, loc: tuple[Path, int, int], key: bytes) -> CachedRuns | None:
        pack, offset, size = loc
        handles = getattr(self._local, "handles", None)
        if handles is None:
            handles = self._local.handles = {}
        fd = handles.get(pack)
        try:
            if fd is None:
                fd = handles[pack] = os.open(pack, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                with self._lock:
                    self._files.append(fd)
            data = os.pread(fd, size, offset)
        except OSError:
            return None
        return _parse(data, key)

    def discard(self, key: bytes, location=None) -> None:
        """Forget a copy of ``key`` for this run (all copies when ``location`` is None)."""
        index = self._load_index()
        with self._lock:
            locs = index.get(key)
            if not locs:
                return
            if location is None:
                del index[key]
            elif location in locs:
                locs.remove(location)

    # ---------------------------------------------------------------- writing
    def put(self, key: bytes, payload: bytes, n_runs: int, width: int, height: int) -> bool:
        """Append an entry (``payload``: ``n_runs`` uint16 values then lengths, little-endian)."""
        if not self._writable or len(payload) != 4 * n_runs:
            return False
        header = _HEADER.pack(_MAGIC, key, width, height, n_runs, _crc32(payload))
        try:
            w = getattr(self._local, "writer", None)
            if w is None:
                self.root.mkdir(parents=True, exist_ok=True)
                w = self._local.writer = _Writer(self.root)
                with self._lock:
                    self._writers.append(w)
            w.fh.write(header)
            w.fh.write(payload)
        except OSError:
            self._writable = False
            self._count("write_errors")
            return False
        w.rows.append(_IDX_ROW.pack(key, w.offset, _HEADER.size + len(payload)))
        w.offset += _HEADER.size + len(payload)
        self._count("writes")
        return True

    def close(self) -> None:
        """Publish what this run wrote (pack indexes) and close every file."""
        with self._lock:
            writers, self._writers = self._writers, []
            files, self._files = self._files, []
        for fd in files:
            try:
                os.close(fd)
            except OSError:
                pass
        self._local = threading.local()
        for w in writers:
            try:
                w.fh.close()
                if not w.rows:
                    os.unlink(w.fh.name)
                    continue
                body = b"".join(w.rows)
                tmp = w.stem.with_suffix(".idx.tmp")
                with open(tmp, "wb") as fh:
                    fh.write(_IDX_MAGIC + struct.pack("<QI", len(w.rows), _crc32(body)) + body)
                os.replace(tmp, w.stem.with_suffix(".idx"))
            except OSError:
                self._count("write_errors")
        self._index = None

    def __enter__(self) -> "GTCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def clear(self) -> int:
        """Remove every pack and index of this format version (all kinds); returns how many files."""
        n = 0
        if not self.root.is_dir():
            return 0
        for p in list(self.root.iterdir()):
            if p.suffix in (".pack", ".idx", ".tmp"):
                try:
                    p.unlink()
                    n += 1
                except OSError:
                    pass
        with self._lock:
            self._index = None
        return n

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def _read_index(path: Path) -> list[tuple[bytes, int, int]]:
    """Rows of an index file; [] when it is missing or fails its check."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    head = len(_IDX_MAGIC) + 12
    if len(data) < head or data[:len(_IDX_MAGIC)] != _IDX_MAGIC:
        return []
    n, crc = struct.unpack_from("<QI", data, len(_IDX_MAGIC))
    body = memoryview(data)[head:]
    if len(body) != n * _IDX_ROW.size or _crc32(body) != crc:
        return []
    return list(_IDX_ROW.iter_unpack(body))


def _parse(data: bytes, key: bytes) -> CachedRuns | None:
    if len(data) < _HEADER.size:
        return None
    magic, k, width, height, n, crc = _HEADER.unpack_from(data)
    if magic != _MAGIC or k != key or len(data) != _HEADER.size + 4 * n:
        return None
    if _crc32(memoryview(data)[_HEADER.size:]) != crc:
        return None
    values = np.frombuffer(data, dtype="<u2", count=n, offset=_HEADER.size)
    lengths = np.frombuffer(data, dtype="<u2", count=n, offset=_HEADER.size + 2 * n)
    if not values.dtype.isnative:
        values, lengths = values.astype(np.uint16), lengths.astype(np.uint16)
    return CachedRuns(values, lengths, int(width), int(height))
