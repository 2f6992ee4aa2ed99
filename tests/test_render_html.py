"""The HTML report, parsed: structure, pictures that decode, no external URL, the right rows.

The reports are real ones: ``segmetrics eval --demo ... --json --per-image`` run through the
CLI, plus the confusion matrices from the evaluators.  The browser tests
(``test_render_browser.py``) open the same pages in a headless chromium.
"""
from __future__ import annotations

import base64
import io
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from segmetrics.cli import cli
from segmetrics.errors import DataFileError, InputError
from segmetrics.io.png import read_png
from segmetrics.render import GalleryImage, ReportData, compare_html, render_compare_html, render_html, report_html
from segmetrics.render.gallery import label_tables
from segmetrics.render.palettes import STATUS_COLORS
from segmetrics.semantic import SemanticEvaluator

DATE = "2026-01-01 00:00 UTC"


# ----------------------------------------------------------------------------- builders (also used by the browser tests)
def _eval(args: list[str]) -> None:
    res = CliRunner().invoke(cli, ["eval", *args, "-q", "--no-cache"], catch_exceptions=False)
    assert res.exit_code == 0, res.output


def semantic_demo(root: Path) -> ReportData:
    """The semantic demo as the CLI reports it, with its confusion matrix and gallery files."""
    _eval(["--demo", "--demo-task", "semantic", "--demo-dir", str(root / "demo"),
           "--json", str(root / "sem.json"), "--per-image", str(root / "sem.csv")])
    base = root / "demo" / "semantic"
    files = sorted((base / "gt").glob("*.png"))
    ev = SemanticEvaluator(5)
    for f in files:
        ev.update(read_png(f), read_png(base / "pred" / f.name))
    images = [GalleryImage(f.stem, f, base / "pred" / f.name) for f in files]
    return ReportData.from_files(root / "sem.json", per_image_csv=root / "sem.csv",
                                 confusion=ev.compute().confusion, images=images)


def panoptic_demo(root: Path) -> ReportData:
    """The panoptic demo as the CLI reports it, with the category-map matrix and gallery files."""
    from segmetrics.io.coco_panoptic import load_panoptic_json, read_id_png
    from segmetrics.panoptic import PanopticEvaluator
    from segmetrics.render.gallery import panoptic_gallery_images

    _eval(["--demo", "--demo-task", "panoptic", "--demo-dir", str(root / "demo"),
           "--json", str(root / "pan.json"), "--per-image", str(root / "pan.csv")])
    base = root / "demo" / "panoptic"
    gt = load_panoptic_json(base / "panoptic_gt.json", require_categories=True)
    images = panoptic_gallery_images(gt, load_panoptic_json(base / "panoptic_pred.json"))
    ev = PanopticEvaluator(gt.categories)
    for g in images:
        ev.update(read_id_png(g.gt_path), g.gt_segments, read_id_png(g.pred_path), g.pred_segments)
    return ReportData.from_files(root / "pan.json", per_image_csv=root / "pan.csv", confusion=ev.state.confusion,
                                 images=images, categories=gt.categories)


@pytest.fixture(scope="module")
def sem(tmp_path_factory) -> ReportData:
    return semantic_demo(tmp_path_factory.mktemp("sem"))


@pytest.fixture(scope="module")
def pan(tmp_path_factory) -> ReportData:
    return panoptic_demo(tmp_path_factory.mktemp("pan"))


