"""The DeepLabV3 network: ResNet backbone + ASPP + classifier, optional auxiliary FCN head."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segmetrics.errors import InputError

from .aspp import ASPP, aspp_rates
from .resnet import build_resnet

__all__ = ["DeepLabV3", "FCNHead", "build_deeplabv3"]


class FCNHead(nn.Module):
    """Auxiliary head: 3x3 conv + BN + ReLU, dropout, 1x1 classifier (used only in training)."""

    def __init__(self, in_channels: int, num_classes: int, channels: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.block(x))


class DeepLabV3(nn.Module):
    """DeepLabV3 (Chen et al. 2017, arXiv:1706.05587).

    Parameters
    ----------
    num_classes : int
        Number of output classes K.
    backbone : {"resnet18", "resnet34", "resnet50", "resnet101"}
    output_stride : {8, 16}
        Input size / backbone feature size; the ASPP rates follow it
        (6/12/18 at 16, 12/24/36 at 8).
    multi_grid : sequence of int
        Unit rates of the ``layer4`` blocks (multi-grid).
    aux : bool
        Add the auxiliary FCN head on the ``layer3`` features (stride 16 at output
        stride 16; stride 8 at output stride 8, where ``layer3`` is dilated too).
    aspp_channels : int
        Channels of the ASPP branches (256 in the paper).
    dropout : float
        Dropout before the classifier.
    width : int
        Backbone width (64 = the standard ResNet; smaller for tiny test models).

    Notes
    -----
    ``forward(x)`` returns logits of shape ``(N, K, H, W)``: the classifier runs on
    the ``H/os x W/os`` features and its output is upsampled bilinearly
    (``align_corners=False``) to the input size.  In training mode with ``aux``
    it returns ``(logits, aux_logits)``, both at the input size.
    """

    def __init__(self, num_classes: int, *, backbone: str = "resnet50", output_stride: int = 16,
                 multi_grid: Sequence[int] = (1, 2, 4), aux: bool = False, aspp_channels: int = 256,
                 dropout: float = 0.1, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        if int(num_classes) < 1:
            raise InputError(f"num_classes must be >= 1, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.backbone_name = backbone
        self.output_stride = output_stride
        self.backbone = build_resnet(backbone, output_stride=output_stride, multi_grid=multi_grid,
                                     in_channels=in_channels, width=width)
        self.width = int(width)
        self.aspp_channels = int(aspp_channels)
        c3, c4 = self.backbone.channels[2], self.backbone.channels[3]
        self.aspp = ASPP(c4, aspp_rates(output_stride), aspp_channels, dropout)
        self.classifier = nn.Conv2d(aspp_channels, self.num_classes, 1)
        self.aux_head = FCNHead(c3, self.num_classes, channels=aspp_channels) if aux else None
        for m in [self.aspp, self.classifier] + ([self.aux_head] if aux else []):
            for sub in m.modules():
                if isinstance(sub, nn.Conv2d):
                    nn.init.kaiming_normal_(sub.weight, mode="fan_out", nonlinearity="relu")
                    if sub.bias is not None:
                        nn.init.zeros_(sub.bias)
        # classifiers start with small weights so that the initial logits are near uniform
        for clf in [self.classifier] + ([self.aux_head.classifier] if aux else []):
            nn.init.normal_(clf.weight, std=0.01)

    def forward(self, x: torch.Tensor):
        if x.ndim != 4:
            raise InputError(f"DeepLabV3 expects a (N, C, H, W) batch, got shape {tuple(x.shape)}")
        size = x.shape[-2:]
        c3, c4 = self.backbone(x)
        logits = F.interpolate(self.classifier(self.aspp(c4)), size=size, mode="bilinear", align_corners=False)
        if self.aux_head is not None and self.training:
            aux = F.interpolate(self.aux_head(c3), size=size, mode="bilinear", align_corners=False)
            return logits, aux
        return logits


def build_deeplabv3(num_classes: int, backbone: str = "resnet50", output_stride: int = 16, **kwargs) -> DeepLabV3:
    """Convenience constructor; keyword arguments go to :class:`DeepLabV3`."""
    return DeepLabV3(num_classes, backbone=backbone, output_stride=output_stride, **kwargs)
