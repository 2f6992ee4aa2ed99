"""``quick_checks``: the cheap checks ``segmetrics eval`` runs on what it counted anyway.

Nothing here reads a file: the checks look at the confusion matrix, the per-image
GT pixel counts, the per-category SQ and the error eval stopped at, and return notes
that point to ``segmetrics validate`` (the exact command: :func:`validate_command_line`)
for the full list.  The folder API (:mod:`segmetrics.folders`) puts them in
``result.notes`` (so ``segmetrics report`` shows them again from a state file) or, for
an error, on the exception (``exc.__notes__``, which the CLI appends to its error line).
"""
from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from typing import Optional, Sequence

import numpy as np

from ..labels import clearly_more
from .._text import listing, plural  # (not ._findings: eval needs none of the validate checkers)

__all__ = ["quick_checks", "validate_command_line"]

#: Library arguments and the ``segmetrics validate`` flags that take them.
_FLAGS = (("preset", "--preset"), ("num_classes", "--num-classes"), ("ignore_index", "--ignore-index"),
          ("label_map", "--label-map"), ("pred_label_map", "--pred-label-map"), ("pred_labels", "--pred-labels"),
          ("gt_folder", "--gt-folder"), ("pred_folder", "--pred-folder"))


def validate_command_line(gt, pred=None, **settings) -> str:
    """The ``segmetrics validate`` command that checks what an eval run read.

    Parameters
    ----------
    gt, pred : path-like
        What eval was given (``pred`` None: the ground truth alone).
    **settings
        eval's keyword arguments that validate takes too (``preset``, ``num_classes``,
        ``ignore_index``, ``reduce_zero_label``, ``label_map``, ``pred_label_map``,
        ``pred_labels``, ``gt_folder``, ``pred_folder``); None and the defaults are
        left out.  A label map given as a mapping (not a file) shows as ``FILE``.

    Returns
    -------
    str
        One shell-quoted command line.
    """
    words = ["segmetrics", "validate", "--gt", os.fspath(gt)]
    if pred is not None:
        words += ["--pred", os.fspath(pred)]
    for key, flag in _FLAGS:
        value = settings.get(key)
        if value is None or (key == "pred_labels" and value == "auto"):
            continue
        words += [flag, "FILE" if isinstance(value, Mapping) else str(value)]
    rzl = settings.get("reduce_zero_label")
    if rzl is not None:
        words.append("--reduce-zero-label" if rzl else "--no-reduce-zero-label")
    return " ".join(shlex.quote(w) for w in words)


def quick_checks(*, confusion=None, image_ids: Optional[Sequence] = None, image_gt_pixels=None,
                 ignore_index: Optional[int] = None, panoptic_sq=None, error: Optional[BaseException] = None,
                 validate_command: str = "segmetrics validate") -> list[str]:
    """Notes on signs that a dataset or its predictions are off, each suggesting ``validate``.

    Parameters
    ----------
    confusion : array-like, optional
        The (K, K) semantic confusion matrix eval counted (rows = GT).
    image_ids, image_gt_pixels : sequence, optional
        Per image: its id and how many scored GT pixels it has (from eval's
        per-image records, ``tp + fn`` summed over classes).
    ignore_index : int, optional
        The ignore index, named in the all-ignore note.
    panoptic_sq : array-like, optional
        Per-category SQ of a panoptic result (NaN where not scored).
    error : Exception, optional
        The error eval stopped at (a bad label value, sizes that differ, a corrupt
        file): eval names only the first; validate lists them all.
    validate_command : str
        The command line to suggest (:func:`validate_command_line`).

    Returns
    -------
    list of str
        One note per sign; empty when nothing looks off.

    Notes
    -----
    * Shifted predictions: ``C[i, i + 1]`` (or ``C[i, i - 1]``) summed over classes
      is far above the diagonal (:func:`segmetrics.labels.clearly_more`: at least
      twice, by 1 % of the scored pixels and by five standard deviations of chance):
      predictions written 1..K and read as class indices (or the reverse), the
      ADE20K ``reduce_zero_label`` mix-up.
    * All-ignore images: images with no scored GT pixel (they add nothing).
    * SQ above 1: an IoU above 1 is impossible, so the GT JSON's ``area`` values
      are stale (smaller than the PNG's segments).
    """
    notes: list[str] = []
    hint = f"`{validate_command}` lists every file concerned"
    if confusion is not None:
        cm = np.asarray(confusion, dtype=np.int64)
        total = int(cm.sum())
        diag = int(np.trace(cm))
        for off, what in ((1, "written 1..K (like the GT files) and read as class indices 0..K-1"),
                          (-1, "written as class indices 0..K-1 and read like the GT files (1..K)")):
            n = int(np.trace(cm, offset=off))
            if clearly_more(n, diag, total):
                notes.append(f"predictions look shifted by {off:+d} class against the GT ({n / total:.1%} of scored "
                             f"pixels are predicted as GT class {off:+d}, {diag / total:.1%} are right): were they "
                             f"{what}? {hint}")
    if image_gt_pixels is not None:
        empty = np.flatnonzero(np.asarray(image_gt_pixels) == 0)
        if empty.size:
            n = int(empty.size)
            ids = [repr(image_ids[i]) for i in empty[:5].tolist()] if image_ids is not None else empty[:5].tolist()
            ign = f" (all ignore_index {ignore_index})" if ignore_index is not None else ""
            notes.append(f"{plural(n, 'image')} {'has' if n == 1 else 'have'} no scored ground-truth pixel{ign}, "
                         f"so {'it adds' if n == 1 else 'they add'} nothing: {listing(ids, n)}")
    if panoptic_sq is not None:
        sq = np.asarray(panoptic_sq, dtype=np.float64)
        n = int(np.count_nonzero(sq > 1.0))
        if n:
            notes.append(f"{plural(n, 'category', 'categories')} {'has' if n == 1 else 'have'} SQ above 100 %: the "
                         f"ground-truth JSON's areas are stale (smaller than the PNGs' segments); "
                         f"`{validate_command} --write-fixed-json FIXED.json` lists them and writes a corrected copy "
                         f"(or pass --recompute-gt-areas)")
    if error is not None:
        notes.append(f"eval stopped at the first problem ({type(error).__name__}); {hint}")
    return notes
