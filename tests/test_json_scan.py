"""The compiled scanner of COCO panoptic JSON files (``sm_json.h``) against the general way
(orjson or json into dicts, then ``dataset_from_dict``).

For every document, well formed or not: the same dataset (annotations, categories,
images, segment columns bit for bit) or the same error line.  The scanner may decline a
document (the general way then reads it), but must take what common writers produce.
Datasets loaded through it parse annotation dicts only when asked, score like dicts when
edited, and pickle.
"""
from __future__ import annotations

import json
import math
import pickle

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmetrics import PanopticEvaluator
from segmetrics._kernels.panoptic import scan_panoptic_json
from segmetrics.errors import FormatError
from segmetrics.folders import evaluate_panoptic_files, evaluate_panoptic_folders
from segmetrics.io.coco_panoptic import (
    MAX_RGB_ID,
    NOT_READ,
    LazyAnnotations,
    dataset_from_dict,
    load_panoptic_json,
    parse_json_bytes,
)
from test_panoptic import CATEGORIES, make_dataset, write_coco


# ------------------------------------------------------------------------------------------
# the two ways, side by side
# ------------------------------------------------------------------------------------------

def _general(raw: bytes, path):
    """What load_panoptic_json gives without the scanner: ("ok", dataset) or ("error", line)."""
    try:
        data = parse_json_bytes(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return "error", f"{path}: not valid JSON ({exc})"
    try:
        return "ok", dataset_from_dict(data, path=path, require_categories=True)
    except FormatError as exc:
        return "error", str(exc)


def _loaded(path):
    try:
        return "ok", load_panoptic_json(path, require_categories=True)
    except FormatError as exc:
        return "error", str(exc)


def _same_columns(a, b):
    """Equal segment columns for every image (float columns bit for bit: -0.0 and NaN too)."""
    assert list(a.annotations) == list(b.annotations)
    for image_id in b.annotations:
        ca, cb = a.columns.get(image_id), b.columns.get(image_id)
        assert (ca is None) == (cb is None), image_id
        if cb is None:
            continue
        for x, y in zip(ca[1:], cb[1:]):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), image_id


def _same_dataset(a, b):
    _same_columns(a, b)  # before any annotation is parsed
    assert a.path == b.path and a.folder == b.folder
    assert a.categories == b.categories and a.images == b.images
    for image_id in b.annotations:
        assert json.dumps(a.annotations[image_id]) == json.dumps(b.annotations[image_id])
    _same_columns(a, b)  # and after


# ------------------------------------------------------------------------------------------
# random documents, rendered in many spellings
# ------------------------------------------------------------------------------------------

_STRINGS = ["a", "00000139.png", "é/ü.png", "日本", "😀", 'x"y\\z', "\u2028", "\x7f", "tab\tnl\n", "", "/",
            "\ud800"]  # the last: a lone surrogate, only ever written as an escape
_SEG_POOL = {
    "id": [1, 2, 3, 7, 2**24 - 1, 0, -4, 2**24, True, 2.0, "5", None, 2**63, 2**70],
    "category_id": [1, 3, 20, -3, 2**62, 2**63 - 1, 2**63, 2**70, 1.0, None, True, "1"],
    "iscrowd": [0, 1, True, False, 1.0, 2, -1, "1", None, [1]],
    "area": [0, 5, 2.5, -0.0, 2**53 + 1, 2**63 + 7, 10**400, -1, 5e-324, 1e308, math.nan, math.inf, True, "3",
             None, 0.1],
    "bbox": [[1, 2, 3, 4], [], [0.5, -1e-3, 1e2, 3]],
    "score": [0.9, "é", {"nested": [1, {"k": None}]}],
}


class _Writer:
    def __init__(self, rnd):
        self.r = rnd

    def ws(self) -> str:
        return self.r.choice(["", " ", "\n", "\t", "\r\n  "]) if self.r.random() < 0.3 else ""

    def string(self, s: str, key: bool = False) -> str:
        out = ['"']
        for ch in s:
            k = self.r.random()
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or 0xD800 <= ord(ch) <= 0xDFFF:
                out.append(self.r.choice(["\\u%04x" % ord(ch), "\\u%04X" % ord(ch)]) if ch not in "\t\n" or k < .5
                           else {"\t": "\\t", "\n": "\\n"}[ch])
            elif k < (0.002 if key else 0.05):
                cp = ord(ch)
                if cp > 0xFFFF:
                    cp -= 0x10000
                    out.append("\\u%04x\\u%04x" % (0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)))
                else:
                    out.append("\\u%04X" % cp)
            elif ch == "/" and k < 0.1:
                out.append("\\/")
            else:
                out.append(ch)
        return "".join(out) + '"'

    def number(self, v) -> str:
        if isinstance(v, float):
            if v != v:
                return "NaN"
            if math.isinf(v):
                return "Infinity" if v > 0 else "-Infinity"
            return self.r.choice([repr(v), "%.17g" % v, "%.17e" % v, "%.3E" % v])
        forms = [str(v)]
        if v == 0:
            forms.append("-0")
        if self.r.random() < 0.01:
            forms += [f"{v}.0", f"{v}e0", f"{v}E+00"]
        return self.r.choice(forms)

    def value(self, v) -> str:
        if v is None:
            return "null"
        if v is True or v is False:
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return self.number(v)
        if isinstance(v, str):
            return self.string(v)
        if isinstance(v, list):
            return "[" + ",".join(self.ws() + self.value(x) + self.ws() for x in v) + "]"
        items = list(v.items())
        if items and self.r.random() < 0.01:  # a key given twice: the last value counts
            k, _ = self.r.choice(items)
            items.insert(0, (k, self.r.choice(_SEG_POOL["score"])))
        return "{" + ",".join(self.ws() + self.string(k, key=True) + self.ws() + ":" + self.ws() + self.value(x)
                              + self.ws() for k, x in items) + "}"


