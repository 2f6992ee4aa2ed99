"""Measure training-step time of DeepLabV3 configurations on this machine (the speed table of docs/model.md).

One step = draw a batch from decoded images, crop it on the device, forward,
loss, backward and SGD (``Trainer.train_step``).  Images are generated shapes of
CamVid's size (360 x 480) held in memory, so no file is read.  Prints one
Markdown row per configuration: wall and CPU seconds per step (median of
``--steps`` after ``--warmup`` steps) and crops per second, plus the load average
before and after (a busy machine shows in both).

Usage::

    python -m reference_models.recipes.speed                   # the table's rows
    python -m reference_models.recipes.speed --steps 10 --threads 2 --rows w32,w64
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROWS = {
    "w64": dict(width=64, aspp_channels=256, batch_size=8, crop_size=(256, 256), output_stride=16),
    "w64-nchw": dict(width=64, aspp_channels=256, batch_size=8, crop_size=(256, 256), output_stride=16,
                     channels_last=False),
    "w48": dict(width=48, aspp_channels=192, batch_size=8, crop_size=(256, 256), output_stride=16),
    "w32": dict(width=32, aspp_channels=128, batch_size=8, crop_size=(256, 256), output_stride=16),
    "w32-nchw": dict(width=32, aspp_channels=128, batch_size=8, crop_size=(256, 256), output_stride=16,
                     channels_last=False),
    "w32-os8": dict(width=32, aspp_channels=128, batch_size=8, crop_size=(256, 256), output_stride=8),
    "w32-full": dict(width=32, aspp_channels=128, batch_size=4, crop_size=(360, 480), output_stride=16),
    "r50-full": dict(backbone="resnet50", width=64, aspp_channels=256, batch_size=4, crop_size=(360, 480),
                     output_stride=16),
}


def measure(name: str, steps: int, warmup: int, threads: int) -> dict:
    import torch

    from reference_models.datasets import ShapesDataset
    from reference_models.trainer import TrainConfig, Trainer

    cfg = dict(ROWS[name])
    cfg.setdefault("backbone", "resnet18")
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(dataset="shapes", iterations=10_000, val_interval=0, checkpoint_interval=0, out_dir=tmp,
                             device="cpu", threads=threads, progress=False, class_weight="none", **cfg)
        trainer = Trainer(config, train_set=ShapesDataset(16, (360, 480), 4), val_set=None)
        for _ in range(warmup):
            trainer.train_step()
        wall, cpu = [], []
        for _ in range(steps):
            w0, c0 = time.perf_counter(), time.process_time()
            trainer.train_step()
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
    w, c = statistics.median(wall), statistics.median(cpu)
    return {"name": name, "config": cfg, "wall": w, "cpu": c, "crops": cfg["batch_size"] / w,
            "threads": torch.get_num_threads()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reference_models.recipes.speed", description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="w64,w64-nchw,w48,w32,w32-nchw,w32-os8,w32-full",
                    help=f"comma-separated rows of {', '.join(ROWS)}")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    names = [n for n in args.rows.split(",") if n]
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        sys.stderr.write(f"speed: error: unknown rows {unknown}; choose from {list(ROWS)}\n")
        return 2
    sys.stdout.write(f"load before: {os.getloadavg()}\n")
    sys.stdout.write("| row | backbone, width, ASPP, OS | batch x crop | layout | s/step | CPU s/step | crops/s |\n"
                     "|---|---|---|---|---:|---:|---:|\n")
    for name in names:
        r = measure(name, args.steps, args.warmup, args.threads)
        c = r["config"]
        layout = "channels_last" if c.get("channels_last", True) else "NCHW"
        sys.stdout.write(f"| {name} | {c['backbone']} w{c['width']} a{c['aspp_channels']} OS{c['output_stride']} | "
                         f"{c['batch_size']} x {c['crop_size'][0]}x{c['crop_size'][1]} | {layout} | {r['wall']:.2f} | "
                         f"{r['cpu']:.2f} | {r['crops']:.1f} |\n")
        sys.stdout.flush()
    sys.stdout.write(f"load after: {os.getloadavg()} (torch threads {args.threads})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
