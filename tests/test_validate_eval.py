"""``segmetrics eval`` and ``segmetrics validate`` joined: the quick checks eval runs by itself
(notes in the result, the CLI and ``report``), the validate command it suggests after an error
(and that this command finds the problem), and the rules both share (settings, the prediction
reading, the panoptic preset layout)."""
from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
from click.testing import CliRunner

import segmetrics as sm
from segmetrics.cli import cli
from segmetrics.errors import FormatError, InputError, LabelError
from segmetrics.validate import validate_panoptic, validate_semantic
from segmetrics.validate._quick import validate_command_line

from cli_data import assert_user_error, write_png
from validate_data import K, ade_like, make_panoptic, make_semantic, save_json, zero_based

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def run_suggested(command: str):
    """Run a suggested ``segmetrics validate ...`` command line through the CLI."""
    words = shlex.split(command)
    assert words[:2] == ["segmetrics", "validate"], command
    return CliRunner().invoke(cli, words[1:])


def one_based_without_k(g, rng):
    """The GT's own values 1..K on 90 % of the pixels, K itself never written (so every value is
    also a valid class index: read as class indices they are silently shifted by one)."""
    p = np.where(g == 0, rng.integers(1, K, g.shape), g)
    p = np.where(rng.random(g.shape) < 0.1, rng.integers(1, K, g.shape), p)
    return np.minimum(p, K - 1)


# ----------------------------------------------------------------------------- semantic quick checks
def test_shifted_predictions_are_noted_by_eval_and_listed_by_validate(tmp_path):
    gt, pred = ade_like(tmp_path, one_based_without_k, n=4, shape=(30, 40), seed=5)
    kw = dict(num_classes=K, reduce_zero_label=True, pred_labels="class-index")
    res = sm.evaluate_semantic_folders(gt, pred, **kw)
    shift = [n for n in res.notes if "predictions look shifted by +1 class" in n]
    assert len(shift) == 1 and res.metrics["mIoU"] < 0.2
    command = f"segmetrics validate --gt {gt} --pred {pred} --num-classes {K} --pred-labels class-index " \
              f"--reduce-zero-label"
    assert f"`{command}`" in shift[0]
    # the CLI prints it, the JSON holds it, a state file gives it back
    state = tmp_path / "run.smstate"
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", K, "--reduce-zero-label", "--pred-labels",
            "class-index", "--json", tmp_path / "r.json", "--save-state", state, "--no-cache")
    assert r.exit_code == 0, r.output
    assert "segmetrics: note: predictions look shifted by +1 class" in r.stderr
    assert json.loads((tmp_path / "r.json").read_text())["notes"] == list(res.notes)
    again = run("report", state, "--json", "-")
    assert json.loads(again.stdout)["notes"] == list(res.notes)
    # the suggested command says what is wrong and what to pass
    v = run_suggested(command)
    assert v.exit_code == 4 and "[semantic.pred_convention_mismatch]" in v.stdout and "--pred-labels as-gt" in v.stdout
    # read the right way, nothing is noted
    right = sm.evaluate_semantic_folders(gt, pred, num_classes=K, reduce_zero_label=True)
    assert right.params["pred_labels"] == "as-gt" and right.metrics["mIoU"] > 0.5
    assert not any("shifted" in n for n in right.notes)


@pytest.mark.parametrize("pred_fn, reading", [(zero_based, "class-index"), (one_based_without_k, "as-gt")])
def test_eval_and_validate_read_predictions_by_one_rule(tmp_path, pred_fn, reading):
    gt, pred = ade_like(tmp_path, pred_fn, n=4, shape=(30, 40), seed=5)
    res = sm.evaluate_semantic_folders(gt, pred, num_classes=K, reduce_zero_label=True)
    rep = validate_semantic(gt, pred, num_classes=K, reduce_zero_label=True)
    assert res.params["pred_labels"] == reading == rep.get("semantic.pred_convention").fields["reading"]