def _segment(r, sid: int) -> dict:
    """A segment: mostly common values (unique ids), now and then one from the pool of odd ones."""
    seg = {}
    for key, pool in _SEG_POOL.items():
        if r.random() < (0.98 if key in ("id", "category_id") else 0.6):
            common = {"id": sid, "category_id": r.choice([1, 3, 20]), "iscrowd": r.choice([0, 1, True, False]),
                      "area": r.choice([r.randint(0, 10**6), r.random() * 1e4, None])}
            seg[key] = common[key] if key in common and r.random() < 0.96 else r.choice(pool)
    keys = list(seg)
    r.shuffle(keys)
    return {k: seg[k] for k in keys}


def _document(r) -> bytes:
    anns = []
    for j in range(r.randint(0, 5)):
        ann = {"image_id": r.choice([j, 10**6 + j, f"img{j}", f"img{j}", r.choice(_STRINGS), 2**63, 1.5, None, [j]])
               if r.random() < 0.2 else j,
               "file_name": r.choice(_STRINGS) if r.random() < 0.3 else f"{j:08d}.png",
               "segments_info": [_segment(r, r.choice([i + 1, 5 * i + 2])) for i in range(r.randint(0, 5))]}
        if r.random() < 0.1:
            ann["extra"] = r.choice(_SEG_POOL["score"])
        for key in ("image_id", "file_name", "segments_info"):
            if r.random() < 0.01:
                del ann[key]
            elif r.random() < 0.01:
                ann[key] = r.choice([7, "x", None, {}, []])
        keys = list(ann)
        r.shuffle(keys)
        anns.append({k: ann[k] for k in keys})
    doc = {"info": {"description": r.choice(_STRINGS)}, "licenses": [], "annotations": anns,
           "categories": CATEGORIES if r.random() < 0.95 else r.choice([None, [{"id": 1}], "x"]),
           "images": [{"id": a.get("image_id"), "file_name": "x.jpg"} for a in anns if isinstance(a, dict)]}
    keys = list(doc)
    r.shuffle(keys)
    w = _Writer(r)
    text = w.ws() + w.value({k: doc[k] for k in keys}) + w.ws()
    raw = text.encode("utf-8", "surrogatepass")
    if r.random() < 0.05:  # damage
        i = r.randrange(len(raw) + 1)
        raw = r.choice([raw[:i] + raw[i + 1:], raw[:i] + b"," + raw[i:], raw[:i] + b"\x00" + raw[i:],
                        raw[:i] + b"\xff" + raw[i:], b"\xef\xbb\xbf" + raw, raw + b" x", raw[:i] + b"01" + raw[i:]])
    return raw


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1))
def test_scanner_gives_the_general_ways_dataset_or_error(tmp_path, seed):
    import random

    raw = _document(random.Random(seed))
    path = tmp_path / "doc.json"
    path.write_bytes(raw)
    want, got = _general(raw, path), _loaded(path)
    assert got[0] == want[0], (got, want)
    if want[0] == "error":
        assert got[1] == want[1]
    else:
        _same_dataset(got[1], want[1])


def test_scanner_takes_what_common_writers_write(tmp_path):
    """Files as json / orjson write them (compact, indented, non-ASCII) go through the scanner."""
    import random

    r = random.Random(5)
    anns = [{"segments_info": [{"id": i + 1, "category_id": 3, "iscrowd": i % 2, "bbox": [1, 2, 3, 4],
                                "area": 10 * i + 0.5}, {"id": 90 + i, "category_id": 20, "area": 7}],
             "file_name": f"é{i}.png", "image_id": i if i % 2 else f"im{i}"} for i in range(20)]
    doc = {"info": {"v": "ü"}, "images": [], "annotations": anns, "categories": CATEGORIES}
    for raw in (json.dumps(doc).encode(), json.dumps(doc, indent=2).encode(),
                json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode(), orjson.dumps(doc),
                orjson.dumps(doc, option=orjson.OPT_INDENT_2)):
        assert scan_panoptic_json(raw, MAX_RGB_ID) is not None
        path = tmp_path / f"w{r.random()}.json"
        path.write_bytes(raw)
        ds = load_panoptic_json(path, require_categories=True)
        assert isinstance(ds.annotations, LazyAnnotations)
        _same_dataset(ds, _general(raw, path)[1])


