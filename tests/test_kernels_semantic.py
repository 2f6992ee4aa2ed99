"""The semantic kernels against their NumPy twins (tests/oracles.py), on random maps.

Kernels: ``confusion.accumulate`` (arrays, every dtype pair and layout), the row walker
(``confusion.walk_runs``), ``folder_semantic.semantic_pair`` / ``semantic_cached``
(PNG files, recorded GT runs, per-image TP / FP / FN).
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import oracles
from segmetrics._kernels import folder, folder_semantic
from segmetrics._kernels.confusion import _pair_tables_clean, accumulate, walk_runs

DTYPES = [np.uint8, np.uint16, np.int32, np.int64]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def label_map(rng, h: int, w: int, values: np.ndarray, regime: str) -> np.ndarray:
    """Blobs (runs along rows and columns), salt noise on blobs, or uniform noise."""
    if regime == "noise":
        return rng.choice(values, (h, w))
    cells = rng.choice(values, (h // 4 + 1, w // 5 + 1))
    lab = np.repeat(np.repeat(cells, 4, 0), 5, 1)[:h, :w]
    lab = np.roll(lab, int(rng.integers(0, 5)), axis=1)
    if regime == "salt":
        m = rng.random((h, w)) < 0.1
        lab = np.where(m, rng.choice(values, (h, w)), lab)
    return lab


def code_tables(rng, k: int, n_gt: int, n_pred: int):
    """Random code tables: classes, ignored (-1, GT only) and bad (-2) entries."""
    gt = rng.integers(0, k, n_gt).astype(np.int32)
    gt[rng.random(n_gt) < 0.15] = -1
    gt[rng.random(n_gt) < 0.1] = -2
    pred = rng.integers(0, k, n_pred).astype(np.int32)
    pred[rng.random(n_pred) < 0.1] = -2
    return gt, pred


@st.composite
def array_pairs(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    h, w = draw(st.integers(1, 30)), draw(st.integers(1, 90))
    gdt, pdt = draw(st.sampled_from(DTYPES)), draw(st.sampled_from(DTYPES))
    regime = draw(st.sampled_from(["blobs", "salt", "noise"]))
    layout = draw(st.sampled_from(["C", "F", "sliced", "reversed", "mixed"]))
    k = draw(st.integers(1, 9))
    n_gt, n_pred = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    # values beyond the tables, and negative ones for the signed dtypes
    lo_g = -3 if np.issubdtype(gdt, np.signedinteger) else 0
    lo_p = -3 if np.issubdtype(pdt, np.signedinteger) else 0
    gvals = np.arange(lo_g, n_gt + 3)
    pvals = np.arange(lo_p, n_pred + 3)
    if gdt != np.uint8 and draw(st.booleans()):
        gvals = np.r_[gvals, 300, 40000 if gdt != np.int32 else -40000]
    g = label_map(rng, h, w, gvals, regime).astype(gdt)
    p = label_map(rng, h, w, pvals, regime).astype(pdt)
    if layout == "F":
        g, p = np.asfortranarray(g), np.asfortranarray(p)
    elif layout == "sliced":
        g = np.concatenate([g, g], axis=1)[:, :w]
        p = np.concatenate([p, p], axis=1)[:, w:]
    elif layout == "reversed":
        g, p = g[::-1, ::-1], p[:, ::-1]
    elif layout == "mixed":
        g = np.asfortranarray(g)
    gt_codes, pred_codes = code_tables(rng, k, n_gt, n_pred)
    has_ignore = draw(st.booleans())
    ignore = int(rng.choice(gvals))
    return g, p, gt_codes, pred_codes, k, has_ignore, ignore


@SETTINGS
@given(array_pairs())
def test_accumulate_equals_twin(case):
    g, p, gt_codes, pred_codes, k, has_ignore, ignore = case
    cm = np.zeros((k, k), np.int64)
    cm[0, 0] = 5  # counts are added to what is there
    bad = accumulate(cm, g, p, gt_codes, pred_codes, has_ignore, ignore)
    want, bad_gt, bad_pred = oracles.confusion(g, p, gt_codes, pred_codes, k, has_ignore, ignore)
    want[0, 0] += 5
    np.testing.assert_array_equal(cm, want)
    assert bad == (bad_gt, bad_pred)


@SETTINGS
@given(array_pairs())
def test_row_walker_equals_twin(case):
    g, p, gt_codes, pred_codes, k, has_ignore, ignore = case
    for gr, pr in zip(g[:3], p[:3]):
        gr, pr = np.ascontiguousarray(gr), np.ascontiguousarray(pr)
        got = [(a, None if a == -1 else b, n) for a, b, n in walk_runs(gr, pr, gt_codes, pred_codes, has_ignore,
                                                                        ignore).tolist()]
        assert got == oracles.row_runs(gr, pr, gt_codes, pred_codes, has_ignore, ignore)


def test_row_walker_long_rows_and_read_ahead():
    """Rows long enough for the vector compares, changes at every offset near the end
    (the last 32 bytes of an array are compared one pixel at a time)."""
    codes = np.arange(8, dtype=np.int32)
    for dt in DTYPES:
        for n in (1, 2, 15, 16, 17, 31, 32, 33, 64, 65, 200):
            for at in range(max(0, n - 40), n):
                g = np.zeros(n, dt)
                g[at:] = 3
                p = np.ones(n, dt)
                p[(at * 7) % n] = 2
                got = [tuple(r) for r in walk_runs(g, p, codes, codes).tolist()]
                assert got == oracles.row_runs(g, p, codes, codes), (dt, n, at)


# ----------------------------------------------------------------------------- PNG files
def png(arr: np.ndarray, mode: str) -> bytes:
    b = io.BytesIO()
    if mode == "I;16":
        Image.fromarray(arr.astype(np.uint16)).save(b, format="PNG")
    elif mode == "P":
        im = Image.fromarray(arr.astype(np.uint8), "L").convert("P")
        im.putpalette([c for i in range(256) for c in (i, 255 - i, 7)])
        im.save(b, format="PNG")
    else:
        Image.fromarray(arr.astype(np.uint8), "L").save(b, format="PNG")
    return b.getvalue()


@st.composite
def file_pairs(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 80))
    gmode, pmode = draw(st.sampled_from(["L", "I;16", "P"])), draw(st.sampled_from(["L", "I;16", "P"]))
    regime = draw(st.sampled_from(["blobs", "salt", "noise"]))
    k = draw(st.integers(1, 9))
    top = 255 if gmode != "I;16" else 70000
    gvals = np.array([0, 1, 2, 3, 4, 5, 6, 200, 255] + ([1000, 65535] if gmode == "I;16" else []))
    pvals = np.array([0, 1, 2, 3, 4, 5, 6, 9] + ([60000] if pmode == "I;16" else []))
    g = label_map(rng, h, w, gvals[gvals < top], regime)
    p = label_map(rng, h, w, pvals, regime)
    gt_codes, pred_codes = code_tables(rng, k, 65536, 65536)
    if draw(st.booleans()):  # mostly valid labels: scored images, not only the bad-label path
        gt_codes[gt_codes == -2] = 0
        pred_codes[pred_codes == -2] = 1 % k
    return png(g, gmode), png(p, pmode), gt_codes, pred_codes, k


def check_semantic_pair(gt, pred, gt_codes, pred_codes, k, per_image, record):
    """semantic_pair on two files against the twin: the counts and the image's vectors,
    or, with bad labels, the bad counts up to the first row that has one (where the
    kernel stops).  Returns the Scratch and the twin's (cm, bad_gt, bad_pred, tp, fp, fn)."""
    want = oracles.semantic_file_pair(gt, pred, gt_codes, pred_codes, k)
    s = folder.Scratch()
    cm = np.zeros((k, k), np.int64)
    vec = tuple(np.zeros(k, np.int64) for _ in range(3)) if per_image else (None, None, None)
    status = folder_semantic.semantic_pair(s, gt, pred, cm, gt_codes, pred_codes, record, *vec)
    if want[1] or want[2]:
        g, p = oracles.decode(gt), oracles.decode(pred)
        r = next(r for r in range(g.shape[0]) if any(oracles.confusion(g[r], p[r], gt_codes, pred_codes, k)[1:]))
        _, bg, bp = oracles.confusion(g[:r + 1], p[:r + 1], gt_codes, pred_codes, k)
        assert status == 1 and s.message == "bad labels" and (s.bad_gt, s.bad_pred) == (bg, bp)
        return s, want
    assert status == 0 and (s.bad_gt, s.bad_pred) == (0, 0)
    np.testing.assert_array_equal(cm, want[0])
    for got, w in zip(vec if per_image else (), want[3:]):
        np.testing.assert_array_equal(got, w)
    return s, want


