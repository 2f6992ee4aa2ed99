"""``quick_checks``: the cheap checks ``segmetrics eval`` runs on what it counted anyway.

Nothing here reads a file: the checks look at the confusion matrix, the per-image
GT pixel counts, the per-category SQ and the error eval stopped at, and return notes
that point to ``segmetrics validate`` for the full list.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ._findings import listing, plural
from ._readings import clearly_more

__all__ = ["quick_checks"]


def quick_checks(*, confusion=None, image_ids: Optional[Sequence] = None, image_gt_pixels=None,
                 panoptic_sq=None, error: Optional[BaseException] = None,
                 validate_command: str = "segmetrics validate") -> list[str]:
    """Notes on signs that a dataset or its predictions are off, each suggesting ``validate``.

    Parameters
    ----------
    confusion : array-like, optional
        The (K, K) semantic confusion matrix eval counted (rows = GT).
    image_ids, image_gt_pixels : sequence, optional
        Per image: its id and how many scored GT pixels it has (from eval's
        per-image records, ``tp + fn`` summed over classes).
    panoptic_sq : array-like, optional
        Per-category SQ of a panoptic result (NaN where not scored).
    error : Exception, optional
        The error eval stopped at (a bad label value, sizes that differ, a corrupt
        file): eval names only the first; validate lists them all.
    validate_command : str
        The command line to suggest (the CLI fills in the user's --gt/--pred/--preset).

    Returns
    -------
    list of str
        One note per sign; empty when nothing looks off.

    Notes
    -----
    * Shifted predictions: ``C[i, i + 1]`` (or ``C[i, i - 1]``) summed over classes
      is far above the diagonal (:func:`segmetrics.validate.clearly_more`: at least
      twice, and 1 % of the scored pixels more): predictions written 1..K and read as
      class indices (or the reverse), the ADE20K ``reduce_zero_label`` mix-up.
    * All-ignore images: images with no scored GT pixel.
    * SQ above 1: an IoU above 1 is impossible, so the GT JSON's ``area`` values
      are stale (smaller than the PNG's segments).
    """
    notes: list[str] = []
    hint = f"run `{validate_command}` for every file concerned"
    if confusion is not None:
        cm = np.asarray(confusion, dtype=np.int64)
        total = int(cm.sum())
        diag = int(np.trace(cm))
        up = int(np.trace(cm, offset=1))
        down = int(np.trace(cm, offset=-1))
        for off, n, what in ((1, up, "written 1..K (like the GT files) and read as class indices 0..K-1"),
                             (-1, down, "written as class indices 0..K-1 and read like the GT files (1..K)")):
            if clearly_more(n, diag, total):
                notes.append(f"predictions look shifted by {off:+d} class against the GT ({n / total:.1%} of scored "
                             f"pixels are predicted as GT class {off:+d}, {diag / total:.1%} are right): were they "
                             f"{what}? {hint}")
    if image_gt_pixels is not None:
        px = np.asarray(image_gt_pixels)
        empty = np.flatnonzero(px == 0)
        if empty.size:
            ids = [image_ids[i] for i in empty[:5]] if image_ids is not None else empty[:5].tolist()
            notes.append(f"{plural(int(empty.size), 'image')} have no scored pixel (the whole GT is ignored): "
                         f"{listing(ids, int(empty.size))}; {hint}")
    if panoptic_sq is not None:
        sq = np.asarray(panoptic_sq, dtype=np.float64)
        over = np.flatnonzero(sq > 1.0)
        if over.size:
            notes.append(f"{plural(int(over.size), 'category', 'categories')} have SQ above 100 %: the ground-truth "
                         f"JSON's areas are stale; `{validate_command} --write-fixed-json FIXED.json` lists them and "
                         f"writes a corrected copy")
    if error is not None:
        notes.append(f"eval stopped at the first problem ({type(error).__name__}); {hint}")
    return notes