def test_real_coco_sample_is_scanned(shared_data):
    path = shared_data / "coco_panoptic_sample" / "sample_data" / "panoptic_examples.json"
    raw = path.read_bytes()
    assert scan_panoptic_json(raw, MAX_RGB_ID) is not None
    ds = load_panoptic_json(path)
    assert isinstance(ds.annotations, LazyAnnotations) and len(ds.annotations) == 2
    _same_dataset(ds, dataset_from_dict(parse_json_bytes(raw), path=path))


@pytest.mark.parametrize("raw", [
    b'\xef\xbb\xbf{"annotations": []}',           # a byte order mark
    b'{"annotations": [], "x": NaN}',              # a literal json takes and orjson does not
    b'{"annotations": []} []',                     # a second value
    b'{"annotations": [], "annotations": []}',     # the list given twice
    b'{"annot\\u0061tions": []}',                  # a key spelt with an escape
    b'{"annotations": [{"image_id": 1, "file_name": "a", "segments_info": [], "image_id": 2}]}',
    b'{"annotations": [{"image_id": 99999999999999999999, "file_name": "a", "segments_info": []}]}',
    b'[' * 300 + b']' * 300,
    b'{"annotations": [], "x": ' + b"1" * 700 + b'}',  # an integer json may refuse (int_max_str_digits)
    b'{"annotations": [], "x": 18446744073709551616}',  # orjson reads it as a float, json as an int
    b'{"annotations": [], "x": -9223372036854775809}',
])
def test_scanner_declines_what_it_does_not_take(raw):
    assert scan_panoptic_json(raw, MAX_RGB_ID) is None


@pytest.mark.parametrize("number", [b"18446744073709551615", b"-9223372036854775808", b"0", b"-0", b"1e400"])
def test_scanner_takes_numbers_both_parsers_read_alike(number):
    raw = b'{"annotations": [], "x": ' + number + b'}'
    assert scan_panoptic_json(raw, MAX_RGB_ID) is not None




def test_unhashable_ids_are_named(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"annotations": [{"image_id": [1], "file_name": "a.png", "segments_info": []}]}')
    with pytest.raises(FormatError, match=r"annotations\[0\] has an image_id that is a list"):
        load_panoptic_json(path)
    path.write_text('{"images": [{"id": {}}], "annotations": []}')
    with pytest.raises(FormatError, match=r"images\[0\] has an id that is a dict"):
        load_panoptic_json(path)


# ------------------------------------------------------------------------------------------
# lazy annotations in runs
# ------------------------------------------------------------------------------------------

@pytest.fixture()
def coco_files(tmp_path):
    return write_coco(tmp_path, make_dataset(11, n_images=7))


def _plain(path, require=False):
    """The same file loaded into plain dicts (the general way)."""
    return dataset_from_dict(json.loads(path.read_text()), path=path, require_categories=require)


def test_a_run_parses_no_annotation(coco_files):
    gt_json, pred_json = coco_files
    gt, pred = load_panoptic_json(gt_json, require_categories=True), load_panoptic_json(pred_json)
    ev = evaluate_panoptic_files(gt, pred, PanopticEvaluator(gt.categories), jobs=2)
    assert gt.annotations.parsed == 0 and pred.annotations.parsed == 0
    ref = evaluate_panoptic_files(_plain(gt_json, True), _plain(pred_json), PanopticEvaluator(gt.categories))
    assert ev.compute().to_dict() == ref.compute().to_dict()
    a = evaluate_panoptic_folders(gt_json, pred_json, jobs=2, per_image=True)
    b = evaluate_panoptic_folders(_plain(gt_json, True), _plain(pred_json), gt_folder=gt.folder,
                                  pred_folder=pred.folder, jobs=2, per_image=True)
    assert a.to_dict()["metrics"] == b.to_dict()["metrics"]
    assert a.dataset["fingerprint"] == b.dataset["fingerprint"]


