"""DeepLabV3 training loop: SGD + poly LR with warm-up, DeepLab augmentation, checkpoints, validation.

The loop counts iterations, not epochs.  The datasets are decoded once into
memory (:func:`~reference_models.datasets.preload`; ``preload=False`` decodes per
step for sets too large for memory).  Batches are drawn from a seeded epoch
permutation and cut by :class:`~reference_models.augment.BatchAugment` (random
scale, pad with ignore + random crop, horizontal flip, optional colour jitter) on
the training device.  Inputs and the model use the channels-last layout by default
(faster on CPUs).  A run is reproducible from its seed on one device type (CPU
kernels are deterministic for this model; cuDNN may not be), and a resumed run
continues bit-exactly on the CPU.

Validation runs the whole image (no crop) through the model in eval mode and
feeds ``argmax`` predictions to :class:`segmetrics.SemanticEvaluator`.  When
``segmetrics.semantic`` cannot be imported (a source checkout whose compiled kernels
are not built), a small ``np.bincount`` confusion matrix reduced by
:func:`segmetrics.metrics.summarize` gives the same numbers under the same rules
(``tests/test_trainer.py`` checks both against a NumPy oracle); :func:`make_evaluator`
chooses.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from segmetrics.errors import DataFileError, InputError
from segmetrics.metrics import summarize

from .augment import IMAGENET_MEAN, IMAGENET_STD, BatchAugment, image_batch
from .datasets import SegmentationDataset, build_dataset, class_pixel_counts, preload
from .deeplabv3 import DeepLabV3
from .losses import build_loss, median_frequency_weights

__all__ = ["TrainConfig", "Trainer", "make_evaluator", "poly_lr", "evaluate_model", "load_checkpoint",
           "model_from_checkpoint", "progress_bar"]

log = logging.getLogger("reference_models.trainer")

#: ``--class-weight`` choices: no weights, or median frequency balancing from the training labels
CLASS_WEIGHTS = ("none", "median-freq")
#: losses that take per-class weights (focal as its ``alpha``)
WEIGHTED_LOSSES = ("ce", "ohem", "focal", "combo")


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in every checkpoint)."""

    dataset: str = "camvid"
    data_root: str | None = None
    train_split: str = "train"
    val_split: str | None = "val"
    num_classes: int | None = None
    backbone: str = "resnet18"
    output_stride: int = 16
    multi_grid: tuple[int, ...] = (1, 2, 4)
    aux: bool = False
    width: int = 64
    aspp_channels: int = 256
    aux_weight: float = 0.4
    loss: str = "ce"
    class_weight: str = "none"
    crop_size: tuple[int, int] = (320, 320)
    scale_range: tuple[float, float] = (0.5, 2.0)
    flip: bool = True
    color_jitter: float = 0.0
    batch_size: int = 8
    iterations: int = 1000
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    warmup_iters: int = 0
    stop_after: int | None = None
    seed: int = 0
    val_interval: int = 250
    checkpoint_interval: int = 100
    log_interval: int = 10
    out_dir: str = "runs/deeplabv3"
    device: str = "auto"
    amp: bool = True
    amp_dtype: str = "float16"
    threads: int | None = None
    progress: bool = True
    channels_last: bool = True
    preload: bool = True
    val_batch_size: int = 4

    def validate(self) -> None:
        if self.batch_size < 2:
            raise InputError(f"batch_size must be >= 2 (BatchNorm of the ASPP image-pooling branch "
                             f"needs two samples in training), got {self.batch_size}")
        if self.iterations < 1:
            raise InputError(f"iterations must be >= 1, got {self.iterations}")
        if self.lr <= 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        if self.output_stride not in (8, 16):
            raise InputError(f"output_stride must be 8 or 16, got {self.output_stride}")
        if self.class_weight not in CLASS_WEIGHTS:
            raise InputError(f"class_weight must be one of {CLASS_WEIGHTS}, got {self.class_weight!r}")
        if self.class_weight != "none" and self.loss not in WEIGHTED_LOSSES:
            raise InputError(f"class weights apply to the losses {', '.join(WEIGHTED_LOSSES)}, not {self.loss!r}")
        if not 0 <= self.warmup_iters < self.iterations:
            raise InputError(f"warmup_iters must lie in [0, iterations), got {self.warmup_iters}")
        if self.amp_dtype not in ("float16", "bfloat16"):
            raise InputError(f"amp_dtype must be float16 or bfloat16, got {self.amp_dtype!r}")
        if self.val_batch_size < 1:
            raise InputError(f"val_batch_size must be >= 1, got {self.val_batch_size}")


