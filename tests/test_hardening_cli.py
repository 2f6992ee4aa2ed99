"""Issue 11, the items that live in the folder API, the reports and the CLI.

One regression test (or a few) per item, numbered as in the issue; CLI tests assert the
exit code, one line on stderr and no traceback.  The memory item runs in a subprocess
under an ``RLIMIT_AS`` cap.  Last, a property-based test builds random malformed
datasets of both tasks and checks the CLI's exit code, its stderr and, when it scores,
its numbers against the small NumPy oracles below.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
from click.testing import CliRunner

from segmetrics import report as R
from segmetrics.cli import cli
from segmetrics.errors import FormatError, InputError

from cli_data import assert_user_error as assert_one_line
from cli_data import id2rgb, make_flat_set, make_panoptic_json, oracle_confusion, write_png

REPO = Path(__file__).resolve().parents[1]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def report_of(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ============================================================================ panoptic helpers
CATS = [{"id": 1, "name": "person", "isthing": 1}, {"id": 2, "name": "road", "isthing": 0},
        {"id": 7, "name": "car", "isthing": 1}]


def write_panoptic(root: Path, name: str, images: dict, cats=CATS) -> Path:
    """``images``: ``{image_id: (id_map, {segment id: category id})}``; areas from the pixels."""
    anns = []
    for image_id, (ids, seg_cats) in images.items():
        file_name = f"{image_id}.png"
        write_png(root / name / file_name, id2rgb(ids))
        segs = [{"id": int(s), "category_id": int(c), "iscrowd": 0, "area": int((ids == s).sum())}
                for s, c in seg_cats.items()]
        anns.append({"image_id": image_id, "file_name": file_name, "segments_info": segs})
    return make_panoptic_json(root, name, [{"id": i, "file_name": f"{i}.png"} for i in images], anns, cats)


def small_panoptic(root: Path) -> tuple[Path, Path]:
    """Two images, GT and a prediction that gets some segments right."""
    g1 = np.zeros((6, 8), np.uint32)
    g1[:, :4], g1[:, 4:7] = 10, 20
    g2 = np.zeros((6, 8), np.uint32)
    g2[:3], g2[3:, :2] = 30, 40
    p1 = g1.copy()
    p1[0, :] = 11
    p2 = np.where(g2 == 30, 31, 0).astype(np.uint32)
    gt = write_panoptic(root, "gt", {1: (g1, {10: 1, 20: 2}), 2: (g2, {30: 2, 40: 7})})
    pred = write_panoptic(root, "pred", {1: (p1, {10: 1, 20: 2, 11: 7}), 2: (p2, {31: 2})})
    return gt, pred


def edit_json(path: Path, fn) -> Path:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))
    return path


# ============================================================================ 4. area 0
def test_4_gt_area_zero_is_an_error_naming_image_and_segment(tmp_path):
    gt, pred = small_panoptic(tmp_path)
    good = report_of(run("eval", "--gt", gt, "--pred", pred, "--json", "-", "-q", "--no-cache"))
    edit_json(gt, lambda d: d["annotations"][1]["segments_info"][1].update(area=0))
    err = assert_one_line(run("eval", "--gt", gt, "--pred", pred, "--no-cache"),
                          "image 2", "segment 40", "area 0", "--recompute-gt-areas")
    assert "category 7" in err
    # the way out the message names: the PNG's pixel counts, which here are the true areas
    fixed = report_of(run("eval", "--gt", gt, "--pred", pred, "--json", "-", "-q", "--no-cache",
                          "--recompute-gt-areas"))
    assert fixed["metrics"] == good["metrics"]
    # a crowd segment's area is not used: area 0 there is no error
    edit_json(gt, lambda d: d["annotations"][1]["segments_info"][1].update(iscrowd=1))
    assert run("eval", "--gt", gt, "--pred", pred, "-q", "--no-cache").exit_code == 0


def test_4_library_raises_format_error_with_a_count(tmp_path):
    import segmetrics as sm

    gt, pred = small_panoptic(tmp_path)
    edit_json(gt, lambda d: [s.update(area=0) for a in d["annotations"] for s in a["segments_info"]])
    with pytest.raises(FormatError, match=r"image 1: ground-truth segment 10 .*\(4 segments with area 0 in all\)"):
        sm.evaluate_panoptic_folders(gt, pred)


# ============================================================================ 5. nothing to score
def test_5_semantic_all_ignore_is_an_error_and_single_images_are_noted(tmp_path):
    for side in ("gt", "pred"):
        write_png(tmp_path / side / "a.png", np.full((4, 5), 255 if side == "gt" else 1, np.uint8))
    write_png(tmp_path / "pred" / "b.png", np.ones((4, 5), np.uint8))
    write_png(tmp_path / "gt" / "b.png", np.full((4, 5), 255, np.uint8))
    args = ["eval", "--gt", tmp_path / "gt", "--pred", tmp_path / "pred", "--num-classes", 3, "--no-cache"]
    assert_one_line(run(*args), "nothing to score", "2 images", "ignore_index 255", "--ignore-index")
    # one image with something to score: exit 0; the all-ignore image is named in a note
    write_png(tmp_path / "gt" / "b.png", np.ones((4, 5), np.uint8))
    r = run(*args, "--per-image", tmp_path / "rows.csv", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    notes = json.loads((tmp_path / "r.json").read_text())["notes"]
    assert any("1 image has no scored ground-truth pixel" in n and "'a'" in n for n in notes), notes
    assert "segmetrics: note: 1 image has no scored" in r.stderr


def test_5_panoptic_empty_annotations_and_nothing_scored_are_errors(tmp_path):
    gt, pred = small_panoptic(tmp_path)
    empty = edit_json(Path(shutil.copy(gt, tmp_path / "empty.json")), lambda d: d.update(annotations=[]))
    shutil.copytree(tmp_path / "gt", tmp_path / "empty")
    assert_one_line(run("eval", "--gt", empty, "--pred", pred, "--no-cache"), "empty.json lists no image",
                    "annotations")
    # GT images that list no segment (all void): the predictions lie on void, nothing counts
    z = np.zeros((6, 8), np.uint32)
    gt0 = write_panoptic(tmp_path / "v", "gt", {1: (z, {}), 2: (z, {})})
    assert_one_line(run("eval", "--gt", gt0, "--pred", pred, "--no-cache"), "nothing to score", "TP + FP + FN = 0")
    # one such image among others: scored, and a note names it
    g1 = np.full((6, 8), 10, np.uint32)
    gt1 = write_panoptic(tmp_path / "w", "gt", {1: (g1, {10: 1}), 2: (z, {})})
    r = run("eval", "--gt", gt1, "--pred", pred, "--json", "-", "--no-cache")
    rep = report_of(r)
    assert any("1 ground-truth image lists no segment" in n and ": 2" in n for n in rep["notes"]), rep["notes"]
    assert "segmetrics: note: 1 ground-truth image lists no segment" in r.stderr


def test_5_the_array_api_still_returns_nan(tmp_path):
    """Only the folder API refuses a run with nothing to score; evaluators return NaN (documented)."""
    import segmetrics as sm

    ev = sm.SemanticEvaluator(3)
    ev.update(np.full((2, 2), 255, np.uint8), np.zeros((2, 2), np.uint8))
    assert math.isnan(ev.compute().metrics["mIoU"])


# ============================================================================ 6. compare values
@pytest.fixture
def two_reports(tmp_path):
    gt, pred, _ = make_flat_set(tmp_path, n=3, k=4)
    a = tmp_path / "a.json"
    assert run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--json", a, "-q").exit_code == 0
    return a, json.loads(a.read_text())


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "null"])
def test_6_max_drop_fails_on_nan_and_infinity(two_reports, tmp_path, literal):
    a, rep = two_reports
    text = json.dumps(rep).replace(f'"mIoU": {json.dumps(rep["metrics"]["mIoU"])}', f'"mIoU": {literal}')
    assert literal in text
    (tmp_path / "new.json").write_text(text)
    r = run("compare", a, tmp_path / "new.json", "--max-drop", "mIoU=100")
    assert r.exit_code == 3, r.output
    assert r.stderr.strip() == "segmetrics: FAILED: mIoU is undefined (null or NaN) in the new report (--max-drop)"
    assert "Traceback" not in r.output


@pytest.mark.parametrize("where,value", [("metrics", "high"), ("metrics", True), ("metrics", [1]),
                                         ("per_class", "x"), ("per_class", {"a": 1})])
def test_6_a_value_that_is_not_a_number_is_one_line(two_reports, tmp_path, where, value):
    a, rep = two_reports
    if where == "metrics":
        rep["metrics"]["mIoU"] = value
        want = "metrics.mIoU is"
    else:
        rep["per_class"][2]["IoU"] = value
        want = "per_class[2].IoU is"
    (tmp_path / "new.json").write_text(json.dumps(rep))
    assert_one_line(run("compare", a, tmp_path / "new.json", "--max-drop", "mIoU=1"), "new.json", want,
                    "not a number")
    assert_one_line(run("compare", tmp_path / "new.json", a), "new.json", want)


def test_6_reports_that_are_not_reports(two_reports, tmp_path):
    a, rep = two_reports
    (tmp_path / "latin1.json").write_bytes(b'{"task": "semantic\xe9"}')
    assert_one_line(run("compare", a, tmp_path / "latin1.json"), "latin1.json", "not UTF-8", "byte 18")
    (tmp_path / "list.json").write_text(json.dumps(dict(rep, per_class={"0": 1})))
    assert_one_line(run("compare", a, tmp_path / "list.json"), "'per_class' must be a JSON array")


# ============================================================================ 9. memory
def _run_cli_limited(args: list, rlimit_as: int) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from segmetrics.cli import main
        sys.argv = ["segmetrics"] + {[str(a) for a in args]!r}
        main()
        """)

    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (rlimit_as, rlimit_as))

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=env, preexec_fn=limit)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc are Linux's")
@pytest.mark.parametrize("jobs", [1, 2])
def test_9_num_classes_46340_is_refused_up_front_under_rlimit_as(tmp_path, jobs):
    gt, pred, _ = make_flat_set(tmp_path, n=2, k=4)
    args = ["eval", "--gt", gt, "--pred", pred, "--num-classes", 46340, "--ignore-index", 65535, "--no-cache",
            "-j", jobs]
    res = _run_cli_limited(args, 3 * 2**30)
    assert res.returncode == 2, res.stderr[-3000:]
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "num_classes=46340 needs about" in err and "46340 x 46340" in err and "GiB" in err
    need = 16.0 * (jobs + 3)  # K^2 * 8 bytes = 16.0 GiB per matrix
    assert f"about {need:.1f} GiB of memory" in err
    assert ("-j 1" in err) == (jobs > 1)
    # a K that fits runs under the same cap
    ok = _run_cli_limited(args[:5] + ["--num-classes", 4, "--no-cache", "-q"], 3 * 2**30)
    assert ok.returncode == 0, ok.stderr[-3000:]


