"""Evaluation inside ``torch.distributed`` training: one call merges every rank's state into every rank.

:func:`sync` is for a validation loop that runs on every rank of a process
group (DDP), each rank scoring its part of the images with a
:class:`~segmetrics.semantic.SemanticEvaluator` or a
:class:`~segmetrics.panoptic.PanopticEvaluator`::

    ev = segmetrics.SemanticEvaluator(19, per_image=True)
    for index, image, gt in loader:               # loader over a DistributedSampler
        ev.update(gt, model(image).argmax(1), image_id=index.tolist())
    segmetrics.torch.sync(ev)                     # on every rank; collective
    ev.compute().metrics["mIoU"]                  # the same on every rank

torch is imported inside the functions (the ``[model]`` or ``[test]`` extra,
or any torch >= 2.1 the user has); importing this module costs nothing.
"""
from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError, SegmetricsWarning
from .state import id_key

__all__ = ["SyncReport", "sync"]

#: How many ids an error message or a note lists.
_LISTED = 5


@dataclass(frozen=True)
class SyncReport:
    """What :func:`sync` did.

    Attributes
    ----------
    world_size : int
        Ranks in the group.
    num_images : int
        Images in the merged state.
    duplicates : list
        Image ids that more than one rank had scored identically and that
        are counted once (sampler padding).
    notes : list of str
        One line per thing worth telling (the duplicates); also issued as
        :class:`~segmetrics.errors.SegmetricsWarning`.
    """

    world_size: int
    num_images: int
    duplicates: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def _shown(ids: list) -> str:
    more = f" and {len(ids) - _LISTED} more" if len(ids) > _LISTED else ""
    return ", ".join(repr(i) for i in ids[:_LISTED]) + more


def _config(evaluator) -> dict:
    """What must agree between ranks: the evaluator's kind, classes, settings and kept fields."""
    state = evaluator.state
    cats = getattr(evaluator, "categories", None)
    return {"task": state.TASK, "num_classes": state.num_classes, "params": evaluator.params(),
            "categories": None if cats is None else [(int(c), str(n), bool(t))
                                                     for c, n, t in zip(cats.ids, cats.names, cats.isthing)],
            "with_semantic": getattr(evaluator, "with_semantic", None),
            "groups": sorted(state.groups - {"cells"}), "shards": state.num_shards}


def _same_record(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key, x in a.items():
        y = b[key]
        if isinstance(x, np.ndarray):
            if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                return False
        elif x != y:
            return False
    return True


def _all_gather(obj: Any, group, world: int) -> list:
    import torch.distributed as dist

    out: list = [None] * world
    dist.all_gather_object(out, obj, group=group)
    return out


def _all_reduce_sums(sums: dict, group) -> dict:
    """Every sum field added over the ranks: one int64 all-reduce (on the GPU with nccl)."""
    import torch
    import torch.distributed as dist

    names = sorted(sums)
    for name in names:
        if np.asarray(sums[name]).dtype != np.int64:  # every sum field of the states is int64
            raise InputError(f"segmetrics internal error: sum field {name} is not int64")
    flat = np.concatenate([np.asarray(sums[n], dtype=np.int64).reshape(-1) for n in names])
    tensor = torch.from_numpy(flat)
    if dist.get_backend(group) == "nccl":
        tensor = tensor.to(torch.device("cuda", torch.cuda.current_device()))
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)
    total = tensor.cpu().numpy()
    out, at = {}, 0
    for name in names:
        shape = np.shape(sums[name])
        size = int(np.prod(shape, dtype=np.int64))
        part = total[at:at + size]
        out[name] = part.reshape(shape).copy() if shape else np.int64(part[0])
        at += size
    return out


