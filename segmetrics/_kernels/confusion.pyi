"""Type stub of the compiled confusion-matrix kernel (see ``confusion.pyx``)."""
import numpy as np
import numpy.typing as npt

def accumulate(
    cm: npt.NDArray[np.int64],
    gt: npt.NDArray[np.uint8 | np.uint16 | np.int32 | np.int64],
    pred: npt.NDArray[np.uint8 | np.uint16 | np.int32 | np.int64],
    gt_codes: npt.NDArray[np.int32],
    pred_codes: npt.NDArray[np.int32],
    has_ignore: bool = ...,
    gt_ignore: int = ...,
) -> tuple[int, int]:
    """Add 2-D ``gt`` / ``pred`` pixels into the C-contiguous int64 ``cm`` in place.

    ``gt_codes[v]`` is the class of raw ground-truth value ``v``, -1 (ignored)
    or -2 (bad); ``pred_codes[v]`` the class of a raw prediction or -2.  Values
    beyond a table are bad, except a ground-truth value equal to ``gt_ignore``
    when ``has_ignore``.  Releases the GIL; returns ``(bad_gt, bad_pred)``
    pixel counts (valid pixels are counted regardless).
    """
    ...

def walk_runs(
    gt: npt.NDArray[np.uint8 | np.uint16 | np.int32 | np.int64],
    pred: npt.NDArray[np.uint8 | np.uint16 | np.int32 | np.int64],
    gt_codes: npt.NDArray[np.int32],
    pred_codes: npt.NDArray[np.int32],
    has_ignore: bool = ...,
    gt_ignore: int = ...,
) -> npt.NDArray[np.int64]:
    """The ``(R, 3)`` runs ``(gt code, prediction code, length)`` the row walker splits one
    1-D row pair into (for tests); inside a run of ignored GT the prediction is not
    looked at."""
    ...