def test_9_the_estimate_bounds_what_a_run_allocates(tmp_path):
    """The up-front estimate is at least the peak that tracemalloc sees (numpy reports its
    allocations to it), for both tasks, with and without per-image counts."""
    import tracemalloc

    import segmetrics as sm
    from segmetrics._memory import run_memory

    gt, pred, _ = make_flat_set(tmp_path, n=4, k=4)
    k = 1200
    for jobs, per_image in ((1, False), (2, False), (2, True)):
        tracemalloc.start()
        try:
            res = sm.evaluate_semantic_folders(gt, pred, num_classes=k, ignore_index=65535, jobs=jobs,
                                               per_image=per_image)
            res.to_report()
            if per_image:
                res.save_state(tmp_path / "s.smstate")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        need, _ = run_memory("semantic", k, threads=jobs, per_image=per_image, num_images=4)
        assert peak <= need, (jobs, per_image, peak / (k * k * 8), need / (k * k * 8))
    cats = [{"id": i + 1, "name": f"c{i}", "isthing": i % 2} for i in range(k)]
    ids = np.ones((6, 8), np.uint32)
    g = write_panoptic(tmp_path / "p", "gt", {1: (ids, {1: 1}), 2: (ids * 2, {2: 2})}, cats=cats)
    for per_image in (False, True):
        tracemalloc.start()
        try:
            sm.evaluate_panoptic_folders(g, g, per_image=per_image, jobs=2).to_report()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        need, _ = run_memory("panoptic", k, threads=2, per_image=per_image, num_images=2)
        assert peak <= need, (per_image, peak / ((k + 1) ** 2 * 8))


