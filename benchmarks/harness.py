"""Shared machinery of the folder benchmarks: tools, one fresh process per tool, checks.

``bench_folders.py`` (500-image sets) and ``bench_scale.py`` (COCO-val scale) build
rows (dicts: the tool, its data and settings) and hand each to :func:`run_row`,
which runs ``python benchmarks/harness.py --child SPEC`` so that every tool has
its own interpreter: its imports are timed apart from the work ("setup"), its
peak memory (``VmHWM``) is its own, and no tool warms another's caches.  The
child times ``repeat`` runs of the tool's ``run()`` (paths in, numbers out),
stopping early once the runs have taken ``budget`` seconds, and reports CPU
time (its threads and worker processes) and peak RSS beside them.  Between the
setup and the first timed run the child waits until its other threads are idle
(:func:`settle`): ``import numpy`` starts OpenBLAS's worker threads, which spin
for about 0.1 s, and every tool here imports numpy in its setup.

segmetrics is called from exactly two adapter functions, :func:`segmetrics_semantic`
and :func:`segmetrics_panoptic`, so that a change of its public folder API is a
few lines here.

Data conventions (the ``conv`` field of a semantic row):

``"ade20k"``
    GT 0..150 with 0 = other, predictions 0..149: segmetrics and hotcoco with
    ``reduce_zero_label``; numpy / torchmetrics reduce the GT by hand; vernier
    (which has no such rule: labels are used as stored, ``ignore_label`` drops GT
    pixels) reads the predictions shifted to 1..150 (``pred_1based/``, written
    once by :func:`datasets.ade20k_pred_1based`) with 151 classes and
    ``ignore_label=0``; its matrix without row and column 0 is ours.
``"plain"``
    GT 0..K-1 and 255 (ignored), predictions 0..K-1: every tool reads the same files.
``"cityscapes"``
    GT label ids 0..33 (``gtFine/val``), scored by segmetrics with its
    ``cityscapes`` preset (the label-id -> train-id map fused into the count);
    the peers have no label map and read the same GT converted to train ids
    (``gt_trainids/``, as Cityscapes' ``createTrainIdLabelImgs`` makes them).
"""
from __future__ import annotations

import gc
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# the tools run with the caller's environment (the parent may set OPENBLAS_NUM_THREADS=1
# for the data generators after this copy is taken), as installed packages run: with
# Python's bytecode cache.  pip compiles a package's modules when it installs it; a shell
# that sets PYTHONDONTWRITEBYTECODE (this project's sandbox does) would make every fresh
# process of a source checkout compile segmetrics' modules again (about 60 ms and 3 MB of
# peak RSS per process here), so the children run without it, after prepare_bytecode().
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
_BYTECODE_READY = []


def prepare_bytecode() -> None:
    """Compile the checkout's Python packages once (what ``pip install`` does), so that the
    tools' fresh processes import them from the bytecode cache."""
    if _BYTECODE_READY:
        return
    import compileall

    for pkg in ("segmetrics", "reference_models"):
        if (ROOT / pkg).is_dir():
            compileall.compile_dir(str(ROOT / pkg), quiet=1)
    _BYTECODE_READY.append(True)

SEM_KEYS = ("mIoU", "mAcc", "aAcc", "fwIoU")
PAN_KEYS = ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st")
TOL = 1e-9
DECODERS = {"segmetrics": "segmetrics read_png", "pillow": "Pillow", "pyspng": "pyspng"}


# ----------------------------------------------------------------------------------------------
# the seam: the only two functions that call segmetrics' folder API
# ----------------------------------------------------------------------------------------------

def segmetrics_semantic(gt_dir, pred_dir, *, num_classes, reduce_zero_label=False, preset=None,
                        jobs=None, cache_dir=None):
    """Score a semantic folder pair with segmetrics' public folder API; returns its
    ``SemanticResult``.  Predictions hold class indices 0..K-1; ``preset`` (e.g.
    ``"cityscapes"``) brings the preset's GT label map and file suffix."""
    from segmetrics.folders import evaluate_semantic_folders

    return evaluate_semantic_folders(gt_dir, pred_dir, preset=preset, num_classes=num_classes,
                                     reduce_zero_label=reduce_zero_label, pred_labels="class-index",
                                     jobs=jobs, cache_dir=cache_dir)


def segmetrics_panoptic(gt_json, pred_json, gt_folder, pred_folder, *, jobs=None, cache_dir=None,
                        with_semantic=True):
    """Score a COCO-panoptic prediction set with segmetrics' public folder API; returns its
    ``PanopticResult``."""
    import warnings

    from segmetrics.folders import evaluate_panoptic_folders

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate_panoptic_folders(gt_json, pred_json, gt_folder=gt_folder, pred_folder=pred_folder,
                                         jobs=jobs, cache_dir=cache_dir, with_semantic=with_semantic)


