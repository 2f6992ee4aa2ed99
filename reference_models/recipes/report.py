"""Markdown tables (and an optional plot) from training run folders: the tables of docs/model.md.

Reads ``history.json`` (validations: aAcc, mAcc, mIoU, fwIoU, per-class IoU, CPU
seconds) and ``curve.json`` (training loss and LR) of each run folder.

Usage::

    python -m reference_models.recipes.report curve runs/r1-train            # learning curve table
    python -m reference_models.recipes.report losses runs/s-ce runs/s-wce ...  # loss table (last validation)
    python -m reference_models.recipes.report plot out.png runs/r1-train runs/s-ce ...
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["load_run", "curve_table", "loss_table", "plot_runs", "main"]

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
