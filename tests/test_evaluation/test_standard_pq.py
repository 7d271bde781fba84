"""Our PQ / SQ / RQ keys equal standard panoptic quality: mmdet's ``pq_compute_single_core``
(panopticapi's algorithm) is the oracle, run on COCO-panoptic files derived from the uid labels.

mmdet imports two helpers from panopticapi, which is not on PyPI: its ``PQStat`` accumulator (taken here
from panoptic_parts' copy of it) and ``rgb2id`` (id = R + 256 G + 256^2 B). The matching, crowd, void and
false-positive rules under test are mmdet's code."""
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from tapps_mm.evaluation import PartPQEvaluator, PPSStats
from tapps_mm.specs import load_spec
from tapps_mm.testing.pps_cases import prediction_from_gt, random_gt


def _to_coco_panoptic(segments: np.ndarray, crowd: np.ndarray, labels: np.ndarray, sids: list,
                      path: str) -> list[dict]:
    """Write an id PNG (id = R + 256 G + 256^2 B, 0 = void) and return its segments_info."""
    keys, inv = np.unique(segments, return_inverse=True)
    inv = inv.reshape(segments.shape)
    ids = np.zeros(segments.shape, np.int64)
    info = []
    for k, key in enumerate(keys):
        if key < 0:
            continue
        mask = inv == k
        seg_id = len(info) + 1
        ids[mask] = seg_id
        info.append({'id': seg_id, 'category_id': int(sids[labels[mask][0]]), 'iscrowd': int(crowd[mask][0]),
                     'area': int(mask.sum())})
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 256 ** 2], -1).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return info


def _panopticapi_case(spec, ev, gt: np.ndarray, pred: np.ndarray, root: str, name: str):
    """(gt annotation, pred annotation) for one image in the COCO panoptic format."""
    uniq, inv = np.unique(gt, return_inverse=True)
    sid, _, _, sid_iid = ev._decode_gt_uids(uniq, name)
    label = ev.sid2label[sid][inv].reshape(gt.shape)
    sid_iid = sid_iid[inv].reshape(gt.shape)
    thing = np.isin(sid[inv].reshape(gt.shape), spec.thing_sids)
    gt_seg = np.where(label >= 0, sid_iid, -1)  # one segment per uid without its part: sid * 1000 + iid, or sid
    crowd = thing & (sid_iid < 1000)  # a thing uid without instance id; instance 0 is an instance
    gt_info = _to_coco_panoptic(gt_seg, crowd, label, spec.classes, osp.join(root, 'gt', name))
    plabel = ev.sid2label[pred[..., 0]]
    p_seg = np.where(plabel >= 0, plabel * 256 + pred[..., 1], -1)
    p_info = _to_coco_panoptic(p_seg, np.zeros(gt.shape, bool), plabel, spec.classes, osp.join(root, 'pred', name))
    return {'file_name': name, 'segments_info': gt_info}, {'file_name': name, 'segments_info': p_info}


@pytest.fixture
def pq_compute_single_core(monkeypatch):
    from mmdet.evaluation.functional import panoptic_utils

    from tapps_mm.compat import import_panoptic_parts
    import_panoptic_parts()
    from panoptic_parts.utils.evaluation_PartPQ import PQStat
    monkeypatch.setattr(panoptic_utils, 'PQStat', PQStat)
    monkeypatch.setattr(panoptic_utils, 'rgb2id', lambda rgb: rgb[..., 0].astype(np.uint32) + 256 * rgb[..., 1].astype(
        np.uint32) + 256 ** 2 * rgb[..., 2].astype(np.uint32))
    return panoptic_utils.pq_compute_single_core


def _average(stat, sids) -> dict[str, float]:
    """panopticapi's ``pq_average``: the mean over the classes with TP + FP + FN > 0."""
    cats = [stat[s] for s in sids if stat[s].tp + stat[s].fp + stat[s].fn > 0]
    pq = [c.iou / (c.tp + 0.5 * c.fp + 0.5 * c.fn) for c in cats]
    sq = [c.iou / c.tp if c.tp else 0.0 for c in cats]
    rq = [c.tp / (c.tp + 0.5 * c.fp + 0.5 * c.fn) for c in cats]
    return {k: float(np.mean(v)) if v else 0.0 for k, v in (('PQ', pq), ('SQ', sq), ('RQ', rq))}