def test_edits_after_loading_count_as_with_dicts(coco_files):
    """Set, replace, delete: the lazily loaded dataset scores as a dict-loaded one edited the same way."""
    gt_json, pred_json = coco_files

    def edit(ds):
        ids = list(ds.annotations)
        del ds.annotations[ids[0]]
        ann = ds.annotations[ids[1]]  # a list replaced by copies with one category changed
        ann["segments_info"] = [dict(s) for s in ann["segments_info"]]
        ann["segments_info"][0]["category_id"] = 7
        # set before it is parsed: the file's annotation with every segment a crowd region
        src = next(a for a in json.loads(ds.path.read_text())["annotations"] if a["image_id"] == ids[2])
        ds.annotations[ids[2]] = dict(src, segments_info=[dict(s, iscrowd=1) for s in src["segments_info"]])
        return ds

    results = []
    lazy = (lambda path, require=False: load_panoptic_json(path, require_categories=require))
    for load in (lazy, _plain):
        gt, pred = edit(load(gt_json, True)), edit(load(pred_json))
        results.append(evaluate_panoptic_files(gt, pred, PanopticEvaluator(gt.categories), jobs=2).compute())
    assert results[0].to_dict() == results[1].to_dict()


def test_lazy_annotations_as_a_mapping(coco_files):
    gt_json, _ = coco_files
    ds, plain = load_panoptic_json(gt_json), _plain(gt_json)
    anns = ds.annotations
    ids = list(plain.annotations)
    assert list(anns) == ids and len(anns) == len(ids) and ids[0] in anns and "nope" not in anns
    with pytest.raises(TypeError):  # as a dict
        [1] in anns
    assert anns.peek(ids[0]) is NOT_READ and anns.peek("nope") is None and anns.parsed == 0
    assert anns.file_name(ids[0]) == plain.annotations[ids[0]]["file_name"]
    assert anns[ids[0]] is anns[ids[0]] and anns.parsed == 1 and anns.peek(ids[0]) is anns[ids[0]]
    assert dict(anns) == plain.annotations and anns == plain.annotations
    anns["new"] = {"image_id": "new", "file_name": "n.png", "segments_info": []}
    assert list(anns)[-1] == "new" and anns.file_name("new") == "n.png"
    del anns[ids[1]]
    assert ids[1] not in anns and len(anns) == len(ids)
    again = pickle.loads(pickle.dumps(ds))
    assert dict(again.annotations) == dict(anns) and pickle.loads(pickle.dumps(NOT_READ)) is NOT_READ
    _same_columns(pickle.loads(pickle.dumps(load_panoptic_json(gt_json))), plain)
    with pytest.raises(KeyError):
        anns["nope"]


def test_items_made_before_an_edit_see_it(coco_files):
    """Pairing items hold NOT_READ; an annotation parsed and edited after they were made is
    checked again (its columns are not trusted)."""
    from segmetrics.folders import _pair_panoptic

    gt_json, _ = coco_files
    ds = load_panoptic_json(gt_json)
    items, _, _ = _pair_panoptic(ds, ds, False)
    ids = [it[0] for it in items]
    assert all(it[1] is NOT_READ for it in items)
    start, end, ok = ds.columns.ranges(ids, [it[1] for it in items])
    assert ok.all()
    ds.annotations[ids[0]]["segments_info"].append({"id": 999, "category_id": 1})  # edited in place
    ds.annotations[ids[1]] = dict(ds.annotations[ids[1]], segments_info=[])  # replaced
    del ds.annotations[ids[2]]
    start, end, ok = ds.columns.ranges(ids, [it[1] for it in items])
    assert ok.tolist() == [False, False, False] + [True] * (len(ids) - 3)


def test_decimal_areas_do_not_follow_the_locale(tmp_path):
    """strtod follows LC_NUMERIC; the scanner must read 12.5 as json does under a comma locale."""
    import shutil
    import subprocess
    import sys

    if not shutil.which("localedef"):
        pytest.skip("localedef is not installed: no comma locale can be made")
    loc = tmp_path / "loc"
    loc.mkdir()
    made = subprocess.run(["localedef", "-i", "de_DE", "-f", "UTF-8", str(loc / "de_DE.UTF-8")],
                          capture_output=True)
    if made.returncode not in (0, 1) or not (loc / "de_DE.UTF-8").exists():
        pytest.skip(f"localedef could not make de_DE.UTF-8: {made.stderr[-200:]!r}")
    doc = (b'{"annotations":[{"image_id":1,"file_name":"a","segments_info":[{"id":1,"category_id":2,'
           b'"area":12.5},{"id":2,"category_id":2,"area":1.5e3}]}]}')
    code = ("import locale, sys; locale.setlocale(locale.LC_NUMERIC, 'de_DE.UTF-8'); "
            "assert locale.localeconv()['decimal_point'] == ','; "
            "from segmetrics._kernels.panoptic import scan_panoptic_json as s; "
            f"print(s({doc!r}, 2**24 - 1)[3][4].tolist())")
    env = dict(__import__("os").environ, LOCPATH=str(loc))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[12.5, 1500.0]"
