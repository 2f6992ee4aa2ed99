"""Exception hierarchy.

Every error raised on purpose by segmetrics is a :class:`SegmetricsError`.  Each
subclass also derives from the builtin that callers would naturally catch
(``ValueError`` for bad values, ``OSError`` for files), so ``except ValueError``
keeps working in code written against numpy-style APIs.

Messages always name what is wrong and where: the file, the image id, the
segment id or the label value, and how many pixels are affected.
"""
from __future__ import annotations

__all__ = [
    "SegmetricsError",
    "InputError",
    "LabelError",
    "FormatError",
    "DataFileError",
    "MissingPredictionError",
    "SegmetricsWarning",
]


class SegmetricsError(Exception):
    """Base class of every error segmetrics raises on purpose."""


class InputError(SegmetricsError, ValueError):
    """Arguments or arrays that cannot be scored (shape, dtype, parameters)."""


class LabelError(InputError):
    """Label values outside ``[0, num_classes)`` that are not ignored.

    Attributes
    ----------
    values : list of int
        The offending label values (at most a handful are listed in the message).
    counts : list of int
        How many pixels carry each offending value.
    image : str or None
        The image the labels came from, when known.
    """

    def __init__(self, message: str, *, values=(), counts=(), image=None):
        super().__init__(message)
        self.values = list(values)
        self.counts = list(counts)
        self.image = image


class FormatError(SegmetricsError, ValueError):
    """A dataset file whose content is not what its format requires."""


class DataFileError(SegmetricsError, OSError):
    """A file or folder that is missing or cannot be read."""


class MissingPredictionError(FormatError):
    """Ground-truth images without a prediction (``missing`` lists their ids)."""

    def __init__(self, message: str, *, missing=()):
        super().__init__(message)
        self.missing = list(missing)


class SegmetricsWarning(UserWarning):
    """Something suspicious that does not stop the evaluation (also kept in results)."""
