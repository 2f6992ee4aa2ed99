"""Oracles for the boundary metrics, written from the definitions (never from the kernels).

* :func:`cv_band`: boundary-iou-api's definition of a mask's inner band with OpenCV: pad by
  one pixel of 0, ``cv2.erode`` with a 3x3 kernel ``iterations=d``, crop, subtract.
* :func:`reference_dilation`: the reference's band width, ``int(round(r * np.sqrt(h**2 + w**2)))``
  at least 1.
* :func:`semantic_oracle`: per-class band counts, one OpenCV erosion per class and map.
* :func:`panoptic_oracle_image`: Boundary PQ / PQ-dagger statistics of one image, one OpenCV
  erosion per segment and panopticapi's rules spelled out with dicts and loops.
* :func:`random_panoptic_pair`: a random COCO-format GT / prediction pair with crowd, void,
  tiny, one-pixel-wide and border-touching segments.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

KERNEL_3X3 = np.ones((3, 3), np.uint8)


def reference_dilation(h: int, w: int, ratio: float) -> int:
    d = int(round(ratio * np.sqrt(h ** 2 + w ** 2)))
    return max(d, 1)


def cv_band(mask: np.ndarray, d: int) -> np.ndarray:
    """Inner band of a binary mask (bool), as boundary-iou-api's mask_to_boundary."""
    h, w = mask.shape
    m = mask.astype(np.uint8)
    padded = cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, KERNEL_3X3, iterations=d)[1:h + 1, 1:w + 1]
    return (m - eroded).astype(bool)


def label_band(labels: np.ndarray, d: int) -> np.ndarray:
    """Every label's band, one erosion per label value."""
    out = np.zeros(labels.shape, bool)
    for v in np.unique(labels):
        out |= cv_band(labels == v, d)
    return out


def semantic_oracle(gt_eff: np.ndarray, pred_eff: np.ndarray, num_classes: int, ignore: int | None, d: int):
    """(intersection, gt_band, pred_band) per class of one image of effective labels."""
    valid = np.ones(gt_eff.shape, bool) if ignore is None else gt_eff != ignore
    inter = np.zeros(num_classes, np.int64)
    gb = np.zeros(num_classes, np.int64)
    pb = np.zeros(num_classes, np.int64)
    for c in range(num_classes):
        g = cv_band(gt_eff == c, d) & valid
        p = cv_band(pred_eff == c, d) & valid
        inter[c] = np.count_nonzero(g & p)
        gb[c] = np.count_nonzero(g)
        pb[c] = np.count_nonzero(p)
    return inter, gb, pb


# ----------------------------------------------------------------------------- panoptic


def panoptic_oracle_image(gt_map, gt_segs, pred_map, pred_segs, categories, d, *, recompute_gt_areas=False):
    """Per-category Boundary PQ, mask PQ and PQ-dagger statistics of one image.

    Returns a dict category id -> dict(btp, bfp, bfn, biou (list), tp, fp, fn, iou (list),
    stuff_iou (list), gt_segments).
    """
    isthing = {c["id"]: bool(c["isthing"]) for c in categories}
    stats = {c["id"]: dict(btp=0, bfp=0, bfn=0, biou=[], tp=0, fp=0, fn=0, iou=[], stuff_iou=[], gt_segments=0)
             for c in categories}
    void = gt_map == 0
    gmask = {s["id"]: gt_map == s["id"] for s in gt_segs}
    pmask = {s["id"]: pred_map == s["id"] for s in pred_segs}
    gband = {i: cv_band(m, d) for i, m in gmask.items()}
    pband = {i: cv_band(m, d) for i, m in pmask.items()}
    for s in gt_segs:
        if not s.get("iscrowd", 0):
            stats[s["category_id"]]["gt_segments"] += 1
    matched = {"mask": (set(), set()), "boundary": (set(), set())}
    for g in sorted(gt_segs, key=lambda s: s["id"]):
        if g.get("iscrowd", 0):
            continue
        gm = gmask[g["id"]]
        area = float(np.count_nonzero(gm)) if recompute_gt_areas or g.get("area") is None else g["area"]
        for p in sorted(pred_segs, key=lambda s: s["id"]):
            if p["category_id"] != g["category_id"]:
                continue
            pm = pmask[p["id"]]
            inter = int(np.count_nonzero(gm & pm))
            if inter == 0:
                continue
            union = (int(np.count_nonzero(pm)) + area) - inter - int(np.count_nonzero(pm & void))
            iou = inter / union
            st = stats[g["category_id"]]
            if not isthing[g["category_id"]]:
                st["stuff_iou"].append(iou)
            gb, pb = gband[g["id"]], pband[p["id"]]
            bi = int(np.count_nonzero(gb & pb))
            bu = (int(np.count_nonzero(pb)) + int(np.count_nonzero(gb))) - bi - int(np.count_nonzero(pb & void))
            for kind, value, key_tp, key_iou in (("mask", iou, "tp", "iou"),
                                                 ("boundary", min(iou, bi / bu), "btp", "biou")):
                if value > 0.5:
                    st[key_tp] += 1
                    st[key_iou].append(value)
                    matched[kind][0].add(g["id"])
                    matched[kind][1].add(p["id"])
    crowd_region = {}
    for s in gt_segs:  # the last listed crowd segment of a category counts
        if s.get("iscrowd", 0):
            crowd_region[s["category_id"]] = gmask[s["id"]]
    for kind, key_fn, key_fp in (("mask", "fn", "fp"), ("boundary", "bfn", "bfp")):
        mg, mp = matched[kind]
        for g in gt_segs:
            if not g.get("iscrowd", 0) and g["id"] not in mg:
                stats[g["category_id"]][key_fn] += 1
        for p in pred_segs:
            if p["id"] in mp:
                continue
            pm = pmask[p["id"]]
            ign = int(np.count_nonzero(pm & void))
            if p["category_id"] in crowd_region:
                ign += int(np.count_nonzero(pm & crowd_region[p["category_id"]]))
            if ign / int(np.count_nonzero(pm)) > 0.5:
                continue
            stats[p["category_id"]][key_fp] += 1
    return stats


