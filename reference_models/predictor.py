"""Inference for DeepLabV3 checkpoints and the writers of ``segmetrics eval`` prediction folders.

Two output formats:

* ``semantic``: one single-channel PNG per image, ``<stem>.png``, value =
  class id + ``label_offset`` (8-bit, or 16-bit when the largest value exceeds 255).
  ADE20K checkpoints default to ``label_offset = 1`` (the 1..150 convention).
* ``coco-panoptic``: ``panoptic_pred.json`` (COCO panoptic results: ``annotations``
  with ``image_id``, ``file_name`` and ``segments_info``, plus ``categories``) and
  ``panoptic_pred/<stem>.png`` (RGB, id = R + 256 G + 256^2 B, 0 = void).  Every
  stuff class present in the semantic map becomes one segment; the pixels of a
  thing class are split into instances by connected components.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from segmetrics.errors import DataFileError, InputError
from segmetrics.io.coco_panoptic import id2rgb

from .datasets import IMAGE_SUFFIXES, read_rgb
from .trainer import load_checkpoint, model_from_checkpoint, progress_bar, resolve_device
from .augment import image_batch

__all__ = ["Predictor", "connected_components", "semantic_to_panoptic", "predict_folder", "parse_scales",
           "list_images"]


def parse_scales(text: str) -> tuple[float, ...]:
    """``"0.75,1.0,1.25"`` -> ``(0.75, 1.0, 1.25)``; every scale must be positive."""
    try:
        scales = tuple(float(s) for s in str(text).split(",") if s.strip())
    except ValueError as exc:
        raise InputError(f"scales must be comma-separated numbers, got {text!r}") from exc
    if not scales or min(scales) <= 0:
        raise InputError(f"scales must be positive numbers, got {text!r}")
    return scales


def _windows(length: int, window: int, stride: int) -> list[int]:
    if length <= window:
        return [0]
    starts = list(range(0, length - window, stride))
    starts.append(length - window)
    return sorted(set(starts))


class Predictor:
    """Run a DeepLabV3 model on RGB images: whole image or sliding window, optional TTA.

    Parameters
    ----------
    model : DeepLabV3
    mean, std : 3 floats
        Input normalisation used in training.
    mode : {"whole", "slide"}
    window, stride : (height, width)
        Sliding-window size and step (``mode="slide"``).
    scales : sequence of float
        Test scales; the image is resized bilinearly by each factor.
    flip : bool
        Also run the horizontally mirrored image at every scale.
    channels_last : bool
        Feed inputs in the channels-last layout (for a model converted to it, as
        checkpoints trained with ``channels_last`` are).

    Notes
    -----
    For every (scale, flip) pass the logits are resized bilinearly back to the
    original size and turned into softmax probabilities; the prediction is the
    argmax of the mean probability.  In sliding mode, windows start every
    ``stride`` pixels, the last one is aligned with the border, an image smaller
    than the window is padded with zeros (the normalised mean colour) and logits
    of overlapping windows are averaged.
    """

    def __init__(self, model, *, mean: Sequence[float], std: Sequence[float], device: str | torch.device = "cpu",
                 mode: str = "whole", window: tuple[int, int] = (512, 512), stride: tuple[int, int] = (341, 341),
                 scales: Sequence[float] = (1.0,), flip: bool = False, channels_last: bool = False) -> None:
        if mode not in ("whole", "slide"):
            raise InputError(f"mode must be 'whole' or 'slide', got {mode!r}")
        if min(window) < 1 or min(stride) < 1:
            raise InputError(f"window and stride must be positive, got {window} and {stride}")
        if not scales or min(scales) <= 0:
            raise InputError(f"scales must be positive, got {scales}")
        self.device = resolve_device(str(device)) if not isinstance(device, torch.device) else device
        self.model = model.to(self.device).eval()
        self.mean, self.std = tuple(mean), tuple(std)
        self.mode, self.window, self.stride = mode, tuple(window), tuple(stride)
        self.scales, self.flip = tuple(scales), bool(flip)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "whole":
            return self.model(x.contiguous(memory_format=self.memory_format))
        _, _, h, w = x.shape
        wh, ww = self.window
        ph, pw = max(wh - h, 0), max(ww - w, 0)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph))
        hh, wp = x.shape[-2:]
        out = None
        count = torch.zeros((1, 1, hh, wp), device=x.device)
        for y0 in _windows(hh, wh, self.stride[0]):
            for x0 in _windows(wp, ww, self.stride[1]):
                logits = self.model(x[:, :, y0:y0 + wh, x0:x0 + ww].contiguous(memory_format=self.memory_format))
                if out is None:
                    out = torch.zeros((x.shape[0], logits.shape[1], hh, wp), device=x.device, dtype=logits.dtype)
                out[:, :, y0:y0 + wh, x0:x0 + ww] += logits
                count[:, :, y0:y0 + wh, x0:x0 + ww] += 1
        return (out / count)[:, :, :h, :w]

    @torch.no_grad()
    def probabilities(self, image: np.ndarray) -> torch.Tensor:
        """Mean softmax probabilities ``(K, H, W)`` of an ``(H, W, 3)`` uint8 image over all TTA passes."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
        h, w = image.shape[:2]
        x = image_batch([image], self.device, self.mean, self.std)
        total = None
        passes = 0
        for s in self.scales:
            xs = x if s == 1.0 else F.interpolate(x, size=(max(1, round(h * s)), max(1, round(w * s))),
                                                  mode="bilinear", align_corners=False)
            for flipped in ((False, True) if self.flip else (False,)):
                inp = torch.flip(xs, dims=[3]) if flipped else xs
                logits = self._forward(inp)
                if flipped:
                    logits = torch.flip(logits, dims=[3])
                if logits.shape[-2:] != (h, w):
                    logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
                prob = logits.float().softmax(1)[0]
                total = prob if total is None else total + prob
                passes += 1
        return total / passes

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Class ids ``(H, W)`` (int64) of an ``(H, W, 3)`` uint8 image."""
        return self.probabilities(image).argmax(0).cpu().numpy()


# ---------------------------------------------------------------- panoptic conversion
def connected_components(mask: np.ndarray, *, connectivity: int = 8) -> tuple[np.ndarray, int]:
    """Label the connected components of a boolean mask.

    Returns ``(labels, n)``: ``labels`` is int32 with 0 outside the mask and
    ``1..n`` for the components in raster order of their first pixel.
    ``connectivity`` is 4 (edge neighbours) or 8 (edge and corner neighbours).
    """
    from scipy import ndimage

    if connectivity not in (4, 8):
        raise InputError(f"connectivity must be 4 or 8, got {connectivity}")
    structure = np.ones((3, 3), dtype=bool) if connectivity == 8 else None
    labels, n = ndimage.label(np.asarray(mask, dtype=bool), structure=structure)
    return labels.astype(np.int32), int(n)


def semantic_to_panoptic(sem: np.ndarray, categories: Sequence[dict], *, min_area: int = 0,
                         connectivity: int = 8) -> tuple[np.ndarray, list[dict]]:
    """Turn a semantic map of training ids into a panoptic id map and its ``segments_info``.

    Parameters
    ----------
    sem : (H, W) int array of training ids ``0..K-1``
    categories : list of K dicts with ``id`` and ``isthing``; entry ``k`` describes training id ``k``.
    min_area : int
        Thing instances smaller than this become void (id 0); stuff segments are kept.

    Notes
    -----
    Segment ids are ``1, 2, ...`` in order of training id, then component order.
    Each stuff class present is one segment; each connected component of a thing
    class is one instance.  ``area`` is the segment's pixel count and ``iscrowd`` 0.
    """
    ids = np.zeros(sem.shape, dtype=np.int64)
    segments = []
    next_id = 1
    present = np.unique(sem)
    if present.size and (present.min() < 0 or present.max() >= len(categories)):
        raise InputError(f"semantic map holds ids {present.tolist()} outside [0, {len(categories)})")
    for k in present.tolist():
        cat = categories[k]
        mask = sem == k
        if not cat.get("isthing"):
            parts = [mask]
        else:
            lab, n = connected_components(mask, connectivity=connectivity)
            parts = [lab == j for j in range(1, n + 1)]
        for part in parts:
            area = int(part.sum())
            if cat.get("isthing") and area < min_area:
                continue
            ids[part] = next_id
            bbox = _bbox(part)
            segments.append({"id": next_id, "category_id": int(cat["id"]), "area": area, "bbox": bbox,
                             "iscrowd": 0})
            next_id += 1
    return ids, segments


def _bbox(mask: np.ndarray) -> list[int]:
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    return [int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)]


# ---------------------------------------------------------------- folders
def list_images(folder: str | Path) -> list[Path]:
    """Image files (png, jpg, ...) of a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataFileError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def _image_id(stem: str):
    return int(stem) if stem.isdigit() else stem


