"""Our part supervision is the official TAPPS's, for a Pascal-PP sample with what sets the two apart.

The reference restates, from the public code of tue-mps/tapps, how a label becomes part targets
(``datasets/prepare_pascal_pp.py``: the part label map; ``pascal_panoptic_parts_new_baseline_dataset_mapper.py``:
the objects and their part masks; ``register_pascal_panoptic_parts.py``: ``train_sids2train_pids``) and how the
part loss uses them (``modeling/criterion.py``, ``loss_masks_parts``: bilinearly sampled binary targets, dice +
BCE, normalised by the number of part masks on the process). The sample holds: a person with part labels and
part-less pixels, a person without any part label, a chair (a single-part class: ``9 -> 9_01``), a bicycle whose
part-less pixels map to a part (``2 -> 2_02``), a person crowd, a one-pixel car and void.
"""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmcv.ops import point_sample
from mmdet.models.utils import get_uncertain_point_coords_with_randomness

from tapps_mm.compat import import_panoptic_parts
from tapps_mm.datasets.pps_targets import PPSTargetEncoder, decode_targets
from tapps_mm.specs import load_spec
from tapps_mm.testing.model_cases import tiny_model

PASCAL = 'configs/tapps/tapps_r50_4xb4-60k_pascal-pp.py'
SKY, GRASS, PERSON, CHAIR, BICYCLE, CAR = 84, 53, 15, 9, 2, 7


def pascal_label() -> np.ndarray:
    uids = np.full((48, 64), SKY, np.int32)
    uids[24:] = GRASS
    uids[10:40, 2:14] = PERSON * 1000                   # person 0: part-less pixels ...
    uids[10:16, 2:14] = (PERSON * 1000) * 100 + 1       # ... a head
    uids[16:28, 2:14] = (PERSON * 1000) * 100 + 14      # ... and another part
    uids[10:40, 18:28] = PERSON * 1000 + 1              # person 1: no part label at all
    uids[30:44, 32:42] = CHAIR * 1000                   # a single-part class, no pid in the file
    uids[20:40, 46:60] = BICYCLE * 1000                 # part-less pixels: 2 -> 2_02
    uids[20:25, 46:60] = (BICYCLE * 1000) * 100 + 1
    uids[2:6, 30:40] = PERSON                           # crowd
    uids[0, 63] = CAR * 1000                            # one pixel: no target
    uids[44:48, 0:8] = 0                                # void
    return uids


# ------------------------------------------------------------------------------------ the reference
def official_part_label(spec, uids: np.ndarray) -> np.ndarray:
    """``prepare_pascal_pp.py``'s part label map (flat part id, 0 background, 255 ignore)."""
    import_panoptic_parts()
    import panoptic_parts as pp
    from panoptic_parts.utils.evaluation_PartPQ import parse_dataset_sid_pid2eval_sid_pid
    ev = spec.official
    sids, _, _, sids_iids, sids_pids = pp.decode_uids(uids, return_sids_iids=True, return_sids_pids=True,
                                                      experimental_dataset_spec=ev._dspec)
    mapping = parse_dataset_sid_pid2eval_sid_pid(ev.dataset_sid_pid2eval_sid_pid)
    eval_sids_pids = np.vectorize(mapping.get)(sids_pids)
    flat = np.full(10000, 255, np.int64)
    for sid_pid, f in ev.eval_sid_pid2eval_pid_flat.items():
        flat[int(sid_pid)] = int(f)
    part = flat[eval_sids_pids]
    part[part == 255] = 0
    with_parts = np.isin(sids, ev.eval_sid_parts)
    ignore = (sids_iids < 1000) & with_parts & np.isin(sids, ev.eval_sid_things)
    ignore |= (eval_sids_pids < 100) & with_parts
    part[ignore] = 255
    return part


