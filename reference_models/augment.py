"""Batched training augmentation in torch: random scale, pad with ignore + random crop, flip, colour.

The DeepLab recipe (rescale the image by a random factor, pad it with ignore to at
least the crop size, cut a random crop, mirror it with probability 0.5) is one
affine map from crop pixels to image pixels.  :class:`BatchAugment` draws its
parameters with a ``numpy.random.Generator`` (so that a checkpoint's RNG state
resumes a run exactly) and resamples every crop straight from the decoded image
with ``torch.nn.functional.grid_sample``: the image bilinearly, the label by
nearest neighbour, pixels outside the image become the mean colour (0 after
normalisation) and ``ignore_index``.  Only the crop's pixels are computed, on the
device that trains (no Pillow work per step, and on CUDA no host work at all).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from segmetrics.errors import InputError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "CropParams", "BatchAugment", "draw_params", "crop_theta",
           "normalize_batch", "image_batch"]

#: RGB mean and std (0..255 scale) used to normalise inputs (stored in every checkpoint)
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class CropParams:
    """One crop: scale factor, top-left corner in the rescaled, padded image, flip, colour gains."""

    scale: float
    top: int
    left: int
    flip: bool
    brightness: float = 1.0
    contrast: float = 1.0


def draw_params(rng: np.random.Generator, image_size: tuple[int, int], crop_size: tuple[int, int],
                scale_range: tuple[float, float], flip: bool, color: float = 0.0) -> CropParams:
    """Draw one crop's parameters (always the same number of draws, so streams stay aligned).

    Notes
    -----
    ``s ~ U(scale_range)``; the rescaled image is ``round(H s) x round(W s)``, padded at
    the bottom/right to at least the crop size; ``top ~ U{0..Hp - h}``,
    ``left ~ U{0..Wp - w}``; ``flip`` with probability 0.5; with ``color > 0`` the
    brightness and contrast gains are ``U(1 - color, 1 + color)`` each.
    """
    h, w = image_size
    ch, cw = crop_size
    s = float(rng.uniform(*scale_range))
    hp, wp = max(ch, max(1, round(h * s))), max(cw, max(1, round(w * s)))
    top = int(rng.integers(0, hp - ch + 1))
    left = int(rng.integers(0, wp - cw + 1))
    mirror = bool(rng.random() < 0.5) and flip
    gains = rng.uniform(1.0 - color, 1.0 + color, size=2) if color > 0 else (1.0, 1.0)
    return CropParams(s, top, left, mirror, float(gains[0]), float(gains[1]))


def crop_theta(p: CropParams, image_size: tuple[int, int], crop_size: tuple[int, int]) -> list[list[float]]:
    """2 x 3 ``affine_grid`` matrix (``align_corners=False``) mapping crop coordinates to image coordinates.

    Notes
    -----
    Crop pixel centre ``j + 1/2`` lies at ``(left + j + 1/2) / s`` in image pixels, so with
    normalised coordinates ``u = 2 x / W - 1``:
    ``u_in = u_out * cw / (s W) + (2 left + cw) / (s W) - 1`` (the same along y); a
    flip negates the ``u_out`` coefficient.  The rescaled size is rounded in
    :func:`draw_params` only to bound the offsets; the map uses the exact ``s``.
    """
    h, w = image_size
    ch, cw = crop_size
    sx = cw / (p.scale * w)
    sy = ch / (p.scale * h)
    bx = (2 * p.left + cw) / (p.scale * w) - 1.0
    by = (2 * p.top + ch) / (p.scale * h) - 1.0
    return [[-sx if p.flip else sx, 0.0, bx], [0.0, sy, by]]


def _stack(arrays) -> torch.Tensor:
    """Stack numpy arrays (read-only ones too) or tensors of one shape into one tensor."""
    if all(isinstance(a, torch.Tensor) for a in arrays):
        return torch.stack(list(arrays))
    return torch.from_numpy(np.stack([np.asarray(a) for a in arrays]))


def normalize_batch(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                    std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """``(N, 3, H, W)`` uint8 or float 0..255 -> float32 ``(x - mean) / std`` per channel.

    The one normalisation of the package: training crops, validation and prediction all use it.
    """
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x.float() - m) / s


def image_batch(images: Sequence[np.ndarray], device: torch.device | str = "cpu",
                mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """Stack ``(H, W, 3)`` uint8 images of one size into a normalised ``(N, 3, H, W)`` float32 batch."""
    x = _stack(images).to(device)
    return normalize_batch(x.permute(0, 3, 1, 2), mean, std)


class BatchAugment:
    """Turn decoded images and labels into one normalised training batch.

    Parameters
    ----------
    crop_size : (height, width)
    ignore_index : int
        Label of padded pixels (and of ignored ones).
    scale_range : (low, high)
        Uniform range of the rescaling factor (0.5-2.0 in the DeepLab papers).
    flip : bool
        Random horizontal mirror with probability 0.5.
    color : float
        Brightness and contrast jitter amplitude (0 = off): gains in ``[1 - color, 1 + color]``.
    device : torch.device
        Where the crops are computed (the training device).

    Notes
    -----
    Labels are resampled as ``label + 1`` with zeros outside the image, so that a
    sample that falls outside becomes ``ignore_index`` and never class 0.
    Brightness multiplies the 0..255 image; contrast scales it about its (brightened)
    mean grey value; the result is clipped to 0..255.  Jitter is applied to the whole
    image before resampling.  Padding is the
    mean colour (exactly 0 after normalisation), as the DeepLab recipe pads.
    """

    def __init__(self, crop_size: tuple[int, int], ignore_index: int = 255,
                 scale_range: tuple[float, float] = (0.5, 2.0), flip: bool = True, color: float = 0.0,
                 device: torch.device | str = "cpu", mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        if len(crop_size) != 2 or min(crop_size) < 1:
            raise InputError(f"crop_size must be (height, width) >= 1, got {crop_size!r}")
        lo, hi = scale_range
        if not 0 < lo <= hi:
            raise InputError(f"scale_range must satisfy 0 < low <= high, got {scale_range!r}")
        if not 0 <= color < 1:
            raise InputError(f"color jitter must lie in [0, 1), got {color!r}")
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.ignore_index = int(ignore_index)
        self.scale_range = (float(lo), float(hi))
        self.flip = bool(flip)
        self.color = float(color)
        self.device = torch.device(device)
        self.mean, self.std = tuple(mean), tuple(std)

    def params(self, rng: np.random.Generator, sizes: Sequence[tuple[int, int]]) -> list[CropParams]:
        return [draw_params(rng, s, self.crop_size, self.scale_range, self.flip, self.color) for s in sizes]

    def apply(self, images: Sequence[np.ndarray | torch.Tensor], labels: Sequence[np.ndarray | torch.Tensor],
              params: Sequence[CropParams]) -> tuple[torch.Tensor, torch.Tensor]:
        """Crops of ``images`` (``(H, W, 3)`` uint8) and ``labels`` (``(H, W)``) for the given parameters.

        Returns ``(x, y)``: ``x`` float32 ``(N, 3, h, w)`` normalised, ``y`` int64 ``(N, h, w)``.
        """
        ch, cw = self.crop_size
        # images of one size are resampled in one call; mixed sizes one by one
        groups: dict[tuple[int, int], list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(tuple(img.shape[:2]), []).append(i)
        out_x = [None] * len(images)
        out_y = [None] * len(images)
        for size, idx in groups.items():
            img = _stack([images[i] for i in idx]).to(self.device)
            lab = _stack([labels[i] for i in idx]).to(self.device)
            img = img.permute(0, 3, 1, 2).float()
            if self.color > 0:  # jitter the whole image, before resampling, so padding stays the mean colour
                b = torch.tensor([params[i].brightness for i in idx], device=self.device).view(-1, 1, 1, 1)
                c = torch.tensor([params[i].contrast for i in idx], device=self.device).view(-1, 1, 1, 1)
                grey = img.mean(dim=(1, 2, 3), keepdim=True) * b
                img = ((img * b - grey) * c + grey).clamp(0, 255)
            lab = lab.long()
            lab = torch.where(lab == self.ignore_index, torch.zeros_like(lab), lab + 1).float()[:, None]
            theta = torch.tensor([crop_theta(params[i], size, self.crop_size) for i in idx],
                                 dtype=torch.float32, device=self.device)
            grid = F.affine_grid(theta, [len(idx), 3, ch, cw], align_corners=False)
            # sample the mean-subtracted image so that zero padding is the mean colour
            m = torch.tensor(self.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
            crop = F.grid_sample(img - m, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + m
            lab_c = F.grid_sample(lab, grid, mode="nearest", padding_mode="zeros", align_corners=False)[:, 0]
            lab_c = lab_c.round().long()
            lab_c = torch.where(lab_c == 0, torch.full_like(lab_c, self.ignore_index), lab_c - 1)
            for j, i in enumerate(idx):
                out_x[i] = crop[j]
                out_y[i] = lab_c[j]
        xs, ys = torch.stack(out_x), torch.stack(out_y)
        return normalize_batch(xs, self.mean, self.std), ys

    def __call__(self, images, labels, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        params = self.params(rng, [tuple(im.shape[:2]) for im in images])
        return self.apply(images, labels, params)
