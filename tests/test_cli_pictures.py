"""Pictures through the CLI and the result API (issue 15): ``--html`` and ``--plots`` on ``eval``,
``report`` and ``compare``, ``result.plot_*``.

The pages are parsed (every picture decodes, no external URL, the tables have their rows); the
gallery is checked against oracles: the worst images are the lowest per-image scores of the run,
a semantic error map holds exactly the wrong pixels, and the panoptic FP / FN segments are the
NumPy twin's per-segment decisions (``tests/oracles.py``).  The browser tests open a report made
by the CLI (``test_render_browser.py``).
"""
from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import oracles
from segmetrics.demo import make_panoptic_demo, make_semantic_demo
from segmetrics.errors import InputError
from segmetrics.io.coco_panoptic import load_panoptic_json, read_id_png, rgb2id
from segmetrics.io.png import read_png
from segmetrics.render.palettes import STATUS_COLORS

from cli_data import assert_user_error, cli_ok, cli_run
from test_render_html import Page, assert_images_decode, assert_offline

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")


run, ok = cli_run, cli_ok


def _panel(fig: dict, title: str) -> np.ndarray:
    im = next(i for i in fig["imgs"] if i["alt"].startswith(title))
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(im["src"].split(",", 1)[1]))).convert("RGB"))


def _without_date(text: str) -> str:
    return re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "generated DATE", text)


@pytest.fixture(scope="module")
def sem(tmp_path_factory):
    root = tmp_path_factory.mktemp("sem")
    d = make_semantic_demo(root / "data")
    args = ["--gt", d.gt, "--pred", d.pred, "--class-names", d.class_names, "--no-cache"]
    return root, d, args


@pytest.fixture(scope="module")
def pan(tmp_path_factory):
    root = tmp_path_factory.mktemp("pan")
    d = make_panoptic_demo(root / "data", n=8)
    return root, d, ["--gt", d.gt_json, "--pred", d.pred_json, "--no-cache"]


# ----------------------------------------------------------------------------- eval / report --html
def test_semantic_eval_html_gallery_is_the_worst_images_with_their_wrong_pixels(sem, tmp_path):
    _, d, args = sem
    html, csv_path = tmp_path / "r.html", tmp_path / "p.csv"
    r = ok("eval", *args, "--html", html, "--worst", 5, "--ci", "--resamples", 100, "--per-image", csv_path)
    assert f"wrote {html}" in r.stderr
    text = html.read_text(encoding="utf-8")
    page = Page(text)
    assert_offline(text, page)
    assert assert_images_decode(text) == 5 * 3
    for section in ("per-class", "confusion", "per-image", "worst"):
        assert f'<section id="{section}">' in text
    assert len(page.table("per-class")["rows"]) == 5 and "whisker" in text         # intervals drawn
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    order = sorted(range(len(rows)), key=lambda i: (float(rows[i]["mIoU"]), i))[:5]
    assert [f["id"] for f in page.figures] == [rows[i]["image_id"] for i in order]
    for fig in page.figures:                                      # 48 x 64 pictures: no downscaling
        gt, pred = read_png(d.gt / f"{fig['id']}.png"), read_png(d.pred / f"{fig['id']}.png")
        wrong = np.all(_panel(fig, "errors") == STATUS_COLORS["wrong"], axis=2)
        np.testing.assert_array_equal(wrong, (gt != 255) & (gt != pred))


def test_report_html_from_the_state_is_the_eval_page(sem, tmp_path):
    _, _, args = sem
    state, a, b = tmp_path / "s.smstate", tmp_path / "a.html", tmp_path / "b.html"
    ok("eval", *args, "--html", a, "--save-state", state, "--worst", 4, "-q")
    ok("report", state, "--html", b, "--worst", 4, "-q")
    assert _without_date(a.read_text(encoding="utf-8")) == _without_date(b.read_text(encoding="utf-8"))


def test_report_html_of_moved_data(sem, tmp_path):
    root, d, args = sem
    data = tmp_path / "data"
    shutil.copytree(d.gt, data / "gt")
    shutil.copytree(d.pred, data / "pred")
    state = tmp_path / "s.smstate"
    ok("eval", "--gt", data / "gt", "--pred", data / "pred", "--class-names", d.class_names, "--no-cache",
       "--save-state", state, "-q")
    moved = tmp_path / "moved"
    shutil.move(data, moved)
    html = tmp_path / "r.html"
    r = ok("report", state, "--html", html)
    assert "no worst-image gallery" in r.stderr and "--gt / --pred" in r.stderr
    assert Page(html.read_text(encoding="utf-8")).figures == []
    ok("report", state, "--html", html, "--gt", moved / "gt", "--pred", moved / "pred", "-q")
    assert len(Page(html.read_text(encoding="utf-8")).figures) == 20
    assert_user_error(run("report", state, "--html", html, "--gt", tmp_path / "nowhere"), "nowhere")
    assert_user_error(run("report", state, "--gt", moved / "gt"), "--gt applies with --html")


