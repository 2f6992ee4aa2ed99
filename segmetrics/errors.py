"""Exception hierarchy.

Every error raised on purpose by segmetrics is a :class:`SegmetricsError`.  Each
subclass also derives from the builtin that callers would naturally catch
(``ValueError`` for bad values, ``OSError`` for files), so ``except ValueError``
keeps working in code written against numpy-style APIs.

Messages always name what is wrong and where: the file, the image id, the
segment id or the label value, and how many pixels are affected.  The same
facts are attributes of the exception (``side``, ``values``, ``counts``,
``image``, ``file``, ``missing``), so programs (the CLI's hints among them)
decide from fields, never from the text.
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
    side : {"gt", "pred"} or None
        Which label map holds the offending values.
    values : list of int
        The offending raw label values (at most a handful are listed in the message).
    counts : list of int
        How many pixels carry each offending value.
    image : object or None
        The image id the labels came from, when known.
    file : str or None
        The file of ``side`` the labels were read from, when known.
    predicts_ignore : bool
        A prediction equals ``ignore_index`` (after the prediction map) on a
        scored pixel: a prediction that abstains.
    rules : dict
        The label rules in effect when the error was found (``pred_labels``,
        ``label_map``, ``void_predictions``...), filled in by the folder API so
        that callers can suggest the setting that would read the files.
    """

    def __init__(self, message: str, *, side=None, values=(), counts=(), image=None, file=None,
                 predicts_ignore: bool = False, rules=None):
        super().__init__(message)
        self.side = side
        self.values = list(values)
        self.counts = list(counts)
        self.image = image
        self.file = file
        self.predicts_ignore = bool(predicts_ignore)
        self.rules = dict(rules or {})


class FormatError(SegmetricsError, ValueError):
    """A dataset file whose content is not what its format requires."""


class DataFileError(SegmetricsError, OSError):
    """A file or folder that is missing or cannot be read."""


class MissingPredictionError(FormatError):
    """Ground-truth images without a prediction.

    Attributes
    ----------
    missing : list
        Every image id without a prediction, in ground-truth order.
    total : int or None
        How many ground-truth images there are.
    """

    def __init__(self, message: str, *, missing=(), total=None):
        super().__init__(message)
        self.missing = list(missing)
        self.total = total


class SegmetricsWarning(UserWarning):
    """Something suspicious that does not stop the evaluation (also kept in results)."""