def semantic_set(conv: str, folder) -> dict:
    """The row fields of a semantic set on disk (``conv``: "ade20k", "plain" or "cityscapes")."""
    d = Path(folder)
    if conv == "cityscapes":
        return {"task": "semantic", "conv": conv, "num_classes": 19, "preset": "cityscapes",
                "gt_suffix": "_gtFine_labelIds", "gt_dir": str(d / "gtFine" / "val"),
                "plain_gt_dir": str(d / "gt_trainids"), "pred_dir": str(d / "pred")}
    base = {"task": "semantic", "conv": conv, "num_classes": 150, "gt_dir": str(d / "gt"),
            "plain_gt_dir": str(d / "gt"), "pred_dir": str(d / "pred")}
    if conv == "ade20k":
        base["vernier_pred_dir"] = str(d / "pred_1based")
    return base


def panoptic_set(folder) -> dict:
    """The row fields of a COCO-panoptic set on disk (``gt.json``, ``gt/``, ``pred.json``, ``pred/``)."""
    d = Path(folder)
    return {"task": "panoptic", "gt_json": str(d / "gt.json"), "pred_json": str(d / "pred.json"),
            "gt_folder": str(d / "gt"), "pred_folder": str(d / "pred")}


def set_files(base: dict) -> tuple[list[Path], list[Path]]:
    """(GT files, prediction files) of a set, as segmetrics reads them."""
    if base["task"] == "semantic":
        gts = sorted(Path(base["gt_dir"]).rglob("*.png"))
        return gts, sorted(Path(base["pred_dir"]).glob("*.png"))
    return sorted(Path(base["gt_folder"]).glob("*.png")), sorted(Path(base["pred_folder"]).glob("*.png"))


def subset(base: dict, n: int) -> dict:
    """The set restricted to its first ``n`` images (hard links, or JSON files listing them)."""
    if base["task"] == "panoptic":
        d = Path(base["gt_json"]).parent / f"subset_{n}"
        d.mkdir(exist_ok=True)
        out = dict(base)
        for side in ("gt", "pred"):
            src = Path(base[f"{side}_json"])
            dst = d / src.name
            if not dst.is_file():
                data = json.loads(src.read_bytes())
                keep = {im["id"] for im in data["images"][:n]}
                data["images"] = data["images"][:n]
                data["annotations"] = [a for a in data["annotations"] if a["image_id"] in keep]
                dst.write_text(json.dumps(data))
            out[f"{side}_json"] = str(dst)
        return out
    root = Path(base["pred_dir"]).parent
    d = root / f"subset_{n}"
    names = sorted(p.name for p in Path(base["pred_dir"]).glob("*.png"))[:n]
    out = dict(base)
    for key in ("pred_dir", "plain_gt_dir", "vernier_pred_dir"):
        if key in base and Path(base[key]).is_dir():
            src = Path(base[key])
            dst = d / src.relative_to(root)
            _link_all([(src / name, dst / name) for name in names])
            out[key] = str(dst)
    if base.get("preset"):  # label-id GT in city folders, paired by stem + suffix
        gt_root = Path(base["gt_dir"])
        stems = {name[:-4] for name in names}
        files = [p for p in gt_root.rglob("*.png") if p.name.replace(base["gt_suffix"], "")[:-4] in stems]
        dst_root = d / gt_root.relative_to(root)
        _link_all([(p, dst_root / p.relative_to(gt_root)) for p in files])
        out["gt_dir"] = str(dst_root)
    else:
        out["gt_dir"] = out["plain_gt_dir"]
    return out


def _link_all(pairs) -> None:
    for src, dst in pairs:
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                dst.write_bytes(src.read_bytes())


# ----------------------------------------------------------------------------------------------
# helpers used inside the tools
# ----------------------------------------------------------------------------------------------

def sha16(data: bytes) -> str:
    """A 64-bit fingerprint of ``data`` for comparing results (CRC-32 and Adler-32 of zlib: hashlib
    would load OpenSSL's libcrypto, about 3.5 MB, into every tool's measured process)."""
    import zlib

    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def cm_sha(cm) -> str:
    import numpy as np

    return sha16(np.ascontiguousarray(cm, dtype=np.int64).tobytes())


def semantic_headline(cm) -> dict:
    """mIoU / mAcc / aAcc / fwIoU of a confusion matrix (rows = GT), plain NumPy, mmseg rules.

    A class with an empty union is left out of mIoU, one without GT pixels out of
    mAcc; a class predicted but absent from the GT scores IoU 0 and counts.
    """
    import numpy as np

    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    gt = cm.sum(1)
    union = gt + cm.sum(0) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(gt > 0, tp / gt, np.nan)
    freq = gt / gt.sum()
    has_gt = gt > 0
    return {"mIoU": float(np.nanmean(iou)), "mAcc": float(np.nanmean(acc)),
            "aAcc": float(tp.sum() / gt.sum()), "fwIoU": float((freq[has_gt] * iou[has_gt]).sum())}


def gt_lut(spec):
    """uint8 table a hand-written loop applies to the GT it reads (``plain_gt_dir``): the ADE20K
    ``reduce_zero_label`` rule (0 -> 255, k -> k - 1) or the identity."""
    import numpy as np

    if spec["conv"] == "ade20k":
        lut = (np.arange(256, dtype=np.int16) - 1).astype(np.uint8)
        lut[0] = 255
    else:
        lut = np.arange(256, dtype=np.uint8)
    lut[255] = 255
    return lut


