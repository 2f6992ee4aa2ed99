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
``sha256(format version, kind, params, per-image extra, sha256(GT file bytes))``:
the content of the GT file (not its name or time stamp), through the SHA-256
digest the run computes anyway for the dataset fingerprint (each GT file is read
and hashed once), and every parameter that
changes the decoded form (``params``: the semantic code table, which folds in
``num_classes``, ``ignore_index``, ``gt_map`` and ``reduce_zero_label``;
``extra``: the sorted GT segment ids of a panoptic image).  A changed GT file or
setting therefore maps to a new entry; stale entries are never read
(:meth:`GTCache.clear` removes everything).

Files
-----
Creating a file costs far more than appending to one on many file systems, so
entries are packed: each writer thread of each run appends its entries to its
own ``<dir>/v<FORMAT_VERSION>/<unique>.pack`` and, when the run ends (:meth:`GTCache.close`),
writes the pack's index ``<unique>.idx`` (keys, offsets, sizes; CRC-32 checked)
to a temporary file that :func:`os.replace` puts in place.  An entry is a 64-byte
header (magic, key, width, height, number of runs, CRC-32 of the payload) and the
payload; readers check all of it and treat any mismatch as a miss (the next copy
of the key, or a recomputation, is used), and an index row whose entry does not
fit inside its pack file is dropped as corrupt before anything is read.

Concurrent runs and hygiene
---------------------------
One run at a time stores entries: a run takes the lock file ``<dir>/v<FORMAT_VERSION>/writer.lock``
(an exclusive, non-blocking ``flock``) at its first store and keeps it until
:meth:`GTCache.close` has published its indexes.  Another run that finds the lock
taken reads the cache but stores nothing (a note says so), so two concurrent cold
runs do not store two copies of every entry.  A pack file without an index was
left by a run that was killed before it published; whenever a run loads the index
and can take the lock (so no run is writing), it removes such packs and stray
temporary files.  On systems without ``fcntl`` (Windows) there is no lock: packs
without an index are removed once they are a day old, and concurrent runs may
store duplicate copies (still correct, only larger).  :func:`cache_info` reports
the size, entries and orphans of a cache folder and :func:`cache_clear` empties it.

A folder that cannot be used (read-only, not a folder, full disk) never fails an
evaluation: the run scores without storing, and :attr:`GTCache.notes` holds one
line saying so (the CLI prints it).
"""
from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._sha import sha256

__all__ = ["GTCache", "CachedRuns", "file_digest", "default_cache_dir", "FORMAT_VERSION", "cache_info", "cache_clear",
           "probe_cache_dir"]

#: Bumped whenever the decoded form, the file layout or the key derivation changes
#: (2: keys hash the GT file's SHA-256 digest instead of its bytes).
FORMAT_VERSION = 2

_MAGIC = b"SMGTRUNS"
_HEADER = struct.Struct("<8s32sIIQI4x")  # magic, key, width, height, runs, crc32 -> 64 bytes
_IDX_MAGIC = b"SMGTIDX1"
_IDX_ROW = struct.Struct("<32sQQ")       # key, offset, size
_LOCK_NAME = "writer.lock"
_SUFFIXES = (".pack", ".idx", ".tmp")     # the only files cache_clear removes (and the lock)
#: Without fcntl, a pack file without index this old (seconds) is an orphan.
ORPHAN_AGE = 24 * 3600

try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows
    _fcntl = None

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


def file_digest(content: bytes) -> bytes:
    """SHA-256 of a GT file's bytes: the one digest that keys the cache and enters the
    dataset fingerprint of a semantic run (:func:`segmetrics.state.fingerprint`)."""
    return sha256(content).digest()


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/segmetrics``, else ``~/.cache/segmetrics``."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "segmetrics"


class _Writer:
    """One thread's pack file and the index rows of what it appended."""

    def __init__(self, root: Path):
        self.stem = root / f"{os.getpid()}-{os.urandom(16).hex()}"  # (uuid4's randomness, without uuid)
        self.fh = open(self.stem.with_suffix(".pack"), "ab")
        self.offset = 0
        self.rows: list[bytes] = []