def checkpoint_categories(meta: dict, things: Sequence[int] | None = None) -> list[dict]:
    """Panoptic categories of a checkpoint: its COCO categories, else ids ``k + 1`` named by class."""
    if meta.get("categories"):
        return [dict(c) for c in meta["categories"]]
    thing_ids = set(things if things is not None else meta.get("thing_train_ids", []))
    return [{"id": k + 1, "name": name, "isthing": int(k in thing_ids)}
            for k, name in enumerate(meta["class_names"])]


def predict_folder(checkpoint: str | Path, images: str | Path, out: str | Path, *, fmt: str = "semantic",
                   label_offset: int | None = None, mode: str = "whole", window=(512, 512), stride=(341, 341),
                   scales=(1.0,), flip: bool = False, min_area: int = 0, things: Sequence[int] | None = None,
                   device: str = "auto", threads: int | None = None, progress: bool = False) -> int:
    """Predict every image of a folder and write a ``segmetrics eval`` prediction folder.

    Returns the number of images written.  See the module docstring for the formats.
    """
    if fmt not in ("semantic", "coco-panoptic"):
        raise InputError(f"format must be 'semantic' or 'coco-panoptic', got {fmt!r}")
    if threads:
        torch.set_num_threads(int(threads))
    state = load_checkpoint(checkpoint)
    meta = state["meta"]
    predictor = Predictor(model_from_checkpoint(state), mean=meta["mean"], std=meta["std"], device=device,
                          mode=mode, window=window, stride=stride, scales=scales, flip=flip,
                          channels_last=bool(state["config"].get("channels_last", False)))
    files = list_images(images)
    out = Path(out)
    offset = int(meta.get("pred_offset", 0) if label_offset is None else label_offset)
    categories = checkpoint_categories(meta, things) if fmt == "coco-panoptic" else None
    png_dir = out / "panoptic_pred" if fmt == "coco-panoptic" else out
    png_dir.mkdir(parents=True, exist_ok=True)
    annotations = []
    bar = progress_bar(len(files), 0, progress, desc="predict", unit="img")
    for path in files:
        pred = predictor.predict(read_rgb(path))
        if fmt == "semantic":
            values = pred + offset
            dtype = np.uint8 if values.max(initial=0) <= 255 else np.uint16
            Image.fromarray(values.astype(dtype)).save(png_dir / f"{path.stem}.png")
        else:
            ids, segments = semantic_to_panoptic(pred, categories, min_area=min_area)
            Image.fromarray(id2rgb(ids)).save(png_dir / f"{path.stem}.png")
            annotations.append({"image_id": _image_id(path.stem), "file_name": f"{path.stem}.png",
                                "segments_info": segments})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if fmt == "coco-panoptic":
        doc = {"annotations": annotations, "categories": categories,
               "images": [{"id": _image_id(p.stem), "file_name": p.name} for p in files]}
        (out / "panoptic_pred.json").write_text(json.dumps(doc))
    return len(files)
