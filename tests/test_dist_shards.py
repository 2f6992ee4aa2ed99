"""``segmetrics eval --shard I/N`` + ``merge`` + ``report`` == the unsharded run, byte for byte; refusals."""
from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from segmetrics import load_state
from segmetrics.cli import cli
from segmetrics.demo import make_panoptic_demo
from segmetrics.folders import shard_of

from cli_data import make_flat_set

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")

N = 4


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_one_line_error(r, *fragments):
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("segmetrics: error: "), r.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    gt, pred, _ = make_flat_set(root / "sem", n=23, k=5)
    for name in ("img_004.png", "img_017.png"):  # missing predictions, scored as all-void
        (pred / name).unlink()
    shutil.copy(pred / "img_000.png", pred / "stray.png")  # a prediction without GT
    pan = make_panoptic_demo(root / "pan")
    return {"semantic": ["--gt", gt, "--pred", pred, "--num-classes", 5, "--allow-missing"],
            "panoptic": ["--gt", pan.gt_json, "--pred", pan.pred_json, "--allow-missing"]}


@pytest.fixture(scope="module")
def shards(data, tmp_path_factory):
    out = {}
    for task, args in data.items():
        d = tmp_path_factory.mktemp(task)
        r = run("eval", *args, "--no-cache", "-q", "--json", d / "whole.json", "--per-image", d / "whole.csv",
                "--save-state", d / "whole.smstate")
        assert r.exit_code == 0, r.output
        parts = []
        for i in range(N):
            parts.append(d / f"part-{i}.smstate")
            r = run("eval", *args, "--no-cache", "-q", "--shard", f"{i}/{N}", "--save-state", parts[-1],
                    "--json", d / f"part-{i}.json")
            assert r.exit_code == 0, r.output
        out[task] = (d, parts)
    return out


@pytest.mark.parametrize("task", ["semantic", "panoptic"])
def test_merged_shards_report_the_whole_run_byte_for_byte(shards, task):
    d, parts = shards[task]
    for name, order in (("m", parts), ("r", parts[::-1])):
        r = run("merge", *order, "-o", d / f"{name}.smstate")
        assert r.exit_code == 0, r.output
        assert f"merged {N} states" in r.stderr
        r = run("report", d / f"{name}.smstate", "--json", d / f"{name}.json", "--per-image", d / f"{name}.csv")
        assert r.exit_code == 0, r.output
        assert (d / f"{name}.json").read_bytes() == (d / "whole.json").read_bytes()
        assert (d / f"{name}.csv").read_bytes() == (d / "whole.csv").read_bytes()
    assert (d / "m.smstate").read_bytes() == (d / "r.smstate").read_bytes()


@pytest.mark.parametrize("task", ["semantic", "panoptic"])
def test_each_shard_holds_its_hash_share(shards, task):
    d, parts = shards[task]
    whole = load_state(d / "whole.smstate")
    ids, missing, extra = [], set(), set()
    for i, path in enumerate(parts):
        part = load_state(path)
        assert part.state.num_shards == N and part.state.shard_runs.tolist() == [int(j == i) for j in range(N)]
        assert all(shard_of(x, N) == i for x in part.state.image_ids)
        assert all(shard_of(x, N) == i for x in part.dataset["missing_ids"] + part.dataset["extra_ids"])
        ids += part.state.image_ids
        missing |= set(part.dataset["missing_ids"])
        extra |= set(part.dataset["extra_ids"])
    assert sorted(ids, key=str) == sorted(whole.state.image_ids, key=str)
    assert missing == set(whole.dataset["missing_ids"]) and extra == set(whole.dataset["extra_ids"])
    if task == "semantic":
        assert missing and extra  # the test data exercises both


def test_missing_repeated_and_mixed_shards_are_refused(data, shards, tmp_path):
    d, parts = shards["semantic"]
    out = tmp_path / "x.smstate"
    assert_one_line_error(run("merge", *parts[:3], "-o", out), f"1 of {N} shards are missing", f"3/{N}", "--partial")
    assert_one_line_error(run("merge", *parts, parts[2], "-o", out), f"shard 2/{N} is given more than once",
                          "part-2.smstate")
    assert_one_line_error(run("merge", *parts, d / "whole.smstate", "-o", out), "whole.smstate",
                          "not a shard")
    assert not out.exists()
    other = tmp_path / "other.smstate"  # the same data cut in 2
    assert run("eval", *data["semantic"], "--shard", "0/2", "--save-state", other, "-q", "--no-cache").exit_code == 0
    assert_one_line_error(run("merge", parts[1], other, "-o", out), "different numbers of shards", "(2)", f"({N})")


def test_partial_merges_then_the_rest(shards, tmp_path):
    d, parts = shards["panoptic"]
    a, b, final = tmp_path / "a.smstate", tmp_path / "b.smstate", tmp_path / "all.smstate"
    assert run("merge", "--partial", parts[0], parts[3], "-o", a).exit_code == 0
    assert run("merge", "--partial", parts[1], parts[2], "-o", b).exit_code == 0
    assert run("merge", a, b, "-o", final).exit_code == 0
    r = run("report", final, "--json", "-")
    assert r.stdout.encode() == (d / "whole.json").read_bytes()


@pytest.mark.parametrize("value, words", [("4/4", "0..3"), ("2", "I/N"), ("x/y", "integers"), ("0/0", "at least 1")])
def test_bad_shard_values_are_usage_errors(data, value, words):
    assert_one_line_error(run("eval", *data["semantic"], "--shard", value, "-q"), "--shard", words)