def test_9_check_run_memory_message_and_quiet_cases():
    from segmetrics._memory import available_memory, check_run_memory

    assert available_memory() is None or available_memory() > 0
    check_run_memory("semantic", 150, threads=8, per_image=True, num_images=2000, what="x", available=1)  # small
    check_run_memory("semantic", 10000, threads=2, per_image=False, num_images=1, what="x", available=2**40)
    with pytest.raises(InputError, match=r"the 20,000 categories of g.json needs about 14.9 GiB .* 1.0 GiB is "
                                         r"available; fewer classes"):
        check_run_memory("panoptic", 19999, threads=4, per_image=False, num_images=1,
                         what="the 20,000 categories of g.json", available=2**30)


# ============================================================================ 11. label files
@pytest.mark.parametrize("flag,data,offset", [("--class-names", b"sky\nro\xe9d\n", 6),
                                              ("--label-map", b"0 0\n1 1\n# caf\xe9\n", 13)])
def test_11_non_utf8_label_files_are_one_line(tmp_path, flag, data, offset):
    gt, pred, _ = make_flat_set(tmp_path, n=2, k=2)
    f = tmp_path / "file.txt"
    f.write_bytes(data)
    extra = ["--num-classes", 2] if flag == "--label-map" else []
    assert_one_line(run("eval", "--gt", gt, "--pred", pred, flag, f, *extra), str(f), "UTF-8", f"byte {offset}")


# ============================================================================ 13. label errors name the file
def test_13_label_errors_name_the_file(tmp_path):
    gt, pred, _ = make_flat_set(tmp_path, n=2, k=4)
    bad = np.zeros((24, 32), np.uint8)
    bad[0, :3] = 9
    write_png(pred / "img_001.png", bad)
    assert_one_line(run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--no-cache"),
                    "image 'img_001'", f"(file {pred / 'img_001.png'})", "9 (3 px)")


