"""``segmetrics eval`` on COCO-panoptic data: detection, layouts, parity with panopticapi."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from segmetrics.cli import cli
from segmetrics.demo import make_panoptic_demo

from cli_data import id2rgb, panopticapi_pq, perturb_panoptic, read_png, write_png

pytest.importorskip("segmetrics.panoptic")
pytest.importorskip("panopticapi")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_panoptic_demo(tmp_path_factory.mktemp("pan"))


def _check_against_panopticapi(rep, peer):
    for key, part in (("", "All"), ("_th", "Things"), ("_st", "Stuff")):
        for m in ("PQ", "SQ", "RQ"):
            assert math.isclose(rep["metrics"][m + key], peer[part][m.lower()], rel_tol=1e-9, abs_tol=1e-12), (m + key)
    for row in rep["per_class"]:
        if row["id"] in peer["per_class"] and row.get("PQ") is not None:
            assert math.isclose(row["PQ"], peer["per_class"][row["id"]]["pq"], rel_tol=1e-9, abs_tol=1e-12)


def test_demo_set_matches_panopticapi(demo):
    r = run("eval", "--gt", demo.gt_json, "--pred", demo.pred_json, "--json", "-", "-q")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["task"] == "panoptic" and rep["dataset"]["images"] == 6
    _check_against_panopticapi(rep, panopticapi_pq(demo.gt_json, demo.pred_json, demo.gt_folder, demo.pred_folder))
    assert rep["dataset"]["fingerprint"].startswith("sha256:")
    assert {"id", "name", "isthing", "PQ", "SQ", "RQ"} <= set(rep["per_class"][0])


def test_layout_detection_and_table(demo, tmp_path):
    # the PNG folder works as --gt / --pred when the JSON of the same name sits next to it
    r = run("eval", "--gt", demo.gt_folder, "--pred", demo.pred_folder, "--per-class")
    assert r.exit_code == 0, r.output
    assert "\nThings " in r.stdout and "person" in r.stdout and "thing" in r.stdout  # the PQ_th row
    # a folder holding one JSON and its PNG folder
    box = tmp_path / "box"
    box.mkdir()
    shutil.copy(demo.pred_json, box / "predictions.json")
    shutil.copytree(demo.pred_folder, box / "predictions")
    r2 = run("eval", "--gt", demo.gt_json, "--pred", box, "--json", "-", "-q")
    r1 = run("eval", "--gt", demo.gt_json, "--pred", demo.pred_json, "--json", "-", "-q")
    assert json.loads(r2.stdout)["metrics"] == json.loads(r1.stdout)["metrics"]
    # PNGs elsewhere: --pred-folder
    moved = tmp_path / "elsewhere"
    shutil.copytree(demo.pred_folder, moved)
    lone = tmp_path / "lone.json"
    shutil.copy(demo.pred_json, lone)
    r3 = run("eval", "--gt", demo.gt_json, "--pred", lone, "--pred-folder", moved, "--json", "-", "-q")
    assert json.loads(r3.stdout)["metrics"] == json.loads(r1.stdout)["metrics"]


def test_panoptic_errors(demo, tmp_path):
    lone = tmp_path / "lone.json"
    shutil.copy(demo.pred_json, lone)
    r = run("eval", "--gt", demo.gt_json, "--pred", lone)
    assert r.exit_code == 2 and "no PNG folder" in r.stderr and "--pred-folder" in r.stderr
    r = run("eval", "--gt", demo.gt_json, "--pred", demo.pred_json, "--num-classes", 3)
    assert r.exit_code == 2 and "apply to semantic evaluation" in r.stderr
    r = run("eval", "--gt", demo.gt_json, "--pred", demo.pred_json, "--void-predictions", "miss")
    assert r.exit_code == 2 and "--void-predictions apply to semantic evaluation" in r.stderr
    r = run("eval", "--gt", demo.gt_json, "--pred", demo.pred_json, "--preset", "cityscapes")
    assert r.exit_code == 2 and "preset cityscapes is for semantic" in r.stderr
    r = run("eval", "--gt", demo.gt_json, "--pred", demo.pred_json, "--fail-under", "PQ=99")
    assert r.exit_code == 3 and r.stderr.startswith("segmetrics: FAILED: PQ ")
    assert "Traceback" not in r.output


def test_ade20k_panoptic_layout(tmp_path):
    """Mask2Former layout: categories 0..149, string image ids, no crowd."""
    from segmetrics.presets import ADE20K_CLASSES

    cats = [{"id": i, "name": n, "isthing": int(i % 3 != 0)} for i, n in enumerate(ADE20K_CLASSES)]
    rng = np.random.default_rng(1)
    images, anns = [], []
    for i in range(3):
        image_id = f"ADE_val_{i + 1:08d}"
        ids = np.zeros((20, 30), np.int64)
        segs = []
        for j, (y, x) in enumerate([(0, 0), (0, 15), (10, 0), (10, 15)]):
            sid = 1 + j + 10 * i
            ids[y:y + 10, x:x + 15] = sid
            segs.append({"id": sid, "category_id": int(rng.integers(0, 150)), "iscrowd": 0, "area": 150,
                         "bbox": [x, y, 15, 10]})
        ids[0, 0] = 0
        segs[0]["area"] = 149
        write_png(tmp_path / "ade20k_panoptic_val" / f"{image_id}.png", id2rgb(ids))
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": 30, "height": 20})
        anns.append({"image_id": image_id, "file_name": f"{image_id}.png", "segments_info": segs})
    gt_json = tmp_path / "ade20k_panoptic_val.json"
    gt_json.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    pred_json = perturb_panoptic(gt_json, tmp_path / "ade20k_panoptic_val", tmp_path, "pred")
    r = run("eval", "--preset", "ade20k-panoptic", "--gt", gt_json, "--pred", pred_json, "--json", "-", "-q")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["params"]["preset"] == "ade20k-panoptic" and rep["warnings"] == []
    _check_against_panopticapi(rep, panopticapi_pq(gt_json, pred_json, tmp_path / "ade20k_panoptic_val", tmp_path / "pred"))
    # a GT JSON without the 150 categories is flagged
    small = json.loads(gt_json.read_text())
    used = {s["category_id"] for a in small["annotations"] for s in a["segments_info"]}
    used |= {s["category_id"] for a in json.loads(pred_json.read_text())["annotations"] for s in a["segments_info"]}
    small["categories"] = [c for c in cats if c["id"] in used]
    gt2 = tmp_path / "small.json"
    gt2.write_text(json.dumps(small))
    r = run("eval", "--preset", "ade20k-panoptic", "--gt", gt2, "--gt-folder", tmp_path / "ade20k_panoptic_val",
            "--pred", pred_json, "--json", "-")
    assert any("expects 150 categories" in w for w in json.loads(r.stdout)["warnings"])


def test_ade20k_panoptic_preset_checks(tmp_path):
    from segmetrics.folders import panoptic_preset_problems as _preset_checks
    from segmetrics.presets import PRESETS

    p = PRESETS["ade20k-panoptic"]
    cats = list(range(150))
    g = (tmp_path / "g.json").name
    assert _preset_checks(p, cats, 0, g) == []
    assert _preset_checks(PRESETS["coco-panoptic"], [], 0, g) == []
    shifted = [i + 1 for i in range(150)]
    assert "category ids 0..149; g.json has 1..150" in _preset_checks(p, shifted, 0, g)[0]
    assert "has 2" in _preset_checks(p, cats, 2, g)[0]


def _subset(json_path, keep_ids, out):
    data = json.loads(json_path.read_text())
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in keep_ids]
    out.write_text(json.dumps(data))
    return out


def test_allow_missing_equals_panopticapi_with_void_predictions(demo, tmp_path):
    import csv
    import io

    pred_json = _subset(demo.pred_json, {1, 2, 4, 5}, tmp_path / "p.json")
    r = run("eval", "--gt", demo.gt_json, "--pred", pred_json, "--pred-folder", demo.pred_folder)
    assert r.exit_code == 2 and "2 of 6 ground-truth images have no prediction" in r.stderr
    assert "--allow-missing" in r.stderr
    out = tmp_path / "r.json"
    r = run("eval", "--gt", demo.gt_json, "--pred", pred_json, "--pred-folder", demo.pred_folder,
            "--allow-missing", "--json", out, "--per-image", tmp_path / "img.csv", "-q")
    assert r.exit_code == 0, r.output
    rep = json.loads(out.read_text())
    assert rep["dataset"]["missing_predictions"] == 2
    assert any("false negatives" in w for w in rep["warnings"])
    # oracle: panopticapi with an all-void, segment-free prediction for the missing images
    void_dir = tmp_path / "void"
    shutil.copytree(demo.pred_folder, void_dir)
    data = json.loads(demo.pred_json.read_text())
    for ann in data["annotations"]:
        if ann["image_id"] in (3, 6):
            h, w = read_png(demo.gt_folder / ann["file_name"]).shape[:2]
            write_png(void_dir / ann["file_name"], np.zeros((h, w, 3), np.uint8))
            ann["segments_info"] = []
    void_json = tmp_path / "void.json"
    void_json.write_text(json.dumps(data))
    _check_against_panopticapi(rep, panopticapi_pq(demo.gt_json, void_json, demo.gt_folder, void_dir))
    rows = list(csv.DictReader(io.StringIO((tmp_path / "img.csv").read_text())))
    assert [r["missing_prediction"] for r in rows] == ["False", "False", "True", "False", "False", "True"]
    assert rows[2]["TP"] == "0" and rows[2]["FP"] == "0" and int(rows[2]["FN"]) > 0
    # per-image PQ equals panopticapi on that image alone
    one_gt = _subset(demo.gt_json, {2}, tmp_path / "one_gt.json")
    one_pred = _subset(demo.pred_json, {2}, tmp_path / "one_pred.json")
    peer = panopticapi_pq(one_gt, one_pred, demo.gt_folder, demo.pred_folder)
    assert math.isclose(float(rows[1]["PQ"]), peer["All"]["pq"], abs_tol=1e-6)
    assert math.isclose(float(rows[1]["RQ"]), peer["All"]["rq"], abs_tol=1e-6)


def test_panoptic_markdown(demo):
    r = run("eval", "--gt", demo.gt_json, "--pred", demo.pred_json, "--markdown", "--per-class", "-q")
    assert r.exit_code == 0
    assert "| PQ | SQ | RQ | PQ_th" in r.stdout and "| 3 | car |" in r.stdout


def test_panoptic_data_errors_are_one_line(demo, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (tmp_path / "bad.json").write_text("{")
    r = run("eval", "--gt", tmp_path / "bad.json", "--pred", demo.pred_json)
    assert r.exit_code == 2 and "bad.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    broken = tmp_path / "panoptic_pred"
    shutil.copytree(demo.pred_folder, broken)
    (broken / "pan_0003.png").unlink()
    shutil.copy(demo.pred_json, tmp_path / "panoptic_pred.json")
    r = run("eval", "--gt", demo.gt_json, "--pred", tmp_path / "panoptic_pred.json", "-j", 2)
    assert r.exit_code == 2 and "pan_0003.png" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_compare_panoptic_reports(demo, tmp_path):
    a, b = tmp_path / "perfect.json", tmp_path / "model.json"
    assert run("eval", "--gt", demo.gt_json, "--pred", demo.gt_json, "--json", a, "-q").exit_code == 0
    assert run("eval", "--gt", demo.gt_json, "--pred", demo.pred_json, "--json", b, "-q").exit_code == 0
    base, new = json.loads(a.read_text()), json.loads(b.read_text())
    assert base["metrics"]["PQ"] == 1.0 and base["dataset"]["fingerprint"] == new["dataset"]["fingerprint"]
    r = run("compare", a, b, "--max-drop", f"PQ={100 * (1 - new['metrics']['PQ']) + 0.01:.4f}")
    assert r.exit_code == 0 and "base PQ" in r.stdout
    r = run("compare", a, b, "--max-drop", "PQ=1")
    assert r.exit_code == 3 and "PQ dropped" in r.stderr
