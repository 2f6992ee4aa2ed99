"""``segmetrics eval / compare / demo`` through click's CliRunner: every flag and error path."""
from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from segmetrics.cli import cli

from cli_data import assert_user_error, make_flat_set, oracle_confusion, oracle_miou, read_png, write_png

pytest.importorskip("segmetrics.semantic")


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


@pytest.fixture
def flat(tmp_path):
    gt, pred, arrays = make_flat_set(tmp_path, n=6, k=4)
    return gt, pred, arrays


def test_help_of_every_command_has_examples():
    for args in (["--help"], ["eval", "--help"], ["compare", "--help"], ["demo", "--help"]):
        r = run(*args)
        assert r.exit_code == 0
        assert "segmetrics demo" in r.output or "Examples" in r.output
    text = run("eval", "--help").output
    for word in ("--preset", "ade20k", "cityscapes", "camvid", "coco-panoptic", "Label-map file",
                 "Class-names file", "Exit codes", "--allow-missing", "false negative"):
        assert word in text
    assert "0.1.0" in run("--version").output


def test_semantic_json_matches_numpy_oracle(flat, tmp_path):
    gt, pred, arrays = flat
    out = tmp_path / "r.json"
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--json", out, "--per-class")
    assert r.exit_code == 0, r.output
    rep = json.loads(out.read_text())
    cm = oracle_confusion(arrays, 4)
    assert rep["task"] == "semantic" and rep["dataset"]["images"] == 6
    assert math.isclose(rep["metrics"]["mIoU"], oracle_miou(cm), rel_tol=1e-12)
    assert math.isclose(rep["metrics"]["aAcc"], np.trace(cm) / cm.sum(), rel_tol=1e-12)
    assert [c["gt_pixels"] for c in rep["per_class"]] == cm.sum(1).tolist()
    assert rep["params"]["num_classes"] == 4 and rep["params"]["ignore_index"] == 255
    assert "mIoU" in r.stdout and f"{100 * oracle_miou(cm):.2f}" in r.stdout
    assert "pred px" in r.stdout  # per-class table (header of pred_pixels)


def test_json_to_stdout_markdown_and_quiet(flat):
    gt, pred, arrays = flat
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--json", "-", "-q")
    assert r.exit_code == 0 and r.stderr == ""
    assert json.loads(r.stdout)["metrics"]["mIoU"] > 0
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--markdown", "--per-class")
    assert r.stdout.startswith("### segmetrics: semantic") and "| mIoU" not in r.stdout.splitlines()[0]
    assert "<details>" in r.stdout


def test_per_image_csv_matches_oracle(flat, tmp_path):
    gt, pred, arrays = flat
    path = tmp_path / "per_image.csv"
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--per-image", path, "-q")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [row["image_id"] for row in rows] == [f"img_{i:03d}" for i in range(6)]
    for row, pair in zip(rows, arrays):
        cm = oracle_confusion([pair], 4)
        assert int(row["pixels"]) == cm.sum()
        assert math.isclose(float(row["aAcc"]), np.trace(cm) / cm.sum(), abs_tol=1e-6)
        assert math.isclose(float(row["mIoU"]), oracle_miou(cm), abs_tol=1e-6)


