"""Readers of real segmentation dataset layouts, plus a generated shapes dataset.

Every dataset yields ``(image, label, image_id)``: ``image`` is an ``(H, W, 3)``
uint8 RGB array, ``label`` an ``(H, W)`` uint8 array of training ids
``0..K-1`` with ``ignore_index`` (255) for pixels that are not scored, and
``image_id`` the file stem.  The raw label values of each layout are mapped to
training ids by a 256-entry lookup table (or, for COCO panoptic, by the JSON).
Datasets are plain Python objects (no torch); the trainer batches them.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from segmetrics.errors import DataFileError, FormatError, InputError, LabelError
from segmetrics.io.coco_panoptic import rgb2id

__all__ = [
    "IGNORE",
    "SegmentationDataset",
    "CAMVID_CLASSES",
    "CITYSCAPES_TRAIN_IDS",
    "camvid",
    "ade20k",
    "cityscapes",
    "folder",
    "CocoPanopticSemantic",
    "coco_panoptic",
    "ShapesDataset",
    "generate_shapes",
    "write_shapes",
    "build_dataset",
    "DATASETS",
    "MemoryDataset",
    "preload",
    "class_pixel_counts",
]

IGNORE = 255
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence",
                  "Car", "Pedestrian", "Bicyclist")

#: Cityscapes labelId -> trainId for the 19 evaluated classes (every other id is ignored)
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                        24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CITYSCAPES_CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
                      "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
                      "truck", "bus", "train", "motorcycle", "bicycle")


def read_rgb(path: Path) -> np.ndarray:
    """Read an image file as an ``(H, W, 3)`` uint8 RGB array."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError as exc:
        raise DataFileError(f"image file not found: {path}") from exc
    except OSError as exc:
        raise DataFileError(f"cannot read image {path}: {exc}") from exc


def read_label(path: Path) -> np.ndarray:
    """Read a single-channel label PNG (mode L, P or I) as an integer array, values unchanged."""
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P", "I", "I;16", "1"):
                raise FormatError(f"label file {path} has mode {im.mode!r}; a single-channel "
                                  "label PNG (L, P, I or I;16) is required")
            return np.asarray(im)
    except FileNotFoundError as exc:
        raise DataFileError(f"label file not found: {path}") from exc
    except FormatError:
        raise
    except OSError as exc:
        raise DataFileError(f"cannot read label {path}: {exc}") from exc


def _lut(mapping: dict[int, int] | None = None, *, ignore: Sequence[int] = (), identity_below: int = 0) -> np.ndarray:
    """256-entry raw -> training-id table; ``-1`` marks raw values the layout does not define."""
    lut = np.full(256, -1, dtype=np.int16)
    lut[:identity_below] = np.arange(identity_below)
    for k in ignore:
        lut[k] = IGNORE
    for k, v in (mapping or {}).items():
        lut[k] = v
    return lut


