"""``eval --save-state``, ``report`` and ``merge``; one error format for every command."""
from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from segmetrics.cli import cli
from segmetrics.demo import make_panoptic_demo

from cli_data import make_flat_set

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_one_line_error(r, *fragments, code=2):
    assert r.exit_code == code, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("segmetrics: error: "), r.stderr
    assert "Traceback" not in r.output
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.fixture(scope="module")
def sem(tmp_path_factory):
    root = tmp_path_factory.mktemp("sem")
    gt, pred, _ = make_flat_set(root, n=8, k=4)
    shards = []
    for s in range(2):
        g, p = root / f"gt{s}", root / f"pred{s}"
        for f in sorted(gt.iterdir())[s::2]:
            g.mkdir(exist_ok=True)
            p.mkdir(exist_ok=True)
            shutil.copy(f, g / f.name)
            shutil.copy(pred / f.name, p / f.name)
        shards.append((g, p))
    return root, gt, pred, shards


@pytest.mark.parametrize("task", ["semantic", "panoptic"])
def test_report_reproduces_eval_byte_for_byte(sem, tmp_path, task):
    if task == "semantic":
        _, gt, pred, _ = sem
        args = ["--gt", gt, "--pred", pred, "--num-classes", 4]
    else:
        d = make_panoptic_demo(tmp_path / "pan")
        args = ["--gt", d.gt_json, "--pred", d.pred_json]
    state = tmp_path / "run.smstate"
    outs = {}
    for name, cmd in (("eval", ["eval", *args, "--save-state", state, "--no-cache"]), ("report", ["report", state])):
        for flags in (["--json", tmp_path / f"{name}.json", "--per-image", tmp_path / f"{name}.csv"],
                      ["--per-class"], ["--markdown", "--per-class"]):
            r = run(*cmd, *flags)
            assert r.exit_code == 0, r.output
            outs[name, tuple(map(str, flags[:1]))] = r.stdout
    assert (tmp_path / "eval.json").read_bytes() == (tmp_path / "report.json").read_bytes()
    assert (tmp_path / "eval.csv").read_bytes() == (tmp_path / "report.csv").read_bytes()
    for key in (("--per-class",), ("--markdown",)):
        assert outs["eval", key] == outs["report", key]
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["task"] == task and rep["dataset"]["fingerprint"].startswith("sha256:")


def test_merge_of_shards_equals_the_whole_run(sem, tmp_path):
    _, gt, pred, shards = sem
    r = run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--save-state", tmp_path / "all.smstate",
            "--json", tmp_path / "all.json", "-q", "--no-cache")
    assert r.exit_code == 0, r.output
    parts = []
    for i, (g, p) in enumerate(shards):
        parts.append(tmp_path / f"part{i}.smstate")
        assert run("eval", "--gt", g, "--pred", p, "--num-classes", 4, "--save-state", parts[-1], "-q",
                   "--no-cache").exit_code == 0
    for order, out in (((0, 1), "m01.smstate"), ((1, 0), "m10.smstate")):
        r = run("merge", *[parts[i] for i in order], "-o", tmp_path / out)
        assert r.exit_code == 0, r.output
        assert "merged 2 states (8 images)" in r.stderr
    assert (tmp_path / "m01.smstate").read_bytes() == (tmp_path / "m10.smstate").read_bytes()
    r = run("report", tmp_path / "m01.smstate", "--json", "-")
    whole, merged = json.loads((tmp_path / "all.json").read_text()), json.loads(r.stdout)
    assert merged["metrics"] == whole["metrics"] and merged["per_class"] == whole["per_class"]
    assert merged["dataset"]["fingerprint"] == whole["dataset"]["fingerprint"]
    assert merged["dataset"]["gt"] == sorted(str(g) for g, _ in shards)  # the shards' own folders


