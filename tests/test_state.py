"""States (fields declared once, add / merge / copy) and the run-state file (segmetrics.state)."""
from __future__ import annotations

import itertools
import json
import math
import zipfile

import numpy as np
import pytest

import segmetrics as sm
from segmetrics.errors import FormatError, InputError
from segmetrics.panoptic import ImageStats
from segmetrics.state import (
    FORMAT_NAME,
    FORMAT_VERSION,
    PanopticState,
    SemanticState,
    id_key,
    read_state_file,
    write_state_file,
)


def _semantic_images(rng, n, k=4):
    out = []
    for i in range(n):
        cm = rng.integers(0, 20, (k, k)).astype(np.int64)
        out.append((i if i % 3 else f"img{i}", cm))
    return out


def _stats(rng, image_id, k=3):
    m = int(rng.integers(0, 4))
    return ImageStats(image_id=image_id, tp=rng.integers(0, 3, k).astype(np.int64),
                      fp=rng.integers(0, 3, k).astype(np.int64), fn=rng.integers(0, 3, k).astype(np.int64),
                      match_cat=rng.integers(0, k, m).astype(np.int64), match_iou=0.5 + rng.random(m) / 2,
                      confusion_index=np.array([0, 5], np.int64), confusion_count=np.array([3, 4], np.int64),
                      warnings=[f"image {image_id!r}: note"] if rng.random() < 0.3 else [],
                      stuff_cat=rng.integers(0, k, m + 1).astype(np.int64), stuff_iou=rng.random(m + 1),
                      gt_segments=rng.integers(0, 3, k).astype(np.int64))


def _equal_arrays(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, np.ndarray):
            if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                return False
        elif x != y:
            return False
    return True


def test_fields_are_declared_once_with_reductions():
    for cls in (SemanticState, PanopticState):
        names = [f.name for f in cls.FIELDS]
        assert len(names) == len(set(names))
        for f in cls.FIELDS:
            assert f.reduce in ("sum", "cat") and f.group in ("counts", "per_image", "digest", "cells", "shard", "dagger",
                                                              "boundary", "boundary_image", "conventions")
            assert (f.reduce == "cat") == (bool(f.shape) and f.shape[0] in ("N", "M", "B", "P", "C", "V"))
            np.dtype(f.dtype)  # a real dtype
    st = SemanticState(3, per_image=True)
    assert st.confusion.shape == (3, 3) and st.image_tp.shape == (0, 3) and st.num_images == 0
    with pytest.raises(AttributeError):
        st.nothing  # noqa: B018


def test_semantic_merge_is_order_free_bit_for_bit():
    rng = np.random.default_rng(0)
    images = _semantic_images(rng, 9)
    whole = SemanticState(4, per_image=True)
    for image_id, cm in images:
        whole.add_image(cm, image_id=image_id)
    shards = []
    for part in (images[:2], images[2:5], images[5:6], images[6:]):
        s = SemanticState(4, per_image=True)
        for image_id, cm in part[::-1]:  # another insertion order too
            s.add_image(cm, image_id=image_id)
        shards.append(s)
    want = whole.to_arrays()
    assert want["image_ids"] == sorted(want["image_ids"], key=id_key)  # canonical order
    for order in itertools.permutations(range(4)):
        merged = shards[order[0]].copy()
        for j in order[1:]:
            merged.merge(shards[j])
        assert _equal_arrays(merged.to_arrays(), want)
    # associativity: (a + b) + (c + d) == a + (b + (c + d))
    left = shards[0].copy().merge(shards[1]).merge(shards[2].copy().merge(shards[3]))
    right = shards[0].copy().merge(shards[1].copy().merge(shards[2].copy().merge(shards[3])))
    assert _equal_arrays(left.to_arrays(), right.to_arrays())
    np.testing.assert_array_equal(whole.confusion, sum(cm for _, cm in images))
    np.testing.assert_array_equal(whole.image_tp.sum(0), np.diag(whole.confusion))


