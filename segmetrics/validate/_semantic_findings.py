"""The findings of a semantic validation, made from the collector's sums at the end."""
from __future__ import annotations

import numpy as np

from ..labels import ReadingEvidence, decide_reading
from ._findings import Findings, listing, plural, verb
from ._semantic_setup import SemanticSetup

__all__ = ["nonzero", "file_findings", "value_listing", "gt_value_findings", "pred_findings"]

_VALUES_WITH_FILES = 100  # out-of-range values whose files are listed in the JSON (counts are exact for all)
_COLOUR_NAMES = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


def nonzero(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values a histogram holds and their counts."""
    v = np.flatnonzero(hist)
    return v, hist[v]


def file_findings(col, out: Findings) -> None:
    def files(check):
        return col.files.get(check, []), col.counts.get(check, 0)

    lst, n = files("corrupt")
    if n:
        out.add("semantic.corrupt_file", f"{plural(n, 'file')} cannot be read: {listing([d for _, d in lst], n, limit=3)}",
                count=n, files=[f for f, _ in lst], reasons=[d for _, d in lst])
    lst, n = files("channels")
    if n:
        kinds = sorted({_COLOUR_NAMES.get(ct, str(ct)) for _, ct, _ in lst})
        grey = sum(1 for *_, g in lst if g)
        hint = (f"; {grey} of them hold the same value in R, G and B (grey labels saved as colour: "
                "keep one channel)" if grey else " (a colour visualisation instead of labels?)")
        out.add("semantic.not_single_channel",
                f"{plural(n, 'file')} {verb(n, 'is', 'are')} {'/'.join(kinds)} where single-channel label maps "
                f"are expected"
                f"{hint}: {listing([f for f, *_ in lst])}", count=n, files=[f for f, *_ in lst], grey_as_colour=grey)
    for check, code, text in (
            ("palette", "semantic.palette_png", "palette PNG{s}, read as palette indices (as PIL and mmseg read "
                                                "them); make sure the indices are the class ids"),
            ("sixteen", "semantic.sixteen_bit", "16-bit label PNG{s}"),
            ("scaled", "semantic.scaled_16bit", "16-bit file{s} holding only multiples of 256 or 257 (8-bit labels "
                                                "scaled to 16 bits by an image converter?)")):
        lst, n = files(check)
        if n:
            out.add(code, f"{plural(n, 'file')} {verb(n, 'is a', 'are')} {text.format(s='' if n == 1 else 's')}: "
                    f"{listing(lst)}", count=n, files=lst)
    lst, n = files("size")
    if n:
        shown = [f"{k} (GT {gw}x{gh}, prediction {pw}x{ph})" for k, gw, gh, pw, ph in lst]
        out.add("semantic.size_mismatch", f"{plural(n, 'image')} {verb(n, 'differs', 'differ')} in size between GT and "
                f"prediction: "
                f"{listing(shown, n, limit=3)}", count=n, image_ids=[x[0] for x in lst],
                sizes=[{"image_id": k, "gt": [gw, gh], "pred": [pw, ph]} for k, gw, gh, pw, ph in lst])
    lst, n = files("all_ignore")
    if n:
        out.add("semantic.all_ignore", f"{plural(n, 'image')} {verb(n, 'has', 'have')} no scored pixel (the whole GT is "
                f"ignored): "
                f"{listing(lst)}", count=n, files=lst)


def _value_text(values: dict, *, limit: int = 8) -> str:
    return listing([f"{v} ({c:,} px)" for v, c in values.items()], len(values), limit=limit)


def value_listing(col, out: Findings) -> None:
    v, c = nonzero(col.gt_hist)
    if v.size:
        values = {int(a): int(b) for a, b in zip(v, c)}
        out.add("semantic.label_values",
                f"GT values found: {_value_text(values, limit=12)}; pass --num-classes or --preset to check them "
                f"against the classes", count=len(values), values=values)


def gt_value_findings(col, setup: SemanticSetup, out: Findings) -> None:
    k, ign, codes, hist = setup.num_classes, setup.ignore_index, setup.gt_codes, col.gt_hist
    present = np.flatnonzero(hist)
    bad = present[codes[present] == -2]
    rule = _gt_rule(setup)
    if bad.size:
        values = {int(v): int(hist[v]) for v in bad}
        shown = [f"{v} ({hist[v]:,} px in {plural(col.value_nfiles[v], 'file')}, e.g. {col.value_files[v][0]})"
                 for v in bad[:5].tolist()]
        first = bad[:_VALUES_WITH_FILES].tolist()
        out.add("semantic.label_out_of_range",
                f"GT values outside the {k} classes{rule} and not the ignore index {ign}: "
                f"{listing(shown, len(values), limit=5)} ({plural(col.counts['bad_values'], 'file')} in all)",
                count=len(values), values=values, files=col.files["bad_values"],
                files_affected=col.counts["bad_values"], files_by_value={v: col.value_files[v] for v in first},
                files_with_value={v: col.value_nfiles[v] for v in values})
    vals = set(present.tolist())
    lut, mapped = setup.gt_map, setup.label_map_name is not None
    if lut is None:   # no label map, no reduce_zero_label: the GT holds class indices
        if k == 19 and vals and max(vals - {ign}, default=0) > 18 and (vals - {ign}) <= set(range(34)):
            out.add("semantic.gt_looks_like_labelids",
                    f"GT values {_span(vals - {ign})} look like Cityscapes labelIds (0..33) but 19 classes are "
                    "expected as trainIds: use --preset cityscapes (maps labelIds to trainIds) or the "
                    "*_gtFine_labelTrainIds.png files", values=sorted(vals))
        elif vals and 0 in vals and k in vals and max(vals - {ign}) == k:
            out.add("semantic.gt_looks_one_based",
                    f"GT values span 0..{k} with {k} classes: they look like '0 = other, 1..{k} = classes' "
                    f"(ADE20K); pass --reduce-zero-label (--preset ade20k does)", values=sorted(vals))
    # a label map that sends raw values beyond the classes to classes expects raw ids (labelIds)
    if mapped and lut.size > k and ((lut[k:] >= 0) & (lut[k:] < k)).any() and vals and ign in vals \
            and vals <= set(range(k)) | {ign}:
        out.add("semantic.gt_looks_like_trainids",
                f"GT values {_span(vals - {ign})} and {ign} are class indices already (trainIds), but the label map "
                f"{setup.label_map_name} expects raw labelIds and would score them wrongly: drop the label map "
                "(or validate the *_labelIds files)", values=sorted(vals))
    if setup.reduce_zero_label and not mapped and vals and k not in vals and 255 in vals and ign != 0:
        out.add("semantic.gt_zero_based_with_reduce_zero_label",
                f"reduce_zero_label is on but the GT never holds {k} and holds 255: the files look 0-based "
                f"already (0..{k - 1}, 255 ignored), and reduce_zero_label would shift every class by one; "
                "drop --reduce-zero-label if so", values=sorted(vals))
    per_class = np.bincount(codes[present][codes[present] >= 0], weights=hist[present][codes[present] >= 0],
                            minlength=k)[:k]
    unused = np.flatnonzero(per_class == 0)
    if unused.size and present.size:
        out.add("semantic.unused_classes",
                f"{plural(int(unused.size), 'class', 'classes')} of {k} never {verb(int(unused.size), 'occurs', 'occur')} "
                f"in the GT: "
                f"{listing(unused.tolist(), limit=12)}", count=int(unused.size), classes=unused.tolist())


def _span(values) -> str:
    vals = sorted(values)
    return f"{vals[0]}..{vals[-1]}" if vals else "(none)"


def _gt_rule(setup: SemanticSetup) -> str:
    if setup.label_map_name:
        return f" after the label map {setup.label_map_name}"
    if setup.reduce_zero_label:
        return " after reduce_zero_label (raw 1..K)"
    return ""


def _reading_fields(names: list, ev: ReadingEvidence) -> dict:
    """Structured fields of a reading decision."""
    return {"agree": {names[0]: ev.agree_a, names[1]: ev.agree_b}, "scored_pixels": ev.scored,
            "values_only": {names[0]: ev.only_a, names[1]: ev.only_b}}


def reading_label(name: str) -> str:
    """Words for a reading, for messages."""
    return {"class-index": "read as class indices", "as-gt": "read like the GT files"}.get(name, name)


def pred_findings(col, setup: SemanticSetup, out: Findings) -> None:
    k, ign = setup.num_classes, setup.ignore_index
    names = list(setup.pred_codes)
    reading = names[0]
    if len(names) == 2:
        ev = ReadingEvidence.from_histogram(col.pred_hist, setup.pred_codes[names[0]], setup.pred_codes[names[1]],
                                            col.agree[0], col.agree[1])
        what = _convention_words(setup)
        decision = decide_reading(ev, what)
        fields = _reading_fields(names, ev)
        found = None if decision.choice is None else names[decision.choice]
        if setup.pred_labels == "auto":
            if found is None:
                out.add("semantic.pred_convention_unclear",
                        f"cannot tell whether predictions are {what[0]} or {what[1]}: {decision.reason}; "
                        "pass --pred-labels class-index or as-gt", **fields)
            else:
                reading = found
                out.add("semantic.pred_convention",
                        f"predictions read as {what[names.index(reading)]} ({reading}): {decision.reason}",
                        reading=reading, **fields)
        else:
            reading = setup.pred_labels
            if found is not None and found != reading:
                out.add("semantic.pred_convention_mismatch",
                        f"predictions are read as {what[names.index(reading)]} (pred_labels={reading}) but look "
                        f"like {what[names.index(found)]}: {decision.reason}; pass --pred-labels {found}",
                        reading=reading, suggested=found, **fields)
    records = col.pred_records.get(reading, [])
    bad_files = [(f, vals) for f, vals, _ in records if vals]
    if bad_files:
        totals: dict = {}
        nfiles: dict = {}
        for _, vals in bad_files:
            for v, c in vals.items():
                totals[v] = totals.get(v, 0) + c
                nfiles[v] = nfiles.get(v, 0) + 1
        shown = [f"{v} ({totals[v]:,} px in {plural(nfiles[v], 'file')})" for v in sorted(totals)]
        out.add("semantic.pred_out_of_range",
                f"prediction values on scored pixels that are no class 0..{k - 1} ({reading_label(reading)}): "
                f"{listing(shown, limit=5)}; files: {listing([f for f, _ in bad_files])}",
                count=len(bad_files), values={v: totals[v] for v in sorted(totals)},
                files=[f for f, _ in bad_files])
    void_files = [(f, sum(v.values())) for f, _, v in records if v]
    if void_files:
        total = sum(n for _, n in void_files)
        values = sorted({v for _, _, vals in records for v in vals})
        out.add("semantic.pred_void",
                f"{plural(total, 'scored pixel')} in {plural(len(void_files), 'prediction')} "
                f"{verb(total, 'is', 'are')} predicted as void (value"
                f"{'s' if len(values) > 1 else ''} {listing(values)}, which {reading_label(reading)} become the ignore "
                f"index {ign}); eval refuses them unless --void-predictions miss: "
                f"{listing([f'{f} ({n:,} px)' for f, n in void_files], limit=3)}",
                count=len(void_files), pixels=total, values=values, files=[f for f, _ in void_files])


def _convention_words(setup: SemanticSetup) -> tuple[str, str]:
    """How the two readings are called for this dataset (ADE20K / Cityscapes wording)."""
    from ..presets import CITYSCAPES_LABELID_TO_TRAINID as to_train

    k, lut = setup.num_classes, setup.gt_map
    if setup.label_map_name is not None and lut is not None and lut.size > max(to_train) \
            and all(lut[a] == b for a, b in to_train.items()):
        return "trainIds (0..18)", "labelIds (like the GT files)"
    if setup.reduce_zero_label and setup.label_map_name is None:
        return f"0-based class indices (0..{k - 1})", f"1-based values like the GT files (1..{k})"
    return f"class indices (0..{k - 1})", "raw values like the GT files"
