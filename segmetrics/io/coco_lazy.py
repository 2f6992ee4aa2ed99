"""Parsing JSON (orjson when installed, with the json module's values and errors) and the
annotations of a COCO panoptic file parsed lazily (:class:`LazyAnnotations`).

:func:`segmetrics.io.coco_panoptic.load_panoptic_json` scans a file once in C
(``sm_json.h``) for what the folder pipeline needs and hands each annotation's
bytes to :class:`LazyAnnotations`, which parses a dict only when it is looked up.
The folder pipeline's pairing items hold :data:`NOT_READ` for annotations not
parsed yet; :func:`resolve_annotation` gives the dict.
"""
from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import numpy as np

__all__ = ["parse_json_bytes", "LazyAnnotations", "NOT_READ", "file_name", "peek_annotation", "resolve_annotation"]


_orjson: Any = False  # not imported yet (it imports uuid too: about 0.8 MB a run may not need)


def _load_orjson():
    global _orjson
    try:  # about 2.5x faster than the json module on COCO panoptic files (benchmarks/RESULTS.md)
        import orjson
    except ImportError:  # pragma: no cover - a core dependency; json gives the same values
        orjson = None
    _orjson = orjson
    return orjson


def parse_json_bytes(raw: bytes):
    """``json.loads(raw)``, through orjson when it is installed.

    Anything orjson refuses (NaN / Infinity literals, invalid UTF-8, syntax
    errors) is handed to the json module, so the values accepted and the error
    messages are json's.  One difference stays: orjson reads integers outside
    [-2^63, 2^64 - 1] as floats, where json keeps them as ints (the compiled
    scanner declines such files, so they are read whole, as here).
    """
    if _orjson is False:
        _load_orjson()
    if _orjson is not None:
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(raw)


class _NotRead:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_READ"

    def __reduce__(self) -> str:
        return "NOT_READ"  # pickled as this module's singleton


#: What :meth:`LazyAnnotations.peek` gives for an annotation not parsed yet (in the items of the
#: folder pipeline: the annotation as loaded, whose segment columns hold).
NOT_READ = _NotRead()


def file_name(annotations, image_id) -> str:
    """``annotations[image_id]["file_name"]``, without parsing the annotation of a
    :class:`LazyAnnotations` that has not been looked up."""
    if type(annotations) is LazyAnnotations:
        return annotations.file_name(image_id)
    return annotations[image_id]["file_name"]


def peek_annotation(annotations, image_id):
    """The annotation of ``image_id``, :data:`NOT_READ` when ``annotations`` is a
    :class:`LazyAnnotations` that has not parsed it yet, None when there is none."""
    if type(annotations) is LazyAnnotations:
        return annotations.peek(image_id)
    return annotations.get(image_id)


def resolve_annotation(annotations, image_id, ann):
    """``ann`` as a dict: the annotation itself, parsed when :data:`NOT_READ`."""
    return annotations[image_id] if ann is NOT_READ else ann


class LazyAnnotations(MutableMapping):
    """``image_id -> annotation`` of a COCO panoptic file, each dict parsed from the
    file's bytes the first time it is looked up and kept from then on.

    The file was checked whole when loaded (:func:`load_panoptic_json`); what the
    folder pipeline needs (image ids, file names, segment columns) was read then,
    so scoring a file parses none of its annotation dicts.  Holding the file's bytes
    costs a fraction of the dicts (about a fifth for COCO panoptic files).  It can be
    edited as a dict can (set, delete, in file order then insertion order); an
    annotation set or edited after loading is scored from its dict.
    """

    __slots__ = ("_raw", "_names", "_spans", "_pos", "_done", "_listed")

    def __init__(self, raw: bytes, image_ids: list, names: list, spans: np.ndarray):
        self._raw = raw
        self._names = names
        self._spans = spans
        self._pos = {image_id: j for j, image_id in enumerate(image_ids)}  # in order; j: file position
        self._done: dict = {}  # position -> the dict (parsed, or set by the caller)
        self._listed: dict = {}  # file position -> its segments_info list as parsed (None: set before parsing)

    def at(self, j: int) -> dict:
        """The annotation at position ``j``."""
        if j in self._done:
            return self._done[j]
        a, b = self._spans[j].tolist()
        # setdefault: two threads parsing one annotation at once keep the same dict
        ann = self._done.setdefault(j, parse_json_bytes(self._raw[a:b]))
        self._listed.setdefault(j, ann.get("segments_info"))
        return ann

    def __getitem__(self, image_id) -> dict:
        return self.at(self._pos[image_id])

    def __setitem__(self, image_id, ann) -> None:
        j = self._pos.get(image_id)
        if j is None:
            j = len(self._names) + len(self._done) + 1  # past every file position
            while j in self._done:
                j += 1
            self._pos[image_id] = j
        elif j < len(self._names) and j not in self._listed:
            self._listed[j] = None
        self._done[j] = ann

    def __delitem__(self, image_id) -> None:
        self._done.pop(self._pos.pop(image_id), None)

    def __iter__(self):
        return iter(self._pos)

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, image_id) -> bool:
        return image_id in self._pos

    def __repr__(self) -> str:
        return f"<LazyAnnotations: {len(self._pos)} images, {len(self._done)} parsed>"

    def untouched(self) -> bool:
        """Whether every annotation is as loaded: none parsed, set or deleted yet."""
        return not self._done and len(self._pos) == len(self._names)

    @property
    def parsed(self) -> int:
        """How many annotations are held as dicts (parsed, or set by the caller)."""
        return len(self._done)

    def peek(self, image_id):
        """The annotation when parsed already, :data:`NOT_READ` when not, None when absent."""
        j = self._pos.get(image_id)
        if j is None:
            return None
        return self._done.get(j, NOT_READ)

    def file_name(self, image_id) -> str:
        """The annotation's ``file_name`` (as it now is, once parsed)."""
        j = self._pos[image_id]
        return self._done[j]["file_name"] if j in self._done else self._names[j]

    def listed_segments(self, j: int):
        """The ``segments_info`` list of file position ``j`` as parsed (parsing it when needed;
        None when the caller set the annotation before it was parsed)."""
        if j not in self._listed:
            self.at(j)
        return self._listed[j]


class _ListedSegments:
    """``FlatColumns.segments`` of a :class:`LazyAnnotations`: position -> list as parsed."""

    __slots__ = ("annotations",)

    def __init__(self, annotations: LazyAnnotations):
        self.annotations = annotations

    def __getitem__(self, j: int):
        return self.annotations.listed_segments(j)
