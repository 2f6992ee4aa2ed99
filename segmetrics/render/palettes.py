"""Colours: a fixed colour-blind-safe class palette, the datasets' own palettes, colour scales.

Every colour is an ``(R, G, B)`` triple of ints in ``0..255``; arrays of colours
are ``(n, 3) uint8``.  Nothing here draws; :mod:`.overlays`, :mod:`.html` and
:mod:`.plots` take their colours from this module only, so the HTML report and the
matplotlib figures agree.

Sources
-------
* Class palette: Paul Tol's "muted" qualitative scheme (nine colours designed to
  stay distinct under the common forms of colour blindness and in grey print),
  from P. Tol, *Colour Schemes*, SRON technical note SRON/EPS/TN/09-002, issue 3.2
  (2021).  With more classes than colours the scheme repeats in a darker, then a
  lighter variant (27 colours), then repeats; no categorical palette stays
  colour-blind safe beyond about ten classes, so every figure also names the
  classes (legends, axis labels, tooltips).
* Status colours (correct / wrong / FP / FN / matched): the Okabe-Ito palette
  (M. Okabe and K. Ito, *Color Universal Design*, 2002; also in B. Wong, "Points
  of view: Color blindness", Nature Methods 8, 441, 2011).
* Sequential scale (heatmaps): ColorBrewer "YlOrBr" (9 classes, C. Brewer,
  colorbrewer2.org), listed by Tol as colour-blind safe; values between the nine
  anchors are interpolated linearly in sRGB.
* Dataset palettes, written as data from their official definitions:
  Cityscapes, the ``color`` column of ``labels.py`` in cityscapesScripts for the 19
  train ids; ADE20K, ``visualizationCode/color150.mat`` of the SceneParsing
  development kit (CSAILVision/sceneparsing) for the 150 classes; COCO panoptic,
  the ``color`` field of ``panoptic_coco_categories.json`` in panopticapi for the
  133 categories, keyed by category id.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

__all__ = [
    "TOL_MUTED",
    "OKABE_ITO",
    "STATUS_COLORS",
    "SEQUENTIAL_ANCHORS",
    "CITYSCAPES_COLORS",
    "ADE20K_COLORS",
    "COCO_PANOPTIC_COLORS",
    "fixed_palette",
    "class_colors",
    "LOG_FLOOR",
    "scale_values",
    "sequential",
    "heat_colors",
    "to_hex",
]

#: Paul Tol's "muted" qualitative scheme (rose, indigo, sand, green, cyan, wine, teal, olive, purple).
TOL_MUTED: tuple[tuple[int, int, int], ...] = (
    (0xCC, 0x66, 0x77), (0x33, 0x22, 0x88), (0xDD, 0xCC, 0x77), (0x11, 0x77, 0x33), (0x88, 0xCC, 0xEE),
    (0x88, 0x22, 0x55), (0x44, 0xAA, 0x99), (0x99, 0x99, 0x33), (0xAA, 0x44, 0x99),
)

#: The Okabe-Ito palette by name.
OKABE_ITO: dict[str, tuple[int, int, int]] = {
    "orange": (0xE6, 0x9F, 0x00),
    "sky blue": (0x56, 0xB4, 0xE9),
    "bluish green": (0x00, 0x9E, 0x73),
    "yellow": (0xF0, 0xE4, 0x42),
    "blue": (0x00, 0x72, 0xB2),
    "vermillion": (0xD5, 0x5E, 0x00),
    "reddish purple": (0xCC, 0x79, 0xA7),
    "black": (0x00, 0x00, 0x00),
}

#: Colours of the error maps and segment marks (legends use the same names).
STATUS_COLORS: dict[str, tuple[int, int, int]] = {
    "correct": (0xE4, 0xE4, 0xE4),
    "wrong": OKABE_ITO["vermillion"],
    "ignored": (0xFF, 0xFF, 0xFF),
    "ignored_alt": (0xB8, 0xB8, 0xB8),
    "matched": OKABE_ITO["bluish green"],
    "matched_fill": (0x99, 0xD8, 0xC7),  # bluish green 40 % over white: matched areas stay quiet
    "fp": OKABE_ITO["vermillion"],
    "fn": OKABE_ITO["blue"],
    "not scored": (0x99, 0x99, 0x99),
    "outline": (0x00, 0x00, 0x00),
    "missing": (0xDD, 0xDD, 0xDD),
}

#: ColorBrewer YlOrBr, 9 classes, light to dark.
SEQUENTIAL_ANCHORS: tuple[tuple[int, int, int], ...] = (
    (0xFF, 0xFF, 0xE5), (0xFF, 0xF7, 0xBC), (0xFE, 0xE3, 0x91), (0xFE, 0xC4, 0x4F), (0xFB, 0x9A, 0x29),
    (0xEC, 0x70, 0x14), (0xCC, 0x4C, 0x02), (0x99, 0x34, 0x04), (0x66, 0x25, 0x06),
)

#: Cityscapes, by train id 0..18 (cityscapesScripts ``labels.py``).
CITYSCAPES_COLORS: tuple[tuple[int, int, int], ...] = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)

#: ADE20K SceneParsing, by class index 0..149 (= annotation value - 1; ``color150.mat``).
ADE20K_COLORS: tuple[tuple[int, int, int], ...] = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80),
    (140, 140, 140), (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7),
    (150, 5, 61), (120, 120, 70), (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4),
    (255, 51, 7), (204, 70, 3), (0, 102, 200), (61, 230, 250), (255, 6, 51), (11, 102, 255),
    (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220), (255, 9, 92), (112, 9, 255),
    (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10), (7, 255, 255),
    (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255),
    (140, 140, 140), (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0),
    (153, 255, 0), (0, 0, 255), (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255),
    (11, 200, 200), (255, 82, 0), (0, 255, 245), (0, 61, 255), (0, 255, 112), (0, 255, 133),
    (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0), (0, 143, 255), (51, 255, 0),
    (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0), (0, 255, 153),
    (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194),
    (0, 255, 82), (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255),
    (0, 255, 163), (255, 153, 0), (0, 255, 10), (255, 112, 0), (143, 255, 0), (82, 0, 255),
    (163, 255, 0), (255, 235, 0), (8, 184, 170), (133, 0, 255), (0, 255, 92), (184, 0, 255),
    (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112), (92, 255, 0), (0, 224, 255),
    (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0), (255, 0, 163),
    (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235), (245, 0, 255),
    (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0), (0, 204, 255), (20, 0, 255),
    (255, 255, 0), (0, 153, 255), (0, 41, 255), (0, 255, 204), (41, 0, 255), (41, 255, 0),
    (173, 0, 255), (0, 245, 255), (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255),
    (184, 255, 0), (0, 133, 255), (255, 214, 0), (25, 194, 194), (102, 255, 0), (92, 0, 255),
)

#: COCO panoptic, category id -> (name, colour) (panopticapi ``panoptic_coco_categories.json``).
COCO_PANOPTIC_COLORS: dict[int, tuple[str, tuple[int, int, int]]] = {
    1: ('person', (220, 20, 60)),
    2: ('bicycle', (119, 11, 32)),
    3: ('car', (0, 0, 142)),
    4: ('motorcycle', (0, 0, 230)),
    5: ('airplane', (106, 0, 228)),
    6: ('bus', (0, 60, 100)),
    7: ('train', (0, 80, 100)),
    8: ('truck', (0, 0, 70)),
    9: ('boat', (0, 0, 192)),
    10: ('traffic light', (250, 170, 30)),
    11: ('fire hydrant', (100, 170, 30)),
    13: ('stop sign', (220, 220, 0)),
    14: ('parking meter', (175, 116, 175)),
    15: ('bench', (250, 0, 30)),
    16: ('bird', (165, 42, 42)),
    17: ('cat', (255, 77, 255)),
    18: ('dog', (0, 226, 252)),
    19: ('horse', (182, 182, 255)),
    20: ('sheep', (0, 82, 0)),
    21: ('cow', (120, 166, 157)),
    22: ('elephant', (110, 76, 0)),
    23: ('bear', (174, 57, 255)),
    24: ('zebra', (199, 100, 0)),
    25: ('giraffe', (72, 0, 118)),
    27: ('backpack', (255, 179, 240)),
    28: ('umbrella', (0, 125, 92)),
    31: ('handbag', (209, 0, 151)),
    32: ('tie', (188, 208, 182)),
    33: ('suitcase', (0, 220, 176)),
    34: ('frisbee', (255, 99, 164)),
    35: ('skis', (92, 0, 73)),
    36: ('snowboard', (133, 129, 255)),
    37: ('sports ball', (78, 180, 255)),
    38: ('kite', (0, 228, 0)),
    39: ('baseball bat', (174, 255, 243)),
    40: ('baseball glove', (45, 89, 255)),
    41: ('skateboard', (134, 134, 103)),
    42: ('surfboard', (145, 148, 174)),
    43: ('tennis racket', (255, 208, 186)),
    44: ('bottle', (197, 226, 255)),
    46: ('wine glass', (171, 134, 1)),
    47: ('cup', (109, 63, 54)),
    48: ('fork', (207, 138, 255)),
    49: ('knife', (151, 0, 95)),
    50: ('spoon', (9, 80, 61)),
    51: ('bowl', (84, 105, 51)),
    52: ('banana', (74, 65, 105)),
    53: ('apple', (166, 196, 102)),
    54: ('sandwich', (208, 195, 210)),
    55: ('orange', (255, 109, 65)),
    56: ('broccoli', (0, 143, 149)),
    57: ('carrot', (179, 0, 194)),
    58: ('hot dog', (209, 99, 106)),
    59: ('pizza', (5, 121, 0)),
    60: ('donut', (227, 255, 205)),
    61: ('cake', (147, 186, 208)),
    62: ('chair', (153, 69, 1)),
    63: ('couch', (3, 95, 161)),
    64: ('potted plant', (163, 255, 0)),
    65: ('bed', (119, 0, 170)),
    67: ('dining table', (0, 182, 199)),
    70: ('toilet', (0, 165, 120)),
    72: ('tv', (183, 130, 88)),
    73: ('laptop', (95, 32, 0)),
    74: ('mouse', (130, 114, 135)),
    75: ('remote', (110, 129, 133)),
    76: ('keyboard', (166, 74, 118)),
    77: ('cell phone', (219, 142, 185)),
    78: ('microwave', (79, 210, 114)),
    79: ('oven', (178, 90, 62)),
    80: ('toaster', (65, 70, 15)),
    81: ('sink', (127, 167, 115)),
    82: ('refrigerator', (59, 105, 106)),
    84: ('book', (142, 108, 45)),
    85: ('clock', (196, 172, 0)),
    86: ('vase', (95, 54, 80)),
    87: ('scissors', (128, 76, 255)),
    88: ('teddy bear', (201, 57, 1)),
    89: ('hair drier', (246, 0, 122)),
    90: ('toothbrush', (191, 162, 208)),
    92: ('banner', (255, 255, 128)),
    93: ('blanket', (147, 211, 203)),
    95: ('bridge', (150, 100, 100)),
    100: ('cardboard', (168, 171, 172)),
    107: ('counter', (146, 112, 198)),
    109: ('curtain', (210, 170, 100)),
    112: ('door-stuff', (92, 136, 89)),
    118: ('floor-wood', (218, 88, 184)),
    119: ('flower', (241, 129, 0)),
    122: ('fruit', (217, 17, 255)),
    125: ('gravel', (124, 74, 181)),
    128: ('house', (70, 70, 70)),
    130: ('light', (255, 228, 255)),
    133: ('mirror-stuff', (154, 208, 0)),
    138: ('net', (193, 0, 92)),
    141: ('pillow', (76, 91, 113)),
    144: ('platform', (255, 180, 195)),
    145: ('playingfield', (106, 154, 176)),
    147: ('railroad', (230, 150, 140)),
    148: ('river', (60, 143, 255)),
    149: ('road', (128, 64, 128)),
    151: ('roof', (92, 82, 55)),
    154: ('sand', (254, 212, 124)),
    155: ('sea', (73, 77, 174)),
    156: ('shelf', (255, 160, 98)),
    159: ('snow', (255, 255, 255)),
    161: ('stairs', (104, 84, 109)),
    166: ('tent', (169, 164, 131)),
    168: ('towel', (225, 199, 255)),
    171: ('wall-brick', (137, 54, 74)),
    175: ('wall-stone', (135, 158, 223)),
    176: ('wall-tile', (7, 246, 231)),
    177: ('wall-wood', (107, 255, 200)),
    178: ('water-other', (58, 41, 149)),
    180: ('window-blind', (183, 121, 142)),
    181: ('window-other', (255, 73, 97)),
    184: ('tree-merged', (107, 142, 35)),
    185: ('fence-merged', (190, 153, 153)),
    186: ('ceiling-merged', (146, 139, 141)),
    187: ('sky-other-merged', (70, 130, 180)),
    188: ('cabinet-merged', (134, 199, 156)),
    189: ('table-merged', (209, 226, 140)),
    190: ('floor-other-merged', (96, 36, 108)),
    191: ('pavement-merged', (96, 96, 96)),
    192: ('mountain-merged', (64, 170, 64)),
    193: ('grass-merged', (152, 251, 152)),
    194: ('dirt-merged', (208, 229, 228)),
    195: ('paper-merged', (206, 186, 171)),
    196: ('food-other-merged', (152, 161, 64)),
    197: ('building-other-merged', (116, 112, 0)),
    198: ('rock-merged', (0, 114, 143)),
    199: ('wall-other-merged', (102, 102, 156)),
    200: ('rug-merged', (250, 141, 255)),
}

#: Where the log colour scale starts (row fractions below it get the lightest colour).
LOG_FLOOR = 1e-4


def to_hex(rgb) -> str:
    """``"#rrggbb"`` of an ``(R, G, B)`` triple."""
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def fixed_palette(n: int) -> np.ndarray:
    """The fixed class palette: ``n`` colours, ``(n, 3) uint8``.

    Notes
    -----
    Colour ``i`` is ``T[i mod 27]`` where ``T`` is Tol's nine "muted" colours, then
    the same nine scaled by 0.6 (darker), then the nine moved 45 % of the way to
    white (lighter).  Class ``i`` has the same colour in every report.
    """
    base = np.array(TOL_MUTED, dtype=np.float64)
    table = np.concatenate([base, base * 0.6, base + (255.0 - base) * 0.45]).round().astype(np.uint8)
    return table[np.arange(int(n)) % len(table)]


def _names_match(names: Sequence[str], official: Sequence[str]) -> bool:
    return len(names) == len(official) and all(str(a) == str(b) for a, b in zip(names, official))


def class_colors(
    names: Sequence[str],
    *,
    ids: Optional[Sequence[int]] = None,
    categories: Optional[Sequence[Mapping]] = None,
    palette=None,
) -> tuple[np.ndarray, str]:
    """Colour of every class, and a line saying where the colours come from.

    Parameters
    ----------
    names : sequence of str
        Class names in class-index (semantic) or category (panoptic) order.
    ids : sequence of int, optional
        Panoptic category ids, same order (used to look up COCO colours).
    categories : sequence of dict, optional
        COCO categories; their ``color`` fields are the dataset's own palette.
    palette : array_like or mapping, optional
        Explicit colours: ``(n, 3)`` values in class order, or ``{id: (r, g, b)}``.

    Returns
    -------
    colors : ndarray of uint8, shape (n, 3)
    source : str
        ``"given"``, ``"dataset categories"``, ``"Cityscapes"``, ``"ADE20K"``,
        ``"COCO panoptic"`` or ``"fixed (Tol muted)"``.

    Notes
    -----
    The first rule that applies wins: an explicit ``palette``; ``color`` in every
    category; the names are exactly the 19 Cityscapes train-id classes or the 150
    ADE20K classes (in order); every (id, name) pair is a COCO panoptic category;
    otherwise :func:`fixed_palette`.  A dataset palette is therefore used only
    when the classes really are that dataset's (a preset alone does not decide).
    """
    from ..presets import ADE20K_CLASSES, CITYSCAPES_CLASSES

    n = len(names)
    if palette is not None:
        if isinstance(palette, Mapping):
            keys = list(ids) if ids is not None else list(range(n))
            fallback = fixed_palette(n)
            out = np.array([palette.get(k, fallback[i]) for i, k in enumerate(keys)], dtype=np.int64)
        else:
            out = np.asarray(palette, dtype=np.int64)
        if out.shape != (n, 3) or out.min(initial=0) < 0 or out.max(initial=0) > 255:
            from ..errors import InputError

            raise InputError(f"palette must give {n} colours as (R, G, B) in 0..255, got shape {out.shape}")
        return out.astype(np.uint8), "given"
    if categories is not None and ids is not None:
        by_id = {int(c["id"]): c.get("color") for c in categories}
        cols = [by_id.get(int(i)) for i in ids]
        if n and all(isinstance(c, (list, tuple)) and len(c) == 3 for c in cols):
            return np.array(cols, dtype=np.uint8), "dataset categories"
    if _names_match(names, CITYSCAPES_CLASSES):
        return np.array(CITYSCAPES_COLORS, dtype=np.uint8), "Cityscapes"
    if _names_match(names, ADE20K_CLASSES):
        return np.array(ADE20K_COLORS, dtype=np.uint8), "ADE20K"
    if ids is not None and n and all(
        int(i) in COCO_PANOPTIC_COLORS and COCO_PANOPTIC_COLORS[int(i)][0] == str(nm) for i, nm in zip(ids, names)
    ):
        return np.array([COCO_PANOPTIC_COLORS[int(i)][1] for i in ids], dtype=np.uint8), "COCO panoptic"
    return fixed_palette(n), "fixed (Tol muted)"


def scale_values(values, *, log: bool = False) -> np.ndarray:
    """Map fractions in ``[0, 1]`` to positions in ``[0, 1]`` on the colour scale.

    Notes
    -----
    Linear: ``t = v``.  Log: ``t = (log10(max(v, F)) - log10(F)) / -log10(F)`` with
    ``F = LOG_FLOOR`` (1e-4), so 1e-4 and below map to 0 and 1 maps to 1.  NaN stays NaN.
    """
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    if not log:
        return v
    lf = np.log10(LOG_FLOOR)
    with np.errstate(invalid="ignore"):
        return (np.log10(np.maximum(v, LOG_FLOOR)) - lf) / -lf


def sequential(t, *, nan_color=(0xF2, 0xF2, 0xF2)) -> np.ndarray:
    """Colours of scale positions ``t`` in ``[0, 1]`` (``(..., 3) uint8``), NaN -> ``nan_color``.

    Notes
    -----
    Linear interpolation in sRGB between the nine :data:`SEQUENTIAL_ANCHORS`
    placed at ``0, 1/8, ..., 1``.
    """
    t = np.asarray(t, dtype=np.float64)
    anchors = np.array(SEQUENTIAL_ANCHORS, dtype=np.float64)
    nan = np.isnan(t)
    x = np.clip(np.where(nan, 0.0, t), 0.0, 1.0) * (len(anchors) - 1)
    lo = np.minimum(np.floor(x).astype(np.int64), len(anchors) - 2)
    frac = (x - lo)[..., None]
    out = anchors[lo] * (1.0 - frac) + anchors[lo + 1] * frac
    out = np.rint(out).astype(np.uint8)
    out[nan] = nan_color
    return out


def heat_colors(fractions: np.ndarray, counts: np.ndarray, *, log: bool = False) -> np.ndarray:
    """Colours of a row-normalised confusion matrix, ``(K, M, 3) uint8``.

    Notes
    -----
    ``sequential(scale_values(f, log=log))`` per cell; cells with no pixel are
    white; rows with no GT pixel (NaN) light grey.
    """
    out = sequential(scale_values(fractions, log=log))
    out[np.asarray(counts) == 0] = (255, 255, 255)
    out[np.isnan(np.asarray(fractions, dtype=np.float64))] = (0xF2, 0xF2, 0xF2)
    return out