def poly_lr(base_lr: float, iteration: int, max_iter: int, power: float = 0.9, warmup_iters: int = 0) -> float:
    """Poly learning rate ``base_lr * (1 - it / max_iter) ** power`` with an optional linear warm-up.

    Notes
    -----
    ``it`` is the 0-based index of the iteration about to run, so the first
    iteration uses ``base_lr`` (times ``1 / warmup_iters`` during warm-up) and the
    last uses ``base_lr * (1 / max_iter) ** power``.
    """
    lr = base_lr * (1.0 - iteration / max_iter) ** power
    if warmup_iters > 0 and iteration < warmup_iters:
        lr *= (iteration + 1) / warmup_iters
    return lr


class _BincountEvaluator:
    """Fallback confusion-matrix accumulator (``np.bincount``) with the SemanticEvaluator interface."""

    def __init__(self, num_classes: int, *, ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.confusion = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, gt, pred, *, image_id=None) -> None:
        gt = np.asarray(gt).astype(np.int64).ravel()
        pred = np.asarray(pred).astype(np.int64).ravel()
        keep = gt != self.ignore_index
        gt, pred = gt[keep], pred[keep]
        k = self.num_classes
        if gt.size and (gt.min() < 0 or gt.max() >= k or pred.min() < 0 or pred.max() >= k):
            raise InputError(f"labels outside [0, {k}) in image {image_id}")
        self.confusion += np.bincount(gt * k + pred, minlength=k * k).reshape(k, k)

    def compute(self):
        class _R:
            pass

        r = _R()
        s = summarize(self.confusion)
        r.metrics = {key: s[key] for key in ("aAcc", "mAcc", "mIoU", "fwIoU", "mDice")}
        r.per_class = {key: s[key] for key in ("IoU", "Acc")}
        r.confusion = self.confusion.copy()
        return r


def make_evaluator(num_classes: int, ignore_index: int = 255):
    """``segmetrics.SemanticEvaluator`` when available, otherwise the bincount fallback."""
    try:
        from segmetrics.semantic import SemanticEvaluator
    except ImportError:
        return _BincountEvaluator(num_classes, ignore_index=ignore_index)
    return SemanticEvaluator(num_classes, ignore_index=ignore_index)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda requested but torch.cuda.is_available() is False")
    return dev


@torch.no_grad()
def evaluate_model(model: DeepLabV3, dataset: SegmentationDataset, device: torch.device, *,
                   amp: bool = False, amp_dtype: torch.dtype = torch.float16, progress=None, batch_size: int = 1,
                   channels_last: bool = False,
                   mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
    """Whole-image validation of ``model`` on a labelled dataset; returns the evaluator's result.

    Consecutive images of one size are run ``batch_size`` at a time (eval-mode
    BatchNorm makes every image's logits independent of its batch mates).
    """
    model.eval()
    ev = make_evaluator(dataset.num_classes, dataset.ignore_index)
    pending: list[tuple[np.ndarray, np.ndarray, str]] = []

    def flush():
        x = image_batch([im for im, _, _ in pending], device, mean, std)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp and device.type == "cuda"):
            logits = model(x)
        preds = logits.argmax(1).cpu().numpy().astype(np.uint8)
        for (_, label, image_id), pred in zip(pending, preds):
            ev.update(label, pred, image_id=image_id)
        if progress is not None:
            progress(len(pending))
        pending.clear()

    for i in range(len(dataset)):
        image, label, image_id = dataset.load(i)
        if label is None:
            raise DataFileError(f"validation image {image_id} of {dataset.name!r} has no label file")
        if pending and (len(pending) >= batch_size or pending[0][0].shape != image.shape):
            flush()
        pending.append((image, label, image_id))
    if pending:
        flush()
    return ev.compute()


def progress_bar(total: int, initial: int = 0, enabled: bool = True, desc: str = "train", unit: str = "it"):
    """A tqdm bar with ETA on an interactive stderr; None when disabled, without a TTY or without tqdm.

    Logs and redirected output get no bar (train.log has the same figures).
    """
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, dynamic_ncols=True, mininterval=0.5, desc=desc, unit=unit,
                file=sys.stderr)


