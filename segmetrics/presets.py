"""Dataset presets: classes, names, ignore index, label maps, things and stuff.

A preset is plain data (:class:`Preset`); the CLI applies one with
``--preset NAME`` and every field can be overridden by a flag.  Presets never
change a number behind the user's back: each rule they set (ignore index,
``reduce_zero_label``, the label map) is listed in the JSON report's ``params``.

Notes
-----
* ``ade20k``: ADEChallengeData2016 (SceneParsing) annotations store 0 for
  "other" and 1..150 for the classes.  ``reduce_zero_label`` maps GT 0 -> ignore
  and k -> k - 1, giving 150 classes indexed 0..149.
* ``cityscapes``: ``*_gtFine_labelIds.png`` store the 34 label ids; the map
  :data:`CITYSCAPES_LABELID_TO_TRAINID` turns them into the 19 train ids and every
  other id into 255 (ignored).  Predictions are expected in train ids (0..18)
  unless a prediction label map is given.
* ``camvid``: the SegNet version (11 classes, value 11 = "Unlabelled" is ignored).
* ``coco-panoptic`` and ``ade20k-panoptic`` take their categories from the GT
  JSON; the preset only checks the expected layout and fills documentation.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from .errors import DataFileError, FormatError, InputError

__all__ = [
    "Preset",
    "PRESETS",
    "get_preset",
    "ADE20K_CLASSES",
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_LABELID_TO_TRAINID",
    "CITYSCAPES_THING_CLASSES",
    "CAMVID_CLASSES",
    "load_label_map",
    "load_class_names",
    "label_map_lut",
    "LABEL_MAP_FORMAT",
    "CLASS_NAMES_FORMAT",
]

LABEL_MAP_FORMAT = """\
Label-map file (--label-map, --pred-label-map): raw value -> class index.
Either JSON, an object {"7": 0, "8": 1, "*": 255}, or text with one
"RAW CLASS" pair per line (separated by spaces, a comma, ':' or '->';
'#' starts a comment).  The key "*" sets the class of every raw value not
listed; without it unlisted values become the ignore index.  A class equal
to the ignore index means "not scored"."""

CLASS_NAMES_FORMAT = """\
Class-names file (--class-names): UTF-8 text, one name per line in class
index order; blank lines and lines starting with '#' are skipped.  Without
--num-classes the number of names sets the number of classes."""

#: The 150 ADE20K SceneParsing classes, index = label - 1 in the annotation PNGs.
ADE20K_CLASSES: tuple[str, ...] = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane",
    "grass", "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant",
    "curtain", "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea",
    "mirror", "rug", "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe",
    "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
    "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table",
    "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind",
    "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine",
    "hovel", "bus", "towel", "light", "truck", "tower", "chandelier", "awning",
    "streetlight", "booth", "television receiver", "airplane", "dirt track", "apparel",
    "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike",
    "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave", "pot",
    "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen",
    "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)

#: The 19 Cityscapes evaluation classes, index = train id.
CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
    "bus", "train", "motorcycle", "bicycle",
)

#: Cityscapes label id -> train id for the ids that are evaluated; every other id
#: (0-6 unlabeled/ego vehicle/rectification border/out of roi/static/dynamic/ground,
#: 9 parking, 10 rail track, 14 guard rail, 15 bridge, 16 tunnel, 18 polegroup,
#: 29 caravan, 30 trailer, license plate) maps to 255.
CITYSCAPES_LABELID_TO_TRAINID: dict[int, int] = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
    24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}

#: Cityscapes train ids of the "thing" classes (person .. bicycle).
CITYSCAPES_THING_CLASSES: tuple[int, ...] = (11, 12, 13, 14, 15, 16, 17, 18)

#: CamVid as resampled by SegNet; value 11 ("Unlabelled") is ignored.
CAMVID_CLASSES: tuple[str, ...] = (
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
    "Pedestrian", "Bicyclist",
)


@dataclass(frozen=True)
class Preset:
    """Everything a dataset layout fixes about an evaluation.

    Attributes
    ----------
    name : str
        The preset's ``--preset`` name.
    task : {"semantic", "panoptic"}
        Which evaluation the preset is for.
    description : str
        One line shown in ``segmetrics eval --help``.
    num_classes : int or None
        Number of evaluated classes (None for panoptic presets: from the JSON).
    class_names : tuple of str or None
        Names by class index.
    ignore_index : int
        GT value (after the label map) that is not scored.
    reduce_zero_label : bool
        ADE20K rule: GT 0 -> ignore, k -> k - 1 (applied before any label map).
    label_map : dict or None
        Raw GT value -> class index; values not listed map to ``ignore_index``.
    thing_classes : tuple of int
        Class indices (semantic) or category ids that are "things".
    gt_suffix : str
        Only GT files whose stem ends with this are used; it is stripped to pair.
    pred_suffixes : tuple of str
        Optional stem endings stripped from prediction files before pairing.
    expected_num_categories : int or None
        Panoptic presets: the number of categories the GT JSON should hold.
    """

    name: str
    task: str
    description: str
    num_classes: Optional[int] = None
    class_names: Optional[tuple[str, ...]] = None
    ignore_index: int = 255
    reduce_zero_label: bool = False
    label_map: Optional[dict[int, int]] = None
    thing_classes: tuple[int, ...] = ()
    gt_suffix: str = ""
    pred_suffixes: tuple[str, ...] = field(default_factory=tuple)
    expected_num_categories: Optional[int] = None

    def with_overrides(self, **changes) -> "Preset":
        """Return a copy with the fields in ``changes`` that are not None replaced."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="ade20k",
            task="semantic",
            description="ADEChallengeData2016 annotations (0 = other, 1..150); reduce_zero_label, 150 classes",
            num_classes=150,
            class_names=ADE20K_CLASSES,
            ignore_index=255,
            reduce_zero_label=True,
        ),
        Preset(
            name="cityscapes",
            task="semantic",
            description="gtFine *_gtFine_labelIds.png mapped to the 19 train ids; predictions in train ids",
            num_classes=19,
            class_names=CITYSCAPES_CLASSES,
            ignore_index=255,
            label_map=dict(CITYSCAPES_LABELID_TO_TRAINID),
            thing_classes=CITYSCAPES_THING_CLASSES,
            gt_suffix="_gtFine_labelIds",
            pred_suffixes=("_gtFine_labelIds", "_gtFine_labelTrainIds", "_leftImg8bit", "_pred"),
        ),
        Preset(
            name="camvid",
            task="semantic",
            description="SegNet CamVid (11 classes; 11 = Unlabelled is ignored)",
            num_classes=11,
            class_names=CAMVID_CLASSES,
            ignore_index=11,
        ),
        Preset(
            name="coco-panoptic",
            task="panoptic",
            description="COCO panoptic JSON + PNG folder (categories from the GT JSON; 133 for COCO 2017)",
        ),
        Preset(
            name="ade20k-panoptic",
            task="panoptic",
            description="ADE20K panoptic in the Mask2Former layout (150 categories 0..149, 100 things, string image ids, no crowd)",
            expected_num_categories=150,
        ),
    )
}