def test_jobs_do_not_change_results(flat):
    gt, pred, _ = flat
    outs = [json.loads(run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--json", "-", "-j", j).stdout)
            for j in (1, 3)]
    assert outs[0]["metrics"] == outs[1]["metrics"] and outs[0]["per_class"] == outs[1]["per_class"]


def test_fail_under_gate(flat):
    gt, pred, arrays = flat
    miou = 100 * oracle_miou(oracle_confusion(arrays, 4))
    ok = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--fail-under", f"mIoU={miou - 0.01:.2f}")
    assert ok.exit_code == 0
    bad = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--fail-under", f"mIoU={miou + 1:.2f},aAcc=1")
    assert bad.exit_code == 3
    assert bad.stderr.strip().splitlines() == [f"segmetrics: FAILED: mIoU {miou:.2f} < {miou + 1:.2f} (--fail-under)"]
    assert "mIoU" in bad.stdout  # the report is still printed
    assert run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--fail-under", "mIoU").exit_code == 2
    assert run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--fail-under", "miou=3").exit_code == 2
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--fail-under", "PQ=3")
    assert_user_error(r, "PQ", "not in this semantic report")


def test_allow_missing_scores_void(tmp_path):
    gt, pred, arrays = make_flat_set(tmp_path, n=5, k=3)
    (pred / "img_001.png").unlink()
    (pred / "img_004.png").unlink()
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 3)
    assert_user_error(r, "2 of 5 ground-truth images have no prediction", "img_001, img_004", "--allow-missing")
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 3, "--allow-missing", "--json", "-", "-q")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    cm = oracle_confusion([arrays[i] for i in (0, 2, 3)], 3)
    void = sum(np.bincount(arrays[i][0][arrays[i][0] != 255].ravel(), minlength=3) for i in (1, 4))
    tp = np.diag(cm)
    iou = tp / (cm.sum(0) + cm.sum(1) + void - tp)
    assert math.isclose(rep["metrics"]["mIoU"], iou.mean(), rel_tol=1e-12)
    assert math.isclose(rep["metrics"]["aAcc"], tp.sum() / (cm.sum() + void.sum()), rel_tol=1e-12)
    assert rep["dataset"]["missing_predictions"] == 2 and rep["dataset"]["images"] == 5
    assert any("all-void" in w for w in rep["warnings"])
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 3, "--allow-missing", "--per-image", "-", "-q")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["missing_prediction"] for row in rows] == ["False", "True", "False", "False", "True"]
    assert float(rows[1]["aAcc"]) == 0.0


@pytest.mark.parametrize(
    "setup, args, fragments",
    [
        ("none", ["--gt", "{t}/nope", "--pred", "{t}/pred"], ["ground-truth path not found", "nope"]),
        ("none", ["--gt", "{t}/gt", "--pred", "{t}/nope"], ["prediction path not found"]),
        ("empty", ["--gt", "{t}/empty", "--pred", "{t}/pred"], ["no ground-truth label files"]),
        ("size", ["--gt", "{t}/gt", "--pred", "{t}/pred"], ["img_000", "32x24", "31x24"]),
        ("label", ["--gt", "{t}/gt", "--pred", "{t}/pred"], ["img_001", "9"]),
        ("rgb", ["--gt", "{t}/gt", "--pred", "{t}/pred"], ["img_000", "single-channel"]),
        ("none", ["--gt", "{t}/gt", "--pred", "{t}/pred", "--preset", "coco-panoptic"],
         ["panoptic evaluation needs a COCO-panoptic JSON"]),
        ("nonum", ["--gt", "{t}/gt", "--pred", "{t}/pred"], ["needs the number of classes"]),
        ("none", ["--gt", "{t}/gt", "--pred", "{t}/pred", "--class-names", "{t}/names.txt"],
         ["gives 2 names but num_classes is 4"]),
        ("none", ["--gt", "{t}/gt", "--pred", "{t}/pred", "--ignore-index", "2"], ["ignore_index 2 is one of the 4"]),
        ("none", ["--gt", "{t}/gt", "--pred", "{t}/pred", "--label-map", "{t}/bad_map.txt"], ["bad_map.txt:1"]),
        ("none", ["--gt", "{t}/gt", "--pred", "{t}/pred", "--label-map", "{t}/absent_map.txt"], ["absent_map.txt"]),
        ("none", ["--gt", "{t}/gt", "--pred", "{t}/pred", "--pred-label-map", "gt"], ["pred_labels='as-gt' needs"]),
    ],
)
def test_user_errors_are_one_line(tmp_path, setup, args, fragments):
    make_flat_set(tmp_path, n=2, k=4)
    (tmp_path / "names.txt").write_text("a\nb\n")
    (tmp_path / "bad_map.txt").write_text("1 2 3\n")
    if setup == "empty":
        (tmp_path / "empty").mkdir()
    elif setup == "size":
        write_png(tmp_path / "pred" / "img_000.png", np.zeros((24, 31), np.uint8))
    elif setup == "label":
        write_png(tmp_path / "pred" / "img_001.png", np.full((24, 32), 9, np.uint8))
    elif setup == "rgb":
        write_png(tmp_path / "pred" / "img_000.png", np.zeros((24, 32, 3), np.uint8))
    extra = [] if setup == "nonum" else ["--num-classes", "4"]
    r = run("eval", *[a.format(t=tmp_path) for a in args], *extra)
    assert_user_error(r, *fragments)