# ============================================================================ 16. gates
def test_16_fail_under_prints_the_digits_that_decide(tmp_path):
    gt, pred, _ = make_flat_set(tmp_path, n=3, k=4)
    base = ["eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "-q", "--no-cache"]
    miou = 100 * report_of(run(*base, "--json", "-"))["metrics"]["mIoU"]
    at2 = round(miou, 2)
    if at2 <= miou:  # a threshold that prints like the value at two decimals but lies above it
        at2 = round(miou + 0.005, 2) if round(miou + 0.005, 2) > miou else at2 + 0.01
    err = assert_one_line(run(*base, "--fail-under", f"mIoU={at2:.2f}"), code=3)
    shown = err.split("mIoU ")[1].split(" <")[0]
    assert shown != f"{at2:.2f}" and float(shown) < at2 and len(shown.split(".")[1]) >= 3, err
    assert run(*base, "--fail-under", f"mIoU={math.floor(miou * 100) / 100:.2f}").exit_code == 0
    assert R.check_fail_under({"task": "semantic", "metrics": {"mIoU": 0.108587}}, {"mIoU": 10.86}) == \
        ["mIoU 10.859 < 10.86"]


@pytest.mark.parametrize("spec,fragments", [
    ("mIoU=0.45", ["looks like a fraction", "mIoU=45", "mIoU=0.45%"]),
    ("mIoU=150", ["must be in [0, 100]"]),
    ("mIoU=-1", ["must be in [0, 100]"]),
    ("mIoU=5,PQ=0.9", ["PQ=0.9 looks like a fraction"]),
])
def test_16_fail_under_refuses_fractions_and_out_of_range(tmp_path, spec, fragments):
    gt, pred, _ = make_flat_set(tmp_path, n=2, k=4)
    assert_one_line(run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--fail-under", spec),
                    "--fail-under", *fragments)


def test_16_gate_values_accepted(tmp_path):
    assert R.parse_metric_spec("mIoU=0.45%") == {"mIoU": 0.45}
    assert R.parse_metric_spec("mIoU=0,mAcc=1,mDice=100") == {"mIoU": 0.0, "mAcc": 1.0, "mDice": 100.0}
    assert R.parse_metric_spec("mIoU=0.5", kind="max_drop") == {"mIoU": 0.5}
    with pytest.raises(InputError, match="drop in percentage points must be in"):
        R.parse_metric_spec("mIoU=101", kind="max_drop")
    a = tmp_path / "a.json"
    gt, pred, _ = make_flat_set(tmp_path, n=2, k=4)
    run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--json", a, "-q")
    assert run("compare", a, a, "--max-drop", "mIoU=0.5").exit_code == 0
    assert_one_line(run("compare", a, a, "--max-drop", "mIoU=200"), "--max-drop", "must be in [0, 100]")


# ============================================================================ 18. tables
def test_18_panoptic_per_class_hides_empty_rows_and_fits_80_columns(tmp_path):
    names = [f"category-with-a-rather-long-name-{i:03d}" for i in range(133)]
    cats = [{"id": i + 1, "name": n, "isthing": int(i < 80)} for i, n in enumerate(names)]
    big = np.zeros((600, 700), np.uint32)
    big[:300], big[300:, :400], big[300:, 400:] = 5, 90, 7
    images = {i: (big, {5: 1 + i, 90: 100, 7: 3}) for i in range(1, 4)}
    gt = write_panoptic(tmp_path, "gt", images, cats=cats)
    r = run("eval", "--gt", gt, "--pred", gt, "--per-class", "--no-cache")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    assert "PQ %" in r.stdout and "aAcc %" in r.stdout
    rows = [ln for ln in lines if ln.split()[:1] and ln.split()[0].isdigit()]
    assert len(rows) == 4  # categories 2, 3, 4 (one per image), 3 (all images) and 100 have segments
    assert "(129 categories with nothing to score not shown: --all-classes shows them)" in r.stdout
    r = run("eval", "--gt", gt, "--pred", gt, "--per-class", "--all-classes", "--no-cache")
    rows = [ln for ln in r.stdout.splitlines() if ln.split()[:1] and ln.split()[0].isdigit()]
    assert len(rows) == 133 and max(map(len, r.stdout.splitlines())) <= 80
    md = run("eval", "--gt", gt, "--pred", gt, "--per-class", "--markdown", "--no-cache").stdout
    # rows starting "| ": the headline's header and values, the per-class header, then one per category shown
    assert md.count("\n| ") - 3 == 4 and "129 categories" in md and "| values in %" in md


def test_18_semantic_tables_fit_80_columns_with_long_names_and_large_counts():
    names = [f"a very long class name number {i}" for i in range(150)]
    per_class = [{"id": i, "name": n, "IoU": 0.5, "Acc": 0.25, "Dice": 1.0, "Precision": 0.125, "Recall": 1.0,
                  "gt_pixels": 123_456_789_012 if i else 0, "pred_pixels": 98_765_432 if i else 0}
                 for i, n in enumerate(names)]
    rep = R.build_report(task="semantic", params={}, dataset={"images": 1}, per_class=per_class,
                         metrics={"aAcc": 0.5, "mAcc": 0.5, "mIoU": 0.5, "fwIoU": 0.5, "mDice": 0.5})
    text = R.format_table(rep, per_class=True)
    assert max(map(len, text.splitlines())) <= 80
    assert "123G" in text and "98.8M" in text and "~" in text and text.startswith("segmetrics ") \
        and text.splitlines()[0].endswith("| 1 image")
    assert "(1 class with nothing to score not shown: --all-classes shows them)" in text
    small = R.build_report(task="semantic", params={}, dataset={"images": 2}, metrics=rep["metrics"],
                           per_class=[dict(per_class[1], name="sky", gt_pixels=12, pred_pixels=34)])
    assert "  12  " in R.format_table(small, per_class=True)  # exact counts where they fit
    assert R.format_table(small).splitlines()[0].endswith("| 2 images")


# ============================================================================ 19. preset names, plurals
def test_19_num_classes_over_a_preset_keeps_the_names_that_apply(tmp_path):
    gt, pred, _ = make_flat_set(tmp_path, n=1, k=5)
    r = run("eval", "--preset", "camvid", "--gt", gt, "--pred", pred, "--num-classes", 13, "--ignore-index", 255,
            "--json", "-", "--no-cache")
    rep = report_of(r)
    names = [c["name"] for c in rep["per_class"]]
    from segmetrics.presets import get_preset

    assert names == list(get_preset("camvid").class_names) + ["11", "12"]
    assert "num_classes=13 overrides preset camvid's 11 classes: classes 0..10 keep the preset's names, " \
           "11..12 are named by their index" in r.stderr
    r = run("eval", "--preset", "camvid", "--gt", gt, "--pred", pred, "--num-classes", 5, "--ignore-index", 255,
            "--json", "-", "--no-cache")
    assert [c["name"] for c in report_of(r)["per_class"]] == list(get_preset("camvid").class_names[:5])
    title = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 5, "--no-cache").stdout.splitlines()[0]
    assert title.endswith("| semantic | 1 image")


def test_19_plurals_in_pairing_warnings(tmp_path):
    gt, pred, _ = make_flat_set(tmp_path, n=2, k=4)
    write_png(pred / "zz_extra.png", np.zeros((24, 32), np.uint8))
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--no-cache")
    assert "1 prediction file matches no ground-truth image and was skipped" in r.stderr
    g, p = small_panoptic(tmp_path / "pan")
    edit_json(p, lambda d: d["annotations"].append(dict(d["annotations"][0], image_id=99)))
    r = run("eval", "--gt", g, "--pred", p, "--no-cache")
    assert "1 prediction is for an image not in the ground truth and was ignored" in r.stderr