def plain_pairs(spec):
    """``(name, gt_path, pred_path)`` of the flat GT folder the peers read and the predictions."""
    gt_dir, pred_dir = Path(spec["plain_gt_dir"]), Path(spec["pred_dir"])
    return [(p.stem, p, pred_dir / p.name) for p in sorted(gt_dir.glob("*.png"))]


def pillow_read(path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


def pyspng_read(path):
    import pyspng

    with open(path, "rb") as f:
        return pyspng.load(f.read())


def thread_map(fn, items, jobs):
    if jobs == 1:
        return list(map(fn, items))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(fn, items))


def cache_for(spec, k):
    """Cache folder for run ``k`` of this process: the shared warm one, a fresh empty one
    (``fill<round><k>``: ``fill00`` is the one the warm rows read), or None."""
    mode = spec.get("cache", "none")
    if mode == "none":
        return None
    if mode == "warm":
        return spec["cache_dir"]
    return str(Path(spec["cache_dir"]) / f"fill{spec.get('round', 0)}{k}")


def seg_semantic_digest(res) -> dict:
    d = res.to_dict()
    return {"metrics": {k: res.metrics[k] for k in SEM_KEYS}, "cm": cm_sha(res.confusion),
            "digest": sha16(json.dumps(d, sort_keys=True, default=str).encode())}


def seg_panoptic_digest(res) -> dict:
    d = res.to_dict()
    return {"metrics": {k: res.metrics[k] for k in PAN_KEYS},
            "digest": sha16(json.dumps(d, sort_keys=True, default=str).encode())}


def panapi_metrics(r: dict) -> dict:
    out = {}
    for group, suffix in (("All", ""), ("Things", "_th"), ("Stuff", "_st")):
        for k in ("pq", "sq", "rq"):
            out[k.upper() + suffix] = float(r[group][k])
    return out


def vernier_panoptic_metrics(s) -> dict:
    out = {}
    for suffix, attr in (("", ""), ("_th", "_things"), ("_st", "_stuff")):
        for k in ("pq", "sq", "rq"):
            out[k.upper() + suffix] = float(getattr(s, k + attr))
    return out


def _vernier_categories(categories) -> bytes:
    # vernier's deserializer takes isthing as a JSON boolean
    return json.dumps([dict(c, isthing=bool(c.get("isthing"))) for c in categories]).encode()


def crowd_rule_reference(spec) -> dict:
    """segmetrics' headline numbers under vernier's crowd rule, or {} when the rule cannot matter.

    panopticapi (and hotcoco, and segmetrics) take the crowd region of a category
    in an image from the last crowd segment of that category listed in
    ``segments_info``; vernier 0.5 takes the one with the largest segment id,
    whatever the order.  The two differ only where an image has two or more crowd
    segments of one category.  Here the GT JSON is rewritten with the crowd
    segments sorted by id (largest last) and scored by segmetrics: equal numbers
    show that the crowd rule is the whole difference.
    """
    from collections import Counter

    gt = json.loads(Path(spec["gt_json"]).read_bytes())
    if not any(max(Counter(s["category_id"] for s in a["segments_info"] if s.get("iscrowd")).values(), default=0) > 1
               for a in gt["annotations"]):
        return {}
    for a in gt["annotations"]:
        segs = a["segments_info"]
        a["segments_info"] = [s for s in segs if not s.get("iscrowd")] + \
            sorted((s for s in segs if s.get("iscrowd")), key=lambda s: s["id"])
    with tempfile.TemporaryDirectory(prefix="segm_crowd_") as tmp:
        path = Path(tmp) / "gt_crowd_by_id.json"
        path.write_text(json.dumps(gt))
        res = segmetrics_panoptic(path, spec["pred_json"], spec["gt_folder"], spec["pred_folder"], jobs=1)
    return {"alt_metrics": {k: res.metrics[k] for k in PAN_KEYS}}


def _panoptic_sets(spec):
    """(categories bytes, [(image_id, gt annotation, pred annotation)]) from the two JSON files."""
    gt = json.loads(Path(spec["gt_json"]).read_bytes())
    pred = json.loads(Path(spec["pred_json"]).read_bytes())
    by_id = {a["image_id"]: a for a in pred["annotations"]}
    return _vernier_categories(gt["categories"]), [(a["image_id"], a, by_id[a["image_id"]])
                                                   for a in gt["annotations"]]


# ----------------------------------------------------------------------------------------------
# the tools: tool(spec) imports and prepares (timed as "setup") and returns run() (the timed
# region) or (run, check) where check() adds untimed verification data to the result
# ----------------------------------------------------------------------------------------------

def _load_segmetrics():
    """``import segmetrics`` with every public name resolved and the folder modules loaded.

    The package loads its modules on first use (PEP 562), so a bare import would
    leave numpy, the kernels and the readers to the first timed run; resolving the
    names here keeps those imports in "setup", as for the other tools.
    """
    import segmetrics
    import segmetrics.folders  # noqa: F401

    for name in segmetrics.__all__:
        getattr(segmetrics, name)
    return segmetrics