def _group_mean(categories, value) -> dict:
    """Mean of value(category) over All / Things / Stuff, leaving out the None values."""
    out = {}
    for suffix, flag in (("", None), ("_th", True), ("_st", False)):
        vals = [v for c in categories if flag is None or bool(c["isthing"]) == flag
                for v in [value(c)] if v is not None]
        out[suffix] = [sum(x[j] for x in vals) / len(vals) if vals else math.nan for j in range(3)]
    return out


def oracle_metrics(per_image_stats: list, categories) -> dict:
    """Dataset metrics from oracle statistics: PQ, BPQ and PQ-dagger (All / _th / _st)."""
    total = {c["id"]: dict(btp=0, bfp=0, bfn=0, biou=[], tp=0, fp=0, fn=0, iou=[], stuff_iou=[], gt_segments=0)
             for c in categories}
    for st in per_image_stats:
        for cid, s in st.items():
            for k, v in s.items():
                total[cid][k] = total[cid][k] + v

    def pq(s, tp_k, fp_k, fn_k, iou_k):
        tp, fp, fn = s[tp_k], s[fp_k], s[fn_k]
        if tp + fp + fn == 0:
            return None
        iou = math.fsum(s[iou_k])
        den = tp + fp / 2 + fn / 2
        return iou / den, iou / tp if tp else 0.0, tp / den

    def dagger(c):
        s = total[c["id"]]
        if c["isthing"]:
            v = pq(s, "tp", "fp", "fn", "iou")
            return None if v is None else (v[0],) * 3
        return (math.fsum(s["stuff_iou"]) / s["gt_segments"],) * 3 if s["gt_segments"] else None

    out = {}
    for prefix, keys in (("", ("tp", "fp", "fn", "iou")), ("B", ("btp", "bfp", "bfn", "biou"))):
        for suffix, vals in _group_mean(categories, lambda c: pq(total[c["id"]], *keys)).items():
            for j, name in enumerate(("PQ", "SQ", "RQ")):
                out[prefix + name + suffix] = vals[j]
    for suffix, vals in _group_mean(categories, dagger).items():
        out["PQ_dagger" + suffix] = vals[0]
    return out


