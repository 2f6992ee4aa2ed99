"""Dataset presets: classes, names, ignore index, label maps, things and stuff.

A preset is plain data (:class:`Preset`); the folder API
(:func:`segmetrics.evaluate_semantic_folders`, ``preset=``) and the CLI
(``--preset NAME``) apply one the same way, and every field can be overridden
by an argument or flag.  No preset fixes how predictions are written: the
``pred_labels`` rule of :mod:`segmetrics.labels` decides that, the same way
for every preset.  Presets never
change a number behind the user's back: each rule they set (ignore index,
``reduce_zero_label``, the label map) is listed in the JSON report's ``params``.

Notes
-----
* ``ade20k``: ADEChallengeData2016 (SceneParsing) annotations store 0 for
  "other" and 1..150 for the classes.  ``reduce_zero_label`` maps GT 0 -> ignore
  and k -> k - 1, giving 150 classes indexed 0..149.
* ``cityscapes``: ``*_gtFine_labelIds.png`` store the 34 label ids; the map
  :data:`CITYSCAPES_LABELID_TO_TRAINID` turns them into the 19 train ids and every
  other id into 255 (ignored).  Predictions in train ids (0..18) or in label
  ids are told apart by the ``pred_labels`` rule.
* ``camvid``: the SegNet version (11 classes, value 11 = "Unlabelled" is ignored).
* ``coco-panoptic`` and ``ade20k-panoptic`` take their categories from the GT
  JSON; the preset only checks the expected layout and fills documentation.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

from .errors import InputError

__all__ = [
    "Preset",
    "PRESETS",
    "get_preset",
    "ADE20K_CLASSES",
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_LABELID_TO_TRAINID",
    "CITYSCAPES_THING_CLASSES",
    "CAMVID_CLASSES",
]

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
    dilation_ratio : float or None
        Boundary IoU / Boundary PQ band width (``--boundary``) as a fraction of the
        image diagonal; None: the package default, 0.02, the paper's value for COCO
        and LVIS.  Cityscapes: 0.005, the paper's value for its 2048 x 1024 images
        (Cheng et al., CVPR 2021).
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
    dilation_ratio: Optional[float] = None

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
            dilation_ratio=0.005,
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
