"""segmetrics.torch.sync on a real 2-process gloo group (torch.multiprocessing.spawn, TCP on 127.0.0.1).

Each rank scores its DistributedSampler share of the images (the sampler pads with repeated
images), syncs, and writes what it got; the parent compares with one process over the
unpadded set: every state array bit for bit, every metric.
"""
from __future__ import annotations

import pickle
import socket
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

import segmetrics as sm  # noqa: E402
from segmetrics.errors import InputError  # noqa: E402

from test_dist_state import K, assert_same_arrays, semantic_images  # noqa: E402
from test_panoptic import CATEGORIES, make_dataset  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::segmetrics.errors.SegmetricsWarning")

N_SEM = 7   # 2 ranks: the sampler pads to 8, image 0 twice
N_PAN = 5   # 2 ranks: padded to 6


def semantic_data(n=N_SEM):
    return semantic_images(n, seed=3)  # int and str ids, void predictions


def panoptic_data(n=N_PAN):
    data = make_dataset(11, n_images=n)
    _, g, gs, p, ps = data[1]
    gs = [dict(s) for s in gs]
    gs[0]["area"] += 3  # a stale JSON area: a warning that names the image
    data[1] = (data[1][0], g, gs, p, ps)
    return data


def semantic_evaluator(items, per_image=True):
    ev = sm.SemanticEvaluator(K, per_image=per_image, void_predictions="miss")
    for image_id, gt, pred in items:
        ev.update(torch.from_numpy(gt), torch.from_numpy(pred), image_id=image_id)
    return ev


def panoptic_evaluator(items, per_image=True):
    ev = sm.PanopticEvaluator(CATEGORIES, per_image=per_image)
    for image_id, g, gs, p, ps in items:
        ev.update(g, gs, p, ps, image_id=image_id)
    return ev


def sampler_share(n, rank, world=2, shuffle=False):
    """The indices torch's own DistributedSampler gives this rank (padded with repeats)."""
    from torch.utils.data.distributed import DistributedSampler

    return list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=shuffle, seed=5))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _outcome(fn):
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            return ("ok", fn())
    except InputError as exc:
        return ("error", str(exc))


def _arrays(ev):
    return ev.state.to_arrays(), ev.compute().to_dict()["metrics"]


def _worker(rank, world, port, out_dir):
    from segmetrics.torch import sync

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        results = {}
        sem, pan = semantic_data(), panoptic_data()

        def padded(kind, shuffle):
            data, make = (sem, semantic_evaluator) if kind == "semantic" else (pan, panoptic_evaluator)
            ev = make([data[i] for i in sampler_share(len(data), rank, world, shuffle)])
            rep = sync(ev)
            return _arrays(ev) + (rep.duplicates, rep.notes, rep.num_images)

        for kind in ("semantic", "panoptic"):
            for shuffle in (False, True):
                results[kind, "padded", shuffle] = _outcome(lambda: padded(kind, shuffle))

        def conflict():  # rank 1 scores its padded copy of image 0 with another prediction
            items = [sem[i] for i in sampler_share(len(sem), rank, world)]
            if rank == 1:
                image_id, gt, pred = items[-1]
                items[-1] = (image_id, gt, (pred + 1) % K)
            return sync(semantic_evaluator(items))

        results["conflict"] = _outcome(conflict)

        def no_rows(assume):  # no per-image rows: refused unless the ranks are disjoint by construction
            ev = semantic_evaluator(sem[rank::world], per_image=False)
            rep = sync(ev, assume_disjoint=assume)
            return _arrays(ev) + (rep.duplicates,)

        results["no_rows"] = _outcome(lambda: no_rows(False))
        results["no_rows_disjoint"] = _outcome(lambda: no_rows(True))

        def pan_no_rows():
            ev = panoptic_evaluator(pan[rank::world], per_image=False)
            sync(ev, assume_disjoint=True)
            return _arrays(ev)

        results["pan_no_rows_disjoint"] = _outcome(pan_no_rows)

        def mismatch():  # another number of classes on rank 1
            ev = sm.SemanticEvaluator(K + rank, per_image=True)
            return sync(ev)

        results["mismatch"] = _outcome(mismatch)
        with open(f"{out_dir}/rank{rank}.pkl", "wb") as fh:
            pickle.dump(results, fh)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    import torch.multiprocessing as mp

    out = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    got = []
    for r in range(2):
        with open(out / f"rank{r}.pkl", "rb") as fh:
            got.append(pickle.load(fh))
    return got