# ----------------------------------------------------------------------------- parsing
class Page(HTMLParser):
    """Tables (per section), data URIs, src/href values, gallery figures."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.section = None
        self.tables: list[dict] = []
        self.refs: list[tuple[str, str, str]] = []     # (tag, attr, value)
        self.figures: list[dict] = []
        self.whiskers = 0
        self._table = None
        self._in = None
        self._text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href", "xlink:href", "action", "poster", "data"):
            if k in a:
                self.refs.append((tag, k, a[k] or ""))
        if tag == "section":
            self.section = a.get("id")
        elif tag == "table":
            self._table = {"section": self.section, "class": a.get("class", ""), "header": [], "rows": []}
            self.tables.append(self._table)
        elif tag == "thead":
            self._in = "head"
        elif tag == "tbody":
            self._in = "body"
        elif tag == "tr" and self._table is not None and self._in == "body":
            self._table["rows"].append([])
        elif tag in ("th", "td"):
            self._text = []
            self._cell_attrs = a
        elif tag == "figure":
            self.figures.append({"id": a.get("data-image-id"), "imgs": [], "legend": [], "error": None})
        elif tag == "img" and self.figures and self.section == "worst":
            self.figures[-1]["imgs"].append(a)
        elif tag == "path" and "whisker" in a.get("class", ""):
            self.whiskers += 1
        if tag in ("li", "p"):
            self._text = []
            self._p_err = tag == "p" and "err" in (a.get("class") or "")

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._table is not None:
            text = "".join(self._text).strip()
            if self._in == "head":
                self._table["header"].append(text)
            elif self._table["rows"]:
                self._table["rows"][-1].append((text, self._cell_attrs.get("data-v")))
        elif tag == "table":
            self._table, self._in = None, None
        elif tag == "li" and self.figures and self.section == "worst":
            self.figures[-1]["legend"].append("".join(self._text).strip())
        elif tag == "p" and self.figures and self.section == "worst" and self._p_err:
            self.figures[-1]["error"] = "".join(self._text).strip()

    _p_err = False

    def handle_data(self, data):
        self._text.append(data)

    def table(self, section: str, index: int = 0) -> dict:
        return [t for t in self.tables if t["section"] == section][index]


def data_uris(text: str) -> list[tuple[str, bytes]]:
    out = []
    for mime, b64 in re.findall(r'(?:src|href)="data:([a-z/+]+);base64,([A-Za-z0-9+/=]+)"', text):
        out.append((mime, base64.b64decode(b64, validate=True)))
    return out


def assert_offline(text: str, page: Page) -> None:
    """No external resource or link: every src/href is a data: URI or a #fragment."""
    low = text.lower()
    for scheme in ("http://", "https://", "ftp://", "file://"):
        assert scheme not in low, scheme
    for tag, attr, value in page.refs:
        assert value.startswith("data:") or value.startswith("#"), (tag, attr, value[:60])
        assert not value.startswith("//")
    assert re.findall(r"url\((?!#)", text) == []
    for bad in ("<link", "@import", "<iframe", "<object", "<embed", "<base"):
        assert bad not in low, bad


def assert_images_decode(text: str) -> int:
    uris = data_uris(text)
    for mime, raw in uris:
        im = Image.open(io.BytesIO(raw))
        im.load()
        assert {"image/png": "PNG", "image/webp": "WEBP"}[mime] == im.format
        assert im.width > 0 and im.height > 0
    return len(uris)


def _rows_by(table: dict, header: str) -> list:
    j = table["header"].index(header)
    return [r[j] for r in table["rows"]]


# ----------------------------------------------------------------------------- semantic
def test_semantic_report_sections_rows_and_images(sem, tmp_path):
    path = render_html(sem, tmp_path / "r.html", worst=6, date=DATE)
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert_offline(text, page)
    n_img = assert_images_decode(text)
    rep = sem.report
    k = len(rep["per_class"])
    # per-class table: one row per class, values exactly the report's (data-v holds the fraction)
    t = page.table("per-class")
    assert t["header"][:2] == ["id", "name"] and {"IoU", "Acc", "Dice", "gt_pixels"} <= set(t["header"])
    assert len(t["rows"]) == k
    assert [float(v) for _, v in _rows_by(t, "IoU")] == [r["IoU"] for r in rep["per_class"]]
    assert [txt for txt, _ in _rows_by(t, "name")] == [r["name"] for r in rep["per_class"]]
    # confusion: the most-confused-pairs table has min(20, non-zero off-diagonal cells) rows
    cm = sem.confusion
    off = int(((cm > 0) & ~np.eye(k, dtype=bool)).sum())
    pairs = page.table("confusion")
    assert len(pairs["rows"]) == min(20, off)
    first = pairs["rows"][0]
    frac = cm / cm.sum(axis=1, keepdims=True)
    np.fill_diagonal(frac, -1)
    i, j = np.unravel_index(np.argmax(frac), frac.shape)
    assert (first[0][0], first[1][0]) == (rep["per_class"][i]["name"], rep["per_class"][j]["name"])
    assert float(first[2][1]) == pytest.approx(frac[i, j], rel=1e-12)
    # gallery: the 6 lowest per-image mIoU, lowest first, each with GT, prediction and error map
    order = sorted(range(len(sem.per_image)), key=lambda n: (sem.per_image[n]["mIoU"], n))[:6]
    assert [f["id"] for f in page.figures] == [str(sem.per_image[n]["image_id"]) for n in order]
    for f in page.figures:
        assert [im["alt"].split(" of ")[0] for im in f["imgs"]] == ["ground truth", "prediction", "errors"]
        assert "wrong" in f["legend"] and "correct" in f["legend"]
    assert n_img == 6 * 3
    assert "<script>" in text and "table.sortable" in text          # sorting is added by the script; the
    assert text.index("</table>") < text.index("<script>")            # tables are in the HTML before it


