"""On-disk cache of decoded ground truth, for scoring many predictions against one GT.

Leaderboards and per-epoch validation decode the same ground-truth PNGs again
and again.  The folder pipeline (:mod:`segmetrics._pipeline`) can instead keep
each decoded GT image as *runs per row*: ``values`` and ``lengths`` uint16
arrays, runs never crossing a row end.  For semantic GT a value is the label
after the evaluator's lookup table, ignore rule and ``reduce_zero_label``
(code ``c`` stored as ``c + 2``: 0 = bad label, 1 = ignored); for panoptic GT
it is the dense segment index (0 = void, ``1..n`` = the listed segment ids in
ascending order).  The counting kernels consume the runs directly, so a warm
image costs reading one small file and decoding only the prediction.

Entry key
---------
``sha256(format version, kind, params, GT file bytes)``: the content of the GT
file (not its name or time stamp) and every parameter that changes the decoded
form (``params``: the semantic code table, which folds in ``num_classes``,
``ignore_index``, ``gt_map`` and ``reduce_zero_label``; the sorted GT segment ids
for panoptic).  A changed GT file or setting therefore maps to a new entry and
stale entries are never read (:meth:`GTCache.clear` removes them).

Entry file
----------
``<dir>/v1/<key[:2]>/<key>.runs``: a 64-byte header (magic, the key, width,
height, number of runs, CRC-32 of the payload) followed by the values and the
lengths.  Writers write a temporary file in the same folder and
:func:`os.replace` it into place, so readers see a whole entry or none, and two
processes filling the same entry at once are safe (the last one wins; both
wrote the same bytes).  Readers check the header, the size and the CRC and
treat any mismatch as a miss (the entry is then rewritten).
"""
from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import threading
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["GTCache", "CachedRuns", "default_cache_dir", "FORMAT_VERSION"]

#: Bumped whenever the decoded form or the file layout changes.
FORMAT_VERSION = 1

_MAGIC = b"SMGTRUNS"
_HEADER = struct.Struct("<8s32sIIQI4x")  # magic, key, width, height, runs, crc32 -> 64 bytes

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


class GTCache:
    """A folder of decoded ground-truth entries (thread- and process-safe).

    Parameters
    ----------
    directory : path-like
        Where entries live (created on first write).  Entries go under a
        ``v<FORMAT_VERSION>`` subfolder.
    kind : str
        ``"semantic"`` or ``"panoptic"`` (part of every key).
    params : bytes
        Everything besides the GT file that changes the decoded form (see the
        module docstring); part of every key.

    Notes
    -----
    Failing to write an entry (read-only or full disk) never fails an
    evaluation: :meth:`put` returns False and :attr:`write_errors` counts it.
    """

    def __init__(self, directory, kind: str, params: bytes = b""):
        self.root = Path(directory) / f"v{FORMAT_VERSION}"
        base = hashlib.sha256()
        for part in (f"segmetrics-gtcache-{FORMAT_VERSION}".encode(), kind.encode(), params):
            base.update(len(part).to_bytes(8, "little"))
            base.update(part)
        self._base = base
        self._lock = threading.Lock()
        self.hits = self.misses = self.writes = self.write_errors = self.bad_entries = 0

    def key(self, gt_content: bytes, extra: bytes = b"") -> bytes:
        """The 32-byte key of a GT file's content (plus per-image parameters ``extra``)."""
        h = self._base.copy()
        h.update(len(extra).to_bytes(8, "little"))
        h.update(extra)
        h.update(gt_content)
        return h.digest()

    def path(self, key: bytes) -> Path:
        """Where the entry of ``key`` lives."""
        hx = key.hex()
        return self.root / hx[:2] / f"{hx}.runs"

    def get(self, key: bytes) -> CachedRuns | None:
        """The entry of ``key``, or None when it is missing or fails a check."""
        try:
            with open(self.path(key), "rb") as fh:
                data = fh.read()
        except OSError:
            self._count("misses")
            return None
        entry = self._parse(data, key)
        if entry is None:
            self._count("bad_entries")
            self._count("misses")
        else:
            self._count("hits")
        return entry

    @staticmethod
    def _parse(data: bytes, key: bytes) -> CachedRuns | None:
        if len(data) < _HEADER.size:
            return None
        magic, k, width, height, n, crc = _HEADER.unpack_from(data)
        if magic != _MAGIC or k != key or len(data) != _HEADER.size + 4 * n:
            return None
        payload = memoryview(data)[_HEADER.size:]
        if _crc32(payload) != crc:
            return None
        values = np.frombuffer(data, dtype="<u2", count=n, offset=_HEADER.size)
        lengths = np.frombuffer(data, dtype="<u2", count=n, offset=_HEADER.size + 2 * n)
        return CachedRuns(values, lengths, int(width), int(height))

    def put(self, key: bytes, values: np.ndarray, lengths: np.ndarray, width: int, height: int) -> bool:
        """Store an entry atomically (temporary file + :func:`os.replace`); False on failure."""
        payload = np.ascontiguousarray(values, dtype="<u2").tobytes() + np.ascontiguousarray(
            lengths, dtype="<u2").tobytes()
        header = _HEADER.pack(_MAGIC, key, width, height, len(values), _crc32(payload))
        final = self.path(key)
        tmp = None
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(header)
                fh.write(payload)
            os.replace(tmp, final)
        except OSError:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            self._count("write_errors")
            return False
        self._count("writes")
        return True

    def discard(self, key: bytes) -> None:
        """Remove the entry of ``key`` if present."""
        try:
            os.unlink(self.path(key))
        except OSError:
            pass

    def clear(self) -> int:
        """Remove every entry of this format version (all kinds); returns how many."""
        n = 0
        if not self.root.is_dir():
            return 0
        for p in self.root.glob("*/*.runs"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
        return n

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)