def _try_lock(root: Path) -> tuple[int | None, bool]:
    """Open ``root/writer.lock`` and try to take it: ``(fd, taken)``; ``fd`` is None
    without fcntl (no locking).  Raises OSError when the lock file cannot be made."""
    if _fcntl is None:
        return None, True
    fd = os.open(root / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None, False
    return fd, True


def _lock_if_free(root: Path) -> tuple[int | None, bool]:
    """:func:`_try_lock`, where a lock file that cannot be made counts as free (a
    folder nobody can write has no writer)."""
    try:
        return _try_lock(root)
    except OSError:
        return None, True


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the file releases the flock


def _unusable_note(directory, exc: BaseException) -> str:
    """The one wording of "this cache folder cannot be written"."""
    why = getattr(exc, "strerror", None) or str(exc)
    return (f"the ground-truth cache folder {directory} cannot be written ({why}); this run does not "
            f"store decoded ground truth (choose another folder with --cache-dir, or --no-cache)")


def probe_cache_dir(directory) -> str | None:
    """Check that a cache folder can be created and written, without storing anything.

    Returns
    -------
    str or None
        None when the folder is usable, else the one-line note :class:`GTCache`
        would give (read-only, a file in the way, ...).
    """
    root = Path(directory) / f"v{FORMAT_VERSION}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        os.close(fd)
        if not os.access(root, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        return _unusable_note(directory, exc)
    return None


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

    Attributes
    ----------
    notes : list of str
        Lines for the user: the folder cannot be written, or another run is
        storing entries (this one then only reads).  Empty when all went well.
    hits, misses, writes, write_errors, bad_entries : int
        Counters of this object's work.

    Notes
    -----
    Call :meth:`close` (or use the object as a context manager) when a run is
    done: it writes the indexes that make the new entries visible to later runs
    and releases the writer lock.  Failing to write (read-only or full disk) never
    fails an evaluation: :attr:`write_errors` counts it, :attr:`notes` says it and
    writing stops.
    """

    def __init__(self, directory, kind: str, params: bytes = b""):
        self.directory = Path(directory)
        self.root = self.directory / f"v{FORMAT_VERSION}"
        base = sha256()
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
        self._writer_lock: int | None = None
        self._holds_writer_lock = False
        self.notes: list[str] = []
        self.hits = self.misses = self.writes = self.write_errors = self.bad_entries = 0

    # ---------------------------------------------------------------- keys
    def key(self, gt_digest: bytes, extra: bytes = b"") -> bytes:
        """The 32-byte key of a GT file, from the SHA-256 digest of its bytes (:func:`file_digest`)
        and the per-image parameters ``extra``."""
        h = self._base.copy()
        h.update(len(extra).to_bytes(8, "little"))
        h.update(extra)
        h.update(gt_digest)
        return h.digest()

    # ---------------------------------------------------------------- reading
    def _load_index(self) -> dict:
        with self._lock:
            if self._index is not None:
                return self._index
            if not self._holds_writer_lock:
                _remove_orphans(self.root)
            index: dict[bytes, list[tuple[Path, int, int]]] = {}
            try:
                idx_files = sorted(self.root.glob("*.idx"), key=_mtime)
            except OSError:
                idx_files = []
            for idx in idx_files:  # oldest first: newer copies are tried first
                rows = _read_index(idx)
                pack = idx.with_suffix(".pack")
                size = _size(pack)
                for key, offset, n in rows:
                    if n < _HEADER.size or offset + n > size:  # does not fit its pack: corrupt
                        self.bad_entries += 1
                        continue
                    index.setdefault(key, []).insert(0, (pack, offset, n))
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
        except (OSError, OverflowError, MemoryError):
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
    def _start_writing(self) -> bool:
        """Take the writer lock once per run (under ``self._lock``); False when this run
        must not store (the folder is unusable, or another run is storing)."""
        if self._holds_writer_lock:
            return True
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, taken = _try_lock(self.root)
        except OSError as exc:
            self._writable = False
            self.write_errors += 1
            self.notes.append(_unusable_note(self.directory, exc))
            return False
        if not taken:
            self._writable = False
            self.notes.append(
                f"another segmetrics run is storing entries in the ground-truth cache {self.directory}; "
                f"this run reads the cache but stores nothing (no second copy)")
            return False
        self._writer_lock, self._holds_writer_lock = fd, True
        return True

    def put(self, key: bytes, payload: bytes, n_runs: int, width: int, height: int) -> bool:
        """Append an entry (``payload``: ``n_runs`` uint16 values then lengths, little-endian)."""
        if not self._writable or len(payload) != 4 * n_runs:
            return False
        header = _HEADER.pack(_MAGIC, key, width, height, n_runs, _crc32(payload))
        try:
            w = getattr(self._local, "writer", None)
            if w is None:
                with self._lock:
                    if not self._writable or not self._start_writing():
                        return False
                w = self._local.writer = _Writer(self.root)
                with self._lock:
                    self._writers.append(w)
            w.fh.write(header)
            w.fh.write(payload)
        except OSError as exc:
            with self._lock:
                if self._writable:
                    self.notes.append(_unusable_note(self.directory, exc))
                self._writable = False
            self._count("write_errors")
            return False
        w.rows.append(_IDX_ROW.pack(key, w.offset, _HEADER.size + len(payload)))
        w.offset += _HEADER.size + len(payload)
        self._count("writes")
        return True

    def close(self) -> None:
        """Publish what this run wrote (pack indexes), close every file and release the
        writer lock (after the indexes are in place, so no pack is ever seen orphaned)."""
        with self._lock:
            writers, self._writers = self._writers, []
            files, self._files = self._files, []
            lock_fd, self._writer_lock, self._holds_writer_lock = self._writer_lock, None, False
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
        _unlock(lock_fd)
        self._index = None

    def __enter__(self) -> "GTCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def clear(self) -> int:
        """Remove every entry of the cache folder (see :func:`cache_clear`); returns how many files."""
        n = cache_clear(self.directory)["removed_files"]
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


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _orphans(root: Path, *, locked: bool) -> list[Path]:
    """Pack files without index, temporary index files and indexes without pack in
    ``root``, that no run is writing: all of them when ``locked`` (this caller holds the
    writer lock, or there is no locking and they are older than :data:`ORPHAN_AGE`)."""
    names = {p.name: p for p in _listing(root)}
    out = []
    now = time.time()
    for name, p in names.items():
        stem, _, suffix = name.partition(".")
        if suffix == "pack" and f"{stem}.idx" in names:
            continue
        if suffix == "idx" and f"{stem}.pack" in names:
            continue
        if suffix not in ("pack", "idx", "idx.tmp"):
            continue
        if locked or (_fcntl is None and now - _mtime(p) > ORPHAN_AGE):
            out.append(p)
    return out


def _remove_orphans(root: Path) -> None:
    """Remove what killed runs left behind (see the module docstring), when no run is writing."""
    if not root.is_dir():
        return
    try:
        fd, taken = _try_lock(root)
    except OSError:
        return
    if not taken:
        return
    try:
        for p in _orphans(root, locked=_fcntl is not None):
            try:
                p.unlink()
            except OSError:
                pass
    finally:
        _unlock(fd)


def _listing(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _version_dirs(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.is_dir() and p.name[:1] == "v" and p.name[1:].isdigit())
    except OSError:
        return []


def cache_info(cache_dir=None) -> dict:
    """What a ground-truth cache folder holds (``cache_dir``, default
    :func:`default_cache_dir`), for ``segmetrics cache info``.

    Returns
    -------
    dict
        ``location`` (str), ``exists`` (bool), ``format_version`` (this version),
        ``size_bytes`` and ``files`` (every cache file of every format version),
        ``entries`` (entries of this version listed by valid indexes), ``packs``
        (indexed pack files), ``orphans`` and ``orphan_bytes`` (pack and temporary
        files of interrupted runs, removed by the next run), ``old_versions``
        (format versions other than this one, whose files no run reads), and
        ``in_use`` (a run holds the writer lock now; None without fcntl).
    """
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    info = {"location": str(directory), "exists": directory.is_dir(), "format_version": FORMAT_VERSION,
            "size_bytes": 0, "files": 0, "entries": 0, "packs": 0, "orphans": 0, "orphan_bytes": 0,
            "old_versions": [], "in_use": None if _fcntl is None else False}
    for vdir in _version_dirs(directory):
        current = vdir.name == f"v{FORMAT_VERSION}"
        if not current:
            info["old_versions"].append(int(vdir.name[1:]))
        for p in _listing(vdir):
            if p.name.endswith(_SUFFIXES):
                info["files"] += 1
                info["size_bytes"] += _size(p)
        if not current:
            continue
        if _fcntl is not None:
            fd, taken = _lock_if_free(vdir)
            _unlock(fd)
            info["in_use"] = not taken
        keys = set()
        for idx in vdir.glob("*.idx"):
            rows = _read_index(idx)
            if rows:
                info["packs"] += 1
                keys.update(row[0] for row in rows)
        info["entries"] = len(keys)
        for p in _orphans(vdir, locked=True):
            if p.name.endswith(".pack") or p.name.endswith(".tmp"):
                info["orphans"] += 1
                info["orphan_bytes"] += _size(p)
    return info


def cache_clear(cache_dir=None) -> dict:
    """Remove the entries of the ground-truth cache folder ``cache_dir`` (default
    :func:`default_cache_dir`), for ``segmetrics cache clear``.

    Returns
    -------
    dict
        ``location`` (str), ``removed_files``, ``removed_bytes``, and ``in_use``:
        the pack files a running evaluation is writing now (left in place).

    Notes
    -----
    Only the cache's own files are removed (``*.pack``, ``*.idx``, ``*.tmp`` in the
    ``v<N>`` subfolders of every format version), never anything else, so pointing
    it at the wrong folder does no harm.  The lock file stays (removing it could let
    two runs write at once).  While another run holds the writer lock, its pack
    files without an index are left alone; a reader that has a pack open keeps
    reading it (POSIX) or misses.
    """
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out = {"location": str(directory), "removed_files": 0, "removed_bytes": 0, "in_use": 0}
    for vdir in _version_dirs(directory):
        fd, taken = _lock_if_free(vdir)
        try:
            in_progress = set() if taken else {p.name for p in _orphans(vdir, locked=True)
                                               if p.name.endswith((".pack", ".tmp"))}
            for p in _listing(vdir):
                if not p.name.endswith(_SUFFIXES) or not p.is_file():
                    continue
                if p.name in in_progress:
                    out["in_use"] += 1
                    continue
                size = _size(p)
                try:
                    p.unlink()
                except OSError:
                    continue
                out["removed_files"] += 1
                out["removed_bytes"] += size
        finally:
            _unlock(fd)
    return out


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
