"""segmetrics: fast, exact semantic and panoptic segmentation metrics."""
from __future__ import annotations

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

from .panoptic import (
    PanopticEvaluator,
    PanopticResult,
    PanopticState,
    panoptic_quality,
    panoptic_quality_arrays,
)
from .semantic import SemanticEvaluator, SemanticResult, SemanticState, confusion_matrix

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "errors",
    "metrics",
    "semantic",
    "confusion_matrix",
    "SemanticEvaluator",
    "SemanticState",
    "SemanticResult",
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
    "PanopticEvaluator",
    "PanopticResult",
    "PanopticState",
    "panoptic_quality",
    "panoptic_quality_arrays",
]