def sync(evaluator, group=None, *, assume_disjoint: bool = False) -> SyncReport:
    """Merge the states of every rank into every rank's ``evaluator`` (a collective call).

    Parameters
    ----------
    evaluator : SemanticEvaluator or PanopticEvaluator
        This rank's evaluator; its ``state`` is replaced by the merged state.
    group : torch.distributed.ProcessGroup, optional
        The group to merge over (default: the whole world).
    assume_disjoint : bool
        Allow evaluators without per-image rows (``per_image=False``): their
        image ids are not known, so an image scored on two ranks cannot be
        found and would count twice.  Pass True only when the ranks hold
        disjoint images (a sampler that does not pad, e.g. uneven shards).

    Returns
    -------
    SyncReport

    Raises
    ------
    InputError
        On every rank alike (no rank is left waiting): torch.distributed is
        not initialised; the ranks' evaluators differ (kind, classes,
        settings, kept fields); no per-image rows and not ``assume_disjoint``;
        an image id scored on two ranks with different results (message names
        the id and the ranks); duplicates in states without per-image cells.

    Notes
    -----
    Sums (confusion matrices, TP / FP / FN, image counts) are added by one
    ``all_reduce`` of an int64 tensor (a CUDA tensor with nccl, a CPU tensor
    with gloo); per-image rows, match IoUs and cells travel by
    ``all_gather_object``.  The merged state is put together in the states'
    canonical order, so it is bit for bit the state one process gets from
    the same images, and ``compute()`` gives the same numbers on every rank.
    With nccl, each rank's CUDA device must be set first
    (``torch.cuda.set_device``), as ``all_gather_object`` requires; the
    states themselves are host memory (the evaluators count on the CPU), so
    the one copy to the device is the packed sums.

    Duplicates: a ``DistributedSampler`` pads the last round with repeated
    images so that every rank gets as many.  An image id held by more than
    one rank is compared across them (its per-image counts, matches and
    confusion cells, and the warnings naming it); identical copies are
    counted once (the lowest rank's copy is kept, the others are taken out
    with :meth:`~segmetrics.state.SemanticState.drop_images`) and listed in
    the report's notes; copies that differ are an error naming the id.
    This needs real image ids (``update(..., image_id=...)``, e.g. dataset
    indices): the default ids count from 0 on every rank and would collide.
    """
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch without distributed
        raise InputError("segmetrics.torch.sync needs torch with torch.distributed") from None
    if not (dist.is_available() and dist.is_initialized()):
        raise InputError("segmetrics.torch.sync: torch.distributed is not initialised "
                         "(call torch.distributed.init_process_group first)")
    state = getattr(evaluator, "state", None)
    if state is None or not hasattr(evaluator, "params"):
        raise InputError(f"sync needs a SemanticEvaluator or PanopticEvaluator, got {type(evaluator).__name__}")
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    # 1. what every rank holds, gathered before anything can fail, so every rank decides alike
    infos = _all_gather({"config": _config(evaluator), "ids": state.image_ids if state.per_image_kept else None,
                         "cells": "cells" in state.groups}, group, world)
    for r, info in enumerate(infos):
        if info["config"] != infos[0]["config"]:
            diff = sorted(k for k in info["config"] if info["config"][k] != infos[0]["config"].get(k))
            raise InputError(f"cannot sync: the evaluator on rank {r} differs from rank 0's ({', '.join(diff)})")
    if infos[0]["ids"] is None and not assume_disjoint:
        raise InputError("cannot sync evaluators without per-image rows: an image scored on two ranks (a "
                         "DistributedSampler pads with repeated images) would count twice; build the evaluators "
                         "with per_image=True, or pass assume_disjoint=True when the ranks hold disjoint images")
    holders: dict = {}
    for r, info in enumerate(infos):
        for i in info["ids"] or ():
            holders.setdefault(id_key(i), (i, []))[1].append(r)
    dups = sorted((v for v in holders.values() if len(v[1]) > 1), key=lambda v: id_key(v[0]))
    local = state.copy()
    if "cells" in local.groups and not all(info["cells"] for info in infos):
        local.drop_cells()  # every rank's part must keep the same fields
    notes: list = []
    if dups:
        if not all(info["cells"] for info in infos):
            raise InputError(f"image ids {_shown([i for i, _ in dups])} were scored on more than one rank, and the "
                             "states have no per-image cells to count them once (keep per_image=True and do not "
                             "merge folder-engine states into the evaluators)")
        mine = [i for i, ranks in dups if rank in ranks]
        records = _all_gather({id_key(i): local.image_record(i) for i in mine}, group, world)
        for i, ranks in dups:
            first = records[ranks[0]][id_key(i)]
            other = next((r for r in ranks[1:] if not _same_record(first, records[r][id_key(i)])), None)
            if other is not None:
                raise InputError(f"image id {i!r} was scored on ranks {ranks[0]} and {other} with different results: "
                                 "the same image must give the same counts on every rank (are the image ids "
                                 "unique, e.g. dataset indices passed as image_id=?)")
        local.drop_images([i for i, ranks in dups if rank in ranks[1:]])
        notes.append(f"{len(dups)} images were scored on more than one rank (a DistributedSampler pads with "
                     f"repeated images) with identical results and are counted once: image ids "
                     f"{_shown([i for i, _ in dups])}")
    # 2. the sums by all-reduce, the rows by gather; put together in canonical order
    sums = _all_reduce_sums(local.sum_arrays(), group)
    parts = _all_gather(local.row_arrays(), group, world)
    evaluator.state = type(state).from_parts(state.num_classes, sums, parts, groups=local.groups)
    for note in notes:
        _warnings.warn(note, SegmetricsWarning, stacklevel=2)
    return SyncReport(world_size=world, num_images=evaluator.state.num_images,
                      duplicates=[i for i, _ in dups], notes=notes)