def test_usage_errors(tmp_path, flat):
    gt, pred, _ = flat
    assert run("eval", "--gt", gt).exit_code == 2
    assert run("eval", "--gt", gt, "--pred", pred, "--num-classes", 0).exit_code == 2
    assert run("eval", "--gt", gt, "--pred", pred, "--preset", "kitti").exit_code == 2
    assert run("eval", "--demo", "--gt", gt).exit_code == 2
    assert run("eval", "--demo", "--json", tmp_path / "x.json").exit_code == 2


def test_label_map_and_class_names_flags(tmp_path):
    # raw values 10, 20, 30 -> classes 0, 1, 2; 0 unlisted -> ignored
    rng = np.random.default_rng(3)
    g = rng.choice([0, 10, 20, 30], size=(16, 16)).astype(np.uint8)
    p = rng.integers(0, 3, size=(16, 16)).astype(np.uint8)
    write_png(tmp_path / "gt" / "a.png", g)
    write_png(tmp_path / "pred" / "a.png", p)
    (tmp_path / "map.json").write_text('{"10": 0, "20": 1, "30": 2}')
    (tmp_path / "names.txt").write_text("red\ngreen\nblue\n")
    r = run("eval", "--gt", tmp_path / "gt", "--pred", tmp_path / "pred", "--label-map", tmp_path / "map.json",
            "--class-names", tmp_path / "names.txt", "--json", "-", "-q")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    lut = np.full(256, 255)
    lut[[10, 20, 30]] = [0, 1, 2]
    cm = oracle_confusion([(g, p)], 3, gt_lut=lut)
    assert math.isclose(rep["metrics"]["mIoU"], oracle_miou(cm), rel_tol=1e-12)
    assert [c["name"] for c in rep["per_class"]] == ["red", "green", "blue"]
    assert rep["params"]["label_map"].endswith("map.json")
    # the prediction may use the same raw ids
    write_png(tmp_path / "pred2" / "a.png", np.array([0, 10, 20, 30], np.uint8)[p + 1])
    r2 = run("eval", "--gt", tmp_path / "gt", "--pred", tmp_path / "pred2", "--label-map", tmp_path / "map.json",
             "--pred-label-map", "gt", "--num-classes", 3, "--json", "-", "-q")
    assert json.loads(r2.stdout)["metrics"] == rep["metrics"]


