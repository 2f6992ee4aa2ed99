"""Remote data: ground truth and predictions behind fsspec URLs (``s3://``, ``gs://``, ``https://``, ``memory://``).

The folder API and ``segmetrics eval`` take URLs wherever they take paths
(``--gt``, ``--pred``, ``--gt-folder``, ``--pred-folder``; a COCO-panoptic JSON
too).  Nothing here talks to a network itself: fsspec does (with the
``[dist]`` extra; ``https://`` needs aiohttp, ``s3://`` s3fs, ``gs://`` gcsfs,
installed by the user), and the compiled pipeline reads local files, so:

* listing: a folder URL is listed with ``fs.find``; files are keyed and paired
  by the very rule of local folders (:func:`segmetrics.io.folders.label_keys`,
  :func:`~segmetrics.io.folders.pair_keys`);
* staging: before a chunk of images is scored, its files are fetched into a
  temporary folder by a bounded thread pool (:data:`FETCH_THREADS`), and the
  next chunk is fetched while the current one is scored (:func:`staged`), so
  decoding waits on the network only when the network is the slower side; a
  chunk's files are removed once it is scored (disk use stays bounded);
* names: errors name the URL, not the temporary copy (:func:`real_names`).

In a Dask run (:mod:`segmetrics.dask`) the worker that scores a chunk fetches
its files; the client only lists the folders, reads the panoptic JSONs and, for
``pred_labels="auto"``, the few sampled images.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path, PurePosixPath
from typing import Iterator, Optional, Sequence

from ._sha import sha256
from .errors import DataFileError, SegmetricsError
from .io.folders import label_keys, pair_keys

__all__ = ["FETCH_THREADS", "CHUNK", "RemoteFile", "is_url", "pair_label_urls", "staged", "staged_pairs",
           "staged_panoptic", "real_names", "fetch_bytes", "local_copy", "as_path"]

#: Files fetched at once (one thread each; the rest wait).
FETCH_THREADS = 8
#: Images per staged chunk.
CHUNK = 32

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+://")


def is_url(x) -> bool:
    """Whether ``x`` is an fsspec URL (``scheme://...``, the scheme two letters or more) or a :class:`RemoteFile`."""
    return isinstance(x, RemoteFile) or (isinstance(x, str) and bool(_URL.match(x)))


def _fs(url: str):
    try:
        import fsspec
    except ImportError:
        raise DataFileError(f"{url}: reading URLs needs fsspec (pip install 'segmetrics[dist]')") from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:  # an unknown protocol or its package missing
        raise DataFileError(f"{url}: {exc}") from None


def fetch_bytes(url: str) -> bytes:
    """The bytes of one file URL; :class:`DataFileError` naming the URL when it cannot be read."""
    fs, path = _fs(url)
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        raise DataFileError(f"file not found: {url}") from None
    except Exception as exc:  # noqa: BLE001 - every backend raises its own errors; one line naming the URL
        raise DataFileError(f"cannot read {url}: {type(exc).__name__}: {exc}") from None


class RemoteFile(os.PathLike):
    """A file behind a URL that reads as a local path: ``str()`` is the URL (messages name it),
    ``os.fspath()`` a local copy fetched on first use (kept in a per-process folder removed at exit).

    Picklable as its URL, so a Dask worker fetches what it scores itself.
    """

    __slots__ = ("url",)

    def __init__(self, url: str) -> None:
        self.url = str(url)

    def __fspath__(self) -> str:
        return local_copy(self.url)

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"RemoteFile({self.url!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, RemoteFile) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __reduce__(self):
        return (RemoteFile, (self.url,))

    def __truediv__(self, name) -> "RemoteFile":
        return RemoteFile(self.url.rstrip("/") + "/" + str(name))

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


_process_dir: Optional[str] = None
_process_lock = threading.Lock()


def local_copy(url: str) -> str:
    """A local copy of ``url`` in this process's staging folder (fetched once per process)."""
    global _process_dir
    with _process_lock:
        if _process_dir is None:
            _process_dir = tempfile.mkdtemp(prefix="segmetrics-remote-")
            atexit.register(shutil.rmtree, _process_dir, True)
    name = PurePosixPath(url.split("?", 1)[0]).name or "file"
    path = os.path.join(_process_dir, sha256(url.encode("utf-8")).hexdigest()[:16], name)
    if not os.path.exists(path):
        data = fetch_bytes(url)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------- listing and pairing
def _listing(url: str, what: str) -> Iterator[tuple[PurePosixPath, list]]:
    """``(folder relative to url, file names)`` of every non-hidden file under a folder URL."""
    fs, root = _fs(url)
    try:
        found = fs.find(root, detail=False)
        if not found and not fs.exists(root):
            raise FileNotFoundError(root)
    except FileNotFoundError:
        raise DataFileError(f"{what} path not found: {url}") from None
    except Exception as exc:  # noqa: BLE001 - one line naming the URL, whatever the backend raised
        raise DataFileError(f"cannot list the {what} folder {url}: {type(exc).__name__}: {exc}") from None
    prefix = root.rstrip("/") + "/"
    folders: dict = {}
    for p in sorted(found):
        if not p.startswith(prefix):
            continue  # a link out of the folder (HTTP listings)
        rel = PurePosixPath(p[len(prefix):])
        if any(part.startswith(".") for part in rel.parts):
            continue
        folders.setdefault(rel.parent, []).append(rel.name)
    return iter(sorted(folders.items()))


def _find_label_urls(url: str, *, suffix: str = "", strip_suffixes: Sequence[str] = (), what: str) -> dict:
    base = url.rstrip("/")
    if PurePosixPath(base.split("?", 1)[0]).suffix.lower() == ".png":  # a single file
        parent, _, name = base.rpartition("/")
        return label_keys([(PurePosixPath(), [name])], lambda rel, n: RemoteFile(f"{parent}/{n}"),
                          suffix=suffix, strip_suffixes=strip_suffixes, what=what)
    return label_keys(_listing(base, what), lambda rel, n: RemoteFile(f"{base}/{(rel / n).as_posix()}"),
                      suffix=suffix, strip_suffixes=strip_suffixes, what=what)


def pair_label_urls(gt, pred, *, gt_suffix: str = "", pred_suffixes: Sequence[str] = (),
                    allow_missing: bool = False):
    """:func:`segmetrics.io.folders.pair_label_files` where either side is a URL (the other may be a
    local folder); the paths of the pairs are :class:`RemoteFile` objects (or local paths)."""
    from .io.folders import find_label_files

    def find(root, **kw):
        if is_url(root):
            return _find_label_urls(str(root), **kw)
        return find_label_files(root, notes=notes, **kw)

    notes: list = []
    g = find(gt, suffix=gt_suffix, what="ground-truth")
    if not g:
        return pair_keys(g, {}, gt_root=gt, pred_root=pred, gt_suffix=gt_suffix)  # names the error
    p = find(pred, strip_suffixes=pred_suffixes, what="prediction")
    single = len(g) == 1 and len(p) == 1 and str(gt).lower().endswith(".png") and str(pred).lower().endswith(".png")
    return pair_keys(g, p, gt_root=gt, pred_root=pred, gt_suffix=gt_suffix, allow_missing=allow_missing,
                     single=single, notes=notes)


# ----------------------------------------------------------------------------- staging
def _fetch_to(url: str, path: str) -> None:
    data = fetch_bytes(url)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def staged(chunks: Sequence[list], *, threads: int = FETCH_THREADS) -> Iterator[tuple[str, dict]]:
    """Fetch each chunk's files into a temporary folder, one chunk ahead of the consumer.

    ``chunks``: per chunk, a list of ``(url, relative local path)``.  Yields
    ``(folder, {local path: url})`` per chunk, in order, once all its files are
    there; the chunk's folder is removed when the consumer asks for the next
    one (or stops).  A file that cannot be fetched is a :class:`DataFileError`
    naming its URL, raised when its chunk is due.
    """
    root = tempfile.mkdtemp(prefix="segmetrics-stage-")
    from concurrent.futures import ThreadPoolExecutor  # (with logging: 0.7 MB that local runs do not need)

    pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="segmetrics-fetch")

    def submit(j: int):
        folder = os.path.join(root, str(j))
        return folder, [(pool.submit(_fetch_to, url, os.path.join(folder, rel)), os.path.join(folder, rel), url)
                        for url, rel in chunks[j]]

    try:
        ahead = submit(0) if chunks else None
        for j in range(len(chunks)):
            folder, futures = ahead
            ahead = submit(j + 1) if j + 1 < len(chunks) else None  # the next chunk while this one is scored
            for fut, _, _ in futures:
                fut.result()
            yield folder, {local: url for _, local, url in futures}
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def real_names(names: dict) -> Iterator[None]:
    """Errors raised inside name the URLs of ``names`` (local path -> URL) instead of the local copies."""
    try:
        yield
    except SegmetricsError as exc:
        if names and exc.args and isinstance(exc.args[0], str):
            text = exc.args[0]
            for local in sorted(names, key=len, reverse=True):
                text = text.replace(local, names[local])
            exc.args = (text,) + tuple(exc.args[1:])
            if isinstance(getattr(exc, "file", None), str):
                exc.file = names.get(exc.file, exc.file)
        raise


