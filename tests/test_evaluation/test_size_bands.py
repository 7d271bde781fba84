"""Objects by size band (COCO's small / medium / large, scaled to the image): the evaluator's band arrays
equal an independent restatement of the rules on crafted images that reach each rule, sum to the official
evaluator's per-class TP / FP / FN, and survive the per-image files (old files without them still load)."""
from __future__ import annotations

import numpy as np
import pytest

from tapps_mm.evaluation import PartPQEvaluator, PPSStats, pair_files
from tapps_mm.evaluation.partpq import BAND_FIELDS, band_quality, band_thresholds
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.pps_format import read_label, read_prediction
from tapps_mm.specs import load_spec
from tapps_mm.testing.official import official_class_stats
from tapps_mm.testing.pps_cases import prediction_from_gt, random_gt, write_case_folder

ROAD, VOID, PERSON, CAR, MOTORCYCLE, BICYCLE = 7, 0, 24, 26, 32, 33  # Cityscapes-PP sids


# ------------------------------------------------------------------------------ the rules, restated
def _decode(uid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sid, instance id or -1) of each uid: sid, sid * 1000 + iid, sid * 100000 + iid * 100 + pid."""
    sid = np.where(uid >= 10 ** 5, uid // 10 ** 5, np.where(uid >= 1000, uid // 1000, uid))
    iid = np.where(uid >= 10 ** 5, uid // 100 % 1000, np.where(uid >= 1000, uid % 1000, -1))
    return sid, iid


def _reference_bands(gt: np.ndarray, pred: np.ndarray, classes, things) -> dict[int, dict[str, np.ndarray]]:
    """Per thing sid: band TP / FP / FN / IoU sum, by plain masks. A GT segment: the pixels of one (sid, iid);
    a predicted one: one (class, instance id); IoU = inter / (GT + pred - inter - pred on void) > 0.5; an
    unmatched prediction is an FP unless more than half of it lies on void or on same-class crowd; TP and FN
    in the band of the GT area, FP in that of the predicted area; thresholds 32^2, 96^2 x (long side / 640)^2.
    (No crowd-only or part-less GT segments here: those rules are the oracle tests' business.)"""
    sid, iid = _decode(gt.astype(np.int64))
    void = ~np.isin(sid, list(classes))
    scale = (max(gt.shape) / 640) ** 2

    def band(area):
        return 0 if area < 32 ** 2 * scale else 1 if area < 96 ** 2 * scale else 2

    out = {}
    for c in things:
        r = {k: np.zeros(3) for k in ('tp', 'fp', 'fn', 'iou')}
        gts = [(sid == c) & (iid == i) for i in sorted(set(iid[(sid == c) & (iid >= 0)].tolist()))]
        crowd = (sid == c) & (iid < 0)
        preds = [(pred[..., 0] == c) & (pred[..., 1] == i) for i in sorted(set(pred[..., 1][pred[..., 0] == c]))]
        matched = set()
        for g in gts:
            ious = [(g & p).sum() / (g.sum() + p.sum() - (g & p).sum() - (p & void).sum()) for p in preds]
            hit = [j for j, v in enumerate(ious) if v > 0.5 and j not in matched]
            if hit:
                matched.add(hit[0])
                r['tp'][band(g.sum())] += 1
                r['iou'][band(g.sum())] += ious[hit[0]]
            else:
                r['fn'][band(g.sum())] += 1
        for j, p in enumerate(preds):
            if j not in matched and ((p & void).sum() + (p & crowd).sum()) / p.sum() <= 0.5:
                r['fp'][band(p.sum())] += 1
        out[c] = r
    return out


def _assert_equal_to_reference(spec, gt, pred) -> PPSStats:
    ev = PartPQEvaluator(spec)
    st = ev.image_stats(gt, pred)
    ref = _reference_bands(gt, pred, spec.classes, spec.thing_sids)
    for label, sid in enumerate(spec.classes):
        if sid in ref:
            for key in ('tp', 'fp', 'fn'):
                np.testing.assert_array_equal(getattr(st, f'band_{key}')[label], ref[sid][key], err_msg=f'{sid} {key}')
            np.testing.assert_allclose(st.band_iou[label], ref[sid]['iou'], rtol=0, atol=1e-12)
        else:  # stuff has no size band
            assert not (st.band_tp[label].any() or st.band_fp[label].any() or st.band_fn[label].any())
    return st


def _row(st: PPSStats, spec, sid: int) -> tuple[list, list, list]:
    label = spec.classes.index(sid)
    return st.band_tp[label].tolist(), st.band_fp[label].tolist(), st.band_fn[label].tolist()


# ------------------------------------------------------------------------------ crafted images
def _toy_64():
    """A 64 x 64 image (small < 10.24 px, medium < 92.16 px), each rule once."""
    gt = np.full((64, 64), ROAD, np.int32)
    pred = np.zeros((64, 64, 3), np.uint8)
    pred[..., 0] = ROAD
    gt[0:3, 0:3] = BICYCLE * 1000 + 1            # small GT (9 px), matched exactly: TP small
    pred[0:3, 0:3] = (BICYCLE, 1, 0)
    gt[20:32, 0:12] = CAR * 10 ** 5 + 1 * 100 + 1  # large GT (144 px, with a part label), missed: FN large
    pred[40:46, 40:46] = (MOTORCYCLE, 1, 0)      # on road, 36 px: FP medium
    gt[0:3, 50:55] = VOID
    pred[0:5, 50:55] = (MOTORCYCLE, 2, 0)        # 25 px, 15 on void (60 %): ignored, not an FP
    gt[10:12, 50:55] = VOID
    pred[10:15, 50:55] = (MOTORCYCLE, 3, 0)      # 25 px, 10 on void (40 %): FP medium
    gt[50:59, 0:9] = BICYCLE * 1000 + 3          # medium GT (81 px), predicted 100 px (IoU .81): TP medium
    pred[50:60, 0:10] = (BICYCLE, 3, 0)
    gt[0:3, 20:23] = BICYCLE * 1000 + 4          # small GT, prediction shifted (IoU .2): FN small, FP small (9 px)
    pred[0:3, 22:25] = (BICYCLE, 4, 0)
    gt[40:46, 0:6] = CAR                         # car crowd, a car predicted on it: ignored
    pred[40:46, 0:6] = (CAR, 9, 1)
    return gt, pred


def test_each_rule_on_a_64_pixel_image():
    spec = load_spec('cityscapes')
    assert band_thresholds(64).tolist() == pytest.approx([10.24, 92.16])
    gt, pred = _toy_64()
    st = _assert_equal_to_reference(spec, gt, pred)
    assert _row(st, spec, BICYCLE) == ([1, 1, 0], [1, 0, 0], [1, 0, 0])
    assert _row(st, spec, CAR) == ([0, 0, 0], [0, 0, 0], [0, 0, 1])
    assert _row(st, spec, MOTORCYCLE) == ([0, 0, 0], [0, 2, 0], [0, 0, 0])
    assert st.band_iou[spec.classes.index(BICYCLE)].tolist() == pytest.approx([1.0, 0.81, 0.0])
    pq, recall = band_quality(st.band_tp.sum(0), st.band_fp.sum(0), st.band_fn.sum(0), st.band_iou.sum(0))
    assert pq.tolist() == pytest.approx([1 / (1 + 0.5 + 0.5), 0.81 / (1 + 1), 0.0])
    assert recall.tolist() == pytest.approx([0.5, 1.0, 0.0])


def _toy_640(transpose: bool = False):
    """A 120 x 640 image (long side 640: COCO's own thresholds, 1024 and 9216 px)."""
    gt = np.full((120, 640), ROAD, np.int32)
    pred = np.zeros((120, 640, 3), np.uint8)
    pred[..., 0] = ROAD
    gt[0:20, 0:20] = BICYCLE * 1000 + 0          # 400 px: small here (large on a 64-pixel image)
    pred[0:20, 0:20] = (BICYCLE, 0, 0)
    gt[0:32, 100:132] = BICYCLE * 1000 + 1       # 1024 px, on the threshold: medium
    pred[0:32, 100:132] = (BICYCLE, 7, 0)
    gt[0:100, 200:300] = CAR * 10 ** 5 + 2 * 100 + 1  # 10000 px: large, predicted 95 % of it (IoU .95)
    pred[0:95, 200:300] = (CAR, 1, 1)
    pred[50:90, 400:440] = (MOTORCYCLE, 1, 0)    # 1600 px: FP medium
    gt[100:110, 500:600] = PERSON * 10 ** 5 + 0 * 100 + 1  # 1000 px person: missed, FN small
    if transpose:
        return np.ascontiguousarray(gt.T), np.ascontiguousarray(pred.transpose(1, 0, 2))
    return gt, pred


@pytest.mark.parametrize('transpose', [False, True])
def test_thresholds_scale_with_the_long_side(transpose):
    spec = load_spec('cityscapes')
    gt, pred = _toy_640(transpose)
    st = _assert_equal_to_reference(spec, gt, pred)
    assert _row(st, spec, BICYCLE) == ([1, 1, 0], [0, 0, 0], [0, 0, 0])
    assert _row(st, spec, CAR) == ([0, 0, 1], [0, 0, 0], [0, 0, 0])
    assert _row(st, spec, MOTORCYCLE) == ([0, 0, 0], [0, 1, 0], [0, 0, 0])
    assert _row(st, spec, PERSON) == ([0, 0, 0], [0, 0, 0], [1, 0, 0])
    assert st.band_iou[spec.classes.index(CAR)].tolist() == pytest.approx([0, 0, 0.95])
    # the same 400-pixel object is large on a 64 x 64 image
    small = np.full((64, 64), ROAD, np.int32)
    small[0:20, 0:20] = BICYCLE * 1000
    p = np.zeros((64, 64, 3), np.uint8)
    p[..., 0] = ROAD
    p[0:20, 0:20] = (BICYCLE, 0, 0)
    assert _row(_assert_equal_to_reference(spec, small, p), spec, BICYCLE) == ([0, 0, 1], [0, 0, 0], [0, 0, 0])


@pytest.mark.parametrize('spec_name,seed', [('cityscapes', 0), ('cityscapes', 1), ('pascal', 2)])
def test_random_images_equal_the_restatement(spec_name, seed):
    """Random images without crowd-only or part-less segments (the rules the restatement leaves out)."""
    spec = load_spec(spec_name)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        gt = random_gt(spec, rng, 30, 90, num_things=6)
        sid, iid = _decode(gt.astype(np.int64))
        thing = np.isin(sid, list(spec.thing_sids))
        gt = np.where(thing & (iid < 0), spec.stuff_sids[0], gt)  # no crowd
        has_parts = {s for s, parts in zip(spec.classes, PartPQEvaluator(spec).label_has_parts) if parts}
        for s, i in set(zip(sid[thing & (iid >= 0)].tolist(), iid[thing & (iid >= 0)].tolist())):
            seg = (sid == s) & (iid == i)
            if s in has_parts and not (gt[seg] >= 10 ** 5).any():
                gt[seg] = spec.stuff_sids[0]  # a part-less object of a parts class would become crowd
        pred = prediction_from_gt(spec, gt, rng, noise=float(rng.uniform(0.3, 1.2)))
        _assert_equal_to_reference(spec, gt, pred)


# ------------------------------------------------------------------------------ the official counts
@pytest.mark.parametrize('spec_name,seed', [('cityscapes', 0), ('pascal', 1)])
def test_band_sums_are_the_official_counts(spec_name, seed, tmp_path):
    """On the oracle tests' kind of random cases (crowd, void, part-less objects, ...), square and long thin
    images so that objects fall in all three bands: per thing class the bands sum to the official TP / FP / FN, and
    for things without parts (PartPQ IoU = object IoU) the band IoU sums to the official IoU sum."""
    spec = load_spec(spec_name)
    rng = np.random.default_rng(2000 + seed)
    shapes = [(24, 200), (80, 80), (24, 200), (64, 90), (30, 160), (80, 80)]
    gts = [random_gt(spec, rng, h, w, num_things=int(rng.integers(4, 10))) for h, w in shapes]
    preds = [prediction_from_gt(spec, g, rng, noise=float(rng.uniform(0.2, 1.2))) for g in gts]
    official, _ = official_class_stats(spec, [(g, p) for _, g, p in pair_files(*write_case_folder(
        str(tmp_path), gts, preds))], parse_spec_once=True)
    ev = PartPQEvaluator(spec, 'official')
    total = PPSStats.zeros(spec.num_classes, spec.num_parts)
    for _, g, p in pair_files(*write_case_folder(str(tmp_path / 'ours'), gts, preds)):
        total += ev.image_stats(read_label(g), read_prediction(p))
    assert total.has_bands
    for label, sid in enumerate(spec.classes):
        o = official[sid]
        bands = [int(getattr(total, f'band_{k}')[label].sum()) for k in ('tp', 'fp', 'fn')]
        if ev.label_is_thing[label]:
            assert bands == [o['tp'], o['fp'], o['fn']], (sid, bands, o)
            if not ev.label_has_parts[label]:
                assert total.band_iou[label].sum() == pytest.approx(o['iou'], abs=1e-9)
        else:
            assert bands == [0, 0, 0] and total.band_iou[label].sum() == 0
    thing_rows = ev.label_is_thing
    per_band = total.band_tp[thing_rows].sum(0) + total.band_fn[thing_rows].sum(0)
    assert (per_band > 0).all(), per_band  # GT objects in every band: the test reaches them all


# ------------------------------------------------------------------------------ per-image files
def _two_images(spec):
    ev = PartPQEvaluator(spec)
    gt, pred = _toy_64()
    gt2, pred2 = _toy_640()
    return [ev.image_stats(gt, pred), ev.image_stats(gt2, pred2)]


def test_per_image_files_keep_the_bands_and_old_files_still_load(tmp_path):
    spec = load_spec('cityscapes')
    stats = _two_images(spec)
    kept = PerImageStats.from_images(['b', 'a'], stats, [0, 0], [0, 0], spec.name)
    kept.save(str(tmp_path / 'new.npz'))
    new = PerImageStats.load(str(tmp_path / 'new.npz'))
    assert new.has_bands and new.arrays['band_tp'].shape == (2, spec.num_classes, 3)
    total = new.total()
    both = stats[0] + stats[1]
    for name in BAND_FIELDS:
        np.testing.assert_array_equal(getattr(total, name), getattr(both, name))
    np.testing.assert_array_equal(new.arrays['band_fp'][0], stats[1].band_fp)  # rows sorted by image id
    new.require_bands()

    # a file written before the bands: the same arrays without them
    with np.load(str(tmp_path / 'new.npz')) as data:
        np.savez(str(tmp_path / 'old.npz'), **{k: data[k] for k in data.files if k not in BAND_FIELDS})
    old = PerImageStats.load(str(tmp_path / 'old.npz'))
    assert not old.has_bands
    old_total = old.total()
    assert not old_total.has_bands and old_total.band_tp is None
    np.testing.assert_array_equal(old_total.tp, total.tp)
    assert PartPQEvaluator(spec).summarize(old_total) == PartPQEvaluator(spec).summarize(total)
    with pytest.raises(ValueError, match='predates'):
        old.require_bands('run x')
    assert not (old_total + total).has_bands and (total + total).has_bands  # a sum with an old file has none

    # half the band arrays, or band arrays of the wrong shape: refused, naming the file
    with np.load(str(tmp_path / 'new.npz')) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(str(tmp_path / 'half.npz'), **{k: v for k, v in arrays.items() if k != 'band_iou'})
    with pytest.raises(ValueError, match='half.npz.*without'):
        PerImageStats.load(str(tmp_path / 'half.npz'))
    np.savez(str(tmp_path / 'shape.npz'), **{**arrays, 'band_tp': arrays['band_tp'][..., :2]})
    with pytest.raises(ValueError, match=r'shape.npz.*\(images, classes, 3\)'):
        PerImageStats.load(str(tmp_path / 'shape.npz'))
