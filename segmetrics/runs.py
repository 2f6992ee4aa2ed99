"""Run-state files as results: :func:`load_state` and :func:`merge_states`.

A run-state file (``.smstate``, format in :mod:`segmetrics.state`) holds a
state and the facts its result needs (parameters, classes, what was scored,
notes); loading it gives back a result with the very numbers and report of the
run that saved it.  Merging states of disjoint image sets gives the result of
one run over all of them, bit for bit, in any merge order.
"""
from __future__ import annotations

import os
from typing import Iterable, Union

from .errors import FormatError, InputError
from .panoptic import PanopticResult, _categories_bytes
from .panoptic import build_result as panoptic_result
from .semantic import SemanticResult
from .semantic import build_result as semantic_result
from .state import id_key, read_state_file
from .stats.slices import Manifest

__all__ = ["load_state", "merge_states", "check_shards", "compare_states"]

Result = Union[SemanticResult, PanopticResult]


def _result(header: dict, state, *, dataset: dict | None = None, notes=None, run_warnings=None) -> Result:
    params = header.get("params", {})
    dataset = header.get("dataset", {}) if dataset is None else dataset
    notes = header.get("notes", []) if notes is None else notes
    run_warnings = header.get("run_warnings", []) if run_warnings is None else run_warnings
    classes = header.get("classes", {})
    manifest = None if header.get("slices") is None else Manifest.from_header(header["slices"], len(state.image_ids))
    if state.TASK == "semantic":
        return semantic_result(state, class_names=classes["names"], absent_rule=params.get("absent_rule", "mmseg"),
                               params=params, dataset=dataset, notes=notes, run_warnings=run_warnings,
                               manifest=manifest)
    return panoptic_result(state, classes["categories"], with_semantic=header.get("with_semantic", True),
                           params=params, dataset=dataset, notes=notes, run_warnings=run_warnings,
                           emit_warnings=False, manifest=manifest)


def load_state(path) -> Result:
    """Read a run-state file (``segmetrics eval --save-state``, ``result.save_state``) into a result.

    Raises
    ------
    FormatError
        Not a segmetrics state file, a newer format, a bad checksum, a truncated file.
    """
    header, state = read_state_file(path)
    try:
        return _result(header, state)
    except FormatError as exc:
        raise FormatError(f"{os.fspath(path)}: {exc}") from None


def _common(values: list):
    """One value when all agree, else the distinct values in a fixed order."""
    distinct = sorted({repr(v): v for v in values}.items())
    return distinct[0][1] if len(distinct) == 1 else [v for _, v in distinct]


def _listed(names: list) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def check_shards(names: list, states: list, *, partial: bool = False) -> None:
    """Refuse shard states that do not make one run: a shard given twice, a shard missing (unless
    ``partial``), shards of different cuts, shards with whole runs.  Messages name the shards and files."""
    sharded = [(n, s) for n, s in zip(names, states) if "shard" in s.groups]
    if not sharded:
        return
    whole = next((n for n, s in zip(names, states) if "shard" not in s.groups), None)
    if whole is not None:
        raise InputError(f"cannot merge {whole} (a run that is not a shard) with shards ({sharded[0][0]})")
    cuts = sorted({s.num_shards for _, s in sharded})
    if len(cuts) > 1:
        first = {c: next(n for n, s in sharded if s.num_shards == c) for c in cuts}
        raise InputError("cannot merge shards of runs cut in different numbers of shards: "
                         + ", ".join(f"{first[c]} ({c})" for c in cuts))
    n = cuts[0]
    total = sum(s.shard_runs for _, s in sharded)
    twice = [i for i in range(n) if total[i] > 1]
    if twice:
        i = twice[0]
        where = [name for name, s in sharded if s.shard_runs[i]]
        raise InputError(f"shard {i}/{n} is given more than once ({' and '.join(where[:3])})"
                         + (f"; also repeated: {_listed([f'{j}/{n}' for j in twice[1:]])}" if len(twice) > 1 else ""))
    missing = [f"{i}/{n}" for i in range(n) if total[i] == 0]
    if missing and not partial:
        raise InputError(f"{len(missing)} of {n} shards are missing: {_listed(missing)} (merge every shard of the "
                         "run, or pass partial=True / --partial to merge some of them)")


