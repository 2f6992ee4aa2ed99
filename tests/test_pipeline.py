"""Folder pipeline (segmetrics._pipeline via segmetrics.folders): fused kernels, threads, fallback.

Oracles: SemanticEvaluator.update / PanopticEvaluator.update on arrays decoded by
Pillow, and a plain NumPy confusion matrix.
"""
from __future__ import annotations

import math
import os
import threading
import warnings

import numpy as np
import pytest
from PIL import Image

from segmetrics import _pipeline
from segmetrics._engine import image as image_module
from segmetrics.errors import DataFileError, FormatError, InputError, LabelError, SegmetricsError
from segmetrics.folders import evaluate_panoptic_files, evaluate_semantic_files
from segmetrics.io.coco_panoptic import dataset_from_dict, id2rgb
from segmetrics import PanopticEvaluator, panoptic_quality
from segmetrics.semantic import SemanticEvaluator

K = 7


def _blobs(rng, h, w, values, noise=0.02):
    """Label map of flat rectangles plus salt noise, drawn from ``values``."""
    lab = np.full((h, w), values[0], dtype=np.int64)
    for _ in range(rng.integers(1, 6)):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        lab[y0:y0 + rng.integers(1, h + 1), x0:x0 + rng.integers(1, w + 1)] = rng.choice(values)
    m = rng.random((h, w)) < noise
    lab[m] = rng.choice(values, size=int(m.sum()))
    return lab


def _save(path, arr, mode):
    if mode == "I;16":
        Image.fromarray(arr.astype(np.uint16)).save(path)
    elif mode == "P":
        im = Image.fromarray(arr.astype(np.uint8), "L").convert("P")
        im.putpalette([c for i in range(256) for c in (i, 255 - i, 0)])
        im.save(path)
    elif mode == "P4":  # 4-bit palette: the fused kernels leave it to the reference path
        im = Image.fromarray(arr.astype(np.uint8), "L").convert("P")
        im.putpalette([c for i in range(16) for c in (16 * i, 0, 0)])
        im.save(path, bits=4)
    else:
        Image.fromarray(arr.astype(np.uint8), "L").save(path)


def _pillow(path):
    with Image.open(path) as im:
        return np.asarray(im)


def make_semantic(tmp_path, rng, n=9, modes=("L",), ignore=255, pred_values=None):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir(exist_ok=True)
    pred_dir.mkdir(exist_ok=True)
    pairs = []
    gvals = list(range(K)) + [ignore]
    pvals = pred_values if pred_values is not None else list(range(K))
    for i in range(n):
        h, w = int(rng.integers(1, 40)), int(rng.choice([1, 3, 7, 8, 9, 16, 17, 33, 64]))
        g = _blobs(rng, h, w, gvals)
        p = np.where(rng.random((h, w)) < 0.7, np.where(g == ignore, 0, g), _blobs(rng, h, w, pvals))
        gm, pm = modes[i % len(modes)], modes[(i + 1) % len(modes)]
        _save(gt_dir / f"{i:03d}.png", g, gm)
        _save(pred_dir / f"{i:03d}.png", p, pm)
        pairs.append((f"{i:03d}", gt_dir / f"{i:03d}.png", pred_dir / f"{i:03d}.png"))
    return pairs


def _oracle_semantic(pairs, **kw):
    ev = SemanticEvaluator(K, **kw)
    for image_id, g, p in pairs:
        ev.update(_pillow(g), _pillow(p), image_id=image_id)
    return ev


@pytest.mark.parametrize("modes", [("L",), ("L", "P", "I;16"), ("P4", "L")])
def test_semantic_equals_engine_any_jobs_and_cache(tmp_path, modes, monkeypatch):
    import segmetrics.folders as E

    calls = []
    real = E._semantic_reference
    monkeypatch.setattr(E, "_semantic_reference",
                        lambda rules, **kw: lambda item: calls.append(item) or real(rules, **kw)(item))
    rng = np.random.default_rng(len(modes))
    ignore = 15 if "P4" in modes else 255  # a 4-bit palette holds 0..15
    pairs = make_semantic(tmp_path, rng, modes=modes, ignore=ignore)
    ref = _oracle_semantic(pairs, ignore_index=ignore).state.confusion
    cache = tmp_path / "cache"
    for jobs in (1, 2, 3):
        for cache_dir in (None, cache, cache):  # no cache, then cold or warm, then warm
            ev = evaluate_semantic_files(pairs, SemanticEvaluator(K, ignore_index=ignore), jobs=jobs,
                                         cache_dir=cache_dir)
            np.testing.assert_array_equal(ev.state.confusion, ref)
            assert ev.state.num_images == len(pairs)
    # 8/16-bit grey and 8-bit palette files never leave the fused kernels; 4-bit ones do
    assert bool(calls) == ("P4" in modes)


def test_semantic_label_rules_match_engine(tmp_path):
    """reduce_zero_label, gt_map / pred_map, ignore values beyond the maps, per-image records."""
    rng = np.random.default_rng(5)
    pairs = make_semantic(tmp_path, rng, n=8, modes=("L", "I;16"), ignore=255, pred_values=list(range(1, K + 1)))
    gt_map = np.array([3, 1, 255, 0, 2, 6, 5, 4], dtype=np.int64)  # 8 raw labels, one mapped to ignore
    pred_map = np.array([0, 6, 5, 4, 3, 2, 1, 0], dtype=np.int64)
    configs = [dict(reduce_zero_label=True, pred_reduce_zero_label=True),
               dict(gt_map=gt_map, pred_map=pred_map, per_image=True),
               dict(ignore_index=None, gt_map=np.r_[[3, 1, 0, 0, 2, 6, 5, 4], np.zeros(247, np.int64), 1],
                    pred_map=pred_map)]
    for kw in configs:
        ref = _oracle_semantic(pairs, **kw)
        for jobs, cache_dir in ((1, None), (2, tmp_path / "c"), (2, tmp_path / "c")):
            ev = evaluate_semantic_files(pairs, SemanticEvaluator(K, **kw), jobs=jobs, cache_dir=cache_dir)
            np.testing.assert_array_equal(ev.state.confusion, ref.state.confusion)
            if kw.get("per_image"):
                got = ev.compute().per_image
                want = ref.compute().per_image
                assert [r["image_id"] for r in got] == [r["image_id"] for r in want]
                for a, b in zip(got, want):
                    for key in ("tp", "fp", "fn"):
                        np.testing.assert_array_equal(a[key], b[key])


