"""COCO panoptic reader and the bad-input errors of the panoptic files API."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from segmetrics.errors import DataFileError, FormatError, InputError, MissingPredictionError, SegmetricsWarning
from segmetrics.io.coco_panoptic import default_folder, id2rgb, load_panoptic_json, read_id_png, rgb2id
from segmetrics import PanopticEvaluator, panoptic_quality
from test_panoptic import CATEGORIES, make_dataset, write_coco


@pytest.fixture
def coco(tmp_path):
    data = make_dataset(21, n_images=3, h=20, w=24)
    gt_json, pred_json = write_coco(tmp_path, data)
    return tmp_path, data, gt_json, pred_json


def _edit(path, fn):
    js = json.loads(path.read_text())
    fn(js)
    path.write_text(json.dumps(js))


def test_rgb_id_roundtrip():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 256**3, size=(7, 9)).astype(np.uint32)
    rgb = id2rgb(ids)
    assert rgb.dtype == np.uint8 and rgb.shape == (7, 9, 3)
    np.testing.assert_array_equal(rgb2id(rgb), ids)
    # hand check of the encoding: id = R + 256 G + 256^2 B
    assert rgb2id(np.array([[[1, 2, 3]]], np.uint8))[0, 0] == 1 + 256 * 2 + 65536 * 3
    with pytest.raises(InputError):
        id2rgb(np.array([[256**3]]))
    with pytest.raises(InputError):
        rgb2id(np.zeros((2, 2)))


def test_load_and_default_folder(coco):
    root, data, gt_json, _ = coco
    ds = load_panoptic_json(gt_json, require_categories=True)
    assert ds.folder == root / "gt" == default_folder(gt_json)
    assert list(ds.annotations) == [d[0] for d in data]
    assert [c["id"] for c in ds.categories] == [c["id"] for c in CATEGORIES]
    rgb = read_id_png(ds.png_path(data[0][0]))
    np.testing.assert_array_equal(rgb2id(rgb), data[0][1])


def test_explicit_folders(coco, tmp_path):
    root, _, gt_json, pred_json = coco
    (root / "gt").rename(root / "elsewhere_gt")
    with pytest.raises(DataFileError, match=r"ground-truth PNG folder .*gt does not exist \(default"):
        panoptic_quality(gt_json, pred_json)
    res = panoptic_quality(gt_json, pred_json, gt_folder=root / "elsewhere_gt")
    assert res.num_images == 3


def test_not_coco_panoptic(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"images": [], "annotations": [{"id": 1, "bbox": [0, 0, 1, 1]}]}))
    with pytest.raises(FormatError, match="image_id"):
        load_panoptic_json(p)
    p.write_text(json.dumps([1, 2]))
    with pytest.raises(FormatError, match="not a COCO panoptic"):
        load_panoptic_json(p)
    p.write_text("{not json")
    with pytest.raises(FormatError, match="not valid JSON"):
        load_panoptic_json(p)
    with pytest.raises(DataFileError):
        load_panoptic_json(tmp_path / "missing.json")
    p.write_text(json.dumps({"annotations": []}))
    with pytest.raises(FormatError, match="categories"):
        load_panoptic_json(p, require_categories=True)


def test_missing_prediction(coco):
    _, data, gt_json, pred_json = coco
    _edit(pred_json, lambda js: js["annotations"].pop(1))
    with pytest.raises(MissingPredictionError, match=str(data[1][0])) as exc:
        panoptic_quality(gt_json, pred_json)
    assert exc.value.missing == [data[1][0]]


def test_prediction_for_unknown_image_warns(coco):
    _, _, gt_json, pred_json = coco

    def add(js):
        extra = dict(js["annotations"][0])
        extra["image_id"] = 999999
        js["annotations"].append(extra)

    _edit(pred_json, add)
    with pytest.warns(SegmetricsWarning, match="999999"):
        res = panoptic_quality(gt_json, pred_json)
    assert any("999999" in w for w in res.warnings)


def test_duplicate_image_ids(coco):
    _, data, gt_json, pred_json = coco
    _edit(gt_json, lambda js: js["annotations"].append(dict(js["annotations"][0])))
    with pytest.raises(FormatError, match=f"duplicate image id {data[0][0]}"):
        panoptic_quality(gt_json, pred_json)


def test_segment_in_png_not_in_json(coco):
    _, data, gt_json, pred_json = coco
    removed = {}

    def drop(js):
        removed["id"] = js["annotations"][2]["segments_info"].pop(0)["id"]

    original = pred_json.read_text()
    _edit(pred_json, drop)
    with pytest.raises(FormatError, match=rf"image {data[2][0]}.*prediction.*{removed['id']} \(\d+ pixels\)"):
        panoptic_quality(gt_json, pred_json)
    pred_json.write_text(original)
    _edit(gt_json, drop)
    with pytest.raises(FormatError, match=rf"image {data[2][0]}.*ground-truth.*not in segments_info"):
        panoptic_quality(gt_json, pred_json)


def test_segment_in_json_not_in_png(coco):
    _, data, gt_json, pred_json = coco
    _edit(pred_json, lambda js: js["annotations"][0]["segments_info"].append({"id": 77, "category_id": 1}))
    with pytest.raises(FormatError, match=rf"image {data[0][0]}.*\[77\].*no pixel"):
        panoptic_quality(gt_json, pred_json)


def test_unknown_category(coco):
    _, data, gt_json, pred_json = coco

    def bad(js):
        js["annotations"][1]["segments_info"][0]["category_id"] = 555

    _edit(pred_json, bad)
    with pytest.raises(FormatError, match=rf"image {data[1][0]}.*unknown category_id 555"):
        panoptic_quality(gt_json, pred_json)


def test_duplicate_segment_ids(coco):
    _, data, gt_json, pred_json = coco

    def dup(js):
        segs = js["annotations"][0]["segments_info"]
        segs.append(dict(segs[0]))

    _edit(gt_json, dup)
    with pytest.raises(FormatError, match=rf"image {data[0][0]}.*duplicate segment id"):
        panoptic_quality(gt_json, pred_json)


def test_png_size_differs(coco):
    root, data, gt_json, pred_json = coco
    name = f"{data[0][0]:08d}.png"
    Image.fromarray(id2rgb(np.pad(data[0][3], ((0, 2), (0, 0))))).save(root / "pred" / name)
    with pytest.raises(InputError, match=rf"image {data[0][0]}.*{name}.*24x22.*24x20"):
        panoptic_quality(gt_json, pred_json)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_png_not_rgb(coco, mode):
    root, data, gt_json, pred_json = coco
    name = f"{data[1][0]:08d}.png"
    if mode == "I;16":
        im = Image.fromarray((data[1][3] % 65536).astype(np.uint16))
    else:
        im = Image.fromarray(id2rgb(data[1][3])).convert(mode)
    im.save(root / "pred" / name)
    with pytest.raises(FormatError, match=rf"{name}.*8-bit RGB.*mode"):
        panoptic_quality(gt_json, pred_json)


def test_truncated_and_unreadable_png(coco):
    root, data, gt_json, pred_json = coco
    path = root / "pred" / f"{data[2][0]:08d}.png"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFileError, match=path.name):
        panoptic_quality(gt_json, pred_json)
    path.write_bytes(b"this is not a png")
    with pytest.raises(DataFileError, match=path.name):
        panoptic_quality(gt_json, pred_json, jobs=1)
    path.unlink()
    with pytest.raises(DataFileError, match="not found"):
        panoptic_quality(gt_json, pred_json)


def test_array_api_input_errors():
    ev = PanopticEvaluator(CATEGORIES)
    g = np.ones((4, 4), np.uint32)
    segs = [{"id": 1, "category_id": 1}]
    with pytest.raises(InputError, match="image 'a'.*4x5"):
        ev.update(g, segs, np.ones((5, 4), np.uint32), segs, image_id="a")
    with pytest.raises(InputError, match="segment id -3"):
        ev.update(g, segs, np.full((4, 4), -3), segs, image_id="a")
    with pytest.raises(InputError, match="id map"):
        ev.update(g, segs, np.ones((4, 4, 2), np.uint8), segs)
    with pytest.raises(InputError, match="integers"):
        ev.update(g, segs, np.ones((4, 4), np.float32), segs)
    with pytest.raises(FormatError, match="reserved for void"):
        ev.update(g, segs, g, [{"id": 0, "category_id": 1}])
    assert ev.state.num_images == 0


_SEG_VALUES = {
    "id": [1, 2, 3, 7, 2**24 - 1, 0, -4, 2**24, True, 2.0, "5", None, np.int64(3)],
    "category_id": [1, 2, -3, 2**62, 2**70, 1.0, None, True, np.int32(2)],
    "iscrowd": [0, 1, True, False, 1.0, 2, -1, "1", None, [1], np.uint8(1)],
    "area": [0, 5, 2.5, 2**53 + 1, 10**400, -1, float("nan"), float("inf"), True, "3", None, np.float32(4)],
}


def _plain(seg: dict) -> bool:
    """Values the compiled pass must take: JSON ints (no bools) for ids, 0/1 ints or bools for
    iscrowd, a non-negative int or float area that fits a float64 (NaN excluded)."""
    area, crowd = seg.get("area"), seg.get("iscrowd", 0)
    return (type(seg.get("id")) is int and type(seg.get("category_id")) is int
            and abs(seg["category_id"]) < 2**63
            and (type(crowd) is bool or type(crowd) is int and crowd in (0, 1))
            and (area is None or type(area) in (int, float) and 0 <= area < 2**1023))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in _SEG_VALUES.items()}),
                max_size=6))
def test_load_time_columns_equal_the_checked_segments(segs):
    """The compiled one-pass columns agree with the detailed checks, or defer to them."""
    from segmetrics.io.coco_panoptic import MAX_RGB_ID, _fast_columns, check_segments, segment_columns

    fast = _fast_columns(segs)
    try:
        slow = segment_columns(segs, *check_segments(segs, "w", max_id=MAX_RGB_ID))
    except FormatError:
        assert fast is None  # the detailed checks name the error
        return
    if fast is None:
        assert slow is None or not all(_plain(s) for s in segs)  # only unusual values go the slow way
        return
    assert slow is not None and fast.segments is segs is slow.segments
    for a, b in zip(fast[1:], slow[1:]):
        assert a.dtype == b.dtype and a.flags.c_contiguous
        np.testing.assert_array_equal(a, b)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(
    st.lists(st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in _SEG_VALUES.items()}), max_size=5),
    st.none()), max_size=6))
def test_columns_of_many_lists_equal_each_list_alone(seg_lists):
    """One pass over a whole file's lists gives each list's own columns (or defers the same way)."""
    from segmetrics._kernels.panoptic import segment_columns_all
    from segmetrics.io.coco_panoptic import MAX_RGB_ID, _fast_columns

    offsets, *cols, ok = segment_columns_all(seg_lists, MAX_RGB_ID)
    assert offsets[0] == 0 and offsets[-1] == cols[0].size and (np.diff(offsets) >= 0).all()
    for j, segs in enumerate(seg_lists):
        alone = _fast_columns(segs) if isinstance(segs, list) else None
        assert bool(ok[j]) == (alone is not None)
        a, b = offsets[j], offsets[j + 1]
        if alone is None:
            assert a == b
            continue
        for got, want in zip(cols, alone[1:]):
            np.testing.assert_array_equal(got[a:b], want)
