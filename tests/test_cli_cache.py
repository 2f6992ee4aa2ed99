"""The CLI's ground-truth cache flags: default location, --cache-dir, --no-cache."""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from segmetrics.cli import cli


@pytest.fixture()
def folders(tmp_path):
    rng = np.random.default_rng(0)
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir(), pred.mkdir()
    for i in range(4):
        g = rng.integers(0, 3, (24, 32), dtype=np.uint8)
        p = g.copy()
        p[:5] = (p[:5] + 1) % 3
        Image.fromarray(g).save(gt / f"im{i}.png")
        Image.fromarray(p).save(pred / f"im{i}.png")
    return gt, pred


def _run(args):
    res = CliRunner().invoke(cli, ["eval", "--num-classes", "3", "--json", "-", "-q", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)["metrics"]


def _files(d):
    return sorted(p for p in d.rglob("*") if p.is_file()) if d.exists() else []


def test_default_cache_goes_to_xdg_cache_home(folders):
    gt, pred = folders
    cache = os.path.join(os.environ["XDG_CACHE_HOME"], "segmetrics")
    first = _run(["--gt", str(gt), "--pred", str(pred), "-j", "1"])
    from pathlib import Path

    assert _files(Path(cache)), "the default run should fill the default cache folder"
    assert _run(["--gt", str(gt), "--pred", str(pred), "-j", "2"]) == first


def test_cache_dir_and_no_cache(folders, tmp_path):
    gt, pred = folders
    cache = tmp_path / "mycache"
    cold = _run(["--gt", str(gt), "--pred", str(pred), "--no-cache"])
    assert not _files(cache)
    filled = _run(["--gt", str(gt), "--pred", str(pred), "--cache-dir", str(cache)])
    assert _files(cache)
    warm = _run(["--gt", str(gt), "--pred", str(pred), "--cache-dir", str(cache)])
    assert cold == filled == warm


def test_contradicting_flags(folders, tmp_path):
    gt, pred = folders
    res = CliRunner().invoke(cli, ["eval", "--num-classes", "3", "--gt", str(gt), "--pred", str(pred),
                                   "--no-cache", "--cache-dir", str(tmp_path)])
    assert res.exit_code == 2 and "contradict" in res.output
