"""Shared data for the statistics tests: small real evaluations and their per-image counts."""
from __future__ import annotations

import numpy as np
from test_panoptic import CATEGORIES, make_dataset

from segmetrics import stats
from segmetrics.panoptic import PanopticEvaluator
from segmetrics.semantic import SemanticEvaluator

K_SEM = 6  # class 4: predicted, never in GT; class 5: nowhere


def semantic_images(seed: int, n: int, shape=(12, 14)):
    """(gt, pred) label maps with ignore pixels, a class only predicted and a class absent everywhere."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        gt = rng.integers(0, 4, shape)
        gt[rng.random(shape) < 0.05] = 255
        pred = np.where(rng.random(shape) < 0.3, rng.integers(0, 5, shape), gt)
        pred[pred == 255] = 0
        out.append((gt, pred))
    return out


def semantic_run(images, *, absent_rule="mmseg"):
    """(SemanticResult with per-image records in input order, SemanticCounts)."""
    ev = SemanticEvaluator(K_SEM, per_image=True, absent_rule=absent_rule)
    for i, (g, p) in enumerate(images):
        ev.update(g, p, image_id=i)
    res = ev.compute()
    arrays = [np.array([r[key] for r in res.per_image]) for key in ("tp", "fp", "fn")]
    return res, stats.SemanticCounts(*arrays, absent_rule=absent_rule, image_ids=[r["image_id"] for r in res.per_image])


def semantic_evaluate(images, rows, *, absent_rule="mmseg"):
    """The real evaluator's result on the images ``rows`` (repeats allowed)."""
    ev = SemanticEvaluator(K_SEM, absent_rule=absent_rule)
    for i in rows:
        ev.update(*images[i])
    return ev


def panoptic_images(seed: int, n: int):
    return make_dataset(seed, n_images=n, h=20, w=24)


def panoptic_run(data):
    ev = PanopticEvaluator(CATEGORIES, per_image=True, with_semantic=False)
    for image_id, g, gs, p, ps in data:
        ev.update(g, gs, p, ps, image_id=image_id)
    res = ev.compute()
    arrays = [np.array([r[key] for r in res.per_image]) for key in ("tp", "fp", "fn", "iou_sum")]
    isthing = [c["isthing"] for c in CATEGORIES]
    return res, stats.PanopticCounts(*arrays, isthing, image_ids=[r["image_id"] for r in res.per_image])


def panoptic_evaluate(data, rows):
    ev = PanopticEvaluator(CATEGORIES, with_semantic=False)
    for i in rows:
        _, g, gs, p, ps = data[i]
        ev.update(g, gs, p, ps)
    return ev


def bootstrap_replicates(counts, r: int, seed: int):
    """``(Intervals with replicates, exact int sums, float sums, drawn rows)`` of ``r`` replicates:
    what a loop over the real evaluator checks replicate by replicate."""
    iv = stats.bootstrap(counts, resamples=r, seed=seed, keep_replicates=True)
    ints, floats = stats.replicate_sums(counts, resamples=r, seed=seed)
    return iv, ints, floats, stats.bootstrap_indices(counts.num_images, r, seed)


def per_class_array(res, key):
    return np.array([r[key] for r in res.per_class], dtype=np.float64)


ATOL = 1e-12


def close(a, b):
    """Equal to 1e-12 (absolute), NaN where NaN: the tolerance for means summed in another order."""
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=ATOL, equal_nan=True)