# ============================================================================ 22. cache note
def test_22_unusable_cache_folder_is_one_note(tmp_path):
    gt, pred, _ = make_flat_set(tmp_path, n=2, k=4)
    (tmp_path / "afile").write_text("x")
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--cache-dir", tmp_path / "afile" / "c",
            "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    notes = [ln for ln in r.stderr.splitlines() if "cache" in ln]
    assert len(notes) == 1 and notes[0].startswith("segmetrics: note: the ground-truth cache folder") \
        and "cannot be written" in notes[0], r.stderr
    assert any("cannot be written" in n for n in json.loads((tmp_path / "r.json").read_text())["notes"])
    g, p = small_panoptic(tmp_path / "pan")
    r = run("eval", "--gt", g, "--pred", p, "--cache-dir", tmp_path / "afile" / "c")
    assert r.exit_code == 0 and "segmetrics: note: the ground-truth cache folder" in r.stderr
    assert "cache" not in run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--cache-dir",
                              tmp_path / "fine").stderr


# ============================================================================ 25. demo commands
def test_25_demo_prints_commands_only_for_kept_files(tmp_path):
    r = run("demo")
    assert r.exit_code == 0 and "segmetrics eval" not in r.stderr and "--demo-dir DIR" in r.stderr
    import tempfile

    assert tempfile.gettempdir() not in r.stderr
    kept = tmp_path / "my demo"
    r = run("demo", "--demo-dir", kept)
    cmds = [ln.split(": ", 1)[1] for ln in r.stderr.splitlines() if ln.startswith("# demo (")]
    assert len(cmds) == 2
    tables = r.stdout.split("\n\n# ")[0]
    import shlex

    outputs = []
    for cmd in cmds:
        argv = shlex.split(cmd)
        assert argv[:2] == ["segmetrics", "eval"]
        again = run(*argv[1:], "-q")
        assert again.exit_code == 0, again.output
        outputs.append(again.stdout)
    assert r.stdout == outputs[0] + "\n" + outputs[1]  # the printed commands score the files the same way
    assert tables


# ============================================================================ 27. compare class lists
def test_27_compare_warns_and_joins_by_name(two_reports, tmp_path):
    a, rep = two_reports
    named = dict(rep, per_class=[dict(r, name=n) for r, n in zip(rep["per_class"], ["sky", "road", "car", "tree"])])
    (tmp_path / "base.json").write_text(json.dumps(named))
    shifted = dict(named, per_class=[dict(r, id=(r["id"] + 1) % 4, IoU=0.5) for r in named["per_class"][1:]],
                   schema_version=2)
    (tmp_path / "new.json").write_text(json.dumps(shifted))
    r = run("compare", tmp_path / "base.json", tmp_path / "new.json")
    assert r.exit_code == 0, r.output
    warns = r.stderr.strip().splitlines()
    assert warns[0] == "segmetrics: warning: base.json has schema_version 1 and new.json 2; both are read as schema 1"
    assert "joined by name" in warns[1] and "road 1 -> 2" in warns[1] and "only in base.json: sky" in warns[1]
    cmp = R.compare_reports(named, shifted)
    by = {row["name"]: row for row in cmp["per_class"]}
    assert set(by) == {"road", "car", "tree"}
    assert math.isclose(by["road"]["new"], 0.5) and by["road"]["base"] == named["per_class"][1]["IoU"]
    # different names, none shared: joined by id, with a warning naming the ids
    other = dict(rep, per_class=[dict(r, name=f"x{r['id']}") for r in rep["per_class"]])
    cmp = R.compare_reports(rep, other)
    assert len(cmp["per_class"]) == 4 and "joined by class id" in cmp["warnings"][0]
    assert "0: '0' vs 'x0'" in cmp["warnings"][0]
    assert R.compare_reports(rep, rep)["warnings"] == []


def test_27b_compare_lists_boundary_rows_when_both_reports_have_them(two_reports):
    """Per-class BIoU rows follow the IoU rows when both reports scored the boundary metric,
    and the text output gives them their own table; one report without it: IoU rows only."""
    _, rep = two_reports
    base = dict(rep, per_class=[dict(r, BIoU=0.5) for r in rep["per_class"]])
    new = dict(rep, per_class=[dict(r, BIoU=0.25 + 0.1 * i) for i, r in enumerate(rep["per_class"])])
    cmp = R.compare_reports(base, new)
    k = len(rep["per_class"])
    assert [r["metric"] for r in cmp["per_class"]] == ["IoU"] * k + ["BIoU"] * k
    b_rows = cmp["per_class"][k:]
    assert [r["id"] for r in b_rows] == [r["id"] for r in rep["per_class"]]
    assert all(math.isclose(r["delta"], 0.1 * i - 0.25) for i, r in enumerate(b_rows))
    text = R.format_comparison(cmp)
    assert "base IoU %" in text and "base BIoU %" in text and text.index("base IoU %") < text.index("base BIoU %")
    assert {r["metric"] for r in R.compare_reports(rep, new)["per_class"]} == {"IoU"}


# ============================================================================ 28. fingerprint by hand
def _by_hand(entries: dict, header: bytes = b"") -> str:
    def key(i):
        return (0, i, "") if isinstance(i, int) else (1, 0, str(i))
    h = hashlib.sha256(header)
    for image_id in sorted(entries, key=key):
        h.update(json.dumps(image_id).encode("ascii") + b"\0" + entries[image_id])
    return "sha256:" + h.hexdigest()


