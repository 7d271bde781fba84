"""Our PartPQ equals the official panoptic_parts evaluator (the oracle), run on the same files."""
import numpy as np
import pytest

from tapps_mm.evaluation import PartPQEvaluator, PPSStats, evaluate_pps, pair_files
from tapps_mm.pps_format import read_label, read_prediction
from tapps_mm.specs import load_spec
from tapps_mm.testing.official import class_stats_of, official_class_stats, official_summary
from tapps_mm.testing.pps_cases import prediction_from_gt, random_gt, write_case_folder


def _ours_and_official(spec, gts, preds, root, official_gts=None, undefined_pids='official'):
    """Ours on (gts, preds) and the official evaluator on (official_gts or gts, preds)."""
    gt_dir, pred_dir, images_json = write_case_folder(str(root / 'ours'), gts, preds)
    off_dir = write_case_folder(str(root / 'official'), official_gts or gts, preds)
    official, official_stat = official_class_stats(
        spec, [(g, p) for _, g, p in pair_files(*off_dir)], parse_spec_once=True)
    pairs = pair_files(gt_dir, pred_dir, images_json)
    ev = PartPQEvaluator(spec, undefined_pids)
    total = PPSStats.zeros(spec.num_classes, spec.num_parts)
    for _, g, p in pairs:
        total += ev.image_stats(read_label(g), read_prediction(p))
    return class_stats_of(total, spec), official, ev.summarize(total), official_stat, (gt_dir, pred_dir, images_json)


def _assert_same(ours, official):
    assert set(ours) == set(official)
    for sid in official:
        o, u = official[sid], ours[sid]
        assert (u['tp'], u['fp'], u['fn']) == (o['tp'], o['fp'], o['fn']), (sid, u, o)
        assert abs(u['iou'] - o['iou']) <= 1e-9, (sid, u, o)


@pytest.mark.parametrize('spec_name', ['cityscapes', 'cityscapes-grouped', 'pascal', 'pascal-107'])
@pytest.mark.parametrize('seed', range(6))
def test_random_cases_equal_official(spec_name, seed, tmp_path):
    spec = load_spec(spec_name)
    rng = np.random.default_rng(1000 + seed)
    h, w = (int(v) for v in rng.integers(24, 80, 2))
    gts = [random_gt(spec, rng, h, w, num_things=int(rng.integers(2, 10))) for _ in range(5)]
    preds = [prediction_from_gt(spec, g, rng, noise=float(rng.uniform(0, 1.5))) for g in gts]
    ours, official, summary, official_stat, _ = _ours_and_official(spec, gts, preds, tmp_path)
    _assert_same(ours, official)
    assert sum(v['tp'] for v in ours.values()) > 0  # the case really matched something
    if summary['n_p'] and summary['n_np']:
        ref = official_summary(spec, official_stat)
        for key in ('PartPQ', 'PartSQ', 'PartRQ', 'PartPQ_parts', 'PartSQ_parts', 'PartRQ_parts',
                    'PartPQ_noparts', 'PartSQ_noparts', 'PartRQ_noparts', 'n', 'n_p', 'n_np'):
            assert abs(summary[key] - ref[key]) <= 1e-9, key


