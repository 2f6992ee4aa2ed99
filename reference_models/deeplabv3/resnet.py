"""ResNet backbones with atrous (dilated) convolution for a chosen output stride.

The four residual stages ``layer1..layer4`` have nominal strides 4, 8, 16 and 32.
DeepLabV3 keeps the resolution of the deeper stages by replacing their stride
with dilation:

* output stride 16: ``layer4`` runs at stride 16 with dilation 2;
* output stride 8: ``layer3`` runs at stride 8 with dilation 2 and ``layer4``
  with dilation 4.

Multi-grid (section 3.2 of the paper) multiplies the dilation of the blocks of
``layer4`` by a unit grid, e.g. ``(1, 2, 4)``: block ``i`` uses
``dilation * grid[i]``.  ResNet-18/34 have fewer or more than three blocks in
``layer4`` (2 and 3); block ``i`` uses ``grid[min(i, len(grid) - 1)]``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segmetrics.errors import InputError

__all__ = ["StridedPointwise", "BasicBlock", "Bottleneck", "ResNet", "BACKBONES", "build_resnet", "stage_dilations"]


def _conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    # padding = dilation keeps the spatial size for stride 1
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)


class StridedPointwise(nn.Conv2d):
    """1x1 convolution with stride ``s`` computed as a stride-1 1x1 convolution of ``x[..., ::s, ::s]``.

    The same function and parameters as ``nn.Conv2d(cin, cout, 1, stride=s, bias=False)``.
    torch 2.13's CPU backward of a strided 1x1 convolution in the channels-last layout
    corrupts the heap for narrow layers (8 channels and fewer; a crash, found with the
    tiny test networks); subsampling first avoids that kernel.
    """

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__(cin, cout, 1, bias=False)
        self.step = int(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step != 1:
            x = x[..., ::self.step, ::self.step]
        return super().forward(x)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", subsample={self.step}"


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, width, stride, dilation)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, 1, dilation)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, dilated), 1x1 expand by 4 (ResNet-50/101)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride, dilation)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + shortcut)


#: name -> (block class, blocks per stage)
BACKBONES: dict[str, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
}


def stage_dilations(output_stride: int) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Strides and dilations of ``layer1..layer4`` for an output stride of 8, 16 or 32.

    Returns
    -------
    strides, dilations : tuple of 4 ints each
        The product of the stem stride (4) and ``strides`` is the output stride;
        every stride removed is replaced by doubling the dilation.
    """
    table = {
        32: ((1, 2, 2, 2), (1, 1, 1, 1)),
        16: ((1, 2, 2, 1), (1, 1, 1, 2)),
        8: ((1, 2, 1, 1), (1, 1, 2, 4)),
    }
    if output_stride not in table:
        raise InputError(f"output_stride must be 8, 16 or 32, got {output_stride!r}")
    return table[output_stride]


class ResNet(nn.Module):
    """ResNet feature extractor returning the ``layer3`` and ``layer4`` features.

    Parameters
    ----------
    block : BasicBlock or Bottleneck
    layers : 4 ints, blocks per stage
    output_stride : {8, 16, 32}
        Ratio of input size to ``layer4`` feature size.
    multi_grid : sequence of int
        Unit rates multiplying the dilation of the ``layer4`` blocks.
    in_channels : int
        Input channels (3 for RGB).
    width : int
        Channels of the stem and of the first stage (64 in ResNet); stage ``i``
        has ``width * 2**i`` (times 4 for bottleneck outputs).  Small widths give
        tiny models for tests and demos.

    Notes
    -----
    The stem is a 7x7/2 convolution, BatchNorm, ReLU and a 3x3/2 max pool (stride 4).
    Convolutions use Kaiming-normal initialisation (fan_out, ReLU); the last
    BatchNorm of every residual block starts at gamma = 0 so that each block is
    the identity at initialisation, which makes training from scratch stable.
    """

    def __init__(self, block: type[nn.Module], layers: Sequence[int], *, output_stride: int = 16,
                 multi_grid: Sequence[int] = (1, 2, 4), in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        if int(width) < 1:
            raise InputError(f"width must be >= 1, got {width!r}")
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise InputError(f"layers must be 4 positive block counts, got {tuple(layers)}")
        if not multi_grid or any(int(g) < 1 for g in multi_grid):
            raise InputError(f"multi_grid must be a non-empty sequence of positive ints, got {tuple(multi_grid)}")
        strides, dilations = stage_dilations(output_stride)
        self.output_stride = output_stride
        self.multi_grid = tuple(int(g) for g in multi_grid)
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self._cin = width
        widths = (width, 2 * width, 4 * width, 8 * width)
        stages = []
        for i in range(4):
            grid = self.multi_grid if i == 3 else (1,)
            stages.append(self._make_stage(block, widths[i], int(layers[i]), strides[i], dilations[i], grid))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.channels = tuple(w * block.expansion for w in widths)
        self.layer4_dilations = tuple(b.conv2.dilation[0] if isinstance(b, Bottleneck) else b.conv1.dilation[0]
                                      for b in self.layer4)
        self._init_weights()

    def _make_stage(self, block, width, blocks, stride, dilation, grid) -> nn.Sequential:
        downsample = None
        cout = width * block.expansion
        if stride != 1 or self._cin != cout:
            downsample = nn.Sequential(StridedPointwise(self._cin, cout, stride), nn.BatchNorm2d(cout))
        units = []
        for i in range(blocks):
            rate = dilation * grid[min(i, len(grid) - 1)]
            units.append(block(self._cin if i == 0 else cout, width, stride if i == 0 else 1, rate,
                               downsample if i == 0 else None))
            self._cin = cout
        return nn.Sequential(*units)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, (BasicBlock, Bottleneck)):
                nn.init.zeros_(m.last_bn.weight)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(layer3 features, layer4 features)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        c3 = self.layer3(x)
        c4 = self.layer4(c3)
        return c3, c4


def build_resnet(name: str, *, output_stride: int = 16, multi_grid: Sequence[int] = (1, 2, 4),
                 in_channels: int = 3, width: int = 64) -> ResNet:
    """Build ``resnet18``, ``resnet34``, ``resnet50`` or ``resnet101`` (randomly initialised)."""
    if name not in BACKBONES:
        raise InputError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    block, layers = BACKBONES[name]
    return ResNet(block, layers, output_stride=output_stride, multi_grid=multi_grid, in_channels=in_channels,
                  width=width)