def test_a_shift_by_minus_one_and_clean_matrices():
    from segmetrics.validate import quick_checks

    cm = np.diag([5, 5, 5, 5]).astype(np.int64)
    for i in range(1, 4):
        cm[i, i - 1] = 300
    assert "shifted by -1" in quick_checks(confusion=cm)[0]
    assert quick_checks(confusion=np.diag([300, 200, 100])) == []
    # far above the diagonal, but on a handful of pixels: chance can do that
    assert quick_checks(confusion=np.array([[1, 6], [0, 1]])) == []


def test_all_ignore_images_are_noted_when_per_image_counts_exist(tmp_path):
    gt, pred, gts, _ = make_semantic(tmp_path)
    write_png(gt / "img2.png", np.full(gts[2].shape, 255, np.uint8))
    res = sm.evaluate_semantic_folders(gt, pred, num_classes=K, per_image=True)
    notes = [n for n in res.notes if "no scored ground-truth pixel" in n]
    assert notes == ["1 image has no scored ground-truth pixel (all ignore_index 255), so it adds nothing: 'img2'"]
    # without per-image counts the run cannot tell (and says nothing)
    assert not any("no scored" in n for n in sm.evaluate_semantic_folders(gt, pred, num_classes=K).notes)
    assert validate_semantic(gt, pred, num_classes=K).get("semantic.all_ignore").count == 1


# ----------------------------------------------------------------------------- the error path
def test_a_bad_label_stops_eval_with_the_validate_command_that_lists_all(tmp_path):
    gt, pred, gts, _ = make_semantic(tmp_path)
    for i in (0, 3):
        g = gts[i].copy()
        g[1, 1] = 7
        write_png(gt / f"img{i}.png", g)
    with pytest.raises(LabelError) as exc:
        sm.evaluate_semantic_folders(gt, pred, num_classes=K)
    command = f"segmetrics validate --gt {gt} --pred {pred} --num-classes {K}"
    assert exc.value.__notes__ == [f"eval stopped at the first problem (LabelError); `{command}` lists every file "
                                   f"concerned"]
    err = assert_user_error(run("eval", "--gt", gt, "--pred", pred, "--num-classes", K, "--no-cache"),
                            "img0", "7", f"`{command}` lists every file concerned")
    assert err.startswith("segmetrics: error: ")
    v = run_suggested(command)
    assert v.exit_code == 4
    f = validate_semantic(gt, pred, num_classes=K).get("semantic.label_out_of_range")
    assert f.fields["files_with_value"] == {7: 2}


def test_settings_errors_and_missing_predictions_suggest_nothing(tmp_path):
    gt, pred, _, _ = make_semantic(tmp_path)
    with pytest.raises(InputError) as exc:
        sm.evaluate_semantic_folders(gt, pred, num_classes=K, ignore_index=2)
    assert not getattr(exc.value, "__notes__", None)
    (pred / "img1.png").unlink()
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", K, "--no-cache")
    assert "segmetrics validate" not in assert_user_error(r, "no prediction", "--allow-missing")


def test_validate_and_eval_resolve_settings_the_same_way(tmp_path):
    gt, pred, _, _ = make_semantic(tmp_path)
    for kw in (dict(num_classes=K, ignore_index=3), dict(preset="coco-panoptic"), dict(num_classes=0)):
        with pytest.raises(InputError) as a:
            sm.evaluate_semantic_folders(gt, pred, **kw)
        with pytest.raises(InputError) as b:
            validate_semantic(gt, pred, **kw)
        assert str(a.value) == str(b.value)


def test_validate_command_line():
    assert validate_command_line("a b/gt", "p", preset=None, num_classes=3, ignore_index=None,
                                 reduce_zero_label=False, label_map={1: 0}, pred_labels="auto") == \
        "segmetrics validate --gt 'a b/gt' --pred p --num-classes 3 --label-map FILE --no-reduce-zero-label"
    assert validate_command_line("gt.json", gt_folder="pngs", preset="coco-panoptic") == \
        "segmetrics validate --gt gt.json --preset coco-panoptic --gt-folder pngs"