@dataclass
class SegmentationDataset:
    """A list of (image file, label file or None) pairs with a raw-label -> training-id table.

    Parameters
    ----------
    items : list of (image_id, image_path, label_path or None)
    num_classes : int
    class_names : tuple of str
    label_lut : (256,) int16 array or None
        ``train_id = label_lut[raw]``; ``-1`` marks raw values the layout does not
        define; None means raw values are training ids.
    name : str
    ignore_index : int
        Training id of pixels that are not scored (255).
    pred_offset : int
        Added to training ids when predictions are written (1 for ADE20K's 1..150 files).

    Notes
    -----
    :meth:`load` raises :class:`~segmetrics.errors.LabelError` naming the file, the
    offending raw values and their pixel counts when a raw value is not defined by
    the layout (table entry ``-1``, or above 255) or a mapped label lies outside
    ``[0, K)`` and is not ``ignore_index``; labels are never dropped silently.
    """

    items: list[tuple[str, Path, Path | None]]
    num_classes: int
    class_names: tuple[str, ...]
    label_lut: np.ndarray | None = None
    name: str = "folder"
    ignore_index: int = IGNORE
    pred_offset: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> list[str]:
        return [i for i, _, _ in self.items]

    def has_labels(self) -> bool:
        return all(lab is not None for _, _, lab in self.items)

    def map_label(self, raw: np.ndarray, source: str) -> np.ndarray:
        if self.label_lut is not None:
            if raw.max(initial=0) > 255 or raw.min(initial=0) < 0:
                bad = np.unique(raw[(raw > 255) | (raw < 0)])
                raise LabelError(f"{source}: label values {bad[:5].tolist()} do not fit the 8-bit table "
                                 f"of dataset {self.name!r}", values=bad[:5].tolist(), image=source)
            lab = self.label_lut[raw]
            undefined = lab < 0
            if undefined.any():
                vals, counts = np.unique(raw[undefined], return_counts=True)
                raise LabelError(f"{source}: {int(undefined.sum())} pixels carry raw label values "
                                 f"{vals[:5].tolist()} that dataset {self.name!r} does not define "
                                 f"(pixel counts {counts[:5].tolist()})",
                                 values=vals[:5].tolist(), counts=counts[:5].tolist(), image=source)
        else:
            lab = raw.astype(np.uint8) if raw.max(initial=0) <= 255 and raw.min(initial=0) >= 0 else raw
        bad_mask = (lab >= self.num_classes) & (lab != self.ignore_index)
        if bad_mask.any():
            vals, counts = np.unique(lab[bad_mask], return_counts=True)
            raise LabelError(f"{source}: {int(bad_mask.sum())} pixels carry label values {vals[:5].tolist()} "
                             f"outside [0, {self.num_classes}) and not ignore_index={self.ignore_index}",
                             values=vals[:5].tolist(), counts=counts[:5].tolist(), image=source)
        return lab.astype(np.uint8)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray | None, str]:
        """Return ``(image, label or None, image_id)`` of item ``index``."""
        image_id, img_path, lab_path = self.items[index]
        image = read_rgb(img_path)
        if lab_path is None:
            return image, None, image_id
        label = self.map_label(read_label(lab_path), str(lab_path))
        if label.shape != image.shape[:2]:
            raise FormatError(f"{lab_path}: label size {label.shape[::-1]} differs from image size "
                              f"{image.shape[1::-1]} of {img_path}")
        return image, label, image_id

    def __getitem__(self, index: int):
        return self.load(index)


def _pair_by_stem(image_dir: Path, label_dir: Path | None, *, image_suffix: str = "",
                  label_suffix: str = "", label_ext: str = ".png", recursive: bool = False):
    if not image_dir.is_dir():
        raise DataFileError(f"image folder not found: {image_dir}")
    pattern = "**/*" if recursive else "*"
    images = sorted(p for p in image_dir.glob(pattern)
                    if p.suffix.lower() in IMAGE_SUFFIXES and p.stem.endswith(image_suffix))
    if not images:
        raise DataFileError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {image_dir}")
    items = []
    missing = []
    for p in images:
        stem = p.stem[: len(p.stem) - len(image_suffix)] if image_suffix else p.stem
        if label_dir is None:
            items.append((stem, p, None))
            continue
        rel = p.parent.relative_to(image_dir)
        lab = label_dir / rel / f"{stem}{label_suffix}{label_ext}"
        if not lab.is_file():
            missing.append(str(lab))
        items.append((stem, p, lab))
    if missing:
        raise DataFileError(f"{len(missing)} label files missing under {label_dir}, e.g. {missing[0]}")
    return items


def camvid(root: str | Path, split: str = "train") -> SegmentationDataset:
    """CamVid in the SegNet layout: ``train/ trainannot/ val/ valannot/ test/ [testannot/]``.

    11 classes (Sky .. Bicyclist); raw value 11 (Unlabelled) becomes ignore.  A split
    without an ``<split>annot`` folder is read without labels (for prediction).
    """
    root = Path(root)
    if split not in ("train", "val", "test", "trainval"):
        raise InputError(f"CamVid split must be train, val, test or trainval, got {split!r}")
    splits = ("train", "val") if split == "trainval" else (split,)
    items = []
    for s in splits:
        ann = root / f"{s}annot"
        items += _pair_by_stem(root / s, ann if ann.is_dir() else None)
    return SegmentationDataset(items, 11, CAMVID_CLASSES, _lut(identity_below=11, ignore=(11, IGNORE)),
                               name="camvid")


