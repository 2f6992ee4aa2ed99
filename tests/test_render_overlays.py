"""Pixel tests of the overlays, the palettes and the panoptic segment statuses of the gallery."""
from __future__ import annotations

import json

import numpy as np
import pytest

from segmetrics.panoptic import evaluate_image
from segmetrics.render import overlays as ov
from segmetrics.render import palettes as pal
from segmetrics.render.matching import segment_matches

# ----------------------------------------------------------------------------- error maps


def test_error_map_marks_exactly_the_wrong_pixels():
    gt = np.array([[0, 0, 1, 1],
                   [0, 255, 1, 1],
                   [2, 2, 255, 1]])
    pred = np.array([[0, 1, 1, 1],
                     [0, 2, 1, 0],
                     [2, 7, 0, 1]])   # 7: outside the classes, counts as wrong on a scored pixel
    codes = ov.semantic_error_map(gt, pred, num_classes=3, ignore_index=255)
    expected = np.array([[1, 2, 1, 1],
                         [1, 0, 1, 2],
                         [1, 2, 0, 1]], dtype=np.uint8)
    np.testing.assert_array_equal(codes, expected)
    assert codes.dtype == np.uint8
    # wrong pixels are the off-diagonal confusion entries, correct ones the diagonal
    scored = (gt != 255)
    assert int((codes == ov.WRONG).sum()) == int((scored & (gt != pred)).sum()) == 3


def test_error_map_ignore_index_inside_the_classes_and_gt_outside():
    gt = np.array([[11, 3, 12], [0, 11, -1]])  # CamVid: 11 ignored; 12 and -1 are not classes
    pred = np.array([[3, 3, 12], [0, 5, 0]])
    codes = ov.semantic_error_map(gt, pred, num_classes=11, ignore_index=11)
    np.testing.assert_array_equal(codes, [[0, 1, 0], [1, 0, 0]])


def test_error_map_missing_prediction_is_all_wrong_where_scored():
    gt = np.array([[1, 255], [0, 2]])
    np.testing.assert_array_equal(ov.semantic_error_map(gt, None, num_classes=3), [[2, 0], [2, 2]])


def test_error_map_shape_mismatch_is_one_clear_error():
    from segmetrics.errors import InputError

    with pytest.raises(InputError, match="prediction is 3x2 but the ground truth is 2x2"):
        ov.semantic_error_map(np.zeros((2, 2), int), np.zeros((2, 3), int), num_classes=2)


def test_apply_lut_reduce_zero_label_and_out_of_table_values():
    from segmetrics.labels import label_map_lut

    lut = label_map_lut(None, num_classes=3, ignore_index=255, reduce_zero_label=True)  # 0->255, k->k-1
    raw = np.array([[0, 1, 2], [3, 4, 200]], dtype=np.uint8)
    np.testing.assert_array_equal(ov.apply_lut(raw, lut, fill=255), [[255, 0, 1], [2, 255, 255]])
    raw16 = raw.astype(np.int32)
    raw16[0, 0] = -4
    np.testing.assert_array_equal(ov.apply_lut(raw16, lut, fill=255), [[255, 0, 1], [2, 255, 255]])
    assert ov.apply_lut(raw, None, fill=255).tolist() == raw.tolist()


# ----------------------------------------------------------------------------- outlines and thumbnails


