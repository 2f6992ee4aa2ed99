"""Markdown tables (and an optional plot) from training run folders: the tables of docs/model.md.

Reads ``history.json`` (validations: aAcc, mAcc, mIoU, fwIoU, per-class IoU, CPU
seconds) and ``curve.json`` (training loss and LR) of each run folder.

Usage::

    python -m reference_models.recipes.report curve runs/r1-train            # learning curve table
    python -m reference_models.recipes.report losses runs/s-ce runs/s-wce ...  # loss table (last validation)
    python -m reference_models.recipes.report plot out.png runs/r1-train runs/s-ce ...
    python -m reference_models.recipes.report publish [runs]   # fill the marked blocks of docs/model.md and README.md

``publish`` rewrites only the text between ``<!-- BEGIN camvid-NAME -->`` and
``<!-- END camvid-NAME -->`` markers (``curve``, ``losses``, ``perf``), copies the
recipe run's ``history.json`` / ``curve.json`` to ``benchmarks/camvid/`` and draws
``benchmarks/camvid/learning_curves.png`` (matplotlib, when installed).  Runs that
have not finished are shown with the iteration they reached.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["load_run", "curve_table", "loss_table", "plot_runs", "perf_rows", "replace_block", "publish", "main"]

CAMVID_SHORT = ("Sky", "Bldg", "Pole", "Road", "Pave", "Tree", "Sign", "Fence", "Car", "Ped", "Bike")


def load_run(folder: str | Path) -> dict:
    """``{"name", "config", "n_train", "history", "curve"}`` of a run folder (config and training-set size from train.log)."""
    folder = Path(folder)
    history = json.loads((folder / "history.json").read_text()) if (folder / "history.json").is_file() else []
    curve = json.loads((folder / "curve.json").read_text()) if (folder / "curve.json").is_file() else []
    config, n_train = {}, None
    log = folder / "train.log"
    if log.is_file():
        for line in log.read_text().splitlines():
            if " config {" in line:
                config = json.loads(line.split(" config ", 1)[1])
            elif " train " in line and " images, val " in line:
                n_train = int(line.split(" train ", 1)[1].split()[0])
    return {"name": folder.name, "config": config, "n_train": n_train, "history": history, "curve": curve}


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def curve_table(run: dict) -> str:
    """One row per validation: iteration, epochs, train loss, aAcc, mAcc, mIoU, fwIoU, CPU hours."""
    cfg, n_train = run["config"], run.get("n_train")
    rows = ["| iteration | epochs | train loss | aAcc | mAcc | mIoU | fwIoU | CPU h (training) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for h in run["history"]:
        epochs = f"{h['iteration'] * cfg.get('batch_size', 0) / n_train:.0f}" if n_train else "?"
        loss = "?" if h.get("train_loss") is None else f"{h['train_loss']:.3f}"
        cpu = h.get("train_cpu_seconds")
        rows.append(f"| {h['iteration']} | {epochs} | {loss} | {_pct(h['aAcc'])} | {_pct(h['mAcc'])} | "
                    f"**{_pct(h['mIoU'])}** | {_pct(h['fwIoU'])} | {'?' if cpu is None else f'{cpu / 3600:.2f}'} |")
    return "\n".join(rows)


def _loss_label(cfg: dict) -> str:
    name = cfg.get("loss", "?")
    return f"{name} + median-freq weights" if cfg.get("class_weight", "none") != "none" else name


def loss_table(runs: list[dict], names=CAMVID_SHORT) -> str:
    """One row per run at its last validation: loss, mIoU, best mIoU, mAcc, aAcc, then per-class IoU."""
    head = "| loss | mIoU | best mIoU (it) | mAcc | aAcc | " + " | ".join(names) + " |"
    rows = [head, "|---|---:|---:|---:|---:|" + "---:|" * len(names)]
    for run in runs:
        if not run["history"]:
            continue
        last = run["history"][-1]
        best = max(run["history"], key=lambda h: h["mIoU"])
        ious = " | ".join(_pct(v) for v in last.get("IoU", [None] * len(names)))
        rows.append(f"| {_loss_label(run['config'])} | **{_pct(last['mIoU'])}** | {_pct(best['mIoU'])} "
                    f"({best['iteration']}) | {_pct(last['mAcc'])} | {_pct(last['aAcc'])} | {ious} |")
    return "\n".join(rows)


LOSS_RUNS = ("s-ce", "s-wce", "s-focal", "s-combo", "s-lovasz", "s-ohem")
QUOTED_ROWS = (
    "| DeepLabV3 (Chen et al. 2017), ResNet-101 | ImageNet pretraining, COCO, then VOC 2012 trainaug / trainval "
    "| PASCAL VOC 2012 test | 85.7 | quoted (paper, arXiv:1706.05587) |",
    "| DeepLabV3 (Chen et al. 2017), ResNet-101 | ImageNet pretraining, Cityscapes fine + coarse annotations "
    "| Cityscapes test | 81.3 | quoted (paper, arXiv:1706.05587) |",
    "| mmsegmentation DeepLabV3 R-50-D8 512x512 80k | ImageNet pretraining, 80k iter x 16 | ADE20K val, single scale "
    "| 42.42 | quoted (mmsegmentation model zoo) |",
    "| mmsegmentation DeepLabV3 R-101-D8 512x512 80k | ImageNet pretraining, 80k iter x 16 | ADE20K val, single scale "
    "| 44.08 | quoted (mmsegmentation model zoo) |",
)


def _state(run: dict) -> str:
    cfg = run["config"]
    last = run["history"][-1]["iteration"] if run["history"] else 0
    return "" if last >= cfg.get("iterations", 0) else f" (unfinished: validated at iteration {last} of {cfg.get('iterations')})"


def perf_rows(recipe: dict | None, losses: list[dict], gpu: dict | None = None) -> str:
    """The performance table: measured rows (recipe, best of the loss table, GPU when run) and the quoted rows."""
    rows = ["| model | training | data / split | mIoU (%) | source |", "|---|---|---|---:|---|"]
    if recipe is not None and recipe["history"]:
        cfg, last = recipe["config"], recipe["history"][-1]
        rows.append(
            f"| DeepLabV3 R-18 at half width, OS 16, ASPP 128 (this repo) | **from scratch**, {cfg.get('iterations')} "
            f"iter x {cfg.get('batch_size')} crops of {cfg.get('crop_size', ['?'])[0]} px, median-frequency CE, "
            f"2-core CPU ({last.get('train_cpu_seconds', 0) / 3600:.1f} CPU-core hours){_state(recipe)} | "
            f"CamVid val (101 images, 11 classes), single scale | **{_pct(last['mIoU'])}** (aAcc {_pct(last['aAcc'])}, "
            f"mAcc {_pct(last['mAcc'])}) | measured here |")
    done = [r for r in losses if r["history"]]
    if done:
        best = max(done, key=lambda r: r["history"][-1]["mIoU"])
        cfg = best["config"]
        rows.append(
            f"| same model, loss table (best: {_loss_label(cfg)}) | from scratch, {cfg.get('iterations')} iter x "
            f"{cfg.get('batch_size')} crops of {cfg.get('crop_size', ['?'])[0]} px per loss{_state(best)} | CamVid val, "
            f"single scale | {_pct(best['history'][-1]['mIoU'])} | measured here (table below) |")
    if gpu is not None and gpu["history"]:
        cfg, last = gpu["config"], gpu["history"][-1]
        rows.append(f"| DeepLabV3 R-50, OS 16, paper setting | from scratch, {cfg.get('iterations')} iter x "
                    f"{cfg.get('batch_size')} full-resolution crops, one GPU | CamVid val, single scale | "
                    f"{_pct(last['mIoU'])} | measured here |")
    else:
        rows.append("| DeepLabV3 R-50, OS 16, paper setting (`recipes/camvid_gpu.sh`) | from scratch, batch 16, "
                    "full resolution, bf16, about 7 minutes of one GPU | CamVid val | not run | no GPU lent to this "
                    "task: prepared, smoke-tested on the CPU |")
    rows += QUOTED_ROWS
    return "\n".join(rows)


def replace_block(text: str, name: str, body: str) -> str:
    """Replace the text between ``<!-- BEGIN camvid-NAME -->`` and ``<!-- END camvid-NAME -->``."""
    begin, end = f"<!-- BEGIN camvid-{name} -->", f"<!-- END camvid-{name} -->"
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"markers {begin} ... {end} not found")
    return text[:i + len(begin)] + "\n" + body.strip("\n") + "\n" + text[j:]


def publish(runs_dir: str | Path = "runs", repo: str | Path = ".") -> list[str]:
    """Fill the marked blocks of docs/model.md and README.md from the run folders; returns what was written."""
    runs_dir, repo = Path(runs_dir), Path(repo)
    recipe = load_run(runs_dir / "r1-train") if (runs_dir / "r1-train").is_dir() else None
    losses = [load_run(runs_dir / n) for n in LOSS_RUNS if (runs_dir / n).is_dir()]
    gpu_dir = repo / "benchmarks" / "camvid" / "gpu"
    gpu = load_run(gpu_dir) if (gpu_dir / "history.json").is_file() else None
    written = []
    bench = repo / "benchmarks" / "camvid"
    if recipe is not None:
        for src, dst in (("history.json", "train_history.json"), ("curve.json", "train_curve.json")):
            if (runs_dir / "r1-train" / src).is_file():
                (bench / dst).write_text((runs_dir / "r1-train" / src).read_text())
                written.append(str(bench / dst))
    curve = (f"Run `r1-train`{_state(recipe)}:\n\n" + curve_table(recipe)) if recipe else "(not run yet)"
    perf = perf_rows(recipe, losses, gpu)
    for doc, blocks in ((repo / "docs" / "model.md", {"curve": curve, "losses": loss_table(losses) + "".join(
            f"\n\n{r['name']}{_state(r)}" for r in losses if _state(r)), "perf": perf}),
                        (repo / "README.md", {"perf": perf})):
        text = doc.read_text()
        for name, body in blocks.items():
            text = replace_block(text, name, body)
        doc.write_text(text)
        written.append(str(doc))
    try:
        plot_runs(bench / "learning_curves.png", ([recipe] if recipe else []) + losses)
        written.append(str(bench / "learning_curves.png"))
    except ImportError:
        pass
    return written


def plot_runs(out: str | Path, runs: list[dict]) -> None:
    """Two panels: training loss (smoothed, per iteration) and validation mIoU of every run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        label = f"{run['name']} ({_loss_label(run['config'])})"
        if run["curve"]:
            a.plot([c["iteration"] for c in run["curve"]], [c["loss"] for c in run["curve"]], label=label)
        if run["history"]:
            b.plot([h["iteration"] for h in run["history"]], [100 * h["mIoU"] for h in run["history"]], "o-",
                   label=label)
    a.set_xlabel("iteration")
    a.set_ylabel("training loss (running mean)")
    a.set_yscale("log")
    b.set_xlabel("iteration")
    b.set_ylabel("CamVid val mIoU (%)")
    b.axhline(50, color="grey", lw=0.8, ls="--")
    b.legend(fontsize=7)
    b.grid(alpha=0.3)
    a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["publish"]:
        for path in publish(argv[1] if len(argv) > 1 else "runs"):
            sys.stdout.write(f"wrote {path}\n")
        return 0
    if len(argv) < 2 or argv[0] not in ("curve", "losses", "plot"):
        sys.stderr.write(__doc__.split("Usage::")[1])
        return 2
    if argv[0] == "plot":
        plot_runs(argv[1], [load_run(f) for f in argv[2:]])
        return 0
    runs = [load_run(f) for f in argv[1:]]
    if argv[0] == "curve":
        for run in runs:
            sys.stdout.write(f"{run['name']}\n\n{curve_table(run)}\n\n")
    else:
        sys.stdout.write(loss_table(runs) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
