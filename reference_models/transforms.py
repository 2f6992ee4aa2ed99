"""Pillow + numpy augmentation for semantic segmentation (no torchvision, no OpenCV).

Images are ``(H, W, 3) uint8`` arrays, labels ``(H, W)`` integer arrays already in
training ids (``0..K-1`` or ``ignore_index``).  Every random transform takes a
``numpy.random.Generator`` so that a run is reproducible from its seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from segmetrics.errors import InputError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "resize_pair",
    "random_scale",
    "pad_to",
    "random_crop",
    "random_hflip",
    "normalize",
    "TrainTransform",
]

#: RGB mean and std (0..255 scale) used to normalise inputs
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def resize_pair(image: np.ndarray, label: np.ndarray | None, size: tuple[int, int]):
    """Resize to ``size = (height, width)``: the image bilinearly, the label by nearest neighbour."""
    h, w = size
    img = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
    if label is None:
        return img, None
    lab = np.asarray(Image.fromarray(label.astype(np.uint8) if label.max(initial=0) < 256 else label.astype(np.int32))
                     .resize((w, h), Image.NEAREST)).astype(label.dtype)
    return img, lab


def random_scale(image, label, rng: np.random.Generator, scale_range=(0.5, 2.0)):
    """Rescale both by one factor drawn uniformly from ``scale_range``."""
    s = float(rng.uniform(*scale_range))
    h, w = label.shape
    return resize_pair(image, label, (max(1, round(h * s)), max(1, round(w * s))))


def pad_to(image, label, size: tuple[int, int], ignore_index: int, fill=IMAGENET_MEAN):
    """Pad bottom/right to at least ``size``: the image with ``fill``, the label with ``ignore_index``."""
    h, w = label.shape
    ph, pw = max(size[0] - h, 0), max(size[1] - w, 0)
    if ph == 0 and pw == 0:
        return image, label
    img = np.empty((h + ph, w + pw, image.shape[2]), dtype=image.dtype)
    img[...] = np.asarray(fill, dtype=np.float64).round().astype(image.dtype)
    img[:h, :w] = image
    lab = np.full((h + ph, w + pw), ignore_index, dtype=label.dtype)
    lab[:h, :w] = label
    return img, lab


def random_crop(image, label, size: tuple[int, int], rng: np.random.Generator, ignore_index: int):
    """Pad with ignore where smaller than ``size``, then crop a random ``size`` window."""
    image, label = pad_to(image, label, size, ignore_index)
    h, w = label.shape
    y = int(rng.integers(0, h - size[0] + 1))
    x = int(rng.integers(0, w - size[1] + 1))
    return image[y:y + size[0], x:x + size[1]], label[y:y + size[0], x:x + size[1]]


def random_hflip(image, label, rng: np.random.Generator, p: float = 0.5):
    """Mirror both left-right with probability ``p``."""
    if rng.random() < p:
        return image[:, ::-1], label[:, ::-1]
    return image, label


def normalize(image: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """``(H, W, 3) uint8`` -> ``(3, H, W) float32`` with ``(x - mean) / std`` per channel."""
    x = image.astype(np.float32)
    x -= np.asarray(mean, dtype=np.float32)
    x /= np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


@dataclass
class TrainTransform:
    """Random scale, pad-with-ignore + random crop, horizontal flip (the DeepLab training recipe).

    Parameters
    ----------
    crop_size : (height, width)
    ignore_index : int
        Label value of padded pixels.
    scale_range : (low, high)
        Uniform range of the random rescaling factor (0.5-2.0 in the paper).
    flip : bool
        Random horizontal flip with probability 0.5.
    """

    crop_size: tuple[int, int]
    ignore_index: int = 255
    scale_range: tuple[float, float] = (0.5, 2.0)
    flip: bool = True

    def __post_init__(self) -> None:
        if len(self.crop_size) != 2 or min(self.crop_size) < 1:
            raise InputError(f"crop_size must be (height, width) >= 1, got {self.crop_size!r}")
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise InputError(f"scale_range must satisfy 0 < low <= high, got {self.scale_range!r}")

    def __call__(self, image, label, rng: np.random.Generator):
        image, label = random_scale(image, label, rng, self.scale_range)
        image, label = random_crop(image, label, tuple(self.crop_size), rng, self.ignore_index)
        if self.flip:
            image, label = random_hflip(image, label, rng)
        return np.ascontiguousarray(image), np.ascontiguousarray(label)
