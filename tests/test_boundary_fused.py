"""Boundary counts of the fused folder loops against the OpenCV oracles (tests/boundary_oracles.py).

The folder engine counts the band interiors in the same nogil row walk as the confusion
matrix / the pair table; these tests score whole folders (random label maps with ignore,
void and missing predictions, label rules, 16-bit PNGs, PNGs that only the reference path
reads; random COCO-format datasets with crowd, void, stale JSON areas and missing
predictions) and compare the state's counts with the per-class / per-segment OpenCV
definition, image by image and summed, cold and with the GT cache warm, on 1 and 2 threads.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

import segmetrics as sm

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")

from boundary_oracles import (
    oracle_metrics,
    panoptic_oracle_image,
    random_categories,
    random_panoptic_pair,
    reference_dilation,
    semantic_oracle,
)
from cli_data import id2rgb, write_png

K = 6
RATIO = 0.04


def _labels(rng, h, w):
    """Blocky raw GT values 0..K (0: ADE20K's 'other', ignored by reduce_zero_label) and 255."""
    cell = int(rng.integers(1, 7))
    small = rng.integers(0, K + 1, ((h + cell - 1) // cell, (w + cell - 1) // cell))
    lab = np.kron(small, np.ones((cell, cell), np.int64))[:h, :w]
    lab[rng.random((h, w)) < 0.03] = 255
    return lab


@pytest.fixture(scope="module")
def semantic_folder(tmp_path_factory):
    """Ten images: 8-bit, one 16-bit GT, one 4-bit palette GT (the reference path reads it), void
    predictions (255), one missing prediction; and the oracle's counts per image."""
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("bfused_sem")
    want = {}
    for i in range(10):
        h, w = (int(x) for x in rng.integers(15, 60, 2))
        raw = _labels(rng, h, w)
        if i == 3:
            raw[raw == 255] = 0  # a palette image holds no 255
        gt_eff = np.where((raw == 0) | (raw == 255), 255, raw - 1)  # reduce_zero_label
        # the GT shifted, a few wrong pixels; under ignored GT blocks of classes and of values that
        # are no class (allowed there): the prediction's band is that of its whole map
        pred = np.where(rng.random((h, w)) < 0.99, gt_eff, rng.integers(0, K, (h, w)))
        pred = np.roll(pred, int(rng.integers(-2, 3)), axis=int(rng.integers(0, 2)))
        under = _labels(rng, h, w) % (K + 2)
        under[under >= K] = 200
        pred[gt_eff == 255] = under[gt_eff == 255]
        pred[(rng.random((h, w)) < 0.01) & (gt_eff != 255)] = 255  # void predictions on scored pixels
        name = f"im{i:02d}.png"
        if i == 2:
            write_png(root / "gt" / name, raw.astype(np.uint16))
        elif i == 3:
            im = Image.fromarray(raw.astype(np.uint8), "P")
            im.putpalette([v for c in range(16) for v in (c * 16, c * 16, c * 16)])
            (root / "gt").mkdir(exist_ok=True)
            im.save(root / "gt" / name, bits=4)
        else:
            write_png(root / "gt" / name, raw.astype(np.uint8))
        if i == 6:
            pred_eff = np.full((h, w), -1)  # missing: every scored pixel is void
        else:
            write_png(root / "pred" / name, pred.astype(np.uint8))
            pred_eff = pred
        want[f"im{i:02d}"] = semantic_oracle(gt_eff, pred_eff, K, 255, reference_dilation(h, w, RATIO))
    return root, want


@pytest.mark.parametrize("jobs", [1, 2])
def test_semantic_fused_counts_equal_opencv_oracle(semantic_folder, tmp_path, jobs):
    root, want = semantic_folder
    for run in ("cold", "warm"):
        res = sm.evaluate_semantic_folders(
            root / "gt", root / "pred", num_classes=K, reduce_zero_label=True, pred_labels="class-index",
            void_predictions="miss", allow_missing=True, per_image=True, jobs=jobs, cache_dir=tmp_path,
            boundary=True, dilation_ratio=RATIO)
        st = res.state
        ids = st.image_ids
        assert ids == sorted(want)
        for j, image_id in enumerate(ids):
            got = (st.image_boundary_inter[j], st.image_boundary_gt[j], st.image_boundary_pred[j])
            for a, b in zip(got, want[image_id]):
                np.testing.assert_array_equal(a, b, err_msg=f"{run} {image_id}")
        total = [sum(w[k] for w in want.values()) for k in range(3)]
        for a, b in zip((st.boundary_inter, st.boundary_gt, st.boundary_pred), total):
            np.testing.assert_array_equal(a, b, err_msg=run)
        inter, gb, pb = total
        union = gb + pb - inter
        biou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
        np.testing.assert_array_equal(res.per_class["BIoU"], biou)
        assert res.metrics["mBIoU"] == pytest.approx(np.nanmean(biou), abs=1e-15)
        assert res.params["dilation_ratio"] == RATIO
        assert res.state.void.sum() > 0 and res.state.missing.sum() > 0  # the data exercises both rules


def test_semantic_band_changes_no_mask_number(semantic_folder):
    root, _ = semantic_folder
    kw = dict(num_classes=K, reduce_zero_label=True, pred_labels="class-index", void_predictions="miss",
              allow_missing=True, per_image=True, jobs=2)
    plain = sm.evaluate_semantic_folders(root / "gt", root / "pred", **kw)
    band = sm.evaluate_semantic_folders(root / "gt", root / "pred", boundary=True, **kw)
    assert band.params["dilation_ratio"] == 0.02 and "dilation_ratio" not in plain.params
    for key, value in plain.metrics.items():
        assert band.metrics[key] == value or (math.isnan(value) and math.isnan(band.metrics[key]))
    np.testing.assert_array_equal(band.confusion, plain.confusion)
    np.testing.assert_array_equal(band.state.image_tp, plain.state.image_tp)


@pytest.fixture(scope="module")
def panoptic_folder(tmp_path_factory):
    """Twelve COCO-format images (crowd, void, tiny and border segments, a segment with
    boundary-iou-api's sentinel id), one stale JSON area, one missing prediction."""
    rng = np.random.default_rng(21)
    root = tmp_path_factory.mktemp("bfused_pan")
    cats = random_categories(rng)
    gt_anns, pred_anns, images, oracle = [], [], [], []
    for i in range(12):
        h, w = (int(x) for x in rng.integers(12, 50, 2))
        gt, gs, pred, ps = random_panoptic_pair(rng, h, w, cats, sentinel_id=max(c["id"] for c in cats) + 1)
        if i == 4 and gs:
            gs[0] = dict(gs[0], area=gs[0]["area"] + 1)  # stale: the Python statistics take the image
        name = f"{i}.png"
        write_png(root / "gt" / name, id2rgb(gt))
        images.append({"id": i, "file_name": name, "height": h, "width": w})
        gt_anns.append({"image_id": i, "file_name": name, "segments_info": gs})
        if i == 9:
            pred, ps = np.zeros_like(pred), []
        else:
            write_png(root / "pred" / name, id2rgb(pred))
            pred_anns.append({"image_id": i, "file_name": name, "segments_info": ps})
        oracle.append(panoptic_oracle_image(gt, gs, pred, ps, cats, reference_dilation(h, w, RATIO)))
    (root / "gt.json").write_text(json.dumps({"images": images, "annotations": gt_anns, "categories": cats}))
    (root / "pred.json").write_text(json.dumps({"annotations": pred_anns}))
    return root, cats, oracle


@pytest.mark.parametrize("jobs", [1, 2])
def test_panoptic_fused_counts_equal_opencv_oracle(panoptic_folder, tmp_path, jobs):
    root, cats, oracle = panoptic_folder
    want = oracle_metrics(oracle, cats)
    for run in ("cold", "warm"):
        res = sm.evaluate_panoptic_folders(root / "gt.json", root / "pred.json", gt_folder=root / "gt",
                                           pred_folder=root / "pred", allow_missing=True, per_image=True,
                                           jobs=jobs, cache_dir=tmp_path, boundary=True, dilation_ratio=RATIO)
        for key, value in want.items():
            got = res.metrics[key]
            assert (math.isnan(got) and math.isnan(value)) or abs(got - value) <= 1e-12, (run, key)
        st = res.state
        for j, c in enumerate(cats):
            o = [im[c["id"]] for im in oracle]
            for key in ("btp", "bfp", "bfn", "tp", "fp", "fn", "gt_segments"):
                assert int(getattr(st, key)[j]) == sum(x[key] for x in o), (run, key, c)
            assert sorted(st.bmatch_iou[st.bmatch_cat == j].tolist()) == sorted(v for x in o for v in x["biou"])
            assert sorted(st.stuff_iou[st.stuff_cat == j].tolist()) == sorted(v for x in o for v in x["stuff_iou"])
        for j, image_id in enumerate(st.image_ids):  # per image
            o = oracle[image_id]
            for key in ("btp", "bfp", "bfn"):
                assert st.__getattr__("image_" + key)[j].tolist() == [o[c["id"]][key] for c in cats]
        assert any("area" in w for w in res.warnings)  # the stale image went the per-image way


def test_missing_and_extra_boundary_settings_are_refused(panoptic_folder, semantic_folder, tmp_path):
    from segmetrics.errors import InputError

    root, _, _ = panoptic_folder
    with pytest.raises(InputError, match="boundary=True"):
        sm.evaluate_panoptic_folders(root / "gt.json", root / "pred.json", gt_folder=root / "gt",
                                     pred_folder=root / "pred", allow_missing=True, dilation_ratio=0.01)
    kw = dict(gt_folder=root / "gt", pred_folder=root / "pred", allow_missing=True, per_image=True,
              boundary=True)
    a = sm.evaluate_panoptic_folders(root / "gt.json", root / "pred.json", dilation_ratio=0.02, **kw)
    b = sm.evaluate_panoptic_folders(root / "gt.json", root / "pred.json", dilation_ratio=0.03, **kw)
    a.save_state(tmp_path / "a.smstate")
    b.save_state(tmp_path / "b.smstate")
    with pytest.raises(InputError, match="dilation_ratio"):
        sm.merge_states([tmp_path / "a.smstate", tmp_path / "b.smstate"])
    sroot, _ = semantic_folder
    plain = sm.evaluate_semantic_folders(sroot / "gt", sroot / "pred", num_classes=K, reduce_zero_label=True,
                                         pred_labels="class-index", void_predictions="miss", allow_missing=True,
                                         per_image=True)
    band = sm.evaluate_semantic_folders(sroot / "gt", sroot / "pred", num_classes=K, reduce_zero_label=True,
                                        pred_labels="class-index", void_predictions="miss", allow_missing=True,
                                        per_image=True, boundary=True)
    with pytest.raises(InputError, match="differ"):
        sm.merge_states([plain, band])


def test_cityscapes_preset_sets_its_ratio():
    from segmetrics.folders import _band_setting
    from segmetrics.presets import get_preset

    assert _band_setting(True, None, get_preset("cityscapes")) == (0.005, None)
    assert _band_setting(True, None, get_preset("ade20k")) == (0.02, None)
    assert _band_setting(True, 0.01, get_preset("cityscapes")) == (0.01, None)
    assert _band_setting(False, None, get_preset("cityscapes")) is None
