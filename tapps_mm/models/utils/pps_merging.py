"""The baseline's PPS merging (objects + part segmentation -> part-aware panoptic), numpy only.

Re-implements, vectorised and array-in/array-out, the rules of the official
``panoptic_parts.merging.merge_to_pps.merge`` (which works on COCO-panoptic PNG/JSON files), so that the
baselines of TAPPS Table 3 can be built from in-memory predictions and give the same PNGs:

- the panoptic objects are the source of truth: channel 0 is the object's eval sid, 255 (the spec's
  ``ignore_label``) where no object was predicted (void);
- channel 1 is the official instance id: segments of one class are numbered 1, 2, ... in the order the
  official code receives them; we use the (sid, iid) order, so stuff segments (iid 0) get 1 and thing iids
  1..n stay 1..n. More than 255 segments of one class raise, as in the official code;
- channel 2, inside an object of a class with parts (``eval_sid_parts``): the eval pid of the predicted flat
  part if that flat part belongs to the object's class (``eval_sid_pid2eval_pid_flat``), else 255 (unknown:
  background, a part of another class, or an out-of-range value). Inside objects of classes without parts
  (stuff included) the official code writes a dummy pid 1; on void pixels it writes 0.

The evaluation (PartPQ) only uses the pixel partition of channel 1 and ignores channel 2 outside classes with
parts, so these official fill values (1, 0, stuff instance 1) score the same as our fusion head's 255 / 0.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tapps_mm.specs import PPSSpec

#: The official merging refuses more segments per class, as its instance channel is uint8.
MAX_SEGMENTS_PER_CLASS = 255
#: Part channel written by the official merging inside objects of classes without parts.
NO_PARTS_DUMMY_PID = 1
#: Part channel written by the official merging on void pixels (its part canvas starts at 0).
VOID_PID = 0


def _split_panoptic(panoptic) -> tuple[np.ndarray, np.ndarray]:
    """Accept an HxWx2 array or a pair of HxW arrays ([eval sid or void, instance id])."""
    if isinstance(panoptic, (tuple, list)):
        sem, inst = (np.asarray(a) for a in panoptic)
    else:
        panoptic = np.asarray(panoptic)
        if panoptic.ndim != 3 or panoptic.shape[2] != 2:
            raise ValueError(f'panoptic must be HxWx2 [sid, iid] or a pair of HxW arrays, got {panoptic.shape}')
        sem, inst = panoptic[..., 0], panoptic[..., 1]
    if sem.shape != inst.shape or sem.ndim != 2:
        raise ValueError(f'sid and instance maps must be HxW arrays of one shape, got {sem.shape} and {inst.shape}')
    if not (np.issubdtype(sem.dtype, np.integer) and np.issubdtype(inst.dtype, np.integer)):
        raise TypeError('panoptic maps must be integer arrays')
    return sem.astype(np.int64), inst.astype(np.int64)


def pid_table(spec: PPSSpec) -> tuple[np.ndarray, np.ndarray]:
    """[row of class, flat part id] -> official part channel, and the row of every eval sid (-1: unknown)."""
    classes = np.asarray(spec.classes, dtype=np.int64)
    sid2row = np.full(int(classes.max()) + 1, -1, dtype=np.int64)
    sid2row[classes] = np.arange(len(classes))
    table = np.full((len(classes), spec.num_parts + 1), spec.ignore_label, dtype=np.uint8)
    for row, sid in enumerate(spec.classes):
        if sid in spec.parts_sids:
            for index, pid in spec.part_index_to_pid(sid).items():
                table[row, index + 1] = pid  # flat part id = part index + 1; flat 0 (background) stays unknown
        else:
            table[row] = NO_PARTS_DUMMY_PID
    return table, sid2row


def merge_objects_and_parts(panoptic, part_seg: np.ndarray, spec: PPSSpec, *, count_background: bool = False,
                            return_objects: bool = False):
    """Merge panoptic objects and a flat part segmentation into the official 3-channel PPS prediction.

    Args:
        panoptic: HxWx2 integer array (or a pair of HxW arrays) of [eval sid or ``spec.ignore_label`` for void,
            instance id >= 0 (0 for stuff)]. A segment is one (sid, iid) pair; iids of void pixels are ignored.
        part_seg: HxW integer array of flat part ids (part index + 1; 0 = background / no part); values outside
            1..num_parts are treated as 'no part'.
        spec: the PPS spec that defines classes, parts classes and the flat part ids.
        count_background: also count an object as conflicting when some of its pixels have no part at all
            (0 or out of range), i.e. flag every object that got at least one 255 pixel.
        return_objects: also return the (sid, iid) int64 array [K, 2] that ``conflicts`` is aligned with.

    Returns:
        ``(pps, conflicts)`` or ``(pps, conflicts, objects)``: ``pps`` is the uint8 HxWx3 official PPS
        prediction (identical to what ``panoptic_parts.merging.merge_to_pps.merge`` writes when it gets the
        segments in (sid, iid) order); ``conflicts[k]`` is True iff the k-th object of a class with parts, in
        (sid, iid) order, has at least one pixel whose predicted part is a valid part class (flat id in
        1..num_parts) that does not belong to the object's class (TAPPS Table 3 counts objects without any).
    """
    sem, inst = _split_panoptic(panoptic)
    part = np.asarray(part_seg)
    if part.shape != sem.shape:
        raise ValueError(f'part_seg has shape {part.shape}, the panoptic maps {sem.shape}')
    if not np.issubdtype(part.dtype, np.integer):
        raise TypeError('part_seg must be an integer array')
    void = spec.ignore_label
    valid = sem != void
    sids = sem[valid]
    unknown = ~np.isin(sids, spec.classes)
    if unknown.any():
        raise ValueError(f'panoptic holds sids that are neither eval sids of {spec.name!r} nor void ({void}): '
                         f'{np.unique(sids[unknown]).tolist()}')
    iids = inst[valid]
    if iids.size and iids.min() < 0:
        raise ValueError('instance ids must be >= 0')

    # segments = unique (sid, iid) pairs, sorted; the official instance id is the rank within the class
    base = int(iids.max()) + 1 if iids.size else 1
    keys, seg_of_pixel = np.unique(sids * base + iids, return_inverse=True)
    seg_of_pixel = seg_of_pixel.reshape(-1)
    seg_sid, seg_iid = keys // base, keys % base
    rank = np.arange(len(keys)) - np.searchsorted(seg_sid, seg_sid, side='left') + 1
    if len(rank) and rank.max() > MAX_SEGMENTS_PER_CLASS:
        raise ValueError(f'more than {MAX_SEGMENTS_PER_CLASS} segments of one class cannot be stored (as officially)')

    table, sid2row = pid_table(spec)
    seg_row = sid2row[seg_sid]
    row = seg_row[seg_of_pixel]
    flat = part[valid].astype(np.int64)
    in_range = (flat >= 1) & (flat <= spec.num_parts)
    pid = table[row, np.where(in_range, flat, 0)]

    pps = np.zeros((*sem.shape, 3), dtype=np.uint8)
    pps[..., 0] = void
    pps[..., 2] = VOID_PID
    pps[valid, 0] = sids
    pps[valid, 1] = rank[seg_of_pixel]
    pps[valid, 2] = pid

    has_parts = np.isin(seg_sid, spec.parts_sids)
    unassigned = has_parts[seg_of_pixel] & (pid == void)  # the pixels the official rule turns into 255
    flagged = unassigned if count_background else unassigned & in_range
    conflicts = (np.bincount(seg_of_pixel[flagged], minlength=len(keys)) > 0)[has_parts]
    if return_objects:
        objects = np.stack([seg_sid[has_parts], seg_iid[has_parts]], axis=1)
        return pps, conflicts, objects
    return pps, conflicts


__all__ = ['merge_objects_and_parts', 'pid_table', 'MAX_SEGMENTS_PER_CLASS', 'NO_PARTS_DUMMY_PID', 'VOID_PID']
