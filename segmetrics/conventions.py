"""Convention profiles: other tools' rules applied to a run's sums ("why does my number differ?").

The same predictions get different numbers in different tools because each
tool has its own rules for the edge cases: a class predicted but absent from
the ground truth, a label outside ``[0, K)``, a prediction of the ignore value,
what the union of two panoptic segments is, how crowd and stuff segments
count.  A *profile* is one tool's set of those rules.  segmetrics scores with
the reference profile (``mmseg`` for semantic, ``panopticapi`` for panoptic)
and refuses what no tool agrees on (labels outside ``[0, K)``); with a profile
it reproduces another tool's number, and with ``conventions="all"`` it shows
every profile side by side, with each rule in which a profile differs from the
reference and how much that rule alone moves the headline number.

Where the numbers come from
---------------------------
* Semantic profiles are computed from the state's sums, never from the pixels
  again: the confusion matrix, the void column (predictions equal to the
  ignore index, images without prediction), per-image TP / FP / FN rows
  (torchmetrics' per-image mean) and, in runs with a profile that drops
  labels (``mmseg``, ``hf-evaluate``), the pixels with labels outside
  ``[0, K)`` counted apart (:class:`~segmetrics.state.SemanticState`,
  ``conventions`` field group, counted by the code tables of
  :class:`~segmetrics.labels.LabelRules` with ``out_of_range="drop"``).  The
  formulas are those of :func:`segmetrics.metrics.summarize` with the
  profile's inputs.
* Panoptic variants of the matching need the per-image pair table: the
  compiled per-image rules (``_kernels/sm_pq.h``, ``sm_pq_match``) take the
  other tools' rules as options (:data:`PANOPTIC_VARIANTS`) and count them in
  the same pass, into the state's ``conventions`` field group; PQ follows
  :mod:`segmetrics.pq` on those counts.

Never silently: a profile that reproduces a tool's dropping of pixels says
how many pixels it drops (:func:`dropped_warnings`), and a profile whose tool
cannot score the run (it raises, crashes or puts pixels in the wrong cell) has
no number, with the reason (``available: false``), rather than a guess.

Sources (read for the definitions; none of their code is copied):
mmsegmentation ``mmseg/evaluation/metrics/iou_metric.py`` (commit 01c96235),
detectron2 ``detectron2/evaluation/sem_seg_evaluation.py`` (02b5c4e2),
torchmetrics 1.9.0 (``functional/classification/jaccard.py``,
``functional/classification/confusion_matrix.py``, ``segmentation/mean_iou.py``,
``functional/detection/_panoptic_quality_common.py``), HF evaluate
``metrics/mean_iou/mean_iou.py`` (a7dd3383), cityscapesScripts
``cityscapesscripts/evaluation/evalPixelLevelSemanticLabeling.py`` and
``evalPanopticSemanticLabeling.py`` (0bcc4a72), panopticapi
``panopticapi/evaluation.py``.  ``docs/conventions.md`` explains each rule with
a worked example.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import metrics as _metrics
from .errors import InputError
from .pq import iou_sums, pq_groups
from .report import plural

__all__ = [
    "UNION_GVOID",
    "AREA_PIXELS",
    "FN_VOID",
    "NO_CROWD",
    "MERGE_STUFF",
    "PANOPTIC_VARIANTS",
    "Rule",
    "Profile",
    "RULES",
    "PROFILES",
    "REFERENCE",
    "get_profile",
    "profile_names",
    "resolve_names",
    "counting_rules",
    "semantic_summary",
    "panoptic_counts",
    "dropped_warnings",
    "compare",
]

# ----------------------------------------------------------------------------- panoptic variants
#: Option flags of the compiled matching rules (``sm_pq.h``, ``SM_PQV_*``).
UNION_GVOID, AREA_PIXELS, FN_VOID, NO_CROWD, MERGE_STUFF = 1, 2, 4, 8, 16

#: The variant rule sets a run counts when conventions are asked for: torchmetrics'
#: rules (all five options), then each option alone (for "how much each rule moves").
PANOPTIC_VARIANTS: tuple = (UNION_GVOID | AREA_PIXELS | FN_VOID | NO_CROWD | MERGE_STUFF,
                            UNION_GVOID, AREA_PIXELS, FN_VOID, NO_CROWD, MERGE_STUFF)


# ----------------------------------------------------------------------------- rules and profiles
@dataclass(frozen=True)
class Rule:
    """One rule on which tools differ.

    Attributes
    ----------
    key : str
    title : str
        What the rule decides.
    options : dict
        Option -> what it means.
    unit : str
        What :func:`compare` counts as affected by the rule (pixels, classes, ...).
    flag : int
        Panoptic: the ``sm_pq.h`` option of the non-reference value (0: none).
    """

    key: str
    title: str
    options: dict
    unit: str = ""
    flag: int = 0


RULES: dict = {r.key: r for r in (
    # semantic
    Rule("absent", "a class predicted but absent from the ground truth",
         {"scored": "IoU 0 (Dice 0), counted in mIoU / mDice",
          "left out": "NaN, left out of mIoU (and of mDice)"}, "classes"),
    Rule("gt_outside", "a ground-truth label outside [0, K) that is not the ignore index",
         {"dropped": "dropped from the ground truth; its prediction still counts (a false positive)",
          "refused": "the tool fails on it or counts it in a wrong cell: no number"}, "pixels"),
    Rule("pred_outside", "a prediction outside [0, K) other than the ignore index, on a scored pixel",
         {"miss": "dropped from the predictions: a miss of the ground-truth class, nobody's false positive",
          "refused": "the tool fails on it or counts it in a wrong cell: no number"}, "pixels"),
    Rule("void_pred", "a prediction equal to the ignore index on a scored pixel",
         {"miss": "a miss of the ground-truth class, nobody's false positive",
          "refused": "the tool cannot take it (argmax predictions, or a wrong cell): no number"}, "pixels"),
    # panoptic
    Rule("union", "the union of a ground-truth segment g and a predicted segment p",
         {"prediction void out": "|p| + |g| - |g & p| - |p & GT void|",
          "void out of both": "|p| - |p & GT void| + |g| - |g & predicted void| - |g & p|"},
         "TP", UNION_GVOID),
    Rule("gt_area", "the area |g| of a ground-truth segment",
         {"JSON area": "the segments_info 'area' (pixel count where absent or with --recompute-gt-areas)",
          "pixels": "its pixel count in the PNG"}, "TP", AREA_PIXELS),
    Rule("gt_mostly_void", "an unmatched ground-truth segment more than half predicted void",
         {"a miss": "a false negative", "not a miss": "not counted"}, "FN", FN_VOID),
    Rule("crowd", "crowd ground-truth segments (iscrowd = 1)",
         {"crowd region": "never matched nor missed; a prediction mostly on its category's crowd region "
                          "is no false positive",
          "ordinary": "ordinary segments (the tool has no crowd flag)"}, "FN", NO_CROWD),
    Rule("stuff", "several segments of one stuff category in an image",
         {"as listed": "each segment on its own",
          "merged": "one segment per category and image on each side"}, "TP", MERGE_STUFF),
)}


@dataclass(frozen=True)
class Profile:
    """One tool's rules.

    Attributes
    ----------
    name, task : str
    tools : str
        The tools (and their entry points) that score this way.
    rules : dict
        Rule key -> option (keys of :data:`RULES`).  :data:`PROFILES` is keyed by
        ``(task, name)``: torchmetrics and cityscapes have a profile per task.
    reported : tuple
        The headline keys the tool itself reports (segmetrics names).
    sources : dict
        Rule key -> where the tool's code says so.
    notes : tuple
        Differences that do not change the value (arithmetic, rounding, inputs).
    counting : dict
        Semantic: the label rules a run scored with this profile counts with
        (:class:`~segmetrics.labels.LabelRules` arguments).
    """

    name: str
    task: str
    tools: str
    rules: dict
    reported: tuple
    sources: dict = field(default_factory=dict)
    notes: tuple = ()
    counting: dict = field(default_factory=dict)


_MM = "mmseg/evaluation/metrics/iou_metric.py"
_D2 = "detectron2/evaluation/sem_seg_evaluation.py"
_TMJ = "torchmetrics/functional/classification/jaccard.py"
_TMC = "torchmetrics/functional/classification/confusion_matrix.py"
_TMQ = "torchmetrics/functional/detection/_panoptic_quality_common.py"
_HF = "evaluate metrics/mean_iou/mean_iou.py"
_CS = "cityscapesscripts/evaluation/evalPixelLevelSemanticLabeling.py"
_CSP = "cityscapesscripts/evaluation/evalPanopticSemanticLabeling.py"
_PA = "panopticapi/evaluation.py"
_MM_DROP = (f"{_MM}, IoUMetric.intersect_and_union: torch.histc(..., bins=num_classes, min=0, "
            "max=num_classes - 1) leaves out values outside [0, K) of each histogram")

PROFILES: dict = {(p.task, p.name): p for p in (
    Profile(
        "mmseg", "semantic",
        "mmsegmentation IoUMetric / mean_iou; hotcoco SemanticEval; vernier semantic (parity_mode='strict'); "
        "segmetrics' own default",
        {"absent": "scored", "gt_outside": "dropped", "pred_outside": "miss", "void_pred": "miss"},
        ("aAcc", "mAcc", "mIoU", "mDice"),
        {"absent": f"{_MM}, IoUMetric.total_area_to_metrics: iou = intersect / union (0 when only predicted), "
                   "then np.nanmean in compute_metrics",
         "gt_outside": _MM_DROP + " (the label histogram drops the pixel, the prediction histogram keeps it)",
         "pred_outside": _MM_DROP, "void_pred": _MM_DROP},
        ("compute_metrics returns percentages rounded to 2 decimals (np.round(np.nanmean(x) * 100, 2)); "
         "segmetrics keeps the exact fraction",
         "vernier agrees on labels inside [0, K) but drops a pixel whose prediction or ground truth is outside "
         "[0, K) from both sides (measured with vernier 0.x, parity_mode 'strict' and 'corrected')",
         "segmetrics' default refuses labels outside [0, K) (an error naming them); this profile drops them "
         "as mmsegmentation does and says how many"),
        {"out_of_range": "drop", "void_predictions": "miss"}),
    Profile(
        "detectron2", "semantic", "detectron2 SemSegEvaluator",
        {"absent": "left out", "gt_outside": "refused", "pred_outside": "refused", "void_pred": "refused"},
        ("aAcc", "mAcc", "mIoU", "fwIoU"),
        {"absent": f"{_D2}:195 iou_valid = np.logical_and(acc_valid, union > 0), :198 miou over iou_valid",
         "gt_outside": f"{_D2}:136-138 only the ignore label is mapped to row K; another value v lands at "
                       "(K + 1) * pred + v, a wrong cell, or breaks the reshape",
         "pred_outside": f"{_D2}:131 predictions are argmax class indices; any other value breaks the "
                         "bincount reshape (:138)",
         "void_pred": f"{_D2}:131 predictions are argmax class indices, never the ignore value"},
        (f"fwIoU over the classes with ground truth ({_D2}:190, :199) and pACC / mACC ({_D2}:197, :200) "
         "follow the same formulas as segmetrics'",)),
    Profile(
        "torchmetrics", "semantic",
        "torchmetrics MulticlassJaccardIndex(average='macro', ignore_index=...) (mIoU) and "
        "segmentation.MeanIoU (mIoU_per_image)",
        {"absent": "scored", "gt_outside": "refused", "pred_outside": "refused", "void_pred": "refused"},
        ("mIoU", "mIoU_per_image"),
        {"absent": f"{_TMJ}:96 weights[confmat.sum(1) + confmat.sum(0) == 0] = 0: only classes absent from "
                   "both sides leave the mean",
         "gt_outside": f"{_TMC}:290 checks only how many distinct values there are; {_TMC}:326 "
                       "target * K + pred then lands in another cell or breaks the reshape",
         "pred_outside": f"{_TMC}:317 removes ignored targets only; {_TMC}:326 puts pred >= K in another "
                         "class's cell (target * K + pred) or breaks the reshape",
         "void_pred": f"{_TMC}:317, :326 as any prediction outside [0, K)"},
        (f"computes in float32 ({_TMJ}:68 confmat.float()): agrees with this profile to about 1e-6",
         "mIoU_per_image is MeanIoU's accumulation (segmentation/mean_iou.py:173-185): the mean of the "
         "per-image, per-class IoUs over the (image, class) pairs present in either map; MeanIoU has no "
         "ignore_index, so it is taken over the scored pixels (what MeanIoU gives when the ignored pixels "
         "are removed)",
         "an ignore_index inside [0, K) would also leave that class out (jaccard.py:72); segmetrics "
         "requires the ignore index outside the classes")),
    Profile(
        "hf-evaluate", "semantic", "Hugging Face evaluate.load('mean_iou')",
        {"absent": "scored", "gt_outside": "dropped", "pred_outside": "miss", "void_pred": "miss"},
        ("aAcc", "mAcc", "mIoU"),
        {"absent": f"{_HF}:262 mean_iou = np.nanmean(iou), iou = 0 for a class only predicted",
         "gt_outside": f"{_HF}:151-153 np.histogram(..., bins=num_labels, range=(0, num_labels - 1)) drops "
                       "values outside [0, K) from each histogram",
         "pred_outside": f"{_HF}:152 np.histogram of the predictions drops them",
         "void_pred": f"{_HF}:152 np.histogram of the predictions drops them"},
        (f"reduce_labels and label_map change the ground truth only ({_HF}:139-143); predictions are "
         "taken as class indices, as segmetrics reads them with pred_labels='class-index'",
         f"nan_to_num replaces NaN after the means ({_HF}:268): per-class values only, unless every class "
         "is NaN"),
        {"out_of_range": "drop", "void_predictions": "miss"}),
    Profile(
        "cityscapes", "semantic", "cityscapesScripts evalPixelLevelSemanticLabeling (19 trainIds)",
        {"absent": "scored", "gt_outside": "refused", "pred_outside": "refused", "void_pred": "miss"},
        ("mIoU", "mIoU_category"),
        {"absent": f"{_CS}:228-253 getIouScoreForLabel: tp / (tp + fp + fn), NaN only when that is 0/0; "
                   f":285 getScoreAverage skips NaN",
         "gt_outside": f"{_CS}:598 printError('Unknown label with id ...')",
         "pred_outside": f"{_CS}:172, :599 the matrix has a column per label id only: another value fails",
         "void_pred": f"{_CS}:239 fn = row sum - tp (every predicted id), :246 fp only from rows of evaluated "
                      "labels: an ignored label id predicted on a scored pixel is a miss"},
        ("predictions are label ids in the files the script reads; segmetrics reads them through the "
         "cityscapes preset's label map (--pred-labels as-gt)",
         f"mIoU_category: the 7 categories' IoU average ({_CS}:297-327 getIouScoreForCategory), when the "
         "classes are the 19 Cityscapes train ids; the instance-level iIoU needs instance masks and is not "
         "reproduced"),
        {"void_predictions": "miss"}),
    Profile(
        "panopticapi", "panoptic",
        "panopticapi pq_compute; detectron2 COCOPanopticEvaluator; hotcoco panoptic; vernier panoptic "
        "(parity_mode='strict'); segmetrics' own default",
        {"union": "prediction void out", "gt_area": "JSON area", "gt_mostly_void": "a miss",
         "crowd": "crowd region", "stuff": "as listed"},
        ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st"),
        {"union": f"{_PA}:130 union = pred area + gt area - intersection - (VOID, pred) pixels",
         "gt_area": f"{_PA}:130 gt_segms[gt_label]['area'] (the JSON); pred areas are counted",
         "gt_mostly_void": f"{_PA}:139-147 every unmatched non-crowd GT segment is a false negative",
         "crowd": f"{_PA}:125, :144-159 crowd segments are never matched; the last one of a category is "
                  "its crowd region",
         "stuff": f"{_PA}:117-135 segments are matched as listed"},
        ("panopticapi raises for a GT image without prediction; with allow_missing every profile scores its "
         "segments as false negatives",)),
    Profile(
        "torchmetrics", "panoptic", "torchmetrics PanopticQuality (things / stuffs from the categories' isthing)",
        {"union": "void out of both", "gt_area": "pixels", "gt_mostly_void": "not a miss",
         "crowd": "ordinary", "stuff": "merged"},
        ("PQ", "SQ", "RQ"),
        {"union": f"{_TMQ}:250 union = pred_area - pred_void_area + target_area - void_target_area - "
                  "intersection",
         "gt_area": f"{_TMQ}:61 areas are pixel counts (torch.unique(..., return_counts=True))",
         "gt_mostly_void": f"{_TMQ}:279 a target is a false negative only if void_target_area / target_area "
                           "<= 0.5",
         "crowd": f"{_TMQ} has no crowd flag: a COCO crowd segment given as (category, segment id) is an "
                  "ordinary segment",
         "stuff": f"{_TMQ}:206 out[mask_stuffs_instance] = 0: a stuff category is one segment per image"},
        (f"IoUs are float32 divisions of integer tensors ({_TMQ}:251): agrees with this profile to about 1e-6",
         f"reports PQ (SQ, RQ with return_sq_and_rq) over all categories only ({_TMQ}:472); the Things / "
         "Stuff groups here use its per-class values",
         "void pixels of the predictions are a category outside things and stuffs: "
         "PanopticQuality(..., allow_unknown_preds_category=True)")),
    Profile(
        "cityscapes", "panoptic", "cityscapesScripts evalPanopticSemanticLabeling",
        {"union": "prediction void out", "gt_area": "JSON area", "gt_mostly_void": "a miss",
         "crowd": "crowd region", "stuff": "as listed"},
        ("PQ", "SQ", "RQ", "PQ_th", "SQ_th", "RQ_th", "PQ_st", "SQ_st", "RQ_st"),
        {"union": f"{_CSP}:177 the same union as panopticapi", "gt_area": f"{_CSP}:177 the JSON area",
         "gt_mostly_void": f"{_CSP}:185-194 every unmatched non-crowd GT segment is a false negative",
         "crowd": f"{_CSP}:192, :204-206 the last crowd segment of a category is its crowd region",
         "stuff": f"{_CSP}:167-183 segments are matched as listed"},
        ("the script is panopticapi's pq_compute with Cityscapes paths: the same rules and numbers "
         f"({_CSP}:106 leaves out categories with TP + FP + FN = 0 as panopticapi does)",
         f"categories are Cityscapes label ids ('person' is 24); a GT image without prediction raises "
         f"({_CSP}:291)")),
)}

#: The profile each task scores with by default (segmetrics' own rules, labels outside [0, K) refused).
REFERENCE = {"semantic": "mmseg", "panoptic": "panopticapi"}

#: Headline keys per task in comparisons (the union of what the profiles report).
_HEADLINE = {"semantic": ("aAcc", "mAcc", "mIoU", "fwIoU", "mDice", "mIoU_per_image", "mIoU_category"),
             "panoptic": ("PQ", "SQ", "RQ", "PQ_th", "PQ_st")}
_PRIMARY = {"semantic": "mIoU", "panoptic": "PQ"}

#: Cityscapes' 7 evaluated categories by train id (helpers/labels.py, the 'category' column).
_CITYSCAPES_CATEGORIES = ("flat", "flat", "construction", "construction", "construction", "object", "object",
                          "object", "nature", "nature", "sky", "human", "human", "vehicle", "vehicle", "vehicle",
                          "vehicle", "vehicle", "vehicle")


def profile_names(task: str) -> tuple:
    """The profile names of a task, the reference first."""
    ref = REFERENCE[task]
    return (ref,) + tuple(p.name for p in PROFILES.values() if p.task == task and p.name != ref)


def get_profile(name: str, task: str) -> Profile:
    """The profile ``name`` of ``task`` (:class:`InputError` naming the choices otherwise)."""
    p = PROFILES.get((task, str(name).lower()))
    if p is not None:
        return p
    raise InputError(f"unknown {task} convention {name!r}; choose one of {', '.join(profile_names(task))}")


def resolve_names(names, task: str) -> tuple:
    """``"all"``, one name, a comma-separated string or a sequence of names -> profile names (reference first)."""
    if names is None:
        return ()
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    if any(str(n).lower() == "all" for n in names):
        return profile_names(task)
    out = [get_profile(n, task).name for n in names]
    ref = REFERENCE[task]
    return (ref,) + tuple(dict.fromkeys(n for n in out if n != ref))


def counting_rules(name, task: str) -> dict:
    """The label-rule arguments a semantic run scored with profile ``name`` counts with ({} for None)."""
    if name is None or task != "semantic":
        return {}
    return dict(get_profile(name, task).counting)


# ----------------------------------------------------------------------------- semantic
def _semantic_parts(state) -> dict:
    """The sums a semantic profile reads, with the counts each rule concerns."""
    k = state.num_classes
    kept = getattr(state, "conventions_kept", False)
    dropped_gt = state.dropped_gt if kept else np.zeros(k + 1, dtype=np.int64)
    dropped_pred = state.dropped_pred if kept else np.zeros(k, dtype=np.int64)
    cm = state.confusion
    return {"cm": cm, "void": state.void, "missing": state.missing, "dropped_gt": dropped_gt,
            "dropped_pred": dropped_pred,
            "affected": {"absent": int(np.count_nonzero((cm.sum(axis=1) + state.void + state.missing == 0)
                                                        & (cm.sum(axis=0) + dropped_gt[:k] > 0))),
                         "gt_outside": int(dropped_gt.sum()), "pred_outside": int(dropped_pred.sum()),
                         "void_pred": int(state.void.sum())}}


def _refusal(rules: dict, parts: dict, tool: str) -> str | None:
    """Why a tool with ``rules`` cannot score these counts (None when it can)."""
    aff = parts["affected"]
    for key in ("gt_outside", "pred_outside", "void_pred"):
        if rules[key] == "refused" and aff[key]:
            return f"{tool} cannot score {plural(aff[key], 'pixel')}: {RULES[key].title}"
    return None


def _semantic_numbers(parts: dict, rules: dict) -> dict:
    """:func:`segmetrics.metrics.summarize` of the counts as ``rules`` read them (no refusal check)."""
    k = parts["cm"].shape[0]
    void = parts["void"] + parts["missing"] + (parts["dropped_pred"] if rules["pred_outside"] == "miss" else 0)
    pred_only = parts["dropped_gt"][:k] if rules["gt_outside"] == "dropped" else None
    return _metrics.summarize(parts["cm"], void=void, pred_only=pred_only,
                              absent_rule="detectron2" if rules["absent"] == "left out" else "mmseg")


def _cityscapes_categories(class_names) -> np.ndarray | None:
    """(K, 7) class -> category indicator when the classes are the 19 Cityscapes train ids."""
    from .presets import CITYSCAPES_CLASSES  # data only

    if tuple(class_names) != CITYSCAPES_CLASSES:
        return None
    cats = list(dict.fromkeys(_CITYSCAPES_CATEGORIES))
    g = np.zeros((len(CITYSCAPES_CLASSES), len(cats)), dtype=np.int64)
    for c, name in enumerate(_CITYSCAPES_CATEGORIES):
        g[c, cats.index(name)] = 1
    return g


def _extras(profile: Profile, state, parts: dict, class_names, summary: dict) -> dict:
    """The metrics a profile reports beyond :func:`~segmetrics.metrics.summarize`'s."""
    out = {}
    if "mIoU_per_image" in profile.reported:
        if state.per_image_kept:
            out["mIoU_per_image"] = _metrics.pooled_image_iou(state.image_tp, state.image_fp, state.image_fn)
        else:
            out["mIoU_per_image"] = float("nan")
    if "mIoU_category" in profile.reported:
        g = _cityscapes_categories(class_names) if class_names is not None else None
        if g is not None:  # only for the 19 Cityscapes classes
            void = parts["void"] + parts["missing"]
            cat = _metrics.summarize(g.T @ parts["cm"] @ g, void=g.T @ void)
            out["mIoU_category"] = cat["mIoU"]
    return out