def get_preset(name: str) -> Preset:
    """Return the preset called ``name``.

    Raises
    ------
    InputError
        When no preset has that name (the message lists the known ones).
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(
            f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}"
        ) from None


def _parse_int(text, path, lineno) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise FormatError(f"{path}:{lineno}: {text!r} is not an integer") from None
    return value


def load_label_map(path) -> dict:
    """Read a label-map file (format: :data:`LABEL_MAP_FORMAT`).

    Returns
    -------
    dict
        Raw value (int) -> class index (int); the default for unlisted values,
        when the file gives one, is under the key ``"*"``.

    Raises
    ------
    DataFileError
        The file cannot be read.
    FormatError
        A line or entry is not a pair of integers, a raw value is negative or
        listed twice.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"cannot read label map {path}: {exc.strerror or exc}") from None
    out: dict = {}
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path}: invalid JSON label map: {exc}") from None
        items = [(k, v, 1) for k, v in data.items()]
    else:
        items = []
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            for sep in ("->", ":", ","):
                line = line.replace(sep, " ")
            parts = line.split()
            if len(parts) != 2:
                raise FormatError(
                    f"{path}:{lineno}: expected 'RAW CLASS', got {line!r}"
                )
            items.append((parts[0], parts[1], lineno))
    for raw, cls, lineno in items:
        if cls is None:
            raise FormatError(f"{path}: entry {raw!r} has no class (use the ignore index)")
        cls = _parse_int(cls, path, lineno)
        if str(raw).strip() == "*":
            key = "*"
        else:
            key = _parse_int(raw, path, lineno)
            if key < 0:
                raise FormatError(f"{path}:{lineno}: raw value {key} is negative")
        if key in out:
            raise FormatError(f"{path}:{lineno}: raw value {raw} is listed twice")
        if cls < 0:
            raise FormatError(f"{path}:{lineno}: class {cls} for raw value {raw} is negative")
        out[key] = cls
    if not [k for k in out if k != "*"]:
        raise FormatError(f"{path}: the label map is empty")
    return out


