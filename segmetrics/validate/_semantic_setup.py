"""The label rules of a semantic validation: preset + arguments, resolved once into the
code tables the kernels count with (the evaluator's own tables, so validate and eval
judge a value the same way)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np

from ..errors import InputError
from ._readings import READINGS

__all__ = ["TABLE", "SemanticSetup", "semantic_setup"]

TABLE = 65536   # every value an 8- or 16-bit PNG sample can hold


@dataclass
class SemanticSetup:
    """Resolved label rules: preset + arguments (arguments win), and the code tables.

    ``gt_codes[v]`` is the class of raw GT value ``v`` (>= 0), -1 ignored or -2 not
    allowed; ``pred_codes[name]`` the same for a prediction reading (``class-index``:
    values are class indices; ``as-gt``: predictions hold the same raw values as
    the GT files; ``map``: an explicit prediction label map) and ``pred_void[name]``
    where a reading sends a value to the ignore index.
    """

    preset: Optional[str]
    num_classes: Optional[int]
    ignore_index: int
    reduce_zero_label: bool
    label_map: Optional[dict]
    label_map_name: Optional[str]
    pred_labels: str
    gt_suffix: str = ""
    pred_suffixes: tuple = ()
    gt_lut: Optional[np.ndarray] = None
    gt_codes: Optional[np.ndarray] = None
    pred_codes: dict = field(default_factory=dict)
    pred_void: dict = field(default_factory=dict)

    def params(self) -> dict:
        """The settings as a JSON-ready dict (the report's ``summary.params``)."""
        return {"preset": self.preset, "num_classes": self.num_classes, "ignore_index": self.ignore_index,
                "reduce_zero_label": self.reduce_zero_label, "label_map": self.label_map_name,
                "pred_labels": self.pred_labels}


def _load_mapping(value, what: str) -> tuple[Optional[dict], Optional[str]]:
    from ..presets import load_label_map

    if value is None:
        return None, None
    if isinstance(value, Mapping):
        return dict(value), f"<{what} mapping>"
    return load_label_map(value), str(value)


def semantic_setup(*, preset=None, num_classes=None, ignore_index=None, reduce_zero_label=None,
                   label_map=None, pred_label_map=None, pred_labels="auto") -> SemanticSetup:
    """Resolve the label rules of a semantic validation (the seam to the library's resolver).

    Raises
    ------
    InputError
        Unknown or panoptic preset, a bad ``pred_labels``, an ignore index that is a
        class, or a label map that sends values outside the classes.
    """
    from ..presets import get_preset, label_map_lut

    p = get_preset(preset) if preset else None
    if p is not None and p.task != "semantic":
        raise InputError(f"preset {p.name} is for {p.task} data; use validate_panoptic")
    if pred_labels not in READINGS[:2] + ("auto",):
        raise InputError(f"pred_labels must be 'auto', 'class-index' or 'as-gt', got {pred_labels!r}")
    k = num_classes if num_classes is not None else (p.num_classes if p else None)
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
        raise InputError(f"num_classes must be a positive integer, got {num_classes!r}")
    ignore = ignore_index if ignore_index is not None else (p.ignore_index if p else 255)
    if ignore < 0:
        raise InputError(f"ignore_index must be >= 0, got {ignore}")
    if k is not None and ignore < k:
        raise InputError(f"ignore_index {ignore} is one of the {k} classes (0..{k - 1}); pick a value outside them")
    rzl = bool(reduce_zero_label) if reduce_zero_label is not None else (p.reduce_zero_label if p else False)
    mapping, map_name = _load_mapping(label_map, "label")
    if mapping is None and p is not None and p.label_map is not None:
        mapping, map_name = dict(p.label_map), f"preset:{p.name}"
    pred_mapping, _ = _load_mapping(pred_label_map, "prediction label")
    setup = SemanticSetup(preset=p.name if p else None, num_classes=None if k is None else int(k),
                          ignore_index=int(ignore), reduce_zero_label=rzl, label_map=mapping,
                          label_map_name=map_name, pred_labels="map" if pred_mapping is not None else pred_labels,
                          gt_suffix=p.gt_suffix if p else "", pred_suffixes=p.pred_suffixes if p else ())
    if k is None:
        return setup
    if mapping is not None or rzl:
        setup.gt_lut = label_map_lut(mapping, num_classes=k, ignore_index=ignore, reduce_zero_label=rzl)
    luts = {"class-index": None}
    if pred_mapping is not None:
        luts = {"map": label_map_lut(pred_mapping, num_classes=k, ignore_index=ignore)}
    elif setup.gt_lut is not None:
        luts["as-gt"] = setup.gt_lut
    for name, lut in luts.items():
        gcodes, pcodes = _code_tables(k, ignore, setup.gt_lut, lut)
        setup.gt_codes = gcodes
        setup.pred_codes[name] = pcodes
        setup.pred_void[name] = _void_table(lut, ignore)
    return setup


def _code_tables(k: int, ignore: int, gt_lut, pred_lut) -> tuple[np.ndarray, np.ndarray]:
    """The evaluator's own code tables for these label rules (one owner of the rule)."""
    from .._pipeline import semantic_code_tables
    from ..semantic import SemanticEvaluator

    ev = SemanticEvaluator(k, ignore_index=ignore, gt_map=gt_lut, pred_map=pred_lut)
    g, p = semantic_code_tables(ev)
    return np.ascontiguousarray(g, dtype=np.int32), np.ascontiguousarray(p, dtype=np.int32)


def _void_table(lut: Optional[np.ndarray], ignore: int) -> np.ndarray:
    """``void[v]``: raw prediction value ``v`` means "the ignore index" under a reading."""
    void = np.zeros(TABLE, dtype=bool)
    if lut is None:
        if ignore < TABLE:
            void[ignore] = True
        return void
    n = min(lut.size, TABLE)
    void[:n] = lut[:n] == ignore
    if n <= ignore < TABLE:
        void[ignore] = True
    return void