def tool_seg_semantic(spec):
    _load_segmetrics()  # imports belong to setup

    k = [0]

    def run():
        res = segmetrics_semantic(spec["gt_dir"], spec["pred_dir"], num_classes=spec["num_classes"],
                                  reduce_zero_label=spec["conv"] == "ade20k", preset=spec.get("preset"),
                                  jobs=spec["jobs"], cache_dir=cache_for(spec, k[0]))
        k[0] += 1
        return seg_semantic_digest(res)

    return run


def tool_seg_semantic_memory(spec):
    """The in-memory engine on Pillow-decoded arrays: the reference every folder row must equal."""
    segmetrics = _load_segmetrics()

    gt_map = None
    if spec.get("preset"):
        from segmetrics.labels import label_map_lut
        from segmetrics.presets import get_preset

        p = get_preset(spec["preset"])
        gt_map = label_map_lut(p.label_map, num_classes=spec["num_classes"], ignore_index=p.ignore_index)

    def run():
        ev = segmetrics.SemanticEvaluator(spec["num_classes"], reduce_zero_label=spec["conv"] == "ade20k",
                                          gt_map=gt_map)
        pairs = plain_pairs(spec)
        if spec.get("preset"):  # the label-id GT files beside the flat train-id copies
            gts = {p.name.replace(spec["gt_suffix"], ""): p for p in Path(spec["gt_dir"]).rglob("*.png")}
            pairs = [(n, gts[n + ".png"], p) for n, _, p in pairs]
        for image_id, g, p in pairs:
            ev.update(pillow_read(g), pillow_read(p), image_id=image_id)
        return seg_semantic_digest(ev.compute())

    return run


def tool_hotcoco_semantic(spec):
    from hotcoco.semantic import SemanticEval

    def run():
        ev = SemanticEval(spec["num_classes"], reduce_zero_label=spec["conv"] == "ade20k")
        ev.update_folders(spec["plain_gt_dir"], spec["pred_dir"])
        r = ev.results()
        return {"metrics": {k: float(r[k]) for k in SEM_KEYS}, "cm": cm_sha(ev.confusion())}

    return run


def tool_vernier_semantic(spec):
    """vernier's fused PNG path: one ``Evaluator.evaluate_from_pngs`` call over the whole set."""
    from vernier import semantic as vs

    ade = spec["conv"] == "ade20k"
    pred_dir = Path(spec["vernier_pred_dir"] if ade else spec["pred_dir"])
    k = spec["num_classes"] + int(ade)

    def run():
        pairs = plain_pairs(spec)
        gt = {i: str(g) for i, (_, g, _) in enumerate(pairs)}
        pred = {i: str(pred_dir / p.name) for i, (_, _, p) in enumerate(pairs)}
        s = vs.Evaluator(parity_mode="strict").evaluate_from_pngs(
            gt, pred, n_classes=k, ignore_label=0 if ade else 255, num_threads=spec["jobs"])
        cm = s.confusion_matrix.counts()
        if ade:  # class 0 is "other": never predicted, its GT ignored
            cm = cm[1:, 1:]
        m = {"mIoU": s.miou, "mAcc": s.mean_accuracy, "aAcc": s.pixel_accuracy, "fwIoU": s.fwiou}
        return {"metrics": {key: float(v) for key, v in m.items()}, "cm": cm_sha(cm)}

    return run


def tool_numpy_bincount(spec):
    import numpy as np

    lut = gt_lut(spec)
    k = spec["num_classes"]

    def run():
        hist = np.zeros(k * k, np.int64)
        for _, g, p in plain_pairs(spec):
            gt = lut[pillow_read(g)]
            pred = pillow_read(p)
            keep = gt != 255
            hist += np.bincount(k * gt[keep].astype(np.int64) + pred[keep], minlength=k * k)
        cm = hist.reshape(k, k)
        return {"metrics": semantic_headline(cm), "cm": cm_sha(cm)}

    return run


def tool_torchmetrics(spec):
    import torch
    from torchmetrics.classification import MulticlassConfusionMatrix

    lut = gt_lut(spec)

    def run():
        metric = MulticlassConfusionMatrix(spec["num_classes"], ignore_index=255, validate_args=False)
        for _, g, p in plain_pairs(spec):
            gt = torch.from_numpy(lut[pillow_read(g)]).long()
            pred = torch.from_numpy(pillow_read(p).copy()).long()
            metric.update(pred, gt)
        cm = metric.compute().numpy()
        return {"metrics": semantic_headline(cm), "cm": cm_sha(cm)}

    return run


def tool_decode(spec):
    """Decode-only floor: every GT and prediction PNG to an array, nothing else."""
    decoder = spec["decoder"]
    if decoder == "segmetrics":
        from segmetrics.io.png import read_png as read
    elif decoder == "pyspng":
        import pyspng  # noqa: F401

        read = pyspng_read
    else:
        import numpy  # noqa: F401
        import PIL.Image  # noqa: F401

        read = pillow_read
    jobs = spec["jobs"]

    def files():
        if spec["task"] == "semantic":
            return [f for _, g, p in plain_pairs(spec) for f in (g, p)]
        return sorted(Path(spec["gt_folder"]).glob("*.png")) + sorted(Path(spec["pred_folder"]).glob("*.png"))

    def run():
        thread_map(lambda f: read(f).shape, files(), jobs)
        return {}

    def check():  # untimed: the pixels' checksum, compared across decoders
        return {"checksum": sum(int(read(f).sum(dtype="uint64")) for f in files())}

    return run, check


