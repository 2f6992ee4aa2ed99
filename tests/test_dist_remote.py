"""Remote data through fsspec: a real HTTP server on 127.0.0.1 (fsspec's HTTP filesystem, aiohttp) and
fsspec's in-process memory filesystem; results equal to the local files', errors naming URLs."""
from __future__ import annotations

import functools
import http.server
import os
import threading
import time
import uuid

import numpy as np
import pytest

fsspec = pytest.importorskip("fsspec")

import segmetrics as sm  # noqa: E402
from segmetrics import remote  # noqa: E402
from segmetrics.errors import DataFileError, FormatError  # noqa: E402
from segmetrics.io.folders import pair_label_files  # noqa: E402

from cli_data import make_flat_set, write_png  # noqa: E402
from test_panoptic import make_dataset, write_coco  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request lines on stderr
        pass


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    root = tmp_path_factory.mktemp("remote-data")
    gt, pred, _ = make_flat_set(root / "sem", n=40, k=5)  # more than one staging chunk
    (pred / "img_007.png").unlink()
    pan_gt, pan_pred = write_coco(root / "pan", make_dataset(33, n_images=9))
    return root


@pytest.fixture(scope="module")
def http_base(local):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(local)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def memory_base(local):
    fs = fsspec.filesystem("memory")
    base = f"/segmetrics-test-{uuid.uuid4().hex[:8]}"
    for p in local.rglob("*"):
        if p.is_file():
            fs.pipe_file(f"{base}/{p.relative_to(local).as_posix()}", p.read_bytes())
    yield f"memory://{base}"
    fs.rm(base, recursive=True)


def comparable(res) -> dict:
    rep = res.to_report()
    for part in ("dataset", "params"):  # where the data lies is all that may differ
        rep[part] = {k: v for k, v in rep[part].items() if k not in ("gt", "pred", "gt_folder", "pred_folder")}
    return rep


def semantic(gt, pred, **kw):
    return sm.evaluate_semantic_folders(gt, pred, num_classes=5, allow_missing=True, per_image=True, **kw)


def panoptic(root, **kw):
    return sm.evaluate_panoptic_folders(f"{root}/pan/gt.json", f"{root}/pan/pred.json", per_image=True, **kw)


@pytest.mark.parametrize("fs_kind", ["memory", "http"])
def test_urls_give_the_local_result(local, memory_base, http_base, fs_kind):
    base = memory_base if fs_kind == "memory" else http_base
    want = semantic(local / "sem" / "gt", local / "sem" / "pred")
    got = semantic(f"{base}/sem/gt", f"{base}/sem/pred")
    assert comparable(got) == comparable(want) and got.per_image_rows() == want.per_image_rows()
    assert got.dataset["gt"] == f"{base}/sem/gt" and got.dataset["missing_ids"] == ["img_007"]
    want = panoptic(local)
    got = panoptic(base)
    assert comparable(got) == comparable(want) and got.per_image_rows() == want.per_image_rows()
    assert got.dataset["gt_folder"] == f"{base}/pan/gt"


def test_a_local_gt_with_url_predictions(local, memory_base):
    want = semantic(local / "sem" / "gt", local / "sem" / "pred")
    got = semantic(local / "sem" / "gt", f"{memory_base}/sem/pred")
    assert comparable(got) == comparable(want)


def test_dask_workers_fetch_over_http(local, http_base):
    distributed = pytest.importorskip("distributed")
    import segmetrics.dask as smd

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        got = smd.evaluate_semantic_folders(f"{http_base}/sem/gt", f"{http_base}/sem/pred", num_classes=5,
                                            allow_missing=True, per_image=True, client=client, chunk_size=7)
        pan = smd.evaluate_panoptic_folders(f"{http_base}/pan/gt.json", f"{http_base}/pan/pred.json",
                                            per_image=True, client=client, chunk_size=2)
    assert comparable(got) == comparable(semantic(local / "sem" / "gt", local / "sem" / "pred"))
    assert comparable(pan) == comparable(panoptic(local))


def test_errors_name_the_url_not_the_staged_copy(local, tmp_path):
    fs = fsspec.filesystem("memory")
    base = f"/segmetrics-bad-{uuid.uuid4().hex[:8]}"
    for p in (local / "sem").rglob("*.png"):
        fs.pipe_file(f"{base}/{p.relative_to(local / 'sem').as_posix()}", p.read_bytes())
    fs.pipe_file(f"{base}/pred/img_033.png", b"\x89PNG\r\n\x1a\n this is no PNG")
    with pytest.raises(FormatError) as err:
        semantic(f"memory://{base}/gt", f"memory://{base}/pred")
    assert f"memory://{base}/pred/img_033.png" in str(err.value) and "segmetrics-stage" not in str(err.value)
    bad = write_png(tmp_path / "gt" / "img_033.png", np.full((24, 32), 9, np.uint8))  # label 9 of 5 classes
    fs.pipe_file(f"{base}/gt/img_033.png", bad.read_bytes())
    fs.pipe_file(f"{base}/pred/img_033.png", bad.read_bytes())
    with pytest.raises(sm.LabelError) as err:
        semantic(f"memory://{base}/gt", f"memory://{base}/pred")
    assert "img_033" in str(err.value) and err.value.file == f"memory://{base}/gt/img_033.png"  # the field too
    with pytest.raises(DataFileError, match=f"memory://{base}/nothing"):
        semantic(f"memory://{base}/nothing", f"memory://{base}/pred")
    fs.rm(base, recursive=True)


