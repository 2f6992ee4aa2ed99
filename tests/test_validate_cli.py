"""``segmetrics validate`` (the click command, invoked directly), the real samples, the docs,
and the quick checks eval runs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from segmetrics.cli.validate_cmd import EXIT_VALIDATION_FAILED, validate_command
from segmetrics.validate import CHECKS, quick_checks, validate_panoptic, validate_semantic

from cli_data import write_png
from validate_data import K, make_panoptic, make_semantic, save_json

REPO = Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(validate_command, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def sem(tmp_path):
    gt, pred, gts, preds = make_semantic(tmp_path)
    return gt, pred, gts, preds


def test_clean_exits_0_and_says_clean(sem):
    gt, pred, _, _ = sem
    r = run("--gt", gt, "--pred", pred, "--num-classes", K)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1] == "result: clean"


def test_errors_exit_4_grouped_by_severity(sem):
    gt, pred, gts, _ = sem
    g = gts[0].copy()
    g[0, 0] = 9
    write_png(gt / "img0.png", g)
    (pred / "img1.png").rename(pred / "zzz.png")
    r = run("--gt", gt, "--pred", pred, "--num-classes", K)
    assert r.exit_code == EXIT_VALIDATION_FAILED == 4
    lines = r.output.splitlines()
    i_err, i_warn = lines.index("errors (2):"), lines.index("warnings (1):")
    assert i_err < i_warn
    assert lines[i_err + 1].startswith("  [semantic.missing_prediction]") or lines[i_err + 1].startswith(
        "  [semantic.label_out_of_range]")
    assert lines[i_warn + 1].startswith("  [semantic.extra_prediction]")
    assert "segmetrics: validate: 2 errors, 1 warning (" in r.output
    assert "Traceback" not in r.output


def test_warnings_exit_0_unless_fail_on_warning(sem):
    gt, pred, _, _ = sem
    (pred / "img1.png").rename(pred / "zzz.png")
    (pred / "zzz.png").read_bytes()
    (gt / "img1.png").unlink()
    r = run("--gt", gt, "--pred", pred, "--num-classes", K)
    assert r.exit_code == 0 and "warnings (1):" in r.output
    r = run("--gt", gt, "--pred", pred, "--num-classes", K, "--fail-on", "warning")
    assert r.exit_code == 4


def test_json_output_matches_the_library(sem, tmp_path):
    gt, pred, gts, _ = sem
    g = gts[2].copy()
    g[3, 3] = 77
    write_png(gt / "img2.png", g)
    r = run("--gt", gt, "--pred", pred, "--num-classes", K, "--json", "-")
    assert r.exit_code == 4
    data = json.loads(r.output.split("segmetrics: validate:")[0])
    lib = validate_semantic(gt, pred, num_classes=K).to_dict()
    assert data == json.loads(json.dumps(lib))
    assert data["findings"][0]["code"] == "semantic.label_out_of_range" and data["findings"][0]["values"] == {"77": 1}
    out = tmp_path / "v" / "findings.json"
    r = run("--gt", gt, "--pred", pred, "--num-classes", K, "--json", out)
    assert json.loads(out.read_text()) == data and "errors (1):" in r.output


@pytest.mark.parametrize("args, message", [
    (["--gt", "/no/such/folder"], "ground-truth path not found"),
    (["--gt", "{gt}", "--pred", "/no/such"], "prediction path not found"),
    (["--gt", "{gt}", "--num-classes", "5", "--ignore-index", "2"], "is one of the 5 classes"),
    (["--gt", "{gt}", "--write-fixed-json", "x.json"], "--write-fixed-json applies to COCO panoptic"),
    (["--gt", "{gt}", "--preset", "coco-panoptic"], "panoptic"),
    (["--gt", "{gt}", "--label-map", "{gt}/../nope.txt", "--num-classes", "5"], "nope.txt"),
])
def test_usage_and_input_errors_exit_2_with_one_line(sem, args, message):
    gt, _, _, _ = sem
    r = run(*[a.format(gt=gt) for a in args])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("segmetrics: error: ") and message in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_panoptic_through_the_cli(tmp_path):
    ds = make_panoptic(tmp_path)
    ds["gt"]["annotations"][1]["segments_info"][0]["area"] += 3
    save_json(ds["gt_json"], ds["gt"])
    fixed = tmp_path / "fixed.json"
    r = run("--gt", ds["gt_json"], "--pred", ds["pred_json"], "--write-fixed-json", fixed)
    assert r.exit_code == 4 and "[panoptic.stale_area]" in r.output and "[panoptic.fixed_json]" in r.output
    r = run("--gt", fixed, "--gt-folder", tmp_path / "gt", "--pred", ds["pred_json"])
    assert r.exit_code == 0 and "result: clean" in r.output
    r = run("--gt", tmp_path / "gt", "--pred", tmp_path / "pred")      # folders with a JSON of the same name
    assert r.exit_code == 4
    r = run("--gt", ds["gt_json"], "--num-classes", 3)
    assert r.exit_code == 2 and "apply to semantic data" in r.output


# ----------------------------------------------------------------------------- real samples
def test_real_coco_sample_is_clean(shared_data, tmp_path):
    d = shared_data / "coco_panoptic_sample" / "sample_data"
    r = validate_panoptic(d / "panoptic_examples.json", d / "panoptic_examples.json", preset="coco-panoptic",
                          write_fixed_json=tmp_path / "fixed.json")
    assert not r.errors and not r.warnings, [f.message for f in r.findings]
    assert set(r.codes()) == {"panoptic.unused_categories", "panoptic.fixed_json"}   # 2 images use 8 of 133
    f = r.get("panoptic.fixed_json")
    assert f.fields["areas_changed"] == 0 and f.fields["bboxes_changed"] == 0
    # the recomputed copy is the real file: COCO's bbox is [x, y, w, h] with w = x_max - x_min + 1
    assert json.loads((tmp_path / "fixed.json").read_text()) == json.loads((d / "panoptic_examples.json").read_text())


def test_real_ade20k_sample_is_clean(shared_data, tmp_path):
    ann = shared_data / "ade20k_sample" / "sampleData" / "annotations"
    r = validate_semantic(ann, ann, preset="ade20k")    # the annotations as 1-based "predictions"
    assert not r.errors and not r.warnings, [f.message for f in r.findings]
    assert set(r.codes()) == {"semantic.unused_classes", "semantic.pred_convention"}
    assert r.get("semantic.pred_convention").fields["reading"] == "as-gt"


def test_real_camvid_is_clean(shared_data):
    for split in ("valannot", "trainannot"):
        ann = shared_data / "camvid" / split
        r = validate_semantic(ann, ann, preset="camvid")
        assert r.findings == [], [f.message for f in r.findings]
        assert r.summary["images"] == {"valannot": 101, "trainannot": 367}[split]


def test_real_camvid_cli_exit_0(shared_data):
    r = run("--gt", shared_data / "camvid" / "valannot", "--preset", "camvid")
    assert r.exit_code == 0 and "result: clean" in r.output


# ----------------------------------------------------------------------------- docs
def test_docs_describe_every_check_with_its_severity():
    text = (REPO / "docs" / "validate.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z_]+\.[a-z0-9_]+)` \| (error|warning|info) \|", text, flags=re.M))
    assert rows == {c.code: c.severity for c in CHECKS.values()}
    assert "| 4 |" in text and "| 2 |" in text and "| 0 |" in text


def test_at_least_25_kinds_of_checks():
    assert len(CHECKS) >= 25


# ----------------------------------------------------------------------------- quick checks
def test_quick_checks_find_shifted_predictions_and_all_ignore_images():
    cm = np.zeros((6, 6), dtype=np.int64)
    for i in range(5):
        cm[i, i + 1] = 100
        cm[i, i] = 5
    notes = quick_checks(confusion=cm, validate_command="segmetrics validate --gt g --pred p")
    assert len(notes) == 1 and "shifted by +1" in notes[0] and "segmetrics validate --gt g --pred p" in notes[0]
    assert "shifted by -1" in quick_checks(confusion=cm.T)[0]
    assert quick_checks(confusion=np.diag([50, 40, 30]) + 1) == []
    notes = quick_checks(image_ids=["a", "b", "c"], image_gt_pixels=[10, 0, 3])
    assert len(notes) == 1 and "1 image has no scored ground-truth pixel" in notes[0] and notes[0].endswith(": 'b'")


def test_quick_checks_for_panoptic_and_errors():
    from segmetrics.errors import LabelError

    notes = quick_checks(panoptic_sq=[0.8, np.nan, 1.2])
    assert len(notes) == 1 and "SQ above 100 %" in notes[0] and "--write-fixed-json" in notes[0]
    notes = quick_checks(error=LabelError("bad value 7 in a.png"))
    assert len(notes) == 1 and "LabelError" in notes[0]
    assert quick_checks() == []


# ----------------------------------------------------------------------------- benchmark script
def test_bench_validate_smoke(tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "validate.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_validate.py"), "--only", "panoptic", "--images", "3",
         "--repeat", "1", "--data-root", str(tmp_path / "data"), "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    assert "### Panoptic: 3 COCO-like images" in text and "Goal: validate" in text
    rows = [line for line in text.splitlines() if line.startswith("| eval") or line.startswith("| validate")]
    assert len(rows) == 4 and all(float(r.split("|")[2]) > 0 for r in rows)