@SETTINGS
@given(file_pairs(), st.booleans())
def test_semantic_file_kernels_equal_twin(case, per_image):
    gt, pred, gt_codes, pred_codes, k = case
    s, (cm_w, bad_gt, bad_pred, tp_w, fp_w, fn_w) = check_semantic_pair(gt, pred, gt_codes, pred_codes, k, per_image,
                                                                        True)
    if bad_gt or bad_pred:
        return
    # the recorded GT runs, then the same counts from them
    values, lengths = oracles.gt_code_runs(oracles.decode(gt), gt_codes)
    rec = np.frombuffer(s.record(), dtype="<u2")
    assert s.n_runs == values.size and (s.width, s.height) == oracles.decode(gt).shape[::-1]
    np.testing.assert_array_equal(rec[:s.n_runs], values)
    np.testing.assert_array_equal(rec[s.n_runs:], lengths)
    cm2 = np.zeros((k, k), np.int64)
    vec2 = tuple(np.zeros(k, np.int64) for _ in range(3)) if per_image else (None, None, None)
    assert folder_semantic.semantic_cached(s, values, lengths, s.width, s.height, pred, cm2, pred_codes, *vec2) == 0
    np.testing.assert_array_equal(cm2, cm_w)
    for got, want in zip(vec2 if per_image else (), (tp_w, fp_w, fn_w)):
        np.testing.assert_array_equal(got, want)


