"""Label-PNG decode throughput: segmetrics vs Pillow, pyspng and OpenCV, plus inflate floors.

Generates ADE20K-like (512x512 8-bit gray, blob-shaped classes) and COCO-panoptic-like
(640x480 RGB id maps) label maps, saves them with Pillow into a temporary folder and
decodes each set from the files, best of ``--repeat`` passes, with 1 thread and with a
2-thread ``ThreadPoolExecutor`` (a decoder that holds the GIL does not scale).  The
inflate-only rows decompress the concatenated IDAT streams of the same files with each
zlib-compatible library, into a buffer of the known size.

Usage::

    python benchmarks/bench_png.py [--images 100] [--repeat 3] [--out benchmarks/results/png.md]
"""
from __future__ import annotations

import argparse
import datetime
import os
import struct
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from machine_info import cpu_model
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segmetrics.io.png import inflate_backend, read_png  # noqa: E402
from segmetrics._kernels import png as _png  # noqa: E402


def blob_labels(rng: np.random.Generator, h: int, w: int, k: int) -> np.ndarray:
    """Class index per pixel: argmax of k smooth random fields (blob-shaped regions)."""
    gh, gw = h // 16 + 2, w // 16 + 2
    coarse = rng.standard_normal((k, gh, gw)).astype(np.float32)
    # bilinear upsampling by 16 in NumPy
    ys = np.linspace(0, gh - 1.001, h)
    xs = np.linspace(0, gw - 1.001, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = coarse[:, y0][:, :, x0] * (1 - fx) + coarse[:, y0][:, :, x0 + 1] * fx
    bot = coarse[:, y0 + 1][:, :, x0] * (1 - fx) + coarse[:, y0 + 1][:, :, x0 + 1] * fx
    return (top * (1 - fy) + bot * fy).argmax(0)


def ade_like(rng: np.random.Generator) -> np.ndarray:
    lab = blob_labels(rng, 512, 512, int(rng.integers(6, 20)))
    values = rng.choice(151, size=lab.max() + 1, replace=False).astype(np.uint8)
    return values[lab]


def coco_like(rng: np.random.Generator) -> np.ndarray:
    lab = blob_labels(rng, 480, 640, int(rng.integers(10, 35)))
    colours = rng.integers(0, 256, size=(lab.max() + 1, 3), dtype=np.uint8)
    colours[0] = 0  # void
    return colours[lab]


def idat_stream(data: bytes) -> bytes:
    pos, parts = 8, []
    while pos + 12 <= len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        if data[pos + 4:pos + 8] == b"IDAT":
            parts.append(data[pos + 8:pos + 8 + n])
        pos += 12 + n
    return b"".join(parts)


def best_time(fn, items, threads: int, repeat: int, cpu: list | None = None) -> float:
    """Best wall time of `repeat` passes; appends process CPU seconds / wall of that pass."""
    best, best_cpu = float("inf"), 0.0
    for _ in range(repeat):
        if threads == 1:
            c0, t0 = time.process_time(), time.perf_counter()
            for item in items:
                fn(item)
        else:
            with ThreadPoolExecutor(threads) as pool:
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in pool.map(fn, items):
                    pass
        wall = time.perf_counter() - t0
        if wall < best:
            best, best_cpu = wall, (time.process_time() - c0) / wall
    if cpu is not None:
        cpu.append(best_cpu)
    return best


def gil_stall(fn, arg, repeat: int = 3) -> tuple[float, float]:
    """(call duration, longest stall of a concurrent pure-Python thread), best of `repeat`.

    A call that holds the GIL stops the other thread for about its whole duration; one
    that releases it leaves only scheduler-sized gaps (the machine being busy included).
    """
    import threading

    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        stop = threading.Event()
        stamps: list[float] = []

        def ticker():
            while not stop.is_set():
                stamps.append(time.perf_counter())

        th = threading.Thread(target=ticker)
        th.start()
        time.sleep(0.02)
        t0 = time.perf_counter()
        fn(arg)
        t1 = time.perf_counter()
        time.sleep(0.02)
        stop.set()
        th.join()
        inside = [t for t in stamps if t0 <= t <= t1]
        edges = [t0, *inside, t1]
        stall = max(b - a for a, b in zip(edges, edges[1:]))
        if t1 - t0 < best[0]:
            best = (t1 - t0, stall)
    return best


def decoders() -> dict:
    out = {"segmetrics (libdeflate)" if inflate_backend() == "libdeflate" else "segmetrics (zlib)":
           read_png}
    out["Pillow"] = lambda p: np.asarray(Image.open(p))
    try:
        import pyspng

        def spng(p):
            with open(p, "rb") as fh:
                return pyspng.load(fh.read())
        out["pyspng"] = spng
    except ImportError:
        pass
    try:
        import cv2
        out["OpenCV"] = lambda p: cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    except ImportError:
        pass
    return out


def inflaters() -> dict:
    out = {"zlib (CPython)": lambda s, n: zlib.decompress(s, bufsize=n)}
    try:
        import deflate
        out["libdeflate (deflate)"] = lambda s, n: deflate.zlib_decompress(s, n)
    except ImportError:
        pass
    try:
        from isal import isal_zlib
        out["ISA-L (isal)"] = lambda s, n: isal_zlib.decompress(s, bufsize=n)
    except ImportError:
        pass
    try:
        from zlib_ng import zlib_ng
        out["zlib-ng (zlib-ng)"] = lambda s, n: zlib_ng.decompress(s, bufsize=n)
    except ImportError:
        pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "png.md"))
    args = ap.parse_args()
    rng = np.random.default_rng(2026)
    lines = []
    cpu = cpu_model()
    lines += ["## PNG decoding (`benchmarks/bench_png.py`)", "",
              f"Command: `python benchmarks/bench_png.py --images {args.images} "
              f"--repeat {args.repeat}`  ",
              f"Machine: {os.cpu_count()} CPUs (`nproc`), {cpu}; shared with other jobs "
              f"while measuring. Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.  ",
              f"Best of {args.repeat} passes over {args.images} Pillow-written files per set; "
              "MB/s counts decoded (raw pixel) bytes. Load average at start: "
              f"{os.getloadavg()[0]:.1f}.", ""]
    fastest_inflate, most_cpu = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for set_name, make in [("ADE20K-like 512x512 gray", ade_like),
                               ("COCO-like 640x480 RGB", coco_like)]:
            paths, arrays = [], []
            for i in range(args.images):
                arr = make(rng)
                path = Path(tmp) / f"{make.__name__}_{i:04d}.png"
                Image.fromarray(arr).save(path)
                paths.append(path)
                arrays.append(arr)
            raw_mb = sum(a.nbytes for a in arrays) / 1e6
            png_kb = np.mean([p.stat().st_size for p in paths]) / 1e3
            for p, a in zip(paths[:5], arrays):  # sanity: every decoder agrees
                assert np.array_equal(read_png(p), a)
            lines += [f"### {set_name} (mean file {png_kb:.0f} kB, {raw_mb / args.images:.2f} MB decoded)",
                      "", "| decoder | threads | ms/image | images/s | MB/s | vs pyspng 1 thread "
                      "| 2-thread speed-up | process CPU s / wall s |",
                      "|---|---|---|---|---|---|---|---|"]
            results, cpu = {}, {}
            for name, fn in decoders().items():
                for threads in (1, 2):
                    used: list = []
                    results[name, threads] = best_time(fn, paths, threads, args.repeat, used)
                    cpu[name, threads] = used[0]
            ref = results.get(("pyspng", 1))
            for (name, threads), t in results.items():
                vs = f"{ref / t:.2f}x" if ref else "n/a"
                sp = f"{results[name, 1] / t:.2f}x" if threads == 2 else ""
                lines.append(f"| {name} | {threads} | {t / args.images * 1e3:.3f} | "
                             f"{args.images / t:.0f} | {raw_mb / t:.0f} | {vs} | {sp} | "
                             f"{cpu[name, threads]:.2f} |")
            # inflate-only floors
            streams = [idat_stream(p.read_bytes()) for p in paths]
            sizes = [len(zlib.decompress(s)) for s in streams]
            items = list(zip(streams, sizes))
            lines += ["", "Inflate only (IDAT streams, one-shot into the known size):", "",
                      "| library | threads | ms/image | MB/s | vs zlib | 2-thread speed-up |",
                      "|---|---|---|---|---|---|"]
            inf = {}
            for name, fn in inflaters().items():
                for threads in (1, 2):
                    inf[name, threads] = best_time(lambda it, fn=fn: fn(*it), items, threads,
                                                   args.repeat)
            fastest_inflate.append(min((t, k) for (k, th), t in inf.items() if th == 1)[1])
            most_cpu = max([most_cpu, *cpu.values()])
            for (name, threads), t in inf.items():
                sp = f"{inf[name, 1] / t:.2f}x" if threads == 2 else ""
                lines.append(f"| {name} | {threads} | {t / args.images * 1e3:.3f} | "
                             f"{sum(sizes) / t / 1e6:.0f} | "
                             f"{inf['zlib (CPython)', threads] / t:.2f}x | {sp} |")
            # our decoder with each backend, 1 thread, to split inflate from unfiltering
            lines += ["", "segmetrics decoder by inflate backend (1 thread):", "",
                      "| backend | ms/image |", "|---|---|"]
            before = inflate_backend()
            for backend in ("zlib", "libdeflate"):
                try:
                    _png.set_inflate_backend(backend)
                except ImportError:
                    continue
                t = best_time(read_png, paths, 1, args.repeat)
                lines.append(f"| {backend} | {t / args.images * 1e3:.3f} |")
            _png.set_inflate_backend(before)
            lines.append("")
        # GIL check on one large label map (about 36 MP)
        big = Path(tmp) / "big.png"
        Image.fromarray(np.tile(ade_like(rng), (12, 12))).save(big)
        stream = idat_stream(big.read_bytes())
        size = len(zlib.decompress(stream))
        lines += ["### Does the call release the GIL? (one 6144x6144 gray label map)", "",
                  "A second Python thread appends timestamps in a loop during the call; "
                  "its longest stall close to the call's duration means the GIL was held.", "",
                  "| call | duration ms | longest stall of the other thread ms | stall / duration |",
                  "|---|---|---|---|"]
        calls = dict(decoders())
        calls.update({f"inflate only: {k}": (lambda p, f=f: f(stream, size))
                      for k, f in inflaters().items()})
        for name, fn in calls.items():
            dur, stall = gil_stall(fn, big)
            lines.append(f"| {name} | {dur * 1e3:.1f} | {stall * 1e3:.1f} | {stall / dur:.2f} |")
        lines.append("")
    lines.append(f"Fastest inflate on one thread, per set: {', '.join(fastest_inflate)}. "
                 f"Load average at the end: {os.getloadavg()[0]:.1f}.")
    if most_cpu < 1.2:
        lines.append(f"Every pass got at most {most_cpu:.2f} CPU-seconds per second: the "
                     "process never had two free cores, so the 2-thread columns measure "
                     "contention, not scaling; the GIL table is the evidence of GIL release.")
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
