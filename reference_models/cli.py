"""Click commands ``train`` and ``predict`` for the reference DeepLabV3 model.

torch is imported only inside the callbacks: without the ``[model]`` extra both
commands exit with status 2 and one line naming ``pip install 'segmetrics[model]'``.
The ``segmetrics`` group registers these commands; ``python -m reference_models.cli``
runs them standalone.
"""
from __future__ import annotations

import click

from segmetrics.errors import SegmetricsError

__all__ = ["train", "predict", "main"]

INSTALL_HINT = "this command needs PyTorch: pip install 'segmetrics[model]'"
LOSS_NAMES = ("ce", "ohem", "focal", "dice", "generalized-dice", "tversky", "focal-tversky",
              "lovasz", "log-cosh-dice", "combo")
DATASET_NAMES = ("camvid", "ade20k", "cityscapes", "coco-panoptic", "folder", "shapes")


class _Exit(click.ClickException):
    exit_code = 2


def _need_torch():
    """Import the torch-backed modules or exit with one line (status 2)."""
    try:
        import torch  # noqa: F401

        from . import predictor, trainer
    except ImportError as exc:
        raise _Exit(f"{INSTALL_HINT} ({exc})") from None
    return trainer, predictor


def _run(fn):
    try:
        return fn()
    except SegmetricsError as exc:
        raise _Exit(str(exc)) from None


def _int_list(text, name):
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise _Exit(f"{name} must be comma-separated integers, got {text!r}") from None


@click.command("train")
@click.option("--dataset", type=click.Choice(DATASET_NAMES), default="camvid", show_default=True)
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="Dataset root folder.")
@click.option("--train-split", default="train", show_default=True)
@click.option("--val-split", default="val", show_default=True, help="'none' skips validation.")
@click.option("--num-classes", type=int, default=None, help="Classes of a 'folder' or 'shapes' dataset.")
@click.option("--backbone", type=click.Choice(["resnet18", "resnet34", "resnet50", "resnet101"]),
              default="resnet50", show_default=True)
@click.option("--output-stride", type=click.Choice(["8", "16"]), default="16", show_default=True)
@click.option("--multi-grid", default="1,2,4", show_default=True, help="Unit rates of the last stage's blocks.")
@click.option("--aux/--no-aux", default=False, show_default=True, help="Auxiliary FCN head (weight --aux-weight).")
@click.option("--width", type=int, default=64, show_default=True, help="Backbone width (64 = standard ResNet).")
@click.option("--aspp-channels", type=int, default=256, show_default=True)
@click.option("--aux-weight", type=float, default=0.4, show_default=True)
@click.option("--loss", type=click.Choice(LOSS_NAMES), default="ce", show_default=True)
@click.option("--crop-size", default="320", show_default=True, help="N or H,W.")
@click.option("--scale-range", default="0.5,2.0", show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--iterations", type=int, default=1000, show_default=True)
@click.option("--lr", type=float, default=0.01, show_default=True)
@click.option("--momentum", type=float, default=0.9, show_default=True)
@click.option("--weight-decay", type=float, default=1e-4, show_default=True)
@click.option("--poly-power", type=float, default=0.9, show_default=True)
@click.option("--warmup-iters", type=int, default=0, show_default=True)
@click.option("--stop-after", type=int, default=None,
              help="Stop (and checkpoint) at this iteration; --resume continues the same schedule.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--val-interval", type=int, default=250, show_default=True)
@click.option("--checkpoint-interval", type=int, default=100, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs/deeplabv3", show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--amp/--no-amp", default=True, show_default=True, help="Mixed precision (CUDA only).")
@click.option("--threads", type=int, default=None, help="torch CPU threads.")
@click.option("--resume", type=click.Path(dir_okay=False), default=None, help="Checkpoint to continue from.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train(**kw) -> None:
    """Train DeepLabV3 (from scratch) and validate it periodically with segmetrics."""
    trainer, _ = _need_torch()

    def go():
        resume = kw.pop("resume")
        kw["output_stride"] = int(kw["output_stride"])
        kw["multi_grid"] = tuple(_int_list(kw["multi_grid"], "--multi-grid"))
        kw["crop_size"] = trainer.parse_pair(kw["crop_size"], "--crop-size")
        lo_hi = [float(v) for v in kw["scale_range"].split(",")]
        if len(lo_hi) != 2:
            raise trainer.InputError(f"--scale-range must be LOW,HIGH, got {kw['scale_range']!r}")
        kw["scale_range"] = tuple(lo_hi)
        if kw["val_split"].lower() == "none":
            kw["val_split"] = None
        cfg = trainer.TrainConfig(**kw)
        t = trainer.Trainer(cfg)
        if resume:
            t.resume(resume)
        history = t.fit()
        if history:
            last = history[-1]
            click.echo("val " + " ".join(f"{k}={100 * last[k]:.2f}" for k in ("aAcc", "mAcc", "mIoU", "fwIoU")))
        click.echo(f"checkpoint: {t.out_dir / 'last.pt'}")

    _run(go)


@click.command("predict")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False))
@click.option("--images", required=True, type=click.Path(file_okay=False), help="Folder of input images.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["semantic", "coco-panoptic"]), default="semantic",
              show_default=True)
@click.option("--label-offset", type=int, default=None,
              help="Added to class ids in semantic PNGs (1 for ADE20K's 1..150); default from the checkpoint.")
@click.option("--mode", type=click.Choice(["whole", "slide"]), default="whole", show_default=True)
@click.option("--window", default="512", show_default=True, help="Sliding window N or H,W.")
@click.option("--stride", "win_stride", default="341", show_default=True, help="Sliding window stride N or H,W.")
@click.option("--scales", default="1.0", show_default=True, help="Comma-separated test scales (TTA).")
@click.option("--flip/--no-flip", default=False, show_default=True, help="Add horizontally flipped inputs (TTA).")
@click.option("--min-area", type=int, default=0, show_default=True,
              help="coco-panoptic: drop thing instances smaller than this (pixels become void).")
@click.option("--things", default=None,
              help="coco-panoptic: comma-separated training ids of thing classes (default from the checkpoint).")
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, default=None)
@click.option("--progress/--no-progress", default=True, show_default=True)
def predict(**kw) -> None:
    """Predict a folder of images and write label PNGs or COCO panoptic PNG + JSON."""
    trainer, predictor = _need_torch()

    def go():
        n = predictor.predict_folder(
            kw["checkpoint"], kw["images"], kw["out_dir"], fmt=kw["fmt"], label_offset=kw["label_offset"],
            mode=kw["mode"], window=trainer.parse_pair(kw["window"], "--window"),
            stride=trainer.parse_pair(kw["win_stride"], "--stride"),
            scales=predictor.parse_scales(kw["scales"]), flip=kw["flip"], min_area=kw["min_area"],
            things=_int_list(kw["things"], "--things"),
            device=kw["device"], threads=kw["threads"], progress=kw["progress"])
        click.echo(f"wrote {n} predictions to {kw['out_dir']}")

    _run(go)


@click.group()
def main() -> None:
    """Reference DeepLabV3 commands (standalone entry point)."""


main.add_command(train)
main.add_command(predict)

if __name__ == "__main__":
    main()
