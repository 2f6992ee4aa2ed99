"""End-to-end: ``python -m segmetrics`` in a subprocess on generated layouts and the real samples.

Each run's JSON is compared with the Python API on the same files.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_data import (
    make_flat_set,
    oracle_confusion,
    oracle_miou,
    panopticapi_pq,
    perturb_panoptic,
    read_png,
    write_png,
)

import segmetrics

REPO = Path(segmetrics.__file__).resolve().parents[1]  # python -m segmetrics runs this checkout

pytest.importorskip("segmetrics.semantic")


def cli(*args, expect=0):
    proc = subprocess.run([sys.executable, "-m", "segmetrics", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == expect, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def cli_json(*args, tmp_path):
    out = tmp_path / f"report_{len(list(tmp_path.glob('report_*.json')))}.json"
    cli("eval", *args, "--json", out, "-q")
    return json.loads(out.read_text())


def api_semantic(pairs, num_classes, **kwargs):
    from segmetrics.semantic import SemanticEvaluator

    ev = SemanticEvaluator(num_classes, **kwargs)
    for g, p in pairs:
        ev.update(g, p)
    return ev.compute()


def assert_semantic_equal(rep, result):
    for k in ("aAcc", "mAcc", "mIoU", "fwIoU", "mDice"):
        assert math.isclose(rep["metrics"][k], result.metrics[k], rel_tol=1e-12), k
    iou = [c["IoU"] for c in rep["per_class"]]
    np.testing.assert_allclose(np.array(iou, dtype=float), result.per_class["IoU"], rtol=1e-12)


def test_demo_and_errors_in_a_subprocess(tmp_path):
    proc = cli("eval", "--demo", "--demo-dir", tmp_path / "demo", "--demo-task", "semantic")
    assert "mIoU" in proc.stdout and "demo (semantic)" in proc.stderr
    proc = cli("eval", "--gt", tmp_path / "nothing", "--pred", tmp_path, "--num-classes", 3, expect=2)
    assert proc.stderr.strip() == f"segmetrics: error: ground-truth path not found: {tmp_path / 'nothing'}"
    d = tmp_path / "demo" / "semantic"
    proc = cli("eval", "--gt", d / "gt", "--pred", d / "pred", "--class-names", d / "classes.txt",
               "--fail-under", "mIoU=99", expect=3)
    assert proc.stderr.startswith("segmetrics: FAILED: mIoU")


def test_generated_layouts_equal_python_api(tmp_path):
    # CamVid layout
    gt, pred, arrays = make_flat_set(tmp_path / "camvid", n=4, k=11, ignore=11)
    rep = cli_json("--preset", "camvid", "--gt", gt, "--pred", pred, tmp_path=tmp_path)
    assert_semantic_equal(rep, api_semantic(arrays, 11, ignore_index=11))
    # ADE20K layout: annotations 0..150, predictions in the same 1..150 convention
    gt, pred, arrays = make_flat_set(tmp_path / "ade", n=3, k=151, ignore=None)
    arrays = [(g, np.where(p == 0, 1, p).astype(np.uint8)) for g, p in arrays]
    for i, (_, p) in enumerate(arrays):
        write_png(pred / f"img_{i:03d}.png", p)
    rep = cli_json("--preset", "ade20k", "--gt", gt, "--pred", pred, tmp_path=tmp_path)
    assert_semantic_equal(rep, api_semantic(arrays, 150, reduce_zero_label=True, pred_reduce_zero_label=True))
    # Cityscapes layout
    rng = np.random.default_rng(5)
    pairs = []
    for i in range(3):
        g = rng.integers(0, 34, size=(16, 24)).astype(np.uint8)
        p = rng.integers(0, 19, size=(16, 24)).astype(np.uint8)
        write_png(tmp_path / "cs" / "gt" / "ulm" / f"ulm_{i:06d}_000019_gtFine_labelIds.png", g)
        write_png(tmp_path / "cs" / "pred" / "ulm" / f"ulm_{i:06d}_000019_leftImg8bit.png", p)
        pairs.append((g, p))
    rep = cli_json("--preset", "cityscapes", "--gt", tmp_path / "cs" / "gt", "--pred", tmp_path / "cs" / "pred",
                   tmp_path=tmp_path)
    from segmetrics.labels import label_map_lut
    from segmetrics.presets import CITYSCAPES_LABELID_TO_TRAINID

    lut = label_map_lut(CITYSCAPES_LABELID_TO_TRAINID, num_classes=19, ignore_index=255)
    assert_semantic_equal(rep, api_semantic([(lut[g], p) for g, p in pairs], 19))


def test_generated_coco_panoptic_equals_api_and_panopticapi(tmp_path):
    pytest.importorskip("panopticapi")
    from segmetrics.demo import make_panoptic_demo
    from segmetrics import panoptic_quality

    d = make_panoptic_demo(tmp_path, n=4, seed=3)
    rep = cli_json("--preset", "coco-panoptic", "--gt", d.gt_json, "--pred", d.pred_json, tmp_path=tmp_path)
    api = panoptic_quality(d.gt_json, d.pred_json, d.gt_folder, d.pred_folder)
    peer = panopticapi_pq(d.gt_json, d.pred_json, d.gt_folder, d.pred_folder)
    for k in ("PQ", "SQ", "RQ", "PQ_th", "PQ_st"):
        assert math.isclose(rep["metrics"][k], api.metrics[k], rel_tol=1e-12)
    assert math.isclose(rep["metrics"]["PQ"], peer["All"]["pq"], rel_tol=1e-9)


# ------------------------------------------------------------------ the real samples
def test_ade20k_sample(shared_data, tmp_path):
    ann = shared_data / "ade20k_sample" / "sampleData" / "annotations"
    if not ann.is_dir():
        pytest.skip("ade20k_sample absent")
    files = sorted(ann.glob("*.png"))
    rep = cli_json("--preset", "ade20k", "--gt", ann, "--pred", ann, tmp_path=tmp_path)
    assert rep["metrics"]["mIoU"] == 1.0 and rep["metrics"]["aAcc"] == 1.0
    assert rep["dataset"]["images"] == len(files)
    # a perturbed prediction: the CLI equals the Python API and a NumPy oracle
    rng = np.random.default_rng(0)
    pairs = []
    for f in files:
        g = read_png(f)
        p = np.roll(g, 3, axis=1).copy()
        p[rng.random(g.shape) < 0.05] = 7
        p[p == 0] = 1
        write_png(tmp_path / "pred" / f.name, p)
        pairs.append((g, p))
    rep = cli_json("--preset", "ade20k", "--gt", ann, "--pred", tmp_path / "pred", tmp_path=tmp_path)
    assert_semantic_equal(rep, api_semantic(pairs, 150, reduce_zero_label=True, pred_reduce_zero_label=True))
    lut = np.arange(256) - 1
    lut[0] = 255
    cm = oracle_confusion(pairs, 150, gt_lut=lut, pred_lut=lut)
    assert math.isclose(rep["metrics"]["mIoU"], oracle_miou(cm), rel_tol=1e-12)


def test_camvid_val(shared_data, tmp_path):
    ann = shared_data / "camvid" / "valannot"
    if not ann.is_dir():
        pytest.skip("camvid absent")
    rng = np.random.default_rng(1)
    pairs = []
    for f in sorted(ann.glob("*.png"))[:30]:
        g = read_png(f)
        p = np.roll(g, 4, axis=0).copy()
        p[p == 11] = 3
        p[rng.random(g.shape) < 0.02] = 9
        write_png(tmp_path / "pred" / f.name, p)
        pairs.append((g, p))
    # 30 predictions for 101 GT images: the missing ones are named, then scored as void
    proc = cli("eval", "--preset", "camvid", "--gt", ann, "--pred", tmp_path / "pred", expect=2)
    assert "71 of 101 ground-truth images have no prediction" in proc.stderr
    rep = cli_json("--preset", "camvid", "--gt", ann, "--pred", tmp_path / "pred", "--allow-missing",
                   "-j", 2, tmp_path=tmp_path)
    assert rep["dataset"]["missing_predictions"] == 71
    # restricted to the predicted images (a folder of links), the CLI equals the API
    sub = tmp_path / "gt_sub"
    sub.mkdir()
    for f in sorted(ann.glob("*.png"))[:30]:
        (sub / f.name).symlink_to(f)
    rep = cli_json("--preset", "camvid", "--gt", sub, "--pred", tmp_path / "pred", tmp_path=tmp_path)
    assert_semantic_equal(rep, api_semantic(pairs, 11, ignore_index=11))
    assert [c["name"] for c in rep["per_class"]][:3] == ["Sky", "Building", "Pole"]


def test_coco_panoptic_sample(shared_data, tmp_path):
    root = shared_data / "coco_panoptic_sample" / "sample_data"
    if not root.is_dir():
        pytest.skip("coco_panoptic_sample absent")
    pytest.importorskip("panopticapi")
    from segmetrics import panoptic_quality

    gt_json, gt_png = root / "panoptic_examples.json", root / "panoptic_examples"
    rep = cli_json("--gt", gt_json, "--pred", gt_json, tmp_path=tmp_path)
    assert rep["task"] == "panoptic" and rep["metrics"]["PQ"] == 1.0
    pred_json = perturb_panoptic(gt_json, gt_png, tmp_path, "pred", seed=2)
    rep = cli_json("--preset", "coco-panoptic", "--gt", gt_png, "--pred", pred_json, tmp_path=tmp_path)
    api = panoptic_quality(gt_json, pred_json, gt_png, tmp_path / "pred")
    peer = panopticapi_pq(gt_json, pred_json, gt_png, tmp_path / "pred")
    for k in ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st"):
        assert math.isclose(rep["metrics"][k], api.metrics[k], rel_tol=1e-12), k
    assert math.isclose(rep["metrics"]["PQ"], peer["All"]["pq"], rel_tol=1e-9)
    assert rep["metrics"]["PQ"] < 1.0
