"""Report building, rendering, fingerprints and gates (segmetrics.report, segmetrics.state.fingerprint)."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from segmetrics import report as R
from segmetrics.errors import InputError


def _report(task="semantic", metrics=None, per_class=None, fingerprint="sha256:ab"):
    metrics = metrics or {"aAcc": 0.9, "mAcc": 0.8, "mIoU": 0.5, "fwIoU": 0.7, "mDice": float("nan")}
    per_class = per_class if per_class is not None else [
        {"id": 0, "name": "sky", "IoU": 0.5, "Acc": 1.0, "gt_pixels": np.int64(10), "pred_pixels": 12},
        {"id": 1, "name": "road", "IoU": float("nan"), "Acc": float("nan"), "gt_pixels": 0, "pred_pixels": 0},
    ]
    return R.build_report(task=task, params={"preset": None}, dataset={"images": 2, "fingerprint": fingerprint},
                          metrics=metrics, per_class=per_class, warnings=["w1"])


def test_fingerprint_depends_on_ids_and_digests_not_order():
    import hashlib

    from segmetrics.state import fingerprint

    d = {"a/x": hashlib.sha256(b"abc").digest(), 7: hashlib.sha256(b"de").digest()}
    fp = fingerprint(list(d), list(d.values()))
    assert fp.startswith("sha256:") and len(fp) == 7 + 64
    # the documented definition (docs/json_schema.md), by hand: per image in id order (integers first),
    # the id as JSON text, NUL, the 32-byte SHA-256 of its ground truth
    h = hashlib.sha256(b"7\0" + hashlib.sha256(b"de").digest() + b'"a/x"\0' + hashlib.sha256(b"abc").digest())
    assert fp == "sha256:" + h.hexdigest()
    assert fingerprint([7, "a/x"], [d[7], d["a/x"]]) == fp  # order does not matter
    assert fingerprint(["a/x", 7], [hashlib.sha256(b"abd").digest(), d[7]]) != fp  # content does
    assert fingerprint(["a/y", 7], [d["a/x"], d[7]]) != fp  # names do
    assert fingerprint(["a/x", "7"], list(d.values())) != fp  # and so does the id's type
    assert fingerprint(list(d), list(d.values()), b"categories") != fp


def test_folder_fingerprint_depends_on_content_not_location(tmp_path):
    import segmetrics as sm

    from cli_data import make_flat_set, write_png

    gt, pred, _ = make_flat_set(tmp_path / "a", n=3, k=4)
    fp = sm.evaluate_semantic_folders(gt, pred, num_classes=4).dataset["fingerprint"]
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert sm.evaluate_semantic_folders(tmp_path / "b" / "gt", pred, num_classes=4).dataset["fingerprint"] == fp
    g = np.zeros((24, 32), np.uint8)
    write_png(tmp_path / "b" / "gt" / "img_001.png", g)
    assert sm.evaluate_semantic_folders(tmp_path / "b" / "gt", pred, num_classes=4).dataset["fingerprint"] != fp


def test_void_column_by_hand():
    from segmetrics.metrics import summarize

    cm = np.array([[5, 1], [0, 4]])
    out = summarize(cm, void=np.array([2, 0]))
    # class 0: TP 5, FN 1 + 2 (void), FP 0 -> 5/8; class 1: TP 4, FP 1 -> 4/5
    np.testing.assert_allclose(out["IoU"], [5 / 8, 4 / 5])
    assert math.isclose(out["mIoU"], (5 / 8 + 4 / 5) / 2)
    assert math.isclose(out["aAcc"], 9 / 12)
    np.testing.assert_allclose(out["Acc"], [5 / 8, 1.0])
    assert math.isclose(out["mDice"], (10 / 13 + 8 / 9) / 2)
    np.testing.assert_array_equal(out["gt_pixels"], [8, 4])
    np.testing.assert_array_equal(out["pred_pixels"], [5, 5])
    # fwIoU weights by GT pixels including the void ones
    assert math.isclose(out["fwIoU"], 8 / 12 * 5 / 8 + 4 / 12 * 4 / 5)
    # without void it is the plain summary
    plain = summarize(cm)
    assert math.isclose(plain["mIoU"], (5 / 6 + 4 / 5) / 2)


def test_per_image_rows_by_hand():
    from segmetrics.metrics import image_scores

    rows = image_scores([[3, 0, 0], [0, 0, 0]], [[0, 1, 0], [0, 0, 0]], [[1, 0, 0], [0, 0, 0]])
    assert rows["pixels"][0] == 4 and math.isclose(rows["aAcc"][0], 0.75)
    assert math.isclose(rows["mIoU"][0], (3 / 4 + 0) / 2)  # class 1 predicted, absent: IoU 0 counts
    d2 = image_scores([[3, 0]], [[0, 1]], [[1, 0]], absent_rule="detectron2")
    assert math.isclose(d2["mIoU"][0], 0.75)
    assert math.isnan(rows["aAcc"][1]) and math.isnan(rows["mIoU"][1])


def test_json_schema_and_nan():
    rep = _report()
    assert list(rep) == ["schema_version", "segmetrics_version", "task", "params", "dataset",
                         "metrics", "per_class", "warnings", "notes"]
    data = json.loads(R.to_json(rep))
    assert data["metrics"]["mDice"] is None and data["per_class"][1]["IoU"] is None
    assert data["per_class"][0]["gt_pixels"] == 10 and isinstance(data["per_class"][0]["gt_pixels"], int)
    with pytest.raises(InputError):
        R.build_report(task="instance", params={}, dataset={}, metrics={}, per_class=[])


def test_table_markdown_csv():
    rep = _report()
    table = R.format_table(rep, per_class=True)
    assert "mIoU" in table and "50.00" in table and "n/a" in table and "sky" in table
    assert "sky" not in R.format_table(rep)
    md = R.format_markdown(rep, per_class=True)
    assert "| aAcc | mAcc | mIoU | fwIoU | mDice |" in md and "<details>" in md and "- w1" in md
    csv_text = R.format_csv([{"image_id": "a", "mIoU": 0.5}, {"image_id": "b", "mIoU": float("nan"), "x": 1}])
    assert csv_text.splitlines() == ["image_id,mIoU,x", "a,0.500000,", "b,,1"]
    pan = _report("panoptic", metrics={"PQ": 0.4, "SQ": 0.8, "RQ": 0.5, "mIoU": 0.3},
                  per_class=[{"id": 7, "name": "car", "isthing": True, "PQ": 0.4, "SQ": 0.8, "RQ": 0.5}])
    t = R.format_table(pan, per_class=True)
    assert t.index("PQ") < t.index("mIoU") and "thing" in t


def test_parse_metric_spec():
    assert R.parse_metric_spec("mIoU=45.0, PQ=40") == {"mIoU": 45.0, "PQ": 40.0}
    for bad, match in (("mIoU", "METRIC=PERCENT"), ("mIoU=abc", "not a number"), ("mIoU=1,mIoU=2", "twice"),
                       ("", "no METRIC"), ("mIoU=inf", "finite")):
        with pytest.raises(InputError, match=match):
            R.parse_metric_spec(bad)
    with pytest.raises(InputError, match="unknown metric 'miou'"):
        R.parse_metric_spec("miou=3", allowed=R.SEMANTIC_METRICS)


def test_fail_under_boundaries():
    rep = _report()
    assert R.check_fail_under(rep, {"mIoU": 50.0}) == []  # equal passes
    assert R.check_fail_under(rep, {"mIoU": 50.01}) == ["mIoU 50.00 < 50.01"]
    assert "undefined" in R.check_fail_under(rep, {"mDice": 1})[0]
    with pytest.raises(InputError, match="not in this semantic report"):
        R.check_fail_under(rep, {"PQ": 1})


def test_compare_and_max_drop():
    base = _report()
    new = _report(metrics={"aAcc": 0.9, "mAcc": 0.8, "mIoU": 0.494, "fwIoU": 0.7, "mDice": 0.1},
                  per_class=[{"id": 0, "name": "sky", "IoU": 0.6}, {"id": 1, "name": "road", "IoU": 0.2}])
    cmp = R.compare_reports(base, new)
    d = {r["name"]: r["delta"] for r in cmp["metrics"]}
    assert math.isclose(d["mIoU"], -0.006) and d["mDice"] is None and cmp["same_data"]
    assert math.isclose(cmp["per_class"][0]["delta"], 0.1)
    assert R.check_max_drop(cmp, {"mIoU": 0.6}) == []
    assert R.check_max_drop(cmp, {"mIoU": 0.5})[0].startswith("mIoU dropped 0.60 points (50.00 -> 49.40)")
    assert "undefined" in R.check_max_drop(cmp, {"mDice": 1})[0]
    text = R.format_comparison(cmp)
    assert "-0.60" in text and "+10.00" in text
    assert not R.compare_reports(base, _report(fingerprint="sha256:cd"))["same_data"]
    with pytest.raises(InputError, match="cannot compare"):
        R.compare_reports(base, _report("panoptic", metrics={"PQ": 0.1}, per_class=[]))
