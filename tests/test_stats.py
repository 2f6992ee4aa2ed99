"""segmetrics.stats: metric formulas over a leading axis, counts, per-image scores, worst images."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from stats_data import (
    close,
    K_SEM,
    panoptic_evaluate,
    panoptic_images,
    panoptic_run,
    per_class_array,
    semantic_evaluate,
    semantic_images,
    semantic_run,
)
from test_panoptic import CATEGORIES

from segmetrics import stats
from segmetrics.errors import InputError
from segmetrics.metrics import image_scores, summarize
from segmetrics.panoptic import PanopticEvaluator

# ----------------------------------------------------------------------------- dataset level
@pytest.mark.parametrize("rule", ["mmseg", "detectron2"])
def test_semantic_from_counts_equals_the_evaluator(rule):
    res, counts = semantic_run(semantic_images(1, 9), absent_rule=rule)
    tp, fp, fn = counts.tp.sum(0), counts.fp.sum(0), counts.fn.sum(0)
    out = stats.semantic_from_counts(tp, fp, fn, absent_rule=rule)
    for key in stats.SEMANTIC_PER_CLASS:  # elementwise: the same bits
        assert np.array_equal(out[key], res.per_class[key], equal_nan=True), key
    for key in stats.SEMANTIC_HEADLINE:
        close(out[key], res.metrics[key])
    # the data exercise both NaN rules: class 4 only predicted, class 5 nowhere
    assert np.isnan(out["IoU"][5]) and np.isnan(out["Acc"][4])
    assert (out["IoU"][4] == 0.0) == (rule == "mmseg")


def test_semantic_from_counts_by_hand():
    # class 0: tp 6 fp 2 fn 2; class 1: tp 0 fp 4 fn 0 (predicted only); class 2: nothing
    out = stats.semantic_from_counts([6, 0, 0], [2, 4, 0], [2, 0, 0])
    assert out["IoU"][0] == 0.6 and out["IoU"][1] == 0.0 and np.isnan(out["IoU"][2])
    assert out["mIoU"] == pytest.approx(0.3, abs=1e-15)
    assert out["Dice"][0] == 0.75 and out["Precision"][1] == 0.0 and np.isnan(out["Acc"][1])
    assert out["aAcc"] == 0.75 and out["fwIoU"] == pytest.approx(0.6, abs=1e-15)
    d2 = stats.semantic_from_counts([6, 0, 0], [2, 4, 0], [2, 0, 0], absent_rule="detectron2")
    assert d2["mIoU"] == 0.6 and np.isnan(d2["IoU"][1])
    empty = stats.semantic_from_counts([0, 0], [0, 0], [0, 0])
    assert all(np.isnan(empty[k]) for k in stats.SEMANTIC_HEADLINE)


def test_semantic_leading_axis_equals_row_by_row_summarize():
    rng = np.random.default_rng(3)
    cms = rng.integers(0, 5, (7, 4, 4)) * (rng.random((7, 4, 4)) < 0.6)
    cms[2] = 0  # an empty row
    tp = np.diagonal(cms, axis1=1, axis2=2)
    out = stats.semantic_from_counts(tp, cms.sum(1) - tp, cms.sum(2) - tp)
    for r in range(7):
        ref = summarize(cms[r])
        for key in stats.SEMANTIC_PER_CLASS:
            assert np.array_equal(out[key][r], ref[key], equal_nan=True)
        for key in stats.SEMANTIC_HEADLINE:
            close(out[key][r], ref[key])


def test_pq_from_counts_equals_the_evaluator():
    res, counts = panoptic_run(panoptic_images(2, 10))
    out = stats.pq_from_counts(counts.tp.sum(0), counts.fp.sum(0), counts.fn.sum(0),
                               per_class_array(res, "iou_sum"), counts.isthing)
    for key in stats.PANOPTIC_HEADLINE + ("N", "N_th", "N_st"):  # segmetrics.pq's formula: the same bits
        assert np.array_equal(out[key], res.metrics[key], equal_nan=True), key
    for key in stats.PANOPTIC_PER_CLASS:
        assert np.array_equal(out[key], per_class_array(res, key), equal_nan=True), key
    assert np.isnan(out["pq"][-1])  # category 40 is never anywhere: left out


def test_pq_from_counts_by_hand_and_empty_groups():
    # thing: tp 2 (IoUs 0.9 + 0.7) fp 1 fn 1 -> SQ 0.8, RQ 2/3; stuff: only a FP -> PQ 0, SQ 0
    out = stats.pq_from_counts([2, 0, 0], [1, 1, 0], [1, 0, 0], [1.6, 0.0, 0.0], [True, False, False])
    assert out["sq"][0] == pytest.approx(0.8) and out["rq"][0] == pytest.approx(2 / 3)
    assert out["pq"][1] == 0.0 and out["sq"][1] == 0.0 and np.isnan(out["pq"][2])
    assert out["N"] == 2 and out["N_th"] == 1 and out["N_st"] == 1
    assert out["PQ"] == pytest.approx((1.6 / 3 + 0.0) / 2)
    none = stats.pq_from_counts([[0, 0]], [[0, 0]], [[0, 0]], [[0.0, 0.0]], [True, False])
    assert np.isnan(none["PQ"][0]) and none["N"][0] == 0


# ----------------------------------------------------------------------------- per image
@pytest.mark.parametrize("rule", ["mmseg", "detectron2"])
def test_semantic_per_image_scores_equal_the_evaluator_on_each_image(rule):
    images = semantic_images(4, 6)
    _, counts = semantic_run(images, absent_rule=rule)
    scores = stats.per_image_scores(counts)
    for i in range(len(images)):
        ref = semantic_evaluate(images, [i], absent_rule=rule).compute()
        for key in stats.SEMANTIC_HEADLINE:
            close(scores[key][i], ref.metrics[key])
        assert np.array_equal(scores["IoU"][i], ref.per_class["IoU"], equal_nan=True)
    # the per-image CSV scorer of the library agrees (mIoU over the classes present in the image)
    rows = image_scores(counts.tp, counts.fp, counts.fn, absent_rule=rule)
    close(rows["mIoU"], scores["mIoU"])
    close(rows["aAcc"], scores["aAcc"])


def test_panoptic_per_image_scores_equal_the_evaluator_on_each_image():
    data = panoptic_images(5, 6)
    _, counts = panoptic_run(data)
    scores = stats.per_image_scores(counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(len(data)):
            ref = panoptic_evaluate(data, [i]).compute()
            for key in stats.PANOPTIC_HEADLINE:
                close(scores[key][i], ref.metrics[key])
            assert scores["TP"][i] == sum(r["tp"] for r in ref.per_class)
            assert scores["FP"][i] == sum(r["fp"] for r in ref.per_class)
            assert scores["FN"][i] == sum(r["fn"] for r in ref.per_class)


def test_worst_orders_by_score_then_image_order_nan_last():
    scores = {"mIoU": np.array([0.5, np.nan, 0.2, 0.5, 0.2, 0.9])}
    assert stats.worst(scores, 3, "mIoU").tolist() == [2, 4, 0]
    assert stats.worst(scores, 10, "mIoU").tolist() == [2, 4, 0, 3, 5, 1]
    assert stats.worst(scores, 0, "mIoU").tolist() == []
    with pytest.raises(InputError, match="unknown per-image score 'PQ'"):
        stats.worst(scores, 1, "PQ")
    with pytest.raises(InputError, match="per-class"):
        stats.worst({"IoU": np.zeros((3, 2))}, 1, "IoU")


def test_worst_on_real_per_image_scores():
    _, counts = semantic_run(semantic_images(6, 8))
    scores = stats.per_image_scores(counts)
    idx = stats.worst(scores, 3, "mIoU")
    assert sorted(scores["mIoU"])[:3] == scores["mIoU"][idx].tolist()


# ----------------------------------------------------------------------------- input checks
def test_counts_refuse_bad_input_with_a_clear_message():
    tp = np.ones((3, 2), np.int64)
    with pytest.raises(InputError, match=r"fp has shape \(3, 3\)"):
        stats.SemanticCounts(tp, np.ones((3, 3), int), tp)
    with pytest.raises(InputError, match="negative count \\(-1\\) at image index 1, class 0"):
        stats.SemanticCounts(tp, tp, np.array([[0, 0], [-1, 0], [0, 0]]))
    with pytest.raises(InputError, match="not all whole numbers"):
        stats.SemanticCounts(tp, tp, tp * 0.5)
    with pytest.raises(InputError, match=r"\(N images, K classes\)"):
        stats.SemanticCounts(np.ones(3, int), np.ones(3, int), np.ones(3, int))
    with pytest.raises(InputError, match="absent_rule"):
        stats.SemanticCounts(tp, tp, tp, absent_rule="voc")
    with pytest.raises(InputError, match="2 image ids given for 3 rows"):
        stats.SemanticCounts(tp, tp, tp, image_ids=[1, 2])
    with pytest.raises(InputError, match="iou_sum of image index 0, category 1 is 1.5"):
        stats.PanopticCounts(tp, tp, tp, np.array([[0.9, 1.5], [0, 0], [0, 0]]), [True, False])
    with pytest.raises(InputError, match=r"isthing must have shape \(2,\)"):
        stats.PanopticCounts(tp, tp, tp, tp * 0.75, [True])
    with pytest.raises(InputError, match="same shape"):
        stats.semantic_from_counts([1, 2], [1], [1, 2])
    with pytest.raises(InputError, match="negative"):
        stats.pq_from_counts([1], [-1], [0], [0.7], [True])
    # exact float64 counts are accepted and give the same numbers as int64
    a = stats.SemanticCounts(tp, tp, tp).metrics()
    b = stats.SemanticCounts(tp.astype(float), tp.astype(float), tp.astype(float)).metrics()
    assert a["mIoU"] == b["mIoU"]


def test_counts_metrics_and_subset():
    images = semantic_images(7, 8)
    res, counts = semantic_run(images)
    m = counts.metrics()
    close(m["mIoU"], res.metrics["mIoU"])
    sub = counts.subset([1, 3, 5])
    assert sub.image_ids == (1, 3, 5)
    close(sub.metrics()["mIoU"], semantic_evaluate(images, [1, 3, 5]).compute().metrics["mIoU"])
    mask = np.zeros(8, bool)
    mask[[1, 3, 5]] = True
    assert counts.subset(mask).image_ids == (1, 3, 5)


def test_import_needs_no_optional_dependency():
    code = ("import sys; import segmetrics.stats; "
            "bad = [m for m in ('scipy', 'torch', 'matplotlib', 'dask', 'click') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).parents[1]))


def test_categories_constant_matches_isthing_order():
    _, counts = panoptic_run(panoptic_images(9, 3))
    assert counts.isthing.tolist() == [bool(c["isthing"]) for c in CATEGORIES]
    assert counts.num_classes == len(CATEGORIES) and K_SEM == 6


def test_dataset_estimate_does_not_depend_on_image_order():
    _, pan = panoptic_run(panoptic_images(10, 12))
    order = np.random.default_rng(0).permutation(12)
    shuffled = stats.PanopticCounts(pan.tp[order], pan.fp[order], pan.fn[order], pan.iou_sum[order], pan.isthing)
    a, b = pan.metrics(), shuffled.metrics()
    for key in stats.PANOPTIC_HEADLINE + stats.PANOPTIC_PER_CLASS:
        assert np.array_equal(a[key], b[key], equal_nan=True), key  # integer sums and math.fsum: same bits


def test_benchmark_script_runs_small(tmp_path):
    root = Path(__file__).parents[1]
    out = tmp_path / "stats.md"
    subprocess.run([sys.executable, str(root / "benchmarks" / "bench_stats.py"), "--coco-images", "60",
                    "--ade-images", "30", "--resamples", "20", "--repeat", "1", "--out", str(out)],
                   check=True, capture_output=True)
    text = out.read_text()
    assert "| COCO-panoptic-like, 60 images x 133 categories | compare:" in text
    assert "| ADE20K-like, 30 images x 150 classes | bootstrap" in text


def test_panoptic_counts_from_the_match_list():
    data = panoptic_images(11, 5)
    res, pan = panoptic_run(data)
    probe = PanopticEvaluator(CATEGORIES, with_semantic=False)
    image, cat, iou = [], [], []
    for row, (image_id, g, gs, p, ps) in enumerate(data):
        st = probe.evaluate_image(g, gs, p, ps, image_id=image_id)
        image += [row] * st.match_cat.size
        cat += st.match_cat.tolist()
        iou += st.match_iou.tolist()
    order = np.random.default_rng(1).permutation(len(iou))  # any order of the matches
    built = stats.PanopticCounts.from_matches(pan.tp, pan.fp, pan.fn, np.array(image)[order], np.array(cat)[order],
                                              np.array(iou)[order], pan.isthing)
    assert np.array_equal(built.iou_sum, pan.iou_sum)
    assert np.array_equal(built.iou_sum.sum(0), pan.iou_sum.sum(0))
    with pytest.raises(InputError, match="match 0 names image index 9"):
        stats.PanopticCounts.from_matches(pan.tp, pan.fp, pan.fn, [9], [0], [0.7], pan.isthing)
