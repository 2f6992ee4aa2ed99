"""Functional metrics on hand-made confusion matrices (numbers derived by hand below)."""
import math

import numpy as np
import pytest

import segmetrics as sm
from segmetrics.metrics import summarize


def test_hand_derived_two_classes():
    # rows = GT, cols = pred.  class 0: TP=3, FN=1, FP=2 ; class 1: TP=4, FN=2, FP=1
    cm = np.array([[3, 1], [2, 4]])
    assert sm.pixel_accuracy(cm) == pytest.approx(7 / 10)
    np.testing.assert_allclose(sm.class_iou(cm), [3 / 6, 4 / 7])
    np.testing.assert_allclose(sm.class_accuracy(cm), [3 / 4, 4 / 6])
    np.testing.assert_allclose(sm.class_dice(cm), [6 / 9, 8 / 11])
    np.testing.assert_allclose(sm.class_precision(cm), [3 / 5, 4 / 5])
    assert sm.fw_iou(cm) == pytest.approx(0.4 * 3 / 6 + 0.6 * 4 / 7)


def test_absent_classes_rules():
    # class 2 never occurs; class 1 is predicted but absent from GT
    cm = np.array([[5, 5, 0], [0, 0, 0], [0, 0, 0]])
    iou = sm.class_iou(cm)
    assert iou[0] == pytest.approx(0.5) and iou[1] == 0 and math.isnan(iou[2])
    assert sm.mean_iou(cm) == pytest.approx(0.25)
    d2 = sm.class_iou(cm, absent_rule="detectron2")
    assert math.isnan(d2[1]) and sm.mean_iou(cm, absent_rule="detectron2") == pytest.approx(0.5)
    assert sm.mean_accuracy(cm) == pytest.approx(0.5)


def test_empty_matrix_is_nan():
    out = summarize(np.zeros((3, 3), dtype=np.int64))
    assert all(math.isnan(out[k]) for k in ("aAcc", "mAcc", "mIoU", "fwIoU", "mDice"))


@pytest.mark.parametrize("bad", [np.zeros((2, 3)), np.zeros((0, 0)), -np.ones((2, 2)), np.array([[np.nan]])])
def test_bad_matrix(bad):
    with pytest.raises(sm.InputError):
        summarize(bad)


def test_bad_rule():
    with pytest.raises(ValueError, match="absent_rule"):
        sm.mean_iou(np.eye(2), absent_rule="nope")


def test_image_scores_are_semantic_from_counts_row_by_row():
    """One rule: per-image scores are the dataset formulas on each image's counts (every
    value, the per-class IoU included, equals a plain per-row computation by hand)."""
    from segmetrics.metrics import image_scores, semantic_from_counts

    rng = np.random.default_rng(5)
    tp, fp, fn = (rng.integers(0, 4, (30, 6)) * (rng.random((30, 6)) < 0.6) for _ in range(3))
    tp[3] = fp[3] = fn[3] = 0  # an image with nothing at all
    for rule in ("mmseg", "detectron2"):
        s = image_scores(tp, fp, fn, absent_rule=rule)
        for i in range(30):
            row = semantic_from_counts(tp[i], fp[i], fn[i], absent_rule=rule)
            np.testing.assert_array_equal(s["IoU"][i], row["IoU"])
            gt = tp[i] + fn[i]
            den = tp[i] + fp[i] + fn[i]
            keep = gt > 0 if rule == "detectron2" else den > 0
            want = float(np.mean(tp[i][keep] / den[keep])) if keep.any() else math.nan
            assert (math.isnan(want) and math.isnan(s["mIoU"][i])) or math.isclose(s["mIoU"][i], want,
                                                                                  rel_tol=1e-12)
            assert s["pixels"][i] == gt.sum() and s["classes"][i] == (gt > 0).sum()
            if gt.sum():
                assert s["aAcc"][i] == tp[i].sum() / gt.sum()
            else:
                assert math.isnan(s["aAcc"][i])


def test_pq_group_means_are_left_to_right_sums_for_every_leading_shape():
    """pq_groups adds the categories left to right (panopticapi's loop), bit for bit, whether it is
    given one dataset (K,) or a block of rows (R, K)."""
    from segmetrics.pq import pq_groups, pq_per_class

    rng = np.random.default_rng(11)
    r, k = 40, 17
    tp = rng.integers(0, 5, (r, k)) * (rng.random((r, k)) < 0.7)
    fp, fn = rng.integers(0, 3, (r, k)), rng.integers(0, 3, (r, k))
    iou = tp * rng.uniform(0.5, 1.0, (r, k))
    isthing = rng.random(k) < 0.5
    block = pq_groups(tp, fp, fn, iou, isthing)
    for i in range(r):
        one = pq_groups(tp[i], fp[i], fn[i], iou[i], isthing)
        pq_c, sq_c, rq_c, present = pq_per_class(tp[i], fp[i], fn[i], iou[i])
        for suffix, members in (("", present), ("_th", present & isthing), ("_st", present & ~isthing)):
            for key, values in (("PQ", pq_c), ("SQ", sq_c), ("RQ", rq_c)):
                total = 0.0
                for c in range(k):  # the plain loop
                    if members[c]:
                        total += float(values[c])
                n = int(members.sum())
                want = total / n if n else math.nan
                got = block[key + suffix][i]
                assert (math.isnan(want) and math.isnan(got)) or got == want  # bits, not a tolerance
                assert (math.isnan(want) and math.isnan(one[key + suffix])) or one[key + suffix] == want