def semantic_summary(state, name: str, class_names=None) -> dict:
    """A semantic state scored with profile ``name``: :func:`~segmetrics.metrics.summarize`'s
    dict plus the profile's extra headline keys (``mIoU_per_image``, ``mIoU_category``).

    Raises
    ------
    InputError
        The tool cannot score these counts (labels it refuses: the message says
        how many pixels and why).

    Notes
    -----
    The void column is ``void + missing`` (+ the predictions outside ``[0, K)``
    under ``pred_outside="miss"``); the ground-truth pixels outside ``[0, K)``
    add to the prediction counts only under ``gt_outside="dropped"``; the
    absent rule is ``"detectron2"`` under ``absent="left out"``.
    """
    profile = get_profile(name, "semantic")
    parts = _semantic_parts(state)
    why = _refusal(profile.rules, parts, profile.name)
    if why:
        raise InputError(f"convention {profile.name}: {why}; score without this convention to see them")
    s = _semantic_numbers(parts, profile.rules)
    s.update(_extras(profile, state, parts, class_names, s))
    return s


# ----------------------------------------------------------------------------- panoptic
def _variant(name_or_flags) -> int | None:
    """The index into :data:`PANOPTIC_VARIANTS` of a profile or option set (None: the reference counts)."""
    if isinstance(name_or_flags, str):
        p = get_profile(name_or_flags, "panoptic")
        ref = PROFILES[("panoptic", REFERENCE["panoptic"])]
        flags = sum(RULES[k].flag for k, v in p.rules.items() if v != ref.rules[k])
    else:
        flags = int(name_or_flags)
    if flags == 0:
        return None
    return PANOPTIC_VARIANTS.index(flags)


