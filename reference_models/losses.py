"""Segmentation losses; every one honours ``ignore_index``.

All losses are ``torch.nn.Module`` objects called as ``loss(logits, target)`` with
``logits`` of shape ``(N, C, H, W)`` (any float dtype; computed in float32 or
float64) and ``target`` of shape ``(N, H, W)`` holding class ids ``0..C-1`` or
``ignore_index``.  Pixels whose target is ``ignore_index`` contribute nothing:
neither to the value nor to the gradient.  When a batch has no valid pixel the
loss is ``0`` (connected to the graph, so ``backward`` works) rather than NaN.

Notation used in the Notes below: ``V`` is the set of valid pixels, ``p_{ic}`` the
softmax probability of class ``c`` at pixel ``i``, ``g_{ic}`` the one-hot target,
and, per class, ``TP_c = sum_V p g``, ``P_c = sum_V p``, ``G_c = sum_V g``,
``FP_c = P_c - TP_c``, ``FN_c = G_c - TP_c``.  Region losses sum these over the
whole batch (one "image" made of all valid pixels) unless ``per_image=True``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segmetrics.errors import InputError

__all__ = [
    "CrossEntropyLoss",
    "OhemCrossEntropyLoss",
    "FocalLoss",
    "DiceLoss",
    "GeneralizedDiceLoss",
    "TverskyLoss",
    "FocalTverskyLoss",
    "LovaszSoftmaxLoss",
    "LogCoshDiceLoss",
    "ComboLoss",
    "lovasz_grad",
    "median_frequency_weights",
    "LOSSES",
    "build_loss",
]


def _check(logits: torch.Tensor, target: torch.Tensor) -> None:
    if logits.ndim != 4:
        raise InputError(f"logits must be (N, C, H, W), got shape {tuple(logits.shape)}")
    if target.shape != (logits.shape[0],) + tuple(logits.shape[2:]):
        raise InputError(f"target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)} "
                         "(expected (N, H, W))")


def _valid(target: torch.Tensor, ignore_index: int, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(mask of valid pixels, target with ignored pixels set to 0)``; checks the label range."""
    target = target.long()
    valid = target != ignore_index
    bad = valid & ((target < 0) | (target >= num_classes))
    if bool(bad.any()):
        vals = torch.unique(target[bad])[:5].tolist()
        raise InputError(f"target has {int(bad.sum())} pixels with values {vals} outside [0, {num_classes}) "
                         f"that are not ignore_index={ignore_index}")
    return valid, torch.where(valid, target, torch.zeros_like(target))


def _zero(logits: torch.Tensor) -> torch.Tensor:
    return logits.sum() * 0.0


def _as_weight(weight, name: str) -> torch.Tensor | None:
    if weight is None:
        return None
    w = torch.as_tensor(weight, dtype=torch.float64)
    if w.ndim != 1 or bool((w < 0).any()) or not bool(torch.isfinite(w).all()):
        raise InputError(f"{name} must be a 1-D sequence of finite non-negative numbers, got {weight!r}")
    return w


def _compute_dtype(logits: torch.Tensor) -> torch.dtype:
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


def _true_class_logp(logits: torch.Tensor, target: torch.Tensor, ignore_index: int):
    """``(log p_{i y_i} of shape (N, H, W), valid mask, target with ignored -> 0)``; None without valid pixels."""
    _check(logits, target)
    valid, tgt = _valid(target, ignore_index, logits.shape[1])
    if not bool(valid.any()):
        return None
    x = logits.to(_compute_dtype(logits))
    return F.log_softmax(x, dim=1).gather(1, tgt[:, None])[:, 0], valid, tgt


class _Base(nn.Module):
    def __init__(self, ignore_index: int = 255) -> None:
        super().__init__()
        self.ignore_index = int(ignore_index)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}"