def test_presets_on_generated_layouts(tmp_path):
    rng = np.random.default_rng(7)
    # Cityscapes: labelIds GT in city folders, train-id predictions flat with the image suffix
    ids = np.array(sorted(set(range(34))))
    pairs = []
    for city, n in (("aachen", 2), ("bonn", 1)):
        for i in range(n):
            g = rng.choice(ids, size=(16, 32)).astype(np.uint8)
            p = rng.integers(0, 19, size=(16, 32)).astype(np.uint8)
            stem = f"{city}_{i:06d}_000019"
            write_png(tmp_path / "cs_gt" / city / f"{stem}_gtFine_labelIds.png", g)
            write_png(tmp_path / "cs_gt" / city / f"{stem}_gtFine_color.png", np.zeros((16, 32, 3), np.uint8))
            write_png(tmp_path / "cs_pred" / f"{stem}_leftImg8bit.png", p)
            pairs.append((g, p))
    r = run("eval", "--preset", "cityscapes", "--gt", tmp_path / "cs_gt", "--pred", tmp_path / "cs_pred", "--json", "-", "-q")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    from segmetrics.presets import CITYSCAPES_LABELID_TO_TRAINID
    lut = np.full(256, 255)
    for k, v in CITYSCAPES_LABELID_TO_TRAINID.items():
        lut[k] = v
    cm = oracle_confusion(pairs, 19, gt_lut=lut)
    assert rep["dataset"]["images"] == 3 and rep["per_class"][13]["name"] == "car"
    assert math.isclose(rep["metrics"]["mIoU"], oracle_miou(cm), rel_tol=1e-12)
    # CamVid: 11 is ignored
    gt, pred, arrays = make_flat_set(tmp_path / "cv", n=3, k=11, ignore=11)
    r = run("eval", "--preset", "camvid", "--gt", gt, "--pred", pred, "--json", "-", "-q")
    rep = json.loads(r.stdout)
    assert math.isclose(rep["metrics"]["mIoU"], oracle_miou(oracle_confusion(arrays, 11, ignore=11)), rel_tol=1e-12)
    assert rep["per_class"][10]["name"] == "Bicyclist" and rep["params"]["ignore_index"] == 11
    # ADE20K: GT 0 ignored, k -> k-1; the GT itself as prediction scores 1.0
    gt, _, arrays = make_flat_set(tmp_path / "ade", n=2, k=150, ignore=None, gt_values=lambda g: g)
    r = run("eval", "--preset", "ade20k", "--gt", gt, "--pred", gt, "--json", "-", "-q")
    rep = json.loads(r.stdout)
    assert rep["metrics"]["mIoU"] == 1.0 and rep["params"]["reduce_zero_label"] is True
    assert rep["per_class"][0]["name"] == "wall"
    assert rep["per_class"][0]["gt_pixels"] == sum(int((g == 1).sum()) for g, _ in arrays)
    # predictions already in 0..149 need --no-pred-reduce-zero-label
    ade_pred = tmp_path / "ade_pred0"
    for i, (g, _) in enumerate(arrays):
        write_png(ade_pred / f"img_{i:03d}.png", np.where(g == 0, 0, g.astype(np.int64) - 1).astype(np.uint8))
    write_png(tmp_path / "tiny_gt" / "a.png", np.array([[1, 2], [3, 0]], np.uint8))
    write_png(tmp_path / "tiny_pred" / "a.png", np.array([[0, 1], [2, 0]], np.uint8))
    r = run("eval", "--preset", "ade20k", "--gt", tmp_path / "tiny_gt", "--pred", tmp_path / "tiny_pred",
            "--pred-reduce-zero-label")
    assert_user_error(r, "--no-pred-reduce-zero-label")
    # the default (--pred-labels auto) sees a 0 on a scored pixel: only class indices hold it
    r = run("eval", "--preset", "ade20k", "--gt", tmp_path / "tiny_gt", "--pred", tmp_path / "tiny_pred", "--json", "-")
    rep = json.loads(r.stdout)
    assert rep["metrics"]["mIoU"] == 1.0 and rep["params"]["pred_labels"] == "class-index"
    assert "value 0" in rep["notes"][0] and "predictions read as class indices" in r.stderr
    r = run("eval", "--preset", "ade20k", "--gt", tmp_path / "tiny_gt", "--pred", tmp_path / "tiny_pred",
            "--no-pred-reduce-zero-label", "--json", "-", "-q")
    assert json.loads(r.stdout)["metrics"]["mIoU"] == 1.0
    r = run("eval", "--preset", "ade20k", "--gt", gt, "--pred", ade_pred, "--no-pred-reduce-zero-label", "--json", "-", "-q")
    assert json.loads(r.stdout)["metrics"]["mIoU"] == 1.0