def load_class_names(path) -> tuple[str, ...]:
    """Read a class-names file (format: :data:`CLASS_NAMES_FORMAT`).

    Raises
    ------
    DataFileError
        The file cannot be read.
    FormatError
        It holds no name, or a name twice.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataFileError(f"cannot read class names {path}: {exc.strerror or exc}") from None
    names = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not names:
        raise FormatError(f"{path}: no class names (one per line expected)")
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            raise FormatError(f"{path}: class name {n!r} appears twice (classes {seen[n]} and {i})")
        seen[n] = i
    return tuple(names)


def label_map_lut(
    mapping: Mapping,
    *,
    num_classes: int,
    ignore_index: int,
    reduce_zero_label: bool = False,
) -> np.ndarray:
    """Turn a raw -> class mapping into a lookup table (int64 array, index = raw value).

    Parameters
    ----------
    mapping : mapping
        As returned by :func:`load_label_map` (optional ``"*"`` default), or None
        for the identity.
    num_classes, ignore_index : int
        Classes must lie in ``[0, num_classes)`` or equal ``ignore_index``.
    reduce_zero_label : bool
        Apply the ADE20K rule first (raw 0 -> ignore, raw r -> ``mapping[r - 1]``).

    Returns
    -------
    numpy.ndarray
        With a mapping: length 256, or 65536 when a raw value above 255 is
        listed (every entry is a class or the ignore index).  Without one (the
        identity, possibly shifted): length ``num_classes + reduce_zero_label``,
        so raw values beyond the classes stay errors in the evaluator.

    Notes
    -----
    ``lut[v]`` is ``mapping[v']`` with ``v' = v - 1`` under ``reduce_zero_label``
    (``v = 0`` is ignored) and ``v' = v`` otherwise; values not listed take
    ``mapping["*"]`` when given, else ``ignore_index``.
    """
    mapping = dict(mapping) if mapping is not None else None
    default = ignore_index
    if mapping is not None:
        default = mapping.pop("*", ignore_index)
        for raw, cls in mapping.items():
            if cls != ignore_index and not 0 <= cls < num_classes:
                raise InputError(
                    f"label map sends raw value {raw} to class {cls}, outside [0, {num_classes}) "
                    f"and not the ignore index {ignore_index}"
                )
        if default != ignore_index and not 0 <= default < num_classes:
            raise InputError(f"label map default class {default} is outside [0, {num_classes})")
    if mapping is None:
        size = num_classes + int(reduce_zero_label)
    else:
        top = max(mapping) if mapping else 0
        if top + int(reduce_zero_label) >= 65536:
            raise InputError(f"label map raw value {top} does not fit a 16-bit label PNG")
        size = 256 if top + int(reduce_zero_label) < 256 else 65536
    raw = np.arange(size, dtype=np.int64)
    src = raw - 1 if reduce_zero_label else raw
    if mapping is None:
        lut = src.copy()
    else:
        lut = np.full(size, default, dtype=np.int64)
        for r, cls in mapping.items():
            lut[src == r] = cls
    if reduce_zero_label:
        lut[0] = ignore_index
    return lut