def test_error_panel_pixels_are_exactly_the_wrong_pixels(sem, tmp_path):
    html = report_html(sem, worst=1, date=DATE)
    page = Page(html)
    fig = page.figures[0]
    err = next(im for im in fig["imgs"] if im["alt"].startswith("errors"))
    rgb = np.asarray(Image.open(io.BytesIO(base64.b64decode(err["src"].split(",", 1)[1]))).convert("RGB"))
    item = next(g for g in sem.images if str(g.image_id) == fig["id"])
    gt, pred = read_png(item.gt_path), read_png(item.pred_path)
    assert rgb.shape[:2] == gt.shape                                   # 48 x 64 demo images: no downscaling
    wrong = np.all(rgb == STATUS_COLORS["wrong"], axis=2)
    np.testing.assert_array_equal(wrong, (gt != 255) & (gt != pred))
    ignored = np.all(rgb == STATUS_COLORS["ignored"], axis=2) | np.all(rgb == STATUS_COLORS["ignored_alt"], axis=2)
    np.testing.assert_array_equal(ignored, gt == 255)
    gpanel = next(im for im in fig["imgs"] if im["alt"].startswith("ground truth"))
    assert int(gpanel["width"]) == 64 * 2 and int(gpanel["height"]) == 48 * 2   # small pictures shown at 2x


def test_intervals_slices_boundary_and_warnings(sem, tmp_path):
    rep = sem.report
    ivs = {"mIoU": {"low": 0.69, "high": 0.72, "level": 0.95, "method": "percentile", "resamples": 1000, "seed": 0},
           "per_class": {"IoU": [{"low": max(0.0, r["IoU"] - 0.05), "high": min(1.0, r["IoU"] + 0.05)}
                                 for r in rep["per_class"]]}}
    slices = [{"attribute": "weather", "value": "rain", "images": 7, "metrics": {"mIoU": 0.61, "aAcc": 0.9},
               "intervals": {"mIoU": {"low": 0.55, "high": 0.66}}},
              {"attribute": "weather", "value": "__unassigned__", "images": 13, "metrics": {"mIoU": None}}]
    boundary = {"metrics": {"mBIoU": 0.41}, "params": {"dilation_ratio": 0.02},
                "per_class": [{"id": r["id"], "name": r["name"], "BIoU": 0.4} for r in rep["per_class"]]}
    report = dict(rep, warnings=["image 'x': something <odd> happened"])
    data = ReportData(report, confusion=sem.confusion, per_image=sem.per_image, intervals=ivs, slices=slices,
                      boundary=boundary)
    text = report_html(data, worst=0, date=DATE)
    page = Page(text)
    assert_offline(text, page)
    assert "[69.00, 72.00]" in text and "95%" in text
    assert "image-level bootstrap (level 0.95, method percentile, resamples 1000, seed 0)" in text
    assert page.whiskers == len(rep["per_class"])                          # one whisker per drawn bar
    iou_cells = _rows_by(page.table("per-class"), "IoU")
    lo = max(0.0, rep["per_class"][0]["IoU"] - 0.05)
    assert f"[{100 * lo:.2f}," in iou_cells[0][0]
    st = page.table("slices")
    assert st["header"] == ["attribute", "value", "images", "mIoU", "aAcc"]
    assert [r[1][0] for r in st["rows"]] == ["rain", "__unassigned__"]
    assert st["rows"][0][3][0] == "61.00 [55.00, 66.00]" and st["rows"][1][3][0] == "n/a"
    bt = page.table("boundary")
    assert len(bt["rows"]) == len(rep["per_class"]) and "BIoU" in bt["header"]
    assert "something &lt;odd&gt; happened" in text
    assert "worst" not in [t["section"] for t in page.tables] and not page.figures