def test_semantic_bad_label_error_names_image_and_values(tmp_path):
    rng = np.random.default_rng(1)
    pairs = make_semantic(tmp_path, rng, n=6)
    bad = _pillow(pairs[4][2]).copy()
    bad.flat[[0, -1]] = 200  # two pixels of an impossible class (GT there may be ignored)
    g = _pillow(pairs[4][1]).copy()
    g.flat[[0, -1]] = 1
    _save(pairs[4][1], g, "L")
    _save(pairs[4][2], bad, "L")
    for jobs in (1, 2):
        for cache_dir in (None, tmp_path / "c"):
            with pytest.raises(LabelError, match=r"004.*200 \(2 px\)"):
                evaluate_semantic_files(pairs, SemanticEvaluator(K), jobs=jobs, cache_dir=cache_dir)


def test_semantic_first_error_in_input_order_whatever_jobs(tmp_path):
    rng = np.random.default_rng(2)
    pairs = make_semantic(tmp_path, rng, n=12)
    pairs[3] = (pairs[3][0], pairs[3][1], tmp_path / "absent.png")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    pairs[7] = (pairs[7][0], pairs[7][1], tmp_path / "junk.png")
    for jobs in (1, 2, 4):
        with pytest.raises(DataFileError, match="absent.png"):
            evaluate_semantic_files(pairs, SemanticEvaluator(K), jobs=jobs)
    with pytest.raises(FormatError, match="junk.png"):
        evaluate_semantic_files(pairs[4:], SemanticEvaluator(K), jobs=2)


def test_semantic_size_mismatch_and_colour_maps(tmp_path):
    rng = np.random.default_rng(3)
    pairs = make_semantic(tmp_path, rng, n=3)
    _save(pairs[1][2], np.zeros((2, 3)), "L")
    with pytest.raises(InputError, match=r"001.*3x2"):
        evaluate_semantic_files(pairs, SemanticEvaluator(K), jobs=2)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(pairs[1][2])
    with pytest.raises(FormatError, match="channel"):
        evaluate_semantic_files(pairs, SemanticEvaluator(K), jobs=1)


@pytest.mark.parametrize("per_image", [False, True])
def test_semantic_failed_run_leaves_evaluator_unchanged(tmp_path, per_image):
    rng = np.random.default_rng(4)
    pairs = make_semantic(tmp_path, rng, n=5)
    ev = evaluate_semantic_files(pairs[:2], SemanticEvaluator(K, per_image=per_image), jobs=2)
    before = ev.state.confusion.copy()
    # per-image records need new ids: the failing run repeats none of the first two
    bad = pairs[2 if per_image else 0:4] + [(pairs[4][0], pairs[4][1], tmp_path / "nope.png")]
    with pytest.raises(DataFileError):
        evaluate_semantic_files(bad, ev, jobs=2)
    np.testing.assert_array_equal(ev.state.confusion, before)
    assert ev.state.num_images == 2
    if per_image:
        assert [r["image_id"] for r in ev.state.per_image] == [p[0] for p in pairs[:2]]
        with pytest.raises(InputError, match="duplicate image id"):  # checked before any work
            evaluate_semantic_files(pairs[1:3], ev, jobs=2)
        assert ev.state.num_images == 2
        # records in input order, as the engine computes them
        evaluate_semantic_files(pairs[2:][::-1], ev, jobs=3)
        want = _oracle_semantic(pairs[:2] + pairs[2:][::-1], per_image=True)
        assert [r["image_id"] for r in ev.state.per_image] == [r["image_id"] for r in want.state.per_image]
        for a, b in zip(ev.state.per_image, want.state.per_image):
            for key in ("tp", "fp", "fn"):
                assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key])


def test_code_tables_follow_label_rules():
    ev = SemanticEvaluator(4, ignore_index=300, gt_map=[0, 300, 3, 9 % 4], pred_map=[1, 2])
    g, p = ev.rules.file_tables()
    assert g[:4].tolist() == [0, -1, 3, 1] and g[300] == -1 and g[4] == -2 and g[299] == -2
    assert p[:3].tolist() == [1, 2, -2] and p[300] == -2
    ev = SemanticEvaluator(3, ignore_index=None)
    g, p = ev.rules.file_tables()
    assert g[:4].tolist() == [0, 1, 2, -2] and (g == -1).sum() == 0


# ----------------------------------------------------------------------------- scheduling
@pytest.mark.parametrize("jobs", [1, 2, 5])
def test_run_indexed_order_window_and_errors(jobs):
    seen, outstanding, peak = [], [0], [0]
    lock = threading.Lock()

    def work(state, i):
        with lock:
            outstanding[0] += 1
            peak[0] = max(peak[0], outstanding[0])
        state.append(i)
        return i * i

    def sink(i, r):
        with lock:
            outstanding[0] -= 1
        seen.append((i, r))

    ticks = []
    states = _pipeline.run_indexed(50, work, list, jobs, sink=sink, progress=ticks.append)
    assert seen == [(i, i * i) for i in range(50)] and ticks == [1] * 50
    assert sorted(sum(states, [])) == list(range(50))
    assert peak[0] <= 4 * jobs + 1

    def failing(state, i):
        if i in (13, 31):
            raise ValueError(f"boom {i}")
        return i

    for sink_ in (None, lambda i, r: None):
        with pytest.raises(ValueError, match="boom 13"):
            _pipeline.run_indexed(50, failing, list, jobs, sink=sink_)


