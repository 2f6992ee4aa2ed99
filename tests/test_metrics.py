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
