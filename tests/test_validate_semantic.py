"""``validate_semantic``: every planted defect is found, and nothing else is reported."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from segmetrics.errors import DataFileError, InputError
from segmetrics.validate import CHECKS, validate_semantic

from cli_data import write_png
from validate_data import IGNORE, K, SIZE, ade_like, make_semantic, zero_based


@pytest.fixture
def data(tmp_path):
    gt, pred, gts, preds = make_semantic(tmp_path)
    return tmp_path, gt, pred, gts, preds


def codes(report) -> set:
    return set(report.codes())


def test_clean_dataset_reports_nothing(data):
    _, gt, pred, _, _ = data
    for jobs in (1, 2, 3):
        r = validate_semantic(gt, pred, num_classes=K, jobs=jobs)
        assert r.findings == [], [f.message for f in r.findings]
        assert r.ok and r.summary["images"] == 4 and r.summary["gt_files"] == 4 and r.summary["pred_files"] == 4
    assert validate_semantic(gt, num_classes=K).findings == []


# ----------------------------------------------------------------------------- catalogue
def _save_as(path, arr, mode):
    path.unlink()
    if mode == "P":   # the label values as palette indices, with a colour palette
        im = Image.frombytes("P", (arr.shape[1], arr.shape[0]), arr.tobytes())
        im.putpalette([v for i in range(256) for v in (i, 255 - i, i // 2)])
        im.save(path)
    elif mode == "RGB":
        Image.fromarray(np.stack([arr, arr // 2, arr], -1), "RGB").save(path)
    elif mode == "greyRGB":
        Image.fromarray(np.stack([arr, arr, arr], -1), "RGB").save(path)
    elif mode == "I;16":
        Image.fromarray(arr.astype(np.uint16)).save(path)


def no_gt_files(root, gt, pred, gts, preds):
    shutil.rmtree(gt)
    gt.mkdir()
    return {}, {"semantic.no_gt_files"}


def no_pred_files(root, gt, pred, gts, preds):
    shutil.rmtree(pred)
    pred.mkdir()
    return {}, {"semantic.no_pred_files"}


def pairing_failed(root, gt, pred, gts, preds):
    shutil.copy(gt / "img0.png", gt / "img0.PNG")   # two files, one image id
    return {}, {"semantic.pairing_failed"}


def missing_prediction(root, gt, pred, gts, preds):
    (pred / "img1.png").unlink()
    return {}, {"semantic.missing_prediction"}


def extra_prediction(root, gt, pred, gts, preds):
    shutil.copy(pred / "img1.png", pred / "other.png")
    return {}, {"semantic.extra_prediction"}


def ambiguous_pair(root, gt, pred, gts, preds):
    for i, sub in enumerate(("c1", "c2")):
        write_png(gt / sub / "x.png", gts[i])
    write_png(pred / "x.png", preds[0])
    return {}, {"semantic.ambiguous_pair"}


def corrupt_file(root, gt, pred, gts, preds):
    data = (gt / "img2.png").read_bytes()
    (gt / "img2.png").write_bytes(data[: len(data) // 2])
    return {}, {"semantic.corrupt_file"}


def rgb_prediction(root, gt, pred, gts, preds):
    _save_as(pred / "img0.png", preds[0], "RGB")
    return {}, {"semantic.not_single_channel"}


def grey_as_rgb_gt(root, gt, pred, gts, preds):
    _save_as(gt / "img3.png", gts[3], "greyRGB")
    return {}, {"semantic.not_single_channel"}


def palette_png(root, gt, pred, gts, preds):
    _save_as(gt / "img1.png", gts[1], "P")
    return {}, {"semantic.palette_png"}


def sixteen_bit(root, gt, pred, gts, preds):
    _save_as(gt / "img1.png", gts[1], "I;16")
    return {}, {"semantic.sixteen_bit"}


def scaled_16bit(root, gt, pred, gts, preds):
    _save_as(gt / "img1.png", gts[1].astype(np.uint16) * 257, "I;16")
    return {}, {"semantic.sixteen_bit", "semantic.scaled_16bit", "semantic.label_out_of_range"}


def size_mismatch(root, gt, pred, gts, preds):
    write_png(pred / "img2.png", np.pad(preds[2], ((0, 1), (0, 0))))
    return {}, {"semantic.size_mismatch"}


def label_values(root, gt, pred, gts, preds):
    return {"num_classes": None}, {"semantic.label_values"}


def label_out_of_range(root, gt, pred, gts, preds):
    g = gts[2].copy()
    g[5, 5] = 7
    write_png(gt / "img2.png", g)
    return {}, {"semantic.label_out_of_range"}


def all_ignore(root, gt, pred, gts, preds):
    write_png(gt / "img3.png", np.full(SIZE, IGNORE, dtype=np.uint8))
    return {}, {"semantic.all_ignore"}


def unused_classes(root, gt, pred, gts, preds):
    for i, g in enumerate(gts):
        write_png(gt / f"img{i}.png", np.where(g == 4, 3, g).astype(np.uint8))
    return {}, {"semantic.unused_classes"}


def pred_out_of_range(root, gt, pred, gts, preds):
    p = preds[1].copy()
    p[4, 4] = 9
    write_png(pred / "img1.png", p)
    return {}, {"semantic.pred_out_of_range"}


def pred_void(root, gt, pred, gts, preds):
    p = preds[1].copy()
    p[4, 4] = IGNORE
    write_png(pred / "img1.png", p)
    return {}, {"semantic.pred_void"}


def pred_out_of_range_on_ignored_pixel_is_fine(root, gt, pred, gts, preds):
    p = preds[0].copy()
    p[0, -1] = 9           # the GT is ignored there: eval never looks at it
    write_png(pred / "img0.png", p)
    return {}, set()


CASES = [no_gt_files, no_pred_files, pairing_failed, missing_prediction, extra_prediction, ambiguous_pair,
         corrupt_file, rgb_prediction, grey_as_rgb_gt, palette_png, sixteen_bit, scaled_16bit, size_mismatch,
         label_values, label_out_of_range, all_ignore, unused_classes, pred_out_of_range, pred_void,
         pred_out_of_range_on_ignored_pixel_is_fine]


@pytest.mark.parametrize("plant", CASES, ids=lambda f: f.__name__)
def test_planted_defect_is_found_and_nothing_else(data, plant):
    root, gt, pred, gts, preds = data
    kwargs, expected = plant(root, gt, pred, gts, preds)
    kwargs = {"num_classes": K, **kwargs}
    r = validate_semantic(gt, pred, **kwargs)
    assert codes(r) == expected, [f.message for f in r.findings]
    assert all(f.severity == CHECKS[f.code].severity for f in r.findings)
    assert r.ok == (not any(CHECKS[c].severity == "error" for c in expected))
    for f in r.findings:
        assert "\n" not in f.message and f.message
    r2 = validate_semantic(gt, pred, jobs=1, **kwargs)
    assert [f.to_dict() for f in r2.findings] == [f.to_dict() for f in r.findings]


# ----------------------------------------------------------------------------- details
def test_out_of_range_names_values_counts_and_files(data):
    root, gt, pred, gts, _ = data
    for i in (1, 3):
        g = gts[i].copy()
        g[2, 2:5] = 9
        g[3, 3] = 200
        write_png(gt / f"img{i}.png", g)
    f = validate_semantic(gt, pred, num_classes=K).get("semantic.label_out_of_range")
    assert f.fields["values"] == {9: 6, 200: 2}
    assert f.fields["files_with_value"] == {9: 2, 200: 2} and f.fields["files_affected"] == 2
    assert sorted(f.fields["files_by_value"][9]) == [str(gt / "img1.png"), str(gt / "img3.png")]
    assert "9 (6 px in 2 files" in f.message and "200 (2 px" in f.message


def test_listing_is_capped_with_and_n_more(tmp_path):
    gt, pred, _, _ = make_semantic(tmp_path, n=9)
    for i in range(9):
        (pred / f"img{i}.png").rename(pred / f"extra{i}.png")
    r = validate_semantic(gt, pred, num_classes=K)
    f = r.get("semantic.missing_prediction")
    assert f.count == 9 and f.message.endswith("and 4 more") and len(f.fields["image_ids"]) == 9


def test_grey_stored_as_rgb_is_named(data):
    root, gt, pred, gts, _ = data
    _save_as(gt / "img3.png", gts[3], "greyRGB")
    f = validate_semantic(gt, pred, num_classes=K).get("semantic.not_single_channel")
    assert f.fields["grey_as_colour"] == 1 and "keep one channel" in f.message


def test_missing_folder_and_bad_settings_raise(data):
    _, gt, pred, _, _ = data
    with pytest.raises(DataFileError):
        validate_semantic(gt / "nope", pred, num_classes=K)
    with pytest.raises(DataFileError):
        validate_semantic(gt, pred / "nope", num_classes=K)
    with pytest.raises(InputError, match="one of the 5 classes"):
        validate_semantic(gt, pred, num_classes=K, ignore_index=3)
    with pytest.raises(InputError, match="panoptic"):
        validate_semantic(gt, pred, preset="coco-panoptic")
    with pytest.raises(InputError, match="pred_labels"):
        validate_semantic(gt, pred, num_classes=K, pred_labels="one-based")


def test_report_to_dict_is_json_ready(data):
    import json

    _, gt, pred, gts, _ = data
    g = gts[0].copy()
    g[1, 1] = 42
    write_png(gt / "img0.png", g)
    d = validate_semantic(gt, pred, num_classes=K).to_dict()
    text = json.dumps(d)
    assert d["ok"] is False and d["counts"] == {"error": 1, "warning": 0, "info": 0}
    assert json.loads(text)["findings"][0]["values"] == {"42": 1}


# ----------------------------------------------------------------------------- label conventions
def _one_based_without_k(g, rng):   # GT-like values 1..K, but K itself never predicted
    p = np.where(g == 0, rng.integers(1, K, g.shape), g)
    return np.minimum(p, K - 1)


def _random_1_to_k_minus_1(g, rng):
    return rng.integers(1, K, g.shape)


@pytest.mark.parametrize("pred_fn, pred_labels, expected, reading", [
    (zero_based, "auto", {"semantic.pred_convention"}, "class-index"),
    (zero_based, "class-index", set(), None),
    (zero_based, "as-gt", {"semantic.pred_convention_mismatch", "semantic.pred_void"}, None),
    (_one_based_without_k, "auto", {"semantic.pred_convention"}, "as-gt"),
    (_one_based_without_k, "as-gt", set(), None),
    # the silent shift: every value is a valid class index, only the agreement tells
    (_one_based_without_k, "class-index", {"semantic.pred_convention_mismatch"}, None),
    (_random_1_to_k_minus_1, "auto", {"semantic.pred_convention_unclear"}, None),
], ids=["0based-auto", "0based-class", "0based-asgt", "1based-auto", "1based-asgt", "1based-class", "unclear"])
def test_ade20k_zero_vs_one_based_predictions(tmp_path, pred_fn, pred_labels, expected, reading):
    gt, pred = ade_like(tmp_path, pred_fn)
    r = validate_semantic(gt, pred, num_classes=K, reduce_zero_label=True, pred_labels=pred_labels)
    assert codes(r) == expected, [f.message for f in r.findings]
    if reading:
        f = r.get("semantic.pred_convention")
        assert f.fields["reading"] == reading
        assert ("0-based" if reading == "class-index" else "1-based") in f.message
    if "semantic.pred_convention_mismatch" in expected:
        f = r.get("semantic.pred_convention_mismatch")
        assert f.fields["suggested"] != pred_labels and f"--pred-labels {f.fields['suggested']}" in f.message


def test_ade20k_annotations_without_reduce_zero_label(tmp_path):
    gt, _ = ade_like(tmp_path, zero_based)
    r = validate_semantic(gt, num_classes=K)
    assert codes(r) == {"semantic.label_out_of_range", "semantic.gt_looks_one_based"}
    assert "--reduce-zero-label" in r.get("semantic.gt_looks_one_based").message


def test_zero_based_gt_with_reduce_zero_label(data):
    _, gt, _, _, _ = data      # values 0..K-1 and 255: 0-based already
    r = validate_semantic(gt, num_classes=K, reduce_zero_label=True)
    assert codes(r) == {"semantic.gt_zero_based_with_reduce_zero_label", "semantic.unused_classes"}
    assert r.get("semantic.unused_classes").fields["classes"] == [K - 1]


CITYSCAPES_LABEL_IDS = np.arange(34, dtype=np.uint8)


def _cityscapes(root, gt_values, pred_fn, n=2):
    """Cityscapes-like GT ``*_gtFine_labelIds.png`` holding ``gt_values`` and predictions."""
    from segmetrics.presets import CITYSCAPES_LABELID_TO_TRAINID

    lut = np.full(256, 255, dtype=np.uint8)
    for a, b in CITYSCAPES_LABELID_TO_TRAINID.items():
        lut[a] = b
    rng = np.random.default_rng(3)
    for i in range(n):
        g = rng.choice(gt_values, size=(10, 40)).astype(np.uint8)
        g.ravel()[: gt_values.size] = gt_values
        write_png(root / "gt" / "city" / f"city_{i:06d}_000019_gtFine_labelIds.png", g)
        write_png(root / "pred" / f"city_{i:06d}_000019.png", pred_fn(g, lut))
    return root / "gt", root / "pred"


def test_cityscapes_trainid_predictions_are_read_as_class_indices(tmp_path):
    gt, pred = _cityscapes(tmp_path, CITYSCAPES_LABEL_IDS, lambda g, lut: np.where(lut[g] == 255, 0, lut[g]))
    r = validate_semantic(gt, pred, preset="cityscapes")
    assert codes(r) == {"semantic.pred_convention"}
    assert r.get("semantic.pred_convention").fields["reading"] == "class-index"
    assert "trainIds" in r.get("semantic.pred_convention").message


def test_cityscapes_labelid_predictions_read_as_trainids(tmp_path):
    gt, pred = _cityscapes(tmp_path, CITYSCAPES_LABEL_IDS, lambda g, lut: np.where(lut[g] == 255, 7, g))
    r = validate_semantic(gt, pred, preset="cityscapes", pred_labels="class-index")
    assert codes(r) == {"semantic.pred_convention_mismatch", "semantic.pred_out_of_range"}
    assert "labelIds" in r.get("semantic.pred_convention_mismatch").message
    r = validate_semantic(gt, pred, preset="cityscapes")
    assert codes(r) == {"semantic.pred_convention"} and r.get("semantic.pred_convention").fields["reading"] == "as-gt"


def test_cityscapes_trainid_gt_under_the_labelid_map(tmp_path):
    train_ids = np.array(list(range(19)) + [255], dtype=np.uint8)
    gt, _ = _cityscapes(tmp_path, train_ids, lambda g, lut: g)
    r = validate_semantic(gt, preset="cityscapes")
    assert codes(r) == {"semantic.gt_looks_like_trainids", "semantic.unused_classes"}


def test_cityscapes_labelid_gt_scored_as_19_classes(tmp_path):
    gt, _ = _cityscapes(tmp_path, CITYSCAPES_LABEL_IDS, lambda g, lut: g)
    r = validate_semantic(gt, num_classes=19)
    assert codes(r) == {"semantic.label_out_of_range", "semantic.gt_looks_like_labelids"}
    assert "--preset cityscapes" in r.get("semantic.gt_looks_like_labelids").message
