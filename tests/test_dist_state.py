"""The state pieces of distributed runs: per-image cells and drop_images, rows / sums / from_parts,
the shard group, shard_of and the shard parsing (segmetrics.state, segmetrics.folders)."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

import segmetrics as sm
from segmetrics.errors import InputError
from segmetrics.folders import check_shard, parse_shard, shard_of
from segmetrics.state import PanopticState, SemanticState

from test_panoptic import CATEGORIES, make_dataset

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")

K = 4


def semantic_images(n=9, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        gt = rng.integers(0, K, (13, 11)).astype(np.uint8)
        gt[rng.random(gt.shape) < 0.1] = 255
        pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, K, gt.shape)).astype(np.uint8)
        pred[rng.random(gt.shape) < 0.05] = 255  # predicted void: counted as a miss (void_predictions="miss")
        out.append((f"img{i}" if i % 2 else i, gt, pred))
    return out


def semantic_ev(items):
    ev = sm.SemanticEvaluator(K, per_image=True, void_predictions="miss")
    for image_id, gt, pred in items:
        ev.update(gt, pred, image_id=image_id)
    return ev


def panoptic_data():
    data = make_dataset(4, n_images=6)
    _, g, gs, p, ps = data[2]
    gs = [dict(s) for s in gs]
    gs[0]["area"] += 5  # a stale area: a warning naming the image
    data[2] = (data[2][0], g, gs, p, ps)
    return data


def panoptic_ev(items):
    ev = sm.PanopticEvaluator(CATEGORIES, per_image=True)
    for image_id, g, gs, p, ps in items:
        ev.update(g, gs, p, ps, image_id=image_id)
    return ev


def assert_same_state(a, b):
    assert_same_arrays(a.to_arrays(), b.to_arrays())


def assert_same_arrays(x: dict, y: dict):
    """Two ``to_arrays()`` dicts, bit for bit."""
    assert x.keys() == y.keys()
    for key in x:
        if isinstance(x[key], np.ndarray):
            assert x[key].dtype == y[key].dtype and x[key].shape == y[key].shape, key
            assert x[key].tobytes() == y[key].tobytes(), key
        else:
            assert x[key] == y[key], key


@pytest.mark.parametrize("drop", [[0], ["img1", 4], ["img3", 6, "img7", 8]])
def test_semantic_drop_images_equals_never_adding_them(drop):
    items = semantic_images()
    ev = semantic_ev(items)
    assert "cells" in ev.state.groups and ev.state.void.sum() > 0  # the void column is exercised
    ev.state.drop_images(drop)
    assert_same_state(ev.state, semantic_ev([it for it in items if it[0] not in drop]).state)


def test_semantic_cells_hold_each_image_exactly():
    items = semantic_images(3)
    st = semantic_ev(items).state
    for j, (image_id, gt, pred) in enumerate(items):
        # NumPy oracle of the (K, K+1) cell layout: column K = predicted void on a scored pixel
        cm = np.zeros((K, K + 1), np.int64)
        scored = gt != 255
        np.add.at(cm, (gt[scored], np.where(pred[scored] == 255, K, pred[scored])), 1)
        row = st.image_ids.index(image_id)
        sel = st.cell_image == row
        dense = np.zeros(K * (K + 1), np.int64)
        dense[st.cell_index[sel]] = st.cell_count[sel]
        np.testing.assert_array_equal(dense.reshape(K, K + 1), cm)
        assert (st.cell_count[sel] > 0).all() and np.all(np.diff(st.cell_index[sel]) > 0)


def test_panoptic_drop_images_takes_matches_cells_and_warnings():
    data = panoptic_data()
    ev = panoptic_ev(data)
    stale = data[2][0]
    assert any(w.startswith(f"image {stale!r}:") for w in ev.state.warnings)
    for drop in ([stale], [data[0][0], data[5][0]]):
        st = panoptic_ev(data).state
        st.drop_images(drop)
        assert_same_state(st, panoptic_ev([d for d in data if d[0] not in drop]).state)


def test_drop_images_refusals():
    st = semantic_ev(semantic_images(3)).state
    with pytest.raises(InputError, match="not in this state"):
        st.drop_images(["nope"])
    plain = SemanticState(K, per_image=True)
    plain.add_image(np.eye(K, dtype=np.int64), image_id="a")
    with pytest.raises(InputError, match="cells"):
        plain.drop_images(["a"])


def test_image_record_compares_scoring():
    items = semantic_images(4)
    a, b = semantic_ev(items).state, semantic_ev(items[::-1]).state
    for image_id, *_ in items:
        ra, rb = a.image_record(image_id), b.image_record(image_id)
        assert ra.keys() == rb.keys() and all(np.array_equal(ra[k], rb[k]) for k in ra if k != "warnings")
    image_id, gt, pred = items[0]
    rc = semantic_ev([(image_id, gt, (pred + 1) % K)]).state.image_record(image_id)
    ra = a.image_record(image_id)
    assert any(not np.array_equal(rc[k], ra[k]) for k in ra if k != "warnings")


@pytest.mark.parametrize("task", ["semantic", "panoptic"])
def test_from_parts_equals_merge(task):
    if task == "semantic":
        items = semantic_images()
        states = [semantic_ev(items[i::3]).state for i in range(3)]
        whole = semantic_ev(items).state
    else:
        data = panoptic_data()
        states = [panoptic_ev(data[i::3]).state for i in range(3)]
        whole = panoptic_ev(data).state
    sums = {}
    for s in states:
        for name, arr in s.sum_arrays().items():
            sums[name] = sums.get(name, 0) + arr
    built = type(whole).from_parts(whole.num_classes, sums, [s.row_arrays() for s in states[::-1]],
                                   groups=whole.groups)
    assert_same_state(built, whole)
    with pytest.raises(InputError, match="per-image rows for num_images"):
        type(whole).from_parts(whole.num_classes, states[0].sum_arrays(), [s.row_arrays() for s in states],
                               groups=whole.groups)


def test_cells_survive_files_and_are_dropped_by_a_merge_without_them(tmp_path):
    items = semantic_images()
    ev = semantic_ev(items)
    path = tmp_path / "cells.smstate"
    ev.compute().save_state(path)
    back = sm.load_state(path).state
    assert "cells" in back.groups
    assert_same_state(back, ev.state)
    folderish = SemanticState(K, per_image=True)  # rows without cells, as the folder engine makes them
    folderish.add_image(np.eye(K, dtype=np.int64), image_id="other")
    for a, b in ((ev.state.copy(), folderish.copy()), (folderish.copy(), ev.state.copy())):
        a.merge(b)
        assert "cells" not in a.groups and a.num_images == len(items) + 1
    one, two = ev.state.copy(), folderish.copy()
    one.merge(folderish)
    two.merge(ev.state)
    assert_same_state(one, two)


def test_shard_group(tmp_path):
    parts = []
    for i in range(3):
        st = SemanticState(K, per_image=True, shards=3)
        st.add_image(np.full((K, K), i + 1, np.int64), image_id=f"s{i}")
        st.add_shard(i)
        parts.append(st)
    merged = parts[0].copy()
    for st in parts[1:]:
        merged.merge(st)
    np.testing.assert_array_equal(merged.shard_runs, [1, 1, 1])
    path = tmp_path / "shards.smstate"
    from segmetrics.semantic import build_result

    build_result(merged, class_names=[str(c) for c in range(K)]).save_state(path)
    back = sm.load_state(path).state
    assert back.num_shards == 3 and back.shard_runs.tolist() == [1, 1, 1]
    other = SemanticState(K, per_image=True, shards=4)
    with pytest.raises(InputError, match="cut in 4"):
        merged.merge(other)
    with pytest.raises(InputError, match="outside 0..2"):
        parts[0].add_shard(3)
    with pytest.raises(InputError, match="positive"):
        SemanticState(K, shards=0)
    with pytest.raises(InputError, match="not made for a sharded run"):
        SemanticState(K).add_shard(0)


def test_shard_of_is_the_documented_hash():
    def oracle(text_bytes, n):
        return int.from_bytes(hashlib.sha256(text_bytes).digest()[:8], "big") % n

    for image_id in ("img_000", "frankfurt/frankfurt_000000_000294", "ünïcode", 0, 139, 10 ** 12):
        for n in (1, 2, 7, 1000):
            assert shard_of(image_id, n) == oracle(str(image_id).encode("utf-8"), n)
    assert shard_of(np.int64(139), 7) == shard_of(139, 7) == shard_of("139", 7)
    raw = b"caf\xe9"  # a Latin-1 file name: hashed as its own bytes
    assert shard_of(os.fsdecode(raw), 13) == oracle(raw, 13)
    assert shard_of("img_000", 4) == 2 and shard_of(139, 8) == 0  # by sha256sum: files cut today stay valid
    counts = np.bincount([shard_of(f"image_{i}", 4) for i in range(4000)], minlength=4)
    assert counts.min() > 900  # about 1000 each


def test_parse_and_check_shard():
    assert parse_shard("0/4") == (0, 4) and parse_shard("3/4") == (3, 4) and check_shard("2", 5) == (2, 5)
    for bad, words in (("4/4", "0..3"), ("-1/4", "0..3"), ("1/0", "at least 1"), ("1", "I/N"), ("a/b", "integers")):
        with pytest.raises(InputError, match=words.replace(".", r"\.")):
            parse_shard(bad)