def test_html_input_photos(sem, tmp_path):
    _, d, args = sem
    photos = tmp_path / "photos"
    photos.mkdir()
    for f in sorted(d.gt.glob("*.png")):
        Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(photos / f"{f.stem}.jpg")
    html = tmp_path / "r.html"
    ok("eval", *args, "--html", html, "--images", photos, "--worst", 2, "-q")
    page = Page(html.read_text(encoding="utf-8"))
    assert [im["alt"].split(" of ")[0] for im in page.figures[0]["imgs"]] == ["input", "ground truth", "prediction",
                                                                              "errors"]


def test_panoptic_html_marks_the_rule_sets_fp_and_fn_segments(pan, tmp_path):
    _, d, args = pan
    html = tmp_path / "p.html"
    ok("eval", *args, "--html", html, "--worst", 8, "-q")
    text = html.read_text(encoding="utf-8")
    page = Page(text)
    assert_offline(text, page)
    assert len(page.figures) == 8
    gt = load_panoptic_json(d.gt_json, d.gt_folder, require_categories=True)
    pred = load_panoptic_json(d.pred_json, d.pred_folder)
    dense = {c["id"]: i for i, c in enumerate(gt.categories)}
    for fig in page.figures:
        image_id = int(fig["id"])
        g_ids = rgb2id(read_id_png(gt.png_path(image_id))).astype(np.int64)
        p_ids = rgb2id(read_id_png(pred.png_path(image_id))).astype(np.int64)
        gs = sorted(gt.annotations[image_id]["segments_info"], key=lambda s: s["id"])
        ps = sorted(pred.annotations[image_id]["segments_info"], key=lambda s: s["id"])
        pairs = oracles.pair_counts(g_ids, p_ids, np.array([s["id"] for s in gs]), np.array([s["id"] for s in ps]))[0]
        twin = oracles.image_stats(pairs, np.array([dense[s["category_id"]] for s in gs]),
                                   np.array([s.get("iscrowd", 0) for s in gs], np.uint8),
                                   np.array([float(s["area"]) for s in gs]), np.arange(len(gs)),
                                   np.array([dense[s["category_id"]] for s in ps]), len(dense))
        fp = np.isin(p_ids, [s["id"] for s, o in zip(ps, twin["pred_outcome"]) if o == 2])
        fn = np.isin(g_ids, [s["id"] for s, o in zip(gs, twin["gt_outcome"]) if o == 2])
        seg = _panel(fig, "segments")
        np.testing.assert_array_equal(np.all(seg == STATUS_COLORS["fp"], axis=2), fp)
        np.testing.assert_array_equal(np.all(seg == STATUS_COLORS["fn"], axis=2), fn & ~fp)
        legend = " ".join(fig["legend"])
        assert f"false negative (GT, {int(twin['fn'].sum())})" in legend
        assert f"false positive (prediction, {int(twin['fp'].sum())})" in legend


def test_panoptic_result_exposes_the_category_map_matrix(pan):
    import segmetrics as sm

    _, d, _ = pan
    res = sm.evaluate_panoptic_folders(d.gt_json, d.pred_json, per_image=True)
    cats = res.categories
    want = np.zeros((len(cats) + 1,) * 2, np.int64)
    gt = load_panoptic_json(d.gt_json, d.gt_folder, require_categories=True)
    pred = load_panoptic_json(d.pred_json, d.pred_folder)
    dense = {c["id"]: i for i, c in enumerate(cats)}
    for image_id, ann in gt.annotations.items():                     # paint both category maps
        g = rgb2id(read_id_png(gt.png_path(image_id)))
        p = rgb2id(read_id_png(pred.png_path(image_id)))
        gc = np.full(g.shape, -1)
        pc = np.full(p.shape, len(cats))
        for s in ann["segments_info"]:
            gc[g == s["id"]] = dense[s["category_id"]]
        for s in pred.annotations[image_id]["segments_info"]:
            pc[p == s["id"]] = dense[s["category_id"]]
        keep = gc >= 0
        np.add.at(want, (gc[keep], pc[keep]), 1)
    np.testing.assert_array_equal(res.confusion, want)
    assert res.report_data().confusion.shape == (len(cats) + 1,) * 2


