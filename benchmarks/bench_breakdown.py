"""Where the time goes: inflate, unfilter, counting, Python, JSON, hashing (one thread).

Usage::

    python benchmarks/bench_breakdown.py [--panoptic 5000] [--semantic 2000] [--repeat 3]
                                         [--cg-images 100] [--no-callgrind] [--quick] [--out FILE]

On the COCO-val-scale sets of :mod:`bench_scale` (``datasets.py``: COCO-like
panoptic, ADE20K-like semantic), with one thread and the page cache warm:

1. **Floors and stages** (process CPU time, best of ``--repeat``): reading the
   files; libdeflate inflate of each file's IDAT stream alone (the ``deflate``
   package: zlib stream with its Adler-32 check, and the raw deflate stream
   without it): the physical limit of any PNG-based evaluation; segmetrics'
   decoder alone (parse, inflate, unfilter); the folder engine with the
   datasets already loaded; JSON loading / file pairing; the whole in-process
   run from paths.  Differences of these give unfilter, counting + matching +
   per-image Python, and the rest.
2. **Instruction profile** (valgrind's callgrind, when installed): the scoring
   call alone on the first ``--cg-images`` images (collection switched on only
   inside it: ``operator.call`` wraps the engine, and the panoptic worker
   thread's ``PanopticBatch.run``), instructions by category (inflate, Adler-32,
   unfilter, counting and matching, Python, libc, numpy, ...) and the top
   functions.  Instruction counts do not move with the machine's load.
3. **The CLI's other work** at this scale: JSON loading (orjson into dicts,
   ``json``, msgspec typed Structs, Structs to segment columns: a prototype of
   a columnar decode, here in the benchmark only, and segmetrics'
   ``load_panoptic_json``), the GT fingerprint (SHA-256 over the JSON and
   every GT PNG, as the CLI computes it) against hashing bytes already in
   memory, and the whole ``python -m segmetrics eval`` for scale.

Writes ``benchmarks/results/breakdown.md`` (``--quick``: ``benchmarks/_work/``).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import harness as H  # noqa: E402
from machine_info import header, load  # noqa: E402

if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


# ----------------------------------------------------------------------------------------------
# floors
# ----------------------------------------------------------------------------------------------

def idat_stream(data: bytes) -> tuple[bytes, int]:
    """(concatenated IDAT payload, inflated size) of a non-interlaced PNG."""
    pos, parts = 8, []
    w, h = struct.unpack(">II", data[16:24])
    depth, ctype = data[24], data[25]
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            parts.append(data[pos + 8:pos + 8 + n])
        elif kind == b"IEND":
            break
        pos += 12 + n
    row = (w * channels * depth + 7) // 8
    return b"".join(parts), h * (1 + row)


class Inflater:
    """libdeflate called directly (ctypes) into one reused output buffer: no allocation and no
    page faults in the timed loop, so the time is the inflate work alone.  Uses the library the
    ``deflate`` package ships (the one segmetrics' decoder finds)."""

    def __init__(self, max_out: int):
        import ctypes

        import deflate

        lib = ctypes.CDLL(deflate._deflate.__file__)
        lib.libdeflate_alloc_decompressor.restype = ctypes.c_void_p
        for name in ("libdeflate_zlib_decompress", "libdeflate_deflate_decompress"):
            fn = getattr(lib, name)
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.POINTER(ctypes.c_size_t)]
        self.lib, self.ct = lib, ctypes
        self.d = lib.libdeflate_alloc_decompressor()
        self.out = ctypes.create_string_buffer(max_out)
        self.got = ctypes.c_size_t()

    def run(self, streams, raw: bool = False) -> None:
        """Inflate every ``(stream, size)``: zlib streams, or with ``raw`` deflate data without the
        zlib header and Adler-32 trailer."""
        fn = self.lib.libdeflate_deflate_decompress if raw else self.lib.libdeflate_zlib_decompress
        d, out, ref = self.d, self.out, self.ct.byref(self.got)
        for s, n in streams:
            if fn(d, s, len(s), out, n, ref) != 0:
                raise RuntimeError("libdeflate could not inflate a stream")


