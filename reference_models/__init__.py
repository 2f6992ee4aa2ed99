"""Reference segmentation models for segmetrics (needs the ``[model]`` extra: torch).

Sub-modules
-----------
deeplabv3
    DeepLabV3 (Chen et al. 2017) with ResNet backbones in plain PyTorch.
losses
    Segmentation losses that all honour ``ignore_index``.
datasets, transforms
    Readers of the real dataset layouts and Pillow/numpy augmentation.
trainer, predictor
    Training loop with periodic validation and the prediction writer.
cli
    The click commands ``train`` and ``predict``.

Importing this package does not import torch; the sub-modules that need it do.
"""
from __future__ import annotations

__all__: list[str] = []
