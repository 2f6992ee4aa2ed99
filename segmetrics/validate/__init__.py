"""``segmetrics validate``: check a dataset (and predictions) without scoring.

:func:`validate_semantic` checks folders of label PNGs, :func:`validate_panoptic`
COCO panoptic JSON + PNG sets; both return a :class:`ValidationReport` of
:class:`Finding` objects (stable ``code``, ``severity``, one human line and
structured fields).  :func:`quick_checks` is the cheap subset ``segmetrics eval``
runs on what it has already counted.  ``docs/validate.md`` describes every check.

The rules validate applies are the library's own: the folder API's settings
resolver, :mod:`segmetrics.labels`' code tables and prediction-reading rule
(:func:`segmetrics.labels.decide_reading`), the panoptic presets' layout check.
"""
from ._findings import CHECKS, SEVERITIES, Check, Finding, ValidationReport, format_text
from ._panoptic import validate_panoptic
from ._quick import quick_checks
from ._semantic import validate_semantic

__all__ = [
    "CHECKS", "SEVERITIES", "Check", "Finding", "ValidationReport", "format_text",
    "validate_semantic", "validate_panoptic", "quick_checks",
]
