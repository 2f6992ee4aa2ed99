"""``segmetrics validate``: check a dataset (and predictions) without scoring.

:func:`validate_semantic` checks folders of label PNGs, :func:`validate_panoptic`
COCO panoptic JSON + PNG sets; both return a :class:`ValidationReport` of
:class:`Finding` objects (stable ``code``, ``severity``, one human line and
structured fields).  :func:`quick_checks` is the cheap subset ``segmetrics eval``
runs on what it has already counted.  ``docs/validate.md`` describes every check.

The rules validate applies are the library's own: the folder API's settings
resolver, :mod:`segmetrics.labels`' code tables and prediction-reading rule
(:func:`segmetrics.labels.decide_reading`), the panoptic presets' layout check.

The names load on first use: the folder API imports :func:`quick_checks` without
the checkers.
"""
from __future__ import annotations

__all__ = [
    "CHECKS", "SEVERITIES", "Check", "Finding", "ValidationReport", "format_text",
    "validate_semantic", "validate_panoptic", "quick_checks", "validate_command_line",
]

_LAZY = {
    "CHECKS": "_findings", "SEVERITIES": "_findings", "Check": "_findings", "Finding": "_findings",
    "ValidationReport": "_findings", "format_text": "_findings",
    "validate_semantic": "_semantic", "validate_panoptic": "_panoptic",
    "quick_checks": "_quick", "validate_command_line": "_quick",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'segmetrics.validate' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))