def merge_states(items: Iterable[Union[str, os.PathLike, SemanticResult, PanopticResult]], *,
                 partial: bool = False) -> Result:
    """Merge run states of disjoint image sets (state-file paths or results) into one result.

    Raises
    ------
    InputError
        Fewer than one item; different tasks, parameters, class lists or kept
        fields; a state without per-image rows (image ids are needed to refuse
        double counting); an image id in two states; shard states
        (``--shard I/N``) of which one is given twice or, unless ``partial``,
        one is missing, or mixed with whole runs.  The message names the
        first two inputs that disagree and what differs.
    FormatError
        A file that is not a valid state file.

    Notes
    -----
    Counts add up, per-image rows and matches are kept in image-id order,
    warnings sorted, so the merged result (and its saved file) does not depend
    on the order of ``items``.  ``dataset``: paths common to all inputs are
    kept (else the sorted list of the distinct ones); missing-prediction ids
    are united; prediction ids that matched no GT image are united minus the
    merged images (a shard's extras are often another shard's images); the
    fingerprint is recomputed from the merged per-image GT digests.
    """
    items = list(items)
    if not items:
        raise InputError("merge_states needs at least one state")
    names, headers, states = [], [], []
    for x in items:
        if isinstance(x, (SemanticResult, PanopticResult)):
            if x.state is None:
                raise InputError("a result without state cannot be merged")
            names.append(f"result {len(names) + 1}")
            headers.append(x.state_header())
            states.append(x.state.copy())
        else:
            h, s = read_state_file(x)
            names.append(os.fspath(x))
            headers.append(h)
            states.append(s)
    first, h0 = names[0], headers[0]
    for name, h, s in zip(names, headers, states):
        if s.TASK != states[0].TASK:
            raise InputError(f"cannot merge a {states[0].TASK} state ({first}) with a {s.TASK} state ({name})")
        if not s.per_image_kept:
            raise InputError(f"cannot merge {name}: it has no per-image rows (save it with per_image=True / "
                             "--save-state), so overlapping images could not be refused")
        for key in sorted(set(h0.get("params", {})) | set(h.get("params", {}))):
            a, b = h0.get("params", {}).get(key), h.get("params", {}).get(key)
            if a != b:
                raise InputError(f"cannot merge {first} and {name}: parameter {key} differs ({a!r} vs {b!r})")
        if h.get("classes") != h0.get("classes"):
            raise InputError(f"cannot merge {first} and {name}: the class lists differ")
        if h.get("with_semantic", True) != h0.get("with_semantic", True):
            raise InputError(f"cannot merge {first} and {name}: one has the category-map metrics, one not")
    check_shards(names, states, partial=partial)
    slices = _merged_slices(names, headers, [s.image_ids for s in states])
    merged = states[0]
    for name, s in zip(names[1:], states[1:]):
        try:
            merged.merge(s)
        except InputError as exc:
            raise InputError(f"cannot merge {name} into {first}: {exc}") from None
    ids = {id_key(i) for i in merged.image_ids}
    datasets = [h.get("dataset", {}) for h in headers]
    dataset = {}
    for key in sorted({k for d in datasets for k in d}):
        if key in ("missing_ids", "extra_ids", "fingerprint"):
            continue
        dataset[key] = _common([d.get(key) for d in datasets])
    missing = {id_key(i): i for d in datasets for i in d.get("missing_ids", [])}
    extra = {id_key(i): i for d in datasets for i in d.get("extra_ids", []) if id_key(i) not in ids}
    dataset["missing_ids"] = [missing[k] for k in sorted(missing)]
    dataset["extra_ids"] = [extra[k] for k in sorted(extra)]
    cats = h0.get("classes", {}).get("categories")
    dataset["fingerprint"] = merged.fingerprint(_categories_bytes(cats) if cats is not None else b"")
    notes = sorted({n for h in headers for n in h.get("notes", [])})
    run_warnings = sorted({w for h in headers for w in h.get("run_warnings", [])})
    h0 = dict(h0, slices=None if slices is None else slices(merged.image_ids))
    return _result(h0, merged, dataset=dataset, notes=notes, run_warnings=run_warnings)