def test_missing_json_over_http(http_base):
    with pytest.raises(DataFileError, match=f"file not found: {http_base}/pan/none.json"):
        sm.evaluate_panoptic_folders(f"{http_base}/pan/none.json", f"{http_base}/pan/pred.json")


def test_url_pairing_is_the_local_rule(tmp_path):
    fs = fsspec.filesystem("memory")
    base = f"/segmetrics-pair-{uuid.uuid4().hex[:8]}"
    img = np.zeros((4, 4), np.uint8)
    names = {"gt": ["aachen/a_000_gtFine_labelIds.png", "bochum/b_001_gtFine_labelIds.png",
                    "bochum/b_002_gtFine_labelIds.png", "bochum/.hidden_gtFine_labelIds.png",
                    "bochum/b_001_gtFine_color.png"],
             "pred": ["a_000_leftImg8bit.png", "b_001_leftImg8bit.png", "zzz_leftImg8bit.png"]}
    for side, files in names.items():
        for f in files:
            p = write_png(tmp_path / side / f, img)
            fs.pipe_file(f"{base}/{side}/{f}", p.read_bytes())
    kw = dict(gt_suffix="_gtFine_labelIds", pred_suffixes=("_leftImg8bit",), allow_missing=True)
    want = pair_label_files(tmp_path / "gt", tmp_path / "pred", **kw)
    got = remote.pair_label_urls(f"memory://{base}/gt", f"memory://{base}/pred", **kw)
    assert [q[0] for q in got.pairs] == [q[0] for q in want.pairs] == ["aachen/a_000", "bochum/b_001",
                                                                       "bochum/b_002"]
    assert got.missing == want.missing and got.extra == want.extra == ["zzz"]
    assert [str(q[1]) for q in got.pairs][0] == f"memory://{base}/gt/aachen/a_000_gtFine_labelIds.png"
    fs.rm(base, recursive=True)


def test_pred_labels_auto_reads_its_sample_through_urls(tmp_path):
    fs = fsspec.filesystem("memory")
    base = f"/segmetrics-auto-{uuid.uuid4().hex[:8]}"
    gt, pred, _ = make_flat_set(tmp_path, n=6, k=5, gt_values=lambda g: np.where(g == 255, 0, g + 1))
    for p in tmp_path.rglob("*.png"):
        fs.pipe_file(f"{base}/{p.relative_to(tmp_path).as_posix()}", p.read_bytes())
    want = sm.evaluate_semantic_folders(gt, pred, preset="ade20k")
    got = sm.evaluate_semantic_folders(f"memory://{base}/gt", f"memory://{base}/pred", preset="ade20k")
    assert got.params["pred_labels"] == want.params["pred_labels"] == "class-index"
    assert got.notes == want.notes and comparable(got) == comparable(want)
    fs.rm(base, recursive=True)


def test_staging_fetches_the_next_chunk_ahead_and_cleans_up():
    fs = fsspec.filesystem("memory")
    base = f"/segmetrics-stage-{uuid.uuid4().hex[:8]}"
    chunks = []
    for c in range(3):
        chunk = []
        for j in range(4):
            fs.pipe_file(f"{base}/{c}/{j}.bin", bytes([c, j]) * 10)
            chunk.append((f"memory://{base}/{c}/{j}.bin", f"{j}/{j}.bin"))
        chunks.append(chunk)
    folders = []
    gen = remote.staged(chunks, threads=2)
    for c, (folder, names) in enumerate(gen):
        folders.append(folder)
        for local, url in names.items():
            with open(local, "rb") as fh:
                assert fh.read() == bytes([c, int(url.rsplit("/", 1)[1][0])]) * 10
        if c + 1 < len(chunks):  # the next chunk is being fetched while this one is used
            nxt = os.path.join(os.path.dirname(folder), str(c + 1))
            deadline = time.monotonic() + 10
            while not all(os.path.exists(os.path.join(nxt, rel)) for _, rel in chunks[c + 1]):
                assert time.monotonic() < deadline, "the next chunk was not fetched ahead"
                time.sleep(0.01)
    assert not any(os.path.exists(f) for f in folders)  # every chunk removed, the staging root too
    assert not os.path.exists(os.path.dirname(folders[0]))
    fs.rm(base, recursive=True)


def test_remote_file_reads_as_a_local_path(memory_base):
    f = remote.RemoteFile(f"{memory_base}/sem/gt/img_000.png")
    assert str(f) == f"{memory_base}/sem/gt/img_000.png" and f.name == "img_000.png"
    path = os.fspath(f)
    assert os.path.isfile(path) and path == os.fspath(f)  # fetched once
    import pickle

    assert pickle.loads(pickle.dumps(f)) == f and (remote.RemoteFile("s3://b/x") / "y.png").url == "s3://b/x/y.png"
    assert remote.is_url("gs://b/x") and remote.is_url(f) and not remote.is_url("C:/data") \
        and not remote.is_url("plain/path")
