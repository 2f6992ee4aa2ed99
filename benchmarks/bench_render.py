"""HTML report rendering: time and file size for 150 classes / 133 categories and 24 worst images.

Goal (issue 15): a report of 150 classes with the 24 worst images renders in under 3 s and the
file stays under about 10 MB.  Two real reports are rendered from the benchmark sets of
``datasets.py``, each written by ``segmetrics eval --json --per-image`` (not timed):

* semantic: ADE20K-like, 150 classes (``--preset ade20k``), 512 x 512-683 label maps, with the
  confusion matrix, synthetic 95 % intervals on every headline and per-class value (so the
  whiskers are drawn), and a synthetic input photo (JPEG) per image, so the gallery shows
  photo, GT, prediction and error map;
* panoptic: COCO-like, 133 categories, 640 x 360-480 id maps, ~20 segments per image, with
  the (K+1) x (K+1) category-map matrix; the gallery scores every segment (matched / FP / FN).

Each render (``render_html`` to a file) is timed best of ``--repeat``, in this process after one
warm-up render; the row "no gallery" renders the same data with ``worst=0``.

Usage::

    python benchmarks/bench_render.py [--images 100] [--worst 24] [--repeat 3] [--out benchmarks/results/render.md]
                                      [--data-root DIR]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine_info import cpu_model
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import datasets  # noqa: E402

from segmetrics.render import GalleryImage, ReportData, render_html  # noqa: E402


def _eval(args: list[str], out: Path) -> tuple[Path, Path]:
    js, csv = out / "report.json", out / "per_image.csv"
    subprocess.run([sys.executable, "-m", "segmetrics", "eval", *args, "--json", str(js), "--per-image", str(csv),
                    "-q", "--no-cache"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return js, csv


def _photo(rng: np.random.Generator, h: int, w: int) -> Image.Image:
    """A smooth random colour image (compresses like a photo, not like noise)."""
    small = rng.integers(0, 256, size=(h // 32 + 2, w // 32 + 2, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.BICUBIC)


def semantic_data(n: int, tmp: Path, data_root=None) -> tuple[ReportData, Path]:
    from segmetrics.io.png import read_png
    from segmetrics.semantic import SemanticEvaluator

    root = datasets.ade20k_like_dir(n, root=data_root)
    js, csv = _eval(["--preset", "ade20k", "--no-pred-reduce-zero-label", "--gt", str(root / "gt"),
                     "--pred", str(root / "pred")], tmp)
    files = sorted((root / "gt").glob("*.png"))
    ev = SemanticEvaluator(150, reduce_zero_label=True)
    photos = tmp / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for f in files:
        g = read_png(f)
        ev.update(g, read_png(root / "pred" / f.name))
        _photo(rng, *g.shape).save(photos / f"{f.stem}.jpg", quality=90)
    report = json.loads(js.read_text())
    ivs = {k: {"low": max(0.0, v - 0.01), "high": min(1.0, v + 0.01), "level": 0.95, "method": "percentile",
               "resamples": 1000, "seed": 0} for k, v in report["metrics"].items()}
    ivs["per_class"] = {m: [None if r.get(m) is None else {"low": max(0.0, r[m] - 0.03), "high": min(1.0, r[m] + 0.03)}
                            for r in report["per_class"]] for m in ("IoU", "Acc", "Dice")}
    data = ReportData.from_files(js, per_image_csv=csv, confusion=ev.compute().confusion, intervals=ivs,
                                 images=[GalleryImage(f.stem, f, root / "pred" / f.name) for f in files])
    return data, photos


def panoptic_data(n: int, tmp: Path, data_root=None) -> ReportData:
    from segmetrics.io.coco_panoptic import load_panoptic_json, read_id_png
    from segmetrics.panoptic import PanopticEvaluator
    from segmetrics.render.gallery import panoptic_gallery_images

    root = datasets.coco_panoptic_dir(n, root=data_root)
    js, csv = _eval(["--gt", str(root / "gt.json"), "--pred", str(root / "pred.json")], tmp)
    gt, pred = load_panoptic_json(root / "gt.json", require_categories=True), load_panoptic_json(root / "pred.json")
    images = panoptic_gallery_images(gt, pred)
    ev = PanopticEvaluator(gt.categories)
    for g in images:
        ev.update(read_id_png(g.gt_path), g.gt_segments, read_id_png(g.pred_path), g.pred_segments)
    return ReportData.from_files(js, per_image_csv=csv, confusion=ev.state.confusion, images=images,
                                 categories=gt.categories)


def _time(fn, repeat: int) -> float:
    fn()  # warm-up: imports, first allocations
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--worst", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "render.md"))
    ap.add_argument("--data-root", default=None, help="where the generated sets are cached (default benchmarks/data)")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        (tmp / "s").mkdir()
        (tmp / "p").mkdir()
        sem, photos = semantic_data(args.images, tmp / "s", args.data_root)
        pan = panoptic_data(args.images, tmp / "p", args.data_root)
        cases = [
            ("semantic, ADE20K-like, 150 classes", sem, {"images_dir": photos}),
            ("panoptic, COCO-like, 133 categories", pan, {}),
        ]
        for name, data, kw in cases:
            out = tmp / "r.html"
            full = _time(lambda: render_html(data, out, worst=args.worst, **kw), args.repeat)
            size = out.stat().st_size
            bare = _time(lambda: render_html(data, out, worst=0, **kw), args.repeat)
            rows.append((name, len(data.per_image), full, size, bare, out.stat().st_size))
    load1 = os.getloadavg()
    import PIL

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## HTML report rendering (`benchmarks/bench_render.py`)",
        "",
        f"Command: `python benchmarks/bench_render.py --images {args.images} --worst {args.worst} "
        f"--repeat {args.repeat}`  ",
        f"Machine: {os.cpu_count()} CPUs (`os.cpu_count()`), {cpu_model()}; load average "
        f"{load0[0]:.2f} at start, {load1[0]:.2f} at end"
        + (" (shared with other jobs while measuring: the times are upper bounds)"
           if max(load0[0], load1[0]) > (os.cpu_count() or 1) else "") + f". Date: {date}.  ",
        f"numpy {np.__version__}, Pillow {PIL.__version__}. Best of {args.repeat} renders after a warm-up, "
        "one thread; the reports are `segmetrics eval --json --per-image` output of the `datasets.py` sets.",
        "",
        f"| report | images scored | render with {args.worst} worst images (s) | file (MB) | "
        "render without gallery (s) | file without gallery (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, n, full, size, bare, bsize in rows:
        lines.append(f"| {name} | {n} | {full:.3f} | {size / 1e6:.2f} | {bare:.3f} | {bsize / 1e6:.2f} |")
    lines += ["", f"Goal: under 3 s and about 10 MB with 150 classes and {args.worst} worst images "
              f"({'met' if all(r[2] < 3 and r[3] < 10e6 for r in rows) else 'NOT met'} in this run).", ""]
    text = "\n".join(lines)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