def test_28_semantic_fingerprint_is_computed_as_documented(tmp_path):
    gt, pred, _ = make_flat_set(tmp_path, n=2, k=4)
    os.makedirs(gt / "sub")
    os.makedirs(pred / "sub")
    write_png(gt / "sub" / "é 1.png", np.ones((3, 3), np.uint8))
    write_png(pred / "sub" / "é 1.png", np.ones((3, 3), np.uint8))
    rep = report_of(run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--json", "-", "-q", "--no-cache"))
    files = {"img_000": gt / "img_000.png", "img_001": gt / "img_001.png", "sub/é 1": gt / "sub" / "é 1.png"}
    want = _by_hand({i: hashlib.sha256(p.read_bytes()).digest() for i, p in files.items()})
    assert rep["dataset"]["fingerprint"] == want


def test_28_panoptic_fingerprint_is_computed_as_documented(tmp_path):
    gt, pred = small_panoptic(tmp_path)
    edit_json(gt, lambda d: (d["annotations"][0]["segments_info"].reverse(),
                             d["annotations"][0]["segments_info"][0].pop("area"),
                             d["annotations"][1]["segments_info"][0].update(iscrowd=1),
                             d["categories"].append({"id": 3, "name": "\u00e9t\u00e9", "isthing": 0})))
    data = json.loads(gt.read_text())
    rep = report_of(run("eval", "--gt", gt, "--pred", pred, "--json", "-", "-q", "--no-cache"))
    entries = {}
    for ann in data["annotations"]:
        segs = sorted(ann["segments_info"], key=lambda s: s["id"])
        body = (tmp_path / "gt" / ann["file_name"]).read_bytes()
        body += b"".join(struct.pack("<q", s["id"]) for s in segs)
        body += b"".join(struct.pack("<q", s["category_id"]) for s in segs)
        body += bytes(s.get("iscrowd", 0) for s in segs)
        body += b"".join(struct.pack("<d", s.get("area", float("nan"))) for s in segs)
        entries[ann["image_id"]] = hashlib.sha256(body).digest()
    header = json.dumps([[c["id"], c["name"], bool(c["isthing"])] for c in data["categories"]]).encode("ascii")
    assert rep["dataset"]["fingerprint"] == _by_hand(entries, header)
    # the JSON's other content (bbox, images entries, the order of annotations) is not hashed
    edit_json(gt, lambda d: (d["annotations"].reverse(), d.update(images=[]),
                             d["annotations"][0]["segments_info"][0].update(bbox=[0, 0, 1, 1])))
    again = report_of(run("eval", "--gt", gt, "--pred", pred, "--json", "-", "-q", "--no-cache"))
    assert again["dataset"]["fingerprint"] == rep["dataset"]["fingerprint"]


# ============================================================================ property: malformed datasets
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NAMES = ["a", "b c", "\u00e9t\u00e9", "x.y", "-d", "sub/deep", os.fsdecode(b"\xff\xfe")]
SEM_FATAL = ["gt_bad_label", "pred_bad_label", "pred_void", "size", "gt_corrupt", "pred_corrupt", "gt_empty",
             "pred_rgb"]
SEM_KINDS = ["ok", "ok16", "extra", "missing"]  # scored (missing: with --allow-missing)


def _kinds(n: int, fatal: list, fine: list):
    """``n`` kinds: half the cases only ones that can be scored, half with any problem."""
    return st.booleans().flatmap(lambda bad: st.lists(st.sampled_from(fine + (fatal if bad else [])),
                                                      min_size=n, max_size=n))


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _semantic_oracle(pairs: list, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(confusion, void): plain NumPy counts of the scored pixels; a missing prediction makes
    every scored GT pixel a void prediction (a false negative of no class's false positive)."""
    present = [(g, p) for g, p in pairs if p is not None]
    cm = oracle_confusion(present, k) if present else np.zeros((k, k), np.int64)
    void = np.zeros(k, np.int64)
    for g, p in pairs:
        if p is None:
            void += np.bincount(g[g != 255].astype(np.int64), minlength=k)[:k]
    return cm, void


def _semantic_metrics(cm: np.ndarray, void: np.ndarray) -> dict:
    tp = np.diag(cm).astype(float)
    fn = cm.sum(1) - tp + void
    fp = cm.sum(0) - tp
    union = tp + fp + fn
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    return {"mIoU": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
            "aAcc": float(tp.sum() / (cm.sum() + void.sum())), "IoU": iou}


@st.composite
def semantic_cases(draw):
    n = draw(st.integers(1, 4))
    return {"k": draw(st.integers(2, 4)),
            "names": draw(st.lists(st.sampled_from(NAMES), min_size=n, max_size=n, unique=True)),
            "kinds": draw(_kinds(n, SEM_FATAL, SEM_KINDS)),
            "seed": draw(st.integers(0, 2**16)),
            "p_ignore": draw(st.sampled_from([0.0, 0.3, 1.0])),
            "allow_missing": draw(st.booleans()),
            "gate": draw(st.sampled_from([None, 0, 40, 70, 100])),
            "jobs": draw(st.sampled_from([1, 2]))}


def _build_semantic(root: Path, case: dict) -> tuple[list, bool]:
    """Write the dataset; returns ((gt, pred or None) arrays of the images that are scored,
    whether a fatal problem was written)."""
    rng = np.random.default_rng(case["seed"])
    k, fatal, pairs = case["k"], False, []
    (root / "pred").mkdir()  # there even when every prediction is missing
    for i, (name, kind) in enumerate(zip(case["names"], case["kinds"])):
        h, w = (int(x) for x in rng.integers(2, 6, size=2))
        g = rng.integers(0, k, size=(h, w)).astype(np.uint8)
        g[rng.random((h, w)) < case["p_ignore"]] = 255
        p = np.where(rng.random((h, w)) < 0.7, np.where(g == 255, 0, g), rng.integers(0, k, size=(h, w)))
        p = p.astype(np.uint8)
        if kind in ("pred_bad_label", "pred_void"):
            g[0, 0] = 0  # a scored pixel under the bad prediction
            p[0, 0] = 200 if kind == "pred_bad_label" else 255
        if kind == "gt_bad_label":
            g[-1, -1] = k
        gpath, ppath = root / "gt" / f"{name}.png", root / "pred" / f"{name}.png"
        write_png(gpath, g.astype(np.uint16) if kind == "ok16" else g)
        if kind != "missing":
            write_png(ppath, np.zeros((h + 1, w), np.uint8) if kind == "size" else
                      np.stack([p] * 3, axis=-1) if kind == "pred_rgb" else p)
        if kind == "extra":
            write_png(root / "pred" / f"zz_extra_{i}.png", p)
        if kind == "gt_corrupt":
            data = gpath.read_bytes()
            _write_bytes(gpath, data[: len(data) // 2])
        elif kind == "gt_empty":
            _write_bytes(gpath, b"")
        elif kind == "pred_corrupt":
            _write_bytes(ppath, b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 256, size=40, dtype=np.uint8)))
        fatal |= kind in SEM_FATAL or (kind == "missing" and not case["allow_missing"])
        pairs.append((g, None if kind == "missing" else p))
    return pairs, fatal


def _assert_clean(r, code: int) -> None:
    assert r.exit_code in (0, 2, 3), (r.exit_code, r.output, r.exception)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    assert r.exit_code == code, (code, r.output)
    if code == 2:
        err = r.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("segmetrics: error: "), r.stderr


def _run_built(build, case: dict, args_of):
    """Build a dataset in a fresh folder and run ``segmetrics eval --json -`` on it (in process,
    exceptions caught so that the test sees them); returns (what ``build`` returned, the result)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        built = build(root, case)
        args = ["eval"] + args_of(root) + ["--json", "-", "--no-cache", "-j", case["jobs"]]
        args += ["--allow-missing"] if case["allow_missing"] else []
        return built, CliRunner().invoke(cli, [str(a) for a in args])


@SETTINGS
@given(semantic_cases())
def test_property_malformed_semantic_datasets(case):
    gate = ["--fail-under", f"mIoU={case['gate']}"] if case["gate"] is not None else []
    (pairs, fatal), r = _run_built(_build_semantic, case, lambda root: [
        "--gt", root / "gt", "--pred", root / "pred", "--num-classes", case["k"]] + gate)
    want = None
    if fatal:
        code = 2
    else:
        cm, void = _semantic_oracle(pairs, case["k"])
        if cm.sum() + void.sum() == 0:
            code = 2  # nothing to score
        else:
            want = _semantic_metrics(cm, void)
            code = 3 if case["gate"] is not None and 100.0 * want["mIoU"] < case["gate"] else 0
    _assert_clean(r, code)
    if want is not None:
        rep = json.loads(r.stdout)
        assert math.isclose(rep["metrics"]["mIoU"], want["mIoU"], rel_tol=1e-12)
        assert math.isclose(rep["metrics"]["aAcc"], want["aAcc"], rel_tol=1e-12)
        got = np.array([np.nan if c["IoU"] is None else c["IoU"] for c in rep["per_class"]], float)
        np.testing.assert_allclose(got, want["IoU"], rtol=1e-12)
        assert rep["dataset"]["images"] == len(pairs)


PAN_CATS = [{"id": 1, "name": "a", "isthing": 1}, {"id": 2, "name": "b", "isthing": 0},
            {"id": 9, "name": "c", "isthing": 1}]
PAN_KINDS = ["ok", "stale_area", "zero_area", "missing_pred", "extra_pred", "empty_gt"]
PAN_FATAL = ["gt_png_missing", "pred_png_corrupt", "size", "pred_unlisted", "pred_unknown_cat", "gt_listed_absent"]


@st.composite
def panoptic_cases(draw):
    n = draw(st.integers(1, 3))
    return {"kinds": draw(_kinds(n, PAN_FATAL, PAN_KINDS)),
            "seed": draw(st.integers(0, 2**16)), "allow_missing": draw(st.booleans()),
            "recompute": draw(st.booleans()), "jobs": draw(st.sampled_from([1, 2]))}


def _segments(index_map: np.ndarray, count: int, rng, cats: list) -> tuple[np.ndarray, dict]:
    """Segment ids for the labels 1..count of ``index_map`` (0 = void) that have pixels."""
    ids = rng.choice(np.arange(1, 2**24 - 1), size=count, replace=False) if count else np.zeros(0, np.int64)
    out = np.zeros(index_map.shape, np.uint32)
    segs = {}
    for j in range(1, count + 1):
        if (index_map == j).any():
            out[index_map == j] = ids[j - 1]
            segs[int(ids[j - 1])] = cats[j - 1]
    return out, segs


def _build_panoptic(root: Path, case: dict) -> tuple[list, bool]:
    """Write GT and prediction sets; returns the oracle's images and whether a fatal problem was written."""
    rng = np.random.default_rng(case["seed"])
    cat_ids = [c["id"] for c in PAN_CATS]
    g_anns, p_anns, images, fatal = [], [], [], False
    for j, kind in enumerate(case["kinds"], start=1):
        h, w = (int(x) for x in rng.integers(3, 7, size=2))
        m = 0 if kind == "empty_gt" else int(rng.integers(1, 4))
        idx = rng.integers(0, m + 1, size=(h, w))
        g_cats = [int(rng.choice(cat_ids)) for _ in range(m)]
        g_map, g_segs = _segments(idx, m, rng, g_cats)
        p_idx = np.where(rng.random((h, w)) < 0.8, idx, rng.integers(0, m + 2, size=(h, w)))
        p_cats = [c if rng.random() < 0.8 else int(rng.choice(cat_ids)) for c in g_cats] + [int(rng.choice(cat_ids))]
        p_map, p_segs = _segments(p_idx, m + 1, rng, p_cats)
        g_info = [{"id": s, "category_id": c, "area": int((g_map == s).sum())} for s, c in g_segs.items()]
        p_info = [{"id": s, "category_id": c} for s, c in p_segs.items()]
        applied = False
        if kind == "stale_area" and g_info:
            g_info[0]["area"] += 1
        elif kind == "zero_area" and g_info:
            g_info[0]["area"], applied = 0, not case["recompute"]
        elif kind == "pred_unknown_cat" and p_info:
            p_info[0]["category_id"], applied = 77, True
        elif kind == "gt_listed_absent":
            g_info.append({"id": 2**24 - 1, "category_id": 1, "area": 3})
            applied = True
        elif kind == "pred_unlisted" and p_info:
            p_info.pop(0)
            applied = True
        name = f"img \u00e9 {j}.png"
        if kind == "gt_png_missing":
            applied = True
        else:
            write_png(root / "gt" / name, id2rgb(g_map))
        g_anns.append({"image_id": j, "file_name": name, "segments_info": g_info})
        if kind != "missing_pred":
            if kind == "size":
                write_png(root / "pred" / name, id2rgb(np.zeros((h, w + 1), np.uint32)))
                applied = True
            elif kind == "pred_png_corrupt":
                _write_bytes(root / "pred" / name, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(20))
                applied = True
            else:
                write_png(root / "pred" / name, id2rgb(p_map))
            p_anns.append({"image_id": j, "file_name": name, "segments_info": p_info})
        else:
            applied = not case["allow_missing"]
        if kind == "extra_pred":
            p_anns.append({"image_id": 1000 + j, "file_name": "nowhere.png", "segments_info": []})
        fatal |= applied
        areas = {s["id"]: s["area"] for s in g_info}
        images.append((g_map, {s["id"]: s["category_id"] for s in g_info}, areas,
                       None if kind == "missing_pred" else p_map, {s["id"]: s["category_id"] for s in p_info}))
    images_meta = [{"id": a["image_id"], "file_name": a["file_name"]} for a in g_anns]
    make_panoptic_json(root, "gt", images_meta, g_anns, PAN_CATS)
    make_panoptic_json(root, "pred", images_meta, p_anns, PAN_CATS)
    return images, fatal


def _pq_oracle(images: list, recompute: bool) -> Optional[dict]:
    """panopticapi's rules in plain Python (no crowd here); None when nothing is scored."""
    cats = {c["id"]: c["isthing"] for c in PAN_CATS}
    tp, fp, fn = ({c: 0 for c in cats} for _ in range(3))
    iou = {c: 0.0 for c in cats}
    for g_map, g_cat, g_area, p_map, p_cat in images:
        if p_map is None:
            for s, c in g_cat.items():
                fn[c] += 1
            continue
        area = {s: int((g_map == s).sum()) for s in g_cat} if recompute else g_area
        p_area = {s: int((p_map == s).sum()) for s in p_cat}
        pairs = {}
        for a, b in zip(g_map.ravel().tolist(), p_map.ravel().tolist()):
            pairs[(a, b)] = pairs.get((a, b), 0) + 1
        on_void = {b: n for (a, b), n in pairs.items() if a == 0}
        done_g, done_p = set(), set()
        for (a, b), inter in pairs.items():
            if a == 0 or b == 0 or g_cat[a] != p_cat[b]:
                continue
            v = inter / (p_area[b] + area[a] - inter - on_void.get(b, 0))
            if v > 0.5:
                tp[g_cat[a]] += 1
                iou[g_cat[a]] += v
                done_g.add(a)
                done_p.add(b)
        for s, c in g_cat.items():
            fn[c] += s not in done_g
        for s, c in p_cat.items():
            if s not in done_p and on_void.get(s, 0) / p_area[s] <= 0.5:
                fp[c] += 1
    if not sum(tp.values()) + sum(fp.values()) + sum(fn.values()):
        return None
    out = {}
    for suffix, keep in (("", lambda t: True), ("_th", lambda t: t), ("_st", lambda t: not t)):
        cs = [c for c in cats if keep(cats[c]) and tp[c] + fp[c] + fn[c] > 0]
        pq = [iou[c] / (tp[c] + fp[c] / 2 + fn[c] / 2) for c in cs]
        rq = [tp[c] / (tp[c] + fp[c] / 2 + fn[c] / 2) for c in cs]
        sq = [iou[c] / tp[c] if tp[c] else 0.0 for c in cs]
        for key, vals in (("PQ", pq), ("SQ", sq), ("RQ", rq)):
            out[key + suffix] = float(np.mean(vals)) if vals else None
    return out


@SETTINGS
@given(panoptic_cases())
def test_property_malformed_panoptic_datasets(case):
    recompute = ["--recompute-gt-areas"] if case["recompute"] else []
    (images, fatal), r = _run_built(_build_panoptic, case, lambda root: [
        "--gt", root / "gt.json", "--pred", root / "pred.json"] + recompute)
    want = None if fatal else _pq_oracle(images, case["recompute"])
    _assert_clean(r, 2 if want is None else 0)
    if want is not None:
        rep = json.loads(r.stdout)
        for key, v in want.items():
            got = rep["metrics"][key]
            assert (got is None and v is None) or math.isclose(got, v, rel_tol=1e-12, abs_tol=1e-15), (key, got, v)
