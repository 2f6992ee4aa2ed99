"""Segmentation losses against NumPy / hand computations, ignore handling and gradients."""
from __future__ import annotations


import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny tensors: extra OpenMP threads only spin on a shared CPU

from reference_models import losses as L  # noqa: E402
from segmetrics.errors import InputError  # noqa: E402

IGN = 255


def _np_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _case(seed=0, n=2, c=4, h=5, w=6, ignore_frac=0.25):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, c, h, w))
    target = rng.integers(0, c, (n, h, w))
    target[rng.random((n, h, w)) < ignore_frac] = IGN
    return logits, target


def _np_flat(logits, target):
    """Valid pixels as (M, C) probabilities, (M,) labels."""
    p = _np_softmax(logits).transpose(0, 2, 3, 1).reshape(-1, logits.shape[1])
    t = target.reshape(-1)
    keep = t != IGN
    return p[keep], t[keep]


def _np_stats(logits, target):
    p, t = _np_flat(logits, target)
    g = np.eye(logits.shape[1])[t]
    return (p * g).sum(0), p.sum(0), g.sum(0)


def _np_loss(name, logits, target, **kw):
    c = logits.shape[1]
    p, t = _np_flat(logits, target)
    pt = p[np.arange(len(t)), t]
    if name == "ce":
        w = np.asarray(kw.get("weight", np.ones(c)))[t]
        return float((w * -np.log(pt)).sum() / w.sum())
    if name == "focal":
        gamma = kw.get("gamma", 2.0)
        a = np.asarray(kw.get("alpha", np.ones(c)))[t]
        return float(np.mean(a * (1 - pt) ** gamma * -np.log(pt)))
    if name == "ohem":
        thresh, k = kw["thresh"], kw["min_kept"]
        kth = np.sort(pt)[min(k, len(pt)) - 1]
        keep = pt <= max(thresh, kth)
        return float(np.mean(-np.log(pt[keep])))
    tp, ps, gs = _np_stats(logits, target)
    s = kw.get("smooth", 1.0)
    if name in ("dice", "log-cosh-dice", "combo"):
        dice = 1 - np.mean((2 * tp + s) / (ps + gs + s))
        if name == "dice":
            return float(dice)
        if name == "log-cosh-dice":
            return float(np.log(np.cosh(dice)))
        return _np_loss("ce", logits, target) + float(dice)
    if name == "generalized-dice":
        s = kw.get("smooth", 1e-6)
        wgt = np.array([1 / gc ** 2 if gc > 0 else 0.0 for gc in gs])
        return float(1 - (2 * (wgt * tp).sum() + s) / ((wgt * (ps + gs)).sum() + s))
    if name in ("tversky", "focal-tversky"):
        a, b = kw.get("alpha", 0.3), kw.get("beta", 0.7)
        ti = (tp + s) / (tp + a * (ps - tp) + b * (gs - tp) + s)
        if name == "tversky":
            return float(1 - ti.mean())
        return float(np.mean((1 - ti) ** kw.get("gamma", 0.75)))
    raise AssertionError(name)


def _jaccard_loss_of_set(gt_set, wrong_set):
    """Jaccard loss of a class when exactly the pixels in wrong_set are mispredicted (sets of indices)."""
    pred = (gt_set - wrong_set) | (wrong_set - gt_set)
    inter, union = len(gt_set & pred), len(gt_set | pred)
    return 1.0 - inter / union


def _np_lovasz(logits, target, classes="present"):
    """Lovasz extension from its definition: sum_k e_(k) (Delta(first k) - Delta(first k-1)) with set arithmetic."""
    p, t = _np_flat(logits, target)
    out = []
    for c in range(logits.shape[1]):
        g = t == c
        if classes == "present" and not g.any():
            continue
        err = np.abs(g.astype(float) - p[:, c])
        order = sorted(range(len(err)), key=lambda i: -err[i])
        gt_set = set(np.flatnonzero(g).tolist())
        total, prev = 0.0, 0.0
        for k in range(1, len(order) + 1):
            cur = _jaccard_loss_of_set(gt_set, set(order[:k]))
            total += err[order[k - 1]] * (cur - prev)
            prev = cur
        out.append(total)
    return float(np.mean(out))


