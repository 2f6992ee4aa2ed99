"""Finding label files in folders and pairing ground truth with predictions.

Notes
-----
Pairing rule (the same for every dataset layout):

1. Ground-truth files are the ``*.png`` files under the GT folder, recursively,
   whose stem ends with ``gt_suffix`` (``""`` accepts every PNG).  Hidden files
   and folders (name starting with ``.``) are skipped.
2. Each file's *key* is its path relative to its root, without the extension
   and without the suffix, written with ``/``:
   ``frankfurt/frankfurt_000000_000294_gtFine_labelIds.png`` ->
   ``frankfurt/frankfurt_000000_000294``.  Prediction keys strip the first of
   ``pred_suffixes`` that the stem ends with.
3. A GT key pairs with the prediction of the same key.  The GT keys and
   predictions left over then pair by file name (the key's last part), so a flat
   prediction folder pairs with a GT tree (Cityscapes city subfolders) and vice
   versa; when a file name is shared by more than one left-over GT key or more
   than one left-over prediction, the pairing is ambiguous and an error lists
   the candidates (no file silently takes another's partner).
4. The key is the image id used in reports.  Predictions that match no GT file
   are reported as ``extra`` (a warning, not an error).

Folders.  A folder that cannot be listed (no permission, an I/O error) is an
error naming it; nothing is skipped silently.  Symbolic links to folders are
followed, and every real folder is searched once: a link is skipped, with a note
in :attr:`Pairing.notes`, when the folder it leads to is inside the tree being
searched (a loop such as ``loop -> .``, or a second name of a folder searched under
its own name) or was reached already through another link.  Links to files, and
links to folders outside the tree, work as the files and folders they name.

File names that are not valid UTF-8.  Names are decoded with
:func:`os.fsdecode` (undecodable bytes become lone surrogates U+DC80-U+DCFF), so
keys and image ids keep the exact bytes: ``os.fsencode(image_id)`` gives them back,
and pairing compares these strings, never a lossy re-encoding.
"""
from __future__ import annotations

import operator
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

from ..errors import DataFileError, FormatError, MissingPredictionError
from .._text import listing

__all__ = ["LABEL_EXTENSIONS", "Pairing", "find_label_files", "pair_label_files", "describe_missing", "label_keys",
           "pair_keys"]

#: File extensions read as label maps.
LABEL_EXTENSIONS: tuple[str, ...] = (".png",)

#: How many missing names an error message lists.
MAX_LISTED = 5


@dataclass
class Pairing:
    """The result of :func:`pair_label_files`.

    Attributes
    ----------
    pairs : list of (str, Path, Path or None)
        ``(image_id, gt_path, pred_path)`` sorted by image id; ``pred_path`` is
        None for a GT image without prediction (only with ``allow_missing``).
    missing : list of str
        Image ids without a prediction.
    extra : list of str
        Prediction keys that match no GT image.
    notes : list of str
        Things the search skipped on purpose (symbolic links to folders already
        searched: loops and second names); one line each, for the user.
    """

    pairs: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    extra: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def _strip_suffix(stem: str, suffixes: Sequence[str]) -> Optional[str]:
    for s in suffixes:
        if not s:
            return stem
        if stem.endswith(s) and len(stem) > len(s):
            return stem[: -len(s)]
    return None


_entry_name = operator.attrgetter("name")


def _walk(root: Path, what: str, notes: list) -> Iterator[tuple[Path, list[str]]]:
    """``(folder relative to root, sorted non-hidden entry names that are not folders)``
    for every folder under ``root``, each real folder once (see the module Notes)."""
    root_real = os.path.realpath(root)
    try:
        st = os.stat(root)
    except OSError as exc:
        raise DataFileError(f"cannot read the {what} folder {root}: {exc.strerror or exc}") from exc
    seen = {(st.st_dev, st.st_ino)}
    stack = [(os.fspath(root), Path())]
    while stack:
        path, rel = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=_entry_name)
        except OSError as exc:
            raise DataFileError(f"cannot read the {what} folder {path}: {exc.strerror or exc}") from exc
        files, children = [], []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError:
                is_dir = False  # a link loop or an unreachable target: left to the reader to name
            if not is_dir:
                try:
                    keep = entry.is_file() or entry.is_symlink()  # a broken link is named when read
                except OSError:
                    keep = True
                if keep:  # not sockets, pipes or devices
                    files.append(entry.name)
                continue
            try:
                st = os.stat(entry.path)
            except OSError as exc:
                raise DataFileError(f"cannot read the {what} folder {entry.path}: {exc.strerror or exc}") from exc
            ident = (st.st_dev, st.st_ino)
            real = os.path.realpath(entry.path)
            if ident in seen or (entry.is_symlink() and _inside(real, root_real)):
                notes.append(
                    f"skipped {entry.path} (a link to {real}): that {what} folder is searched under "
                    f"another name already, so its files are counted once")
                continue
            seen.add(ident)
            children.append((entry.path, rel / entry.name))
        yield rel, files
        stack.extend(reversed(children))


