"""The label rules of a semantic validation: the folder API's resolver
(:func:`segmetrics.folders.resolve_semantic_setup`) and its code tables, so that
validate and eval read every value, and every prediction reading, the same way."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..errors import InputError
from ..labels import FILE_TABLE_SIZE, PRED_LABELS

__all__ = ["SemanticSetup", "semantic_setup"]


@dataclass
class SemanticSetup:
    """Resolved settings (``base``: what the folder API resolved) and the code tables.

    ``gt_codes[v]`` is the class of raw GT value ``v`` (>= 0), -1 ignored or -2 not
    allowed; ``pred_codes[name]`` the same for a prediction reading
    (``class-index``: values are class indices; ``as-gt``: predictions hold the
    same raw values as the GT files; both through the prediction label map when
    one is given) and ``pred_void[name]`` where a reading sends a value to the
    ignore index.  Only readings that differ are listed.
    """

    base: Any
    pred_labels: str
    gt_codes: Optional[np.ndarray] = None
    pred_codes: dict = field(default_factory=dict)
    pred_void: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> Optional[int]:
        return self.base.num_classes

    @property
    def ignore_index(self) -> int:
        return self.base.ignore_index

    @property
    def reduce_zero_label(self) -> bool:
        return self.base.reduce_zero_label

    @property
    def gt_map(self) -> Optional[np.ndarray]:
        """The GT lookup table (label map and ``reduce_zero_label`` folded in), or None."""
        return self.base.gt_map

    @property
    def label_map_name(self) -> Optional[str]:
        return self.base.label_map

    @property
    def preset(self) -> Optional[str]:
        return self.base.preset.name if self.base.preset else None

    @property
    def gt_suffix(self) -> str:
        return self.base.preset.gt_suffix if self.base.preset else ""

    @property
    def pred_suffixes(self) -> tuple:
        return self.base.preset.pred_suffixes if self.base.preset else ()

    def params(self) -> dict:
        """The settings as a JSON-ready dict (the report's ``summary.params``)."""
        return {"preset": self.preset, "num_classes": self.num_classes, "ignore_index": self.ignore_index,
                "reduce_zero_label": self.reduce_zero_label, "label_map": self.label_map_name,
                "pred_label_map": self.base.pred_label_map, "pred_labels": self.pred_labels}


def semantic_setup(*, preset=None, num_classes=None, ignore_index=None, reduce_zero_label=None,
                   label_map=None, pred_label_map=None, pred_labels="auto") -> SemanticSetup:
    """Resolve the label rules of a semantic validation.

    Raises
    ------
    InputError
        Unknown or panoptic preset, a bad ``pred_labels``, an ignore index that is a
        class, or a label map that sends values outside the classes.
    """
    from ..folders import resolve_semantic_setup

    if pred_labels not in PRED_LABELS:
        raise InputError(f"pred_labels must be one of {PRED_LABELS}, got {pred_labels!r}")
    base = resolve_semantic_setup(preset=preset, num_classes=num_classes, ignore_index=ignore_index,
                                  reduce_zero_label=reduce_zero_label, label_map=label_map,
                                  pred_label_map=pred_label_map, require_classes=False)
    setup = SemanticSetup(base, pred_labels)
    if base.num_classes is None:
        return setup
    for name in ("class-index", "as-gt") if base.readings_differ() else ("class-index",):
        rules = base.rules(name)
        setup.gt_codes, setup.pred_codes[name] = rules.file_tables()
        # the void column's code marks the values this reading sends to the ignore index
        setup.pred_void[name] = rules.with_void_column().pred_codes(FILE_TABLE_SIZE) == base.num_classes
    return setup