NUMERIC = {
    "ce": {},
    "focal": {"gamma": 2.0},
    "dice": {},
    "generalized-dice": {},
    "tversky": {"alpha": 0.3, "beta": 0.7},
    "focal-tversky": {"alpha": 0.4, "beta": 0.6, "gamma": 0.75},
    "log-cosh-dice": {},
    "combo": {},
}


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_value_matches_numpy(name):
    logits, target = _case(seed=1)
    loss = L.build_loss(name, ignore_index=IGN, num_classes=4, **NUMERIC[name])
    got = loss(torch.from_numpy(logits), torch.from_numpy(target)).item()
    assert got == pytest.approx(_np_loss(name, logits, target, **NUMERIC[name]), rel=1e-10, abs=1e-12)


def test_ce_class_weights_and_focal_alpha_match_numpy():
    logits, target = _case(seed=2)
    w = [0.5, 2.0, 1.0, 3.0]
    ce = L.build_loss("ce", ignore_index=IGN, num_classes=4, weight=w)
    assert ce(torch.from_numpy(logits), torch.from_numpy(target)).item() == pytest.approx(
        _np_loss("ce", logits, target, weight=w), rel=1e-6)
    fl = L.build_loss("focal", ignore_index=IGN, gamma=1.5, alpha=w)
    assert fl(torch.from_numpy(logits), torch.from_numpy(target)).item() == pytest.approx(
        _np_loss("focal", logits, target, gamma=1.5, alpha=w), rel=1e-10)


def test_focal_gamma_zero_is_cross_entropy():
    logits, target = _case(seed=3)
    a = L.FocalLoss(gamma=0.0)(torch.from_numpy(logits), torch.from_numpy(target))
    b = L.CrossEntropyLoss()(torch.from_numpy(logits), torch.from_numpy(target))
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


def test_tversky_half_half_is_dice():
    # T = (TP + s) / ((P + G) / 2 + s) equals D = (2 TP + s') / (P + G + s') when s' = 2 s
    logits, target = _case(seed=4)
    x, y = torch.from_numpy(logits), torch.from_numpy(target)
    tv = L.TverskyLoss(alpha=0.5, beta=0.5, smooth=0.5)(x, y).item()
    assert tv == pytest.approx(L.DiceLoss(smooth=1.0)(x, y).item(), rel=1e-12)


@pytest.mark.parametrize("thresh,min_kept", [(0.7, 5), (0.3, 40), (1.0, 1), (0.05, 3)])
def test_ohem_matches_numpy(thresh, min_kept):
    logits, target = _case(seed=5)
    loss = L.OhemCrossEntropyLoss(thresh=thresh, min_kept=min_kept)
    got = loss(torch.from_numpy(logits), torch.from_numpy(target)).item()
    assert got == pytest.approx(_np_loss("ohem", logits, target, thresh=thresh, min_kept=min_kept), rel=1e-10)


@pytest.mark.parametrize("classes", ["present", "all"])
def test_lovasz_matches_definition(classes):
    logits, target = _case(seed=6, n=1, c=3, h=3, w=4)
    got = L.LovaszSoftmaxLoss(classes=classes)(torch.from_numpy(logits), torch.from_numpy(target)).item()
    assert got == pytest.approx(_np_lovasz(logits, target, classes), rel=1e-10)


def test_lovasz_equals_jaccard_loss_for_hard_predictions():
    """With 0/1 probabilities the Lovasz extension equals 1 - IoU of each class exactly."""
    rng = np.random.default_rng(7)
    target = rng.integers(0, 3, (1, 6, 7))
    pred = np.where(rng.random(target.shape) < 0.3, rng.integers(0, 3, target.shape), target)
    logits = np.where(np.eye(3, dtype=bool)[pred].transpose(0, 3, 1, 2), 60.0, -60.0)
    got = L.LovaszSoftmaxLoss()(torch.from_numpy(logits), torch.from_numpy(target)).item()
    ious = [((target == c) & (pred == c)).sum() / ((target == c) | (pred == c)).sum()
            for c in range(3) if (target == c).any()]
    assert got == pytest.approx(1 - np.mean(ious), abs=1e-9)


def test_lovasz_grad_hand_values():
    # gt sorted = [1, 0, 1]: G = 2; J_1 = 1 - 1/2, J_2 = 1 - 1/3, J_3 = 1 - 0/3
    g = L.lovasz_grad(torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))
    assert g.tolist() == pytest.approx([0.5, (2 / 3) - 0.5, 1 - 2 / 3])


ALL = sorted(L.LOSSES)


