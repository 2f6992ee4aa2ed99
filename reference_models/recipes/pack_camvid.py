"""Pack SegNet CamVid into a small copy: images re-encoded as JPEG, labels kept as PNG.

The packed folder has the same layout as the source (``train/ trainannot/ val/
valannot/ test/ [testannot/]``), so ``segmetrics train --dataset camvid --data-root
<packed>`` reads it unchanged.  Labels are copied byte for byte (they are small
8-bit PNGs); images become baseline JPEGs of the given quality (4:4:4 chroma, so
thin poles and signs keep their colour), which changes pixel values by a few
levels.  At quality 90 the 701 images take about 40 MB.

Usage::

    python -m reference_models.recipes.pack_camvid /work/shared/data/camvid runs/camvid_pack
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from PIL import Image

from segmetrics.errors import DataFileError, InputError

__all__ = ["pack_camvid", "main"]

SPLITS = ("train", "val", "test")


def pack_camvid(src: str | Path, dst: str | Path, *, quality: int = 90, max_bytes: int = 64 << 20) -> dict:
    """Write the packed copy of ``src`` into ``dst``; returns ``{"images": n, "labels": m, "bytes": total}``.

    Raises
    ------
    DataFileError
        ``src`` lacks a split folder.
    InputError
        ``quality`` outside 1..100, or the packed copy exceeds ``max_bytes``.
    """
    src, dst = Path(src), Path(dst)
    if not 1 <= quality <= 100:
        raise InputError(f"JPEG quality must lie in 1..100, got {quality}")
    n_img = n_lab = total = 0
    for split in SPLITS:
        folder = src / split
        if not folder.is_dir():
            raise DataFileError(f"CamVid split folder not found: {folder}")
        (dst / split).mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.glob("*.png")):
            out = dst / split / f"{path.stem}.jpg"
            with Image.open(path) as im:
                im.convert("RGB").save(out, quality=quality, subsampling=0)
            total += out.stat().st_size
            n_img += 1
        ann = src / f"{split}annot"
        if ann.is_dir():
            (dst / f"{split}annot").mkdir(parents=True, exist_ok=True)
            for path in sorted(ann.glob("*.png")):
                out = dst / f"{split}annot" / path.name
                shutil.copyfile(path, out)
                total += out.stat().st_size
                n_lab += 1
    if total > max_bytes:
        raise InputError(f"packed CamVid takes {total / 2**20:.1f} MiB, over the {max_bytes / 2**20:.0f} MiB limit; "
                         "lower --quality")
    return {"images": n_img, "labels": n_lab, "bytes": total}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reference_models.recipes.pack_camvid",
                                 description="Pack SegNet CamVid (JPEG images, PNG labels) for a GPU machine.")
    ap.add_argument("src", help="CamVid root (train/ trainannot/ val/ valannot/ test/)")
    ap.add_argument("dst", help="output folder (keep it git-ignored, e.g. runs/camvid_pack)")
    ap.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    args = ap.parse_args(argv)
    try:
        info = pack_camvid(args.src, args.dst, quality=args.quality)
    except (DataFileError, InputError) as exc:
        sys.stderr.write(f"pack_camvid: error: {exc}\n")
        return 2
    sys.stdout.write(f"{info['images']} images, {info['labels']} labels, {info['bytes'] / 2**20:.1f} MiB in {args.dst}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
