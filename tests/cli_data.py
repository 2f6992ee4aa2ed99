"""Data generators and NumPy oracles shared by the CLI / folder / report tests."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def cli_run(*args):
    """``segmetrics ARGS`` through click's CliRunner (exceptions propagate)."""
    from click.testing import CliRunner

    from segmetrics.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def cli_ok(*args):
    """:func:`cli_run` that must exit 0."""
    r = cli_run(*args)
    assert r.exit_code == 0, r.output
    return r


def assert_user_error(result, *fragments, code=2) -> str:
    """A CLI result that exits ``code`` with exactly one line on stderr holding every fragment,
    and no traceback; returns that line."""
    assert result.exit_code == code, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in err, err
    return err


def write_png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(arr)
    if arr.ndim == 3:
        Image.fromarray(arr.astype(np.uint8), "RGB").save(path)
    elif arr.dtype == np.uint16:
        Image.fromarray(arr).save(path)
    else:
        Image.fromarray(arr.astype(np.uint8), "L").save(path)
    return path


def read_png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def oracle_confusion(pairs, k, ignore=255, gt_lut=None, pred_lut=None) -> np.ndarray:
    """Plain NumPy confusion matrix (rows = GT) over (gt, pred) array pairs."""
    cm = np.zeros((k, k), dtype=np.int64)
    for g, p in pairs:
        g = np.asarray(g, dtype=np.int64)
        p = np.asarray(p, dtype=np.int64)
        if gt_lut is not None:
            g = np.asarray(gt_lut)[g]
        if pred_lut is not None:
            p = np.asarray(pred_lut)[p]
        keep = g != ignore
        np.add.at(cm, (g[keep], p[keep]), 1)
    return cm


def oracle_miou(cm: np.ndarray) -> float:
    tp = np.diag(cm).astype(float)
    den = cm.sum(0) + cm.sum(1) - tp
    valid = den > 0
    return float(np.mean(tp[valid] / den[valid]))


def random_labels(rng, shape, k, ignore=None, p_ignore=0.05):
    lab = rng.integers(0, k, size=shape).astype(np.uint8)
    # blocky structure so that predictions are partly right
    lab = np.kron(lab[: shape[0] // 4, : shape[1] // 4], np.ones((4, 4), np.uint8))
    lab = np.pad(lab, ((0, shape[0] - lab.shape[0]), (0, shape[1] - lab.shape[1])), mode="edge")
    if ignore is not None:
        lab[rng.random(shape) < p_ignore] = ignore
    return lab


def perturb(rng, lab, k, ignore=None):
    pred = np.roll(lab, 2, axis=1).copy()
    noise = rng.random(lab.shape) < 0.1
    pred[noise] = rng.integers(0, k, size=int(noise.sum()))
    if ignore is not None:
        pred[pred == ignore] = 0
    return pred


def make_flat_set(root: Path, n=6, k=4, shape=(24, 32), seed=0, ignore=255, gt_values=None):
    """GT and prediction folders with the same file names; returns (gt_dir, pred_dir, [(gt, pred)])."""
    rng = np.random.default_rng(seed)
    arrays = []
    for i in range(n):
        g = random_labels(rng, shape, k, ignore)
        p = perturb(rng, g, k, ignore)
        if gt_values is not None:
            g = gt_values(g)
        write_png(root / "gt" / f"img_{i:03d}.png", g)
        write_png(root / "pred" / f"img_{i:03d}.png", p)
        arrays.append((g, p))
    return root / "gt", root / "pred", arrays


def id2rgb(ids):
    ids = np.asarray(ids, dtype=np.uint32)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)


def make_panoptic_json(root: Path, name: str, images, anns, categories):
    (root / name).mkdir(parents=True, exist_ok=True)
    data = {"images": images, "annotations": anns, "categories": categories}
    (root / f"{name}.json").write_text(json.dumps(data))
    return root / f"{name}.json"


def perturb_panoptic(gt_json: Path, gt_folder: Path, out: Path, name: str = "pred", seed: int = 0) -> Path:
    """Write a prediction set derived from a COCO-panoptic GT: per image one segment is
    dropped (set to void) and one relabelled to another category of the same kind;
    returns the prediction JSON (its PNG folder is ``out/name``)."""
    rng = np.random.default_rng(seed)
    data = json.loads(Path(gt_json).read_text())
    cats = data["categories"]
    anns = []
    for ann in data["annotations"]:
        rgb = read_png(Path(gt_folder) / ann["file_name"]).astype(np.int64)
        ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
        segs = [dict(s) for s in ann["segments_info"]]
        if len(segs) >= 3:
            drop = segs.pop(int(rng.integers(len(segs))))
            ids[ids == drop["id"]] = 0
            s = segs[int(rng.integers(len(segs)))]
            kind = next(c["isthing"] for c in cats if c["id"] == s["category_id"])
            others = [c["id"] for c in cats if c["isthing"] == kind and c["id"] != s["category_id"]]
            if others:
                s["category_id"] = int(rng.choice(others))
        for s in segs:
            s.pop("iscrowd", None)
            s["area"] = int((ids == s["id"]).sum())
        write_png(out / name / ann["file_name"], id2rgb(ids))
        anns.append({"image_id": ann["image_id"], "file_name": ann["file_name"], "segments_info": segs})
    path = out / f"{name}.json"
    path.write_text(json.dumps({"images": data.get("images", []), "annotations": anns, "categories": cats}))
    return path


def panopticapi_pq(gt_json, pred_json, gt_folder, pred_folder) -> dict:
    """The peer's numbers (panopticapi), its prints swallowed."""
    import contextlib
    import io as _io

    from panopticapi.evaluation import pq_compute

    with contextlib.redirect_stdout(_io.StringIO()):
        return pq_compute(str(gt_json), str(pred_json), str(gt_folder), str(pred_folder))