def panoptic_counts(state, name) -> tuple:
    """``(tp, fp, fn, iou_sum)`` per category of a panoptic state under profile ``name`` (or an
    ``sm_pq.h`` option set): the state's own counts for panopticapi's rules, else its
    ``conventions`` sums (:class:`InputError` when the run did not count them)."""
    v = _variant(name)
    if v is None:
        return state.tp, state.fp, state.fn, state.iou_sum()
    if not getattr(state, "conventions_kept", False):
        raise InputError("this panoptic run did not count the other tools' matching rules: score it with "
                         "conventions (evaluate_panoptic_folders(..., conventions='all'), CLI --conventions all)")
    sel = state.conv_match_var == v
    iou = iou_sums(state.conv_match_cat[sel], state.conv_match_iou[sel], state.num_classes)
    return state.conv_tp[v], state.conv_fp[v], state.conv_fn[v], iou


# ----------------------------------------------------------------------------- notes
def dropped_warnings(state, name, task: str, ignore_index=None) -> list:
    """The warnings of a run scored with profile ``name`` that drops labels: how many pixels the
    tool drops silently (empty when none, or when the profile drops nothing)."""
    if name is None or task != "semantic" or not getattr(state, "conventions_kept", False):
        return []
    p = get_profile(name, task)
    k = state.num_classes
    out = []
    n_gt, n_pred = int(state.dropped_gt.sum()), int(state.dropped_pred.sum())
    ign = "" if ignore_index is None else f" (ignore index {ignore_index})"
    if n_gt and p.rules["gt_outside"] == "dropped":
        n_fp = int(state.dropped_gt[:k].sum())
        out.append(f"convention {p.name}: {plural(n_gt, 'ground-truth pixel')} {'has' if n_gt == 1 else 'have'} "
                   f"labels outside [0, {k}){ign}; {p.name} drops them silently and counts their "
                   f"{plural(n_fp, 'prediction')} in [0, {k}) as false positives (segmetrics refuses such labels: "
                   f"score without --convention to see the values and images)")
    if n_pred and p.rules["pred_outside"] == "miss":
        out.append(f"convention {p.name}: {plural(n_pred, 'scored pixel')} {'is' if n_pred == 1 else 'are'} "
                   f"predicted outside [0, {k}){ign}; "
                   f"{p.name} drops them silently from the predictions, so they count as misses (segmetrics "
                   f"refuses such labels: score without --convention to see the values and images)")
    return out


