"""Ground-truth cache (segmetrics.gtcache): keys, invalidation, corruption, concurrency."""
from __future__ import annotations

import multiprocessing
import struct
import threading

import numpy as np
import pytest
from PIL import Image

from segmetrics import _pipeline, gtcache
from segmetrics.folders import evaluate_semantic_files
from segmetrics.gtcache import GTCache, default_cache_dir
from segmetrics.semantic import SemanticEvaluator

K = 5


def _payload(values, lengths):
    return np.asarray(values, "<u2").tobytes() + np.asarray(lengths, "<u2").tobytes()


def test_keys_follow_content_params_and_extra(tmp_path):
    a = GTCache(tmp_path, "semantic", b"p1")
    assert a.key(b"png") == a.key(b"png") == GTCache(tmp_path, "semantic", b"p1").key(b"png")
    keys = {a.key(b"png"), a.key(b"pnh"), a.key(b"png", b"ids"),
            GTCache(tmp_path, "semantic", b"p2").key(b"png"), GTCache(tmp_path, "panoptic", b"p1").key(b"png")}
    assert len(keys) == 5
    # the parts are length-prefixed: moving bytes between params and content changes the key
    assert GTCache(tmp_path, "s", b"ab").key(b"c") != GTCache(tmp_path, "s", b"a").key(b"bc")


def test_roundtrip_visible_after_close(tmp_path):
    c = GTCache(tmp_path, "semantic")
    key = c.key(b"x")
    assert c.get(key) is None
    assert c.put(key, _payload([3, 4], [2, 1]), 2, 3, 1)
    assert GTCache(tmp_path, "semantic").get(key) is None  # not published yet
    c.close()
    e = GTCache(tmp_path, "semantic").get(key)
    assert e.values.tolist() == [3, 4] and e.lengths.tolist() == [2, 1] and (e.width, e.height) == (3, 1)
    assert c.put(key, b"123", 2, 3, 1) is False  # payload of the wrong size
    assert c.clear() >= 2 and GTCache(tmp_path, "semantic").get(key) is None


def _two_entries(tmp_path, n):
    """A cache holding keys of b"1" and b"2": n runs of value 1, then of value 2."""
    c = GTCache(tmp_path, "semantic")
    k1, k2 = c.key(b"1"), c.key(b"2")
    c.put(k1, _payload([1] * n, [1] * n), n, n, 1)
    c.put(k2, _payload([2] * n, [1] * n), n, n, 1)
    c.close()
    return k1, k2


def test_corrupt_entry_or_index_is_a_miss(tmp_path):
    k1, k2 = _two_entries(tmp_path, 10)
    pack = next(tmp_path.glob("v*/*.pack"))
    data = bytearray(pack.read_bytes())
    data[70] ^= 0xFF  # inside the first entry's payload
    pack.write_bytes(bytes(data))
    r = GTCache(tmp_path, "semantic")
    assert r.get(k1) is None and r.bad_entries == 1
    assert r.get(k2).values.tolist() == [2] * 10
    idx = next(tmp_path.glob("v*/*.idx"))
    raw = bytearray(idx.read_bytes())
    raw[-1] ^= 1
    idx.write_bytes(bytes(raw))
    assert GTCache(tmp_path, "semantic").get(k2) is None  # index fails its CRC: ignored
    idx.write_bytes(b"")
    assert GTCache(tmp_path, "semantic").get(k2) is None