class Trainer:
    """Train DeepLabV3 from a :class:`TrainConfig`.

    Parameters
    ----------
    config : TrainConfig
    train_set, val_set : SegmentationDataset, optional
        Override the datasets built from ``config`` (tests pass in-memory ones).
    """

    def __init__(self, config: TrainConfig, *, train_set: SegmentationDataset | None = None,
                 val_set: SegmentationDataset | None = None) -> None:
        config.validate()
        self.cfg = config
        if config.threads:
            torch.set_num_threads(int(config.threads))
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        train_set = train_set if train_set is not None else build_dataset(
            config.dataset, config.data_root, config.train_split, num_classes=config.num_classes, seed=config.seed)
        if val_set is None and config.val_split:
            val_set = build_dataset(config.dataset, config.data_root, config.val_split,
                                    num_classes=config.num_classes, seed=config.seed)
        if not train_set.has_labels():
            raise DataFileError(f"training split {config.train_split!r} of {config.dataset!r} has no labels")
        if config.preload:
            train_set = preload(train_set)
            val_set = preload(val_set) if val_set is not None else None
        self.train_set, self.val_set = train_set, val_set
        self.num_classes = self.train_set.num_classes
        self.device = resolve_device(config.device)
        self.amp = bool(config.amp and self.device.type == "cuda")
        self.amp_dtype = torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = DeepLabV3(self.num_classes, backbone=config.backbone, output_stride=config.output_stride,
                               multi_grid=config.multi_grid, aux=config.aux, width=config.width,
                               aspp_channels=config.aspp_channels).to(self.device, memory_format=self.memory_format)
        self.class_weights = self._class_weights()
        loss_kw = {}
        if self.class_weights is not None:
            loss_kw["alpha" if config.loss == "focal" else "weight"] = self.class_weights
        self.criterion = build_loss(config.loss, ignore_index=self.train_set.ignore_index,
                                    num_classes=self.num_classes, **loss_kw).to(self.device)
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            (no_decay if p.ndim <= 1 else decay).append(p)
        # weight decay on convolution weights only (BatchNorm and biases are not decayed)
        self.optimizer = torch.optim.SGD([{"params": decay, "weight_decay": config.weight_decay},
                                          {"params": no_decay, "weight_decay": 0.0}],
                                         lr=config.lr, momentum=config.momentum)
        # bfloat16 has float32's exponent range: no loss scaling needed
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.augment = BatchAugment(tuple(config.crop_size), self.train_set.ignore_index, tuple(config.scale_range),
                                    config.flip, config.color_jitter, device=self.device)
        self.iteration = 0
        self._perm = np.empty(0, dtype=np.int64)
        self._pos = 0
        self.history: list[dict] = []
        self.curve: list[dict] = []
        self._clock = {"wall": 0.0, "cpu": 0.0}
        self.out_dir = Path(config.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._setup_log()

    # ------------------------------------------------------------------ plumbing
    def _setup_log(self) -> None:
        log.setLevel(logging.INFO)
        path = (self.out_dir / "train.log").resolve()
        for h in list(log.handlers):
            if isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path:
                return
            log.removeHandler(h)
        h = logging.FileHandler(path)
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        log.addHandler(h)
        log.propagate = False

    def _next_indices(self, n: int) -> list[int]:
        out = []
        while len(out) < n:
            if self._pos >= len(self._perm):
                self._perm = self.rng.permutation(len(self.train_set))
                self._pos = 0
            out.append(int(self._perm[self._pos]))
            self._pos += 1
        return out

    def _class_weights(self) -> list[float] | None:
        if self.cfg.class_weight == "none":
            return None
        return median_frequency_weights(*class_pixel_counts(self.train_set))

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw, augment, normalise and stack one training batch (on the training device)."""
        images, labels = [], []
        for idx in self._next_indices(self.cfg.batch_size):
            image, label, _ = self.train_set.load(idx)
            images.append(image)
            labels.append(label)
        x, y = self.augment(images, labels, self.rng)
        return x.contiguous(memory_format=self.memory_format), y

    def meta(self) -> dict:
        ds = self.train_set
        return {"dataset": ds.name, "num_classes": ds.num_classes, "class_names": list(ds.class_names),
                "ignore_index": ds.ignore_index, "pred_offset": ds.pred_offset,
                "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                "thing_train_ids": sorted(getattr(ds, "thing_train_ids", [])),
                "categories": getattr(ds, "categories", None)}

    def save_checkpoint(self, path: Path | None = None) -> Path:
        path = Path(path) if path is not None else self.out_dir / "last.pt"
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": self.iteration,
            "config": asdict(self.cfg),
            "meta": self.meta(),
            "rng": {"numpy": self.rng.bit_generator.state, "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
                    "perm": self._perm.tolist(), "pos": self._pos},
            "history": self.history,
            "curve": self.curve,
            "clock": dict(self._clock),
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)
        return path

    def resume(self, path: str | Path) -> None:
        """Restore model, optimizer, scaler, iteration counter and RNG state from a checkpoint.

        The schedule of the current configuration applies from the restored
        iteration on: resuming with a different ``iterations`` continues the poly
        decay towards the new end (the learning rate steps once, at the resume point).
        """
        state = load_checkpoint(path)
        if int(state["iteration"]) > self.cfg.iterations:
            raise InputError(f"checkpoint {path} is at iteration {int(state['iteration'])}, beyond iterations="
                             f"{self.cfg.iterations}")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise InputError(f"checkpoint {path} does not fit this configuration (backbone "
                             f"{state.get('config', {}).get('backbone')!r}, {state.get('meta', {}).get('num_classes')} "
                             f"classes; here {self.cfg.backbone!r}, {self.num_classes} classes): {exc}") from exc
        self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        self.rng.bit_generator.state = state["rng"]["numpy"]
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self._perm = np.asarray(state["rng"]["perm"], dtype=np.int64)
        self._pos = int(state["rng"]["pos"])
        self.history = list(state.get("history", []))
        self.curve = list(state.get("curve", []))
        self._clock = dict(state.get("clock", {"wall": 0.0, "cpu": 0.0}))
        log.info("resumed from %s at iteration %d", path, self.iteration)

    # ------------------------------------------------------------------ loop
    def train_step(self) -> float:
        cfg = self.cfg
        self.model.train()
        lr = poly_lr(cfg.lr, self.iteration, cfg.iterations, cfg.poly_power, cfg.warmup_iters)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        x, y = self.next_batch()
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            out = self.model(x)
            if isinstance(out, tuple):
                loss = self.criterion(out[0].float(), y) + cfg.aux_weight * self.criterion(out[1].float(), y)
            else:
                loss = self.criterion(out.float(), y)
        if not torch.isfinite(loss):
            raise InputError(f"loss became {loss.item()} at iteration {self.iteration}; lower --lr")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.iteration += 1
        return float(loss.detach())

    def validate(self) -> dict | None:
        """Score the validation set; appends and returns a history entry (None without a validation set)."""
        if self.val_set is None or len(self.val_set) == 0:
            return None
        t0 = time.perf_counter()
        result = evaluate_model(self.model, self.val_set, self.device, amp=self.amp, amp_dtype=self.amp_dtype,
                                batch_size=self.cfg.val_batch_size, channels_last=self.cfg.channels_last)
        m = {k: float(result.metrics[k]) for k in ("aAcc", "mAcc", "mIoU", "fwIoU")}
        iou = [None if not np.isfinite(v) else float(v) for v in np.asarray(result.per_class["IoU"], dtype=float)]
        entry = {"iteration": self.iteration, **m, "IoU": iou,
                 "train_loss": self.curve[-1]["loss"] if self.curve else None,
                 "train_cpu_seconds": round(self._clock["cpu"], 1), "train_wall_seconds": round(self._clock["wall"], 1),
                 "seconds": round(time.perf_counter() - t0, 1)}
        self.history.append(entry)
        log.info("val it=%d %s (%.0fs)", self.iteration,
                 " ".join(f"{k}={100 * v:.2f}" for k, v in m.items()), entry["seconds"])
        log.info("val it=%d IoU %s", self.iteration, " ".join(
            f"{name}={'n/a' if v is None else f'{100 * v:.1f}'}" for name, v in zip(self.train_set.class_names, iou)))
        return entry

    def write_history(self) -> None:
        """``history.json`` (validation entries) and ``curve.json`` (training loss, LR, clock)."""
        (self.out_dir / "history.json").write_text(json.dumps(self.history, indent=1))
        (self.out_dir / "curve.json").write_text(json.dumps(self.curve, indent=0))

    def fit(self) -> list[dict]:
        """Run the remaining iterations; returns the validation history.

        With ``stop_after`` the loop stops once that iteration is reached, saves
        ``last.pt`` and skips the final validation (resume continues the same schedule).
        Wall and CPU seconds of the training steps (validation excluded) add up
        across resumes and are logged with every ``log_interval``.
        """
        cfg = self.cfg
        log.info("config %s", json.dumps(asdict(cfg)))
        log.info("train %d images, val %d images, device %s, amp %s, threads %d, class weights %s",
                 len(self.train_set), 0 if self.val_set is None else len(self.val_set), self.device, self.amp,
                 torch.get_num_threads(),
                 None if self.class_weights is None else [round(w, 3) for w in self.class_weights])
        bar = progress_bar(cfg.iterations, self.iteration, cfg.progress)
        t0 = time.perf_counter()
        start_it = self.iteration
        running = None
        end = cfg.iterations if cfg.stop_after is None else min(cfg.iterations, cfg.stop_after)
        while self.iteration < end:
            w0, c0 = time.perf_counter(), time.process_time()
            loss = self.train_step()
            self._clock["wall"] += time.perf_counter() - w0
            self._clock["cpu"] += time.process_time() - c0
            running = loss if running is None else 0.9 * running + 0.1 * loss
            lr = self.optimizer.param_groups[0]["lr"]
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{running:.3f}", lr=f"{lr:.2e}", refresh=False)
            if self.iteration % cfg.log_interval == 0 or self.iteration == cfg.iterations:
                dt = (time.perf_counter() - t0) / max(self.iteration - start_it, 1)
                self.curve.append({"iteration": self.iteration, "loss": round(running, 5), "lr": lr,
                                   "wall": round(self._clock["wall"], 1), "cpu": round(self._clock["cpu"], 1)})
                log.info("it=%d loss=%.4f avg=%.4f lr=%.5f s/it=%.2f cpu=%.0fs", self.iteration, loss, running,
                         lr, dt, self._clock["cpu"])
            # validate before the checkpoint, so that a run resumed from it keeps this validation
            if cfg.val_interval and self.iteration % cfg.val_interval == 0 and self.iteration < cfg.iterations:
                self.validate()
                self.write_history()
            if cfg.checkpoint_interval and self.iteration % cfg.checkpoint_interval == 0:
                self.save_checkpoint()
        if bar is not None:
            bar.close()
        if self.iteration < cfg.iterations:
            self.save_checkpoint()
            log.info("stopped at iteration %d of %d (stop_after) after %.0fs; resume from %s", self.iteration,
                     cfg.iterations, time.perf_counter() - t0, self.out_dir / "last.pt")
            return self.history
        log.info("training done: %d iterations in %.0fs (training steps: %.0f s wall, %.0f CPU s in total)",
                 self.iteration - start_it, time.perf_counter() - t0, self._clock["wall"], self._clock["cpu"])
        self.validate()
        self.save_checkpoint()
        self.write_history()
        return self.history


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint written by :meth:`Trainer.save_checkpoint` onto the CPU."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise DataFileError(f"cannot read checkpoint {path}: {exc}") from exc


def model_from_checkpoint(state: dict) -> DeepLabV3:
    """Rebuild the network described by a checkpoint and load its weights (eval mode)."""
    cfg = state["config"]
    model = DeepLabV3(state["meta"]["num_classes"], backbone=cfg["backbone"], output_stride=cfg["output_stride"],
                      multi_grid=tuple(cfg["multi_grid"]), aux=cfg["aux"], width=cfg.get("width", 64),
                      aspp_channels=cfg.get("aspp_channels", 256))
    model.load_state_dict(state["model"])
    if cfg.get("channels_last", False):
        model = model.to(memory_format=torch.channels_last)
    return model.eval()


def parse_pair(value: str | Sequence[int] | int, name: str) -> tuple[int, int]:
    """``"320"`` or ``"288,320"`` (height, width) -> tuple of two ints."""
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, str):
        parts = [p for p in value.replace("x", ",").split(",") if p.strip()]
        try:
            nums = [int(p) for p in parts]
        except ValueError as exc:
            raise InputError(f"{name} must be N or H,W integers, got {value!r}") from exc
    else:
        nums = [int(v) for v in value]
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) < 1:
        raise InputError(f"{name} must be N or H,W positive integers, got {value!r}")
    return (nums[0], nums[1])
