"""``validate_panoptic``: every planted defect is found, and nothing else is reported."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from PIL import Image

from segmetrics.errors import DataFileError, InputError
from segmetrics.validate import CHECKS, validate_panoptic

from cli_data import write_png
from validate_data import SIZE, id2rgb, make_panoptic, read_rgb, rgb2id, save_json


@pytest.fixture
def ds(tmp_path):
    return make_panoptic(tmp_path)


def run(ds, **kwargs):
    return validate_panoptic(ds["gt_json"], ds["pred_json"], **kwargs)


def test_clean_dataset_reports_nothing(ds):
    for jobs in (1, 2, 3):
        r = run(ds, jobs=jobs)
        assert r.findings == [], [f.message for f in r.findings]
    r = validate_panoptic(ds["gt_json"])
    assert r.findings == [] and r.summary["images"] == 3 and r.summary["segments"] == 15


# ----------------------------------------------------------------------------- planting helpers
def gt_seg(ds, image=0, index=0):
    return ds["gt"]["annotations"][image]["segments_info"][index]


def pred_seg(ds, image=0, index=0):
    return ds["pred"]["annotations"][image]["segments_info"][index]


def save(ds):
    save_json(ds["gt_json"], ds["gt"])
    save_json(ds["pred_json"], ds["pred"])


def png(ds, side, image):
    return ds["root"] / side / ds["gt"]["annotations"][image]["file_name"]


# ----------------------------------------------------------------------------- catalogue
def invalid_json(ds):
    ds["gt_json"].write_text('{"annotations": [')
    return {"panoptic.invalid_json"}


def json_structure(ds):
    gt_seg(ds, 1, 2)["id"] = "12"
    return {"panoptic.json_structure"}


def json_structure_prediction(ds):
    del ds["pred"]["annotations"][2]["segments_info"][0]["category_id"]
    return {"panoptic.json_structure"}


def duplicate_image_id(ds):
    ds["gt"]["annotations"].append(copy.deepcopy(ds["gt"]["annotations"][1]))
    return {"panoptic.duplicate_image_id"}


def duplicate_image_id_in_images(ds):
    ds["gt"]["images"].append(dict(ds["gt"]["images"][0]))
    return {"panoptic.duplicate_image_id"}


def duplicate_file_name(ds):
    a0, a1 = ds["gt"]["annotations"][0], ds["gt"]["annotations"][1]
    a1["file_name"] = a0["file_name"]
    a1["segments_info"] = copy.deepcopy(a0["segments_info"])
    p1 = ds["pred"]["annotations"][1]
    p1["file_name"], p1["segments_info"] = a0["file_name"], copy.deepcopy(ds["pred"]["annotations"][0]["segments_info"])
    return {"panoptic.duplicate_file_name"}


def duplicate_segment_id(ds):
    ds["gt"]["annotations"][2]["segments_info"].append(dict(gt_seg(ds, 2, 1)))
    return {"panoptic.duplicate_segment_id"}


def duplicate_category_id(ds):
    ds["gt"]["categories"].append(dict(ds["gt"]["categories"][0]))
    return {"panoptic.duplicate_category_id"}


def unknown_category(ds):
    gt_seg(ds, 1, 2)["category_id"] = 99   # a person; the category stays used elsewhere
    return {"panoptic.unknown_category"}


def unknown_category_prediction(ds):
    pred_seg(ds, 0, 1)["category_id"] = 77
    return {"panoptic.unknown_category"}


def isthing_flag(ds):
    del ds["gt"]["categories"][1]["isthing"]
    return {"panoptic.isthing_flag"}


def isthing_differs(ds):
    ds["pred"]["categories"] = [dict(c, isthing=1 - c["isthing"]) if c["id"] == 10 else dict(c)
                                for c in ds["gt"]["categories"]]
    return {"panoptic.isthing_differs"}


def no_stuff(ds):
    for c in ds["gt"]["categories"]:
        c["isthing"] = 1
    return {"panoptic.no_things_or_stuff"}


def unused_categories(ds):
    ds["gt"]["categories"].append({"id": 50, "name": "boat", "isthing": 1})
    return {"panoptic.unused_categories"}


def crowd_on_stuff(ds):
    gt_seg(ds, 1, 0)["iscrowd"] = 1        # sky
    return {"panoptic.crowd_on_stuff"}


def stuff_multiple_segments(ds):
    gt_seg(ds, 2, 3)["category_id"] = 10   # the second person of image 2 becomes a second sky
    return {"panoptic.stuff_multiple_segments"}


def missing_area(ds):
    del gt_seg(ds, 0, 1)["area"]
    return {"panoptic.missing_area"}


def empty_annotation(ds):
    for side in ("gt", "pred"):
        write_png(png(ds, side, 2), np.zeros(SIZE + (3,), dtype=np.uint8))
    ds["gt"]["annotations"][2]["segments_info"] = []
    ds["pred"]["annotations"][2]["segments_info"] = []
    return {"panoptic.empty_annotation"}


def image_without_annotation(ds):
    ds["gt"]["images"].append({"id": 5000, "file_name": "x.jpg", "height": 3, "width": 3})
    return {"panoptic.image_without_annotation"}


def preset_layout(ds):
    return {"preset": "ade20k-panoptic"}, {"panoptic.preset_layout"}


def missing_png(ds):
    png(ds, "gt", 1).unlink()
    return {"panoptic.missing_png"}


def corrupt_png(ds):
    p = png(ds, "pred", 2)
    p.write_bytes(p.read_bytes()[:60])
    return {"panoptic.corrupt_png"}


def jpeg_named_png(ds):
    p = png(ds, "gt", 0)
    Image.fromarray(read_rgb(p)).save(p, format="JPEG")
    return {"panoptic.corrupt_png"}


def rgba_png(ds):
    p = png(ds, "gt", 0)
    rgb = read_rgb(p)
    Image.fromarray(np.concatenate([rgb, np.full(SIZE + (1,), 255, np.uint8)], -1), "RGBA").save(p)
    return {"panoptic.rgba_png"}


def not_rgb_png(ds):
    p = png(ds, "pred", 1)
    Image.fromarray(read_rgb(p)[..., 0], "L").save(p)
    return {"panoptic.not_rgb_png"}


def image_size_mismatch(ds):
    ds["gt"]["images"][1]["width"] += 2
    return {"panoptic.image_size_mismatch"}


def pred_size_mismatch(ds):
    p = png(ds, "pred", 0)
    write_png(p, np.pad(read_rgb(p), ((0, 0), (0, 1), (0, 0))))   # a void column more
    return {"panoptic.pred_size_mismatch"}


def unlisted_png_id(ds):
    ds["pred"]["annotations"][1]["segments_info"].pop(3)
    return {"panoptic.unlisted_png_id"}


def segment_without_pixels(ds):
    ds["gt"]["annotations"][0]["segments_info"].append({"id": 424242, "category_id": 2, "iscrowd": 0, "area": 7,
                                                         "bbox": [1, 1, 2, 2]})
    return {"panoptic.segment_without_pixels"}


def stale_area(ds):
    gt_seg(ds, 2, 1)["area"] += 5
    return {"panoptic.stale_area"}


def stale_bbox(ds):
    gt_seg(ds, 1, 4)["bbox"][2] += 1
    return {"panoptic.stale_bbox"}


def bbox_xyxy(ds):
    for a in ds["gt"]["annotations"]:
        for s in a["segments_info"]:
            x, y, w, h = s["bbox"]
            s["bbox"] = [x, y, x + w, y + h]
    return {"panoptic.stale_bbox", "panoptic.bbox_xyxy"}


def pred_stale_area(ds):
    pred_seg(ds, 1, 0)["area"] = 3
    return {"panoptic.pred_stale_area"}


def missing_prediction(ds):
    ds["pred"]["annotations"].pop(1)
    return {"panoptic.missing_prediction"}


def unknown_image(ds):
    extra = copy.deepcopy(ds["pred"]["annotations"][0])
    extra["image_id"], extra["file_name"] = 777, "000000000777.png"
    ds["pred"]["annotations"].append(extra)
    return {"panoptic.unknown_image"}


def image_id_type(ds):
    for a in ds["pred"]["annotations"]:
        a["image_id"] = str(a["image_id"])
    return {"panoptic.image_id_type"}


CASES = [invalid_json, json_structure, json_structure_prediction, duplicate_image_id, duplicate_image_id_in_images,
         duplicate_file_name, duplicate_segment_id, duplicate_category_id, unknown_category,
         unknown_category_prediction, isthing_flag, isthing_differs, no_stuff, unused_categories, crowd_on_stuff,
         stuff_multiple_segments, missing_area, empty_annotation, image_without_annotation, preset_layout,
         missing_png, corrupt_png, jpeg_named_png, rgba_png, not_rgb_png, image_size_mismatch, pred_size_mismatch,
         unlisted_png_id, segment_without_pixels, stale_area, stale_bbox, bbox_xyxy, pred_stale_area,
         missing_prediction, unknown_image, image_id_type]


@pytest.mark.parametrize("plant", CASES, ids=lambda f: f.__name__)
def test_planted_defect_is_found_and_nothing_else(ds, plant):
    out = plant(ds)
    kwargs, expected = out if isinstance(out, tuple) else ({}, out)
    if plant is not invalid_json:
        save(ds)
    r = run(ds, **kwargs)
    assert set(r.codes()) == expected, [f.message for f in r.findings]
    assert all(f.severity == CHECKS[f.code].severity for f in r.findings)
    assert r.ok == (not any(CHECKS[c].severity == "error" for c in expected))
    for f in r.findings:
        assert "\n" not in f.message and f.message
    r1 = run(ds, jobs=1, **kwargs)
    assert [f.to_dict() for f in r1.findings] == [f.to_dict() for f in r.findings]


# ----------------------------------------------------------------------------- details
def test_findings_name_images_segments_and_counts(ds):
    gt_seg(ds, 2, 1)["area"] += 5
    gt_seg(ds, 0, 3)["area"] -= 1
    ds["pred"]["annotations"][1]["segments_info"].pop(3)
    save(ds)
    r = run(ds)
    f = r.get("panoptic.stale_area")
    assert f.count == 2 and f.fields["image_ids"] == [1000, 1002]
    seg = gt_seg(ds, 2, 1)
    assert {"image_id": 1002, "segment_id": seg["id"], "json": seg["area"], "png": seg["area"] - 5} in f.fields["segments"]
    f = r.get("panoptic.unlisted_png_id")
    sid = ds["gt"]["annotations"][1]["segments_info"][3]["id"]
    assert f.fields["segments"] == [{"image_id": 1001, "side": "pred", "segment_id": sid,
                                     "pixels": gt_seg(ds, 1, 3)["area"]}]
    assert f"id {sid}" in f.message and "prediction" in f.message


def test_rgba_with_constant_alpha_is_said(ds):
    rgba_png(ds)
    f = run(ds).get("panoptic.rgba_png")
    assert "constant alpha of 255" in f.message


def test_fixed_json_recomputes_area_and_bbox(ds, tmp_path):
    original = copy.deepcopy(ds["gt"])
    gt_seg(ds, 0, 0)["area"] = 1
    gt_seg(ds, 1, 2)["bbox"] = [0, 0, 1, 1]
    del gt_seg(ds, 2, 4)["area"]
    del gt_seg(ds, 2, 3)["bbox"]
    ds["gt"]["info"] = {"description": "kept as is"}
    save(ds)
    out = tmp_path / "fixed" / "gt_fixed.json"
    r = validate_panoptic(ds["gt_json"], write_fixed_json=out)
    assert set(r.codes()) == {"panoptic.stale_area", "panoptic.stale_bbox", "panoptic.missing_area",
                              "panoptic.fixed_json"}
    f = r.get("panoptic.fixed_json")
    assert f.fields["areas_changed"] == 2 and f.fields["bboxes_changed"] == 2 and f.count == 3
    fixed = json.loads(out.read_text())
    assert fixed["info"] == {"description": "kept as is"}
    assert fixed["annotations"] == original["annotations"]
    assert validate_panoptic(out, gt_folder=ds["root"] / "gt").findings == []


def test_fixed_json_bbox_convention_on_pixels(ds, tmp_path):
    """[x, y, w, h] with w = x_max - x_min + 1, checked against the pixels themselves."""
    out = tmp_path / "f.json"
    validate_panoptic(ds["gt_json"], write_fixed_json=out)
    fixed = json.loads(out.read_text())
    for ann in fixed["annotations"]:
        ids = rgb2id(read_rgb(ds["root"] / "gt" / ann["file_name"]))
        for s in ann["segments_info"]:
            ys, xs = np.nonzero(ids == s["id"])
            assert s["area"] == xs.size
            assert s["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def test_fixed_json_leaves_unreadable_images_alone(ds, tmp_path):
    gt_seg(ds, 1, 0)["area"] = 2
    save(ds)
    png(ds, "gt", 1).unlink()
    out = tmp_path / "f.json"
    r = validate_panoptic(ds["gt_json"], write_fixed_json=out)
    f = r.get("panoptic.fixed_json")
    assert f.fields["images_unchanged"] == [1001] and f.count == 2
    assert json.loads(out.read_text())["annotations"][1]["segments_info"][0]["area"] == 2


def test_fixed_json_refuses_to_overwrite_the_input(ds):
    with pytest.raises(InputError, match="overwrite"):
        validate_panoptic(ds["gt_json"], write_fixed_json=ds["gt_json"])


def test_missing_inputs_raise(ds, tmp_path):
    with pytest.raises(DataFileError):
        validate_panoptic(tmp_path / "nope.json")
    with pytest.raises(DataFileError, match="PNG folder"):
        validate_panoptic(ds["gt_json"], gt_folder=tmp_path / "nope")
    with pytest.raises(InputError, match="semantic"):
        validate_panoptic(ds["gt_json"], preset="ade20k")


def test_structure_problems_are_all_listed(ds):
    gt_seg(ds, 0, 0)["id"] = 0
    gt_seg(ds, 1, 1)["iscrowd"] = 2
    gt_seg(ds, 2, 2)["area"] = -3
    ds["gt"]["annotations"][2]["segments_info"][3]["bbox"] = [1, 2]
    save(ds)
    f = run(ds).get("panoptic.json_structure")
    assert f.count == 4
    text = " ".join(f.fields["problems"])
    assert "0 is void" in text and "iscrowd 2" in text and "area -3" in text and "bbox [1, 2]" in text


def test_structure_agrees_with_the_loader(ds):
    """Whatever the loader of segmetrics eval refuses, validate reports as an error (and the reverse)."""
    from segmetrics.errors import FormatError
    from segmetrics.io.coco_panoptic import dataset_from_dict

    plants = [lambda d: d["annotations"][0]["segments_info"][0].__setitem__("id", -1),
              lambda d: d["annotations"][0]["segments_info"][0].__setitem__("id", 2 ** 24),
              lambda d: d["annotations"][1]["segments_info"][0].__setitem__("category_id", 1.5),
              lambda d: d["annotations"][1]["segments_info"][0].__setitem__("iscrowd", "yes"),
              lambda d: d["annotations"][1]["segments_info"][0].__setitem__("area", "big"),
              lambda d: d["annotations"][1].__setitem__("file_name", 3),
              lambda d: d["annotations"][2].__setitem__("segments_info", {}),
              lambda d: d["annotations"].append(copy.deepcopy(d["annotations"][0])),
              lambda d: d["annotations"][2]["segments_info"].append(dict(d["annotations"][2]["segments_info"][0])),
              lambda d: d["categories"].append(dict(d["categories"][0])),
              lambda d: d["categories"][0].__setitem__("isthing", "yes"),
              lambda d: None]
    for plant in plants:
        gt = copy.deepcopy(ds["gt"])
        plant(gt)
        save_json(ds["gt_json"], gt)
        try:
            dataset_from_dict(gt, require_categories=True)
            refused = False
        except FormatError:
            refused = True
        r = validate_panoptic(ds["gt_json"])
        assert (not r.ok) == refused, (plant, [f.message for f in r.findings])