def test_outlines_are_exactly_the_segment_borders():
    ids = np.zeros((5, 6), dtype=np.int64)
    ids[1:4, 1:3] = 7       # a 3x2 segment
    ids[1:4, 3:5] = 9       # touching it on the right
    got = ov.outlines(ids)
    # hand-derived: a pixel is marked iff a 4-neighbour inside the image has another id
    expected = np.array([[0, 1, 1, 1, 1, 0],
                         [1, 1, 1, 1, 1, 1],
                         [1, 1, 1, 1, 1, 1],
                         [1, 1, 1, 1, 1, 1],
                         [0, 1, 1, 1, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(got, expected)
    thin = np.zeros((3, 5), dtype=np.int64)
    thin[:, 2] = 4                    # a one-pixel-wide segment: it and both neighbours are marked
    np.testing.assert_array_equal(ov.outlines(thin), np.tile([0, 1, 1, 1, 0], (3, 1)).astype(bool))
    assert not ov.outlines(np.full((3, 3), 4)).any()  # the image edge is no border
    rgb = np.zeros((5, 6, 3), dtype=np.uint8)
    rgb[..., 0] = ids % 256
    np.testing.assert_array_equal(ov.outlines(rgb), got)


def test_downscale_keeps_labels_and_every_wrong_pixel():
    codes = np.full((5, 7), ov.CORRECT, dtype=np.uint8)
    codes[4, 6] = ov.WRONG            # alone in the last (partial) block
    codes[0:2, 0:2] = ov.IGNORED      # a whole ignored block
    codes[2, 3] = ov.IGNORED
    f = ov.thumb_factor(codes.shape, 3)
    assert f == 3
    small = ov.downscale_max(codes, f)
    assert small.shape == ov.downscale_nearest(codes, f).shape == (2, 3)
    np.testing.assert_array_equal(small, [[1, 1, 1], [1, 1, 2]])
    assert ov.downscale_max(np.zeros((2, 2), np.uint8), 3).tolist() == [[0]]
    lab = np.arange(20).reshape(4, 5)
    np.testing.assert_array_equal(ov.downscale_nearest(lab, 2), lab[::2, ::2])
    assert ov.thumb_factor((480, 640), 320) == 2 and ov.thumb_factor((10, 10), 320) == 1


def test_colorize_and_error_colours():
    colors = np.array([[10, 20, 30], [40, 50, 60]], dtype=np.uint8)
    out = ov.colorize(np.array([[0, 1, 5, -1]]), colors)
    assert out[0, 0].tolist() == [10, 20, 30] and out[0, 1].tolist() == [40, 50, 60]
    assert out[0, 2].tolist() == out[0, 3].tolist() == list(pal.STATUS_COLORS["not scored"])
    err = ov.colorize_errors(np.array([[2, 1, 0, 0]], dtype=np.uint8))
    assert err[0, 0].tolist() == list(pal.STATUS_COLORS["wrong"])
    assert err[0, 1].tolist() == list(pal.STATUS_COLORS["correct"])
    ignored = {tuple(err[0, 2]), tuple(err[0, 3])}
    assert ignored <= {pal.STATUS_COLORS["ignored"], pal.STATUS_COLORS["ignored_alt"]}


def test_segment_lookup_and_instance_shades():
    ids = np.array([[0, 5, 5], [9, 9, 3]])
    np.testing.assert_array_equal(ov.segment_lookup(ids, [9, 5]), [[-1, 1, 1], [0, 0, -1]])
    assert (ov.segment_lookup(ids, []) == -1).all()
    base = np.array([[200, 100, 50], [10, 200, 10]], dtype=np.uint8)
    cols = ov.segment_colors(np.array([0, 0, 1, 1, -1]), np.array([True, False]), base)
    assert cols[0].tolist() == [200, 100, 50] and cols[1].tolist() == [140, 70, 35]  # second instance: 30 % darker
    assert cols[2].tolist() == cols[3].tolist() == [10, 200, 10]                     # stuff keeps its colour
    assert cols[4].tolist() == list(pal.STATUS_COLORS["not scored"])


def test_panoptic_panels_colour_fn_and_fp_segments():
    gt = np.array([[1, 1, 2, 2],
                   [1, 1, 2, 2]])
    pred = np.array([[1, 1, 0, 0],
                     [1, 1, 8, 8]])
    cols = np.array([[100, 100, 100], [150, 150, 150]], dtype=np.uint8)
    g_rgb, p_rgb, st = ov.panoptic_panels(gt, pred, [1, 2], cols, ["matched", "fn"], [1, 8], cols,
                                          ["matched", "fp"])
    assert st[0, 0].tolist() == list(pal.STATUS_COLORS["matched_fill"])
    assert st[0, 2].tolist() == list(pal.STATUS_COLORS["fn"])      # FN GT pixel, no prediction on it
    assert st[1, 3].tolist() == list(pal.STATUS_COLORS["fp"])      # FP on top of FN
    assert g_rgb[0, 2].tolist() == list(pal.STATUS_COLORS["fn"])   # FN outline (border with segment 1)
    assert p_rgb[1, 2].tolist() == list(pal.STATUS_COLORS["fp"])
    assert p_rgb[0, 0].tolist() == [100, 100, 100]                 # matched, not on a border: its colour
    _, missing, st2 = ov.panoptic_panels(gt, None, [1, 2], cols, ["fn", "fn"], [], cols[:0], [])
    assert (missing == pal.STATUS_COLORS["missing"]).all()
    assert (st2 == pal.STATUS_COLORS["fn"]).all()


# ----------------------------------------------------------------------------- palettes


def test_palettes_are_the_official_values():
    from segmetrics.presets import ADE20K_CLASSES, CITYSCAPES_CLASSES

    assert len(pal.CITYSCAPES_COLORS) == 19 and len(pal.ADE20K_COLORS) == 150
    assert len(pal.COCO_PANOPTIC_COLORS) == 133
    cols, src = pal.class_colors(CITYSCAPES_CLASSES)
    assert src == "Cityscapes" and cols[0].tolist() == [128, 64, 128] and cols[18].tolist() == [119, 11, 32]
    cols, src = pal.class_colors(ADE20K_CLASSES)
    assert src == "ADE20K" and cols[0].tolist() == [120, 120, 120] and cols[2].tolist() == [6, 230, 230]
    cols, src = pal.class_colors(["person", "car"], ids=[1, 3])
    assert src == "COCO panoptic" and cols.tolist() == [[220, 20, 60], [0, 0, 142]]
    # an id that is a COCO id with another name (the demo's 'sky' is id 10) is not COCO
    _, src = pal.class_colors(["person", "sky"], ids=[1, 10])
    assert src == "fixed (Tol muted)"
    cols, src = pal.class_colors(["a", "b"], ids=[1, 2], categories=[{"id": 1, "color": [1, 2, 3]},
                                                                      {"id": 2, "color": [4, 5, 6]}])
    assert src == "dataset categories" and cols.tolist() == [[1, 2, 3], [4, 5, 6]]
    cols, src = pal.class_colors(["a", "b"], palette={1: (9, 9, 9)}, ids=[0, 1])
    assert src == "given" and cols[1].tolist() == [9, 9, 9]


def test_coco_colours_match_the_category_file(shared_data):
    cats = json.loads((shared_data / "coco_panoptic_sample" / "panoptic_coco_categories.json").read_text())
    for c in cats:
        assert pal.COCO_PANOPTIC_COLORS[c["id"]] == (c["name"], tuple(c["color"]))


def test_fixed_palette_and_scales():
    p = pal.fixed_palette(30)
    assert p.shape == (30, 3) and p.dtype == np.uint8
    assert p[0].tolist() == [0xCC, 0x66, 0x77] and (p[27] == p[0]).all()
    assert len({tuple(c) for c in p[:27]}) == 27
    np.testing.assert_array_equal(pal.sequential([0.0, 1.0]), [pal.SEQUENTIAL_ANCHORS[0], pal.SEQUENTIAL_ANCHORS[-1]])
    mid = pal.sequential([1 / 16])[0].astype(int)   # half-way between the first two anchors
    a, b = np.array(pal.SEQUENTIAL_ANCHORS[0]), np.array(pal.SEQUENTIAL_ANCHORS[1])
    assert np.abs(mid - (a + b) / 2).max() <= 0.5
    np.testing.assert_allclose(pal.scale_values([0, 1e-5, 1e-2, 1], log=True), [0, 0, 0.5, 1])
    heat = pal.heat_colors(np.array([[0.5, 0.0], [np.nan, np.nan]]), np.array([[5, 0], [0, 0]]))
    assert heat[0, 1].tolist() == [255, 255, 255] and heat[1, 0].tolist() == [0xF2, 0xF2, 0xF2]


# ----------------------------------------------------------------------------- segment statuses


CATS = [{"id": 1, "name": "person", "isthing": 1}, {"id": 2, "name": "car", "isthing": 1},
        {"id": 5, "name": "road", "isthing": 0}]


def _counts(m, gt_segs, pred_segs):
    dense = {c["id"]: i for i, c in enumerate(CATS)}
    out = {k: np.zeros(len(CATS), int) for k in ("tp_g", "tp_p", "fn", "fp")}
    for s, v in zip(gt_segs, m.gt_status):
        out["tp_g"][dense[s["category_id"]]] += v == "matched"
        out["fn"][dense[s["category_id"]]] += v == "fn"
    for s, v in zip(pred_segs, m.pred_status):
        out["tp_p"][dense[s["category_id"]]] += v == "matched"
        out["fp"][dense[s["category_id"]]] += v == "fp"
    return out


def test_segment_statuses_hand_built_case():
    gt = np.full((10, 12), 50, dtype=np.uint32)           # road, id 50
    gt[1:5, 1:5] = 11                                     # person A
    gt[1:5, 6:10] = 12                                    # person B
    gt[6:9, 1:4] = 13                                     # car, will be missed
    gt[6:9, 8:12] = 14                                    # crowd of people
    gt[0, :] = 0                                          # void
    gt_segs = [{"id": 50, "category_id": 5}, {"id": 11, "category_id": 1}, {"id": 12, "category_id": 1},
               {"id": 13, "category_id": 2}, {"id": 14, "category_id": 1, "iscrowd": 1}]
    pred = np.full((10, 12), 70, dtype=np.uint32)         # road
    pred[1:5, 1:5] = 21                                   # matches person A
    pred[1:5, 6:10] = 22                                  # on person B but called a car: FP (and B is FN)
    pred[6:9, 8:11] = 23                                  # a person on the crowd: not a FP
    pred[6:9, 5:7] = 24                                   # a person on road: FP
    pred_segs = [{"id": 70, "category_id": 5}, {"id": 21, "category_id": 1}, {"id": 22, "category_id": 2},
                 {"id": 23, "category_id": 1}, {"id": 24, "category_id": 1}]
    m = segment_matches(gt, gt_segs, pred, pred_segs, CATS)
    assert m.gt_ids == (50, 11, 12, 13, 14)
    assert m.gt_status == ("matched", "matched", "fn", "fn", "not scored")
    assert m.pred_ids == (70, 21, 22, 23, 24)
    assert m.pred_status == ("matched", "matched", "fp", "not scored", "fp")
    st = evaluate_image(gt, gt_segs, pred, pred_segs, CATS)
    c = _counts(m, gt_segs, pred_segs)
    np.testing.assert_array_equal(c["tp_g"], st.tp)
    np.testing.assert_array_equal(c["tp_p"], st.tp)
    np.testing.assert_array_equal(c["fn"], st.fn)
    np.testing.assert_array_equal(c["fp"], st.fp)


def test_segment_statuses_when_a_prediction_overlaps_two_gt_segments():
    # two people side by side; one prediction covers A fully and a little of B -> matches A;
    # the other covers most of B -> matches B; a third small one on A's pixels cannot match.
    gt = np.zeros((6, 12), dtype=np.uint32)
    gt[:, :6] = 1
    gt[:, 6:] = 2
    gt_segs = [{"id": 1, "category_id": 1}, {"id": 2, "category_id": 1}]
    pred = np.zeros((6, 12), dtype=np.uint32)
    pred[:, :7] = 5
    pred[:, 7:] = 6
    pred[0, 0] = 7
    pred_segs = [{"id": 5, "category_id": 1}, {"id": 6, "category_id": 1}, {"id": 7, "category_id": 1}]
    m = segment_matches(gt, gt_segs, pred, pred_segs, CATS)
    assert m.gt_status == ("matched", "matched")
    assert m.pred_status == ("matched", "matched", "fp")
    # swap B's prediction to a category change: now B is a false negative, A still matched
    pred_segs[1] = {"id": 6, "category_id": 2}
    m = segment_matches(gt, gt_segs, pred, pred_segs, CATS)
    assert m.gt_status == ("matched", "fn") and m.pred_status == ("matched", "fp", "fp")


def test_segment_statuses_add_up_to_the_image_counts_on_random_scenes():
    rng = np.random.default_rng(3)
    for trial in range(25):
        h, w = 24, 30
        gt = np.full((h, w), 100, dtype=np.uint32)
        gt_segs = [{"id": 100, "category_id": 5}]
        for j in range(int(rng.integers(1, 7))):
            y, x = int(rng.integers(0, h - 4)), int(rng.integers(0, w - 4))
            sid = 200 + j
            gt[y:y + int(rng.integers(3, 9)), x:x + int(rng.integers(3, 9))] = sid
            gt_segs.append({"id": sid, "category_id": int(rng.choice([1, 2])), "iscrowd": int(rng.random() < 0.2)})
        gt[rng.random((h, w)) < 0.05] = 0
        present = set(np.unique(gt).tolist())
        gt_segs = [s for s in gt_segs if s["id"] in present]
        pred = np.roll(gt, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
        pred[pred == 0] = 100
        pcat = {s["id"]: s["category_id"] for s in gt_segs}
        for s in gt_segs[1:]:
            if rng.random() < 0.3:
                pcat[s["id"]] = 3 - s["category_id"]
        for j in range(int(rng.integers(0, 3))):
            y, x = int(rng.integers(0, h - 4)), int(rng.integers(0, w - 4))
            pred[y:y + 4, x:x + 5] = 900 + j
            pcat[900 + j] = int(rng.choice([1, 2]))
        pred_segs = [{"id": int(i), "category_id": pcat[int(i)]} for i in np.unique(pred) if i != 0]
        m = segment_matches(gt, gt_segs, pred, pred_segs, CATS, image_id=trial)
        st = evaluate_image(gt, gt_segs, pred, pred_segs, CATS)
        c = _counts(m, gt_segs, pred_segs)
        for key, ref in (("tp_g", st.tp), ("tp_p", st.tp), ("fn", st.fn), ("fp", st.fp)):
            np.testing.assert_array_equal(c[key], ref, err_msg=f"trial {trial}: {key}")


def test_segment_statuses_on_the_real_coco_sample(shared_data):
    from segmetrics.io.coco_panoptic import read_id_png, rgb2id

    root = shared_data / "coco_panoptic_sample" / "sample_data"
    data = json.loads((root / "panoptic_examples.json").read_text())
    cats = data["categories"]
    ann = data["annotations"][1]                    # 32 segments, two crowd
    gt = rgb2id(read_id_png(root / "panoptic_examples" / ann["file_name"])).astype(np.uint32)
    segs = ann["segments_info"]
    things = [s for s in segs if not s["iscrowd"] and s["category_id"] == 1]
    dropped, relabelled = things[0], things[1]
    pred = gt.copy()
    pred[gt == dropped["id"]] = segs[-1]["id"]      # the person is painted as the last (stuff) segment
    pred_segs = [dict(s) for s in segs if s["id"] != dropped["id"]]
    for s in pred_segs:
        if s["id"] == relabelled["id"]:
            s["category_id"] = 3                    # a person predicted as a car
        s.pop("iscrowd", None)
        s.pop("area", None)
    m = segment_matches(gt, segs, pred, pred_segs, cats)
    gs = dict(zip(m.gt_ids, m.gt_status))
    ps = dict(zip(m.pred_ids, m.pred_status))
    assert gs[dropped["id"]] == "fn" and gs[relabelled["id"]] == "fn" and ps[relabelled["id"]] == "fp"
    assert all(gs[s["id"]] == "not scored" for s in segs if s["iscrowd"])
    st = evaluate_image(gt, segs, pred, pred_segs, cats)
    assert sum(v == "fn" for v in m.gt_status) == int(st.fn.sum())
    assert sum(v == "fp" for v in m.pred_status) == int(st.fp.sum())
    assert sum(v == "matched" for v in m.pred_status) == sum(v == "matched" for v in m.gt_status) == int(st.tp.sum())


def test_segment_statuses_of_thousands_of_segments_equal_the_twin():
    """Every segment's status comes from the one rule set in a single scoring pass, whatever the
    number of segments (the probing that stopped at a budget is gone): the statuses equal the NumPy
    twin's per-segment decisions and add up to the image's counts."""
    import oracles

    rng = np.random.default_rng(7)
    h, w, n = 40, 160, 1600
    gt = (np.arange(h * w) // 4 + 1).reshape(h, w).astype(np.uint32)          # 1,600 four-pixel segments
    gt_segs = [{"id": i, "category_id": int(1 + i % 2), "iscrowd": int(i % 97 == 0)} for i in range(1, n + 1)]
    pred = np.roll(gt, 1, axis=1) + np.uint32(5000)                            # IoU 3/5 with its GT
    pred[rng.random((h, w)) < 0.1] = 0
    p_ids = np.unique(pred[pred > 0])
    pred_segs = [{"id": int(i), "category_id": int(1 + (i + (i % 5 == 0)) % 2)} for i in p_ids]
    m = segment_matches(gt, gt_segs, pred, pred_segs, CATS)
    pairs = oracles.pair_counts(gt.astype(np.int64), pred.astype(np.int64), np.arange(1, n + 1), p_ids)[0]
    dense = {c["id"]: i for i, c in enumerate(CATS)}
    twin = oracles.image_stats(pairs, np.array([dense[s["category_id"]] for s in gt_segs]),
                               np.array([s["iscrowd"] for s in gt_segs], np.uint8), np.full(n, np.nan),
                               np.arange(n), np.array([dense[s["category_id"]] for s in pred_segs]), len(CATS))
    names_g, names_p = ("not scored", "matched", "fn"), ("not scored", "matched", "fp")
    assert m.gt_status == tuple(names_g[v] for v in twin["gt_outcome"])
    assert m.pred_status == tuple(names_p[v] for v in twin["pred_outcome"])
    assert {"matched", "fn", "not scored"} <= set(m.gt_status) and {"matched", "fp"} <= set(m.pred_status)
    st = evaluate_image(gt, gt_segs, pred, pred_segs, CATS)
    c = _counts(m, gt_segs, pred_segs)
    for key, ref in (("tp_g", st.tp), ("tp_p", st.tp), ("fn", st.fn), ("fp", st.fp)):
        np.testing.assert_array_equal(c[key], ref, err_msg=key)