def ade20k(root: str | Path, split: str = "training", *, class_names: Sequence[str] | None = None) -> SegmentationDataset:
    """ADE20K SceneParsing (``ADEChallengeData2016``): ``images/<split>/*.jpg``, ``annotations/<split>/*.png``.

    ``reduce_zero_label``: raw 0 (other) becomes ignore and raw ``k`` becomes ``k - 1``
    (150 classes); predictions are written back in the 1..150 convention
    (``pred_offset = 1``).  ``split`` is ``training`` or ``validation`` (``train``/``val`` accepted).
    """
    root = Path(root)
    split = {"train": "training", "val": "validation"}.get(split, split)
    ann = root / "annotations" / split
    items = _pair_by_stem(root / "images" / split, ann if ann.is_dir() else None)
    lut = _lut({k: k - 1 for k in range(1, 151)}, ignore=(0,))
    names = tuple(class_names) if class_names else tuple(f"class_{i}" for i in range(1, 151))
    return SegmentationDataset(items, 150, names, lut, name="ade20k", pred_offset=1)


def cityscapes(root: str | Path, split: str = "train") -> SegmentationDataset:
    """Cityscapes: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` + ``gtFine/.../*_gtFine_labelIds.png``.

    labelIds 0..33 are mapped to the 19 trainIds, the other ids among 0..33 become
    ignore; values above 33 are an error.  Predictions
    are written as trainIds.
    """
    root = Path(root)
    gt = root / "gtFine" / split
    items = _pair_by_stem(root / "leftImg8bit" / split, gt if gt.is_dir() else None,
                          image_suffix="_leftImg8bit", label_suffix="_gtFine_labelIds", recursive=True)
    return SegmentationDataset(items, 19, CITYSCAPES_CLASSES, _lut(CITYSCAPES_TRAIN_IDS, ignore=range(34)),
                              name="cityscapes")


def folder(images: str | Path, labels: str | Path | None, num_classes: int, *,
           ignore_index: int = IGNORE, class_names: Sequence[str] | None = None) -> SegmentationDataset:
    """Generic ``images/`` + ``labels/`` folders paired by file stem; label values are training ids.

    Raw ``ignore_index`` and 255 mean ignore; any other value outside ``[0, K)`` is an error.
    """
    if not 1 <= num_classes <= 255:
        raise InputError(f"num_classes must be in 1..255 for 8-bit label maps, got {num_classes}")
    lut = _lut(identity_below=num_classes, ignore={IGNORE, ignore_index} & set(range(256)))
    items = _pair_by_stem(Path(images), Path(labels) if labels is not None else None)
    names = tuple(class_names) if class_names else tuple(f"class_{i}" for i in range(num_classes))
    return SegmentationDataset(items, num_classes, names, lut, name="folder")


class CocoPanopticSemantic(SegmentationDataset):
    """COCO panoptic turned into a 133-class semantic map on the fly.

    Categories sorted by id map to contiguous ids ``0..K-1``; void (segment id 0),
    crowd segments and segments missing from the JSON become ignore.
    """

    def __init__(self, image_dir: Path, panoptic_json: Path, panoptic_dir: Path) -> None:
        try:
            data = json.loads(Path(panoptic_json).read_text())
        except FileNotFoundError as exc:
            raise DataFileError(f"panoptic JSON not found: {panoptic_json}") from exc
        except json.JSONDecodeError as exc:
            raise FormatError(f"{panoptic_json} is not valid JSON: {exc}") from exc
        for key in ("annotations", "categories"):
            if key not in data:
                raise FormatError(f"{panoptic_json} has no {key!r} list")
        cats = sorted(data["categories"], key=lambda c: c["id"])
        self.categories = cats
        self.cat_to_train = {c["id"]: i for i, c in enumerate(cats)}
        self.thing_train_ids = {i for i, c in enumerate(cats) if c.get("isthing")}
        self.segments = {}
        items = []
        files = {Path(im["file_name"]).stem: im["file_name"] for im in data.get("images", [])}
        for ann in data["annotations"]:
            stem = Path(ann["file_name"]).stem
            img_name = files.get(stem, stem + ".jpg")
            self.segments[stem] = ann["segments_info"]
            items.append((stem, Path(image_dir) / img_name, Path(panoptic_dir) / ann["file_name"]))
        super().__init__(items, len(cats), tuple(c["name"] for c in cats), None, name="coco-panoptic")

    def load(self, index: int):
        image_id, img_path, lab_path = self.items[index]
        image = read_rgb(img_path)
        ids = rgb2id(read_rgb(lab_path))
        label = np.full(ids.shape, IGNORE, dtype=np.uint8)
        for seg in self.segments[image_id]:
            cat = seg["category_id"]
            if cat not in self.cat_to_train:
                raise FormatError(f"{lab_path}: segment {seg['id']} has category_id {cat} not in the categories")
            if seg.get("iscrowd", 0):
                continue
            label[ids == seg["id"]] = self.cat_to_train[cat]
        if label.shape != image.shape[:2]:
            raise FormatError(f"{lab_path}: panoptic size {label.shape[::-1]} differs from image {img_path}")
        return image, label, image_id