def test_merge_and_report_refusals(sem, tmp_path):
    _, gt, pred, shards = sem
    a, b, c = tmp_path / "a.smstate", tmp_path / "b.smstate", tmp_path / "c.smstate"
    g, p = shards[0]
    assert run("eval", "--gt", g, "--pred", p, "--num-classes", 4, "--save-state", a, "-q").exit_code == 0
    assert run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--save-state", b, "-q").exit_code == 0
    assert run("eval", "--gt", g, "--pred", p, "--num-classes", 4, "--absent-rule", "detectron2",
               "--save-state", c, "-q").exit_code == 0
    assert_one_line_error(run("merge", a, b, "-o", tmp_path / "x.smstate"), "both states hold image ids",
                          "img_000")
    assert_one_line_error(run("merge", a, c, "-o", tmp_path / "x.smstate"), "parameter absent_rule differs")
    d = make_panoptic_demo(tmp_path / "pan")
    pan = tmp_path / "pan.smstate"
    assert run("eval", "--gt", d.gt_json, "--pred", d.pred_json, "--save-state", pan, "-q").exit_code == 0
    assert_one_line_error(run("merge", a, pan, "-o", tmp_path / "x.smstate"), "semantic state", "panoptic")
    five = tmp_path / "five.smstate"
    (tmp_path / "names.txt").write_text("a\nb\nc\nd\n")
    assert run("eval", "--gt", g, "--pred", p, "--class-names", tmp_path / "names.txt", "--save-state", five,
               "-q").exit_code == 0
    assert_one_line_error(run("merge", a, five, "-o", tmp_path / "x.smstate"), "class lists differ")
    # broken files, for report and merge
    data = a.read_bytes()
    (tmp_path / "trunc.smstate").write_bytes(data[:-100])
    (tmp_path / "junk.smstate").write_text("not a state")
    with zipfile.ZipFile(a) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["confusion.npy"] = members["confusion.npy"][:-1] + b"\x07"
    with zipfile.ZipFile(tmp_path / "corrupt.smstate", "w") as zf:
        for n, x in members.items():
            zf.writestr(n, x)
    for name, fragment in (("trunc.smstate", "not a complete zip"), ("junk.smstate", "not a complete zip"),
                           ("corrupt.smstate", "checksum mismatch"), ("absent.smstate", "not found")):
        assert_one_line_error(run("report", tmp_path / name), name, fragment)
        assert_one_line_error(run("merge", a, tmp_path / name, "-o", tmp_path / "x.smstate"), name)
    assert not (tmp_path / "x.smstate").exists()


@pytest.mark.parametrize("args, fragments", [
    (["eval", "--gt", "g", "--pred", "p", "--ignore-index", "-1"], ["--ignore-index", "-1"]),
    (["eval", "--gt", "g", "--pred", "p", "--fail-under", "miou=5"], ["unknown metric 'miou'"]),
    (["eval", "--no-such-flag"], ["No such option", "--no-such-flag"]),
    (["compare", "missing_a.json", "missing_b.json"], ["missing_a.json"]),
    (["report"], ["Missing argument"]),
    (["merge", "a.smstate"], ["Missing option", "-o"]),
    (["eval", "--gt", "g", "--pred", "p", "--json", "-", "--per-image", "-"], ["mix JSON and CSV"]),
    (["eval", "--gt", "g", "--pred", "p", "--pred-labels", "as-gt", "--no-pred-reduce-zero-label"],
     ["contradict"]),
])
def test_usage_errors_are_one_line_exit_2(args, fragments):
    assert_one_line_error(run(*args), *fragments)


def test_help_and_version_exit_0():
    for args in (["--help"], ["--version"], ["report", "--help"], ["merge", "--help"]):
        r = run(*args)
        assert r.exit_code == 0 and r.stderr == ""
    assert "Exit codes:" in run("eval", "--help").stdout and "130" in run("report", "--help").stdout


def test_eval_save_state_keeps_per_image_counts(sem, tmp_path):
    from segmetrics import load_state

    _, gt, pred, _ = sem
    path = tmp_path / "s.smstate"
    assert run("eval", "--gt", gt, "--pred", pred, "--num-classes", 4, "--save-state", path, "-q").exit_code == 0
    st = load_state(path).state
    assert st.per_image_kept and len(st.image_ids) == 8
    np.testing.assert_array_equal(st.image_tp.sum(0), np.diag(st.confusion))


def test_report_per_image_needs_per_image_counts(tmp_path):
    import segmetrics as sm

    ev = sm.SemanticEvaluator(3)
    ev.update(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    path = tmp_path / "arrays.smstate"
    ev.compute().save_state(path)
    assert run("report", path, "--json", "-").exit_code == 0
    assert_one_line_error(run("report", path, "--per-image", tmp_path / "x.csv"), "no per-image counts")