# ----------------------------------------------------------------------------- panoptic
def test_sq_above_100_percent_is_noted_and_validate_fixes_it(tmp_path):
    d = make_panoptic(tmp_path)
    gt = d["gt"]
    for a in gt["annotations"]:
        for s in a["segments_info"]:
            if s["category_id"] == 10:      # sky: the JSON's areas are half the PNG's
                s["area"] //= 2
    save_json(d["gt_json"], gt)
    res = sm.evaluate_panoptic_folders(d["gt_json"], d["pred_json"])
    sky = next(row for row in res.per_class if row["category_id"] == 10)
    assert sky["sq"] > 1
    notes = [n for n in res.notes if "SQ above 100 %" in n]
    command = f"segmetrics validate --gt {d['gt_json']} --pred {d['pred_json']}"
    assert len(notes) == 1 and notes[0].startswith("1 category has SQ above 100 %")
    assert f"`{command} --write-fixed-json FIXED.json`" in notes[0]
    r = run("eval", "--gt", d["gt_json"], "--pred", d["pred_json"], "--no-cache")
    assert r.exit_code == 0 and "segmetrics: note: 1 category has SQ above 100 %" in r.stderr
    fixed = tmp_path / "fixed.json"
    v = run_suggested(f"{command} --write-fixed-json {fixed}")
    assert v.exit_code == 4 and "[panoptic.stale_area]" in v.stdout
    good = sm.evaluate_panoptic_folders(fixed, d["pred_json"], gt_folder=tmp_path / "gt")
    assert good.metrics["PQ"] == 1.0 and not any("SQ above" in n for n in good.notes)
    assert not any("SQ above" in n for n in
                   sm.evaluate_panoptic_folders(d["gt_json"], d["pred_json"], recompute_gt_areas=True).notes)


def test_panoptic_data_errors_suggest_validate(tmp_path):
    d = make_panoptic(tmp_path)
    pred = d["pred"]
    pred["annotations"][1]["segments_info"][0].pop("category_id")
    save_json(d["pred_json"], pred)
    r = run("eval", "--gt", d["gt_json"], "--pred", d["pred_json"], "--no-cache")
    command = f"segmetrics validate --gt {d['gt_json']} --pred {d['pred_json']}"
    assert_user_error(r, "category_id", f"`{command}` lists every file concerned")
    v = run_suggested(command)
    assert v.exit_code == 4 and "[panoptic.json_structure]" in v.stdout
    # a PNG id the JSON does not list: found while counting
    d = make_panoptic(tmp_path / "b")
    pred = d["pred"]
    pred["annotations"][0]["segments_info"].pop()
    save_json(d["pred_json"], pred)
    with pytest.raises(FormatError) as exc:
        sm.evaluate_panoptic_folders(d["gt_json"], d["pred_json"])
    assert "segmetrics validate --gt" in exc.value.__notes__[0]
    v = run_suggested(exc.value.__notes__[0].split("`")[1])
    assert v.exit_code == 4 and "[panoptic.unlisted_png_id]" in v.stdout


def test_eval_and_validate_state_a_preset_layout_in_the_same_words(tmp_path):
    d = make_panoptic(tmp_path)       # 4 categories, one crowd segment
    res = sm.evaluate_panoptic_folders(d["gt_json"], d["pred_json"], preset="ade20k-panoptic")
    want = ["preset ade20k-panoptic expects 150 categories but gt.json has 4",
            "preset ade20k-panoptic expects no crowd segments but gt.json has 1"]
    assert [w for w in res.warnings if "preset" in w] == want
    f = validate_panoptic(d["gt_json"], d["pred_json"], preset="ade20k-panoptic").get("panoptic.preset_layout")
    assert f.fields["problems"] == want
