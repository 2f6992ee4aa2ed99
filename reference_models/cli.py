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


DATASET_LAYOUTS = """\b
Folder layout each --dataset expects under --data-root:
  camvid         SegNet CamVid: train/ trainannot/ val/ valannot/ test/ [testannot/]
                 (RGB images; 8-bit labels 0..10, 11 = Unlabelled -> ignored).
                 Splits: train, val, test, trainval (train + val).
  ade20k         ADEChallengeData2016: images/{training,validation}/*.jpg,
                 annotations/{training,validation}/*.png (0 = other -> ignored,
                 1..150 -> 0..149; predictions are written back as 1..150).
  cityscapes     leftImg8bit/<split>/<city>/*_leftImg8bit.png and
                 gtFine/<split>/<city>/*_gtFine_labelIds.png (mapped to the 19 trainIds).
  coco-panoptic  <split>/*.jpg, annotations/panoptic_<split>.json and
                 annotations/panoptic_<split>/*.png (133 classes; void and crowd ignored).
  folder         images/*.png|jpg and labels/*.png paired by file stem, or
                 <split>/images + <split>/labels; label values are class ids
                 0..K-1 (--num-classes K), 255 = ignore.
  shapes         generated coloured shapes (no --data-root; for trying things out).
"""

TRAIN_EPILOG = f"""\b
Example (the CPU recipe of docs/model.md, CamVid val mIoU >= 50 from scratch):
  segmetrics train --dataset camvid --data-root CamVid --backbone resnet18 \\
      --width 32 --aspp-channels 128 --crop-size 256 --batch-size 8 \\
      --loss ce --class-weight median-freq --iterations 12000 --out runs/camvid
  segmetrics train --dataset shapes --width 8 --iterations 50    # a 1-minute smoke run

{DATASET_LAYOUTS}
\b
The run folder (--out) gets last.pt (model, optimizer, iteration, RNG state,
configuration), train.log, history.json (every validation: aAcc, mAcc, mIoU,
fwIoU, per-class IoU, CPU seconds) and curve.json (training loss and LR every
--log-interval iterations).  --resume continues a run bit-exactly on the CPU.
Exit status: 0 done, 2 bad input (one line naming the file or option).
"""

PREDICT_EPILOG = """\b
Examples:
  segmetrics predict --checkpoint runs/camvid/last.pt --images CamVid/test --out pred/
  segmetrics eval --preset camvid --gt CamVid/testannot --pred pred/
  segmetrics predict --checkpoint ade.pt --images ADE/images/validation --out pred/ \\
      --mode slide --window 512 --stride 341 --scales 0.75,1.0,1.25 --flip
  segmetrics predict --checkpoint coco.pt --images val2017 --out pan/ --format coco-panoptic

\b
Input: every .png/.jpg/.jpeg/.bmp/.tif image directly inside --images.
Output, --format semantic: <out>/<stem>.png, one 8-bit (16-bit above 255)
single-channel PNG per image, value = class id + --label-offset.
Output, --format coco-panoptic: <out>/panoptic_pred.json and
<out>/panoptic_pred/<stem>.png (RGB, id = R + 256 G + 256^2 B), every stuff
class one segment and every connected component of a thing class one
instance; image_id is the file stem (an integer when it is all digits).
Exit status: 0 done, 2 bad input (one line naming the file or option).
"""


@click.command("train", epilog=TRAIN_EPILOG, short_help="Train the reference DeepLabV3 ([model] extra).",
               context_settings={"max_content_width": 100})
@click.option("--dataset", type=click.Choice(DATASET_NAMES), default="camvid", show_default=True,
              help="Dataset layout under --data-root (see below).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Dataset root folder (not needed for shapes).")
@click.option("--train-split", default="train", show_default=True, help="Split to train on (camvid: train or trainval).")
@click.option("--val-split", default="val", show_default=True,
              help="Split scored at every --val-interval and at the end; 'none' skips validation.")
@click.option("--num-classes", type=int, default=None, help="Classes K of a 'folder' or 'shapes' dataset.")
@click.option("--backbone", type=click.Choice(["resnet18", "resnet34", "resnet50", "resnet101"]),
              default="resnet50", show_default=True, help="ResNet depth of the encoder (randomly initialised).")
@click.option("--output-stride", type=click.Choice(["8", "16"]), default="16", show_default=True,
              help="Input size / feature size; 8 dilates layer3 too (about 3x the compute).")
@click.option("--multi-grid", default="1,2,4", show_default=True,
              help="Unit rates multiplying the dilation of the layer4 blocks.")
@click.option("--aux/--no-aux", default=False, show_default=True,
              help="Auxiliary FCN head on layer3 during training (loss weight --aux-weight).")
@click.option("--width", type=int, default=64, show_default=True,
              help="Channels of the first stage (64 = standard ResNet; 32 is 4x cheaper).")
@click.option("--aspp-channels", type=int, default=256, show_default=True, help="Channels of every ASPP branch.")
@click.option("--aux-weight", type=float, default=0.4, show_default=True, help="Weight of the auxiliary loss.")
@click.option("--loss", type=click.Choice(LOSS_NAMES), default="ce", show_default=True,
              help="Training loss (docs/model.md has the formulas and a measured table).")
@click.option("--class-weight", type=click.Choice(["none", "median-freq"]), default="none", show_default=True,
              help="Per-class loss weights: median frequency balancing from the training labels "
                   "(ce, ohem, combo; focal's alpha).")