# ----------------------------------------------------------------- pixel-wise losses
class CrossEntropyLoss(_Base):
    """Softmax cross-entropy averaged over valid pixels, optional class weights.

    Notes
    -----
    ``L = sum_{i in V} w_{y_i} (-log p_{i y_i}) / sum_{i in V} w_{y_i}`` (``w = 1`` without
    weights), which is ``torch.nn.functional.cross_entropy`` with ``ignore_index``.
    """

    def __init__(self, *, ignore_index: int = 255, weight: Sequence[float] | None = None) -> None:
        super().__init__(ignore_index)
        w = _as_weight(weight, "weight")
        self.register_buffer("weight", None if w is None else w.float())

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(logits, target)
        valid, _ = _valid(target, self.ignore_index, logits.shape[1])
        if not bool(valid.any()):
            return _zero(logits)
        w = None if self.weight is None else self.weight.to(_compute_dtype(logits))
        return F.cross_entropy(logits.to(_compute_dtype(logits)), target.long(), weight=w,
                               ignore_index=self.ignore_index)


class OhemCrossEntropyLoss(_Base):
    """Online hard example mining cross-entropy.

    Parameters
    ----------
    thresh : float
        Pixels whose true-class probability is at most ``thresh`` are hard.
    min_kept : int
        At least this many of the hardest valid pixels are kept.

    Notes
    -----
    Valid pixels are sorted by ``p_{i y_i}`` ascending; the threshold is
    ``t = max(thresh, p_(k))`` with ``p_(k)`` the ``k``-th smallest value,
    ``k = min(min_kept, |V|)``; the loss is the mean cross-entropy over the valid
    pixels with ``p_{i y_i} <= t`` (ties at ``t`` are all kept).
    """

    def __init__(self, *, ignore_index: int = 255, thresh: float = 0.7, min_kept: int = 10000,
                 weight: Sequence[float] | None = None) -> None:
        super().__init__(ignore_index)
        if not 0 < thresh <= 1:
            raise InputError(f"thresh must lie in (0, 1], got {thresh}")
        if min_kept < 1:
            raise InputError(f"min_kept must be >= 1, got {min_kept}")
        self.thresh = float(thresh)
        self.min_kept = int(min_kept)
        w = _as_weight(weight, "weight")
        self.register_buffer("weight", None if w is None else w.float())

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        found = _true_class_logp(logits, target, self.ignore_index)
        if found is None:
            return _zero(logits)
        logp, valid, tgt = found
        nll = -logp
        if self.weight is not None:
            nll = nll * self.weight.to(logp.dtype)[tgt]
        with torch.no_grad():
            p = logp.exp()[valid]
            k = min(self.min_kept, p.numel())
            kth = torch.kthvalue(p, k).values
            t = torch.clamp(kth, min=self.thresh)
            keep = valid & (logp.exp() <= t)
        return nll[keep].mean()