# ----------------------------------------------------------------------------- comparison
def _delta(a: dict | None, b: dict | None, keys) -> dict | None:
    if a is None or b is None:
        return None
    return {key: a[key] - b[key] for key in keys if key in a and key in b}


def _semantic_compare(state, names: tuple, class_names) -> list:
    parts = _semantic_parts(state)
    ref = PROFILES[("semantic", REFERENCE["semantic"])]
    ref_numbers = _semantic_numbers(parts, ref.rules)
    rows = []
    for name in names:
        p = get_profile(name, "semantic")
        why = _refusal(p.rules, parts, p.name)
        metrics = None
        if why is None:
            s = _semantic_numbers(parts, p.rules)
            s.update(_extras(p, state, parts, class_names, s))
            metrics = {key: float(s[key]) for key in p.reported if key in s}
        rules = []
        for key, value in p.rules.items():
            if value == ref.rules[key]:
                continue
            alone = dict(ref.rules, **{key: value})
            numbers = None if _refusal(alone, parts, p.name) else _semantic_numbers(parts, alone)
            rules.append(_rule_row(p, key, value, ref.rules[key], parts["affected"][key],
                                   _delta(numbers, ref_numbers, ("aAcc", "mAcc", "mIoU", "fwIoU", "mDice"))))
        rows.append(_profile_row(p, metrics, why, rules))
    return rows