def _blob(rng, h, w):
    """A random shape mask: ellipse, rectangle, one-pixel line or a tiny speck, often at a border."""
    m = np.zeros((h, w), np.uint8)
    kind = rng.integers(0, 5)
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    if rng.random() < 0.3:  # touch a border
        if rng.random() < 0.5:
            cy = 0 if rng.random() < 0.5 else h - 1
        else:
            cx = 0 if rng.random() < 0.5 else w - 1
    if kind == 0:
        cv2.ellipse(m, (cx, cy), (int(rng.integers(1, w // 3 + 2)), int(rng.integers(1, h // 3 + 2))),
                    float(rng.integers(0, 180)), 0, 360, 1, -1)
    elif kind == 1:
        y2, x2 = int(rng.integers(cy, h)), int(rng.integers(cx, w))
        m[cy:y2 + 1, cx:x2 + 1] = 1
    elif kind == 2:  # one-pixel-wide line
        cv2.line(m, (cx, cy), (int(rng.integers(0, w)), int(rng.integers(0, h))), 1, 1)
    elif kind == 3:  # tiny
        m[cy:cy + int(rng.integers(1, 3)), cx:cx + int(rng.integers(1, 3))] = 1
    else:
        pts = rng.integers(0, [w, h], size=(int(rng.integers(3, 7)), 2)).astype(np.int32)
        cv2.fillPoly(m, [pts], 1)
    return m.astype(bool)


def random_categories(rng, n_things=4, n_stuff=3):
    ids = rng.choice(np.arange(1, 200), size=n_things + n_stuff, replace=False).tolist()
    return [{"id": int(c), "name": f"c{c}", "isthing": int(i < n_things)} for i, c in enumerate(ids)]


def random_panoptic_pair(rng, h, w, categories, *, sentinel_id=None):
    """A GT / prediction pair: (gt_map uint32, gt_segments, pred_map, pred_segments).

    The GT has stuff regions, thing blobs (tiny, one-pixel lines, border-touching), void
    and crowd segments; the prediction shifts, grows, shrinks, relabels, drops and adds
    segments and has void of its own.  ``sentinel_id`` forces one GT segment to take that
    id (boundary-iou-api marks interiors with max category id + 1).
    """
    things = [c["id"] for c in categories if c["isthing"]]
    stuff = [c["id"] for c in categories if not c["isthing"]]
    gt = np.zeros((h, w), np.int64)
    cat_of = {}
    next_id = [int(rng.integers(1, 1000))]

    def new_id():
        next_id[0] += int(rng.integers(1, 5000))
        return next_id[0] % (256 ** 3 - 1) + 1

    # stuff: nearest of a few seeds
    n_st = int(rng.integers(1, 4))
    seeds = rng.integers(0, [h, w], size=(n_st, 2))
    yy, xx = np.mgrid[:h, :w]
    nearest = np.argmin([(yy - sy) ** 2 + (xx - sx) ** 2 for sy, sx in seeds], axis=0)
    for k in range(n_st):
        i = new_id()
        gt[nearest == k] = i
        cat_of[i] = int(rng.choice(stuff))
    for _ in range(int(rng.integers(0, 7))):
        i = new_id()
        gt[_blob(rng, h, w)] = i
        cat_of[i] = int(rng.choice(things))
    for _ in range(int(rng.integers(0, 3))):  # void
        gt[_blob(rng, h, w)] = 0
    if rng.random() < 0.3:  # a large void block, with an interior of its own
        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
        gt[y:y + int(rng.integers(h // 3 + 1, h + 1)), x:x + int(rng.integers(w // 3 + 1, w + 1))] = 0
    present = [int(i) for i in np.unique(gt) if i != 0]
    if sentinel_id is not None and present:
        victim = present[int(rng.integers(0, len(present)))]
        if sentinel_id not in present:
            gt[gt == victim] = sentinel_id
            cat_of[sentinel_id] = cat_of[victim]
            present = [int(i) for i in np.unique(gt) if i != 0]
    gt_segs = []
    for i in present:
        crowd = int(cat_of[i] in things and rng.random() < 0.2)
        gt_segs.append({"id": i, "category_id": cat_of[i], "iscrowd": crowd,
                        "area": int(np.count_nonzero(gt == i))})
    rng.shuffle(gt_segs)
    # prediction
    pred = gt.copy()
    dy, dx = rng.integers(-2, 3, size=2)
    if rng.random() < 0.5:
        pred = np.roll(pred, (int(dy), int(dx)), axis=(0, 1))
    pcat = dict(cat_of)
    for i in present:
        r = rng.random()
        m = pred == i
        if r < 0.15:  # grow, sometimes far (over void too)
            grown = cv2.dilate(m.astype(np.uint8), KERNEL_3X3, iterations=int(rng.integers(1, 9))).astype(bool)
            pred[grown] = i
        elif r < 0.2 and m.any():  # extend over a rectangle from one of its pixels
            ys, xs = np.nonzero(m)
            y, x = int(ys[0]), int(xs[0])
            pred[y:y + int(rng.integers(1, h + 1)), x:x + int(rng.integers(1, w + 1))] = i
        elif r < 0.32:  # shrink
            shrunk = cv2.erode(m.astype(np.uint8), KERNEL_3X3, iterations=int(rng.integers(1, 4))).astype(bool)
            pred[m & ~shrunk] = 0
        elif r < 0.4:  # relabel (same kind)
            pool = things if pcat[i] in things else stuff
            pcat[i] = int(rng.choice(pool))
        elif r < 0.45:  # drop
            pred[m] = 0
    for _ in range(int(rng.integers(0, 3))):
        i = new_id()
        pred[_blob(rng, h, w)] = i
        pcat[i] = int(rng.choice(things))
    pred_ids = [int(i) for i in np.unique(pred) if i != 0]
    pred_segs = [{"id": i, "category_id": pcat[i]} for i in pred_ids]
    rng.shuffle(pred_segs)
    return gt.astype(np.uint32), gt_segs, pred.astype(np.uint32), pred_segs
