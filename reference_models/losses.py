"""Segmentation losses (placeholder: cross-entropy only; the full library follows)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segmetrics.errors import InputError

__all__ = ["CrossEntropyLoss", "LOSSES", "build_loss"]


class CrossEntropyLoss(nn.Module):
    def __init__(self, *, ignore_index: int = 255, weight=None) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, logits, target):
        return F.cross_entropy(logits, target.long(), weight=self.weight, ignore_index=self.ignore_index)


LOSSES = {"ce": CrossEntropyLoss}


def build_loss(name: str, *, ignore_index: int = 255, num_classes: int | None = None, **kwargs) -> nn.Module:
    if name not in LOSSES:
        raise InputError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name](ignore_index=ignore_index, **kwargs)