# ----------------------------------------------------------------------------- panoptic
CATS = [{"id": 1, "name": "a", "isthing": 1}, {"id": 2, "name": "b", "isthing": 1},
        {"id": 7, "name": "s", "isthing": 0}, {"id": 9, "name": "t", "isthing": 0}]


def _panoptic_image(rng, h, w, crowd=True):
    n = int(rng.integers(1, 9))
    ids = rng.choice(np.arange(1, 2**24 - 1), size=n, replace=False)
    lab = _blobs(rng, h, w, [0] + ids.tolist(), noise=0.01)
    present = [int(i) for i in ids if (lab == i).any()]
    segs = [{"id": i, "category_id": int(rng.choice([c["id"] for c in CATS])),
             "iscrowd": int(crowd and rng.random() < 0.15), "area": int((lab == i).sum())}
            for i in present]
    return lab, segs


def make_panoptic(tmp_path, rng, n=8):
    gdir, pdir = tmp_path / "gt", tmp_path / "pred"
    gdir.mkdir()
    pdir.mkdir()
    g_anns, p_anns, arrays = [], [], []
    for i in range(n):
        h, w = int(rng.integers(1, 30)), int(rng.choice([1, 2, 3, 5, 8, 13, 40]))
        g, gs = _panoptic_image(rng, h, w)
        if rng.random() < 0.5:
            p = np.where(rng.random((h, w)) < 0.8, g, 0)
            ps = [dict(s, iscrowd=0) for s in gs if (p == s["id"]).any()]
        else:
            p, ps = _panoptic_image(rng, h, w, crowd=False)
        name = f"{i:03d}.png"
        Image.fromarray(id2rgb(g)).save(gdir / name)
        Image.fromarray(id2rgb(p)).save(pdir / name)
        g_anns.append({"image_id": i, "file_name": name, "segments_info": gs})
        p_anns.append({"image_id": i, "file_name": name, "segments_info": ps})
    gt = dataset_from_dict({"annotations": g_anns, "categories": CATS}, folder=gdir)
    pred = dataset_from_dict({"annotations": p_anns}, folder=pdir, require_categories=False)
    return gt, pred


def _same_result(a, b):
    assert a.metrics.keys() == b.metrics.keys()
    for k in a.metrics:
        x, y = a.metrics[k], b.metrics[k]
        assert (math.isnan(x) and math.isnan(y)) or x == y, k
    for ra, rb in zip(a.per_class, b.per_class):
        for k in ra:
            x, y = ra[k], rb[k]
            assert (isinstance(x, float) and math.isnan(x) and math.isnan(y)) or x == y, (k, x, y)
    assert a.warnings == b.warnings and a.num_images == b.num_images


def _same_per_image(got, want):
    assert [r["image_id"] for r in got] == [r["image_id"] for r in want]
    for a, b in zip(got, want):
        assert a.keys() == b.keys()
        for key in ("tp", "fp", "fn", "iou_sum"):
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), (a["image_id"], key)


def _oracle_panoptic(gt, pred, **kw):
    ev = PanopticEvaluator(gt.categories, **kw)
    for image_id, ann in gt.annotations.items():
        ev.update(_pillow(gt.png_path(image_id)), ann["segments_info"],
                  _pillow(pred.png_path(image_id)), pred.annotations[image_id]["segments_info"],
                  image_id=image_id)
    return ev


@pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("per_image", [True, False])
def test_panoptic_equals_engine_any_jobs_and_cache(tmp_path, seed, per_image, monkeypatch):
    gt, pred = make_panoptic(tmp_path, np.random.default_rng(seed))
    oracle = _oracle_panoptic(gt, pred, per_image=per_image)
    want = oracle.compute()
    assert any(r["tp"] for r in want.per_class) and any(r["fp"] for r in want.per_class)
    calls, stats_calls = [], []
    real = PanopticEvaluator.evaluate_image
    monkeypatch.setattr(PanopticEvaluator, "evaluate_image",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    real_stats = image_module.table_stats
    monkeypatch.setattr(image_module, "table_stats",
                        lambda *a, **k: stats_calls.append(1) or real_stats(*a, **k))
    for jobs in (1, 2, 3):
        for cache_dir in (None, tmp_path / "c", tmp_path / "c"):
            ev = evaluate_panoptic_files(gt, pred, PanopticEvaluator(gt.categories, per_image=per_image),
                                         jobs=jobs, cache_dir=cache_dir)
            got = ev.compute()
            _same_result(got, want)
            assert np.array_equal(ev.state.confusion, oracle.state.confusion)
            if per_image:
                _same_per_image(got.per_image, want.per_image)
    assert calls == []  # every image went through the fused kernels
    assert stats_calls == []  # and so did the matching and the per-image records


@pytest.mark.parametrize("recompute, per_image", [(False, False), (True, False), (False, True)])
def test_panoptic_fused_and_per_image_paths_mixed(tmp_path, recompute, per_image):
    """Stale JSON areas and missing predictions go the per-image way, the rest the fused
    way: the sums, the warnings and their order equal the engine's, whatever jobs is."""
    gt, pred = make_panoptic(tmp_path, np.random.default_rng(7), n=10)
    stale = [i for i, a in gt.annotations.items() if a["segments_info"]][1::3]
    for i in stale:
        segs = gt.annotations[i]["segments_info"]
        segs[0]["area"] += 1  # same list object: the columns made at load time stay in use
        gt.columns[i].area[np.flatnonzero(gt.columns[i].ids == segs[0]["id"])] += 1
    assert len(stale) >= 2
    missing = list(gt.annotations)[4]
    del pred.annotations[missing]
    ev_want = PanopticEvaluator(gt.categories, recompute_gt_areas=recompute, per_image=per_image)
    ev_want.state.add_warnings([
        f"1 ground-truth image has no prediction; all its segments are false negatives: image ids {missing!r}"])
    for image_id, ann in gt.annotations.items():
        g = _pillow(gt.png_path(image_id))
        p_ann = pred.annotations.get(image_id)
        p = _pillow(pred.png_path(image_id)) if p_ann else np.zeros(g.shape[:2], np.uint32)
        ev_want.update(g, ann["segments_info"], p, p_ann["segments_info"] if p_ann else [], image_id=image_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = ev_want.compute()
    assert (want.warnings != [want.warnings[0]]) != recompute  # stale areas warn unless recomputed
    for jobs in (1, 2, 3):
        for cache_dir in (None, tmp_path / "c", tmp_path / "c"):
            ev = evaluate_panoptic_files(
                gt, pred, PanopticEvaluator(gt.categories, recompute_gt_areas=recompute, per_image=per_image),
                jobs=jobs, cache_dir=cache_dir, allow_missing=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = ev.compute()
            _same_result(got, want)
            if per_image:
                _same_per_image(got.per_image, want.per_image)
            assert np.array_equal(ev.state.confusion, ev_want.state.confusion)


def test_panoptic_unlisted_id_error_like_engine(tmp_path):
    gt, pred = make_panoptic(tmp_path, np.random.default_rng(3), n=4)
    pred.annotations[2]["segments_info"] = pred.annotations[2]["segments_info"][1:] or []
    lab = _pillow(pred.png_path(2))
    if not lab.any():  # make sure the image has a segment to drop
        lab = lab.copy()
        lab[0, 0] = (5, 0, 0)
        Image.fromarray(lab).save(pred.png_path(2))
    with pytest.raises(FormatError) as want:
        _oracle_panoptic(gt, pred)
    for jobs, cache_dir in ((1, None), (2, tmp_path / "c")):
        with pytest.raises(FormatError) as got:
            evaluate_panoptic_files(gt, pred, PanopticEvaluator(gt.categories), jobs=jobs, cache_dir=cache_dir)
        tail = str(want.value).split(" has ", 1)[1]
        assert str(got.value) == f"image 2: prediction {pred.png_path(2)} has {tail}"


@pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")
def test_panoptic_quality_runs_on_the_pipeline(tmp_path, monkeypatch):
    gt, pred = make_panoptic(tmp_path, np.random.default_rng(4))
    want = _oracle_panoptic(gt, pred).compute()
    calls = []
    real = PanopticEvaluator.evaluate_image
    monkeypatch.setattr(PanopticEvaluator, "evaluate_image",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    for jobs in (1, 2):
        _same_result(panoptic_quality(gt, pred, jobs=jobs), want)
    assert calls == []  # the fused kernels, not the Pillow path


@pytest.mark.parametrize("edit", ["append", "unknown category"])
def test_panoptic_segments_edited_after_loading(tmp_path, edit):
    """Columns made at load time are not used for a segments_info list edited afterwards."""
    gt, pred = make_panoptic(tmp_path, np.random.default_rng(5), n=4)
    image_id = next(i for i, a in pred.annotations.items() if a["segments_info"])
    segs = pred.annotations[image_id]["segments_info"]
    if edit == "append":  # same list object, one segment more
        segs.append({"id": 2**24 - 1, "category_id": CATS[0]["id"]})
        match = rf"image {image_id}: prediction .* lists segment ids \[{2**24 - 1}\] in segments_info"
    else:  # a new list with an unknown category
        pred.annotations[image_id]["segments_info"] = [dict(segs[0], category_id=12345)] + segs[1:]
        match = rf"image {image_id}: prediction segment {segs[0]['id']} has unknown category_id 12345"
    for jobs in (1, 2):
        with pytest.raises(FormatError, match=match):
            evaluate_panoptic_files(gt, pred, PanopticEvaluator(gt.categories), jobs=jobs)


# ----------------------------------------------------------------------------- real data
def test_real_label_maps_match_engine(shared_data, tmp_path):
    """ADE20K (reduce_zero_label) and CamVid labels scored against a shifted copy of themselves."""
    cases = [(sorted((shared_data / "ade20k_sample/sampleData/annotations").glob("*.png")),
              dict(reduce_zero_label=True), 150),
             (sorted((shared_data / "camvid/valannot").glob("*.png"))[:6], dict(ignore_index=11), 11)]
    for files, kw, k in cases:
        pairs = []
        for f in files:
            lab = _pillow(f)
            pred = np.clip(np.roll(lab.astype(np.int64), 3, axis=1) - (1 if kw.get("reduce_zero_label") else 0), 0, k - 1)
            out = tmp_path / f"{k}_{f.name}"
            Image.fromarray(pred.astype(np.uint8)).save(out)
            pairs.append((f.stem, f, out))
        want = SemanticEvaluator(k, **kw)
        for image_id, g, p in pairs:
            want.update(_pillow(g), _pillow(p), image_id=image_id)
        for jobs, cache_dir in ((1, None), (2, tmp_path / "c"), (2, tmp_path / "c")):
            got = evaluate_semantic_files(pairs, SemanticEvaluator(k, **kw), jobs=jobs, cache_dir=cache_dir)
            np.testing.assert_array_equal(got.state.confusion, want.state.confusion)


@pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")
def test_real_coco_panoptic_matches_engine(shared_data, tmp_path):
    from segmetrics.io.coco_panoptic import load_panoptic_json

    gt = load_panoptic_json(shared_data / "coco_panoptic_sample/sample_data/panoptic_examples.json")
    # prediction: the GT with every segment shifted right by 4 pixels (same ids, no crowd)
    (tmp_path / "pred").mkdir()
    anns = []
    for image_id, ann in gt.annotations.items():
        rgb = np.roll(_pillow(gt.png_path(image_id)), 4, axis=1)
        Image.fromarray(rgb).save(tmp_path / "pred" / ann["file_name"])
        c = rgb.astype(np.int64)
        ids = set(np.unique(c[..., 0] + 256 * c[..., 1] + 65536 * c[..., 2]).tolist())
        anns.append({"image_id": image_id, "file_name": ann["file_name"],
                     "segments_info": [dict(s, iscrowd=0) for s in ann["segments_info"] if s["id"] in ids]})
    pred = dataset_from_dict({"annotations": anns}, folder=tmp_path / "pred", require_categories=False)
    want = _oracle_panoptic(gt, pred).compute()
    for jobs, cache_dir in ((1, None), (2, tmp_path / "c"), (2, tmp_path / "c")):
        _same_result(evaluate_panoptic_files(gt, pred, PanopticEvaluator(gt.categories), jobs=jobs,
                                             cache_dir=cache_dir).compute(), want)


def test_panoptic_batch_rejects_inconsistent_columns():
    from segmetrics._kernels import folder, folder_panoptic

    z = lambda dt=np.int64: np.zeros(0, dt)  # noqa: E731
    ok = dict(g_start=np.array([0]), g_end=np.array([1]), g_ids=np.array([5]), g_cat=np.array([0]),
              g_crowd=np.zeros(1, np.uint8), g_area=np.ones(1), g_order=np.zeros(1, np.int64),
              p_start=np.array([0]), p_end=np.array([0]), p_ids=z(), p_cat=z())
    folder_panoptic.PanopticBatch(2, **ok, recompute_gt_areas=False)
    # rows outside an image's range are not looked at
    folder_panoptic.PanopticBatch(2, **{**ok, "g_end": np.array([0]), "g_cat": np.array([-1])}, recompute_gt_areas=False)
    for change, msg in ((dict(g_end=np.array([2])), "outside"), (dict(p_start=np.array([1])), "outside"),
                        (dict(p_end=np.array([0, 0])), "one entry"), (dict(g_cat=np.array([2])), "out of range"),
                        (dict(g_area=np.ones(2)), "lengths")):
        with pytest.raises(ValueError, match=msg):
            folder_panoptic.PanopticBatch(2, **{**ok, **change}, recompute_gt_areas=False)
    acc = folder_panoptic.PanopticAccumulator(3)
    batch = folder_panoptic.PanopticBatch(2, **ok, recompute_gt_areas=False)
    with pytest.raises(ValueError, match="another category count"):
        batch.score_pair(folder.Scratch(), acc, 0, b"", b"")
    with pytest.raises(IndexError):
        batch.score_pair(folder.Scratch(), folder_panoptic.PanopticAccumulator(2), 1, b"", b"")
    # bytes that are not PNG: the reference path must take the pair, nothing is added
    acc = folder_panoptic.PanopticAccumulator(2)
    batch = folder_panoptic.PanopticBatch(2, **ok, recompute_gt_areas=False, per_image=True)
    assert batch.score_pair(folder.Scratch(), acc, 0, b"not a png", b"") == 1
    assert acc.num_images == 0 and acc.result()["tp"].tolist() == [0, 0]
    assert not any(a.any() for a in batch.image_counts())


def test_panoptic_failed_run_leaves_evaluator_unchanged(tmp_path):
    gt, pred = make_panoptic(tmp_path, np.random.default_rng(8), n=6)
    bad = list(gt.annotations)[4]
    pred.png_path(bad).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    extra = dict(next(iter(pred.annotations.values())), image_id="extra")
    pred.annotations["extra"] = extra  # a prediction for an unknown image: a pairing note
    for jobs in (1, 2):
        ev = PanopticEvaluator(gt.categories, per_image=True)
        with pytest.raises(SegmetricsError):
            evaluate_panoptic_files(gt, pred, ev, jobs=jobs)
        assert ev.state.num_images == 0 and ev.state.warnings == [] and ev.state.per_image == []
        assert not ev.state.tp.any() and not ev.state.confusion.any() and ev.state.match_cat.size == 0


@pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")
def test_panoptic_hand_built_datasets_take_the_fused_path(tmp_path, monkeypatch):
    """Datasets whose columns are a plain dict (built by hand, not loaded) are
    concatenated for the kernel; one without columns goes the per-image way."""
    import dataclasses

    gt, pred = make_panoptic(tmp_path, np.random.default_rng(9), n=6)
    want = _oracle_panoptic(gt, pred).compute()
    stats_calls = []
    real_stats = image_module.table_stats
    monkeypatch.setattr(image_module, "table_stats",
                        lambda *a, **k: stats_calls.append(1) or real_stats(*a, **k))
    gt_dict = dataclasses.replace(gt, columns=dict(gt.columns))
    pred_dict = dataclasses.replace(pred, columns={i: c for i, c in pred.columns.items() if i != 3})
    assert len(gt_dict.columns) == 6 and len(pred_dict.columns) == 5
    for jobs in (1, 2):
        _same_result(evaluate_panoptic_files(gt_dict, pred_dict, PanopticEvaluator(gt.categories),
                                             jobs=jobs).compute(), want)
    assert len(stats_calls) == 2  # image 3 only, once per run


@pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")
@pytest.mark.parametrize("jobs", [1, 2])
def test_panoptic_progress_counts_every_image_once(tmp_path, jobs):
    gt, pred = make_panoptic(tmp_path, np.random.default_rng(10), n=9)
    first = next(i for i, a in gt.annotations.items() if a["segments_info"])
    gt.columns[first].area[0] += 1  # a stale area: this image takes the per-image path
    for cache_dir in (None, tmp_path / "c"):
        ticks = []
        ev = evaluate_panoptic_files(gt, pred, PanopticEvaluator(gt.categories), jobs=jobs,
                                     cache_dir=cache_dir, progress=ticks.append)
        assert ticks == [1] * 9 and ev.state.num_images == 9 and len(ev.state.warnings) == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_panoptic_first_error_in_input_order_with_both_loops(tmp_path, seed):
    """Images that only need warnings, and several broken ones: the error raised is the
    first broken image's (as the engine names it), whatever jobs and the cache are."""
    rng = np.random.default_rng(100 + seed)
    gt, pred = make_panoptic(tmp_path, rng, n=10)
    ids = list(gt.annotations)
    with_segs = [i for i in ids if gt.annotations[i]["segments_info"]]
    stale = with_segs[0]
    gt.columns[stale].area[0] += 1  # warning only
    broken = sorted(rng.choice([i for i in ids if i != stale], size=3, replace=False).tolist())
    kinds = ["truncated", "missing", "size"]
    rng.shuffle(kinds)
    for image_id, kind in zip(broken, kinds):
        path = pred.png_path(image_id)
        if kind == "truncated":
            path.write_bytes(path.read_bytes()[:40])
        elif kind == "missing":
            path.unlink()
        else:
            lab = _pillow(path)
            Image.fromarray(np.concatenate([lab, lab[:1]], axis=0)).save(path)
    with pytest.raises(SegmetricsError) as want:
        _oracle_panoptic_errors(gt, pred, broken[0])
    for jobs in (1, 2, 3):
        for cache_dir in (None, tmp_path / "c"):
            with pytest.raises(SegmetricsError) as got:
                evaluate_panoptic_files(gt, pred, PanopticEvaluator(gt.categories), jobs=jobs, cache_dir=cache_dir)
            assert type(got.value) is type(want.value)
            assert f"image {broken[0]!r}" in str(got.value) or str(pred.png_path(broken[0])) in str(got.value)


def _oracle_panoptic_errors(gt, pred, image_id):
    """The error the engine's per-image path gives for one image (Pillow-compatible reading)."""
    from segmetrics.io.coco_panoptic import read_id_png

    g = read_id_png(gt.png_path(image_id))
    p = read_id_png(pred.png_path(image_id))
    PanopticEvaluator(gt.categories).update(g, gt.annotations[image_id]["segments_info"], p,
                                            pred.annotations[image_id]["segments_info"], image_id=image_id)


# ----------------------------------------------------------------------------- the engine's sums
def test_engine_sums_identical_for_any_jobs_and_cache(tmp_path):
    """The contract the state layer builds on: semantic_files / panoptic_files return the
    same arrays bit for bit whatever jobs and the GT cache; matches sorted by image."""
    rng = np.random.default_rng(21)
    (tmp_path / "s").mkdir()
    pairs = make_semantic(tmp_path / "s", rng, n=7)
    ev = SemanticEvaluator(K)
    gcodes, pcodes = ev.rules.file_tables()

    def reference(item):
        raise AssertionError("every image here goes the fused way")

    runs = [_pipeline.semantic_files(pairs, num_classes=K, gt_codes=gcodes, pred_codes=pcodes, reference=reference,
                                     jobs=jobs, cache_dir=cache, per_image=True)
            for jobs, cache in ((1, None), (2, None), (3, tmp_path / "c1"), (2, tmp_path / "c1"))]
    want = _oracle_semantic(pairs, per_image=True)
    for sums in runs:
        np.testing.assert_array_equal(sums.confusion, want.state.confusion)
        assert sums.num_images == len(pairs)
        for i, rec in enumerate(want.state.per_image):
            for key, got in (("tp", sums.image_tp), ("fp", sums.image_fp), ("fn", sums.image_fn)):
                np.testing.assert_array_equal(got[i], rec[key])

    (tmp_path / "p").mkdir()
    gt, pred = make_panoptic(tmp_path / "p", np.random.default_rng(22), n=9)
    stale = next(i for i, a in gt.annotations.items() if a["segments_info"])
    gt.columns[stale].area[0] += 1  # one image the per-image way, with a warning
    items = [(i, a, pred.annotations[i]) for i, a in gt.annotations.items()]
    out = []
    for jobs, cache in ((1, None), (2, None), (3, tmp_path / "c2"), (2, tmp_path / "c2")):
        out.append(_pipeline.panoptic_files(items, gt, pred, CATS, recompute_gt_areas=False, jobs=jobs,
                                            cache_dir=cache, per_image=True, reference=reference))
    first = out[0]
    assert first.num_images == 9 and len(first.warnings) == 1 and f"image {stale!r}" in first.warnings[0]
    assert (np.diff(first.match_image) >= 0).all() and first.match_iou.size == first.tp.sum()
    np.testing.assert_array_equal(first.image_tp.sum(axis=0), first.tp)
    for sums in out[1:]:
        for field in ("tp", "fp", "fn", "confusion", "match_image", "match_cat", "match_iou",
                      "image_tp", "image_fp", "image_fn"):
            a, b = getattr(first, field), getattr(sums, field)
            assert a.dtype == b.dtype and np.array_equal(a, b), field
        assert sums.warnings == first.warnings and sums.num_images == first.num_images


# ----------------------------------------------------------------------------- compiled batches
# The compiled batch runs (SemanticBatch, PanopticBatch.run) read, hash and count the images
# they can take; the per-image path takes the rest.  Oracle: the same run with the batch
# (or its hashing) switched off, and hashlib.

@pytest.mark.parametrize("mode", ["auto", "portable"])
def test_compiled_sha256_equals_hashlib(mode):
    """sm_sha256.h (the SHA-extension and the portable block functions) against hashlib: whole
    messages around every block boundary, tails, pieces of random sizes, copies, any buffer."""
    import hashlib
    import random

    from segmetrics._kernels import folder as kfolder

    if mode == "auto" and not kfolder.sha256_has_extensions():
        pytest.skip("this processor has no SHA extensions: the portable case covers it")
    try:
        assert kfolder._set_sha256(mode) == ("SHA extensions" if mode == "auto" else "portable C")
        rng, r = np.random.default_rng(0), random.Random(0)
        for size in [*range(0, 200), 255, 256, 1000, 4095, 4096, 4097, 100_003, 1 << 20]:
            data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            want = hashlib.sha256(data)
            tails = (b"", data[:7], b"\x00" * 64, data[::-1])
            assert kfolder.sha256(data) == want.digest()
            assert kfolder.sha256(data, tails) == hashlib.sha256(data + b"".join(tails)).digest()
            h, i = kfolder.Sha256(), 0
            while i < size:
                j = min(size, i + r.choice([0, 1, 3, 63, 64, 65, 500, 5000]))
                h.update(data[i:j])
                i = j
            assert h.digest() == want.digest() and h.hexdigest() == want.hexdigest()
            c = h.copy()
            c.update(b"more")
            assert c.digest() == hashlib.sha256(data + b"more").digest() and h.digest() == want.digest()
        a = np.arange(1000, dtype=np.int64)
        assert kfolder.Sha256(a).digest() == hashlib.sha256(a.tobytes()).digest()
        assert kfolder.Sha256(memoryview(a).cast("B")[8:800]).digest() == hashlib.sha256(a.tobytes()[8:800]).digest()
        assert kfolder.Sha256(bytearray(b"abc")).digest() == hashlib.sha256(b"abc").digest()
    finally:
        kfolder._set_sha256("auto")
    with pytest.raises(TypeError):
        kfolder.sha256(b"x", ("not bytes",))
    with pytest.raises(TypeError):
        kfolder.Sha256("text")
    with pytest.raises(ValueError, match="contiguous"):  # as hashlib
        kfolder.Sha256(np.arange(10)[::2])


def test_runs_do_not_load_openssl(tmp_path):
    """A folder run hashes with sm_sha256.h: neither hashlib nor its libcrypto is imported."""
    import subprocess
    import sys

    rng = np.random.default_rng(2)
    make_semantic(tmp_path, rng, n=3)
    code = ("import sys; from segmetrics.folders import evaluate_semantic_folders as e; "
            f"r = e({str(tmp_path / 'gt')!r}, {str(tmp_path / 'pred')!r}, num_classes={K}, pred_labels='class-index');"
            "print(r.dataset['fingerprint'], 'hashlib' in sys.modules, "
            "any('libcrypto' in l for l in open('/proc/self/maps')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith("sha256:") and out[1:] == ["False", "False"]


def _without_sha():
    """Run with the compiled hashing switched off: the batch runs hash nothing, the Python passes do."""
    from segmetrics._kernels import folder as kfolder

    kfolder._set_sha256(None)
    assert kfolder.sha256_source() is None and kfolder.sha256(b"x") is None
    return lambda: kfolder._set_sha256("auto")


@pytest.mark.parametrize("modes", [("L",), ("L", "P", "I;16", "P4")])
def test_semantic_batch_equals_per_image_path(tmp_path, modes, monkeypatch):
    """Every output (metrics, per-image rows, Boundary IoU, fingerprint, state digests) of a folder
    run is the same through the compiled batch, without it, and without the compiled hashing; images the
    batch cannot take (4-bit palette) go the per-image way."""
    from segmetrics.folders import evaluate_semantic_folders

    rng = np.random.default_rng(11)
    pairs = make_semantic(tmp_path, rng, n=10, modes=modes, ignore=15)
    assert _pipeline._semantic_batch(pairs) is not None
    real_batch = _pipeline._semantic_batch
    runs = {}
    for way in ("batch", "per-image", "no compiled hashing"):
        restore = None
        if way == "per-image":
            monkeypatch.setattr(_pipeline, "_semantic_batch", lambda pairs: None)
        elif way == "no compiled hashing":
            monkeypatch.setattr(_pipeline, "_semantic_batch", real_batch)
            restore = _without_sha()
        try:
            for jobs in (1, 3):
                for boundary in (False, True):
                    r = evaluate_semantic_folders(tmp_path / "gt", tmp_path / "pred", num_classes=K, ignore_index=15,
                                                  pred_labels="class-index", per_image=True, boundary=boundary,
                                                  jobs=jobs)
                    runs[way, jobs, boundary] = r
        finally:
            if restore is not None:
                restore()
    for (way, jobs, boundary), r in runs.items():
        want = runs["per-image", 1, boundary]
        assert r.to_dict() == want.to_dict(), (way, jobs, boundary)
        assert r.dataset["fingerprint"] == want.dataset["fingerprint"]
        np.testing.assert_array_equal(r.state._array("image_digest"), want.state._array("image_digest"))


def test_semantic_batch_bad_label_and_missing_file_errors(tmp_path):
    """The batch leaves a pair with a bad label or an unreadable file to the per-image path,
    which names it (the smallest failing index when several fail)."""
    from segmetrics.folders import evaluate_semantic_files

    rng = np.random.default_rng(3)
    pairs = make_semantic(tmp_path, rng, n=8)
    bad = _pillow(pairs[5][2]).copy()
    bad.flat[:] = 200
    _save(pairs[5][2], bad, "L")
    for jobs in (1, 2):
        with pytest.raises(LabelError, match="200"):
            evaluate_semantic_files(pairs, SemanticEvaluator(K), jobs=jobs)
    pairs[2][1].unlink()
    for jobs in (1, 2):
        with pytest.raises(DataFileError, match="002"):
            evaluate_semantic_files(pairs, SemanticEvaluator(K), jobs=jobs)


@pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")
def test_panoptic_batch_digests_equal_python_digests(tmp_path, monkeypatch):
    """The GT digests the compiled panoptic pass makes while it reads the files equal the
    Python digest pass (fingerprint and per-image state digests), with and without the compiled hashing."""
    import json

    from segmetrics._kernels import folder as kfolder
    from segmetrics.folders import evaluate_panoptic_folders

    gt, pred = make_panoptic(tmp_path, np.random.default_rng(4), n=12)
    gj, pj = tmp_path / "gt.json", tmp_path / "pred.json"
    gj.write_text(json.dumps({"annotations": list(gt.annotations.values()), "categories": CATS}))
    pj.write_text(json.dumps({"annotations": list(pred.annotations.values())}))
    hashed = []
    real = _pipeline._set_digests
    monkeypatch.setattr(_pipeline, "_set_digests", lambda *a: hashed.append(out := real(*a)) or out)

    def run(jobs):
        return evaluate_panoptic_folders(gj, pj, gt_folder=tmp_path / "gt", pred_folder=tmp_path / "pred",
                                         per_image=True, jobs=jobs)

    got = [run(1), run(2)]
    if kfolder.sha256_source() is not None:
        assert hashed and all(h is not None and h[1].all() for h in hashed)  # every image hashed in C
    monkeypatch.setattr(_pipeline, "_set_digests", lambda *a: None)
    want = run(2)
    restore = _without_sha()
    monkeypatch.setattr(_pipeline, "_set_digests", real)
    try:
        got.append(run(2))
    finally:
        restore()
    for r in got:
        assert r.to_dict() == want.to_dict()
        np.testing.assert_array_equal(r.state._array("image_digest"), want.state._array("image_digest"))


def test_file_pairs_put_every_name_back_together(tmp_path):
    """The compact name store of the batch runs: common leading bytes + one blob per side."""
    from pathlib import Path

    from segmetrics._kernels.folder import FilePairs

    gt = [tmp_path / "gt" / f"{i:03d}.png" for i in range(5)] + ["", "/elsewhere/x.png", b"rel/\xff.png"]
    pred = [Path("p") / "a.png", "", "p/b.png", "p/a.png", "q.png", "p/c.png", "p/d.png", "p/e.png"]
    fp = FilePairs(gt, pred)
    assert fp.n == len(gt)
    for i, (g, p) in enumerate(zip(gt, pred)):
        assert fp.name(0, i) == (os.fsencode(g) or None)
        assert fp.name(1, i) == (os.fsencode(p) or None)
    one = FilePairs(["/only/one.png"], ["/only/two.png"])  # the common prefix is the whole name
    assert one.name(0, 0) == b"/only/one.png" and one.name(1, 0) == b"/only/two.png"
    assert FilePairs(["/" + "d" * 5000], ["x"]).name(0, 0) is None  # too long: the per-image path reads it
    with pytest.raises(ValueError, match="NUL"):
        FilePairs(["a\0b"], ["c"])
    with pytest.raises(TypeError):
        FilePairs([object()], ["c"])
    with pytest.raises(ValueError):
        FilePairs(["a"], [])


def test_semantic_warm_cache_reads_files_without_python_same_numbers(tmp_path, monkeypatch):
    """With the GT cache filled, the GT file is hashed and the prediction read inside the kernels
    (folder.file_sha256, semantic_cached(pred_path=...)): every output equals the general path's,
    per-image rows and Boundary IoU included, and a missing prediction is still named."""
    from segmetrics._kernels import folder as kfolder
    from segmetrics.folders import evaluate_semantic_folders

    rng = np.random.default_rng(21)
    pairs = make_semantic(tmp_path, rng, n=9, modes=("L", "I;16"))
    cache = tmp_path / "cache"
    used = []
    real = kfolder.file_sha256
    monkeypatch.setattr(kfolder, "file_sha256", lambda s, name: used.append(name) or real(s, name))

    def run(**kw):
        return evaluate_semantic_folders(tmp_path / "gt", tmp_path / "pred", num_classes=K, pred_labels="class-index",
                                         per_image=True, cache_dir=cache, **kw)

    for boundary in (False, True):
        cold = run(boundary=boundary, jobs=2)  # fills the cache
        warm = [run(boundary=boundary, jobs=j) for j in (1, 2)]
        assert used, "the warm runs went through the file path"
        monkeypatch.setattr(kfolder, "file_sha256", lambda s, name: None)  # the general path
        general = run(boundary=boundary, jobs=2)
        monkeypatch.setattr(kfolder, "file_sha256", lambda s, name: used.append(name) or real(s, name))
        for r in warm + [general]:
            assert r.to_dict() == cold.to_dict()
            np.testing.assert_array_equal(r.state._array("image_digest"), cold.state._array("image_digest"))
    evaluate_semantic_files(pairs, SemanticEvaluator(K), jobs=2, cache_dir=cache)  # these settings' entries
    pairs[6][2].unlink()  # gone after the pairing: the kernel cannot read it, the per-image path names it
    for jobs in (1, 2):
        used.clear()
        with pytest.raises(DataFileError, match="006"):
            evaluate_semantic_files(pairs, SemanticEvaluator(K), jobs=jobs, cache_dir=cache)
        assert os.fsencode(pairs[6][1]) in used