@pytest.mark.parametrize('spec_name', ['cityscapes', 'pascal', 'synthetic'])
@pytest.mark.parametrize('seed', range(4))
def test_pq_equals_panopticapi(spec_name, seed, tmp_path, pq_compute_single_core):
    spec = load_spec(spec_name)
    ev = PartPQEvaluator(spec)
    rng = np.random.default_rng(500 + seed)
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'pred').mkdir()
    total = PPSStats.zeros(spec.num_classes, spec.num_parts)
    annotations = []
    instance0_next_to_crowd = 0
    for i in range(6):
        h, w = (int(v) for v in rng.integers(24, 72, 2))
        gt = random_gt(spec, rng, h, w, num_things=int(rng.integers(2, 10)))
        uids = np.unique(gt)
        crowd_sids = {int(u) for u in uids if u in spec.thing_sids}
        instance0_next_to_crowd += any(1000 <= u <= 99_999 and u % 1000 == 0 and u // 1000 in crowd_sids
                                       or u > 99_999 and u // 100 % 1000 == 0 and u // 100_000 in crowd_sids
                                       for u in uids.tolist())
        pred = prediction_from_gt(spec, gt, rng, noise=float(rng.uniform(0.2, 1.5)))
        total += ev.image_stats(gt, pred)
        annotations.append(_panopticapi_case(spec, ev, gt, pred, str(tmp_path), f'img{i:03d}.png'))
    categories = {sid: {'id': sid, 'name': str(sid), 'isthing': int(sid in spec.thing_sids)} for sid in spec.classes}
    oracle = pq_compute_single_core(0, annotations, str(tmp_path / 'gt'), str(tmp_path / 'pred'), categories)
    ours = ev.summarize(total)

    # the cases hold what makes standard PQ differ from PartPQ's matching: part-less parts-class objects, and
    # instance 0 of a class in images with crowd of the same class
    partless = sum(c['PQ_TP'] + c['PQ_FN'] - c['TP'] - c['FN'] for c in ours['per_class'].values())
    assert partless > 0 or spec_name == 'synthetic'
    assert instance0_next_to_crowd > 0
    for label, sid in enumerate(spec.classes):
        o, u = oracle.pq_per_cat[sid], ours['per_class'][str(sid)]
        assert (u['PQ_TP'], u['PQ_FP'], u['PQ_FN']) == (o.tp, o.fp, o.fn), (sid, u, vars(o))
        assert abs(total.pq_iou[label] - o.iou) <= 1e-9
    for suffix, sids in (('', spec.classes), ('_th', spec.thing_sids), ('_st', spec.stuff_sids)):
        ref = _average(oracle, sids)
        for key in ('PQ', 'SQ', 'RQ'):
            assert abs(ours[key + suffix] - ref[key]) <= 1e-9, (key, suffix)
    assert json.loads(json.dumps(ours)) == ours  # plain JSON types


def test_instance_zero_is_an_instance_not_crowd():
    """Cityscapes numbers instances from 0: car 26000 is a segment of its own beside the car crowd (26), and a
    prediction matching it is a TP of standard PQ (the crowd only excuses predictions on it)."""
    spec = load_spec('cityscapes')
    gt = np.full((12, 12), 7, np.int32)
    gt[0:4, 0:4] = 26000       # the first car of the image
    gt[0:4, 6:10] = 26         # car crowd
    gt[6:10, 0:4] = 26001
    pred = np.zeros((12, 12, 3), np.uint8)
    pred[..., 0] = 7
    pred[0:4, 0:4] = (26, 1, 255)
    pred[6:10, 0:4] = (26, 2, 255)
    ev = PartPQEvaluator(spec)
    car = ev.summarize(ev.image_stats(gt, pred))['per_class']['26']
    assert (car['PQ_TP'], car['PQ_FP'], car['PQ_FN'], car['PQ']) == (2, 0, 0, 1.0)
    pred[0:4, 0:4] = (7, 0, 255)  # the first car missed: a false negative, not crowd
    car = ev.summarize(ev.image_stats(gt, pred))['per_class']['26']
    assert (car['PQ_TP'], car['PQ_FP'], car['PQ_FN']) == (1, 0, 1)


def test_partless_object_is_a_segment_for_pq_and_crowd_for_partpq():
    """A person without part labels: PartPQ drops it (crowd), standard PQ scores it as a TP."""
    spec = load_spec('cityscapes')
    gt = np.full((12, 12), 7, np.int32)
    gt[4:8, 6:10] = 24002      # a person without part labels
    gt[0:3, 0:4] = 26          # car crowd
    pred = np.zeros((12, 12, 3), np.uint8)
    pred[..., 0] = 7
    pred[4:8, 6:10] = (24, 9, 1)
    pred[0:3, 0:4] = (26, 1, 0)  # a car on the crowd: ignored by both
    ev = PartPQEvaluator(spec)
    person = ev.summarize(ev.image_stats(gt, pred))['per_class']['24']
    assert (person['TP'], person['FP'], person['FN']) == (0, 0, 0)
    assert (person['PQ_TP'], person['PQ_FP'], person['PQ_FN'], person['PQ']) == (1, 0, 0, 1.0)
