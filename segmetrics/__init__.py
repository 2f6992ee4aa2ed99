"""segmetrics: fast, exact semantic and panoptic segmentation metrics.

The public API: evaluators for arrays (:class:`SemanticEvaluator`,
:class:`PanopticEvaluator`), the folder API (:func:`evaluate_semantic_folders`,
:func:`evaluate_panoptic_folders`), run-state files (:func:`load_state`,
:func:`merge_states`, :func:`compare_states`, ``result.save_state``), results, states, functional
metrics and errors.

The folder API and the state-file functions live in :mod:`segmetrics.folders`
and :mod:`segmetrics.runs`; they load on first use (they bring the folder
engine, the PNG decoder and the GT cache, which array users do not need).
"""
from __future__ import annotations

from . import errors, metrics, semantic
from ._version import __version__
from .errors import (
    DataFileError,
    FormatError,
    InputError,
    LabelError,
    MissingPredictionError,
    SegmetricsError,
    SegmetricsWarning,
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

_LAZY = {
    "evaluate_semantic_folders": "folders",
    "evaluate_panoptic_folders": "folders",
    "evaluate_semantic_files": "folders",
    "evaluate_panoptic_files": "folders",
    "panoptic_quality": "folders",
    "load_state": "runs",
    "merge_states": "runs",
    "compare_states": "runs",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segmetrics' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"segmetrics.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