def _merged_slices(names: list, headers: list, ids: list):
    """The slice manifests kept in the states, as one function of the merged image ids (None
    when no state keeps one).  Every state that keeps one must have the same attributes; the
    images of a state without one are ``__unassigned__``."""
    from .stats.slices import UNASSIGNED

    kept = [(n, h["slices"], i) for n, h, i in zip(names, headers, ids) if h.get("slices")]
    if not kept:
        return None
    attributes = kept[0][1].get("attributes")
    for name, sl, _ in kept[1:]:
        if sl.get("attributes") != attributes:
            raise InputError(f"cannot merge {kept[0][0]} and {name}: their slice manifests have different "
                             f"attributes ({attributes} vs {sl.get('attributes')})")
    values: dict = {}
    for name, sl, image_ids in kept:
        manifest = Manifest.from_header(sl, len(image_ids))
        for a in manifest.attributes:
            values.setdefault(a, {}).update(zip((id_key(i) for i in image_ids), manifest.values[a]))
    paths = sorted({str(sl.get("path", "")) for _, sl, _ in kept})

    def header(merged_ids: list) -> dict:
        keys = [id_key(i) for i in merged_ids]
        vals = {a: [values[a].get(k, UNASSIGNED) for k in keys] for a in attributes}
        listed = sum(any(vals[a][j] != UNASSIGNED for a in attributes) for j in range(len(keys)))
        return {"path": paths[0] if len(paths) == 1 else ", ".join(paths), "attributes": list(attributes),
                "values": vals, "listed": listed, "unknown_ids": [], "notes": []}
    return header


def compare_states(base, new, *, level: float = 0.95, resamples: int = 1000, seed: int = 0,
                   method: str = "percentile", permutations: int | None = None, alpha: float = 0.05,
                   correction: str = "holm"):
    """Compare two runs of the same images: deltas, paired intervals, p-values, moved classes.

    Parameters
    ----------
    base, new : path-like or result
        Run-state files (``eval --save-state``) or results that kept per-image counts.
    level, resamples, seed, method
        The paired bootstrap of the deltas (:func:`segmetrics.stats.compare`).
    permutations : int, optional
        Swap patterns of the randomization test (default ``resamples``; all
        ``2**N`` when that is not more).
    alpha : float
        Level of the ``significant`` flags.
    correction : {"holm", "bh"}
        Per-class p-values adjusted over the classes (Holm: family-wise error
        rate; Benjamini-Hochberg: false discovery rate).

    Returns
    -------
    segmetrics.stats.results.RunComparison
        ``.comparison`` (the numbers), ``.rows()`` (the table rows),
        ``.significant_drops(limits)`` (the gate), and
        :func:`segmetrics.stats.results.comparison_document` of ``.rows()`` is
        what ``segmetrics compare --json`` writes.

    Raises
    ------
    InputError
        Different tasks, ground truth (fingerprints), image ids, classes or
        ``absent_rule``; a result without per-image counts.

    Notes
    -----
    ``delta = new - base`` on the whole data.  The interval resamples images
    jointly for both runs; the two-sided p-value swaps each image's base and
    new counts with probability 1/2 and recomputes the metric from the sums
    (see ``docs/statistics.md``).  A headline metric is ``significant`` when
    ``p <= alpha`` (headline metrics are not corrected against each other); a
    class when its adjusted p-value is ``<= alpha``.
    """
    from .stats.results import compare_results

    runs, names = [], []
    for x in (base, new):
        if isinstance(x, (SemanticResult, PanopticResult)):
            runs.append(x)
            names.append(f"the {'base' if not runs[:-1] else 'new'} run")
        else:
            runs.append(load_state(x))
            names.append(os.fspath(x))
    if names[0] == names[1]:
        names = ["the base run", "the new run"]
    return compare_results(runs[0], runs[1], names=tuple(names), level=level, resamples=resamples, seed=seed,
                           method=method, permutations=permutations, alpha=alpha, correction=correction)