def _panoptic_numbers(state, key, isthing) -> dict:
    tp, fp, fn, iou = panoptic_counts(state, key)
    g = pq_groups(tp, fp, fn, iou, isthing)
    g.update(TP=int(np.sum(tp)), FP=int(np.sum(fp)), FN=int(np.sum(fn)))
    return g


def _panoptic_compare(state, names: tuple, categories) -> list:
    isthing = np.array([bool(c["isthing"]) for c in categories], dtype=bool)
    ref = PROFILES[("panoptic", REFERENCE["panoptic"])]
    ref_numbers = _panoptic_numbers(state, ref.name, isthing)
    kept = getattr(state, "conventions_kept", False)
    rows = []
    for name in names:
        p = get_profile(name, "panoptic")
        flags = sum(RULES[k].flag for k, v in p.rules.items() if v != ref.rules[k])
        why = None
        metrics = None
        if flags and not kept:
            why = "the run did not count the variant matching rules (score it with --conventions)"
        else:
            numbers = _panoptic_numbers(state, p.name, isthing)
            metrics = {key: numbers[key] for key in p.reported}
        rules = []
        for key, value in p.rules.items():
            if value == ref.rules[key]:
                continue
            numbers = _panoptic_numbers(state, RULES[key].flag, isthing) if kept else None
            delta = _delta(numbers, ref_numbers, ("PQ", "SQ", "RQ", "PQ_th", "PQ_st", "TP", "FP", "FN"))
            rules.append(_rule_row(p, key, value, ref.rules[key], None, delta))
        rows.append(_profile_row(p, metrics, why, rules))
    return rows


