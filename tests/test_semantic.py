"""Semantic engine: kernel vs a NumPy oracle, evaluator invariants, bad input."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmetrics import (
    InputError,
    LabelError,
    SemanticEvaluator,
    confusion_matrix,
)
from segmetrics._kernels.confusion import accumulate

DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32, np.int64, np.uint64]


def oracle(gt, pred, k, ignore=255, gt_map=None, pred_map=None):
    """Plain NumPy reference: map, drop ignored GT, check ranges, bincount."""
    g = np.asarray(gt).astype(np.int64).ravel()
    p = np.asarray(pred).astype(np.int64).ravel()
    if gt_map is not None:
        gm = np.asarray(gt_map, dtype=np.int64)
        keep_raw_ignore = (g >= gm.size) & (g == ignore)
        g = np.where(keep_raw_ignore, ignore, gm[np.clip(g, 0, gm.size - 1)])
    if pred_map is not None:
        pm = np.asarray(pred_map, dtype=np.int64)
        p = pm[np.clip(p, 0, pm.size - 1)]
    scored = g != ignore if ignore is not None else np.ones(g.shape, bool)
    g, p = g[scored], p[scored]
    assert ((g >= 0) & (g < k)).all() and ((p >= 0) & (p < k)).all()
    return np.bincount(g * k + p, minlength=k * k).reshape(k, k)


@st.composite
def cases(draw):
    k = draw(st.sampled_from([1, 2, 3, 7, 19, 150, 256, 1000]))
    gdt = np.dtype(draw(st.sampled_from(DTYPES)))
    pdt = np.dtype(draw(st.sampled_from(DTYPES)))
    h = draw(st.integers(1, 12))
    w = draw(st.integers(1, 40))
    n = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    gmax = min(k, np.iinfo(gdt).max + 1)
    pmax = min(k, np.iinfo(pdt).max + 1)
    # a few "regions" so the run-length blocks are exercised, plus noise
    base_g = rng.integers(0, gmax, (n, h, 1)).repeat(w, axis=2)
    base_p = rng.integers(0, pmax, (n, h, 1)).repeat(w, axis=2)
    noise = rng.random((n, h, w)) < draw(st.sampled_from([0.0, 0.1, 0.7]))
    g = np.where(noise, rng.integers(0, gmax, (n, h, w)), base_g)
    p = np.where(rng.random((n, h, w)) < 0.3, rng.integers(0, pmax, (n, h, w)), base_p)
    ignore = draw(st.sampled_from([255, 0, -1, None, k]))
    if ignore is not None and np.iinfo(gdt).min <= ignore <= np.iinfo(gdt).max:
        g = np.where(rng.random(g.shape) < 0.2, ignore, g)
    return k, g.astype(gdt), p.astype(pdt), ignore


@settings(max_examples=150, deadline=None)
@given(cases(), st.booleans())
def test_confusion_matches_oracle(case, transpose):
    k, g, p, ignore = case
    if transpose:  # non-contiguous inputs
        g, p = g.transpose(0, 2, 1), p.transpose(0, 2, 1)
    expected = oracle(g, p, k, ignore)
    got = confusion_matrix(g, p, num_classes=k, ignore_index=ignore)
    assert got.dtype == np.int64 and got.shape == (k, k)
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 60), st.integers(0, 2**32 - 1), st.sampled_from([np.uint8, np.int16, np.int32, np.uint16]),
       st.sampled_from([np.uint8, np.int64, np.int16]))
def test_lookup_tables_match_oracle(k, seed, map_dtype, data_dtype):
    rng = np.random.default_rng(seed)
    ignore = 255
    glen = int(rng.integers(1, 100))
    gt_map = rng.integers(0, k, glen)
    gt_map[rng.random(glen) < 0.2] = ignore
    pred_map = rng.integers(0, k, int(rng.integers(1, 100)))
    g = rng.integers(0, glen, (5, 33))
    g[rng.random(g.shape) < 0.1] = ignore  # raw ignore beyond the table stays ignored
    p = rng.integers(0, pred_map.size, g.shape)
    g, p = g.astype(data_dtype), p.astype(np.int64)
    expected = oracle(g, p, k, ignore, gt_map, pred_map)
    got = confusion_matrix(g, p, num_classes=k, ignore_index=ignore,
                           gt_map=gt_map.astype(map_dtype), pred_map=pred_map.astype(map_dtype))
    np.testing.assert_array_equal(got, expected)


def test_hand_example_and_ignore_rules():
    # G = [0 1 2 | 255 1 1], P = [0 2 2 | 9 1 0]: the 9 sits on an ignored pixel
    g = np.array([[0, 1, 2], [255, 1, 1]], np.uint8)
    p = np.array([[0, 2, 2], [9, 1, 0]], np.uint8)
    cm = confusion_matrix(g, p, num_classes=3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [1, 1, 1], [0, 0, 1]])
    # ignore_index=None scores every pixel: then 255 is an error
    with pytest.raises(LabelError, match="255"):
        confusion_matrix(g, p, num_classes=3, ignore_index=None)


def test_ignore_index_inside_range_is_still_a_valid_prediction():
    g = np.array([[0, 1, 1]], np.uint8)
    p = np.array([[1, 0, 1]], np.uint8)
    cm = confusion_matrix(g, p, num_classes=2, ignore_index=0)
    np.testing.assert_array_equal(cm, [[0, 0], [1, 1]])


def test_reduce_zero_label_rules():
    ev = SemanticEvaluator(150, reduce_zero_label=True)
    g = np.array([[0, 1, 150, 255, 2]], np.uint8)
    p = np.array([[3, 0, 149, 7, 0]], np.uint8)
    ev.update(g, p)
    cm = ev.state.confusion
    assert cm.sum() == 3 and cm[0, 0] == 1 and cm[149, 149] == 1 and cm[1, 0] == 1
    with pytest.raises(LabelError, match="151"):
        ev.update(np.array([[151]], np.uint8), np.array([[0]], np.uint8))
    # predictions in the 1..K convention
    ev2 = SemanticEvaluator(150, reduce_zero_label=True, pred_reduce_zero_label=True)
    ev2.update(g[:, 1:3], np.array([[1, 150]], np.uint8))
    assert ev2.state.confusion[0, 0] == 1 and ev2.state.confusion[149, 149] == 1
    with pytest.raises(LabelError, match="ignore_index"):
        ev2.update(np.array([[1]], np.uint8), np.array([[0]], np.uint8))


def _blob_pair(rng, k, n=3, h=24, w=40):
    g = rng.integers(0, k, (n, h // 8, w // 8)).repeat(8, 1).repeat(8, 2)
    p = np.where(rng.random(g.shape) < 0.2, rng.integers(0, k, g.shape), g)
    g = np.where(rng.random(g.shape) < 0.1, 255, g)
    return g.astype(np.uint8), p.astype(np.uint8)


def test_batched_equals_image_by_image_and_merge_invariants():
    rng = np.random.default_rng(3)
    g, p = _blob_pair(rng, 11, n=6)
    whole = SemanticEvaluator(11, per_image=True)
    whole.update(g, p, image_id=[f"im{i}" for i in range(6)])
    shards = []
    for i in range(6):
        e = SemanticEvaluator(11, per_image=True)
        e.update(g[i], p[i], image_id=f"im{i}")
        shards.append(e)
    a, b, c = shards[0], shards[1], shards[2]
    left = pickle.loads(pickle.dumps(a)).merge(pickle.loads(pickle.dumps(b))).merge(pickle.loads(pickle.dumps(c)))
    right = pickle.loads(pickle.dumps(a)).merge(pickle.loads(pickle.dumps(b)).merge(pickle.loads(pickle.dumps(c))))
    np.testing.assert_array_equal(left.state.confusion, right.state.confusion)
    fwd = SemanticEvaluator(11, per_image=True)
    for s in shards:
        fwd.merge(s)
    rev = SemanticEvaluator(11, per_image=True)
    for s in reversed(shards):
        rev.merge(s)
    r_whole, r_fwd, r_rev = whole.compute(), fwd.compute(), rev.compute()
    for r in (r_fwd, r_rev):
        np.testing.assert_array_equal(r.confusion, r_whole.confusion)
        assert r.metrics == r_whole.metrics and r.num_images == 6
        assert [x["image_id"] for x in r.per_image] == [x["image_id"] for x in r_whole.per_image]
        for x, y in zip(r.per_image, r_whole.per_image):
            np.testing.assert_array_equal(x["tp"], y["tp"])
            np.testing.assert_array_equal(x["fp"], y["fp"])
    # per-image vectors sum to the totals
    tp = sum(x["tp"] for x in r_whole.per_image)
    np.testing.assert_array_equal(tp, np.diag(r_whole.confusion))
    np.testing.assert_array_equal(sum(x["fn"] for x in r_whole.per_image) + tp, r_whole.confusion.sum(1))


def test_pickle_round_trip_and_reset():
    rng = np.random.default_rng(4)
    g, p = _blob_pair(rng, 5)
    ev = SemanticEvaluator(5, class_names=list("abcde"), absent_rule="detectron2")
    ev.update(g, p)
    ev2 = pickle.loads(pickle.dumps(ev))
    np.testing.assert_array_equal(ev2.state.confusion, ev.state.confusion)
    assert ev2.compute().to_dict() == ev.compute().to_dict()
    ev2.update(g, p)  # the restored one still counts
    np.testing.assert_array_equal(ev2.state.confusion, 2 * ev.state.confusion)
    ev.reset()
    assert ev.state.confusion.sum() == 0 and ev.state.num_images == 0


def test_update_confusion_and_result_dict():
    ev = SemanticEvaluator(3, per_image=True)
    cm = np.array([[2, 1, 0], [0, 3, 0], [0, 0, 0]])
    ev.update_confusion(cm, image_id="a")
    r = ev.compute()
    d = r.to_dict()
    # class 2 absent on both sides -> NaN -> None; IoU_0 = 2/3, IoU_1 = 3/4
    assert d["per_class"]["IoU"][2] is None
    assert d["metrics"]["mIoU"] == pytest.approx((2 / 3 + 3 / 4) / 2)
    assert d["metrics"]["aAcc"] == pytest.approx(5 / 6)
    assert d["per_image"][0] == {"image_id": "a", "tp": [2, 3, 0], "fp": [0, 1, 0], "fn": [1, 0, 0]}
    with pytest.raises(InputError, match="duplicate"):
        ev.update_confusion(cm, image_id="a")
    with pytest.raises(InputError):
        ev.update_confusion(np.zeros((2, 2), np.int64))
    with pytest.raises(InputError):
        ev.update_confusion(-np.ones((3, 3), np.int64))
    with pytest.raises(dataclass_frozen_error()):
        r.num_images = 3


def dataclass_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_accumulate_adds_in_place_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    g, p = _blob_pair(rng, 7, n=8, h=64, w=64)
    gcodes = np.arange(7, dtype=np.int32)
    pcodes = np.arange(7, dtype=np.int32)

    def one(i):
        cm = np.zeros((7, 7), np.int64)
        bad = accumulate(cm, g[i], p[i], gcodes, pcodes, True, 255)
        return cm, bad

    with ThreadPoolExecutor(4) as ex:
        out = list(ex.map(one, range(8)))
    total = sum(cm for cm, _ in out)
    assert all(bad == (0, 0) for _, bad in out)
    np.testing.assert_array_equal(total, oracle(g, p, 7))
    cm = total.copy()
    accumulate(cm, g[0], p[0], gcodes, pcodes, True, 255)
    np.testing.assert_array_equal(cm, total + out[0][0])


def test_torch_tensors():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    g, p = _blob_pair(rng, 9)
    ev = SemanticEvaluator(9)
    ev.update(torch.from_numpy(g), torch.from_numpy(p.astype(np.int64)))
    ev.update(torch.from_numpy(g).transpose(1, 2), torch.from_numpy(p).transpose(1, 2))
    np.testing.assert_array_equal(ev.state.confusion, 2 * oracle(g, p, 9))
    with pytest.raises(InputError, match="float"):
        ev.update(torch.zeros(2, 2), torch.zeros(2, 2))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad_dtype", [np.float32, np.float64, bool])
def test_non_integer_dtypes(bad_dtype):
    a = np.zeros((2, 2), bad_dtype)
    with pytest.raises(InputError, match="integer"):
        confusion_matrix(a, np.zeros((2, 2), np.uint8), num_classes=2)
    with pytest.raises(InputError, match="integer"):
        SemanticEvaluator(2).update(np.zeros((2, 2), np.uint8), a)


def test_shape_mismatch_and_empty_and_ndim():
    ev = SemanticEvaluator(2)
    with pytest.raises(InputError, match="same shape"):
        ev.update(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8))
    with pytest.raises(InputError, match="empty"):
        ev.update(np.zeros((0, 3), np.uint8), np.zeros((0, 3), np.uint8))
    with pytest.raises(InputError, match="empty"):
        confusion_matrix(np.zeros(0, np.uint8), np.zeros(0, np.uint8), num_classes=2)
    with pytest.raises(InputError, match=r"\(H, W\)"):
        ev.update(np.zeros((1, 1, 2, 2), np.uint8), np.zeros((1, 1, 2, 2), np.uint8))
    assert ev.state.num_images == 0


@pytest.mark.parametrize("k", [0, -3, 2.0, True, 46341])
def test_bad_num_classes(k):
    with pytest.raises(InputError, match="num_classes"):
        SemanticEvaluator(k)
    with pytest.raises(InputError, match="num_classes"):
        confusion_matrix(np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8), num_classes=k)


def test_out_of_range_labels_name_values_counts_and_image():
    ev = SemanticEvaluator(4)
    g = np.zeros((2, 3, 5), np.int16)
    p = np.zeros_like(g)
    g[1, 0, :3] = 9
    g[1, 2, 0] = -2
    with pytest.raises(LabelError) as info:
        ev.update(g, p, image_id=["first", "second"])
    err = info.value
    assert err.values == [-2, 9] and err.counts == [1, 3] and err.image == "second"
    assert "second" in str(err) and "9 (3 px)" in str(err) and "-2 (1 px)" in str(err)
    assert ev.state.confusion.sum() == 0 and ev.state.num_images == 0  # nothing counted
    p[0, 1, 1] = 4
    g[1] = 0
    with pytest.raises(LabelError, match="prediction of image 'first'.*4 \\(1 px\\)"):
        ev.update(g, p, image_id=["first", "second"])
    assert ev.state.confusion.sum() == 0



def test_bad_labels_without_image_ids_name_the_running_image_index():
    # the default ids are made only on the error path; they must still be this call's
    ev = SemanticEvaluator(4)
    ok = np.zeros((3, 5), np.uint8)
    ev.update(ok, ok)
    ev.update(np.stack([ok, ok]), np.stack([ok, ok]))
    bad = ok.copy()
    bad[1, 2] = 7
    with pytest.raises(LabelError, match="image 4") as info:
        ev.update(np.stack([ok, bad]), np.stack([ok, ok]))
    assert info.value.image == 4
    with pytest.raises(LabelError) as info:
        ev.update(ok, bad)
    assert info.value.image == 3 and info.value.side == "pred"
    assert ev.state.num_images == 3 and ev.state.confusion.sum() == 3 * ok.size

def test_big_endian_and_non_contiguous():
    rng = np.random.default_rng(7)
    g, p = _blob_pair(rng, 6)
    expected = oracle(g[:, ::2, 1::3], p[:, ::2, 1::3], 6)
    got = confusion_matrix(g.astype(">u2")[:, ::2, 1::3], p.astype(">i4")[:, ::2, 1::3], num_classes=6)
    np.testing.assert_array_equal(got, expected)
    flipped = confusion_matrix(g[:, :, ::-1], p[:, :, ::-1], num_classes=6)
    np.testing.assert_array_equal(flipped, oracle(g, p, 6))


def test_lookup_table_errors():
    g = np.array([[0, 1, 5]], np.uint8)
    p = np.array([[0, 1, 1]], np.uint8)
    with pytest.raises(InputError, match=r"gt_map\[1\] = 7"):
        confusion_matrix(g, p, num_classes=3, gt_map=[0, 7, 2])
    with pytest.raises(InputError, match=r"pred_map\[0\] = -1"):
        confusion_matrix(g, p, num_classes=3, pred_map=np.array([-1, 1], np.int8))
    with pytest.raises(LabelError, match=r"beyond gt_map \(length 3\)") as info:
        confusion_matrix(g, p, num_classes=3, gt_map=[0, 1, 2])
    assert info.value.values == [5]
    with pytest.raises(InputError):
        confusion_matrix(g, p, num_classes=3, gt_map=np.zeros((2, 2), np.int64))
    with pytest.raises(InputError):
        confusion_matrix(g, p, num_classes=3, gt_map=np.array([True, False]))
    with pytest.raises(InputError, match="either gt_map or reduce_zero_label"):
        SemanticEvaluator(3, reduce_zero_label=True, gt_map=[0, 1, 2])


def test_merge_rejects_mismatches():
    base = SemanticEvaluator(3)
    for other in (SemanticEvaluator(4), SemanticEvaluator(3, ignore_index=0),
                  SemanticEvaluator(3, gt_map=[0, 1, 2]), SemanticEvaluator(3, per_image=True)):
        with pytest.raises(InputError, match="differ"):
            base.merge(other)
    with pytest.raises(InputError, match="SemanticEvaluator"):
        base.merge(np.zeros((3, 3)))
    a = SemanticEvaluator(2, per_image=True)
    b = SemanticEvaluator(2, per_image=True)
    a.update(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    b.update(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))  # both auto id 0
    with pytest.raises(InputError, match="image ids"):
        a.merge(b)


@settings(max_examples=60, deadline=None)
@given(cases(), st.booleans(), st.integers(1, 5))
def test_out_of_range_values_are_reported_exactly(case, on_gt, n_bad):
    """Inject invalid labels at random pixels; the error names each value and its pixel count."""
    k, g, p, ignore = case
    side = g if on_gt else p
    info = np.iinfo(side.dtype)
    candidates = [v for v in (k, k + 1, 2 * k + 3, -1, -7, info.max) if info.min <= v <= info.max
                  and v != ignore and not 0 <= v < k]
    if not candidates:
        return
    rng = np.random.default_rng(int(k) * 31 + n_bad)
    scored = np.ones(g.shape, bool) if ignore is None else g != ignore
    if not on_gt and not scored.any():
        return
    flat = np.flatnonzero(scored if not on_gt else np.ones(g.shape, bool))
    where = rng.choice(flat, size=min(n_bad, flat.size), replace=False)
    side = side.copy()
    for idx in where:  # Python ints: uint64 maxima must not go through float
        side.flat[idx] = candidates[int(rng.integers(len(candidates)))]
    g2, p2 = (side, p) if on_gt else (g, side)
    with pytest.raises(LabelError) as err:
        confusion_matrix(g2, p2, num_classes=k, ignore_index=ignore)
    expected = {}
    for v in side.flat[where].tolist():
        expected[v] = expected.get(v, 0) + 1
    assert dict(zip(err.value.values, err.value.counts)) == expected
    assert ("ground truth" if on_gt else "prediction") in str(err.value)
    ev = SemanticEvaluator(k, ignore_index=ignore)
    with pytest.raises(LabelError):
        ev.update(g2 if g2.ndim == 3 else g2[None], p2 if p2.ndim == 3 else p2[None])
    assert ev.state.confusion.sum() == 0


def test_prediction_equal_to_ignore_index_on_a_scored_pixel_raises():
    g = np.array([[1, 255]], np.uint8)
    # on the ignored pixel a 255 prediction is fine (counts nowhere) ...
    np.testing.assert_array_equal(confusion_matrix(g, np.array([[1, 255]], np.uint8), num_classes=2),
                                  [[0, 0], [0, 1]])
    # ... on a scored pixel it is an error, not a silent miss
    with pytest.raises(LabelError, match="ignore_index=255 on a scored pixel") as err:
        confusion_matrix(g, np.array([[255, 0]], np.uint8), num_classes=2)
    assert err.value.values == [255] and err.value.counts == [1]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int64])
def test_runs_broken_at_every_position_of_a_block(dtype):
    """Single odd pixels at each offset of the 8-pixel blocks, on both sides, with ignore in between."""
    rng = np.random.default_rng(8)
    g = np.full((16, 67), 3, dtype)
    p = np.full((16, 67), 3, dtype)
    for r in range(16):
        off = r % 8
        g[r, off::11] = rng.integers(0, 5)
        p[r, (off + 3) % 8::13] = rng.integers(0, 5)
        g[r, 40 + off] = 255
    p[5, 7::8] = 255  # predictions on ignored or scored pixels: only the scored ones are errors
    scored = g != 255
    if np.any(p[scored] == 255):
        with pytest.raises(LabelError):
            confusion_matrix(g, p, num_classes=5)
        p[p == 255] = 1
    np.testing.assert_array_equal(confusion_matrix(g, p, num_classes=5), oracle(g, p, 5))


def test_per_image_ids_must_be_distinct_across_updates_reset_merge_and_pickle():
    g = np.zeros((2, 3), np.uint8)
    ev = SemanticEvaluator(3, per_image=True)
    for i in range(5):
        ev.update(g, g, image_id=i)
    ev.update_confusion(np.eye(3, dtype=np.int64), image_id="a")
    for dup in (3, np.int64(4), "a"):
        with pytest.raises(InputError, match="duplicate image id"):
            ev.update(g, g, image_id=dup)
    with pytest.raises(InputError, match="duplicate image id"):
        ev.update(np.stack([g, g]), np.stack([g, g]), image_id=[7, 7])
    assert ev.state.num_images == 6
    copy = pickle.loads(pickle.dumps(ev))
    with pytest.raises(InputError, match="duplicate image id"):
        copy.update(g, g, image_id=2)
    copy.update(g, g, image_id=9)
    other = SemanticEvaluator(3, per_image=True)
    other.update(g, g, image_id=10)
    ev.merge(other)
    with pytest.raises(InputError, match="duplicate image id"):
        ev.update(g, g, image_id=10)  # learnt from the merged records
    ev.reset()
    ev.update(g, g, image_id=3)  # forgotten by reset
    assert [r["image_id"] for r in ev.state.per_image] == [3]
