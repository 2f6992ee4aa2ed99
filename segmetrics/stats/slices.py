"""Slices: metrics per attribute value of a manifest CSV (weather, time of day, source, ...).

Manifest format
---------------
A UTF-8 CSV file (a byte-order mark is allowed) whose header has a column
``image_id`` and one column per attribute.  Cells are stripped of surrounding
whitespace.  An id cell names an evaluated image when it equals a string image
id exactly, or, when it is a decimal integer literal (``[+-]?[0-9]+``, so
``"007"`` and ``"7"`` alike), when its integer value equals an integer image
id; a cell that could name a string id and a different integer id is refused.
Refused, each with one line naming the file and line: a missing or duplicate
column name, a row with the wrong number of cells, an empty id, two rows for
one image (or the same id twice), the reserved value ``__unassigned__``, an
asked-for attribute that is not a column, and a manifest none of whose ids
is an evaluated image.  Ids that name no evaluated image are reported in
``Manifest.notes`` (a manifest may describe a larger dataset).
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DataFileError, FormatError, InputError
from ..report import json_ready
from .counts import _Counts
from .resample import Intervals, bootstrap

__all__ = ["UNASSIGNED", "Manifest", "Slice", "read_manifest", "slice_metrics"]

UNASSIGNED = "__unassigned__"
_INT = re.compile(r"[+-]?[0-9]+")


@dataclasses.dataclass(frozen=True)
class Manifest:
    """Attribute values of the evaluated images, read from a manifest CSV.

    Attributes
    ----------
    path : str
    attributes : tuple of str
        Attribute columns, in file order (or as asked for).
    values : dict of str to tuple of str
        Per attribute, one value per evaluated image (image order);
        ``"__unassigned__"`` for images the manifest does not list and for
        empty cells.
    listed : int
        Evaluated images the manifest lists.
    unknown_ids : tuple of str
        Manifest ids that name no evaluated image.
    notes : tuple of str
    """

    path: str
    attributes: tuple
    values: dict
    listed: int
    unknown_ids: tuple
    notes: tuple

    def to_header(self) -> dict:
        """The manifest as the run-state file keeps it (JSON: one value per image row)."""
        return {"path": self.path, "attributes": list(self.attributes),
                "values": {a: list(self.values[a]) for a in self.attributes}, "listed": self.listed,
                "unknown_ids": list(self.unknown_ids), "notes": list(self.notes)}

    @classmethod
    def from_header(cls, header, num_images: int) -> "Manifest":
        """The inverse of :meth:`to_header` (:class:`FormatError` when it does not fit ``num_images`` rows)."""
        try:
            attributes = tuple(str(a) for a in header["attributes"])
            values = {a: tuple(str(v) for v in header["values"][a]) for a in attributes}
            out = cls(path=str(header.get("path", "")), attributes=attributes, values=values,
                      listed=int(header.get("listed", num_images)),
                      unknown_ids=tuple(str(u) for u in header.get("unknown_ids", ())),
                      notes=tuple(str(n) for n in header.get("notes", ())))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise FormatError("the slices manifest kept in the state file is malformed") from None
        bad = [a for a in attributes if len(values[a]) != num_images]
        if bad or not attributes:
            raise FormatError(f"the slices manifest kept in the state file has no value per image "
                              f"({num_images} images)")
        return out


def _id_index(image_ids: Sequence[Any]) -> tuple[dict, dict]:
    by_text: dict = {}
    by_int: dict = {}
    for row, image_id in enumerate(image_ids):
        if isinstance(image_id, (int, np.integer)) and not isinstance(image_id, (bool, np.bool_)):
            table, key = by_int, int(image_id)
        else:
            table, key = by_text, str(image_id)
        if key in table:
            raise InputError(f"image id {image_id!r} appears twice among the evaluated images")
        table[key] = row
    return by_text, by_int


def read_manifest(path, image_ids: Sequence[Any], *, attributes: Sequence[str] | None = None) -> Manifest:
    """Read a manifest CSV and give every evaluated image its attribute values.

    Parameters
    ----------
    path : str or PathLike
    image_ids : sequence of int or str
        The evaluated images, in the order of the per-image counts.
    attributes : sequence of str, optional
        Columns to use (default: every column but ``image_id``).

    Returns
    -------
    Manifest

    Raises
    ------
    DataFileError
        The file cannot be read.
    FormatError
        A rule of the module notes is broken (the message names file and line).
    """
    import csv

    path = Path(path)
    by_text, by_int = _id_index(image_ids)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return _parse(path, csv.reader(fh), len(image_ids), by_text, by_int, attributes)
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise FormatError(f"{path}: not a readable CSV file ({exc})") from None
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None


def _parse(path: Path, reader, n: int, by_text: dict, by_int: dict, attributes) -> Manifest:
    header = next(reader, None)
    if header is None:
        raise FormatError(f"{path}: empty manifest; it needs a header line with an image_id column")
    header = [h.strip() for h in header]
    for i, name in enumerate(header):
        if not name:
            raise FormatError(f"{path}:1: column {i + 1} of the header has no name")
        if header.index(name) != i:
            raise FormatError(f"{path}:1: column name {name!r} appears twice in the header")
    if "image_id" not in header:
        raise FormatError(f"{path}:1: no image_id column (header: {', '.join(header)})")
    id_col = header.index("image_id")
    if attributes is None:
        attributes = [h for h in header if h != "image_id"]
    else:
        attributes = list(attributes)
        for a in attributes:
            if a not in header or a == "image_id":
                raise FormatError(f"{path}:1: unknown attribute column {a!r} (header: {', '.join(header)})")
    if not attributes:
        raise FormatError(f"{path}:1: no attribute column besides image_id")
    cols = [header.index(a) for a in attributes]
    values = {a: [UNASSIGNED] * n for a in attributes}
    first_line: dict = {}
    unknown: list = []
    rows = 0
    for cells in reader:
        line = reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        rows += 1
        if len(cells) != len(header):
            raise FormatError(f"{path}:{line}: {len(cells)} cells, the header has {len(header)}")
        text = cells[id_col].strip()
        if not text:
            raise FormatError(f"{path}:{line}: empty image_id")
        row = _match(path, line, text, by_text, by_int)
        key = ("row", row) if row is not None else ("text", text)
        if key in first_line:
            raise FormatError(f"{path}:{line}: image {text!r} is listed again (first on line {first_line[key]})")
        first_line[key] = line
        if row is None:
            unknown.append(text)
            continue
        for a, c in zip(attributes, cols):
            value = cells[c].strip()
            if value == UNASSIGNED:
                raise FormatError(f"{path}:{line}: the value {UNASSIGNED!r} is reserved for images not listed")
            values[a][row] = value or UNASSIGNED
    if rows == 0:
        raise FormatError(f"{path}: the manifest lists no image")
    listed = rows - len(unknown)
    if listed == 0:
        sample = next(iter(by_text), None) or next(iter(by_int), None)
        raise FormatError(f"{path}: none of its {rows} image ids is an evaluated image (first: {unknown[0]!r}; "
                          f"evaluated ids look like {sample!r})")
    notes = []
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        notes.append(f"{path}: {len(unknown)} image ids name no evaluated image and were left out: "
                     f"{shown}{' ...' if len(unknown) > 5 else ''}")
    if listed < n:
        notes.append(f"{path}: {n - listed} of {n} evaluated images are not listed ({UNASSIGNED})")
    return Manifest(path=str(path), attributes=tuple(attributes), values={a: tuple(v) for a, v in values.items()},
                    listed=listed, unknown_ids=tuple(unknown), notes=tuple(notes))


def _match(path: Path, line: int, text: str, by_text: dict, by_int: dict) -> int | None:
    as_text = by_text.get(text)
    as_int = by_int.get(int(text)) if _INT.fullmatch(text) else None
    if as_text is not None and as_int is not None and as_text != as_int:
        raise FormatError(f"{path}:{line}: image_id {text!r} could be the string id {text!r} or the integer "
                          f"id {int(text)}; rename one of them")
    return as_text if as_text is not None else as_int


@dataclasses.dataclass(frozen=True)
class Slice:
    """Metrics of the images with one attribute value.

    Attributes
    ----------
    attribute, value : str
    rows : ndarray of int64
        Indices of the slice's images in the image order.
    metrics : dict
        Headline floats and per-class ``(K,)`` arrays, as on the whole run.
    intervals : Intervals or None
    """

    attribute: str
    value: str
    rows: np.ndarray
    metrics: dict
    intervals: Intervals | None

    @property
    def num_images(self) -> int:
        return int(self.rows.size)

    def to_dict(self) -> dict:
        """JSON-ready ``{attribute, value, num_images, metrics, per_class, intervals}``."""
        return json_ready({
            "attribute": self.attribute, "value": self.value, "num_images": self.num_images,
            "metrics": {k: v for k, v in self.metrics.items() if np.ndim(v) == 0},
            "per_class": {k: v for k, v in self.metrics.items() if np.ndim(v) == 1},
            "intervals": None if self.intervals is None else self.intervals.to_dict(),
        })


def slice_metrics(counts: _Counts, manifest: Manifest, *, ci: bool = False, resamples: int = 1000, seed: int = 0,
                  level: float = 0.95, method: str = "percentile") -> list[Slice]:
    """Metrics (and, with ``ci``, bootstrap intervals) for every (attribute, value) of a manifest.

    Parameters
    ----------
    counts : SemanticCounts or PanopticCounts
        Per-image counts, in the image order the manifest was read with.
    manifest : Manifest
    ci : bool
        Add intervals (:func:`~segmetrics.stats.bootstrap` with the options below).
    resamples, seed, level, method
        As for :func:`~segmetrics.stats.bootstrap`.

    Returns
    -------
    list of Slice
        Attributes in manifest order; within one, values sorted by text, then
        ``__unassigned__`` (only when some image has no value).

    Notes
    -----
    A slice is scored like a dataset of its own images: integer counts summed
    over them, metrics from the sums.  Its interval resamples only its own
    images (in image order, with the same seed): it equals the interval of a
    run that evaluated just those images.  Slices of one attribute partition
    the images; their metrics do not average to the whole run's (ratios of
    sums are not additive).  Small slices give wide, less reliable intervals.
    """
    if not isinstance(counts, _Counts):
        raise InputError(f"expected SemanticCounts or PanopticCounts, got {type(counts).__name__}")
    out = []
    for attribute in manifest.attributes:
        values = np.asarray(manifest.values[attribute], dtype=object)
        if values.size != counts.num_images:
            raise InputError(f"the manifest was read for {values.size} images, the counts have {counts.num_images}")
        names = sorted(set(values.tolist()) - {UNASSIGNED})
        if (values == UNASSIGNED).any():
            names.append(UNASSIGNED)
        for value in names:
            rows = np.flatnonzero(values == value).astype(np.int64)
            sub = counts.subset(rows)
            keys = sub.headline + sub.per_class
            m = sub.metrics()
            iv = bootstrap(sub, resamples=resamples, seed=seed, level=level, method=method) if ci else None
            out.append(Slice(attribute=attribute, value=value, rows=rows, metrics={k: m[k] for k in keys},
                             intervals=iv))
    return out