def test_log_colour_scale_and_many_classes(tmp_path):
    from segmetrics.presets import ADE20K_CLASSES

    rng = np.random.default_rng(0)
    k = 150
    cm = rng.integers(0, 50, size=(k, k)) * (rng.random((k, k)) < 0.05)
    np.fill_diagonal(cm, rng.integers(1000, 5000, size=k))
    cm[7] = 0                                                   # a class absent from the GT
    rows = [{"id": i, "name": n, "IoU": None if i == 7 else float(rng.random()), "gt_pixels": int(cm[i].sum())}
            for i, n in enumerate(ADE20K_CLASSES)]
    report = {"task": "semantic", "params": {"preset": "ade20k", "num_classes": 150}, "dataset": {"images": 10},
              "metrics": {"mIoU": 0.4}, "per_class": rows, "warnings": [], "segmetrics_version": "0"}
    text = report_html(ReportData(report, confusion=cm), log_colour=True, date=DATE)
    page = Page(text)
    assert_offline(text, page)
    assert assert_images_decode(text) == 1                      # the 150 x 150 matrix as one PNG
    heat = re.search(r'href="data:image/png;base64,([^"]+)"', text).group(1)
    im = np.asarray(Image.open(io.BytesIO(base64.b64decode(heat))).convert("RGB"))
    assert im.shape == (150, 150, 3)
    assert (im[7] == 0xF2).all()                                # grey row: no GT pixel
    empty = cm == 0
    empty[7] = False
    assert (im[empty] == 255).all() and not (im[cm > 0] == 255).all(axis=-1).any()   # white: no pixel
    assert len(page.table("per-class")["rows"]) == 150
    assert len(page.table("confusion")["rows"]) == 20
    assert "ADE20K" in text and "0.01%" in text and "log colour scale" in text
    assert "1 classes with an undefined IoU are not drawn" in text


def test_names_are_escaped(tmp_path):
    rows = [{"id": 0, "name": '<img src=x onerror="alert(1)">', "IoU": 0.5},
            {"id": 1, "name": "a & b", "IoU": math.nan}]
    report = {"task": "semantic", "params": {}, "dataset": {"gt": "<gt>"}, "metrics": {"mIoU": 0.5},
              "per_class": rows, "warnings": []}
    text = report_html(ReportData(report, confusion=np.array([[3, 1], [0, 0]])), date=DATE)
    assert '<img src=x' not in text and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text
    assert "a &amp; b" in text and "&lt;gt&gt;" in text
    assert_offline(text, Page(text))