def test_semantic_void_column_and_missing_images():
    st = SemanticState(2, per_image=True)
    cm = np.array([[5, 1, 2], [0, 4, 0], [0, 0, 0]])  # column 2: void predictions
    st.add_image(cm, image_id="a")
    st.add_image(np.array([[0, 0, 3], [0, 0, 1], [0, 0, 0]]), image_id="b", missing=True)
    np.testing.assert_array_equal(st.confusion, [[5, 1], [0, 4]])
    assert st.void.tolist() == [2, 0] and st.missing.tolist() == [3, 1]
    assert st.image_fn.tolist() == [[3, 0], [3, 1]] and st.image_missing.tolist() == [False, True]
    with pytest.raises(InputError, match="duplicate image id"):
        st.add_image(np.eye(2, dtype=np.int64), image_id="a")
    with pytest.raises(InputError):
        st.add_image(np.eye(4, dtype=np.int64), image_id="c")


def test_panoptic_merge_matches_and_iou_sums_are_order_free():
    rng = np.random.default_rng(1)
    stats = [_stats(rng, i) for i in range(12)]
    whole = PanopticState(3, per_image=True)
    for s in stats:
        whole.add_image(s)
    parts = [stats[:3], stats[3:7], stats[7:]]
    shards = []
    for part in parts:
        st = PanopticState(3, per_image=True)
        for s in reversed(part):
            st.add_image(s)
        shards.append(st)
    want = whole.to_arrays()
    for order in itertools.permutations(range(3)):
        merged = shards[order[0]].copy()
        for j in order[1:]:
            merged.merge(shards[j])
        assert _equal_arrays(merged.to_arrays(), want)
    # dataset IoU sums: fsum per category; per image: fsum per image and category
    cat, iou = np.concatenate([s.match_cat for s in stats]), np.concatenate([s.match_iou for s in stats])
    for c in range(3):
        assert whole.iou_sum()[c] == math.fsum(iou[cat == c].tolist())
    per_image = whole.image_iou_sum()
    for j, image_id in enumerate(whole.image_ids):
        s = stats[image_id]
        for c in range(3):
            assert per_image[j, c] == math.fsum(s.match_iou[s.match_cat == c].tolist())
    assert whole.warnings == sorted(w for s in stats for w in s.warnings)
    # without per-image rows the matches are kept sorted by (category, IoU)
    flat = PanopticState(3)
    for s in stats:
        flat.add_image(s)
    assert np.all(np.diff(flat.match_cat) >= 0)


def test_merge_refusals():
    a, b = SemanticState(3, per_image=True), SemanticState(3, per_image=True)
    a.add_image(np.eye(3, dtype=np.int64), image_id=1)
    b.add_image(np.eye(3, dtype=np.int64), image_id=1)
    with pytest.raises(InputError, match="both states hold image ids 1"):
        a.merge(b)
    with pytest.raises(InputError, match="classes"):
        a.merge(SemanticState(4, per_image=True))
    with pytest.raises(InputError, match="per_image"):
        a.merge(SemanticState(3))
    with pytest.raises(InputError, match="PanopticState"):
        PanopticState(3).merge(SemanticState(3))
    with pytest.raises(InputError, match="itself"):
        a.merge(a)
    assert a.num_images == 1  # refused merges change nothing


def _saved_semantic(tmp_path, n=6):
    rng = np.random.default_rng(2)
    ev = sm.SemanticEvaluator(4, per_image=True, class_names=list("abcd"))
    for i in range(n):
        ev.update(rng.integers(0, 4, (5, 7)), rng.integers(0, 4, (5, 7)), image_id=f"im{i}")
    res = ev.compute()
    path = tmp_path / "run.smstate"
    res.save_state(path)
    return res, path