@click.option("--color-jitter", type=float, default=0.0, show_default=True,
              help="Brightness and contrast jitter amplitude in [0, 1) (0 = off).")
@click.option("--crop-size", default="320", show_default=True, help="Training crop, N or H,W pixels.")
@click.option("--scale-range", default="0.5,2.0", show_default=True,
              help="LOW,HIGH of the random rescaling before the crop.")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Crops per step (>= 2 for BatchNorm).")
@click.option("--iterations", type=int, default=1000, show_default=True, help="Training steps in the schedule.")
@click.option("--lr", type=float, default=0.01, show_default=True, help="Base learning rate of SGD.")
@click.option("--momentum", type=float, default=0.9, show_default=True, help="SGD momentum.")
@click.option("--weight-decay", type=float, default=1e-4, show_default=True,
              help="L2 on convolution weights (not on BatchNorm or biases).")
@click.option("--poly-power", type=float, default=0.9, show_default=True,
              help="LR = lr * (1 - it/iterations)^power.")
@click.option("--warmup-iters", type=int, default=0, show_default=True,
              help="Linear warm-up: the LR is scaled by (it+1)/warmup for the first steps.")
@click.option("--stop-after", type=int, default=None,
              help="Stop (and checkpoint) at this iteration; --resume continues the same schedule.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds weights, batch order and augmentation.")
@click.option("--val-interval", type=int, default=250, show_default=True,
              help="Validate every N iterations (0 = only at the end).")
@click.option("--checkpoint-interval", type=int, default=100, show_default=True,
              help="Write last.pt every N iterations (0 = only at the end).")
@click.option("--log-interval", type=int, default=10, show_default=True,
              help="Log loss, LR and timing every N iterations.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs/deeplabv3", show_default=True,
              help="Run folder (created).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda or cuda:N.")
@click.option("--amp/--no-amp", default=True, show_default=True, help="Mixed precision autocast (CUDA only).")
@click.option("--amp-dtype", type=click.Choice(["float16", "bfloat16"]), default="float16", show_default=True,
              help="Autocast type on CUDA (bfloat16 needs no loss scaling).")
@click.option("--channels-last/--no-channels-last", default=True, show_default=True,
              help="NHWC memory layout (about 20% faster on CPUs).")
@click.option("--preload/--no-preload", default=True, show_default=True,
              help="Decode every image once into memory; --no-preload decodes per step (large datasets).")
@click.option("--val-batch-size", type=int, default=4, show_default=True,
              help="Validation images per forward pass (same-size images only).")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice).")
@click.option("--resume", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint to continue from (same model; the schedule of these options).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bar with ETA, loss and LR (only on a terminal).")
def train(**kw) -> None:
    """Train DeepLabV3 from scratch and validate it with segmetrics.

    SGD with momentum, poly learning rate with optional warm-up, DeepLab
    augmentation (random scale, pad with ignore + crop, flip) on decoded
    in-memory data, checkpoints that resume exactly.  Needs the [model] extra
    (pip install 'segmetrics[model]').
    """
    trainer, _ = _need_torch()

    def go():
        resume = kw.pop("resume")
        kw["output_stride"] = int(kw["output_stride"])
        kw["multi_grid"] = tuple(_int_list(kw["multi_grid"], "--multi-grid"))
        kw["crop_size"] = trainer.parse_pair(kw["crop_size"], "--crop-size")
        try:
            lo_hi = [float(v) for v in kw["scale_range"].split(",")]
        except ValueError:
            lo_hi = []
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


@click.command("predict", epilog=PREDICT_EPILOG, short_help="Predict images with a trained DeepLabV3 ([model] extra).",
               context_settings={"max_content_width": 100})
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False),
              help="last.pt written by segmetrics train.")
@click.option("--images", required=True, type=click.Path(file_okay=False), help="Folder of input images.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (created), ready for segmetrics eval --pred.")
@click.option("--format", "fmt", type=click.Choice(["semantic", "coco-panoptic"]), default="semantic",
              show_default=True, help="Label PNGs, or COCO panoptic PNGs + JSON.")
@click.option("--label-offset", type=int, default=None,
              help="Added to class ids in semantic PNGs (1 for ADE20K's 1..150); default from the checkpoint.")
@click.option("--mode", type=click.Choice(["whole", "slide"]), default="whole", show_default=True,
              help="Whole image in one pass, or overlapping windows (logits averaged).")
@click.option("--window", default="512", show_default=True, help="Sliding window N or H,W (--mode slide).")
@click.option("--stride", "win_stride", default="341", show_default=True,
              help="Sliding window step N or H,W (--mode slide).")
@click.option("--scales", default="1.0", show_default=True,
              help="Comma-separated test scales; softmax probabilities are averaged (TTA).")
@click.option("--flip/--no-flip", default=False, show_default=True,
              help="Also run the mirrored image at every scale (TTA).")
@click.option("--min-area", type=int, default=0, show_default=True,
              help="coco-panoptic: drop thing instances smaller than this (pixels become void).")
@click.option("--things", default=None,
              help="coco-panoptic: comma-separated training ids of thing classes (default from the checkpoint).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda or cuda:N.")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice).")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bar with ETA (only on a terminal).")
def predict(**kw) -> None:
    """Predict a folder of images with a trained DeepLabV3 checkpoint.

    Writes one label PNG per image (or COCO panoptic PNGs + JSON) that
    segmetrics eval scores directly.  Needs the [model] extra
    (pip install 'segmetrics[model]').
    """
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