def test_gallery_file_errors_are_one_line_and_input_photos(sem, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    worst_id = str(sorted(sem.per_image, key=lambda r: r["mIoU"])[0]["image_id"])
    Image.fromarray(np.full((96, 128, 3), 120, np.uint8)).save(photos / f"{worst_id}.jpg")
    broken = [GalleryImage(g.image_id, g.gt_path, tmp_path / "nope.png") if str(g.image_id) != worst_id else g
              for g in sem.images]
    data = ReportData(sem.report, per_image=sem.per_image, images=broken)
    text = report_html(data, images_dir=photos, worst=2, date=DATE)
    page = Page(text)
    assert [im["alt"].split(" of ")[0] for im in page.figures[0]["imgs"]] == ["input", "ground truth", "prediction",
                                                                            "errors"]
    photo = next(m for m, _ in data_uris(text) if m == "image/webp")
    assert photo == "image/webp"
    assert_images_decode(text)
    assert page.figures[1]["imgs"] == [] and "nope.png" in page.figures[1]["error"]
    assert "\n" not in page.figures[1]["error"]


def test_output_is_deterministic_and_written(sem, tmp_path):
    a = render_html(sem, tmp_path / "a.html", worst=3, date=DATE).read_bytes()
    b = render_html(sem, tmp_path / "b.html", worst=3, date=DATE).read_bytes()
    assert a == b and a.startswith(b"<!DOCTYPE html>")
    with pytest.raises(DataFileError, match="cannot write"):
        render_html(sem, tmp_path / "no" / "dir" / "r.html", worst=0)


def test_report_data_rejects_what_is_not_a_report(tmp_path):
    with pytest.raises(InputError, match="task 'semantic' or 'panoptic'"):
        ReportData({"task": "detection"})
    rep = {"task": "semantic", "metrics": {}, "per_class": [{"id": 0}, {"id": 1}]}
    with pytest.raises(InputError, match=r"confusion must be \(2, 2\) or \(3, 3\) for 2 classes, got \(4, 4\)"):
        ReportData(rep, confusion=np.zeros((4, 4)))
    with pytest.raises(DataFileError, match="cannot read report"):
        ReportData.from_files(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    from segmetrics.errors import FormatError

    with pytest.raises(FormatError, match="bad.json: not a JSON report"):
        ReportData.from_files(tmp_path / "bad.json")


# ----------------------------------------------------------------------------- panoptic
def test_panoptic_report_marks_fp_and_fn_segments(pan, tmp_path):
    text = render_html(pan, tmp_path / "p.html", date=DATE).read_text(encoding="utf-8")
    page = Page(text)
    assert_offline(text, page)
    n = assert_images_decode(text)
    rep = pan.report
    t = page.table("per-class")
    assert len(t["rows"]) == len(rep["per_class"])
    assert {"PQ", "SQ", "RQ", "TP", "FP", "FN", "kind"} <= set(t["header"])
    assert [int(float(v)) for _, v in _rows_by(t, "FP")] == [r["FP"] for r in rep["per_class"]]
    heat = page.table("confusion")
    assert all(len(r) == 4 for r in heat["rows"])
    assert len(page.figures) == len(pan.per_image) == rep["dataset"]["images"]
    rows = {str(r["image_id"]): r for r in pan.per_image}
    for f in page.figures:
        legend = " ".join(f["legend"])
        r = rows[f["id"]]
        assert f"false negative (GT, {int(r['FN'])})" in legend       # the marks add up to the image's counts
        assert f"false positive (prediction, {int(r['FP'])})" in legend
        assert [im["alt"].split(" of ")[0] for im in f["imgs"]] == ["ground truth", "prediction", "segments"]
    assert n == 3 * len(page.figures)
    pq = [rows[f["id"]]["PQ"] for f in page.figures]
    assert pq == sorted(pq)
    assert "dataset categories" in text                                 # the demo JSON's own colours


def test_panoptic_fp_fn_pixels(pan):
    """The 'segments' picture: FP pixels exactly the FP predicted segments (drawn last), FN only GT pixels."""
    from segmetrics.io.coco_panoptic import read_id_png, rgb2id
    from segmetrics.render.matching import segment_matches

    html = report_html(pan, worst=len(pan.images), date=DATE)
    page = Page(html)
    for fig in page.figures:
        item = next(g for g in pan.images if str(g.image_id) == fig["id"])
        seg = next(im for im in fig["imgs"] if im["alt"].startswith("segments"))
        rgb = np.asarray(Image.open(io.BytesIO(base64.b64decode(seg["src"].split(",", 1)[1]))).convert("RGB"))
        gt, pred = rgb2id(read_id_png(item.gt_path)), rgb2id(read_id_png(item.pred_path))
        m = segment_matches(gt, item.gt_segments, pred, item.pred_segments, pan.category_list())
        fp_ids = [i for i, s in zip(m.pred_ids, m.pred_status) if s == "fp"]
        fn_ids = [i for i, s in zip(m.gt_ids, m.gt_status) if s == "fn"]
        fp = np.isin(pred, fp_ids)
        np.testing.assert_array_equal(np.all(rgb == STATUS_COLORS["fp"], axis=2), fp)
        np.testing.assert_array_equal(np.all(rgb == STATUS_COLORS["fn"], axis=2), np.isin(gt, fn_ids) & ~fp)


# ----------------------------------------------------------------------------- comparison page
def test_compare_page_from_json_reports_and_with_significance(sem, tmp_path):
    from segmetrics.report import compare_reports

    base = sem.report
    new = json.loads(json.dumps(base))
    for i, r in enumerate(new["per_class"]):
        r["IoU"] = r["IoU"] + (i - 2) * 0.01
    new["metrics"]["mIoU"] += 0.004
    plain = ReportData(new, comparison=compare_reports(base, new), base_report=base)
    text = render_compare_html(plain, tmp_path / "c.html", date=DATE).read_text(encoding="utf-8")
    page = Page(text)
    assert_offline(text, page)
    head = page.table("headline")
    assert [r[0][0] for r in head["rows"]] == list(base["metrics"])
    miou = next(r for r in head["rows"] if r[0][0] == "mIoU")
    assert miou[3][0] == "+0.40"
    pcs = page.table("per-class")
    assert len(pcs["rows"]) == len(base["per_class"])
    assert "significance needs run-state files" in text and "same ground truth" in text
    # a stats-style comparison: per-class p-values adjusted (Holm), significant where adjusted p < alpha
    cmp = {"alpha": 0.05, "correction": "holm",
           "metrics": {"mIoU": {"base": 0.70, "new": 0.704, "delta": 0.004, "low": -0.002, "high": 0.01,
                                "p_value": 0.21}},
           "per_class": [{"id": r["id"], "name": r["name"], "metric": "IoU", "base": r["IoU"],
                          "new": r["IoU"] + (i - 2) * 0.01, "low": (i - 2) * 0.01 - 0.005,
                          "high": (i - 2) * 0.01 + 0.005, "p_value": 0.001, "p_adjusted": [0.001, 0.2, 0.9, 0.3, 0.01][i]}
                         for i, r in enumerate(base["per_class"])]}
    text = compare_html(ReportData(new, comparison=cmp, base_report=base), date=DATE)
    page = Page(text)
    sig = [r[-1][0] for r in page.table("per-class")["rows"]]
    assert sig == ["yes", "no", "no", "no", "yes"]
    assert text.count('class="sig-down"') == 1 and text.count('class="sig-up"') == 1
    assert "adjusted p &lt; 0.05 (holm)" in text and page.whiskers == len(base["per_class"])
    other = dict(new, dataset=dict(new["dataset"], fingerprint="sha256:other"))
    assert "DIFFERENT ground truth" in compare_html(ReportData(other, comparison=cmp, base_report=base), date=DATE)
    with pytest.raises(InputError, match="needs ReportData.comparison"):
        compare_html(ReportData(new))


# ----------------------------------------------------------------------------- real data
def test_real_ade20k_sample_with_photos(shared_data, tmp_path):
    src = shared_data / "ade20k_sample" / "sampleData"
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    for f in sorted((src / "annotations").glob("*.png")):
        g = read_png(f)
        (gt_dir / f.name).write_bytes(f.read_bytes())
        p = np.roll(g, 6, axis=1)                 # a prediction in the files' 1..150 convention
        p[p == 0] = 1                             # a model predicts everywhere
        p[:40, :40] = 3                           # and paints a patch of sky
        Image.fromarray(p).save(pred_dir / f.name)
    _eval(["--preset", "ade20k", "--gt", str(gt_dir), "--pred", str(pred_dir), "--json", str(tmp_path / "r.json"),
           "--per-image", str(tmp_path / "r.csv")])
    images = [GalleryImage(f.stem, f, pred_dir / f.name) for f in sorted(gt_dir.glob("*.png"))]
    data = ReportData.from_files(tmp_path / "r.json", per_image_csv=tmp_path / "r.csv", images=images)
    gt_map, pred_map, ignore, k = label_tables(data)
    assert (k, ignore) == (150, 255) and gt_map[0] == 255 and gt_map[1] == 0 and pred_map[3] == 2
    from segmetrics.render.overlays import apply_lut, semantic_error_map

    for g in images:
        graw, praw = read_png(g.gt_path), read_png(g.pred_path)
        codes = semantic_error_map(apply_lut(graw, gt_map, fill=255), apply_lut(praw, pred_map, fill=255),
                                   num_classes=150, ignore_index=255)
        np.testing.assert_array_equal(codes == 2, (graw != 0) & (graw != praw))
        np.testing.assert_array_equal(codes == 0, graw == 0)
    text = render_html(data, tmp_path / "r.html", images_dir=src / "images", date=DATE).read_text()
    page = Page(text)
    assert_offline(text, page)
    assert assert_images_decode(text) == 3 * 4
    assert all(f["imgs"][0]["alt"].startswith("input") for f in page.figures)
    assert "ADE20K" in text                                        # the official palette
    assert len(page.table("per-class")["rows"]) == 150
    assert (tmp_path / "r.html").stat().st_size < 2_000_000


def test_real_coco_sample(shared_data, tmp_path):
    from segmetrics.io.coco_panoptic import id2rgb, read_id_png, rgb2id

    root = shared_data / "coco_panoptic_sample" / "sample_data"
    data = json.loads((root / "panoptic_examples.json").read_text())
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    anns = []
    for a in data["annotations"]:
        ids = rgb2id(read_id_png(root / "panoptic_examples" / a["file_name"]))
        segs = [dict(s) for s in a["segments_info"]]
        person = next(s for s in segs if s["category_id"] == 1 and not s["iscrowd"])
        ids[ids == person["id"]] = segs[-1]["id"]          # missed person -> FN
        segs = [s for s in segs if s["id"] != person["id"]]
        Image.fromarray(id2rgb(ids)).save(pred_dir / a["file_name"])
        anns.append({"image_id": a["image_id"], "file_name": a["file_name"], "segments_info": segs})
    pjson = tmp_path / "pred.json"
    pjson.write_text(json.dumps({"images": data["images"], "annotations": anns, "categories": data["categories"]}))
    _eval(["--gt", str(root / "panoptic_examples.json"), "--gt-folder", str(root / "panoptic_examples"),
           "--pred", str(pjson), "--pred-folder", str(pred_dir), "--json", str(tmp_path / "r.json"),
           "--per-image", str(tmp_path / "r.csv")])
    images = [GalleryImage(a["image_id"], root / "panoptic_examples" / a["file_name"], pred_dir / a["file_name"],
                           a["segments_info"], p["segments_info"]) for a, p in zip(data["annotations"], anns)]
    rd = ReportData.from_files(tmp_path / "r.json", per_image_csv=tmp_path / "r.csv", images=images,
                               categories=data["categories"])
    text = render_html(rd, tmp_path / "r.html", images_dir=root / "input_images", date=DATE).read_text()
    page = Page(text)
    assert_offline(text, page)
    assert assert_images_decode(text) == 2 * 4
    for f in page.figures:
        assert "false negative (GT, 1)" in " ".join(f["legend"])
        assert [im["alt"].split(" of ")[0] for im in f["imgs"]] == ["input", "ground truth", "prediction", "segments"]
    assert len(page.table("per-class")["rows"]) == 133


def test_panoptic_missing_prediction_marks_every_gt_segment(pan):
    from segmetrics.io.coco_panoptic import PanopticDataset
    from segmetrics.render.gallery import panoptic_gallery_images

    gt_item = pan.images[0]
    gt = PanopticDataset(None, Path(gt_item.gt_path).parent,
                         {gt_item.image_id: {"file_name": Path(gt_item.gt_path).name,
                                             "segments_info": gt_item.gt_segments}})
    items = panoptic_gallery_images(gt, PanopticDataset(None, None))
    assert items[0].pred_path is None and items[0].pred_segments is None
    row = {"image_id": gt_item.image_id, "PQ": 0.0, "missing_prediction": True}
    text = report_html(ReportData(pan.report, per_image=[row], images=items, categories=pan.categories), date=DATE)
    fig = Page(text).figures[0]
    n_fn = sum(not s.get("iscrowd", 0) for s in gt_item.gt_segments)
    assert f"false negative (GT, {n_fn})" in " ".join(fig["legend"])
    assert [im["alt"].split(" of ")[0] for im in fig["imgs"]] == ["ground truth", "prediction (missing)", "segments"]
    assert "prediction missing" in text
    assert_images_decode(text)


def test_label_tables_from_report_params_and_explicit_tables(tmp_path):
    from segmetrics.presets import CITYSCAPES_CLASSES

    rows = [{"id": i, "name": n, "IoU": 0.5} for i, n in enumerate(CITYSCAPES_CLASSES)]
    rep = {"task": "semantic", "params": {"preset": "cityscapes", "num_classes": 19, "ignore_index": 255,
                                          "reduce_zero_label": False, "label_map": "preset:cityscapes",
                                          "pred_label_map": None},
           "dataset": {}, "metrics": {}, "per_class": rows, "warnings": []}
    data = ReportData(rep)
    gt_map, pred_map, ignore, k = label_tables(data)
    assert (k, ignore, pred_map) == (19, 255, None)
    assert gt_map[7] == 0 and gt_map[26] == 13 and gt_map[0] == 255 and gt_map[9] == 255   # parking: ignored
    assert data.colors()[1] == "Cityscapes"
    (tmp_path / "map.txt").write_text("1 0\n2 1\n")
    # a run without preset whose predictions went through a label-map file (a preset's run names its map)
    rep["params"].update(preset=None, label_map=None, pred_label_map=str(tmp_path / "map.txt"))
    gt_map, pred_map, _, _ = label_tables(ReportData(rep))
    assert gt_map is None and pred_map[1] == 0 and pred_map[2] == 1 and pred_map[3] == 255
    mine = np.arange(19)
    assert label_tables(ReportData(rep, gt_map=mine, pred_map=mine))[:2] == (mine, mine)