def test_semantic_file_kernels_long_runs_are_split():
    """A row longer than 65535 pixels of one code: recorded as runs of at most 65535."""
    g = np.zeros((2, 70000), np.uint8)
    g[1, 5:] = 1
    codes = np.zeros(65536, np.int32)
    codes[1] = 1
    s = folder.Scratch()
    cm = np.zeros((2, 2), np.int64)
    assert folder_semantic.semantic_pair(s, png(g, "L"), png(g, "L"), cm, codes, codes, True) == 0
    values, lengths = oracles.gt_code_runs(g, codes)
    assert lengths.tolist() == [65535, 70000 - 65535, 5, 65535, 70000 - 5 - 65535]
    rec = np.frombuffer(s.record(), dtype="<u2")
    np.testing.assert_array_equal(rec, np.r_[values, lengths])
    np.testing.assert_array_equal(cm, [[70005, 0], [0, 69995]])


@pytest.mark.parametrize("change", ["short", "long", "value", "empty run"])
def test_semantic_cached_runs_that_do_not_fit_are_stale(change):
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) % 3
    codes = np.arange(65536, dtype=np.int32) % 3
    values, lengths = oracles.gt_code_runs(g, codes)
    if change == "short":
        values, lengths = values[:-1], lengths[:-1]
    elif change == "long":
        lengths = lengths.copy()
        lengths[-1] += 1
    elif change == "value":
        values = values.copy()
        values[0] = 3 + 2  # beyond K + 1
    else:
        values, lengths = np.r_[values, 2].astype(np.uint16), np.r_[lengths, 0].astype(np.uint16)
    cm = np.zeros((3, 3), np.int64)
    s = folder.Scratch()
    assert folder_semantic.semantic_cached(s, values, lengths, 4, 3, png(g, "L"), cm, codes) == 2
    assert not cm.any() and not s.counted