def test_demo_commands(tmp_path):
    r = run("demo", "--demo-dir", tmp_path / "d", "--task", "semantic")
    assert r.exit_code == 0, r.output
    assert "mIoU" in r.stdout and (tmp_path / "d" / "semantic" / "gt" / "demo_0000.png").exists()
    out = tmp_path / "demo.json"
    r = run("eval", "--demo", "--demo-task", "semantic", "--json", out, "-q")
    assert r.exit_code == 0
    rep = json.loads(out.read_text())
    assert rep["dataset"]["images"] == 20
    # the same dataset evaluated by hand gives the same numbers
    d = tmp_path / "d" / "semantic"
    arrays = [(read_png(p), read_png(d / "pred" / p.name)) for p in sorted((d / "gt").glob("*.png"))]
    assert math.isclose(rep["metrics"]["mIoU"], oracle_miou(oracle_confusion(arrays, 5)), rel_tol=1e-12)
    r2 = run("eval", "--demo", "--demo-task", "semantic", "--json", "-", "-q")
    assert json.loads(r2.stdout)["dataset"]["fingerprint"] == rep["dataset"]["fingerprint"]  # deterministic


def test_compare_command(flat, tmp_path):
    gt, pred, _ = flat
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--json", a, "-q")
    run("eval", "--gt", gt, "--pred", gt, "--num-classes", 4, "--json", b, "-q")
    r = run("compare", a, a, "--max-drop", "mIoU=0")
    assert r.exit_code == 0 and "+0.00" in r.stdout
    r = run("compare", b, a, "--max-drop", "mIoU=0.5")
    assert r.exit_code == 3 and r.stderr.startswith("segmetrics: FAILED: mIoU dropped")
    r = run("compare", a, b, "--max-drop", "mIoU=0.5", "--top", 2)
    assert r.exit_code == 0 and "IoU" in r.stdout
    # different data is refused unless allowed
    other = json.loads(a.read_text())
    other["dataset"]["fingerprint"] = "sha256:" + "0" * 64
    c = tmp_path / "c.json"
    c.write_text(json.dumps(other))
    assert_user_error(run("compare", a, c), "different ground truth", "--allow-different-data")
    assert run("compare", a, c, "--allow-different-data").exit_code == 0
    (tmp_path / "junk.json").write_text("{")
    assert_user_error(run("compare", a, tmp_path / "junk.json"), "not valid JSON")
    (tmp_path / "other.json").write_text("{}")
    assert_user_error(run("compare", a, tmp_path / "other.json"), "not a segmetrics report")
    assert run("compare", a, b, "--max-drop", "mIoU").exit_code == 2


def test_reference_model_commands_registered_when_importable(monkeypatch):
    import importlib
    import sys
    import types

    import click

    import segmetrics.cli as cli_mod

    fake = types.ModuleType("reference_models.cli")
    fake.train = click.Command("train", callback=lambda: None)
    fake.predict = click.Command("predict", callback=lambda: None)
    pkg = types.ModuleType("reference_models")
    monkeypatch.setitem(sys.modules, "reference_models", pkg)
    monkeypatch.setitem(sys.modules, "reference_models.cli", fake)
    try:
        reloaded = importlib.reload(cli_mod)
        names = reloaded.cli.list_commands(click.Context(reloaded.cli))
        assert {"train", "predict", "eval"} <= set(names)
        assert reloaded.cli.get_command(None, "train") is fake.train
    finally:
        monkeypatch.delitem(sys.modules, "reference_models.cli")
        monkeypatch.delitem(sys.modules, "reference_models")
        importlib.reload(cli_mod)


def test_reference_model_commands_absent_when_not_importable(monkeypatch):
    """Without the optional package the group lists neither command and runs the others."""
    import sys

    import click

    import segmetrics.cli as cli_mod

    monkeypatch.setitem(sys.modules, "reference_models", None)  # import fails: ImportError
    monkeypatch.delitem(sys.modules, "reference_models.cli", raising=False)
    group = cli_mod.LazyGroup(name="t", commands={})
    names = group.list_commands(click.Context(group))
    assert "train" not in names and "predict" not in names and "eval" in names
    assert group.get_command(None, "train") is None and group.get_command(None, "nope") is None
    res = CliRunner().invoke(group, ["train"])
    assert res.exit_code != 0 and "No such command" in res.output


