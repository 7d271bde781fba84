"""Random ground truth / prediction pairs in the official PPS formats, for tests and benchmarks.

The cases exercise what the evaluator must get right: touching and overlapping instances, crowd,
void, segments without part labels, 'unknown' (255) parts, wrong classes, merged instances, shifted
masks, false positives and missed objects.
"""
from __future__ import annotations

import os
import os.path as osp

import numpy as np

from tapps_mm.pps_format import write_images_json, write_label, write_prediction
from tapps_mm.specs import PPSSpec


def _dataset_pids(spec: PPSSpec, sid: int) -> list[int]:
    """Raw (file) pids that the dataset spec allows for a class, incl. countable groupings."""
    dspec = spec.dataset_spec
    if hasattr(dspec, '_sid_pid_file2sid_pid'):
        return sorted(k % 100 for k in dspec._sid_pid_file2sid_pid if k >= 100 and k // 100 == sid)
    return list(range(1, len(dspec.part_classes_from_sid(sid))))


def _box(rng, h, w, min_frac=0.1, max_frac=0.5):
    bh = max(1, int(h * rng.uniform(min_frac, max_frac)))
    bw = max(1, int(w * rng.uniform(min_frac, max_frac)))
    y, x = rng.integers(0, h - bh + 1), rng.integers(0, w - bw + 1)
    return slice(y, y + bh), slice(x, x + bw)


def random_gt(spec: PPSSpec, rng: np.random.Generator, h: int, w: int, num_things: int = 6,
              extra_pids: dict[int, list[int]] | None = None) -> np.ndarray:
    """A random int32 uid map: stuff background, void, thing instances with parts (instance ids from 0, as
    Cityscapes numbers them), crowd (uid = sid, often next to instance 0 of its class)."""
    dspec = spec.dataset_spec
    void_sids = [s for s in range(len(dspec.l)) if s not in spec.classes]
    things = list(spec.thing_sids)
    gt = np.full((h, w), rng.choice(spec.stuff_sids), np.int32)
    for _ in range(rng.integers(1, 4)):
        gt[_box(rng, h, w, 0.2, 0.8)] = rng.choice(spec.stuff_sids)
    if void_sids:
        for _ in range(rng.integers(0, 3)):
            gt[_box(rng, h, w, 0.05, 0.3)] = rng.choice(void_sids)
    parts_classes = [s for s in things if _dataset_pids(spec, s)]
    next_iid: dict[int, int] = {}
    for _ in range(num_things):
        # favour classes with parts, and repeat classes so same-class instances touch / occlude
        sid = int(rng.choice(parts_classes if parts_classes and rng.random() < 0.7 else things))
        iid = next_iid[sid] = next_iid.get(sid, -1) + 1  # Cityscapes numbering: the first instance is 0
        ys, xs = _box(rng, h, w, 0.15, 0.5)
        obj = np.zeros((h, w), bool)
        obj[ys, xs] = True
        base = sid * 1000 + iid
        gt[obj] = base
        pids = _dataset_pids(spec, sid) + list((extra_pids or {}).get(sid, []))
        if pids and rng.random() < 0.9:  # some objects of parts classes carry no part labels at all
            for _ in range(rng.integers(1, 5)):
                py, px = _box(rng, ys.stop - ys.start, xs.stop - xs.start, 0.2, 0.9)
                sub = np.zeros_like(obj)
                sub[ys.start + py.start:ys.start + py.stop, xs.start + px.start:xs.start + px.stop] = True
                gt[sub] = base * 100 + int(rng.choice(pids))
    for _ in range(rng.integers(0, 3)):  # crowd: thing pixels without instance id
        gt[_box(rng, h, w, 0.05, 0.25)] = rng.choice(things)
    return gt


def prediction_from_gt(spec: PPSSpec, gt: np.ndarray, rng: np.random.Generator,
                       noise: float = 0.5) -> np.ndarray:
    """A plausible but imperfect uint8 [class, instance, part] prediction derived from ``gt``."""
    from tapps_mm.evaluation.partpq import PartPQEvaluator
    ev = PartPQEvaluator(spec, 'official')
    uniq, inv = np.unique(gt, return_inverse=True)
    sid, iid, pid, _ = ev._decode_gt_uids(uniq, 'gt')
    h, w = gt.shape
    eval_sid = np.where(ev.sid2label[sid] >= 0, sid, 255)
    sem = eval_sid[inv].reshape(h, w).astype(np.uint8)
    ins = (iid[inv].reshape(h, w) % 250).astype(np.uint8)
    part = pid[inv].reshape(h, w).astype(np.uint8)
    part[~np.isin(sem, spec.parts_sids)] = 0
    things, classes = list(spec.thing_sids), list(spec.classes)
    ops = rng.integers(0, 8, size=int(rng.integers(0, 12 * noise + 1)))
    for op in ops:
        ys, xs = _box(rng, h, w, 0.05, 0.4)
        if op == 0:    # shift a region (mask misalignment)
            dy, dx = rng.integers(-3, 4, 2)
            for a in (sem, ins, part):
                a[ys, xs] = np.roll(a[ys, xs], (dy, dx), (0, 1))
        elif op == 1:  # a false-positive thing
            sem[ys, xs] = rng.choice(things)
            ins[ys, xs] = rng.integers(100, 250)
            part[ys, xs] = 0
        elif op == 2:  # no class
            sem[ys, xs] = 255
        elif op == 3:  # unknown parts
            part[ys, xs] = 255
        elif op == 4:  # random (partly wrong) parts
            pids = list(spec.pids_of(int(rng.choice(spec.parts_sids)))) if spec.parts_sids else [1]
            part[ys, xs] = rng.choice(pids + [0, 99])
        elif op == 5:  # merge instances: one instance id for a whole region
            ins[ys, xs] = ins[ys.start, xs.start]
        elif op == 6:  # wrong class
            sem[ys, xs] = rng.choice(classes)
        else:          # instance split
            ins[ys, xs] = (ins[ys, xs].astype(np.int32) + 1) % 250
    return np.stack([sem, ins, part], -1)


def write_case_folder(root: str, gts: list[np.ndarray], preds: list[np.ndarray]) -> tuple[str, str, str]:
    """Write GT .tif / prediction .png files and images.json in the official layout."""
    gt_dir, pred_dir = osp.join(root, 'gt'), osp.join(root, 'pred')
    os.makedirs(gt_dir, exist_ok=True)
    os.makedirs(pred_dir, exist_ok=True)
    ids = [f'img{i:05d}' for i in range(len(gts))]
    for image_id, gt, pred in zip(ids, gts, preds):
        write_label(osp.join(gt_dir, f'{image_id}.tif'), gt)
        write_prediction(osp.join(pred_dir, f'{image_id}.png'), pred)
    images_json = osp.join(root, 'images.json')
    write_images_json(images_json, [{'id': i, 'file_name': f'{i}.png'} for i in ids])
    return gt_dir, pred_dir, images_json
