"""Issue 11 item 3: panoptic memory linear in pixels + present segment pairs.

One 300 x 400 image with 45,001 GT segments (and as many predicted ones) goes through
every panoptic path - the array API, the fused folder kernels, the GT cache cold and
warm, the per-image folder path - in a child process whose address space is capped
(``RLIMIT_AS``) at 200 MB above what it holds after the imports: a full
(n_gt + 1) x (n_pred + 1) table (16 GB) fails there instead of taking the machine down.
The numbers must agree across paths and with the NumPy twin of tests/oracles.py.
Speed is measured in ``benchmarks/bench_many_segments.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(r'''
    import json, resource, sys, warnings
    from pathlib import Path
    import numpy as np
    from PIL import Image
    sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
    import oracles
    from segmetrics.folders import evaluate_panoptic_files
    from segmetrics.io.coco_panoptic import dataset_from_dict, id2rgb
    from segmetrics.panoptic import PanopticEvaluator

    tmp = Path(sys.argv[2])
    h, w, n = 300, 400, 45001
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(np.arange(1, h * w), n - 1, replace=False))  # n runs in raster order
    g = (np.cumsum(np.isin(np.arange(h * w), cuts)) + 1).reshape(h, w)
    p = np.roll(g, 1, axis=1)
    p[:, 0] = 0
    cats = [{"id": 1, "name": "a", "isthing": 1}, {"id": 2, "name": "b", "isthing": 0}]
    g_area = np.bincount(g.ravel())
    gs = [{"id": i, "category_id": 1 + i % 2, "iscrowd": int(i % 97 == 0), "area": int(g_area[i])}
          for i in range(1, n + 1)]
    p_ids = np.unique(p[p > 0])
    ps = [{"id": int(i), "category_id": 1 + int(i) % 2} for i in p_ids]
    for d in ("gt", "pred"):
        (tmp / d).mkdir()
    Image.fromarray(id2rgb(g)).save(tmp / "gt" / "a.png")
    Image.fromarray(id2rgb(p)).save(tmp / "pred" / "a.png")
    gt = dataset_from_dict({"annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": gs}],
                            "categories": cats}, folder=tmp / "gt")
    pred = dataset_from_dict({"annotations": [{"image_id": 1, "file_name": "a.png", "segments_info": ps}]},
                             folder=tmp / "pred")
    # the twin's counts, before the cap
    pairs = oracles.pair_counts(g, p, np.arange(1, n + 1), p_ids)[0]
    gcol = (np.arange(1, n + 1) % 2, (np.arange(1, n + 1) % 97 == 0).astype(np.uint8), g_area[1:].astype(float),
            np.arange(n))
    twin = oracles.image_stats(pairs, *gcol, (p_ids % 2).astype(np.int64), 2)

    vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize:")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + 200 * 2**20, resource.RLIM_INFINITY))
    out = {}
    warnings.simplefilter("ignore")
    ev = PanopticEvaluator(cats)
    ev.update(g.astype(np.uint32), gs, p.astype(np.uint32), ps, image_id=1)
    out["array"] = ev
    for name, kw in (("fused", {}), ("cold", {"cache_dir": tmp / "c"}), ("warm", {"cache_dir": tmp / "c"})):
        out[name] = evaluate_panoptic_files(gt, pred, PanopticEvaluator(cats), jobs=2, **kw)
    gs[96]["area"] += 1  # a stale area (crowd segment 97: no IoU changes): the per-image folder path, a warning
    gt.columns[1].area[96] += 1
    out["per-image"] = evaluate_panoptic_files(gt, pred, PanopticEvaluator(cats), jobs=2)
    res = {k: {"tp": v.state.tp.tolist(), "fp": v.state.fp.tolist(), "fn": v.state.fn.tolist(),
               "iou": v.state.iou_sum().tolist(), "conf": int(v.state.confusion.sum()),
               "warnings": len(v.state.warnings)} for k, v in out.items()}
    res["twin"] = {"tp": twin["tp"].tolist(), "fp": twin["fp"].tolist(), "fn": twin["fn"].tolist(),
                   "n_match": len(twin["matches"])}
    res["vm_cap_mb"] = (vm + 200 * 2**20) / 2**20
    print(json.dumps(res))
''')


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status for the address-space cap")
def test_45001_segments_every_path_under_a_200_mb_cap(tmp_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", CHILD, str(REPO), str(tmp_path)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    twin = res.pop("twin")
    res.pop("vm_cap_mb")
    assert sum(twin["tp"]) > 1000 and sum(twin["fp"]) > 1000  # matches and misses, both
    for name, got in res.items():
        assert [got[k] for k in ("tp", "fp", "fn")] == [twin[k] for k in ("tp", "fp", "fn")], name
        assert got["iou"] == res["array"]["iou"] and got["conf"] == 300 * 400, name
        assert got["warnings"] == (1 if name == "per-image" else 0), name


def test_bench_many_segments_runs_and_tools_agree(tmp_path):
    """The benchmark end to end on a small size: every tool runs and the numbers agree."""
    out = tmp_path / "many.md"
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_many_segments.py"), "--sizes", "300",
                        "--repeat", "1", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    row = next(line for line in out.read_text().splitlines() if line.startswith("| 300 / "))
    assert "differ" not in row and "Error" not in row and row.count(" s") >= 4
