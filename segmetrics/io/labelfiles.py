"""Readers of the small text files that configure a semantic evaluation.

* label maps (``--label-map``, ``--pred-label-map``): raw value -> class index
  (format: :data:`LABEL_MAP_FORMAT`); :func:`segmetrics.labels.label_map_lut`
  turns one into a lookup table;
* class names (``--class-names``): one name per line (:data:`CLASS_NAMES_FORMAT`).
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DataFileError, FormatError

__all__ = ["LABEL_MAP_FORMAT", "CLASS_NAMES_FORMAT", "load_label_map", "load_class_names"]

LABEL_MAP_FORMAT = """\
Label-map file (--label-map, --pred-label-map): raw value -> class index.
Either JSON, an object {"7": 0, "8": 1, "*": 255}, or text with one
"RAW CLASS" pair per line (separated by spaces, a comma, ':' or '->';
'#' starts a comment).  The key "*" sets the class of every raw value not
listed; without it unlisted values become the ignore index.  A class equal
to the ignore index means "not scored"."""

CLASS_NAMES_FORMAT = """\
Class-names file (--class-names): UTF-8 text, one name per line in class
index order; blank lines and lines starting with '#' are skipped.  Without
--num-classes the number of names sets the number of classes."""


def _parse_int(text, path, lineno) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise FormatError(f"{path}:{lineno}: {text!r} is not an integer") from None
    return value


def load_label_map(path) -> dict:
    """Read a label-map file (format: :data:`LABEL_MAP_FORMAT`).

    Returns
    -------
    dict
        Raw value (int) -> class index (int); the default for unlisted values,
        when the file gives one, is under the key ``"*"``.

    Raises
    ------
    DataFileError
        The file cannot be read.
    FormatError
        A line or entry is not a pair of integers, a raw value is negative or
        listed twice.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"cannot read label map {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: a label map must be UTF-8 text (byte {exc.start} is not)") from None
    out: dict = {}
    if text.lstrip().startswith("{"):
        import json  # (on first use: a run without a JSON label map does without it)

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path}: invalid JSON label map: {exc}") from None
        items = [(k, v, 1) for k, v in data.items()]
    else:
        items = []
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            for sep in ("->", ":", ","):
                line = line.replace(sep, " ")
            parts = line.split()
            if len(parts) != 2:
                raise FormatError(
                    f"{path}:{lineno}: expected 'RAW CLASS', got {line!r}"
                )
            items.append((parts[0], parts[1], lineno))
    for raw, cls, lineno in items:
        if cls is None:
            raise FormatError(f"{path}: entry {raw!r} has no class (use the ignore index)")
        cls = _parse_int(cls, path, lineno)
        if str(raw).strip() == "*":
            key = "*"
        else:
            key = _parse_int(raw, path, lineno)
            if key < 0:
                raise FormatError(f"{path}:{lineno}: raw value {key} is negative")
        if key in out:
            raise FormatError(f"{path}:{lineno}: raw value {raw} is listed twice")
        if cls < 0:
            raise FormatError(f"{path}:{lineno}: class {cls} for raw value {raw} is negative")
        out[key] = cls
    if not [k for k in out if k != "*"]:
        raise FormatError(f"{path}: the label map is empty")
    return out


def load_class_names(path) -> tuple[str, ...]:
    """Read a class-names file (format: :data:`CLASS_NAMES_FORMAT`).

    Raises
    ------
    DataFileError
        The file cannot be read.
    FormatError
        It holds no name, or a name twice.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataFileError(f"cannot read class names {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: a class-names file must be UTF-8 text (byte {exc.start} is not)") from None
    names = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not names:
        raise FormatError(f"{path}: no class names (one per line expected)")
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise FormatError(f"{path}: class name {n!r} appears twice (classes {seen[n]} and {i})")
        seen[n] = i
    return tuple(names)