def _inside(path: str, folder: str) -> bool:
    """Whether real path ``path`` is ``folder`` or below it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def find_label_files(
    root, *, suffix: str = "", strip_suffixes: Sequence[str] = (), what: str = "label",
    notes: Optional[list] = None, strings: bool = False,
) -> dict:
    """Map key -> path for the label files under ``root`` (see the module Notes).

    Parameters
    ----------
    root : path-like
        A folder (searched recursively) or a single ``.png`` file.
    suffix : str
        Required stem ending; files without it are skipped.  It is stripped from the key.
    strip_suffixes : sequence of str
        Optional stem endings stripped from the key (first match wins); used when
        ``suffix`` is empty.
    what : str
        Word used in error messages ("ground-truth", "prediction").
    notes : list, optional
        Receives one line per skipped folder link (loops, second names).
    strings : bool
        Give each path as its ``str`` (the same text as ``str`` of the Path) instead of a
        :class:`~pathlib.Path`: what the folder engine keeps, about a third of the memory.

    Raises
    ------
    DataFileError
        ``root`` does not exist, is not a folder / PNG file, or a folder under it
        cannot be read (the message names it).
    FormatError
        Two files give the same key (e.g. ``a.png`` and ``a_leftImg8bit.png``).
    """
    root = Path(root)
    if not root.exists():
        raise DataFileError(f"{what} path not found: {root}")
    if root.is_file():
        if root.suffix.lower() not in LABEL_EXTENSIONS:
            raise DataFileError(f"{what} file {root} is not a PNG label map")
        key = _strip_suffix(root.stem, (suffix,) if suffix else tuple(strip_suffixes) + ("",))
        return {key or root.stem: str(root) if strings else root}
    if not root.is_dir():
        raise DataFileError(f"{what} path {root} is neither a folder nor a file")
    folders: dict = {}

    def join(rel, name):  # one Path per folder, then one cheap child per file
        child = folders.get(rel)
        if child is None:
            folder = root / rel
            # pathlib's own child maker for one name from a directory listing (what Path.iterdir
            # uses; 4x faster than `/`, which parses its argument); `/` where it is missing
            child = folders[rel] = getattr(folder, "_make_child_relpath", folder.__truediv__)
        return child(name)

    last = [None, ""]  # the folder of the previous name and its prefix (names come folder by folder)

    def join_str(rel, name):  # the folder's text as pathlib writes its children, then + name
        if rel is last[0]:
            return last[1] + name
        prefix = folders.get(rel)
        if prefix is None:
            text = str((root / rel) / name)
            prefix = folders[rel] = text[:len(text) - len(name)]
        last[0], last[1] = rel, prefix
        return prefix + name

    return label_keys(_walk(root, what, [] if notes is None else notes), join_str if strings else join,
                      suffix=suffix, strip_suffixes=strip_suffixes, what=what)


def label_keys(listing, join, *, suffix: str = "", strip_suffixes: Sequence[str] = (),
               what: str = "label") -> dict:
    """Key -> file of a folder listing (the key rule of the module Notes, for any file system).

    ``listing`` yields ``(folder relative to the root as a PurePath, file names)``;
    ``join(folder, name)`` makes the file's path object.  :class:`FormatError`
    when two files give the same key.
    """
    found: dict = {}
    wanted = (suffix,) if suffix else tuple(strip_suffixes) + ("",)
    for rel_dir, names in listing:
        prefix = rel_dir.as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        for name in names:
            # PurePosixPath(name).suffix / .stem, as string operations (thousands of files)
            dot = name.rfind(".")
            if not 0 < dot < len(name) - 1 or name[dot:].lower() not in LABEL_EXTENSIONS:
                continue
            stem = _strip_suffix(name[:dot], wanted)
            if stem is None:
                continue
            key = prefix + stem
            path = join(rel_dir, name)
            if key in found:
                raise FormatError(
                    f"two {what} files give the image id {key!r}: {found[key]} and {path}"
                )
            found[key] = path
    return found


def describe_missing(missing: Sequence[str], total: int, pred_root) -> str:
    """One line naming how many and the first few GT images without prediction."""
    return (
        f"{len(missing)} of {total} ground-truth images have no prediction in {pred_root}: "
        f"{listing(missing, limit=MAX_LISTED)}"
    )


def pair_label_files(
    gt_root,
    pred_root,
    *,
    gt_suffix: str = "",
    pred_suffixes: Sequence[str] = (),
    allow_missing: bool = False,
    strings: bool = False,
) -> Pairing:
    """Pair GT and prediction label files by relative key (see the module Notes).

    Parameters
    ----------
    gt_root, pred_root : path-like
        Folders (searched recursively) or single PNG files.
    gt_suffix : str
        Required ending of GT stems (e.g. ``"_gtFine_labelIds"``), stripped from ids.
    pred_suffixes : sequence of str
        Optional endings stripped from prediction stems before pairing.
    allow_missing : bool
        Keep GT images without prediction (``pred_path=None``) instead of raising.
    strings : bool
        Paths as ``str`` instead of :class:`~pathlib.Path` (see :func:`find_label_files`).

    Returns
    -------
    Pairing

    Raises
    ------
    DataFileError
        A folder is missing.
    FormatError
        No GT file, or no prediction file at all.
    MissingPredictionError
        Some GT images have no prediction and ``allow_missing`` is False; the
        message names how many and the first few, ``.missing`` lists them all.
    """
    notes: list[str] = []
    gt = find_label_files(gt_root, suffix=gt_suffix, what="ground-truth", notes=notes, strings=strings)
    if not gt:
        return pair_keys(gt, {}, gt_root=gt_root, pred_root=pred_root, gt_suffix=gt_suffix)  # names the error
    pred = find_label_files(pred_root, strip_suffixes=pred_suffixes, what="prediction", notes=notes, strings=strings)
    single = Path(gt_root).is_file() and Path(pred_root).is_file()
    return pair_keys(gt, pred, gt_root=gt_root, pred_root=pred_root, gt_suffix=gt_suffix,
                     allow_missing=allow_missing, single=single, notes=notes)


def pair_keys(gt: dict, pred: dict, *, gt_root, pred_root, gt_suffix: str = "", allow_missing: bool = False,
              single: bool = False, notes: Optional[list] = None) -> Pairing:
    """The pairing rule of the module Notes on found files (key -> path dicts of
    :func:`label_keys`); ``single``: two single files, paired whatever their names.
    Raises as :func:`pair_label_files`."""
    notes = [] if notes is None else notes
    if not gt:
        pattern = f"*{gt_suffix}.png" if gt_suffix else "*.png"
        raise FormatError(f"no ground-truth label files ({pattern}) found under {gt_root}")
    if not pred and not allow_missing:
        raise FormatError(f"no prediction label files (*.png) found under {pred_root}")
    if single:
        (gk, gp), = gt.items()
        (_, pp), = pred.items()
        return Pairing(pairs=[(gk, gp, pp)])

    match = {key: key for key in gt if key in pred}
    match.update(_pair_by_name([k for k in gt if k not in match], [k for k in pred if k not in gt]))
    out = Pairing(notes=notes)
    for key in sorted(gt):
        if key in match:
            out.pairs.append((key, gt[key], pred[match[key]]))
            continue
        out.missing.append(key)
        if allow_missing:
            out.pairs.append((key, gt[key], None))
    out.extra = sorted(set(pred) - set(match.values()))
    if out.missing and not allow_missing:
        raise MissingPredictionError(
            describe_missing(out.missing, len(gt), pred_root), missing=out.missing
        )
    return out


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def _pair_by_name(gt_keys: Sequence[str], pred_keys: Sequence[str]) -> dict[str, str]:
    """GT key -> prediction key for the keys left without an exact match, by file name;
    FormatError listing the candidates when a name is shared on either side."""
    gt_by: dict[str, list[str]] = {}
    pred_by: dict[str, list[str]] = {}
    for key in gt_keys:
        gt_by.setdefault(_name(key), []).append(key)
    for key in pred_keys:
        pred_by.setdefault(_name(key), []).append(key)
    out = {}
    for name in sorted(gt_by):
        gts, preds = sorted(gt_by[name]), sorted(pred_by.get(name, []))
        if not preds:
            continue
        if len(gts) > 1 or len(preds) > 1:
            raise FormatError(
                f"ambiguous pairing by file name {name!r}: ground truth {listing(gts, limit=MAX_LISTED)} and "
                f"prediction(s) {listing(preds, limit=MAX_LISTED)}; give the predictions the same subfolders as the ground truth "
                f"(or unique file names)")
        out[gts[0]] = preds[0]
    return out