def test_state_file_round_trip_and_deterministic_bytes(tmp_path):
    res, path = _saved_semantic(tmp_path)
    back = sm.load_state(path)
    assert back.to_dict() == res.to_dict() and back.to_report() == res.to_report()
    assert back.metrics == res.metrics and back.params == res.params
    again = tmp_path / "again.smstate"
    back.save_state(again)
    assert again.read_bytes() == path.read_bytes()  # the same state gives the same bytes
    header, state = read_state_file(path)
    assert header["format"] == FORMAT_NAME and header["version"] == FORMAT_VERSION
    assert header["task"] == "semantic" and header["classes"]["names"] == list("abcd")
    with zipfile.ZipFile(path) as zf:
        assert all(n.endswith((".npy", ".json", ".sha256")) for n in zf.namelist())


def test_image_ids_are_kept_exactly(tmp_path):
    ev = sm.SemanticEvaluator(2, per_image=True)
    odd = "caf\udce9/x"  # a non-UTF-8 file name as os.fsdecode gives it
    for image_id in (3, "3", odd, "é"):
        ev.update(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8), image_id=image_id)
    path = tmp_path / "ids.smstate"
    ev.compute().save_state(path)
    ids = sm.load_state(path).state.image_ids
    assert ids == [3, "3", "caf\udce9/x", "é"] and isinstance(ids[0], int)