def official_targets(spec, uids: np.ndarray) -> list[tuple[int, np.ndarray, list[tuple[int, np.ndarray]]]]:
    """The mapper's objects: (label, mask, [(part index, part mask)]) of every non-crowd segment of more than
    one pixel, parts for every class of ``train_sids2train_pids``."""
    import_panoptic_parts()
    import panoptic_parts as pp
    part_seg = official_part_label(spec, uids)
    sids, _, _, sids_iids = pp.decode_uids(uids, return_sids_iids=True)
    train_pids: dict[int, list[int]] = {}
    for sid_pid, f in spec.official.eval_sid_pid2eval_pid_flat.items():
        train_pids.setdefault(int(sid_pid) // 100, []).append(int(f))
    out = []
    for segment in np.unique(sids_iids):
        sid = int(segment if segment < 1000 else segment // 1000)
        if sid not in spec.classes:
            continue
        crowd = segment < 1000 and sid in spec.official.eval_sid_things
        mask = sids_iids == segment
        if mask.sum() > 1 and not crowd:
            parts = [(f - 1, (part_seg == f) & mask) for f in train_pids.get(sid, [])]
            out.append((spec.sid2label[sid], mask, parts))
    return out


def official_part_loss(point_logits, point_labels):
    """``loss_masks_parts``: dice and mean BCE over points, summed over masks / the number of masks (>= 1)."""
    num_masks = max(point_logits.shape[0], 1)
    p = point_logits.sigmoid()
    dice = 1 - (2 * (p * point_labels).sum(-1) + 1) / (p.sum(-1) + point_labels.sum(-1) + 1)
    bce = F.binary_cross_entropy_with_logits(point_logits, point_labels, reduction='none').mean(1)
    return bce.sum() / num_masks, dice.sum() / num_masks


# ------------------------------------------------------------------------------------ ours
@pytest.fixture(scope='module')
def case():
    spec = load_spec('pascal')
    uids = pascal_label()
    codes = PPSTargetEncoder(spec).encode(uids)
    t = decode_targets(codes.codes, codes.labels, codes.crowd)
    head = tiny_model(PASCAL).panoptic_head
    masks = torch.from_numpy(t.masks).bool()
    from mmengine.structures import InstanceData
    gt = InstanceData(labels=torch.from_numpy(t.labels), masks=masks)
    part_map = torch.from_numpy(t.part_seg.astype(np.int64))
    targets = head._part_targets(gt, part_map)
    everyone = torch.arange(len(gt))  # every GT object matched (to queries 0, 1, ...)
    objects = head._supervised_objects([gt], [targets], [types.SimpleNamespace(pos_inds=everyone,
                                                                               pos_assigned_gt_inds=everyone)])
    pair, parts = head._select_parts(objects.labels).nonzero(as_tuple=True)
    return spec, uids, head, gt, targets, objects.imgs[pair], objects.gts[pair], parts


def test_the_part_label_map_is_the_official(case):
    spec, uids, *_ = case
    official = official_part_label(spec, uids)
    codes = PPSTargetEncoder(spec).encode(uids)
    ours = decode_targets(codes.codes, codes.labels, codes.crowd).part_seg
    labelled = (official != 255) & (official > 0)  # 0 and 255 both mean 'no part' for every part mask
    assert np.array_equal(ours[labelled], official[labelled])
    assert not ours[~labelled].any()
    assert (official[uids == CHAIR * 1000] == spec.sid_pid2flat[CHAIR * 100 + 1]).all()  # 9 -> 9_01
    assert (official[uids == BICYCLE * 1000] == spec.sid_pid2flat[BICYCLE * 100 + 2]).all()  # 2 -> 2_02


def test_supervised_part_masks_are_the_officials(case):
    """The same (object, part) masks: single-part chair included, the part-less person with 6 empty masks, the
    bicycle's part-less pixels in its part 2_02; the one-pixel car and the crowd have none."""
    spec, uids, head, gt, targets, imgs, gts, parts = case
    code_masks = targets.code_map[None] == head._code(gts, parts)[:, None, None]
    ours = {(int(gt.labels[g]), gt.masks[g].numpy().tobytes(), int(p), m.numpy().tobytes())
            for g, p, m in zip(gts, parts, code_masks)}
    official = {(label, mask.tobytes(), j, pm.tobytes()) for label, mask, pms in official_targets(spec, uids)
                for j, pm in pms}
    assert ours == official
    labels = [spec.classes[int(gt.labels[g])] for g in gts]
    assert labels.count(CHAIR) == 1 and labels.count(PERSON) == 2 * 6 and CAR not in labels
    empty = [not m.any() for g, m in zip(gts, code_masks) if spec.classes[int(gt.labels[g])] == PERSON]
    assert sum(empty) >= 6  # person 1's six part masks are all empty (it learns 'no part')


def test_part_loss_is_the_officials(case):
    """Same points (mmdet's and detectron2's sampler draw alike), bilinear binary targets, local normaliser."""
    spec, uids, head, gt, targets, imgs, gts, parts = case
    torch.manual_seed(0)
    logits = torch.randn(len(gts), 12, 16)
    torch.manual_seed(5)
    loss_mask, loss_dice = head._point_mask_losses(logits, imgs, gts, parts, [targets])
    torch.manual_seed(5)
    coords = get_uncertain_point_coords_with_randomness(logits[:, None], None, head.num_points, head.oversample_ratio,
                                                        head.importance_sample_ratio)
    by_key = {(label, mask.tobytes(), j): pm for label, mask, pms in official_targets(spec, uids) for j, pm in pms}
    target_masks = torch.stack([torch.from_numpy(by_key[(int(gt.labels[g]), gt.masks[g].numpy().tobytes(), int(p))])
                                for g, p in zip(gts, parts)]).float()
    point_labels = point_sample(target_masks[:, None], coords, align_corners=False).squeeze(1)
    assert ((point_labels > 0) & (point_labels < 1)).any()  # bilinear: soft at part edges
    ref_mask, ref_dice = official_part_loss(point_sample(logits[:, None], coords).squeeze(1), point_labels)
    assert float(loss_mask) == pytest.approx(5.0 * float(ref_mask), rel=1e-5)  # loss_weight 5 (MASK_WEIGHT)
    assert float(loss_dice) == pytest.approx(5.0 * float(ref_dice), rel=1e-5)


def test_part_loss_normaliser_is_local(case, monkeypatch):
    """The official normaliser is this process's number of part masks: in a (simulated) 2-process world whose
    other process holds 3x as many, the loss does not change."""
    spec, uids, head, gt, targets, imgs, gts, parts = case
    logits = torch.randn(len(gts), 12, 16)
    torch.manual_seed(5)
    alone = head._point_mask_losses(logits, imgs, gts, parts, [targets])
    monkeypatch.setattr(torch.distributed, 'is_initialized', lambda: True)
    monkeypatch.setattr(torch.distributed, 'get_world_size', lambda *a: 2)
    monkeypatch.setattr(torch.distributed, 'all_reduce', lambda t, *a, **k: t.mul_(4))  # (n + 3n) / 2 per process
    torch.manual_seed(5)
    world = head._point_mask_losses(logits, imgs, gts, parts, [targets])
    assert [float(v) for v in world] == [float(v) for v in alone]
