"""DeepLabV3 (Chen, Papandreou, Schroff, Adam 2017, arXiv:1706.05587) in plain PyTorch."""
from __future__ import annotations

from .aspp import ASPP, aspp_rates
from .model import DeepLabV3, FCNHead, build_deeplabv3
from .resnet import BACKBONES, ResNet, build_resnet

__all__ = [
    "ASPP",
    "aspp_rates",
    "DeepLabV3",
    "FCNHead",
    "build_deeplabv3",
    "BACKBONES",
    "ResNet",
    "build_resnet",
]
