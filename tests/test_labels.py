"""Label rules (segmetrics.labels): code tables and the prediction label convention (pred_labels)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import segmetrics as sm
from segmetrics.cli import cli
from segmetrics.errors import InputError, LabelError
from segmetrics.labels import BAD, IGNORED, LabelRules, decide_pred_labels, reduce_zero_table

from cli_data import oracle_confusion, oracle_miou, write_png

K = 150


def test_code_tables_by_hand():
    rules = LabelRules.build(4, ignore_index=300, gt_map=[0, 300, 3, 1], pred_map=[1, 2])
    g, p = rules.file_tables()
    assert g.shape == p.shape == (65536,) and g.dtype == p.dtype == np.int32
    assert g[:5].tolist() == [0, IGNORED, 3, 1, BAD] and g[300] == IGNORED and g[299] == BAD
    assert p[:3].tolist() == [1, 2, BAD] and p[300] == BAD
    miss = LabelRules.build(4, ignore_index=255, void_predictions="miss")
    assert miss.counted_classes == 5
    q = miss.pred_codes(65536)
    assert q[:4].tolist() == [0, 1, 2, 3] and q[255] == 4 and q[4] == BAD and q[254] == BAD
    assert miss.pred_codes().size == 256 and miss.pred_codes()[255] == 4  # the array path sees 255 too
    with pytest.raises(InputError, match="gt_map"):
        LabelRules.build(3, gt_map=[0, 7])
    with pytest.raises(InputError, match="void_predictions"):
        LabelRules.build(3, void_predictions="ignore")


@pytest.mark.parametrize("kw", [
    dict(num_classes=4, ignore_index=300, gt_map=[0, 300, 3, 1], pred_map=[1, 2]),
    dict(num_classes=19, ignore_index=255),
    dict(num_classes=150, ignore_index=255, void_predictions="miss"),
    dict(num_classes=3, ignore_index=None),
    dict(num_classes=3, ignore_index=65535),
    dict(num_classes=600, ignore_index=-1),
    dict(num_classes=5, ignore_index=255, gt_map=np.r_[np.zeros(40000, np.int64), 4]),
    dict(num_classes=5, ignore_index=7, out_of_range="drop"),
])
def test_engine_tables_are_the_file_tables_cut_before_a_bad_tail(kw):
    """The folder engine's short tables: each the full table's first entries, every entry past
    it BAD (the kernel's reading of a value beyond a table); at least 256 entries."""
    from segmetrics._pipeline import semantic_cache_params

    rules = LabelRules.build(**kw)
    short_gt, full_gt = rules.engine_tables()[0], rules.file_tables()[0]
    key = semantic_cache_params(kw["num_classes"], short_gt)
    assert key == kw["num_classes"].to_bytes(4, "little") + full_gt.tobytes()  # the GT cache's key as before
    for short, full in zip(rules.engine_tables(), rules.file_tables()):
        assert short.dtype == np.int32 and short.flags.c_contiguous and 256 <= short.size <= full.size
        assert np.array_equal(short, full[:short.size])
        if short.size < full.size:
            assert (full[short.size:] == BAD).all()
            assert short[-1] != BAD or short.size == 256
    if kw.get("out_of_range") == "drop":  # tails of K + 1, not BAD: the full tables
        assert all(t.size == 65536 for t in rules.engine_tables())
    elif kw["num_classes"] < 256 and (kw.get("ignore_index") or 0) < 256 and "gt_map" not in kw:
        assert all(t.size == 256 for t in rules.engine_tables())


def test_values_past_the_short_tables_are_bad_labels_named(tmp_path):
    """16-bit files whose values lie past the engine's 256-entry tables: the GT value and the
    prediction value are named as bad labels, as the full tables made them."""
    from PIL import Image

    g = np.zeros((6, 9), np.uint16)
    p = np.zeros((6, 9), np.uint16)
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    g[4, 5] = 40000
    Image.fromarray(g).save(tmp_path / "gt" / "a.png")
    Image.fromarray(p).save(tmp_path / "pred" / "a.png")
    rules = LabelRules.build(3, ignore_index=255)
    assert [t.size for t in rules.engine_tables()] == [256, 256]
    with pytest.raises(LabelError, match="40000") as err:
        sm.evaluate_semantic_folders(tmp_path / "gt", tmp_path / "pred", num_classes=3, jobs=1)
    assert "a.png" in str(err.value) or "'a'" in str(err.value)
    g[4, 5] = 1
    p[2, 3] = 300
    Image.fromarray(g).save(tmp_path / "gt" / "a.png")
    Image.fromarray(p).save(tmp_path / "pred" / "a.png")
    with pytest.raises(LabelError, match="300"):
        sm.evaluate_semantic_folders(tmp_path / "gt", tmp_path / "pred", num_classes=3, jobs=1)
    p[2, 3] = 255  # the ignore index is no void prediction by default: still a bad label
    Image.fromarray(p).save(tmp_path / "pred" / "a.png")
    with pytest.raises(LabelError, match="255"):
        sm.evaluate_semantic_folders(tmp_path / "gt", tmp_path / "pred", num_classes=3, jobs=1)
    p[2, 3] = 2
    Image.fromarray(p).save(tmp_path / "pred" / "a.png")
    res = sm.evaluate_semantic_folders(tmp_path / "gt", tmp_path / "pred", num_classes=3, jobs=1)
    assert int(res.state.confusion.sum()) == g.size


def _ade(rng, n=4, shape=(30, 40)):
    """ADE20K-like GT (0 = other, 1..150) in blobs."""
    out = []
    for _ in range(n):
        small = rng.integers(0, K + 1, (shape[0] // 5, shape[1] // 5))
        out.append(small.repeat(5, 0).repeat(5, 1).astype(np.uint8))
    return out


def _write(root, name, arrays):
    for i, a in enumerate(arrays):
        write_png(root / name / f"ADE_{i:03d}.png", a)
    return root / name


def _good_prediction(rng, g):
    """A decent model: the GT class (0..K-1) on 90 % of the pixels."""
    cls = np.where(g == 0, rng.integers(0, K, g.shape), g.astype(np.int64) - 1)
    noise = rng.random(g.shape) < 0.1
    return np.where(noise, rng.integers(0, K, g.shape), cls)


def test_class_indices_without_any_zero_are_not_read_shifted(tmp_path):
    """0..K-1 predictions that never hold 0 (the issue's ADE20K case: 0.45 % instead of 68.54 %)."""
    rng = np.random.default_rng(0)
    gts = _ade(rng)
    preds = []
    for g in gts:
        p = _good_prediction(rng, g)
        preds.append(np.where(p == 0, 1, p).astype(np.uint8))  # class 0 never predicted
    gt, pred = _write(tmp_path, "gt", gts), _write(tmp_path, "pred", preds)
    res = sm.evaluate_semantic_folders(gt, pred, preset="ade20k")
    assert res.params["pred_labels"] == "class-index" and "agree with the ground truth" in res.notes[0]
    want = oracle_miou(oracle_confusion(list(zip(gts, preds)), K, gt_lut=reduce_zero_table(K, 255)))
    assert res.metrics["mIoU"] == pytest.approx(want, rel=1e-12) and res.metrics["mIoU"] > 0.5
    shifted = sm.evaluate_semantic_folders(gt, pred, preset="ade20k", pred_labels="as-gt")
    assert shifted.metrics["mIoU"] < 0.05  # what the wrong reading gives: the reason this is decided


def test_gt_values_without_any_k_are_not_read_shifted(tmp_path):
    """1..K predictions (the GT's own values) that never hold K."""
    rng = np.random.default_rng(1)
    gts = _ade(rng)
    preds = []
    for g in gts:
        p = _good_prediction(rng, g) + 1
        preds.append(np.where(p == K, K - 1, p).astype(np.uint8))  # value K never written
    gt, pred = _write(tmp_path, "gt", gts), _write(tmp_path, "pred", preds)
    res = sm.evaluate_semantic_folders(gt, pred, preset="ade20k")
    assert res.params["pred_labels"] == "as-gt" and res.params["pred_reduce_zero_label"] is True
    lut = reduce_zero_table(K, 255)
    want = oracle_miou(oracle_confusion(list(zip(gts, preds)), K, gt_lut=lut, pred_lut=lut))
    assert res.metrics["mIoU"] == pytest.approx(want, rel=1e-12) and res.metrics["mIoU"] > 0.5
    # the CLI reads them the same way and says so
    r = CliRunner().invoke(cli, ["eval", "--preset", "ade20k", "--gt", str(gt), "--pred", str(pred), "--json", "-",
                                 "--no-cache"])
    rep = json.loads(r.stdout)
    assert rep["metrics"]["mIoU"] == res.metrics["mIoU"] and rep["params"]["pred_labels"] == "as-gt"
    assert "pred_labels='auto' chose 'as-gt'" in r.stderr and rep["notes"] == list(res.notes)


def test_a_value_only_one_reading_allows_decides(tmp_path):
    rng = np.random.default_rng(2)
    gts = _ade(rng, n=2)
    with_k = [np.full_like(g, K) for g in gts]  # nonsense predictions, but K exists only in the GT values
    gt, pred = _write(tmp_path, "gt", gts), _write(tmp_path, "pred", with_k)
    res = sm.evaluate_semantic_folders(gt, pred, preset="ade20k")
    assert res.params["pred_labels"] == "as-gt" and f"value {K}" in res.notes[0]


def test_undecidable_predictions_are_an_error_naming_both_options(tmp_path):
    rng = np.random.default_rng(3)
    gts = _ade(rng, n=3)
    noise = [rng.integers(1, K, g.shape).astype(np.uint8) for g in gts]  # 1..K-1: both readings valid
    gt, pred = _write(tmp_path, "gt", gts), _write(tmp_path, "pred", noise)
    with pytest.raises(InputError, match="cannot tell") as exc:
        sm.evaluate_semantic_folders(gt, pred, preset="ade20k")
    assert "class-index" in str(exc.value) and "as-gt" in str(exc.value)
    r = CliRunner().invoke(cli, ["eval", "--preset", "ade20k", "--gt", str(gt), "--pred", str(pred)])
    assert r.exit_code == 2 and "--pred-labels" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # an explicit reading is scored as given
    assert sm.evaluate_semantic_folders(gt, pred, preset="ade20k", pred_labels="class-index").num_images == 3


def test_a_wrong_guess_from_the_sample_is_an_error_not_a_number(tmp_path):
    """The sample decides by agreement; a value the chosen reading does not allow, in an image
    outside the sample, still stops the run."""
    rng = np.random.default_rng(4)
    gts = _ade(rng, n=20)
    preds = [(_good_prediction(rng, g) + 1).clip(1, K - 1).astype(np.uint8) for g in gts]  # GT values, no K
    preds[1] = preds[1].copy()
    preds[1][0, 0] = 0  # 0 is no GT class value (it is ignore): an error when read as GT values
    gt, pred = _write(tmp_path, "gt", gts), _write(tmp_path, "pred", preds)
    scored = gts[1][0, 0] != 0
    if not scored:
        gts[1][0, 0] = 5
        _write(tmp_path, "gt", gts)
    with pytest.raises(LabelError, match="ADE_001") as exc:
        sm.evaluate_semantic_folders(gt, pred, preset="ade20k")
    assert exc.value.side == "pred" and exc.value.rules["pred_labels"] == "as-gt"


def test_cityscapes_train_ids_and_label_ids_are_told_apart(tmp_path):
    from segmetrics.presets import CITYSCAPES_LABELID_TO_TRAINID as to_train

    rng = np.random.default_rng(5)
    ids = np.array(sorted(to_train), dtype=np.uint8)
    gts, label_preds, train_preds = [], [], []
    for i in range(3):
        g = ids[rng.integers(0, ids.size, (6, 8))].repeat(4, 0).repeat(4, 1)
        p = np.where(rng.random(g.shape) < 0.85, g, ids[rng.integers(0, ids.size, g.shape)])
        gts.append(g)
        label_preds.append(p.astype(np.uint8))
        train_preds.append(np.vectorize(to_train.get)(p).astype(np.uint8))
    for name, arrays in (("gt", gts), ("lab", label_preds), ("train", train_preds)):
        for i, a in enumerate(arrays):
            write_png(tmp_path / name / "x" / f"x_{i:06d}_000019{'_gtFine_labelIds' if name == 'gt' else ''}.png", a)
    a = sm.evaluate_semantic_folders(tmp_path / "gt", tmp_path / "lab", preset="cityscapes")
    b = sm.evaluate_semantic_folders(tmp_path / "gt", tmp_path / "train", preset="cityscapes")
    assert a.params["pred_labels"] == "as-gt" and a.params["pred_label_map"] == "same as label_map"
    assert b.params["pred_labels"] == "class-index" and a.metrics == b.metrics


def test_real_ade20k_sample_read_right_both_ways(shared_data, tmp_path):
    """The real ADE20K sample, predictions = the GT written both ways, with the telling value removed."""
    from cli_data import read_png

    files = sorted((shared_data / "ade20k_sample" / "sampleData" / "annotations").glob("*.png"))
    if not files:
        pytest.skip("ADE20K sample annotations absent")
    gts = [read_png(f) for f in files]
    idx = [np.where(g == 0, 1, np.maximum(g.astype(np.int64) - 1, 1)).astype(np.uint8) for g in gts]  # no 0
    vals = [np.where(g == K, K - 1, np.maximum(g, 1)).astype(np.uint8) for g in gts]  # no K
    gt = tmp_path / "gt"
    for name, arrays in (("idx", idx), ("vals", vals)):
        for f, a in zip(files, arrays):
            write_png(tmp_path / name / f.name, a)
    for f, g in zip(files, gts):
        write_png(gt / f.name, g)
    a = sm.evaluate_semantic_folders(gt, tmp_path / "idx", preset="ade20k")
    b = sm.evaluate_semantic_folders(gt, tmp_path / "vals", preset="ade20k")
    assert a.params["pred_labels"] == "class-index" and b.params["pred_labels"] == "as-gt"
    assert a.metrics["mIoU"] > 0.9 and b.metrics["mIoU"] > 0.9


def test_label_errors_carry_structured_fields(tmp_path):
    from cli_data import make_flat_set

    gt, pred, _ = make_flat_set(tmp_path, n=3, k=4)
    bad = np.zeros((24, 32), np.uint8)
    bad[:2] = 9
    write_png(pred / "img_001.png", bad)
    with pytest.raises(LabelError) as exc:
        sm.evaluate_semantic_folders(gt, pred, num_classes=4)
    e = exc.value
    from cli_data import read_png

    scored_nines = int(((bad == 9) & (read_png(gt / "img_001.png") != 255)).sum())
    assert (e.side, e.values, e.counts, e.image) == ("pred", [9], [scored_nines], "img_001")
    assert e.file == str(pred / "img_001.png") and e.rules["pred_labels"] == "class-index"
    write_png(gt / "img_002.png", np.full((24, 32), 7, np.uint8))
    with pytest.raises(LabelError) as exc:
        sm.evaluate_semantic_files([("x", gt / "img_002.png", pred / "img_002.png")], sm.SemanticEvaluator(4))
    assert exc.value.side == "gt" and exc.value.file == str(gt / "img_002.png") and exc.value.values == [7]


def test_the_auto_sample_reads_what_read_label_map_reads(tmp_path):
    """The engine's sample reader (``_pipeline.label_samples``: decoded in a scratch, every
    s-th pixel of every s-th row) gives the strided arrays of :func:`read_label_map`, dtype
    included, for 8-bit grey, palette and 16-bit files, smooth and noisy rows (other PNG
    filters) and strides 1 to 3; what it does not read (1-bit, RGB, two sizes, a missing
    file) goes to ``read_label_map``, whose errors skip the pair as before."""
    from PIL import Image

    from segmetrics import _pipeline
    from segmetrics.folders import _auto_sample, read_label_map

    rng = np.random.default_rng(11)

    def smooth(h, w, hi):
        return rng.integers(0, hi, (h // 16 + 1, w // 16 + 1)).repeat(16, 0).repeat(16, 1)[:h, :w]

    def noisy(h, w, hi):
        return np.where(rng.random((h, w)) < 0.3, rng.integers(0, hi, (h, w)), smooth(h, w, hi))

    def save(path, arr, mode=None):
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "P":
            im = Image.fromarray(arr.astype(np.uint8), "P")
            im.putpalette(rng.integers(0, 256, 768).tolist())
            im.save(path)
        elif mode == "1":
            Image.fromarray(arr.astype(bool)).save(path)
        elif mode == "I;16":
            Image.fromarray(arr.astype(np.uint16)).save(path)
        elif mode == "RGB":
            Image.fromarray(np.stack([arr.astype(np.uint8)] * 3, -1), "RGB").save(path)
        else:
            Image.fromarray(arr.astype(np.uint8), "L").save(path)

    kinds = [  # (gt shape, gt mode, pred mode, pred shape or None, fast path takes it)
        ((300, 517), "L", "L", None, True),  # stride 1
        ((701, 1103), "L", "L", None, True),  # stride 3, odd sizes
        ((600, 900), "P", "P", None, True),  # palette indices, stride 2
        ((520, 1030), "I;16", "I;16", None, True),  # 16-bit, stride 2
        ((480, 640), "L", "I;16", None, True),  # 8-bit GT, 16-bit prediction
        ((256, 384), "1", "L", None, False),  # 1-bit GT: read_label_map's
        ((256, 384), "L", "RGB", None, False),  # colour prediction: skipped
        ((256, 384), "L", "L", (256, 380), False),  # two sizes: skipped
        ((256, 384), "L", None, None, False),  # no prediction file: skipped
    ]
    pairs = []
    for i, (shape, gmode, pmode, pshape, _) in enumerate(kinds):
        hi = 2 if gmode == "1" else (3000 if gmode == "I;16" else 150)
        g = (noisy if i % 2 else smooth)(*shape, hi)
        gp, pp = tmp_path / "gt" / f"im_{i}.png", tmp_path / "pred" / f"im_{i}.png"
        save(gp, g, gmode)
        if pmode is not None:
            ps = pshape or shape
            save(pp, (noisy if i % 3 else smooth)(*ps, 3000 if pmode == "I;16" else 150), pmode)
        pairs.append((f"im_{i}", str(gp), str(pp)))

    fast = _pipeline.label_samples([p[1:] for p in pairs])
    assert [f is not None for f in fast] == [k[4] for k in kinds]
    expected = []
    for _, gp, pp in pairs:
        try:
            g, p = read_label_map(gp), read_label_map(pp)
        except Exception:  # noqa: BLE001  (the sample skips a pair its reader refuses)
            continue
        if g.shape == p.shape:
            s = max(1, int((g.size / 65536) ** 0.5))
            expected.append((g[::s, ::s], p[::s, ::s]))
    assert len(expected) == 6
    got = _auto_sample(pairs, len(pairs))
    assert len(got) == len(expected)
    for (g, p), (eg, ep) in zip(got, expected):
        assert g.dtype == eg.dtype and p.dtype == ep.dtype
        np.testing.assert_array_equal(g, eg)
        np.testing.assert_array_equal(p, ep)
    assert [g.shape for g, _ in got[:2]] == [(300, 517), (234, 368)]  # strides 1 and 3


def test_the_auto_sample_keeps_only_the_sampled_pixels(tmp_path):
    """The sample of large images holds its strided pixels, not the decoded maps: a strided
    view kept every decoded pair alive until the decision (8 Cityscapes-sized pairs: 32 MB,
    32 pairs when 8 do not decide)."""
    import tracemalloc

    from segmetrics.folders import _auto_sample

    rng = np.random.default_rng(5)
    shape = (512, 1024)
    gts = [rng.integers(0, K + 1, (shape[0] // 64, shape[1] // 64)).repeat(64, 0).repeat(64, 1).astype(np.uint8)
           for _ in range(8)]
    gt, pred = _write(tmp_path, "gt", gts), _write(tmp_path, "pred", gts)
    pairs = [(f"ADE_{i:03d}", gt / f"ADE_{i:03d}.png", pred / f"ADE_{i:03d}.png") for i in range(8)]
    tracemalloc.start()
    try:
        sample = _auto_sample(pairs, 8)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    one_pair = 2 * shape[0] * shape[1]
    assert len(sample) == 8
    for (g, p), full in zip(sample, gts):
        assert g.flags.owndata and p.flags.owndata and g.size <= 2 * 65536
        s = int((full.size / 65536) ** 0.5)
        assert np.array_equal(g, full[::s, ::s]) and np.array_equal(p, full[::s, ::s])
    kept = sum(g.nbytes + p.nbytes for g, p in sample)  # 8 x 2 x 128 kB (a stride of 2)
    assert held < 1.25 * kept + 65536  # not 8 decoded pairs (8 MB)
    assert peak < held + 3 * one_pair  # one decoded pair at a time