def assert_same_metrics(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key] is None and b[key] is None) or a[key] == b[key], (key, a[key], b[key])


@pytest.mark.parametrize("kind", ["semantic", "panoptic"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_padded_split_equals_one_process_on_the_unpadded_set(ranks, kind, shuffle):
    if kind == "semantic":
        want = semantic_evaluator(semantic_data())
        n = N_SEM
    else:
        want = panoptic_evaluator(panoptic_data())
        n = N_PAN
    arrays, metrics = _arrays(want)
    shares = [sampler_share(n, r, 2, shuffle) for r in range(2)]
    assert sum(map(len, shares)) == n + 1  # the sampler did pad: one image on both ranks
    for r in range(2):
        status, value = ranks[r][kind, "padded", shuffle]
        assert status == "ok", value
        got_arrays, got_metrics, dups, notes, num_images = value
        assert_same_arrays(got_arrays, arrays)
        assert_same_metrics(got_metrics, metrics)
        assert num_images == n and len(dups) == 1
        assert "counted once" in notes[0] and repr(dups[0]) in notes[0]
    if kind == "panoptic":  # the stale-area warning of image 1 once, as in one process
        assert sum("has area" in w for w in arrays["warnings"]) == 1


def test_padding_would_double_count_without_sync_dedup(ranks):
    """The oracle check that the test data really exercises the duplicate path."""
    sem = semantic_data()
    naive = semantic_evaluator([sem[i] for i in sampler_share(N_SEM, 0)])
    other = semantic_evaluator([sem[i] for i in sampler_share(N_SEM, 1)])
    with pytest.raises(InputError, match="both states hold image ids"):
        naive.merge(other)


def test_conflicting_duplicate_is_an_error_on_every_rank(ranks):
    for r in range(2):
        status, msg = ranks[r]["conflict"]
        assert status == "error"
        assert "image id 0 " in msg and "ranks 0 and 1" in msg and "different results" in msg


def test_states_without_rows_are_refused_unless_disjoint(ranks):
    sem = semantic_data()
    want_arrays, want_metrics = _arrays(semantic_evaluator(sem, per_image=False))
    pan_arrays, pan_metrics = _arrays(panoptic_evaluator(panoptic_data(), per_image=False))
    for r in range(2):
        status, msg = ranks[r]["no_rows"]
        assert status == "error" and "per_image=True" in msg and "assume_disjoint" in msg
        status, value = ranks[r]["no_rows_disjoint"]
        assert status == "ok", value
        assert_same_arrays(value[0], want_arrays)
        assert_same_metrics(value[1], want_metrics)
        status, value = ranks[r]["pan_no_rows_disjoint"]
        assert status == "ok", value
        assert_same_arrays(value[0], pan_arrays)  # matches in (category, IoU) order
        assert_same_metrics(value[1], pan_metrics)


def test_different_evaluators_are_refused_on_every_rank(ranks):
    for r in range(2):
        status, msg = ranks[r]["mismatch"]
        assert status == "error" and "rank 1 differs" in msg and "num_classes" in msg


def test_sync_needs_an_initialised_group():
    from segmetrics.torch import sync

    if dist.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    with pytest.raises(InputError, match="not initialised"):
        sync(sm.SemanticEvaluator(3, per_image=True))