@pytest.mark.parametrize("use_tqdm", [True, False])
def test_progress_bar_only_on_a_terminal(monkeypatch, use_tqdm):
    import sys

    from segmetrics.cli import _common

    with _common.progress_bar("x", quiet=False) as tick:
        assert tick is None  # stderr is not a terminal under pytest
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    if not use_tqdm:
        monkeypatch.setitem(sys.modules, "tqdm", None)
    with _common.progress_bar("x", quiet=True) as tick:
        assert tick is None
    with _common.progress_bar("x", quiet=False) as tick:
        for _ in range(3):
            tick(1)


def test_remaining_flags_against_oracles(tmp_path):
    rng = np.random.default_rng(11)
    # GT uses 9 as its void value; class 3 is predicted but never in the GT
    g = rng.integers(0, 3, size=(20, 20)).astype(np.uint8)
    g[:3] = 9
    p = g.copy()
    p[rng.random(g.shape) < 0.2] = 3
    write_png(tmp_path / "gt" / "a.png", g)
    write_png(tmp_path / "pred" / "a.png", p)
    base = ["eval", "--gt", tmp_path / "gt", "--pred", tmp_path / "pred", "--num-classes", 4, "--json", "-", "-q"]
    mm = json.loads(run(*base, "--ignore-index", 9).stdout)
    d2 = json.loads(run(*base, "--ignore-index", 9, "--absent-rule", "detectron2", "--task", "semantic").stdout)
    cm = oracle_confusion([(g, p)], 4, ignore=9)
    tp = np.diag(cm)
    iou = tp / (cm.sum(0) + cm.sum(1) - tp)
    assert math.isclose(mm["metrics"]["mIoU"], iou.mean(), rel_tol=1e-12)  # class 3 counts with IoU 0
    assert math.isclose(d2["metrics"]["mIoU"], iou[:3].mean(), rel_tol=1e-12)  # left out
    assert mm["per_class"][3]["IoU"] == 0.0 and d2["per_class"][3]["IoU"] is None
    assert d2["params"]["absent_rule"] == "detectron2"
    # without --ignore-index the 9s are out of range: an error naming the value
    assert_user_error(run(*base[:-3]), "9")
    # --reduce-zero-label without a preset; --pred-label-map FILE for predictions in other ids
    write_png(tmp_path / "gt1" / "a.png", (g + 1) * (g != 9))
    (tmp_path / "pmap.txt").write_text("0 0\n1 1\n2 2\n3 3\n")
    r = run("eval", "--gt", tmp_path / "gt1", "--pred", tmp_path / "pred", "--num-classes", 4, "--reduce-zero-label",
            "--no-pred-reduce-zero-label", "--pred-label-map", tmp_path / "pmap.txt", "--json", "-", "-q")
    assert json.loads(r.stdout)["metrics"] == mm["metrics"]
    # --task panoptic on label folders is refused
    assert_user_error(run("eval", "--gt", tmp_path / "gt", "--pred", tmp_path / "pred", "--task", "panoptic"),
                      "needs a COCO-panoptic JSON")


def test_everything_ignored_is_an_error(tmp_path):
    # issue 11 item 5: a run that scores no pixel at all is an error (like an empty folder), not n/a with exit 0
    write_png(tmp_path / "gt" / "a.png", np.full((4, 4), 255, np.uint8))
    write_png(tmp_path / "pred" / "a.png", np.zeros((4, 4), np.uint8))
    args = ["eval", "--gt", tmp_path / "gt", "--pred", tmp_path / "pred", "--num-classes", 2]
    assert_user_error(run(*args, "--json", tmp_path / "r.json"), "nothing to score", "ignore_index 255")
    assert not (tmp_path / "r.json").exists()
    assert_user_error(run(*args, "--fail-under", "mIoU=1"), "nothing to score")


def test_compare_and_demo_output_switches(flat, tmp_path):
    gt, pred, _ = flat
    a = tmp_path / "a.json"
    run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--json", a, "-q")
    with_pc = run("compare", a, a).stdout
    without = run("compare", a, a, "--no-per-class").stdout
    assert "base IoU" in with_pc and "base IoU" not in without and "mIoU" in without
    r = run("demo", "--task", "semantic", "--markdown", "-q")
    assert r.exit_code == 0 and r.stdout.startswith("### segmetrics: semantic") and r.stderr == ""


