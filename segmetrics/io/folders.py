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
3. A GT key pairs with the prediction of the same key; failing that, with the
   prediction whose file-name key (last path part) is the same, when exactly one
   prediction has it.  So a flat prediction folder pairs with a GT tree
   (Cityscapes city subfolders) and vice versa.
4. The key is the image id used in reports.  Predictions that match no GT file
   are reported as ``extra`` (a warning, not an error).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..errors import DataFileError, FormatError, MissingPredictionError

__all__ = ["LABEL_EXTENSIONS", "Pairing", "find_label_files", "pair_label_files", "describe_missing"]

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
    """

    pairs: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    extra: list = field(default_factory=list)


def _strip_suffix(stem: str, suffixes: Sequence[str]) -> Optional[str]:
    for s in suffixes:
        if not s:
            return stem
        if stem.endswith(s) and len(stem) > len(s):
            return stem[: -len(s)]
    return None


def find_label_files(
    root, *, suffix: str = "", strip_suffixes: Sequence[str] = (), what: str = "label"
) -> dict[str, Path]:
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

    Raises
    ------
    DataFileError
        ``root`` does not exist or is not a folder / PNG file.
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
        return {key or root.stem: root}
    if not root.is_dir():
        raise DataFileError(f"{what} path {root} is neither a folder nor a file")
    found: dict[str, Path] = {}
    wanted = (suffix,) if suffix else tuple(strip_suffixes) + ("",)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.suffix.lower() not in LABEL_EXTENSIONS:
                continue
            stem = _strip_suffix(path.stem, wanted)
            if stem is None:
                continue
            key = (rel_dir / stem).as_posix()
            if key in found:
                raise FormatError(
                    f"two {what} files give the image id {key!r}: {found[key]} and {path}"
                )
            found[key] = path
    return found


def describe_missing(missing: Sequence[str], total: int, pred_root) -> str:
    """One line naming how many and the first few GT images without prediction."""
    shown = ", ".join(missing[:MAX_LISTED])
    more = f" and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
    return (
        f"{len(missing)} of {total} ground-truth images have no prediction in {pred_root}: "
        f"{shown}{more}"
    )


def pair_label_files(
    gt_root,
    pred_root,
    *,
    gt_suffix: str = "",
    pred_suffixes: Sequence[str] = (),
    allow_missing: bool = False,
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
    gt = find_label_files(gt_root, suffix=gt_suffix, what="ground-truth")
    if not gt:
        pattern = f"*{gt_suffix}.png" if gt_suffix else "*.png"
        raise FormatError(f"no ground-truth label files ({pattern}) found under {gt_root}")
    pred = find_label_files(pred_root, strip_suffixes=pred_suffixes, what="prediction")
    if not pred and not allow_missing:
        raise FormatError(f"no prediction label files (*.png) found under {pred_root}")
    if Path(gt_root).is_file() and Path(pred_root).is_file():
        (gk, gp), = gt.items()
        (_, pp), = pred.items()
        return Pairing(pairs=[(gk, gp, pp)])

    by_name: dict[str, list[str]] = {}
    for key in pred:
        by_name.setdefault(key.rsplit("/", 1)[-1], []).append(key)

    out = Pairing()
    used: set[str] = set()
    for key in sorted(gt):
        match = key if key in pred else None
        if match is None:
            candidates = by_name.get(key.rsplit("/", 1)[-1], [])
            if len(candidates) == 1 and candidates[0] not in used:
                match = candidates[0]
        if match is None:
            out.missing.append(key)
            if allow_missing:
                out.pairs.append((key, gt[key], None))
            continue
        used.add(match)
        out.pairs.append((key, gt[key], pred[match]))
    out.extra = sorted(set(pred) - used)
    if out.missing and not allow_missing:
        raise MissingPredictionError(
            describe_missing(out.missing, len(gt), pred_root), missing=out.missing
        )
    return out