def tool_seg_panoptic(spec):
    _load_segmetrics()

    k = [0]

    def run():
        res = segmetrics_panoptic(spec["gt_json"], spec["pred_json"], spec["gt_folder"], spec["pred_folder"],
                                  jobs=spec["jobs"], cache_dir=cache_for(spec, k[0]),
                                  with_semantic=spec.get("with_semantic", True))
        k[0] += 1
        return seg_panoptic_digest(res)

    return run


def tool_seg_panoptic_memory(spec):
    import warnings

    segmetrics = _load_segmetrics()
    from segmetrics.io.coco_panoptic import load_panoptic_json

    def run():
        gt = load_panoptic_json(spec["gt_json"], spec["gt_folder"], require_categories=True)
        pred = load_panoptic_json(spec["pred_json"], spec["pred_folder"])
        ev = segmetrics.PanopticEvaluator(gt.categories)
        for image_id, g_ann in gt.annotations.items():
            p_ann = pred.annotations[image_id]
            ev.update(pillow_read(gt.png_path(image_id)), g_ann["segments_info"],
                      pillow_read(pred.png_path(image_id)), p_ann["segments_info"], image_id=image_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return seg_panoptic_digest(ev.compute())

    return run


def tool_hotcoco_panoptic(spec):
    from hotcoco.panoptic import pq_compute

    def run():
        r = pq_compute(spec["gt_json"], spec["pred_json"], spec["gt_folder"], spec["pred_folder"])
        return {"metrics": panapi_metrics(r)}

    return run


def tool_panopticapi(spec):
    from panopticapi.evaluation import pq_compute

    def run():
        r = pq_compute(spec["gt_json"], spec["pred_json"], spec["gt_folder"], spec["pred_folder"])
        return {"metrics": panapi_metrics(r)}

    return run


def tool_vernier_panoptic(spec):
    """vernier's one-call API: every label map decoded (its ``decode_label_map_png``), then one
    ``Evaluator.evaluate`` over the whole set.  It holds all decoded maps (uint32) at once, so
    the child refuses to start when they would take more than half the available memory."""
    from vernier import panoptic as vp

    from machine_info import mem_available_bytes

    images = json.loads(Path(spec["gt_json"]).read_bytes())["images"]
    need = 2 * 4 * sum(int(im["height"]) * int(im["width"]) for im in images)
    avail = mem_available_bytes()
    if avail is not None and need > avail // 2:
        raise MemoryError(f"needs about {need / 2**30:.1f} GiB for the decoded label maps "
                          f"(more than half of the {avail / 2**30:.1f} GiB available)")

    def run():
        cats, items = _panoptic_sets(spec)
        gf, pf = Path(spec["gt_folder"]), Path(spec["pred_folder"])
        gmaps = {i: vp.decode_label_map_png(gf / g["file_name"]) for i, g, _ in items}
        pmaps = {i: vp.decode_label_map_png(pf / p["file_name"]) for i, _, p in items}
        gsegs = json.dumps({str(i): g["segments_info"] for i, g, _ in items}).encode()
        psegs = json.dumps({str(i): p["segments_info"] for i, _, p in items}).encode()
        s = vp.Evaluator(parity_mode="strict").evaluate(
            vp.Dataset.from_arrays(gmaps, gsegs, cats), vp.Predictions.from_arrays(pmaps, psegs),
            num_threads=spec["jobs"])
        return {"metrics": vernier_panoptic_metrics(s)}

    return run, lambda: crowd_rule_reference(spec)


def tool_vernier_panoptic_stream(spec):
    """vernier's streaming path: one background evaluator fed the PNG bytes of every image
    (``submit_png``, decoded in Rust on its worker), ``finalize()`` at the end."""
    from vernier import panoptic as vp

    def run():
        cats, items = _panoptic_sets(spec)
        gf, pf = Path(spec["gt_folder"]), Path(spec["pred_folder"])
        with vp.Evaluator(parity_mode="strict").background(cats, num_threads=spec["jobs"], worker_nice=0) as ev:
            for i, g, p in items:
                ev.submit_png(i, (gf / g["file_name"]).read_bytes(), json.dumps(g["segments_info"]).encode(),
                              (pf / p["file_name"]).read_bytes(), json.dumps(p["segments_info"]).encode())
            s = ev.finalize()
        return {"metrics": vernier_panoptic_metrics(s)}

    return run, lambda: crowd_rule_reference(spec)


TOOLS = {name[len("tool_"):]: fn for name, fn in globals().items() if name.startswith("tool_")}


# ----------------------------------------------------------------------------------------------
# the child process
# ----------------------------------------------------------------------------------------------

def peak_rss_kb() -> int:
    """Peak resident set size of this process in kB.

    ``VmHWM`` of ``/proc/self/status`` where there is one: ``ru_maxrss`` of a
    child started by ``subprocess`` (vfork + exec on Linux) starts at the
    parent's peak, so it would hide anything smaller than the parent.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _other_threads_ticks() -> int | None:
    """CPU clock ticks used so far by this process's threads other than the calling one
    (Linux' ``/proc/self/task``), or None where that cannot be read."""
    me = str(threading.get_native_id())
    total = 0
    try:
        for task in os.listdir("/proc/self/task"):
            if task == me:
                continue
            try:
                with open(f"/proc/self/task/{task}/stat") as f:
                    fields = f.read().rpartition(")")[2].split()
            except FileNotFoundError:  # the thread ended
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, ValueError, IndexError):
        return None
    return total


def settle(quiet_s: float = 0.05, max_s: float = 1.0) -> float:
    """Wait until this process's other threads have used no CPU for ``quiet_s`` (at most
    ``max_s``); returns the seconds waited.

    ``import numpy`` starts OpenBLAS's worker threads, which spin (``sched_yield``) for
    about 0.1 s before they sleep; a run timed right after a tool's setup would share the
    cores with them.  On 2 cores that costs a 0.2 s run on two threads 10-20 ms and a run
    on one thread nothing, so it would show as poorer scaling of the fastest tool.  The
    whole-process rows keep that cost: they time the process from its start.
    """
    t0 = time.perf_counter()
    last, quiet_since = _other_threads_ticks(), t0
    if last is None:
        return 0.0
    while True:
        time.sleep(0.01)
        now = time.perf_counter()
        ticks = _other_threads_ticks()
        if ticks is None:
            break
        if ticks != last:
            last, quiet_since = ticks, now
        elif now - quiet_since >= quiet_s:
            break
        if now - t0 >= max_s:
            break
    return time.perf_counter() - t0


def rusage_cpu(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _is_ours(spec) -> bool:
    return spec["tool"].startswith("seg_") or spec.get("decoder") == "segmetrics"


def child_main(spec_json: str) -> int:
    """Child process: set up one tool, time up to ``repeat`` runs (within ``budget`` s), write JSON."""
    spec = json.loads(spec_json)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    out_path = spec["result"]
    record = {"times": [], "cpu": []}
    # the tools' own printing (panopticapi, hotcoco) goes to /dev/null, worker processes included
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        t0 = time.perf_counter()
        try:
            run = TOOLS[spec["tool"]](spec)
            check = None
            if isinstance(run, tuple):
                run, check = run
        except ImportError as exc:
            if _is_ours(spec):
                raise
            record["skipped"] = f"not installed ({exc.name or exc})"
            Path(out_path).write_text(json.dumps(record))
            return 0
        except MemoryError as exc:
            record["skipped"] = str(exc)
            Path(out_path).write_text(json.dumps(record))
            return 0
        record["setup_s"] = time.perf_counter() - t0
        record["rss_setup_kb"] = peak_rss_kb()
        record["settle_s"] = settle()
        result = None
        budget = spec.get("budget") or float("inf")
        for _ in range(spec["repeat"]):
            c0 = rusage_cpu(resource.RUSAGE_SELF) + rusage_cpu(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            result = run()
            record["times"].append(time.perf_counter() - t0)
            gc.collect()  # reaps worker processes of a pool left open (panopticapi) so their CPU counts
            record["cpu"].append(rusage_cpu(resource.RUSAGE_SELF) + rusage_cpu(resource.RUSAGE_CHILDREN) - c0)
            if sum(record["times"]) >= budget:
                break
        record["rss_peak_kb"] = peak_rss_kb()  # before the untimed checks
        record["rss_children_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if check is not None:
            result = dict(result, **check())
        record["result"] = result
    except Exception as exc:  # reported as a failed row by the parent
        import traceback

        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    Path(out_path).write_text(json.dumps(record))
    return 0


# ----------------------------------------------------------------------------------------------
# the parent side
# ----------------------------------------------------------------------------------------------

ROW_META = ("env", "label", "group", "full_only", "best", "rec", "max_diff")


def run_child(spec: dict, env_extra: dict, timeout: float, script: Path | None = None) -> dict:
    """Run one tool in a fresh interpreter (``script --child SPEC``, default: this file);
    returns the child's record (or an ``error``)."""
    with tempfile.TemporaryDirectory(prefix="segm_bench_") as tmp:
        spec = dict(spec, result=str(Path(tmp) / "result.json"))
        prepare_bytecode()
        env = dict(CHILD_ENV, **env_extra)
        env.pop("PYTHONSTARTUP", None)
        try:
            proc = subprocess.run([sys.executable, str(script or Path(__file__).resolve()), "--child",
                                   json.dumps(spec)], env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:g} s (--timeout)"}
        try:
            return json.loads(Path(spec["result"]).read_text())
        except (OSError, ValueError):
            return {"error": f"child exited with status {proc.returncode}: {proc.stderr.strip()[-400:]}"}


def run_rows(rows: list[dict], *, repeat: int, budget: float | None, timeout: float,
             log_prefix: str = "") -> list[dict]:
    """Run every row ``repeat`` times, round-robin: round ``r`` runs each row once, in a fresh
    process.  A machine whose load changes during the run then weighs on every tool alike
    (best of the rounds kept); a row stops repeating once its runs took ``budget`` seconds.
    Sets ``row["rec"]`` (times, CPU, the least setup time, the largest peak RSS, each round's
    RSS growth over its own post-import peak in ``growths_kb``, the result of the last round)
    and ``row["best"]``."""
    for r in range(max(1, repeat)):
        for row in rows:
            rec = row.get("rec")
            if rec is not None and (rec.get("error") or rec.get("skipped") or
                                    (budget and sum(rec["times"]) >= budget)):
                continue
            spec = {k: v for k, v in row.items() if k not in ROW_META}
            spec.update(repeat=1, budget=None, round=r)
            if row.get("cache") == "fill":
                Path(row["cache_dir"]).mkdir(parents=True, exist_ok=True)
            new = run_child(spec, row.get("env", {}), timeout)
            if "rss_peak_kb" in new and "rss_setup_kb" in new:
                new["growths_kb"] = [new["rss_peak_kb"] - new["rss_setup_kb"]]
            if rec is None or new.get("error") or new.get("skipped"):
                row["rec"] = new
            else:
                rec["growths_kb"] = rec.get("growths_kb", []) + new.get("growths_kb", [])
                rec["times"] += new["times"]
                rec["cpu"] += new["cpu"]
                rec["setup_s"] = min(rec["setup_s"], new["setup_s"])
                for key in ("rss_peak_kb", "rss_children_kb"):
                    rec[key] = max(rec[key], new[key])
                if rec["rss_peak_kb"] == new["rss_peak_kb"]:
                    rec["rss_setup_kb"] = new["rss_setup_kb"]
                rec["result"] = new["result"]
    for row in rows:
        rec = row["rec"]
        row["best"] = min(rec["times"]) if rec.get("times") and "error" not in rec else None
        status = ("skipped: " + rec["skipped"]) if rec.get("skipped") else \
            ("ERROR: " + rec["error"]) if rec.get("error") else f"{row['best']:.3f} s ({len(rec['times'])} runs)"
        print(f"{log_prefix}{row['label']} jobs={row.get('jobs')} {cache_label(row)}: {status}", file=sys.stderr,
              flush=True)
        if rec.get("traceback"):
            print(rec["traceback"], file=sys.stderr)
    return rows


def time_process(cmd, *, env_extra=None, cwd=None, timeout: float = 600.0) -> dict:
    """Run ``cmd`` as a fresh process; its wall seconds, CPU seconds, peak RSS and output.

    Wall time is measured around the process, CPU time (user + system, the
    process and its children) from this process's ``RUSAGE_CHILDREN`` before and
    after (nothing else runs beside it).  Peak RSS comes from GNU
    ``/usr/bin/time`` when it exists: a process it forks starts with an empty
    high-water mark, whereas ``ru_maxrss`` of a child spawned from this (larger)
    process starts at this process's peak; without it, ``rss_exact`` is False and
    the figure is an upper bound.  Returns ``{"wall", "cpu", "rss_kb", "rss_exact",
    "rc", "stdout", "stderr"}``.
    """
    prepare_bytecode()
    env = dict(CHILD_ENV, **(env_extra or {}))
    env.pop("PYTHONSTARTUP", None)
    gnu_time = Path("/usr/bin/time")
    with tempfile.TemporaryDirectory(prefix="segm_time_") as tmp:
        out = Path(tmp) / "time.txt"
        full = [str(gnu_time), "-o", str(out), "-f", "%M"] + list(cmd) if gnu_time.is_file() else list(cmd)
        c0 = rusage_cpu(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return {"rc": None, "error": f"timed out after {timeout:g} s"}
        wall = time.perf_counter() - t0
        rec = {"wall": wall, "cpu": rusage_cpu(resource.RUSAGE_CHILDREN) - c0, "rc": proc.returncode,
               "stdout": stdout, "stderr": stderr}
        try:
            rec.update(rss_kb=int(out.read_text().split()[-1]), rss_exact=True)
        except (OSError, ValueError, IndexError):
            rec.update(rss_kb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rss_exact=False)
    return rec


def best_of(cmd, n: int, **kw) -> dict:
    """:func:`time_process` ``n`` times; the least wall and CPU, the largest peak RSS, the last output."""
    runs = [time_process(cmd, **kw) for _ in range(max(1, n))]
    bad = [r for r in runs if r.get("rc") != 0]
    if bad:
        r = bad[0]
        return {"error": r.get("error") or f"exit status {r['rc']}: {r['stderr'].strip()[-300:]}", "runs": len(runs)}
    return {"wall": min(r["wall"] for r in runs), "cpu": min(r["cpu"] for r in runs),
            "rss_kb": max(r["rss_kb"] for r in runs), "rss_exact": runs[0]["rss_exact"],
            "stdout": runs[-1]["stdout"], "runs": len(runs), "walls": [r["wall"] for r in runs]}


def segmetrics_rows(base: dict, cache_dir: str) -> list[dict]:
    """segmetrics' folder rows of a set: cold with 1 and 2 threads, filling an empty GT cache
    (its first repeat is the one-off cost), warm with 1 (``full_only``) and 2 threads."""
    tool = f"seg_{base['task']}"
    label = "segmetrics folder evaluation"
    rows = [dict(base, tool=tool, label=label, jobs=j, cache="none", group="segmetrics") for j in (1, 2)]
    rows.append(dict(base, tool=tool, label=label, jobs=2, cache="fill", cache_dir=cache_dir, group="segmetrics"))
    rows += [dict(base, tool=tool, label=label, jobs=j, cache="warm", cache_dir=str(Path(cache_dir) / "fill00"),
                  group="segmetrics", full_only=j == 1) for j in (1, 2)]
    return rows


def finish(text: str, out_file: Path, bad: bool) -> int:
    """Write and print a section; the exit status (1 when a tool failed or the tools disagree)."""
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text)
    print(text)
    if bad:
        print("ERROR: a tool failed or the tools disagree (see Checks)", file=sys.stderr)
        return 1
    return 0


def cache_label(row) -> str:
    return {"none": "cold", "fill": "fill (empty cache)", "warm": "warm"}.get(row.get("cache"), "-")


def fmt_mb(kb) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f}"


def png_pixels(path: Path) -> int:
    with open(path, "rb") as f:
        head = f.read(24)
    w, h = struct.unpack(">II", head[16:24])
    return w * h


def warm_page_cache(files) -> int:
    return sum(len(Path(f).read_bytes()) for f in files)


def find(rows, tool, jobs=None, cache=None, group=None):
    """The first row of ``tool`` (with these jobs / cache / group) that has a time."""
    for r in rows:
        if r["tool"] == tool and (jobs is None or r.get("jobs") == jobs) and \
                (cache is None or r.get("cache") == cache) and (group is None or r["group"] == group) \
                and r.get("best") is not None:
            return r
    return None


def check_numbers(rows: list[dict], keys) -> list[str]:
    """Agreement of the headline numbers across tools and bit-identity of the segmetrics rows.

    Lines starting with ``DISAGREE`` mark a failure.
    """
    notes = []
    ok_rows = [r for r in rows if r.get("rec", {}).get("result", {}).get("metrics")]
    ref = next((r for r in ok_rows if r["group"] == "reference"), None) or (ok_rows[0] if ok_rows else None)
    if ref is None:
        return ["no tool produced numbers"]
    ref_m = ref["rec"]["result"]["metrics"]
    worst = 0.0
    explained = []
    for r in ok_rows:
        res = r["rec"]["result"]
        m = res["metrics"]
        diff = max(abs(m[k] - ref_m[k]) for k in keys)
        r["max_diff"] = diff
        if diff > TOL and "alt_metrics" in res:
            alt = max(abs(m[k] - res["alt_metrics"][k]) for k in keys)
            if alt <= TOL:
                explained.append(f"{r['label']} ({r.get('jobs')} threads) differs from `{ref['label']}` by "
                                 f"{diff:.2e}, and only through its crowd rule: it equals segmetrics scored with "
                                 f"each category's crowd region taken from its crowd segment with the largest id "
                                 f"(to {alt:.1e}), where panopticapi, hotcoco and segmetrics take the last one "
                                 "listed; the two rules differ only in images with two or more crowd segments of "
                                 "one category")
                continue
        worst = max(worst, diff)
        if diff > TOL:
            notes.append(f"DISAGREE: {r['label']} ({r.get('jobs')} threads) differs from {ref['label']} by {diff:.2e}")
    cm_rows = [r for r in ok_rows if "cm" in r["rec"]["result"]]
    cms = {r["rec"]["result"]["cm"] for r in cm_rows}
    seg = [r for r in ok_rows if "digest" in r["rec"]["result"] and r["group"] in ("segmetrics", "reference")]
    digests = {r["rec"]["result"]["digest"] for r in seg}
    against = f"the in-memory engine ({ref['label']})" if ref["group"] == "reference" else f"`{ref['label']}`"
    checks = [f"headline numbers ({', '.join(keys)}) of all {len(ok_rows) - len(explained)} evaluating rows "
              f"{'(but the explained ones below) ' if explained else ''}agree with {against} to {worst:.1e} "
              f"(tolerance {TOL:g})"]
    checks += [f"explained: {e}" for e in explained]
    if cms:
        checks.append(f"confusion matrices: {'all identical' if len(cms) == 1 else f'{len(cms)} DIFFERENT'} "
                      f"across the {len(cm_rows)} rows that expose one")
        if len(cms) != 1:
            notes.append("DISAGREE: confusion matrices differ")
    if seg:
        checks.append(f"segmetrics results (whole `to_dict()`, every float bit for bit): "
                      f"{'bit-identical' if len(digests) == 1 else 'NOT identical'} across the {len(seg)} "
                      f"segmetrics rows")
        if len(digests) != 1:
            notes.append("DISAGREE: segmetrics variants are not bit-identical")
    floors = {r["rec"]["result"]["checksum"] for r in rows
              if r["group"] == "floor" and "result" in r.get("rec", {})}
    if floors:
        checks.append(f"decode-only floors: {'same pixel checksum for every decoder' if len(floors) == 1 else 'DECODERS DIFFER'}")
        if len(floors) != 1:
            notes.append("DISAGREE: the decoders give different pixels")
    return checks + notes


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        raise SystemExit(child_main(sys.argv[2]))
    raise SystemExit("usage: harness.py --child SPEC_JSON (run by bench_folders.py / bench_scale.py)")