def best_cpu(fn, repeat: int) -> float:
    """Least process CPU time (all threads) of ``fn()`` over ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def decoder(blobs):
    """segmetrics' decoder on bytes into reused arrays, one per image shape, allocated and touched
    before the timed loop (internal API: this adapter is its only caller here)."""
    import numpy as np
    from segmetrics._kernels.png import decode

    bufs = {}
    for data in blobs:
        status, arr, _, msg = decode(data)
        if status != 0:
            raise RuntimeError(msg)
        bufs.setdefault((arr.shape, arr.dtype.str), np.ones_like(arr))
    outs = []
    for data in blobs:
        w, h = struct.unpack(">II", data[16:24])
        outs.append(next(b for (shape, _), b in bufs.items() if shape[:2] == (h, w) and
                         len(shape) == (3 if data[25] in (2, 6) else 2)))

    def run():
        for data, out in zip(blobs, outs):
            if decode(data, out)[0] != 0:
                raise RuntimeError("decode failed")

    return run


def stages(task: str, base: dict, repeat: int) -> tuple[list[tuple[str, float]], dict]:
    """The timed stages of one set; returns ([(stage, seconds)], extra facts)."""
    gts, preds = H.set_files(base)
    if task == "semantic":
        preds = [Path(base["pred_dir"]) / p.name for p in gts]
    files = gts + preds
    blobs = [p.read_bytes() for p in files]
    streams = [idat_stream(b) for b in blobs]
    inflater = Inflater(max(n for _, n in streams))
    streams_raw = [(s[2:-4], n) for s, n in streams]
    decode = decoder(blobs)
    t = {}
    t["read"] = best_cpu(lambda: [p.read_bytes() for p in files], repeat)
    t["inflate"] = best_cpu(lambda: inflater.run(streams), repeat)
    t["inflate_raw"] = best_cpu(lambda: inflater.run(streams_raw, raw=True), repeat)
    t["decode"] = best_cpu(decode, repeat)
    if task == "panoptic":
        from segmetrics import PanopticEvaluator
        from segmetrics.folders import evaluate_panoptic_files
        from segmetrics.io.coco_panoptic import load_panoptic_json

        def load_both():
            return (load_panoptic_json(base["gt_json"], base["gt_folder"], require_categories=True),
                    load_panoptic_json(base["pred_json"], base["pred_folder"]))

        t["load"] = best_cpu(load_both, repeat)
        gt, pred = load_both()

        def engine():
            ev = PanopticEvaluator(gt.categories)
            evaluate_panoptic_files(gt, pred, ev, jobs=1)
            ev.compute()

        t["engine"] = best_cpu(engine, repeat)
        t["total"] = best_cpu(lambda: H.segmetrics_panoptic(base["gt_json"], base["pred_json"], base["gt_folder"],
                                                             base["pred_folder"], jobs=1), repeat)
    else:
        from segmetrics import SemanticEvaluator
        from segmetrics.folders import evaluate_semantic_files
        from segmetrics.io.folders import pair_label_files

        t["load"] = best_cpu(lambda: pair_label_files(base["gt_dir"], base["pred_dir"]), repeat)
        pairs = pair_label_files(base["gt_dir"], base["pred_dir"]).pairs

        def engine():
            ev = SemanticEvaluator(150, reduce_zero_label=True)
            evaluate_semantic_files(pairs, ev, jobs=1)
            ev.compute()

        t["engine"] = best_cpu(engine, repeat)
        t["total"] = best_cpu(lambda: H.segmetrics_semantic(base["gt_dir"], base["pred_dir"], num_classes=150,
                                                             reduce_zero_label=True, jobs=1), repeat)
    load_what = "JSON loading (`load_panoptic_json`, GT + prediction)" if task == "panoptic" else \
        "pairing the files (`pair_label_files`)"
    rows = [
        (load_what, t["load"]),
        ("reading the files (page cache)", t["read"]),
        ("inflate: libdeflate, zlib streams with Adler-32 (the floor)", t["inflate"]),
        ("unfilter, unpack, chunk parsing, CRC (decoder alone minus inflate)", t["decode"] - t["inflate"]),
        ("counting" + (" + matching" if task == "panoptic" else "") + " + per-image Python "
         "(engine minus decoder minus reading)", t["engine"] - t["decode"] - t["read"]),
        ("the rest (total minus engine minus loading)", t["total"] - t["engine"] - t["load"]),
        ("**total in process, 1 thread, from paths**", t["total"]),
    ]
    facts = {"t": t, "bytes": sum(len(b) for b in blobs), "raw": sum(n for _, n in streams), "files": len(files)}
    return rows, facts


# ----------------------------------------------------------------------------------------------
# callgrind
# ----------------------------------------------------------------------------------------------

CATEGORIES = [  # (category, test on "function [object]")
    ("inflate (libdeflate)", lambda f, o: "deflate" in o and "adler32" not in f and "crc32" not in f),
    ("Adler-32 check (libdeflate)", lambda f, o: "adler32" in f),
    ("CRC-32 (libdeflate / zlib)", lambda f, o: "crc32" in f),
    ("unfilter (segmetrics png kernel)", lambda f, o: "unfilter" in f),
    # the GT digests of the fingerprint, hashed in the batch runs (sm_sha256.h); valgrind's CPU may
    # lack the SHA extensions, so that the portable block function runs: read its count as an upper bound
    ("SHA-256 of the GT files (sm_sha256.h)", lambda f, o: "sha256" in f),
    ("counting + matching + row walking (segmetrics folder / panoptic kernels)",
     lambda f, o: "segmetrics" in o or "segmetrics" in f),
    ("Python interpreter", lambda f, o: "libpython" in o),
    ("orjson", lambda f, o: "orjson" in o),
    ("numpy", lambda f, o: "numpy" in o),
    ("libc memset / memcpy", lambda f, o: "libc" in o and ("memset" in f or "memmove" in f or "memcpy" in f)),
    ("libc other (read, malloc, locks)", lambda f, o: "libc" in o),
]
_LINE = re.compile(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*?)(?:\s+\[(.*)\])?\s*$")


def callgrind(task: str, base: dict, n: int, tmp: Path) -> tuple[list[str], dict] | None:
    """Instruction profile of the scoring call on the first ``n`` images; None without valgrind."""
    if not (shutil.which("valgrind") and shutil.which("callgrind_annotate")):
        return None
    small = H.subset(base, n)
    if task == "panoptic":
        call = (f"H.segmetrics_panoptic({small['gt_json']!r}, {small['pred_json']!r}, {small['gt_folder']!r}, "
                f"{small['pred_folder']!r}, jobs=1)")
    else:
        call = (f"H.segmetrics_semantic({small['gt_dir']!r}, {small['pred_dir']!r}, num_classes=150, "
                "reduce_zero_label=True, jobs=1)")
    code = ("import operator, sys\n"
            f"sys.path[:0] = [{str(HERE)!r}, {str(H.ROOT)!r}]\n"
            "import harness as H\n"
            # every module the call needs imported first (the folder API's panoptic half loads on
            # first use): the profile is the scoring call's, not its imports'
            "H._load_segmetrics()\nimport segmetrics.io.coco_panoptic, segmetrics.io.folders\n"
            f"operator.call(lambda: {call})\n")
    out = tmp / f"callgrind.{task}.out"
    # the engine scores on worker threads (even with jobs=1): collect the calling thread's
    # work (operator.call) and, on the workers, every compiled per-image / per-thread entry
    toggles = [f"--toggle-collect={pattern}" for pattern in (
        "_operator_call*", "*PanopticBatch_*run", "*SemanticBatch_*run", "*semantic_pair*", "*semantic_cached*",
        "*panoptic_pair*", "*panoptic_cached*", "*score_pair*", "*score_cached*")]
    proc = subprocess.run(["valgrind", "--tool=callgrind", *toggles, f"--callgrind-out-file={out}",
                           sys.executable, "-c", code], capture_output=True, text=True, cwd=H.ROOT)
    if proc.returncode != 0 or not out.is_file():
        return [f"callgrind failed: {proc.stderr.strip()[-300:]}"], {}
    ann = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", str(out)], capture_output=True,
                         text=True).stdout
    funcs = []
    for line in ann.splitlines():
        m = _LINE.match(line)
        if m and "PROGRAM TOTALS" not in line and "events annotated" not in line:
            funcs.append((int(m.group(1).replace(",", "")), m.group(2).split(":")[-1], m.group(3) or ""))
    total = sum(ir for ir, _, _ in funcs)
    cats = {name: 0 for name, _ in CATEGORIES}
    cats["other"] = 0
    for ir, f, o in funcs:
        for name, test in CATEGORIES:
            if test(f, o):
                cats[name] += ir
                break
        else:
            cats["other"] += ir
    lines = [f"| category | instructions (M) | share | per image (M) |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v / 1e6:.1f} | {100 * v / total:.1f} % | {v / 1e6 / n:.2f} |"
              for k, v in sorted(cats.items(), key=lambda kv: -kv[1]) if v]
    lines += [f"| **scoring call, all** | {total / 1e6:.1f} | 100 % | {total / 1e6 / n:.2f} |", "",
              "| function (top 12 by own instructions) | object | share |", "|---|---|---:|"]
    for ir, f, o in sorted(funcs, reverse=True)[:12]:
        lines.append(f"| `{f}` | {Path(o).name if o else '-'} | {100 * ir / total:.1f} % |")
    return lines + [""], {"total": total, "cats": cats}


# ----------------------------------------------------------------------------------------------
# the CLI's other work
# ----------------------------------------------------------------------------------------------

try:  # the typed schema of the columnar-decode prototype (msgspec is a bench extra)
    import msgspec
except ImportError:
    msgspec = None
else:
    class Segment(msgspec.Struct):
        id: int
        category_id: int
        iscrowd: int = 0
        area: float = 0.0

    class Annotation(msgspec.Struct):
        image_id: int
        file_name: str
        segments_info: list[Segment]

    class Category(msgspec.Struct):
        id: int
        name: str = ""
        isthing: int = 0

    class PanopticFile(msgspec.Struct):
        annotations: list[Annotation]
        categories: list[Category] = []


def json_prototypes(base: dict, repeat: int) -> list[tuple[str, float]]:
    import orjson

    raw = [Path(base[k]).read_bytes() for k in ("gt_json", "pred_json")]
    rows = [("read the two files", best_cpu(lambda: [Path(base[k]).read_bytes() for k in ("gt_json", "pred_json")],
                                            repeat)),
            ("one byte scan (`bytes.count`): a floor for any parser", best_cpu(lambda: [b.count(b"{") for b in raw],
                                                                               repeat)),
            ("orjson.loads into dicts and lists", best_cpu(lambda: [orjson.loads(b) for b in raw], repeat)),
            ("json.loads into dicts and lists", best_cpu(lambda: [json.loads(b) for b in raw], repeat))]
    if msgspec is None:
        return rows + [("msgspec (not installed)", float("nan"))]
    import numpy as np

    dec = msgspec.json.Decoder(PanopticFile)

    def to_columns():
        out = []
        for b in raw:
            doc = dec.decode(b)
            segs = [s for a in doc.annotations for s in a.segments_info]
            counts = np.fromiter((len(a.segments_info) for a in doc.annotations), np.int64, len(doc.annotations))
            out.append((np.fromiter((s.id for s in segs), np.int64, len(segs)),
                        np.fromiter((s.category_id for s in segs), np.int64, len(segs)),
                        np.fromiter((s.iscrowd for s in segs), np.uint8, len(segs)),
                        np.fromiter((s.area for s in segs), np.float64, len(segs)), np.cumsum(counts)))
        return out

    rows += [("msgspec typed decode into Structs (unknown keys skipped)", best_cpu(lambda: [dec.decode(b) for b in raw],
                                                                                   repeat)),
             ("msgspec Structs, then flat segment columns (prototype of a columnar decode)",
              best_cpu(to_columns, repeat))]
    from segmetrics.io.coco_panoptic import load_panoptic_json

    rows.append(("segmetrics `load_panoptic_json` (orjson, checks, compiled column pass), GT + prediction",
                 best_cpu(lambda: (load_panoptic_json(base["gt_json"], base["gt_folder"], require_categories=True),
                                   load_panoptic_json(base["pred_json"], base["pred_folder"])), repeat)))
    return rows


def hashing(task: str, base: dict, repeat: int) -> list[tuple[str, float]]:
    """The GT fingerprint's cost: segmetrics reads and hashes every scored GT file (the
    per-image digests of the state), against hashing bytes already in memory."""
    from segmetrics import folders

    if task == "panoptic":
        from segmetrics.io.coco_panoptic import load_panoptic_json

        gt = load_panoptic_json(base["gt_json"], base["gt_folder"], require_categories=True)
        items = [(i, a, None) for i, a in gt.annotations.items()]
        paths = [gt.png_path(i) for i, _, _ in items]
        fp = lambda: folders._panoptic_digests(gt, items, 1)  # noqa: E731
    else:
        from segmetrics.io.folders import pair_label_files

        pairs = pair_label_files(base["gt_dir"], base["pred_dir"]).pairs
        paths = [g for _, g, _ in pairs]
        fp = lambda: folders._semantic_digests(pairs, [None] * len(pairs))  # noqa: E731
    data = [p.read_bytes() for p in paths]
    mb = sum(len(d) for d in data) / 2**20

    def digest(name):
        def run():
            h = hashlib.new(name)
            for d in data:
                h.update(d)
            return h.digest()
        return run

    return [(f"the GT fingerprint (per-image digests: read + SHA-256, {len(paths)} files, {mb:.0f} MB)",
             best_cpu(fp, repeat)),
            ("SHA-256 of the same bytes already in memory", best_cpu(digest("sha256"), repeat)),
            ("BLAKE2b of the same bytes in memory (for comparison)", best_cpu(digest("blake2b"), repeat))]


def cli_wall(task: str, base: dict, repeat: int) -> dict:
    py = sys.executable
    if task == "panoptic":
        cmd = [py, "-m", "segmetrics", "eval", "--gt", base["gt_json"], "--pred", base["pred_json"]]
    else:
        cmd = [py, "-m", "segmetrics", "eval", "--gt", base["gt_dir"], "--pred", base["pred_dir"], "--preset",
               "ade20k", "--no-pred-reduce-zero-label"]
    return H.best_of(cmd + ["-q", "-j", "2", "--no-cache", "--json", os.devnull], repeat, cwd=H.ROOT)


# ----------------------------------------------------------------------------------------------

def table(rows, ref: float, ref_name: str) -> list[str]:
    lines = [f"| stage | CPU s | share of {ref_name} |", "|---|---:|---:|"]
    lines += [f"| {name} | {sec:.3f} | {100 * sec / ref:.0f} % |" for name, sec in rows]
    return lines + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--panoptic", type=int, default=None, help="COCO-like images (default 5000; --quick 20)")
    ap.add_argument("--semantic", type=int, default=None, help="ADE20K-like images (default 2000; --quick 20)")
    ap.add_argument("--repeat", type=int, default=None, help="runs per stage, least CPU kept (default 3; --quick 1)")
    ap.add_argument("--cg-images", type=int, default=None, help="images under callgrind (default 100; --quick 4)")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--cg-task", choices=["panoptic", "semantic"], action="append", default=None,
                    help="profile only these tasks under callgrind (default both)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-root", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    q = args.quick
    n_pan, n_sem = args.panoptic or (20 if q else 5000), args.semantic or (20 if q else 2000)
    repeat = args.repeat or (1 if q else 3)
    cg_n = args.cg_images or (4 if q else 100)
    out_file = args.out or (HERE / "_work" / "breakdown_quick.md" if q else HERE / "results" / "breakdown.md")
    cmd = "python benchmarks/bench_breakdown.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))

    from datasets import ade20k_like_dir, coco_panoptic_dir

    sets = [("panoptic", f"Panoptic, {n_pan} COCO-like images", H.panoptic_set(coco_panoptic_dir(n_pan, args.seed,
                                                                                                  root=args.data_root))),
            ("semantic", f"Semantic, {n_sem} ADE20K-like images", H.semantic_set("ade20k", ade20k_like_dir(
                n_sem, args.seed, root=args.data_root)))]
    load_before = load()
    started = _dt.datetime.now(_dt.timezone.utc)
    body = []
    with tempfile.TemporaryDirectory(prefix="segm_breakdown_") as tmp:
        for task, title, base in sets:
            gts, preds = H.set_files(base)
            H.warm_page_cache(gts + preds)
            rows, facts = stages(task, base, repeat)
            t = facts["t"]
            print(f"[{task}] stages: {t}", file=sys.stderr, flush=True)
            body += [f"### {title}: stages (one thread, process CPU time, best of {repeat})", "",
                     f"{facts['files']} PNG files, {facts['bytes'] / 2**20:.0f} MB compressed, "
                     f"{facts['raw'] / 2**20:.0f} MB inflated.", ""]
            body += table(rows, t["total"], "the total")
            body += [f"Against the physical limit: the whole run is **{t['total'] / t['inflate']:.1f}x** the "
                     f"inflate-only floor ({t['inflate']:.3f} s, {facts['raw'] / 2**20 / t['inflate']:.0f} MB/s "
                     f"inflated), the engine alone {t['engine'] / t['inflate']:.1f}x, the decoder alone "
                     f"{t['decode'] / t['inflate']:.1f}x. Inflating the raw deflate streams without the Adler-32 "
                     f"check takes {t['inflate_raw']:.3f} s ({100 * (1 - t['inflate_raw'] / t['inflate']):.0f} % less).",
                     ""]
            skip = args.no_callgrind or (args.cg_task is not None and task not in args.cg_task)
            cg = None if skip else callgrind(task, base, cg_n, Path(tmp))
            if cg is None:
                body += ["Instruction profile: not measured (valgrind not installed, or left out by the options).", ""]
            else:
                body += [f"Instruction profile of the scoring call on the first {cg_n} images (callgrind, "
                         "1 thread; deterministic, independent of the machine's load):", ""] + cg[0]
            if task == "panoptic":
                body += ["The CLI's JSON work at this scale (GT + prediction JSON, "
                         f"{sum(Path(base[k]).stat().st_size for k in ('gt_json', 'pred_json')) / 2**20:.1f} MB):", ""]
                body += table(json_prototypes(base, repeat), t["total"], "the 1-thread in-process total")
            body += [f"Fingerprint and hashing ({task}):", ""] + table(hashing(task, base, repeat), t["total"],
                                                                       "the 1-thread in-process total")
            cli = cli_wall(task, base, 1 if q else 2)
            if cli.get("wall"):
                body += [f"For scale: `python -m segmetrics eval ... -j 2 --no-cache` on this set takes "
                         f"{cli['wall']:.2f} s wall ({cli['cpu']:.2f} s CPU) as a whole process; see "
                         "`results/startup.md` for the start-up part.", ""]
    load_after = load()
    lines = header("Where the time goes (one thread)", cmd, started, load_before, load_after,
                   ("numpy", "deflate", "orjson", "msgspec"))
    lines += ["- method: CPU time of this process (all threads; the engine's worker thread included), best of "
              f"{repeat}; page cache warm; stage differences are estimates (the engine fuses decoding and "
              "counting row by row), the instruction profile is exact for its images", ""]
    return H.finish("\n".join(lines + body), out_file, False)


if __name__ == "__main__":
    raise SystemExit(main())