# ----------------------------------------------------------------------------- the pair table
def patchwork(rng, h: int, w: int, values: np.ndarray) -> np.ndarray:
    """8-bit rows made of stretches of random length whose runs are 1, 2, 3, 5, 12 pixels
    or the whole stretch long, each stretch of a few of the values: blocks of 64 pixels
    with no change, a few, many or one at every pixel, so the walker switches between
    looking up codes, counting raw runs in the pair table and counting every pixel there,
    at every offset, with table windows of a few rows and columns."""
    out = np.empty((h, w), np.uint8)
    for y in range(h):
        x = 0
        while x < w:
            n = int(rng.integers(1, 160))
            run = int(rng.choice([1, 2, 3, 5, 12, n]))
            few = rng.choice(values, min(values.size, int(rng.integers(1, 4))), replace=False)
            seg = np.repeat(rng.choice(few, n // run + 1), run)[:n]
            out[y, x:x + n] = seg[:w - x]
            x += n
    return out


@st.composite
def wide_u8_pairs(draw):
    """Two 8-bit maps of rows at least 64 pixels wide, values spread over 0..255, code
    tables of 256 entries with ignored and (sometimes) bad entries."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    h, w = draw(st.integers(1, 5)), draw(st.integers(64, 300))
    k = draw(st.integers(1, 9))
    gvals = rng.choice(256, int(rng.integers(1, 30)), replace=False)
    pvals = rng.choice(256, int(rng.integers(1, 30)), replace=False)
    g, p = patchwork(rng, h, w, gvals), patchwork(rng, h, w, pvals)
    bad = draw(st.sampled_from([0.0, 0.0, 0.03]))
    gt_codes = rng.integers(0, k, 256).astype(np.int32)
    gt_codes[rng.random(256) < 0.2] = -1
    gt_codes[rng.random(256) < bad] = -2
    pred_codes = rng.integers(0, k, 256).astype(np.int32)
    pred_codes[rng.random(256) < bad] = -2
    if draw(st.booleans()):  # prediction codes that are the value plus a constant (the fold's vector loop)
        lo = int(rng.integers(0, 256))
        pred_codes[lo:lo + k] = np.arange(min(k, 256 - lo))
    return g, p, gt_codes, pred_codes, k


@SETTINGS
@given(wide_u8_pairs(), st.sampled_from(["C", "sliced"]), st.sampled_from([2**31, 1, 63, 64, 200, 4097]))
def test_pair_table_equals_twin(case, layout, fold_every):
    """Busy 8-bit rows are counted as raw pairs and folded: the same matrix and bad counts,
    also when the table is folded every few pixels (arrays walked in pieces)."""
    check_pair_table(case, layout, fold_every)


def test_blocks_of_every_change_count_equal_twin():
    """Rows whose 64-pixel blocks have exactly 0, 1, ..., 64 changes of their pair (a
    dominant pair with salt, as a blob under 30 % noise), in shuffled order: the walker
    counts each block by its number of changes (codes looked up, raw runs in the pair
    table, or every pixel), so every count on both sides of each threshold is met."""
    from segmetrics._kernels import confusion

    rng = np.random.default_rng(17)
    rows_g, rows_p = [], []
    for _ in range(6):
        counts = rng.permutation(65)
        g = np.empty(65 * 64, np.uint8)
        p = np.empty(65 * 64, np.uint8)
        for b, c in enumerate(counts):
            seg_g = np.full(64, rng.integers(1, 151), np.uint8)
            seg_p = np.full(64, max(int(seg_g[0]) - 1, 0), np.uint8)
            # c changes: pixels where the pair differs from the pixel before (the block's
            # first pixel compares with the last one of the block before)
            where = np.sort(rng.choice(64, c, replace=False))
            cur_g, cur_p = (g[b * 64 - 1], p[b * 64 - 1]) if b else (seg_g[0], seg_p[0])
            for i in range(64):
                if i in set(where.tolist()):
                    ng, np_ = cur_g, cur_p
                    while (ng, np_) == (cur_g, cur_p):
                        ng = np.uint8(rng.integers(0, 151)) if rng.random() < 0.3 else seg_g[0]
                        np_ = np.uint8(rng.integers(0, 150))
                    cur_g, cur_p = ng, np_
                seg_g[i], seg_p[i] = cur_g, cur_p
            g[b * 64:(b + 1) * 64], p[b * 64:(b + 1) * 64] = seg_g, seg_p
        rows_g.append(g)
        rows_p.append(p)
    g, p = np.stack(rows_g), np.stack(rows_p)
    changes = (g[:, 1:] != g[:, :-1]) | (p[:, 1:] != p[:, :-1])  # at pixels 1 ..
    per_block = changes[:, 63:].reshape(6, 64, 64).sum(axis=2)  # blocks 1 .. 64 of each row
    assert len(set(per_block.ravel().tolist())) >= 64  # (of the 65 counts 0 .. 64)
    gt_codes = np.full(256, -2, np.int32)
    gt_codes[0] = -1
    gt_codes[1:151] = np.arange(150)
    pred_codes = np.full(256, -2, np.int32)
    pred_codes[:150] = np.arange(150)
    cm = np.zeros((150, 150), np.int64)
    bad = accumulate(cm, g, p, gt_codes, pred_codes, False, 0)
    want, bad_gt, bad_pred = oracles.confusion(g, p, gt_codes, pred_codes, 150)
    np.testing.assert_array_equal(cm, want)
    assert bad == (bad_gt, bad_pred) == (0, 0)
    assert confusion._pair_tables_clean()


def check_pair_table(case, layout="C", fold_every=2**31):
    from segmetrics._kernels import confusion

    g, p, gt_codes, pred_codes, k = case
    if layout == "sliced":  # row by row
        g = np.concatenate([g, g], axis=1)[:, :g.shape[1]]
        p = np.concatenate([p, p], axis=1)[:, p.shape[1]:]
    cm = np.zeros((k, k), np.int64)
    old = confusion._set_fold_every(fold_every)
    try:
        bad = accumulate(cm, g, p, gt_codes, pred_codes, False, 0)
    finally:
        confusion._set_fold_every(old)
    want, bad_gt, bad_pred = oracles.confusion(g, p, gt_codes, pred_codes, k)
    np.testing.assert_array_equal(cm, want)
    assert bad == (bad_gt, bad_pred)
    assert confusion._pair_tables_clean()  # nothing left for the next call to count


def test_pair_table_is_left_clean():
    """A prediction that changes inside an ignored GT run, then a busy block: the table
    is left zeroed for the next call, whose code tables count what the first dropped."""
    w = 256
    g = np.full((1, w), 1, np.uint8)
    g[0, :128] = 9
    p = np.zeros((1, w), np.uint8)
    p[0, 0], p[0, 1:64] = 200, 5
    p[0, 64:] = np.arange(w - 64) % 4
    gt_codes, pred_codes = np.zeros(256, np.int32), np.zeros(256, np.int32)
    gt_codes[9], gt_codes[1] = -1, 1
    pred_codes[:4] = [0, 1, 0, 1]
    cm = np.zeros((2, 2), np.int64)
    assert accumulate(cm, g, p, gt_codes, pred_codes, False, 0) == (0, 0)
    assert cm.tolist() == [[0, 0], [64, 64]]
    assert _pair_tables_clean()
    g2 = np.full((1, w), 9, np.uint8)
    g2[0, 1::3] = 1
    p2 = np.zeros((1, w), np.uint8)
    p2[0, ::2] = 200
    gt2, pred2 = np.zeros(256, np.int32), np.zeros(256, np.int32)
    pred2[200] = 1
    cm2 = np.zeros((2, 2), np.int64)
    accumulate(cm2, g2, p2, gt2, pred2, False, 0)
    np.testing.assert_array_equal(cm2, oracles.confusion(g2, p2, gt2, pred2, 2)[0])
    assert cm2.tolist() == [[128, 128], [0, 0]]


@SETTINGS
@given(wide_u8_pairs(), st.sampled_from(["L", "P"]), st.sampled_from(["L", "P"]), st.booleans())
def test_semantic_file_kernels_pair_table_equal_twin(case, gmode, pmode, per_image):
    """The folder kernels on busy 8-bit files, not recording (the pair table): counts,
    per-image vectors and the bad-label rule (counts up to the first row with one);
    then the same prediction against the GT's cached runs."""
    check_file_kernels(case, gmode, pmode, per_image)


def check_file_kernels(case, gmode="L", pmode="L", per_image=False):
    g, p, gt8, pred8, k = case
    gt_codes, pred_codes = np.full(65536, -2, np.int32), np.full(65536, -2, np.int32)
    gt_codes[:256], pred_codes[:256] = gt8, pred8
    gt, pred = png(g, gmode), png(p, pmode)
    g, p = oracles.decode(gt), oracles.decode(pred)
    s, (cm_w, bad_gt, bad_pred, tp_w, fp_w, fn_w) = check_semantic_pair(gt, pred, gt_codes, pred_codes, k, per_image,
                                                                        False)
    values, lengths = oracles.gt_code_runs(g, gt_codes)
    cm2 = np.zeros((k, k), np.int64)
    vec2 = tuple(np.zeros(k, np.int64) for _ in range(3)) if per_image else (None, None, None)
    status = folder_semantic.semantic_cached(s, values, lengths, g.shape[1], g.shape[0], pred, cm2, pred_codes,
                                             *vec2)
    # the cached path counts the whole image, bad labels included
    assert status == (1 if bad_gt or bad_pred else 0) and (s.bad_gt, s.bad_pred) == (bad_gt, bad_pred)
    np.testing.assert_array_equal(cm2, cm_w)
    for got, want in zip(vec2 if per_image else (), (tp_w, fp_w, fn_w)):
        np.testing.assert_array_equal(got, want)
    assert folder_semantic._pair_tables_clean()


def test_rows_wider_than_a_chunk_of_blocks():
    """The walker finds the change masks of 32 blocks (2,048 pixels) before it visits the
    blocks that have a change: rows of one, two and three such chunks, with a busy block
    (a change at every pixel) ending just before a chunk boundary, followed by a change
    at the boundary or by blocks without any; arrays, files and cached GT runs."""
    rng = np.random.default_rng(2048)
    chunk = 32 * 64
    for w in (chunk - 1, chunk, chunk + 1, 2 * chunk + 77, 3 * chunk):
        gvals = rng.choice(256, 12, replace=False)
        pvals = rng.choice(256, 12, replace=False)
        g, p = patchwork(rng, 4, w, gvals), patchwork(rng, 4, w, pvals)
        for y, gap in ((0, 0), (1, 64), (2, 128), (3, 130)):  # busy block, then `gap` pixels alike
            if w < chunk + gap + 40:
                continue
            g[y, chunk - 64:chunk] = np.resize(gvals[:2], 64)
            p[y, chunk - 64:chunk] = np.resize(pvals[:3], 64)
            g[y, chunk - 1:chunk + gap] = gvals[5]
            p[y, chunk - 1:chunk + gap + 40] = pvals[5]
            g[y, chunk + gap:chunk + gap + 40] = gvals[6]  # a GT change at pixel chunk + gap
        gt_codes = rng.integers(0, 5, 256).astype(np.int32)
        gt_codes[rng.random(256) < 0.2] = -1
        pred_codes = rng.integers(0, 5, 256).astype(np.int32)
        case = (g, p, gt_codes, pred_codes, 5)
        check_pair_table(case)
        check_pair_table(case, "sliced", 4097)
        check_file_kernels(case, "L", "L", True)
        check_file_kernels(case, "P", "L", False)
        for gr, pr in zip(g, p):
            gr, pr = np.ascontiguousarray(gr), np.ascontiguousarray(pr)
            got = [(a, None if a == -1 else b, n) for a, b, n in walk_runs(gr, pr, gt_codes, pred_codes).tolist()]
            assert got == oracles.row_runs(gr, pr, gt_codes, pred_codes)


def test_the_walkers_bit_count_equals_python():
    """The walker picks its counting per 64-pixel block by the number of changes in it
    (a bit count, inline where the compiler has no popcount instruction)."""
    from segmetrics._kernels.confusion import _popcount64

    rng = np.random.default_rng(0)
    values = [0, 1, 2**63, 2**64 - 1, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA, 0x0101010101010101]
    values += [int(v) for v in rng.integers(0, 2**63, 2000, dtype=np.uint64)]
    values += [int(v) << 1 | 1 for v in rng.integers(0, 2**63, 200, dtype=np.uint64)]
    sparse = [sum(1 << int(b) for b in rng.choice(64, int(k), replace=False)) for k in rng.integers(0, 65, 500)]
    for v in values + sparse:
        assert _popcount64(v) == bin(v).count("1")