# ----------------------------------------------------------------------------- compare --html
def test_compare_html_of_states_and_of_json_reports(sem, tmp_path):
    _, d, args = sem
    new_pred = tmp_path / "new"
    shutil.copytree(d.pred, new_pred)
    for f in sorted(d.gt.glob("*.png"))[:12]:
        shutil.copy(f, new_pred / f.name)                           # 12 of 20 images predicted perfectly
    base, new = tmp_path / "a.smstate", tmp_path / "b.smstate"
    ok("eval", *args, "--save-state", base, "--json", tmp_path / "a.json", "-q")
    new_args = ["--gt", d.gt, "--pred", new_pred, "--class-names", d.class_names, "--no-cache"]
    ok("eval", *new_args, "--save-state", new, "--json", tmp_path / "b.json", "-q")
    html = tmp_path / "c.html"
    ok("compare", base, new, "--html", html, "-q")
    text = html.read_text(encoding="utf-8")
    page = Page(text)
    assert_offline(text, page)
    head = page.table("headline")
    miou = next(r for r in head["rows"] if r[0][0] == "mIoU")
    cells = dict(zip(head["header"], miou))
    assert cells["significant"][0] == "yes" and float(cells["p"][1]) <= 0.05
    assert "Holm-adjusted p &lt;= 0.05" in text and "not corrected across metrics" in text
    assert len(page.table("per-class", 0)["rows"]) == 5
    ok("compare", tmp_path / "a.json", tmp_path / "b.json", "--html", html, "-q")
    assert "significance needs run-state files" in html.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- figures
def _check_figures(folder: Path, names: set) -> None:
    files = {p.name for p in folder.iterdir()}
    assert files == {f"{n}.{ext}" for n in names for ext in ("png", "svg")}
    for n in names:
        with Image.open(folder / f"{n}.png") as im:
            im.load()
            assert im.width > 100 and im.height > 100
        assert ET.parse(folder / f"{n}.svg").getroot().tag.endswith("svg")


def test_plots_from_eval_report_and_compare(sem, pan, tmp_path):
    pytest.importorskip("matplotlib")
    _, _, args = sem
    state = tmp_path / "s.smstate"
    r = ok("eval", *args, "--plots", tmp_path / "e", "--save-state", state)
    assert "wrote 6 figure files" in r.stderr
    _check_figures(tmp_path / "e", {"per_class", "confusion", "per_image"})
    ok("report", state, "--plots", tmp_path / "r", "--ci", "--resamples", 50, "-q")
    _check_figures(tmp_path / "r", {"per_class", "confusion", "per_image"})
    ok("compare", state, state, "--plots", tmp_path / "c", "-q")
    _check_figures(tmp_path / "c", {"per_class", "comparison"})
    _, _, pargs = pan
    ok("eval", *pargs, "--plots", tmp_path / "p", "-q")
    _check_figures(tmp_path / "p", {"per_class", "confusion", "per_image"})


def test_result_plot_methods_return_figures(sem):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    import segmetrics as sm

    _, d, _ = sem
    res = sm.evaluate_semantic_folders(d.gt, d.pred, class_names=d.class_names, per_image=True)
    iv = res.intervals(resamples=50)
    for fig in (res.plot_confusion(log=True), res.plot_per_class(intervals=iv), res.plot_per_image()):
        assert isinstance(fig, Figure) and fig.axes
    whiskers = res.plot_per_class(intervals=iv).axes[0].collections   # the errorbar's line collections
    assert whiskers and not res.plot_per_class().axes[0].collections
    segments = whiskers[0].get_segments()                              # one whisker per class, the bootstrap's
    rows = sorted(range(5), key=lambda c: -res.per_class["IoU"][c])
    for seg, c in zip(segments, rows):
        assert sorted(p[0] for p in seg) == pytest.approx([100 * iv.low["IoU"][c], 100 * iv.high["IoU"][c]])
    arrays = sm.evaluate_semantic_folders(d.gt, d.pred, class_names=d.class_names)   # no per-image counts
    assert isinstance(arrays.plot_confusion(), Figure)
    with pytest.raises(InputError, match="per-image counts"):
        arrays.intervals()


def test_figures_without_matplotlib_are_one_clear_error(sem, tmp_path, monkeypatch):
    import segmetrics as sm

    _, d, args = sem
    res = sm.evaluate_semantic_folders(d.gt, d.pred, class_names=d.class_names)
    monkeypatch.setitem(sys.modules, "matplotlib", None)             # as if the [plot] extra were not installed
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(InputError, match=r"segmetrics\[plot\]"):
        res.plot_confusion()
    assert_user_error(run("eval", *args, "--plots", tmp_path / "f"), "needs matplotlib", "segmetrics[plot]")