def test_cityscapes_undefined_human_pid_5_is_scored_like_official(tmp_path):
    """Cityscapes-PP files carry an undefined pid 5 for humans; the official code scores it as a label."""
    spec = load_spec('cityscapes')
    rng = np.random.default_rng(7)
    gts = [random_gt(spec, rng, 40, 60, num_things=8, extra_pids={24: [5], 25: [5]}) for _ in range(5)]
    assert any(((g >= 10 ** 6) & (g % 100 == 5) & (g // 10 ** 5 % 100 == 24)).any() for g in gts)
    preds = [prediction_from_gt(spec, g, rng, noise=0.7) for g in gts]
    ours, official, *_ = _ours_and_official(spec, gts, preds, tmp_path)
    _assert_same(ours, official)
    # our default treats them as 'no part label' (as training does): the official score of the same
    # ground truth with those pixels re-encoded without part id
    relabelled = [np.where((g >= 10 ** 6) & (g % 100 == 5) & np.isin(g // 10 ** 5, [24, 25]), g // 100, g)
                  for g in gts]
    ours, official, *_ = _ours_and_official(spec, gts, preds, tmp_path / 'unlabelled', relabelled, 'unlabelled')
    _assert_same(ours, official)


def _car_scene():
    """10x10 road; a car (sid 26, iid 1) in rows 2-5, cols 2-5: windows (pid 1) on top, wheels (pid 2) below."""
    gt = np.full((10, 10), 7, np.int32)
    gt[2:4, 2:6] = 2600101
    gt[4:6, 2:6] = 2600102
    pred = np.zeros((10, 10, 3), np.uint8)
    pred[..., 0] = 7
    pred[2:6, 2:6] = (26, 1, 1)
    pred[4:6, 2:4, 2] = 2
    pred[4:6, 4:6, 2] = 255  # unknown part: not a false positive, but not a hit either
    return gt, pred


def test_hand_built_part_iou(tmp_path):
    gt, pred = _car_scene()
    spec = load_spec('cityscapes')
    res = PartPQEvaluator(spec).summarize(PartPQEvaluator(spec).image_stats(gt, pred))
    car = res['per_class']['26']
    # labels present over the whole image: background 84 px (IoU 1), window (IoU 1), wheel 4/8 (IoU .5)
    assert car['TP'] == 1 and car['PartPQ'] == pytest.approx((1 + 1 + 0.5) / 3, abs=1e-12)
    assert car['PQ'] == 1.0 and res['per_class']['7']['PartPQ'] == 1.0
    assert res['PartPQ_parts'] == pytest.approx(2.5 / 3) and res['PartPQ_noparts'] == 1.0
    # and the official evaluator agrees (it needs >= 5 images)
    ours, official, *_ = _ours_and_official(spec, [gt] * 5, [pred] * 5, tmp_path)
    _assert_same(ours, official)


def test_crowd_void_and_partless_segments(tmp_path):
    spec = load_spec('cityscapes')
    gt = np.full((12, 12), 7, np.int32)
    gt[0:3, :] = 0            # void (sid 0 is not evaluated)
    gt[4:8, 0:4] = 26         # car crowd (no instance id)
    gt[4:8, 6:10] = 24002     # a person without any part label -> becomes crowd
    gt[9:12, 0:6] = 2400101   # a person with parts
    pred = np.zeros((12, 12, 3), np.uint8)
    pred[..., 0] = 7
    pred[0:3, :, 0] = 255
    pred[4:8, 0:4] = (26, 5, 0)     # predicted car on crowd: not an FP
    pred[4:8, 6:10] = (24, 9, 1)    # predicted person on the part-less person: not an FP
    pred[9:12, 0:6] = (24, 3, 1)
    pred[0:3, 0:3] = (26, 7, 0)     # a car on void: not an FP
    ev = PartPQEvaluator(spec, 'official')
    res = ev.summarize(ev.image_stats(gt, pred))
    assert res['per_class']['26'] == {**res['per_class']['26'], 'TP': 0, 'FP': 0, 'FN': 0}
    person = res['per_class']['24']
    assert (person['TP'], person['FP'], person['FN'], person['PartPQ']) == (1, 0, 0, 1.0)
    ours, official, *_ = _ours_and_official(spec, [gt] * 5, [pred] * 5, tmp_path)
    _assert_same(ours, official)


def test_no_parts_class_counted_is_defined_where_official_crashes(tmp_path):
    spec = load_spec('cityscapes')
    gt = np.full((8, 8), 7, np.int32)
    gt[4:, :] = 8
    pred = np.zeros((8, 8, 3), np.uint8)
    pred[:4, :, 0] = 7
    pred[4:, :, 0] = 255  # sidewalk missed
    ours, official, summary, official_stat, _ = _ours_and_official(spec, [gt] * 5, [pred] * 5, tmp_path)
    _assert_same(ours, official)
    with pytest.raises(ZeroDivisionError):
        official_summary(spec, official_stat)
    assert summary['n_p'] == 0 and summary['PartPQ_parts'] == 0.0
    assert summary['per_class']['8']['FN'] == 5 and summary['PartPQ_noparts'] == pytest.approx(0.5)


def test_perfect_prediction_scores_one(tmp_path):
    spec = load_spec('pascal')
    rng = np.random.default_rng(3)
    gts = [random_gt(spec, rng, 50, 70) for _ in range(3)]
    preds = [prediction_from_gt(spec, g, rng, noise=0.0) for g in gts]
    res = evaluate_pps(*write_case_folder(str(tmp_path), gts, preds), spec='pascal', progress=False)
    assert res['PartPQ'] == 1.0 and res['PQ'] == 1.0 and res['mIoU'] == 1.0 and res['mIoU_parts'] == 1.0


def test_empty_predictions_and_all_void_ground_truth(tmp_path):
    """An untrained model predicts nothing: every GT segment is a false negative, as the official code says."""
    spec = load_spec('cityscapes')
    rng = np.random.default_rng(11)
    gts = [random_gt(spec, rng, 30, 40, num_things=4) for _ in range(5)]
    preds = [prediction_from_gt(spec, g, rng, noise=0.3) for g in gts]
    preds[0][:] = 255
    preds[3][:] = 255
    ours, official, *_ = _ours_and_official(spec, gts, preds, tmp_path)
    _assert_same(ours, official)
    # a ground truth with nothing but void: no TP, and predictions lying in void are not false positives
    ev = PartPQEvaluator(spec)
    st = ev.image_stats(np.zeros((30, 40), np.int32), preds[1])
    assert st.tp.sum() == st.fn.sum() == st.fp.sum() == 0


def test_the_spec_parsed_once_is_the_official_map_and_the_official_code_is_restored():
    """The tests' shortcut (the official dense (sid, pid) map derived once per run, not once per image) hands
    the official code the map its own function derives, and leaves that function as it was."""
    mapping = load_spec('pascal').official.dataset_sid_pid2eval_sid_pid  # a grouping spec: parsed per image
    from panoptic_parts.utils import evaluation_PartPQ  # after load_spec, which imports panoptic_parts right

    from tapps_mm.testing.official import _spec_parsed_once
    original = evaluation_PartPQ.parse_dataset_sid_pid2eval_sid_pid
    with _spec_parsed_once():
        parsed = evaluation_PartPQ.parse_dataset_sid_pid2eval_sid_pid(mapping)
        assert evaluation_PartPQ.parse_dataset_sid_pid2eval_sid_pid(mapping) is parsed
    assert evaluation_PartPQ.parse_dataset_sid_pid2eval_sid_pid is original
    assert parsed == original(mapping)
