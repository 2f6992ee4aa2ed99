"""Atrous Spatial Pyramid Pooling (DeepLabV3, section 3.3)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segmetrics.errors import InputError

__all__ = ["ASPP", "aspp_rates"]


def aspp_rates(output_stride: int) -> tuple[int, int, int]:
    """Atrous rates of the three 3x3 ASPP branches: (6, 12, 18) at stride 16, doubled at stride 8."""
    if output_stride == 16:
        return (6, 12, 18)
    if output_stride == 8:
        return (12, 24, 36)
    raise InputError(f"ASPP rates are defined for output_stride 8 or 16, got {output_stride!r}")


def _conv_bn_relu(cin: int, cout: int, kernel: int, dilation: int = 1) -> nn.Sequential:
    pad = 0 if kernel == 1 else dilation
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ImagePooling(nn.Module):
    """Global average pooling, 1x1 conv + BN + ReLU, bilinear upsampling back to the feature size."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = _conv_bn_relu(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(F.adaptive_avg_pool2d(x, 1))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """ASPP: a 1x1 branch, three 3x3 atrous branches and an image-pooling branch.

    Parameters
    ----------
    in_channels : int
        Channels of the backbone's last stage.
    rates : 3 ints
        Dilation rates of the 3x3 branches (see :func:`aspp_rates`).
    channels : int
        Channels of every branch and of the projection (256 in the paper).
    dropout : float
        Dropout after the projection.

    Notes
    -----
    Every branch is convolution + BatchNorm + ReLU with ``channels`` outputs; the
    five outputs are concatenated (``5 * channels``) and projected back to
    ``channels`` by a 1x1 convolution + BatchNorm + ReLU.  The image-pooling
    branch has a 1x1 spatial extent, so BatchNorm in training mode needs a batch
    of at least two images.
    """

    def __init__(self, in_channels: int, rates: Sequence[int] = (6, 12, 18), channels: int = 256,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if len(rates) != 3:
            raise InputError(f"ASPP needs three atrous rates, got {tuple(rates)}")
        self.rates = tuple(int(r) for r in rates)
        self.branches = nn.ModuleList(
            [_conv_bn_relu(in_channels, channels, 1)]
            + [_conv_bn_relu(in_channels, channels, 3, r) for r in self.rates]
            + [ImagePooling(in_channels, channels)]
        )
        self.project = nn.Sequential(_conv_bn_relu(5 * channels, channels, 1), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([b(x) for b in self.branches], dim=1))
