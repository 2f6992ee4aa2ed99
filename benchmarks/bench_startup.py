"""Start-up cost: ``segmetrics --version``, ``segmetrics eval --help`` and ``import segmetrics``.

Usage::

    python benchmarks/bench_startup.py [--repeat 15] [--quick] [--out FILE]

Each command runs as a fresh process from the repository root (so
``python -m segmetrics`` is the checked-out tree), ``--repeat`` times; the
table gives the least and the median wall time, the least CPU time and the
peak RSS (GNU time).  The installed ``segmetrics`` console script runs
``segmetrics.cli:main``; its row runs exactly that from ``python -c`` (no
package is installed here), beside ``python -m segmetrics``.  hotcoco's
``coco --version`` is there for scale.

Then ``python -X importtime`` of ``import segmetrics``, ``segmetrics
--version`` and ``segmetrics eval --help``: the import time by top-level
package (self times summed) and the 20 modules with the most self time.

Goals of issue 17: ``--version`` and ``eval --help`` under 0.12 s wall;
``import segmetrics`` under ``import numpy`` + 30 ms (both best of N, in this run).
Writes ``benchmarks/results/startup.md`` (``--quick``: ``benchmarks/_work/``).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness as H  # noqa: E402
from machine_info import header, load  # noqa: E402

PY = sys.executable
CONSOLE = "import sys; from segmetrics.cli import main; sys.argv[0] = 'segmetrics'; sys.exit(main())"
COMMANDS = [  # (label, argv after the interpreter or a full command)
    ("`python -c pass` (the interpreter alone)", [PY, "-c", "pass"]),
    ("`python -c 'import numpy'`", [PY, "-c", "import numpy"]),
    ("`python -c 'import segmetrics'`", [PY, "-c", "import segmetrics"]),
    ("`python -m segmetrics --version`", [PY, "-m", "segmetrics", "--version"]),
    ("`python -m segmetrics eval --help`", [PY, "-m", "segmetrics", "eval", "--help"]),
    ("console script `segmetrics --version` (`segmetrics.cli:main`)", [PY, "-c", CONSOLE, "--version"]),
    ("console script `segmetrics eval --help`", [PY, "-c", CONSOLE, "eval", "--help"]),
    ("hotcoco `coco --version`", [str(Path(PY).parent / "coco"), "--version"]),
]
PROFILED = [("import segmetrics", ["-c", "import segmetrics"]),
            ("segmetrics --version", ["-m", "segmetrics", "--version"]),
            ("segmetrics eval --help", ["-m", "segmetrics", "eval", "--help"])]


def importtime(args) -> list[tuple[str, int, int]]:
    """``(module, self us, cumulative us)`` of ``python -X importtime ARGS``, in import order."""
    proc = subprocess.run([PY, "-X", "importtime"] + args, cwd=H.ROOT, capture_output=True, text=True,
                          env=dict(H.CHILD_ENV))
    out = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = (p.strip() for p in line[len("import time:"):].split("|"))
        out.append((name, int(self_us), int(cum_us)))
    return out


def by_package(rows) -> list[tuple[str, float, int]]:
    """(top-level package, self ms summed, modules) sorted by time."""
    acc = defaultdict(lambda: [0, 0])
    for name, self_us, _ in rows:
        top = name.split(".")[0]
        acc[top][0] += self_us
        acc[top][1] += 1
    return sorted(((k, v[0] / 1000, v[1]) for k, v in acc.items()), key=lambda r: -r[1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=None, help="fresh processes per command (default 15; --quick 3)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 15)
    out_file = args.out or (HERE / "_work" / "startup_quick.md" if args.quick else HERE / "results" / "startup.md")
    cmd = "python benchmarks/bench_startup.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))

    load_before = load()
    started = _dt.datetime.now(_dt.timezone.utc)
    results, bad = {}, False
    for label, command in COMMANDS:
        if not Path(command[0]).exists():
            results[label] = {"error": "not installed"}
            continue
        H.time_process(command, cwd=H.ROOT)  # one untimed run: the files' pages in the page cache
        results[label] = H.best_of(command, repeat, cwd=H.ROOT)
        print(f"{label}: {results[label].get('wall', results[label].get('error'))}", file=sys.stderr, flush=True)
    bare = importtime(["-c", "pass"])  # what every process imports (site, .pth files)
    profiles = [(what, importtime(a)) for what, a in PROFILED]
    load_after = load()

    lines = header("Start-up: segmetrics --version, eval --help, import segmetrics (one run)", cmd, started,
                   load_before, load_after, ("numpy", "click", "orjson", "hotcoco"))
    lines += [f"- method: each command is a fresh process from the repository root, {repeat} runs after one "
              "untimed run; wall measured around the process, CPU (user + system) from `RUSAGE_CHILDREN`, peak "
              "RSS from GNU time", "",
              "| command | best wall ms | median wall ms | CPU ms | peak RSS MB |", "|---|---:|---:|---:|---:|"]
    for label, rec in results.items():
        if not rec.get("wall"):
            lines.append(f"| {label} | {rec.get('error', '?')[:200]} | | | |")
            bad |= "not installed" not in rec.get("error", "")
            continue
        cpu = "-" if rec.get("cpu") is None else f"{1000 * rec['cpu']:.0f}"
        lines.append(f"| {label} | {1000 * rec['wall']:.0f} | {1000 * statistics.median(rec['walls']):.0f} | "
                     f"{cpu} | {rec['rss_kb'] / 1024:.0f} |")
    goals = []
    np_rec = results[COMMANDS[1][0]]
    for label, limit in ((COMMANDS[3][0], 0.12), (COMMANDS[4][0], 0.12), (COMMANDS[5][0], 0.12),
                         (COMMANDS[6][0], 0.12), (COMMANDS[2][0], None)):
        rec = results.get(label, {})
        if not rec.get("wall") or not np_rec.get("wall"):
            continue
        parts = []
        for what in ("wall", "cpu"):
            target = limit if limit is not None else np_rec[what] + 0.030
            desc = f"{limit * 1000:.0f} ms" if limit is not None else f"`import numpy` + 30 ms = {1000 * target:.0f} ms"
            parts.append(f"{what} {1000 * rec[what]:.0f} ms (goal < {desc}) -> **{'met' if rec[what] < target else 'NOT met'}**")
        goals.append(f"- {label}: " + "; ".join(parts))
    lines += ["", "Goals of issue 17, on the best wall and on the least CPU time of this run (each process is "
              "single-threaded: on a quiet machine its wall is about its CPU time, which moves less with the load):",
              ""] + goals + [""]
    bare_names = {name for name, _, _ in bare}
    lines += [f"`python -X importtime -c pass` imports {len(bare)} modules in {sum(s for _, s, _ in bare) / 1000:.0f} ms "
              "(site and `.pth` files; every process pays them); the tables below leave them out.", ""]
    for what, rows in profiles:
        rows = [r for r in rows if r[0] not in bare_names]
        lines += [f"### `python -X importtime` {what}: {len(rows)} more modules, {sum(s for _, s, _ in rows) / 1000:.0f} ms "
                  "(sum of self times)", "", "| package | self ms | modules |", "|---|---:|---:|"]
        lines += [f"| {pkg} | {ms:.1f} | {n} |" for pkg, ms, n in by_package(rows)[:12]]
        lines += ["", "| module (20 most self time) | self ms | cumulative ms |", "|---|---:|---:|"]
        lines += [f"| {name} | {s / 1000:.1f} | {c / 1000:.1f} |"
                  for name, s, c in sorted(rows, key=lambda r: -r[1])[:20]] + [""]
    return H.finish("\n".join(lines), out_file, bad)


if __name__ == "__main__":
    raise SystemExit(main())