@pytest.mark.parametrize("name", ALL)
def test_ignored_pixels_contribute_nothing(name):
    logits, target = _case(seed=8, ignore_frac=0.4)
    ign = target == IGN
    loss = L.build_loss(name, ignore_index=IGN, num_classes=4)
    x1 = torch.tensor(logits, requires_grad=True)
    v1 = loss(x1, torch.from_numpy(target))
    v1.backward()
    altered = logits.copy()
    altered[np.broadcast_to(ign[:, None], altered.shape)] = 1e3 * np.random.default_rng(9).normal(
        size=altered.shape)[np.broadcast_to(ign[:, None], altered.shape)]
    x2 = torch.tensor(altered, requires_grad=True)
    v2 = loss(x2, torch.from_numpy(target))
    v2.backward()
    assert v1.item() == pytest.approx(v2.item(), rel=1e-12, abs=1e-12)
    g = x1.grad.numpy()
    assert np.all(g[np.broadcast_to(ign[:, None], g.shape)] == 0)
    assert np.any(g[np.broadcast_to(~ign[:, None], g.shape)] != 0)


@pytest.mark.parametrize("name", ALL)
def test_all_ignored_gives_zero_and_backward_works(name):
    logits = torch.randn(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    target = torch.full((1, 4, 4), IGN)
    v = L.build_loss(name, ignore_index=IGN)(logits, target)
    v.backward()
    assert v.item() == 0.0
    assert torch.all(logits.grad == 0)


@pytest.mark.parametrize("name", ALL)
def test_custom_ignore_index(name):
    logits, target = _case(seed=10)
    t2 = np.where(target == IGN, 7, target)
    a = L.build_loss(name, ignore_index=IGN)(torch.from_numpy(logits), torch.from_numpy(target))
    b = L.build_loss(name, ignore_index=7)(torch.from_numpy(logits), torch.from_numpy(t2))
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


SMOOTH = ["ce", "focal", "dice", "generalized-dice", "tversky", "focal-tversky", "log-cosh-dice", "combo"]


@pytest.mark.parametrize("name", SMOOTH)
def test_gradcheck_float64(name):
    logits, target = _case(seed=11, n=1, c=3, h=3, w=3, ignore_frac=0.3)
    loss = L.build_loss(name, ignore_index=IGN)
    x = torch.tensor(logits, requires_grad=True)
    y = torch.from_numpy(target)
    assert torch.autograd.gradcheck(lambda z: loss(z, y), (x,), eps=1e-6, atol=1e-6)


def test_lovasz_gradient_matches_finite_differences_away_from_ties():
    logits, target = _case(seed=12, n=1, c=3, h=2, w=3, ignore_frac=0.0)
    x = torch.tensor(logits, requires_grad=True)
    y = torch.from_numpy(target)
    assert torch.autograd.gradcheck(lambda z: L.LovaszSoftmaxLoss()(z, y), (x,), eps=1e-7, atol=1e-5)


def test_out_of_range_label_is_an_error():
    logits = torch.zeros(1, 3, 2, 2)
    target = torch.tensor([[[0, 1], [5, 255]]])
    for name in ALL:
        with pytest.raises(InputError, match=r"values \[5\]"):
            L.build_loss(name)(logits, target)


def test_shape_mismatch_and_bad_options():
    with pytest.raises(InputError, match="does not match"):
        L.CrossEntropyLoss()(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, dtype=torch.long))
    with pytest.raises(InputError, match="unknown loss"):
        L.build_loss("hinge")
    with pytest.raises(InputError, match="weight has 2 entries"):
        L.build_loss("ce", num_classes=3, weight=[1, 2])
    with pytest.raises(InputError, match="bad options"):
        L.build_loss("dice", gamma=2)


def test_cli_loss_choices_are_the_registry():
    from reference_models import cli

    assert set(cli.LOSS_NAMES) == set(L.LOSSES)
    opt = next(p for p in cli.train.params if p.name == "loss")
    assert set(opt.type.choices) == set(L.LOSSES)


def test_float32_and_float64_agree():
    logits, target = _case(seed=13)
    for name in ALL:
        loss = L.build_loss(name)
        a = loss(torch.from_numpy(logits).float(), torch.from_numpy(target)).item()
        b = loss(torch.from_numpy(logits), torch.from_numpy(target)).item()
        assert a == pytest.approx(b, rel=1e-4, abs=1e-5), name


def test_combo_weights():
    logits, target = _case(seed=14)
    x, y = torch.from_numpy(logits), torch.from_numpy(target)
    combo = L.ComboLoss(ce_weight=0.3, dice_weight=2.0)(x, y).item()
    expect = 0.3 * L.CrossEntropyLoss()(x, y).item() + 2.0 * L.DiceLoss()(x, y).item()
    assert combo == pytest.approx(expect, rel=1e-12)
