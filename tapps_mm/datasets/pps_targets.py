"""Per-image PPS targets from an official uid map, in a form geometric augmentations can carry.

Why one integer map: the image, the object masks and the part labels must see the *same* flip, resize
and crop. Encoding every pixel's (segment, part) into one int32 map and letting mmdet's transforms
resize / flip / crop it as ``gt_seg_map`` (nearest interpolation) guarantees that, and the targets are
decoded only after the last augmentation (:func:`decode_targets`). Part labels can then never leave
their object, and no pixel can belong to two objects.

Code of a pixel: ``(segment index + 1) * 256 + part code``; codes below 256 are void (also mmdet's pad
value 255). Part code 0 = no part label, ``j + 1`` = flat part index ``j`` of the spec.

Decisions (the same in training and evaluation, see docs/datasets.md):
- Dataset sids map through the eval spec's ``dataset_sid2eval_sid``; unmapped sids are void.
- Thing pixels without an instance id (uid = sid) are crowd: kept apart as ignore regions.
- File pids are grouped like the official ``decode_uids`` (Pascal-PP's countable parts); pids that the
  dataset spec does not define (Cityscapes-PP's person/rider pid 5) become 'no part label'.
- Part labels are the official TAPPS's (its ``datasets/prepare_*_pp.py``): every pixel's (sid, pid), or its
  sid alone where it has no pid, maps through ``dataset_sid_pid2eval_sid_pid`` (missing or IGNORED keys map
  to themselves, as ``parse_dataset_sid_pid2eval_sid_pid``) to an eval sid_pid, whose flat part id
  (``eval_sid_pid2eval_pid_flat``) is the label; so Pascal-PP's single-part classes (boat ``4 -> 4_01``) and
  the part-less pixels of bicycles / motorbikes (``2 -> 2_02``) carry a part, and Cityscapes-PP's part-less
  pixels none.
- GT segments of one pixel or less (after augmentation) are no targets, as in the official mappers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tapps_mm.pps_format import check_uids, split_uids
from tapps_mm.specs import PPSSpec
from tapps_mm.structures.part_targets import PART_BITS

VOID = 0


@dataclass
class PPSTargetCodes:
    """The encoded map and the table of its segments (index = segment index)."""

    codes: np.ndarray    # int32 H x W
    labels: np.ndarray   # int64 [S] contiguous class label (spec.classes order)
    crowd: np.ndarray    # bool [S]


class PPSTargetEncoder:
    """Turns official uid maps of one spec into :class:`PPSTargetCodes`."""

    def __init__(self, spec: PPSSpec):
        self.spec = spec
        dspec = spec.dataset_spec
        n = len(dspec.l)
        # dataset sid -> contiguous label (-1 = void)
        self.sid2label = np.full(n, -1, np.int64)
        for dsid, esid in spec.dataset_sid2eval_sid.items():
            if esid is not None and 0 <= dsid < n and esid in spec.sid2label:
                self.sid2label[dsid] = spec.sid2label[esid]
        self.is_thing = np.zeros(n, bool)
        self.is_thing[[dspec.sid_from_scene_class(c) for c in dspec.l_things]] = True
        # (dataset sid, dataset pid) -> part code (0 = no part label); ``sid_code``: of uids without pid
        self.part_code = np.zeros((n, 100), np.int64)
        self.sid_code = np.zeros(n, np.int64)
        self.num_defined_pids = spec.num_dataset_pids
        # file pid -> dataset pid: Pascal-PP groups countable parts (e.g. car wheels 20-29 -> wheel),
        # as the official decode_uids does; -1 = not defined by the dataset spec
        self.file2pid = np.full((n, 100), -1, np.int64)
        grouping = getattr(dspec, '_sid_pid_file2sid_pid', None)
        for dsid in range(n):
            self.file2pid[dsid, 0] = 0
            for fpid in range(1, 100):
                if grouping is None:
                    dpid = fpid
                else:
                    sp = grouping.get(dsid * 100 + fpid)
                    dpid = sp % 100 if sp is not None and sp >= 100 else -1
                if 0 < dpid <= self.num_defined_pids[dsid]:
                    self.file2pid[dsid, fpid] = dpid
        def flat_of(key: int) -> int:  # official: sid_pid -> eval sid_pid -> flat part id (0: none)
            esp = spec.dataset_sid_pid2eval_sid_pid.get(key) or key  # IGNORED (None) / missing: itself
            return spec.sid_pid2flat.get(esp, 0) if esp >= 100 else 0

        for dsid in range(n):
            self.sid_code[dsid] = flat_of(dsid)
            for dpid in range(self.num_defined_pids[dsid] + 1):
                self.part_code[dsid, dpid] = flat_of(dsid * 100 + dpid)

    def undefined_pid_pixels(self, uids: np.ndarray) -> dict[int, int]:
        """Pixels per dataset sid whose pid the dataset spec does not define (e.g. Cityscapes pid 5)."""
        sid, _, pid = split_uids(uids)
        bad = self.file2pid[sid, pid] < 0
        return {int(s): int(c) for s, c in zip(*np.unique(sid[bad], return_counts=True))}

    def encode(self, uids: np.ndarray, name: str = 'label') -> PPSTargetCodes:
        check_uids(uids, self.spec, name)
        distinct, inverse = np.unique(uids, return_inverse=True)
        sid, iid, pid = split_uids(distinct)
        label = self.sid2label[sid]
        thing = self.is_thing[sid]
        crowd = thing & (distinct <= 99)  # a thing uid without instance id; instance ids start at 0
        # one segment per thing instance, one per crowd group, one per stuff class
        seg_key = np.where(label < 0, -1, label * 1001 + np.where(crowd, 1000, np.where(thing, iid, 0)))
        keys, seg = np.unique(seg_key, return_inverse=True)
        has_void = keys[0] == -1
        seg = seg - int(has_void)
        keys = keys[int(has_void):]
        seg_labels = keys // 1001
        seg_crowd = keys % 1001 == 1000
        dpid = self.file2pid[sid, pid]
        part = np.where(distinct > 99_999, self.part_code[sid, np.maximum(dpid, 0)], self.sid_code[sid])
        part = np.where(crowd | (dpid < 0), 0, part)
        code = np.where(seg >= 0, (seg + 1) * PART_BITS + part, VOID).astype(np.int32)
        return PPSTargetCodes(code[inverse].reshape(uids.shape), seg_labels.astype(np.int64), seg_crowd)


@dataclass
class PPSTargets:
    """Decoded targets of one (augmented) image."""

    labels: np.ndarray       # int64 [N] objects (things, then... in segment order), crowd excluded
    masks: np.ndarray        # uint8 [N, H, W]
    part_seg: np.ndarray     # uint8 H x W: 0 = no part / not an object of a parts class, j + 1 = part j
    ignore: np.ndarray       # bool H x W: void and crowd pixels
    sem_seg: np.ndarray      # uint8 H x W: class label, 255 for void and crowd


#: segments of at most this many pixels are dropped from the targets (the official mappers' ``np.sum(mask) > 1``)
MAX_DROPPED_AREA = 1


def decode_targets(codes: np.ndarray, labels: np.ndarray, crowd: np.ndarray, ignore_index: int = 255
                   ) -> PPSTargets:
    """Targets of the segments still visible in ``codes`` (after augmentation); segments of one pixel or
    less are ignored like crowd (no target, as the official mappers drop them)."""
    seg = codes // PART_BITS - 1
    part = (codes % PART_BITS).astype(np.uint8)
    valid = seg >= 0
    if not len(labels):  # nothing but void
        h, w = codes.shape
        return PPSTargets(labels[:0], np.zeros((0, h, w), np.uint8), np.zeros((h, w), np.uint8),
                          np.ones((h, w), bool), np.full((h, w), ignore_index, np.uint8))
    present, area = np.unique(seg[valid], return_counts=True)
    dropped = crowd.copy()
    dropped[present[area <= MAX_DROPPED_AREA]] = True
    keep = present[~dropped[present]]
    ignore = ~valid | (valid & dropped[np.maximum(seg, 0)])
    masks = (seg[None] == keep[:, None, None]).astype(np.uint8)
    sem = np.where(ignore, ignore_index, labels[np.maximum(seg, 0)]).astype(np.uint8)
    part = np.where(ignore, 0, part).astype(np.uint8)
    return PPSTargets(labels[keep], masks, part, ignore, sem)
