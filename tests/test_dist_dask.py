"""segmetrics.dask on a real distributed.LocalCluster (2 worker processes): the local run's report,
per-image rows and state file, byte for byte; a worker killed mid-run; errors; the GT cache."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

import segmetrics as sm  # noqa: E402
import segmetrics.dask as smd  # noqa: E402
from segmetrics.errors import InputError, LabelError  # noqa: E402
from segmetrics.demo import make_panoptic_demo  # noqa: E402

from cli_data import make_flat_set, write_png  # noqa: E402
from test_panoptic import make_dataset, write_coco  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory):
    return tmp_path_factory.mktemp("worker-cache-home")


@pytest.fixture(scope="module")
def client(cache_home):
    from distributed import Client, LocalCluster

    # the workers' default GT cache goes to a temporary folder, not the user's home
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           env={"XDG_CACHE_HOME": str(cache_home)})
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask-data")
    gt, pred, _ = make_flat_set(root / "sem", n=21, k=6)
    (pred / "img_005.png").unlink()  # a missing prediction
    pan_gt, pan_pred = write_coco(root / "pan", make_dataset(21, n_images=17))
    return {"semantic": (gt, pred), "panoptic": (pan_gt, pan_pred)}


def evaluate(task, sets, where, **kw):
    a, b = sets[task]
    if task == "semantic":
        kw = dict(num_classes=6, allow_missing=True, **kw)
    if where is None:
        fn = sm.evaluate_semantic_folders if task == "semantic" else sm.evaluate_panoptic_folders
        return fn(a, b, **kw)
    fn = smd.evaluate_semantic_folders if task == "semantic" else smd.evaluate_panoptic_folders
    return fn(a, b, client=where, **kw)


def report_bytes(res) -> bytes:
    from segmetrics.report import json_ready

    return json.dumps(json_ready(res.to_report()), sort_keys=False).encode()


@pytest.mark.parametrize("task", ["semantic", "panoptic"])
@pytest.mark.parametrize("chunk_size", [1, 4, None])
def test_dask_equals_local_byte_for_byte(client, sets, tmp_path, task, chunk_size):
    local = evaluate(task, sets, None, per_image=True)
    ticks = []
    dist = evaluate(task, sets, client, per_image=True, chunk_size=chunk_size, progress=ticks.append)
    assert report_bytes(dist) == report_bytes(local)
    assert dist.per_image_rows() == local.per_image_rows() and dist.warnings == local.warnings
    local.save_state(tmp_path / "local.smstate")
    dist.save_state(tmp_path / "dask.smstate")
    assert (tmp_path / "local.smstate").read_bytes() == (tmp_path / "dask.smstate").read_bytes()
    assert sum(ticks) == local.num_images and (chunk_size != 1 or len(ticks) == local.num_images)


@pytest.mark.parametrize("task", ["semantic", "panoptic"])
def test_dask_without_per_image_rows(client, sets, task):
    local = evaluate(task, sets, None)
    dist = evaluate(task, sets, client, chunk_size=3)
    assert report_bytes(dist) == report_bytes(local)
    assert dist.dataset["fingerprint"] == local.dataset["fingerprint"]
    a, b = dist.state.to_arrays(), local.state.to_arrays()
    assert all(np.array_equal(a[k], b[k]) for k in a if isinstance(a[k], np.ndarray))


class KillOnce(distributed.WorkerPlugin):
    """Exits the worker process at the start of the first segmetrics task it sees (once per marker file)."""

    def __init__(self, marker: str):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith("segmetrics-count") and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(key))
            os._exit(1)


@pytest.mark.parametrize("task", ["semantic", "panoptic"])
def test_a_worker_killed_mid_run_still_gives_the_exact_result(client, sets, tmp_path, task):
    local = evaluate(task, sets, None, per_image=True)
    marker = tmp_path / "killed"
    client.register_plugin(KillOnce(str(marker)), name="kill-once")
    try:
        dist = evaluate(task, sets, client, per_image=True, chunk_size=2)
    finally:
        client.unregister_worker_plugin("kill-once")
    assert marker.exists(), "no worker was killed: the test did not exercise the fault"
    assert report_bytes(dist) == report_bytes(local)
    client.wait_for_workers(2, timeout=60)


def test_the_first_failing_chunk_in_input_order_is_raised(client, tmp_path):
    gt, pred, _ = make_flat_set(tmp_path, n=12, k=3)
    write_png(pred / "img_009.png", np.full((24, 32), 7, np.uint8))  # bad label in a late chunk
    write_png(pred / "img_002.png", np.full((24, 32), 5, np.uint8))  # and in an early one
    with pytest.raises(LabelError) as local_err:
        sm.evaluate_semantic_folders(gt, pred, num_classes=3)
    with pytest.raises(LabelError) as dist_err:
        smd.evaluate_semantic_folders(gt, pred, num_classes=3, client=client, chunk_size=2)
    assert "img_002" in str(dist_err.value) and str(dist_err.value) == str(local_err.value)
    assert dist_err.value.rules["pred_labels"] == "class-index"  # the fields travel back from the worker


def test_per_worker_gt_cache(client, sets, cache_home):
    from segmetrics.gtcache import cache_info

    first = evaluate("panoptic", sets, client, cache_dir=smd.PER_WORKER)
    again = evaluate("panoptic", sets, client, cache_dir=smd.PER_WORKER)
    assert report_bytes(first) == report_bytes(again)
    info = cache_info(cache_home / "segmetrics")
    assert info["entries"] > 0  # the workers stored GT in their own default folder


def test_cli_dask_local(sets, tmp_path):
    from click.testing import CliRunner

    from segmetrics.cli import cli

    gt, pred = sets["panoptic"]
    outs = []
    for name, extra in (("local", []), ("dask", ["--dask", "local:2x1"])):
        r = CliRunner().invoke(cli, ["eval", "--gt", str(gt), "--pred", str(pred), "--no-cache", "-q", *extra,
                                     "--json", str(tmp_path / f"{name}.json"),
                                     "--save-state", str(tmp_path / f"{name}.smstate")], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        outs.append(name)
    for ext in ("json", "smstate"):
        assert (tmp_path / f"local.{ext}").read_bytes() == (tmp_path / f"dask.{ext}").read_bytes()


@pytest.mark.parametrize("spec, words", [("local:0", "at least 1"), ("local:two", "local:N"), (3, "client must be")])
def test_bad_client_specs(spec, words):
    with pytest.raises(InputError, match=words):
        smd.connect(spec)


def test_demo_panoptic_through_dask(client, tmp_path):
    d = make_panoptic_demo(tmp_path / "demo")
    local = sm.evaluate_panoptic_folders(d.gt_json, d.pred_json, per_image=True)
    dist = smd.evaluate_panoptic_folders(d.gt_json, d.pred_json, per_image=True, client=client)
    assert report_bytes(dist) == report_bytes(local)
