"""segmetrics: fast, exact semantic and panoptic segmentation metrics.

The public API: evaluators for arrays (:class:`SemanticEvaluator`,
:class:`PanopticEvaluator`), the folder API (:func:`evaluate_semantic_folders`,
:func:`evaluate_panoptic_folders`), run-state files (:func:`load_state`,
:func:`merge_states`, :func:`compare_states`, ``result.save_state``), results, states, functional
metrics and errors.

Every public name loads its module on first use (PEP 562): ``import segmetrics``
itself imports neither numpy nor the compiled kernels, so the command line
starts fast, and array users never load the folder engine, the PNG decoder or
the GT cache (:mod:`segmetrics.folders`, :mod:`segmetrics.runs`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:  # what the names below are, for type checkers; at run time they load on first use
    from . import errors, metrics, semantic
    from .errors import (
        DataFileError,
        FormatError,
        InputError,
        LabelError,
        MissingPredictionError,
        SegmetricsError,
        SegmetricsWarning,
    )
    from .folders import (
        evaluate_panoptic_files,
        evaluate_panoptic_folders,
        evaluate_semantic_files,
        evaluate_semantic_folders,
        panoptic_quality,
    )
    from .metrics import (
        class_accuracy,
        class_dice,
        class_iou,
        class_precision,
        class_recall,
        fw_iou,
        mean_accuracy,
        mean_dice,
        mean_iou,
        pixel_accuracy,
    )
    from .panoptic import PanopticEvaluator, PanopticResult, panoptic_quality_arrays
    from .runs import load_state, merge_states
    from .semantic import SemanticEvaluator, SemanticResult, confusion_matrix
    from .state import PanopticState, SemanticState

__all__ = [
    "__version__",
    "errors",
    "metrics",
    "semantic",
    "confusion_matrix",
    "SemanticEvaluator",
    "SemanticState",
    "SemanticResult",
    "PanopticEvaluator",
    "PanopticResult",
    "PanopticState",
    "evaluate_semantic_folders",
    "evaluate_panoptic_folders",
    "evaluate_semantic_files",
    "evaluate_panoptic_files",
    "panoptic_quality",
    "panoptic_quality_arrays",
    "load_state",
    "merge_states",
    "compare_states",
    "SegmetricsError",
    "InputError",
    "LabelError",
    "FormatError",
    "DataFileError",
    "MissingPredictionError",
    "SegmetricsWarning",
    "pixel_accuracy",
    "class_accuracy",
    "mean_accuracy",
    "class_iou",
    "mean_iou",
    "fw_iou",
    "class_dice",
    "mean_dice",
    "class_precision",
    "class_recall",
]

#: Public name -> the module that defines it (a name that is a module maps to None).  Nothing
#: is imported with the package itself: ``segmetrics --version`` and ``import segmetrics`` do
#: not load numpy or the compiled kernels; each name loads its module on first use.
_LAZY = {
    "errors": None,
    "metrics": None,
    "semantic": None,
    "confusion_matrix": "semantic",
    "SemanticEvaluator": "semantic",
    "SemanticResult": "semantic",
    "SemanticState": "state",
    "PanopticEvaluator": "panoptic",
    "PanopticResult": "panoptic",
    "PanopticState": "state",
    "panoptic_quality_arrays": "panoptic",
    "evaluate_semantic_folders": "folders",
    "evaluate_panoptic_folders": "folders",
    "evaluate_semantic_files": "folders",
    "evaluate_panoptic_files": "folders",
    "panoptic_quality": "folders",
    "load_state": "runs",
    "merge_states": "runs",
    "compare_states": "runs",
    **{name: "errors" for name in ("SegmetricsError", "InputError", "LabelError", "FormatError", "DataFileError",
                                    "MissingPredictionError", "SegmetricsWarning")},
    **{name: "metrics" for name in ("pixel_accuracy", "class_accuracy", "mean_accuracy", "class_iou", "mean_iou",
                                     "fw_iou", "class_dice", "mean_dice", "class_precision", "class_recall")},
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'segmetrics' has no attribute {name!r}")
    import importlib

    module = _LAZY[name]
    if module is None:
        value = importlib.import_module(f"segmetrics.{name}")
    else:
        value = getattr(importlib.import_module(f"segmetrics.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