def test_unwritable_directory_never_fails(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    c = GTCache(blocker, "semantic")
    assert c.put(c.key(b"x"), _payload([1], [1]), 1, 1, 1) is False and c.write_errors == 1
    c.close()


def test_default_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "segmetrics"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir().parts[-2:] == (".cache", "segmetrics")


# ----------------------------------------------------------------------------- through the pipeline
def _make(tmp_path, n=6, seed=0):
    rng = np.random.default_rng(seed)
    (tmp_path / "gt").mkdir(exist_ok=True)
    (tmp_path / "pred").mkdir(exist_ok=True)
    pairs, arrays = [], []
    for i in range(n):
        h, w = int(rng.integers(2, 30)), int(rng.integers(1, 50))
        g = rng.integers(0, K, (h, w)).astype(np.uint8)
        g[: h // 2] = g[0, 0]
        g[rng.random((h, w)) < 0.1] = 255
        p = np.where(rng.random((h, w)) < 0.6, np.where(g == 255, 0, g), rng.integers(0, K, (h, w))).astype(np.uint8)
        Image.fromarray(g).save(tmp_path / "gt" / f"{i}.png")
        Image.fromarray(p).save(tmp_path / "pred" / f"{i}.png")
        pairs.append((str(i), tmp_path / "gt" / f"{i}.png", tmp_path / "pred" / f"{i}.png"))
        arrays.append((g, p))
    return pairs, arrays


def _oracle(arrays, gt_map=None):
    cm = np.zeros((K, K), np.int64)
    for g, p in arrays:
        g = g.astype(np.int64)
        if gt_map is not None:
            g = np.where(g == 255, 255, np.asarray(gt_map)[np.minimum(g, len(gt_map) - 1)])
        m = g != 255
        np.add.at(cm, (g[m], p[m].astype(np.int64)), 1)
    return cm


@pytest.fixture
def caches(monkeypatch):
    """Every GTCache the pipeline opens, to read its hit / miss counters."""
    made = []

    class Recording(GTCache):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)

    monkeypatch.setattr(_pipeline, "GTCache", Recording)
    return made


def _run(pairs, cache_dir, jobs=2, **kw):
    return evaluate_semantic_files(pairs, SemanticEvaluator(K, **kw), jobs=jobs, cache_dir=cache_dir).state.confusion


def test_cold_then_warm_hits_and_same_numbers(tmp_path, caches):
    pairs, arrays = _make(tmp_path)
    want = _oracle(arrays)
    np.testing.assert_array_equal(_run(pairs, tmp_path / "c"), want)
    assert caches[-1].misses == len(pairs) and caches[-1].writes == len(pairs)
    np.testing.assert_array_equal(_run(pairs, tmp_path / "c", jobs=1), want)
    assert caches[-1].hits == len(pairs) and caches[-1].writes == 0
    np.testing.assert_array_equal(_run(pairs, None), want)
    assert len(caches) == 2  # cache_dir=None: no cache at all


def test_changed_gt_file_and_changed_settings_invalidate(tmp_path, caches):
    pairs, arrays = _make(tmp_path)
    _run(pairs, tmp_path / "c")
    g = arrays[2][0].copy()
    g[0] = (g[0] + 1) % K
    Image.fromarray(g).save(pairs[2][1])
    arrays[2] = (g, arrays[2][1])
    np.testing.assert_array_equal(_run(pairs, tmp_path / "c"), _oracle(arrays))
    assert caches[-1].hits == len(pairs) - 1 and caches[-1].misses == 1
    gt_map = [4, 3, 2, 1, 0]
    np.testing.assert_array_equal(_run(pairs, tmp_path / "c", gt_map=gt_map), _oracle(arrays, gt_map))
    assert caches[-1].hits == 0
    np.testing.assert_array_equal(_run(pairs, tmp_path / "c", gt_map=gt_map), _oracle(arrays, gt_map))
    assert caches[-1].hits == len(pairs)


def test_corrupt_pack_recomputed_then_hit(tmp_path, caches):
    pairs, arrays = _make(tmp_path)
    _run(pairs, tmp_path / "c", jobs=1)
    pack = next((tmp_path / "c").glob("v*/*.pack"))
    data = bytearray(pack.read_bytes())
    for pos in range(100, len(data), 97):
        data[pos] ^= 0x55
    pack.write_bytes(bytes(data))
    np.testing.assert_array_equal(_run(pairs, tmp_path / "c"), _oracle(arrays))
    assert caches[-1].bad_entries > 0 and caches[-1].writes == caches[-1].misses
    np.testing.assert_array_equal(_run(pairs, tmp_path / "c"), _oracle(arrays))
    assert caches[-1].hits == len(pairs)


def test_stale_runs_are_recomputed(tmp_path, caches):
    """An entry whose runs do not tile the image (valid CRC) is a miss, never a wrong count."""
    pairs, arrays = _make(tmp_path, n=2)
    _run(pairs, tmp_path / "c", jobs=1)
    c = GTCache(tmp_path / "c", "semantic", b"")
    real = caches[-1]
    for key, locs in real._load_index().items():
        e = real.get(key)
        c.put(key, _payload(e.values, e.lengths[::-1] + 0), len(e.values), e.width + 1, e.height)
    c.close()
    np.testing.assert_array_equal(_run(pairs, tmp_path / "c"), _oracle(arrays))


def test_two_threads_write_the_same_entries(tmp_path, caches):
    pairs, arrays = _make(tmp_path, n=8)
    out, errors = [], []

    def go():
        try:
            out.append(_run(pairs, tmp_path / "c"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for cm in out:
        np.testing.assert_array_equal(cm, _oracle(arrays))
    np.testing.assert_array_equal(_run(pairs, tmp_path / "c"), _oracle(arrays))
    assert caches[-1].hits == len(pairs)


def _process_run(args):
    pairs, cache_dir = args
    return _run(pairs, cache_dir, jobs=2)


def test_two_processes_write_the_same_entries(tmp_path, caches):
    pairs, arrays = _make(tmp_path, n=8)
    ctx = multiprocessing.get_context("spawn" if not hasattr(multiprocessing, "get_all_start_methods")
                                      or "fork" not in multiprocessing.get_all_start_methods() else "fork")
    with ctx.Pool(2) as pool:
        results = pool.map(_process_run, [(pairs, tmp_path / "c")] * 2)
    for cm in results:
        np.testing.assert_array_equal(cm, _oracle(arrays))
    np.testing.assert_array_equal(_run(pairs, tmp_path / "c"), _oracle(arrays))
    assert caches[-1].hits == len(pairs) and caches[-1].bad_entries == 0


def test_header_layout_is_fixed():
    assert gtcache._HEADER.size == 64 and gtcache._IDX_ROW.size == 48
    assert struct.calcsize("<QI") == 12


# ----------------------------------------------------------------------------- issue 11 item 22
def test_22_a_file_in_the_way_turns_caching_off_with_one_note(tmp_path, caches):
    pairs, arrays = _make(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    np.testing.assert_array_equal(_run(pairs, blocker), _oracle(arrays))
    notes = caches[0].notes
    assert len(notes) == 1 and caches[0].write_errors == 1
    assert "ground-truth cache folder" in notes[0] and str(blocker) in notes[0] and "does not store" in notes[0]
    assert gtcache.probe_cache_dir(blocker) == notes[0]
    assert gtcache.probe_cache_dir(tmp_path / "fine") is None


# ----------------------------------------------------------------------------- issue 11 item 10
@pytest.mark.parametrize("offset,size", [(0, 1 << 62), (1 << 62, 100), (0, 10), (2**64 - 64, 128)])
def test_10_index_entry_that_does_not_fit_its_pack_is_a_miss(tmp_path, offset, size):
    key, good = _two_entries(tmp_path, 4)
    idx = next(tmp_path.glob("v*/*.idx"))
    rows = gtcache._read_index(idx)
    body = gtcache._IDX_ROW.pack(key, offset, size) + gtcache._IDX_ROW.pack(*rows[1])
    # a valid CRC over an absurd row: before, os.pread of 2^62 bytes raised MemoryError
    idx.write_bytes(gtcache._IDX_MAGIC + struct.pack("<QI", 2, gtcache._crc32(body)) + body)
    r = GTCache(tmp_path, "semantic")
    assert r.get(key) is None and r.misses == 1 and r.bad_entries == 1
    assert r.get(good).values.tolist() == [2] * 4