def coco_panoptic(root: str | Path, split: str = "train2017") -> CocoPanopticSemantic:
    """COCO panoptic layout: ``<split>/*.jpg``, ``annotations/panoptic_<split>.json`` and ``annotations/panoptic_<split>/*.png``."""
    root = Path(root)
    split = {"train": "train2017", "val": "val2017"}.get(split, split)
    return CocoPanopticSemantic(root / split, root / "annotations" / f"panoptic_{split}.json",
                                root / "annotations" / f"panoptic_{split}")


# ---------------------------------------------------------------- generated shapes
SHAPE_COLORS = np.array([[40, 40, 40], [220, 60, 60], [60, 200, 60], [60, 90, 230], [230, 200, 50],
                         [200, 80, 220], [70, 210, 210], [250, 140, 40]], dtype=np.float64)


def generate_shapes(n: int, size: tuple[int, int] = (64, 64), num_classes: int = 4, *, seed: int = 0,
                    noise: float = 12.0, ignore_border: bool = True):
    """Generate ``n`` images of coloured rectangles and discs on a dark background.

    Class 0 is the background; classes ``1..K-1`` are shapes, each with its own
    colour (plus Gaussian noise) and shape kind (odd: disc, even: rectangle).  With
    ``ignore_border`` a 1-pixel ring around every shape is ``IGNORE``.

    Returns
    -------
    list of (image uint8 (H, W, 3), label uint8 (H, W), image_id)
    """
    if not 2 <= num_classes <= len(SHAPE_COLORS):
        raise InputError(f"num_classes must be in 2..{len(SHAPE_COLORS)}, got {num_classes}")
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    out = []
    for i in range(n):
        label = np.zeros((h, w), dtype=np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            c = int(rng.integers(1, num_classes))
            r = int(rng.integers(min(h, w) // 8, min(h, w) // 3 + 1))
            cy, cx = int(rng.integers(r, h - r + 1)), int(rng.integers(r, w - r + 1))
            if c % 2:
                inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
                ring = ((yy - cy) ** 2 + (xx - cx) ** 2 <= (r + 1) ** 2) & ~inside
            else:
                inside = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
                ring = (abs(yy - cy) <= r + 1) & (abs(xx - cx) <= r + 1) & ~inside
            label[inside] = c
            if ignore_border:
                label[ring] = IGNORE
        colour = SHAPE_COLORS[np.where(label == IGNORE, 0, label)]
        image = np.clip(colour + rng.normal(0, noise, colour.shape), 0, 255).astype(np.uint8)
        out.append((image, label, f"shape_{i:04d}"))
    return out


class ShapesDataset(SegmentationDataset):
    """The generated shapes held in memory (see :func:`generate_shapes`)."""

    def __init__(self, n: int = 32, size: tuple[int, int] = (64, 64), num_classes: int = 4, *, seed: int = 0) -> None:
        self.samples = generate_shapes(n, size, num_classes, seed=seed)
        items = [(sid, Path(f"<memory>/{sid}"), Path(f"<memory>/{sid}")) for _, _, sid in self.samples]
        super().__init__(items, num_classes, tuple(f"shape_{c}" for c in range(num_classes)), None, name="shapes")

    def load(self, index: int):
        image, label, sid = self.samples[index]
        return image, label, sid


def write_shapes(root: str | Path, n: int = 16, size: tuple[int, int] = (64, 64), num_classes: int = 4,
                 *, seed: int = 0) -> Path:
    """Write generated shapes to ``root/images/*.png`` and ``root/labels/*.png`` (255 = ignore)."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for image, label, sid in generate_shapes(n, size, num_classes, seed=seed):
        Image.fromarray(image).save(root / "images" / f"{sid}.png")
        Image.fromarray(label).save(root / "labels" / f"{sid}.png")
    return root


class MemoryDataset(SegmentationDataset):
    """Every image and label of a dataset decoded once and held in memory (see :func:`preload`)."""

    def __init__(self, source: SegmentationDataset, images: list[np.ndarray], labels: list[np.ndarray | None]) -> None:
        super().__init__(list(source.items), source.num_classes, tuple(source.class_names), None, name=source.name,
                         ignore_index=source.ignore_index, pred_offset=source.pred_offset)
        for attr in ("categories", "thing_train_ids"):
            if hasattr(source, attr):
                setattr(self, attr, getattr(source, attr))
        self.images, self.labels = images, labels

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.images) + sum(a.nbytes for a in self.labels if a is not None)

    def load(self, index: int):
        return self.images[index], self.labels[index], self.items[index][0]


def preload(dataset: SegmentationDataset, *, max_bytes: int = 8 << 30) -> MemoryDataset:
    """Decode every image and label of ``dataset`` once and keep them in memory.

    Training then reads arrays instead of decoding PNG/JPEG files at every step
    (CamVid's 367 training images take 254 MB).  Raw label values are mapped and
    checked here, once.

    Raises
    ------
    InputError
        When the decoded dataset would exceed ``max_bytes`` (estimated from the
        first image; checked again as images are decoded): train with
        ``--no-preload`` instead.
    """
    if isinstance(dataset, MemoryDataset):
        return dataset
    images, labels = [], []
    total = 0
    for i in range(len(dataset)):
        image, label, image_id = dataset.load(i)
        total += image.nbytes + (0 if label is None else label.nbytes)
        if i == 0 and total * len(dataset) > max_bytes or total > max_bytes:
            need = max(total * len(dataset) // (i + 1), total)
            raise InputError(f"preloading {len(dataset)} images of {dataset.name!r} needs about {need / 2**30:.1f} GiB "
                             f"(limit {max_bytes / 2**30:.1f} GiB); train with --no-preload")
        images.append(np.ascontiguousarray(image))
        labels.append(label)
    return MemoryDataset(dataset, images, labels)


def class_pixel_counts(dataset: SegmentationDataset) -> tuple[np.ndarray, np.ndarray]:
    """Per-class pixel counts and the pixel counts of the images in which each class occurs.

    Returns
    -------
    class_pixels, image_pixels : (K,) int64 arrays
        ``class_pixels[c]`` = labelled pixels of class ``c`` over the dataset;
        ``image_pixels[c]`` = all non-ignored pixels of the images that contain ``c``
        (the denominator of median frequency balancing).
    """
    k = dataset.num_classes
    class_pixels = np.zeros(k, np.int64)
    image_pixels = np.zeros(k, np.int64)
    for i in range(len(dataset)):
        _, label, image_id = dataset.load(i)
        if label is None:
            raise DataFileError(f"image {image_id} of {dataset.name!r} has no label file")
        counts = np.bincount(label.ravel(), minlength=256)[:k].astype(np.int64)
        class_pixels += counts
        image_pixels[counts > 0] += counts.sum()
    return class_pixels, image_pixels


DATASETS = ("camvid", "ade20k", "cityscapes", "coco-panoptic", "folder", "shapes")


def build_dataset(name: str, root: str | Path | None, split: str, *, num_classes: int | None = None,
                  ignore_index: int = IGNORE, seed: int = 0) -> SegmentationDataset:
    """Build a dataset by name (``camvid``, ``ade20k``, ``cityscapes``, ``coco-panoptic``, ``folder``, ``shapes``).

    ``folder`` expects ``root/images`` and ``root/labels`` for the split ``train``
    and ``root/<split>/images``, ``root/<split>/labels`` otherwise when present.
    ``shapes`` generates images (train: 64 images, seed ``seed``; other splits: 16, seed ``seed + 1``).
    """
    if name == "shapes":
        k = num_classes or 4
        return ShapesDataset(64 if split == "train" else 16, (64, 64), k, seed=seed if split == "train" else seed + 1)
    if root is None:
        raise InputError(f"dataset {name!r} needs a data root")
    if name == "camvid":
        return camvid(root, split)
    if name == "ade20k":
        return ade20k(root, split)
    if name == "cityscapes":
        return cityscapes(root, split)
    if name == "coco-panoptic":
        return coco_panoptic(root, split)
    if name == "folder":
        if num_classes is None:
            raise InputError("the folder dataset needs num_classes")
        base = Path(root) / split if (Path(root) / split / "images").is_dir() else Path(root)
        labels = base / "labels"
        return folder(base / "images", labels if labels.is_dir() else None, num_classes, ignore_index=ignore_index)
    raise InputError(f"unknown dataset {name!r}; choose one of {DATASETS}")
