"""Convention profiles: hand-derived cases written from each tool's source (detectron2,
mmsegmentation, HF evaluate, cityscapesScripts: not installable here), the never-silent rule for
dropped labels, states, files, merges and the CLI.  The tools that are installed are compared
directly in test_conventions_peers.py."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import segmetrics as sm
from segmetrics import conventions as C
from segmetrics import report as R
from segmetrics.cli import cli
from segmetrics.demo import make_panoptic_demo
from segmetrics.errors import InputError, LabelError
from segmetrics.presets import CITYSCAPES_CLASSES
from cli_data import write_png

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")


def write_pairs(root, pairs, names=None):
    for i, (g, p) in enumerate(pairs):
        name = f"im{i}.png" if names is None else names[i]
        write_png(root / "gt" / name, np.asarray(g, np.uint8))
        write_png(root / "pred" / name, np.asarray(p, np.uint8))
    return root / "gt", root / "pred"


# ----------------------------------------------------------------------------- the profiles themselves
def test_every_profile_names_a_source_for_every_rule_it_changes():
    for (task, name), p in C.PROFILES.items():
        assert p.task == task and p.name == name
        ref = C.PROFILES[(task, C.REFERENCE[task])]
        assert p.rules.keys() == ref.rules.keys()
        for key, value in p.rules.items():
            assert value in C.RULES[key].options
            assert p.sources.get(key), (name, key)  # every rule cites the tool's code
        assert set(p.reported) <= set(C._HEADLINE[task]) | {"SQ_th", "RQ_th", "SQ_st", "RQ_st"}
    assert C.profile_names("semantic") == ("mmseg", "detectron2", "torchmetrics", "hf-evaluate", "cityscapes")
    assert C.profile_names("panoptic") == ("panopticapi", "torchmetrics", "cityscapes")
    assert C.resolve_names("all", "panoptic") == C.profile_names("panoptic")
    assert C.resolve_names("detectron2, MMSEG", "semantic") == ("mmseg", "detectron2")
    with pytest.raises(InputError, match="choose one of panopticapi, torchmetrics, cityscapes"):
        C.get_profile("mmseg", "panoptic")
    # torchmetrics' panoptic rules are exactly the five options, each one a variant of its own
    assert C._variant("torchmetrics") == 0 and C._variant("cityscapes") is None
    assert sorted(C.PANOPTIC_VARIANTS[1:]) == [1, 2, 4, 8, 16]


# ----------------------------------------------------------------------------- hand-derived semantic cases
# K = 3.  GT 0 0 0 1 1 1 ign ign, prediction 0 0 2 1 1 0 1 2.
# Class 0: TP 2, FN 1 (predicted 2), P_0 = 3 (one from GT 1).  Class 1: TP 2, FN 1, P_1 = 2.
# Class 2: no GT, predicted once.  IoU = 2/4, 2/3, 0.
D2_GT, D2_PRED = [[0, 0, 0, 1, 1, 1, 255, 255]], [[0, 0, 2, 1, 1, 0, 1, 2]]


def test_detectron2_profile_hand_derived(tmp_path):
    """detectron2 sem_seg_evaluation.py: iou_valid = acc_valid & union > 0 (:195), miou over
    it (:198), fiou = sum(iou * pos_gt / sum(pos_gt)) (:190, :199), pacc = sum(tp) / sum(pos_gt)
    (:200), macc over acc_valid (:197)."""
    res = sm.evaluate_semantic_folders(*write_pairs(tmp_path, [(D2_GT, D2_PRED)]), num_classes=3,
                                       convention="detectron2", per_image=True)
    m = res.metrics
    assert m["mIoU"] == pytest.approx((1 / 2 + 2 / 3) / 2, abs=1e-15)
    assert m["fwIoU"] == pytest.approx(3 / 6 * 1 / 2 + 3 / 6 * 2 / 3, abs=1e-15)
    assert m["aAcc"] == pytest.approx(4 / 6, abs=1e-15) and m["mAcc"] == pytest.approx(2 / 3, abs=1e-15)
    assert math.isnan(res.per_class["IoU"][2]) and res.absent_rule == "detectron2"
    assert res.params["convention"] == "detectron2"
    # the reference (mmseg) counts class 2 as 0
    ref = sm.evaluate_semantic_folders(tmp_path / "gt", tmp_path / "pred", num_classes=3)
    assert ref.metrics["mIoU"] == pytest.approx((1 / 2 + 2 / 3 + 0) / 3, abs=1e-15)
    comp = ref.conventions()
    rule = next(r for row in comp["profiles"] if row["name"] == "detectron2" for r in row["rules"]
                if r["rule"] == "absent")
    assert rule["affected"] == 1 and rule["delta"]["mIoU"] == pytest.approx(m["mIoU"] - ref.metrics["mIoU"])


# K = 3.  GT 0 0 0 1 1 7 7 ign, prediction 0 9 0 1 255 1 9 0.  mmsegmentation's histc / HF's
# np.histogram (range [0, K-1]): label histogram [3, 2, 0] (the 7s dropped), prediction
# histogram over the 7 scored pixels [2, 2, 0] (9, 9 and 255 dropped, the 1 on a 7 kept),
# intersection [2, 1, 0]: IoU 2/3, 1/3, NaN; aAcc 3/5; Acc 2/3, 1/2; Dice 4/5, 2/4.
MM_GT, MM_PRED = [[0, 0, 0, 1, 1, 7, 7, 255]], [[0, 9, 0, 1, 255, 1, 9, 0]]


@pytest.mark.parametrize("name", ["mmseg", "hf-evaluate"])
def test_dropping_profiles_hand_derived_and_never_silent(tmp_path, name):
    """mmseg iou_metric.py IoUMetric.intersect_and_union (torch.histc, min=0, max=K-1) and HF
    mean_iou.py:151-153 (np.histogram, range=(0, K-1)) drop labels outside [0, K)."""
    gt, pred = write_pairs(tmp_path, [(MM_GT, MM_PRED)])
    with pytest.raises(LabelError):  # segmetrics' own rule: refused, naming the values
        sm.evaluate_semantic_folders(gt, pred, num_classes=3)
    res = sm.evaluate_semantic_folders(gt, pred, num_classes=3, convention=name)
    m = res.metrics
    assert m["mIoU"] == pytest.approx((2 / 3 + 1 / 3) / 2, abs=1e-15)
    assert m["aAcc"] == pytest.approx(3 / 5, abs=1e-15) and m["mAcc"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["mDice"] == pytest.approx((4 / 5 + 2 / 4) / 2, abs=1e-15)
    assert res.per_class["pred_pixels"].tolist() == [2, 2, 0] and res.per_class["gt_pixels"].tolist() == [3, 2, 0]
    st = res.state
    assert st.dropped_gt.tolist() == [0, 1, 0, 1] and st.dropped_pred.tolist() == [1, 0, 0]
    assert st.void.tolist() == [0, 1, 0]
    text = " ".join(res.warnings)
    assert "2 ground-truth pixels have labels outside [0, 3)" in text and "1 prediction in [0, 3)" in text
    assert "1 scored pixel is predicted outside [0, 3)" in text and "1 scored pixel was predicted as void" in text
    # the strict tools have no number for this run, and say why
    rows = {r["name"]: r for r in res.conventions()["profiles"]}
    for strict in ("detectron2", "torchmetrics", "cityscapes"):
        assert not rows[strict]["available"] and "cannot score 2 pixels" in rows[strict]["reason"]
        with pytest.raises(InputError, match="cannot score"):
            C.semantic_summary(st, strict, res.class_names)
    assert rows["hf-evaluate"]["metrics"]["mIoU"] == rows["mmseg"]["metrics"]["mIoU"] == m["mIoU"]
    assert set(rows["hf-evaluate"]["metrics"]) == {"aAcc", "mAcc", "mIoU"}


def test_cityscapes_profile_void_predictions_and_categories():
    """cityscapesScripts evalPixelLevelSemanticLabeling.py: fn = row sum - tp (:239, every
    predicted id, ignored ones included), fp only from evaluated rows (:246); categories
    (:297-327).  GT road road sidewalk car car; prediction road sidewalk road car void.
    Classes: road 1 / (2 + 2 - 1) = 1/3, sidewalk 0 / 2 = 0, car 1 / 2.  Categories: flat
    (road, sidewalk) 3 / 3 = 1, vehicle 1 / 2."""
    ev = sm.SemanticEvaluator(19, class_names=CITYSCAPES_CLASSES, void_predictions="miss")
    ev.update(np.array([[0, 0, 1, 13, 13]], np.uint8), np.array([[0, 1, 0, 13, 255]], np.uint8))
    res = ev.compute()
    s = C.semantic_summary(res.state, "cityscapes", CITYSCAPES_CLASSES)
    assert s["mIoU"] == pytest.approx((1 / 3 + 0 + 1 / 2) / 3, abs=1e-15)
    assert s["mIoU_category"] == pytest.approx((1 + 1 / 2) / 2, abs=1e-15)
    rows = {r["name"]: r for r in res.conventions()["profiles"]}
    assert rows["cityscapes"]["metrics"] == {"mIoU": s["mIoU"], "mIoU_category": s["mIoU_category"]}
    assert not rows["detectron2"]["available"] and "cannot score 1 pixel:" in rows["detectron2"]["reason"]
    # other classes: no category score
    ev = sm.SemanticEvaluator(3, void_predictions="miss")
    ev.update(np.array([[0, 1]], np.uint8), np.array([[0, 255]], np.uint8))
    assert "mIoU_category" not in C.semantic_summary(ev.compute().state, "cityscapes", ("a", "b", "c"))


def test_cityscapes_convention_scores_void_predictions_as_misses(tmp_path):
    gt, pred = write_pairs(tmp_path, [([[0, 0, 1, 1]], [[0, 255, 1, 1]])])
    with pytest.raises(LabelError):
        sm.evaluate_semantic_folders(gt, pred, num_classes=2)
    res = sm.evaluate_semantic_folders(gt, pred, num_classes=2, convention="cityscapes")
    assert res.params["void_predictions"] == "miss"
    assert res.metrics["mIoU"] == pytest.approx((1 / 2 + 1) / 2, abs=1e-15)
    with pytest.raises(InputError, match="detectron2 cannot score 1 pixel:"):
        sm.evaluate_semantic_folders(gt, pred, num_classes=2, convention="detectron2", void_predictions="miss")


def test_drop_mode_through_the_array_reference_path(tmp_path):
    """A palette PNG goes through the reference path (Pillow, the array kernel): the same drops."""
    from PIL import Image

    gt, pred = write_pairs(tmp_path, [(MM_GT, MM_PRED)])
    img = Image.fromarray(np.asarray(MM_PRED, np.uint8), "P")
    img.putpalette([0, 0, 0] * 256)
    img.save(pred / "im0.png")
    res = sm.evaluate_semantic_folders(gt, pred, num_classes=3, convention="mmseg")
    assert res.state.dropped_gt.tolist() == [0, 1, 0, 1] and res.state.dropped_pred.tolist() == [1, 0, 0]
    assert res.metrics["mIoU"] == pytest.approx(0.5, abs=1e-15)


# ----------------------------------------------------------------------------- states, files, merges
def test_drop_mode_state_round_trip_and_merge(tmp_path):
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(6):
        g = rng.integers(0, 5, (6, 9))
        g[rng.random(g.shape) < 0.1] = 255
        p = np.where(rng.random(g.shape) < 0.3, rng.integers(0, 6, g.shape), np.clip(g, 0, 3))
        pairs.append((g, p))
    names = [f"im{i}.png" for i in range(len(pairs))]
    whole = sm.evaluate_semantic_folders(*write_pairs(tmp_path / "all", pairs, names), num_classes=4,
                                         convention="mmseg", per_image=True, conventions="all", jobs=2)
    assert whole.state.dropped_gt.sum() > 0 and whole.state.dropped_pred.sum() > 0
    parts = [sm.evaluate_semantic_folders(*write_pairs(tmp_path / f"s{j}", pairs[j::2], names[j::2]),
                                          num_classes=4, convention="mmseg", per_image=True, conventions="all")
             for j in range(2)]
    path = tmp_path / "w.smstate"
    whole.save_state(path)
    back = sm.load_state(path)
    assert back.metrics == whole.metrics and back.warnings == whole.warnings
    assert back.state.dropped_gt.tolist() == whole.state.dropped_gt.tolist()
    assert R.to_json(back.to_report()) == R.to_json(whole.to_report())
    for order in ((0, 1), (1, 0)):
        merged = sm.merge_states([parts[i] for i in order])
        assert merged.metrics == whole.metrics and merged.warnings == whole.warnings
        assert R.to_json(merged.comparison) == R.to_json(whole.comparison)
    strict = sm.evaluate_semantic_folders(*write_pairs(tmp_path / "ok", [(np.clip(g, 0, 3), np.clip(p, 0, 3))
                                                                         for g, p in pairs]),
                                          num_classes=4, per_image=True)
    with pytest.raises(InputError):  # different parameters (convention) and fields
        sm.merge_states([strict, whole])


def test_panoptic_conventions_state_round_trip_merge_and_report(tmp_path):
    d = make_panoptic_demo(tmp_path / "d", n=8)
    kw = dict(gt_folder=d.gt_folder, pred_folder=d.pred_folder, per_image=True, conventions="all")
    whole = sm.evaluate_panoptic_folders(d.gt_json, d.pred_json, jobs=2, **kw)
    assert whole.state.conventions_kept and whole.state.conv_match_iou.size > 0
    path = tmp_path / "p.smstate"
    whole.save_state(path)
    back = sm.load_state(path)
    assert R.to_json(back.to_report()) == R.to_json(whole.to_report())
    assert back.comparison == whole.comparison
    # shards merged in either order: the same comparison, bit for bit
    gt = json.loads(d.gt_json.read_text())
    pred = json.loads(d.pred_json.read_text())
    ids = [a["image_id"] for a in gt["annotations"]]
    parts = []
    for j in range(2):
        keep = set(ids[j::2])
        for side, data in (("gt", gt), ("pred", pred)):
            part = dict(data, annotations=[a for a in data["annotations"] if a["image_id"] in keep])
            (tmp_path / f"{side}{j}.json").write_text(json.dumps(part))
        parts.append(sm.evaluate_panoptic_folders(tmp_path / f"gt{j}.json", tmp_path / f"pred{j}.json", **kw))
    for order in ((0, 1), (1, 0)):
        merged = sm.merge_states([parts[i] for i in order])
        assert merged.metrics == whole.metrics
        assert R.to_json(merged.comparison) == R.to_json(whole.comparison)
    # a state without the variant counts: the comparison says torchmetrics has no number
    plain = sm.evaluate_panoptic_folders(d.gt_json, d.pred_json, gt_folder=d.gt_folder, pred_folder=d.pred_folder,
                                         per_image=True)
    rows = {r["name"]: r for r in plain.conventions()["profiles"]}
    assert not rows["torchmetrics"]["available"] and "did not count" in rows["torchmetrics"]["reason"]
    assert rows["cityscapes"]["metrics"]["PQ"] == plain.metrics["PQ"]
    with pytest.raises(InputError):
        sm.merge_states([plain, whole])  # different field groups


# ----------------------------------------------------------------------------- CLI
def run(*args):
    return CliRunner().invoke(cli, [*map(str, args)], catch_exceptions=False)


def test_cli_conventions_json_table_and_report_from_state(tmp_path):
    d = make_panoptic_demo(tmp_path / "d", n=5)
    state = tmp_path / "r.smstate"
    r = run("eval", "--gt", d.gt_json, "--pred", d.pred_json, "--conventions", "all", "--json", "-", "-q",
            "--no-cache", "--save-state", state)
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    names = [p["name"] for p in report["conventions"]["profiles"]]
    assert names == ["panopticapi", "torchmetrics", "cityscapes"]
    lib = sm.evaluate_panoptic_folders(d.gt_json, d.pred_json, conventions="all")
    assert r.stdout == R.to_json(lib.to_report())
    again = run("report", state, "--json", "-")
    assert again.exit_code == 0 and again.stdout == r.stdout
    table = run("report", state)
    assert "Other tools' numbers" in table.stdout and "torchmetrics" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= R.TABLE_WIDTH
    one = run("eval", "--gt", d.gt_json, "--pred", d.pred_json, "--convention", "torchmetrics", "--json", "-",
              "-q", "--no-cache")
    assert json.loads(one.stdout)["params"]["convention"] == "torchmetrics"
    assert json.loads(one.stdout)["metrics"]["PQ"] == pytest.approx(
        report["conventions"]["profiles"][1]["metrics"]["PQ"], abs=0)


def test_cli_convention_errors_are_one_line(tmp_path):
    d = make_panoptic_demo(tmp_path / "d", n=3)
    for args, text in ((("--convention", "mmseg"), "unknown panoptic convention 'mmseg'"),
                       (("--conventions", "bogus"), "unknown panoptic convention 'bogus'")):
        r = CliRunner().invoke(cli, ["eval", "--gt", str(d.gt_json), "--pred", str(d.pred_json), "--no-cache", *args])
        assert r.exit_code == 2 and "Traceback" not in r.output
        assert r.stderr.count("\n") == 1 and text in r.stderr


def test_cli_semantic_dropping_convention_prints_the_count(tmp_path):
    gt, pred = write_pairs(tmp_path, [(MM_GT, MM_PRED)])
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 3, "--no-cache")
    assert r.exit_code == 2 and "outside" in r.stderr
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 3, "--no-cache", "--convention", "mmseg",
            "--conventions", "all")
    assert r.exit_code == 0, r.output
    assert "2 ground-truth pixels have labels outside [0, 3)" in r.stderr
    assert "no number" in r.stdout and "50.00" in r.stdout