def _rewrite(path, out, change):
    """Copy a state file with ``change(members)`` applied (checksum kept as it was)."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    change(members)
    with zipfile.ZipFile(out, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return out


def test_bad_state_files_are_refused_with_one_line(tmp_path):
    _, path = _saved_semantic(tmp_path)
    data = path.read_bytes()
    cases = {}
    (tmp_path / "trunc.smstate").write_bytes(data[: len(data) // 2])
    cases["trunc.smstate"] = "not a complete zip"
    (tmp_path / "text.smstate").write_text("hello")
    cases["text.smstate"] = "not a complete zip"

    def magic(m):
        h = json.loads(m["header.json"])
        h["format"] = "something-else"
        m["header.json"] = json.dumps(h).encode()

    def newer(m):
        h = json.loads(m["header.json"])
        h["version"] = FORMAT_VERSION + 1
        m["header.json"] = json.dumps(h).encode()

    def counts(m):
        m["confusion.npy"] = m["confusion.npy"][:-8] + (7).to_bytes(8, "little")

    def drop(m):
        del m["image_tp.npy"]

    for name, change, match in (("magic.smstate", magic, "not a segmetrics run-state file"),
                                ("newer.smstate", newer, "version 2"),
                                ("tampered.smstate", counts, "checksum mismatch"),
                                ("partial.smstate", drop, "image_tp.npy is missing")):
        _rewrite(path, tmp_path / name, change)
        cases[name] = match
    np.save(tmp_path / "plain.npy", np.zeros(3))
    (tmp_path / "plain.npy").rename(tmp_path / "plain.smstate")
    cases["plain.smstate"] = "not a complete zip"
    for name, match in cases.items():
        with pytest.raises(FormatError, match=match) as exc:
            sm.load_state(tmp_path / name)
        assert "\n" not in str(exc.value) and name in str(exc.value)


def test_from_arrays_checks_shapes():
    st = SemanticState(3, per_image=True)
    st.add_image(np.eye(3, dtype=np.int64), image_id="a")
    arrays = st.to_arrays()
    arrays["image_tp"] = arrays["image_tp"][:, :2]
    with pytest.raises(InputError, match="image_tp"):
        SemanticState.from_arrays(3, arrays, groups=("counts", "per_image"))
    arrays = st.to_arrays()
    arrays["image_ids"] = ["a", "a"]
    with pytest.raises(InputError):
        SemanticState.from_arrays(3, arrays, groups=("counts", "per_image"))


def test_write_is_atomic_and_names_unwritable_paths(tmp_path):
    res, _ = _saved_semantic(tmp_path)
    with pytest.raises(InputError, match="cannot write the state file"):
        write_state_file(tmp_path / "no" / "such" / "dir" / "x.smstate", res.state, res.state_header())
    assert not list((tmp_path).glob("*.tmp*"))


def test_variant_matches_have_their_own_axis_and_never_go_with_cells(tmp_path):
    from segmetrics.conventions import PANOPTIC_VARIANTS

    for cls in (SemanticState, PanopticState):
        for f in cls.FIELDS:
            if f.reduce == "cat":
                assert (f.shape[0] == "V") == (f.group == "conventions"), f.name
                assert f.shape[0] != "C" or f.group == "cells", f.name
    with pytest.raises(InputError, match="cells"):
        PanopticState(3, per_image=True, cells=True, conventions=True)
    rng = np.random.default_rng(4)
    v = len(PANOPTIC_VARIANTS)
    st = PanopticState(3, per_image=True, conventions=True)
    for image_id in ("b", 2, "a"):
        s = _stats(rng, image_id)
        m = int(rng.integers(1, 5))
        s.variants = (rng.integers(0, 3, (v, 3)), rng.integers(0, 3, (v, 3)), rng.integers(0, 3, (v, 3)),
                      rng.integers(0, v, m), rng.integers(0, 3, m), 0.5 + rng.random(m) / 2)
        st.add_image(s)
    arrays = st.to_arrays()
    keys = list(zip(arrays["conv_match_var"].tolist(), arrays["conv_match_cat"].tolist(),
                    arrays["conv_match_iou"].tolist()))
    assert keys == sorted(keys) and len(keys) >= 3
    write_state_file(tmp_path / "v.smstate", st, {})
    with zipfile.ZipFile(tmp_path / "v.smstate") as zf:
        assert json.loads(zf.read("header.json"))["counts"]["conv_matches"] == len(keys)
    _, back = read_state_file(tmp_path / "v.smstate")
    assert _equal_arrays(back.to_arrays(), arrays)
    with pytest.raises(InputError, match="inconsistent"):
        PanopticState.from_arrays(3, arrays, groups=("counts", "dagger", "per_image", "cells", "conventions"))
    bad = dict(arrays, conv_match_var=np.full(len(keys), v, np.int64))
    with pytest.raises(InputError, match="variant"):
        PanopticState.from_arrays(3, bad, groups=st.groups)


def test_fingerprint_equals_its_definition_for_every_kind_of_id():
    """The documented definition, written plainly: SHA-256 over ``extra`` and, per image in
    canonical id order (integers by value, then the rest by text), the id's JSON text, a NUL
    byte and its 32-byte digest.  The fast paths (all plain ints, all strings) must agree."""
    import hashlib
    import json

    from segmetrics.state import fingerprint

    def plain(ids, digests, extra):
        def key(i):
            x = ids[i]
            is_int = isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))
            return (0, int(x), "") if is_int else (1, 0, str(x))
        h = hashlib.sha256(extra)
        for i in sorted(range(len(ids)), key=key):
            x = ids[i]
            x = int(x) if isinstance(x, np.integer) and not isinstance(x, np.bool_) else x
            x = x if isinstance(x, str) or (isinstance(x, int) and not isinstance(x, bool)) else str(x)
            d = digests[i]
            h.update(json.dumps(x).encode("ascii") + b"\0" + (d if isinstance(d, bytes) else d.tobytes()))
        return "sha256:" + h.hexdigest()

    rng = np.random.default_rng(2)
    cases = [rng.permutation(300).tolist(), [-4, 10**20, 0, 7], [f"img_{i:05d}" for i in rng.permutation(200)],
             ['a"b', "é", "x\\y", "tab\t", "line\u2028", "plain", "Z", "a/b c", ""],
             [1, "1", 2, np.int64(3), True, 2.5], [np.int64(5), 3], []]
    for ids in cases:
        digests = rng.integers(0, 256, (len(ids), 32), dtype=np.uint8)
        for d in (digests, [bytes(r) for r in digests]):
            assert fingerprint(ids, d, b"cats") == plain(ids, d, b"cats"), ids[:4]