def _rule_row(p: Profile, key: str, value: str, ref_value: str, affected, delta) -> dict:
    rule = RULES[key]
    return {"rule": key, "title": rule.title, "value": value, "meaning": rule.options[value],
            "reference": ref_value, "source": p.sources.get(key, ""), "affected": affected, "unit": rule.unit,
            "delta": delta}


def _profile_row(p: Profile, metrics, why, rules) -> dict:
    return {"name": p.name, "tools": p.tools, "available": metrics is not None, "reason": why,
            "reported": list(p.reported), "metrics": metrics, "rules": rules, "notes": list(p.notes)}


def compare(result, names="all") -> dict:
    """Every profile's headline numbers for a result, and how each rule moves them.

    Parameters
    ----------
    result : SemanticResult or PanopticResult
        With its state (folder runs, :func:`segmetrics.load_state`, evaluators).
    names : "all", str or sequence of str
        Profiles to show (the reference is always included).

    Returns
    -------
    dict
        ``{"task", "reference", "primary", "headline", "profiles"}``; each
        profile ``{"name", "tools", "available", "reason", "reported",
        "metrics", "rules", "notes"}`` where ``metrics`` holds the keys the tool
        reports (None when it cannot score the run: ``reason`` says why) and
        each rule in which it differs from the reference is ``{"rule", "title",
        "value", "meaning", "reference", "source", "affected", "unit",
        "delta"}``: ``delta`` is the change of the headline metrics when only
        that rule is switched from the reference's (None when the rule makes
        the tool refuse the run), ``affected`` what it concerns in this run
        (semantic: classes or pixels).

    Notes
    -----
    Computed from the state's sums (see the module docstring); the numbers do
    not depend on the run's threads, file order, shards or merges.
    """
    state = result.state
    if state is None:
        raise InputError("this result has no state: conventions are computed from a run's sums")
    task = result.task
    names = resolve_names(names, task)
    if task == "semantic":
        rows = _semantic_compare(state, names, result.class_names)
    else:
        rows = _panoptic_compare(state, names, result.categories)
    return {"task": task, "reference": REFERENCE[task], "primary": _PRIMARY[task], "headline": list(_HEADLINE[task]),
            "profiles": rows}