def _cityscapes_official(pairs):
    """The Cityscapes script's rule, by hand: over GT pixels of the 19 evaluated classes, a
    prediction of any other label id is wrong (a false negative of the GT class) and is
    nobody's false positive.  Returns per-class (tp, fp, fn) and the pixel accuracy."""
    from segmetrics.presets import CITYSCAPES_LABELID_TO_TRAINID as to_train

    tp, fp, fn = np.zeros(19, np.int64), np.zeros(19, np.int64), np.zeros(19, np.int64)
    scored = correct = 0
    for g, p in pairs:
        for gv, pv in zip(g.ravel().tolist(), p.ravel().tolist()):
            gc, pc = to_train.get(gv), to_train.get(pv)
            if gc is None:
                continue  # not evaluated
            scored += 1
            if pc == gc:
                tp[gc] += 1
                correct += 1
            else:
                fn[gc] += 1
                if pc is not None:
                    fp[pc] += 1
    return tp, fp, fn, correct / scored


@pytest.mark.parametrize("allow_missing", [False, True])
def test_cityscapes_label_id_predictions_scored_as_the_official_script(tmp_path, allow_missing):
    rng = np.random.default_rng(21)
    pairs = []
    for i in range(3):
        g = rng.integers(0, 34, size=(12, 20)).astype(np.uint8)
        p = np.where(rng.random(g.shape) < 0.6, g, rng.integers(0, 34, size=g.shape)).astype(np.uint8)
        stem = f"bonn_{i:06d}_000019"
        write_png(tmp_path / "gt" / "bonn" / f"{stem}_gtFine_labelIds.png", g)
        if allow_missing and i == 1:
            pairs.append((g, np.zeros_like(g)))  # missing: every GT pixel a miss (label id 0 is void)
            continue
        write_png(tmp_path / "pred" / "bonn" / f"{stem}_gtFine_labelIds.png", p)
        pairs.append((g, p))
    args = ["eval", "--preset", "cityscapes", "--gt", tmp_path / "gt", "--pred", tmp_path / "pred", "-q",
            "--no-cache", "--pred-label-map", "gt"] + (["--allow-missing"] if allow_missing else [])
    assert_user_error(run(*args), "--void-predictions miss")  # label id 0..6 etc. are predicted
    r = run(*args, "--void-predictions", "miss", "--json", "-")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    tp, fp, fn, acc = _cityscapes_official(pairs)
    union = tp + fp + fn
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    assert math.isclose(rep["metrics"]["aAcc"], acc, rel_tol=1e-12)
    assert math.isclose(rep["metrics"]["mIoU"], float(np.nanmean(iou)), rel_tol=1e-12)
    got = np.array([np.nan if row["IoU"] is None else row["IoU"] for row in rep["per_class"]], float)
    np.testing.assert_allclose(got, iou, rtol=1e-12)
    assert len(rep["per_class"]) == 19 and rep["params"]["void_predictions"] == "miss"
    assert any("predicted as void" in w for w in rep["warnings"])


def test_void_predictions_miss_per_image_and_hints(tmp_path):
    gt, pred, arrays = make_flat_set(tmp_path, n=4, k=4)
    # a prediction of the ignore value on scored pixels
    p0 = read_png(pred / sorted(p.name for p in pred.iterdir())[0]).copy()
    p0[:2] = 255
    write_png(pred / sorted(p.name for p in pred.iterdir())[0], p0)
    base = ["eval", "--gt", gt, "--pred", pred, "--num-classes", "4", "-q", "--no-cache"]
    assert_user_error(run(*base), "ignore_index=255", "--void-predictions miss")
    r = run(*base, "--void-predictions", "miss", "--per-image", "-")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 4 and float(rows[0]["aAcc"]) < 1.0
    # the oracle: the ignore value predicted on a scored pixel is a wrong pixel, no class's FP
    g0 = arrays[0][0]
    keep = g0 != 255
    assert math.isclose(float(rows[0]["aAcc"]), float(np.mean(g0[keep] == p0[keep])), abs_tol=1e-6)  # CSV: 6 places