def staged_pairs(pairs: list) -> Iterator[tuple[list, dict]]:
    """``(image_id, gt, pred)`` pairs with local paths, chunk by chunk (see :func:`staged`), and the
    local path -> URL names of each chunk; all the pairs at once when none is remote."""
    if not any(type(p) is not str and isinstance(p, RemoteFile) for q in pairs for p in q[1:]):  # (str: local)
        yield pairs, {}
        return
    chunks = chunked(pairs)
    fetch = [[(p.url, local_name(p.url, j)) for j, p in enumerate(x for q in chunk for x in q[1:]
                                                                 if isinstance(x, RemoteFile))] for chunk in chunks]
    for chunk, jobs, (folder, names) in zip(chunks, fetch, staged(fetch)):
        local = {url: os.path.join(folder, rel) for url, rel in jobs}
        yield [(i, *(local[p.url] if isinstance(p, RemoteFile) else p for p in paths)) for i, *paths in chunk], names


def staged_panoptic(items: list, gt, pred) -> Iterator[tuple[list, object, object, dict]]:
    """``(items, gt, pred, names)`` chunk by chunk with the PNGs of each chunk local (see :func:`staged`):
    the datasets are cut to the chunk, their folder is the chunk's folder and each annotation's
    ``file_name`` its local name; the datasets themselves when their folders are local."""
    import dataclasses

    from .io.coco_panoptic import resolve_annotation

    if not (isinstance(gt.folder, RemoteFile) or isinstance(pred.folder, RemoteFile)):
        yield items, gt, pred, {}
        return
    chunks = chunked(items)
    plans = []
    for chunk in chunks:
        jobs, renamed = [], []
        for image_id, g_ann, p_ann in chunk:
            anns = []
            for ds, ann, side in ((gt, g_ann, "gt"), (pred, p_ann, "pred")):
                if ann is None:
                    anns.append(None)
                    continue
                ann = resolve_annotation(ds.annotations, image_id, ann)
                src = ds.png_path(image_id)
                rel = local_name(str(src), len(jobs))
                jobs.append((str(src), f"{side}/{rel}"))
                anns.append(dict(ann, file_name=rel))  # the same segments_info list: its columns still apply
            renamed.append((image_id, *anns))
        plans.append((jobs, renamed))
    for (jobs, renamed), (folder, names) in zip(plans, staged([j for j, _ in plans])):
        def cut(ds, which: int, side: str):
            anns = {it[0]: it[which] for it in renamed if it[which] is not None}
            return dataclasses.replace(ds, folder=Path(folder) / side, annotations=anns, images={},
                                       columns={i: c for i in anns if (c := ds.columns.get(i)) is not None})
        yield renamed, cut(gt, 1, "gt"), cut(pred, 2, "pred"), names


def chunked(items: list, size: int = CHUNK) -> list:
    """``items`` cut into lists of ``size``."""
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


def local_name(url: str, j: int) -> str:
    """The relative local path of the ``j``-th file of a chunk: a folder per file keeps names short and unique."""
    return f"{j}/{PurePosixPath(url.split('?', 1)[0]).name or 'file'}"


def as_path(x):
    """A local path as a :class:`~pathlib.Path`, a URL as a :class:`RemoteFile`."""
    if isinstance(x, RemoteFile):
        return x
    return RemoteFile(x) if is_url(x) else Path(x)