class FocalLoss(_Base):
    """Focal loss (Lin et al. 2017) for dense multi-class prediction.

    Notes
    -----
    ``L = mean_{i in V} alpha_{y_i} (1 - p_{i y_i})^gamma (-log p_{i y_i})``;
    ``alpha`` is an optional per-class weight (1 without it); ``gamma = 0`` and no
    ``alpha`` give the cross-entropy.
    """

    def __init__(self, *, ignore_index: int = 255, gamma: float = 2.0, alpha: Sequence[float] | None = None) -> None:
        super().__init__(ignore_index)
        if gamma < 0:
            raise InputError(f"gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        a = _as_weight(alpha, "alpha")
        self.register_buffer("alpha", None if a is None else a.float())

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        found = _true_class_logp(logits, target, self.ignore_index)
        if found is None:
            return _zero(logits)
        logp, valid, tgt = found
        logp = logp[valid]
        loss = -((1.0 - logp.exp()).clamp(min=0) ** self.gamma) * logp
        if self.alpha is not None:
            loss = loss * self.alpha.to(logp.dtype)[tgt[valid]]
        return loss.mean()


# ----------------------------------------------------------------- region losses
def soft_stats(logits: torch.Tensor, target: torch.Tensor, ignore_index: int, *, per_image: bool = False):
    """Soft per-class ``(TP, P, G)`` over valid pixels: shapes ``(C,)`` or ``(N, C)`` with ``per_image``."""
    _check(logits, target)
    c = logits.shape[1]
    valid, tgt = _valid(target, ignore_index, c)
    prob = F.softmax(logits.to(_compute_dtype(logits)), dim=1)
    m = valid[:, None].to(prob.dtype)
    prob = prob * m
    onehot = F.one_hot(tgt, c).permute(0, 3, 1, 2).to(prob.dtype) * m
    dims = (2, 3) if per_image else (0, 2, 3)
    return (prob * onehot).sum(dims), prob.sum(dims), onehot.sum(dims), valid


class _RegionLoss(_Base):
    def __init__(self, *, ignore_index: int = 255, smooth: float = 1.0, per_image: bool = False) -> None:
        super().__init__(ignore_index)
        if smooth < 0:
            raise InputError(f"smooth must be >= 0, got {smooth}")
        self.smooth = float(smooth)
        self.per_image = bool(per_image)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        tp, p, g, valid = soft_stats(logits, target, self.ignore_index, per_image=self.per_image)
        if not bool(valid.any()):
            return _zero(logits)
        return self.reduce(tp, p, g)

    def reduce(self, tp, p, g) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class DiceLoss(_RegionLoss):
    """Soft Dice loss averaged over classes.

    Notes
    -----
    ``D_c = (2 TP_c + s) / (P_c + G_c + s)``, ``L = 1 - mean_c D_c`` over all ``C``
    classes (``s = smooth``; with ``s > 0`` a class absent from target and
    prediction scores ``D_c`` near 1).  With ``per_image`` the mean runs over
    images and classes.
    """

    def reduce(self, tp, p, g):
        return 1.0 - ((2 * tp + self.smooth) / (p + g + self.smooth).clamp(min=1e-12)).mean()


class GeneralizedDiceLoss(_RegionLoss):
    """Generalized Dice loss (Sudre et al. 2017).

    Notes
    -----
    ``w_c = 1 / G_c^2`` for classes present in the target and ``w_c = 0`` for absent
    ones (their ``1/0`` weight would be infinite);
    ``L = 1 - (2 sum_c w_c TP_c + s) / (sum_c w_c (P_c + G_c) + s)``.
    """

    def __init__(self, *, ignore_index: int = 255, smooth: float = 1e-6, per_image: bool = False) -> None:
        super().__init__(ignore_index=ignore_index, smooth=smooth, per_image=per_image)

    def reduce(self, tp, p, g):
        w = torch.where(g > 0, 1.0 / g.clamp(min=1.0) ** 2, torch.zeros_like(g))
        num = 2 * (w * tp).sum(-1) + self.smooth
        den = (w * (p + g)).sum(-1) + self.smooth
        return (1.0 - num / den.clamp(min=1e-12)).mean()


class TverskyLoss(_RegionLoss):
    """Tversky loss (Salehi et al. 2017).

    Notes
    -----
    ``T_c = (TP_c + s) / (TP_c + alpha FP_c + beta FN_c + s)``, ``L = 1 - mean_c T_c``;
    ``alpha = beta = 0.5`` gives the Dice loss.
    """

    def __init__(self, *, ignore_index: int = 255, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0,
                 per_image: bool = False) -> None:
        super().__init__(ignore_index=ignore_index, smooth=smooth, per_image=per_image)
        if alpha < 0 or beta < 0:
            raise InputError(f"alpha and beta must be >= 0, got {alpha}, {beta}")
        self.alpha, self.beta = float(alpha), float(beta)

    def index(self, tp, p, g):
        fp, fn = p - tp, g - tp
        return (tp + self.smooth) / (tp + self.alpha * fp + self.beta * fn + self.smooth).clamp(min=1e-12)

    def reduce(self, tp, p, g):
        return 1.0 - self.index(tp, p, g).mean()


class FocalTverskyLoss(TverskyLoss):
    """Focal Tversky loss (Abraham and Khan 2019).

    Notes
    -----
    ``L = mean_c (1 - T_c)^gamma`` with ``T_c`` the Tversky index (``gamma = 0.75`` by default).
    """

    def __init__(self, *, ignore_index: int = 255, alpha: float = 0.3, beta: float = 0.7, gamma: float = 0.75,
                 smooth: float = 1.0, per_image: bool = False) -> None:
        super().__init__(ignore_index=ignore_index, alpha=alpha, beta=beta, smooth=smooth, per_image=per_image)
        if gamma <= 0:
            raise InputError(f"gamma must be > 0, got {gamma}")
        self.gamma = float(gamma)

    def reduce(self, tp, p, g):
        return ((1.0 - self.index(tp, p, g)).clamp(min=0) ** self.gamma).mean()


class LogCoshDiceLoss(DiceLoss):
    """Log-cosh Dice loss (Jadon 2020): ``L = log(cosh(L_Dice))``."""

    def reduce(self, tp, p, g):
        return torch.log(torch.cosh(super().reduce(tp, p, g)))


# ----------------------------------------------------------------- Lovasz-softmax
def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss at a sorted 0/1 ground truth.

    Notes
    -----
    With ``G = sum gt`` and the errors sorted in decreasing order,
    ``J_k = 1 - (G - sum_{j<=k} gt_j) / (G + sum_{j<=k} (1 - gt_j))`` is the Jaccard
    loss when the first ``k`` pixels are wrong; the gradient is ``J_1, J_2 - J_1, ...``.
    """
    total = gt_sorted.sum()
    inter = total - gt_sorted.cumsum(0)
    union = total + (1.0 - gt_sorted).cumsum(0)
    jac = 1.0 - inter / union
    if jac.numel() > 1:
        jac = torch.cat([jac[:1], jac[1:] - jac[:-1]])
    return jac


class LovaszSoftmaxLoss(_Base):
    """Lovasz-softmax loss (Berman, Rannen Triki, Blaschko 2018), a surrogate of 1 - IoU.

    Parameters
    ----------
    classes : {"present", "all"}
        Average over classes present in the target (default) or over all classes.
    per_image : bool
        Compute the loss per image and average, instead of over the whole batch.

    Notes
    -----
    For class ``c``, the errors ``e_i = |g_{ic} - p_{ic}|`` over valid pixels are
    sorted decreasingly and ``L_c = sum_k e_(k) * lovasz_grad(g sorted)_k``, the
    Lovasz extension of the Jaccard loss ``1 - |G_c cap P| / |G_c cup P|``
    evaluated at ``e``.  ``L = mean_c L_c``.  The sort makes it piecewise linear,
    not smooth.
    """

    def __init__(self, *, ignore_index: int = 255, classes: str = "present", per_image: bool = False) -> None:
        super().__init__(ignore_index)
        if classes not in ("present", "all"):
            raise InputError(f"classes must be 'present' or 'all', got {classes!r}")
        self.classes = classes
        self.per_image = bool(per_image)

    def _flat(self, prob: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor | None:
        losses = []
        for c in range(prob.shape[1]):
            g = (tgt == c).to(prob.dtype)
            if self.classes == "present" and not bool(g.any()):
                continue
            err = (g - prob[:, c]).abs()
            err_sorted, order = torch.sort(err, descending=True)
            losses.append(torch.dot(err_sorted, lovasz_grad(g[order])))
        return torch.stack(losses).mean() if losses else None

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check(logits, target)
        valid, tgt = _valid(target, self.ignore_index, logits.shape[1])
        if not bool(valid.any()):
            return _zero(logits)
        prob = F.softmax(logits.to(_compute_dtype(logits)), dim=1)
        c = prob.shape[1]
        if self.per_image:
            out = []
            for n in range(prob.shape[0]):
                v = valid[n].reshape(-1)
                val = self._flat(prob[n].reshape(c, -1).t()[v], tgt[n].reshape(-1)[v])
                if val is not None:
                    out.append(val)
            return torch.stack(out).mean() if out else _zero(logits)
        v = valid.reshape(-1)
        flat = prob.permute(0, 2, 3, 1).reshape(-1, c)[v]
        val = self._flat(flat, tgt.reshape(-1)[v])
        return val if val is not None else _zero(logits)


# ----------------------------------------------------------------- combination
class ComboLoss(_Base):
    """Cross-entropy plus soft Dice: ``L = ce_weight * CE + dice_weight * L_Dice``."""

    def __init__(self, *, ignore_index: int = 255, ce_weight: float = 1.0, dice_weight: float = 1.0,
                 weight: Sequence[float] | None = None, smooth: float = 1.0) -> None:
        super().__init__(ignore_index)
        self.ce = CrossEntropyLoss(ignore_index=ignore_index, weight=weight)
        self.dice = DiceLoss(ignore_index=ignore_index, smooth=smooth)
        self.ce_weight, self.dice_weight = float(ce_weight), float(dice_weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.ce_weight * self.ce(logits, target) + self.dice_weight * self.dice(logits, target)


# ----------------------------------------------------------------- class balancing
def median_frequency_weights(class_pixels, image_pixels) -> list[float]:
    """Median frequency balancing weights (Eigen and Fergus 2015; used by SegNet on CamVid).

    Parameters
    ----------
    class_pixels, image_pixels : (K,) arrays
        Pixels of each class, and all labelled pixels of the images in which the
        class occurs (:func:`reference_models.datasets.class_pixel_counts`).

    Notes
    -----
    ``f_c = class_pixels_c / image_pixels_c`` and ``w_c = median_c(f_c) / f_c``, the
    median over the classes that occur.  A class that never occurs gets weight 0
    (it has no pixel to weight).
    """
    cp = torch.as_tensor(class_pixels, dtype=torch.float64)
    ip = torch.as_tensor(image_pixels, dtype=torch.float64)
    if cp.ndim != 1 or cp.shape != ip.shape or bool((cp < 0).any()) or bool((ip < cp).any()):
        raise InputError("class_pixels and image_pixels must be equal-length counts with class_pixels <= image_pixels")
    present = cp > 0
    if not bool(present.any()):
        raise InputError("no labelled pixel in the training set: cannot compute class weights")
    freq = torch.where(present, cp / ip.clamp(min=1), torch.ones_like(cp))
    med = torch.quantile(freq[present], 0.5)
    return torch.where(present, med / freq, torch.zeros_like(freq)).tolist()


#: name accepted by ``segmetrics train --loss`` -> class
LOSSES: dict[str, type[nn.Module]] = {
    "ce": CrossEntropyLoss,
    "ohem": OhemCrossEntropyLoss,
    "focal": FocalLoss,
    "dice": DiceLoss,
    "generalized-dice": GeneralizedDiceLoss,
    "tversky": TverskyLoss,
    "focal-tversky": FocalTverskyLoss,
    "lovasz": LovaszSoftmaxLoss,
    "log-cosh-dice": LogCoshDiceLoss,
    "combo": ComboLoss,
}


def build_loss(name: str, *, ignore_index: int = 255, num_classes: int | None = None, **kwargs) -> nn.Module:
    """Instantiate a loss by its CLI name; ``kwargs`` go to the loss class.

    ``num_classes`` is checked against the length of ``weight`` / ``alpha`` when given.
    """
    if name not in LOSSES:
        raise InputError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    for key in ("weight", "alpha"):
        value = kwargs.get(key)
        if num_classes is not None and hasattr(value, "__len__") and len(value) != num_classes:
            raise InputError(f"{key} has {len(value)} entries but the dataset has {num_classes} classes")
    try:
        return LOSSES[name](ignore_index=ignore_index, **kwargs)
    except TypeError as exc:
        raise InputError(f"bad options for loss {name!r}: {exc}") from exc
