"""PartPQMetric: the numbers of evaluate_pps, under distributed evaluation too; official-format output; the
per-image statistics file, whose rows sum to the reported numbers exactly."""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from tapps_mm.evaluation import PartPQEvaluator, evaluate_pps, pair_files
from tapps_mm.evaluation.per_image import STAT_FIELDS, PerImageStats
from tapps_mm.pps_format import read_prediction
from tapps_mm.specs import load_spec
from tapps_mm.testing.official import official_class_stats
from tapps_mm.testing.pps_cases import prediction_from_gt, random_gt, write_case_folder

KEYS = ('PartPQ', 'PartSQ', 'PartPQ_parts', 'PartPQ_noparts', 'PQ', 'PQ_th', 'PQ_st', 'mIoU_th', 'mIoU_parts')


@pytest.fixture(scope='module')
def case(tmp_path_factory):
    spec = load_spec('cityscapes')
    rng = np.random.default_rng(5)
    gts = [random_gt(spec, rng, 40, 56, num_things=7) for _ in range(7)]
    preds = [prediction_from_gt(spec, g, rng, noise=0.8) for g in gts]
    return write_case_folder(str(tmp_path_factory.mktemp('metric_case')), gts, preds)


def _samples(case):
    pairs = pair_files(*case)
    samples = []
    for k, (image_id, gt_path, pred_path) in enumerate(pairs):
        pred = torch.from_numpy(read_prediction(pred_path)).permute(2, 0, 1).contiguous()
        samples.append({'pps_label_path': gt_path, 'pps_image_id': image_id, 'pred_pps': {'data': pred},
                        'pred_pps_conflicts': torch.tensor([k % 3 == 0, False, False])})
    return samples


def _build(**kwargs):
    from mmengine.registry import METRICS, init_default_scope
    init_default_scope('tapps_mm')
    return METRICS.build(dict(type='PartPQMetric', spec='cityscapes', **kwargs))


def test_metric_equals_evaluate_pps(case, tmp_path):
    metric = _build(outfile_prefix=str(tmp_path / 'out'))
    samples = _samples(case)
    for i in range(0, len(samples), 3):
        metric.process({}, samples[i:i + 3])
    res = metric.evaluate(len(samples))
    ref = evaluate_pps(*case, progress=False)
    for key in KEYS:
        assert res[f'pps/{key}'] == pytest.approx(ref[key], abs=1e-12), key
    # 3 of 21 recorded objects conflicted (samples 0, 3, 6)
    assert res['pps/obj_without_conflicts'] == pytest.approx(1 - 3 / 21)
    full = json.loads((tmp_path / 'out' / 'pps_results.json').read_text())
    assert full['per_class'] == ref['per_class']


def test_no_predicted_parts_object_gives_null_not_nan(case, tmp_path):
    """No object of a parts class predicted: the conflict rate is undefined, reported as JSON null."""
    metric = _build(outfile_prefix=str(tmp_path / 'out'))
    samples = [{**s, 'pred_pps_conflicts': torch.zeros(0, dtype=torch.bool)} for s in _samples(case)]
    metric.process({}, samples)
    res = metric.evaluate(len(samples))
    assert res['pps/obj_without_conflicts'] is None and res['pps/obj_without_conflicts_n'] == 0
    text = (tmp_path / 'out' / 'pps_results.json').read_text()
    assert 'NaN' not in text and json.loads(text)['obj_without_conflicts'] is None


def test_written_predictions_rescore_with_official_tool(case, tmp_path):
    out = tmp_path / 'out'
    metric = _build(outfile_prefix=str(out), format_only=True)
    metric.process({}, _samples(case))
    assert metric.evaluate(7) == {}
    written = pair_files(case[0], str(out / 'predictions'), str(out / 'images.json'))
    original = pair_files(*case)
    spec = load_spec('cityscapes')
    assert official_class_stats(spec, [(g, p) for _, g, p in written], parse_spec_once=True)[0] == \
        official_class_stats(spec, [(g, p) for _, g, p in original], parse_spec_once=True)[0]


def test_without_a_spec_the_metric_scores_in_the_evaluated_datasets(case):
    """Configs name the spec once, in the dataset: the metric takes it from the metainfo that mmengine's loops
    hand it as ``dataset_meta``, and says so when there is none."""
    from mmengine.registry import METRICS, init_default_scope
    init_default_scope('tapps_mm')
    metric = METRICS.build(dict(type='PartPQMetric'))
    samples = _samples(case)
    with pytest.raises(ValueError, match='no spec'):
        metric.process({}, samples)
    metric.dataset_meta = {'spec': 'cityscapes'}
    metric.process({}, samples)
    assert metric.evaluate(len(samples))['pps/PartPQ'] == pytest.approx(evaluate_pps(*case, progress=False)['PartPQ'],
                                                                          abs=1e-12)


def test_missing_fields_are_named():
    metric = _build()
    with pytest.raises(KeyError, match='pred_pps'):
        metric.process({}, [{'pps_label_path': 'x.tif', 'img_path': 'x.png'}])


def test_per_image_file_sums_to_the_reported_numbers(case, tmp_path):
    """Summing the kept rows and summarising gives every reported number bit for bit; ids sorted, one row each."""
    path = str(tmp_path / 'per_image.npz')
    metric = _build(per_image_file=path)
    samples = _samples(case)[::-1]  # arrival order does not matter
    metric.process({}, samples)
    res = metric.evaluate(len(samples))
    kept = PerImageStats.load(path)
    assert kept.image_ids.tolist() == sorted(s['pps_image_id'] for s in samples)
    again = PartPQEvaluator(load_spec('cityscapes')).summarize(kept.total())
    for key, value in again.items():
        if key != 'per_class':
            assert res[f'pps/{key}'] == value, key
    num_objects, num_conflicts = kept.objects()
    assert res['pps/obj_without_conflicts'] == 1.0 - num_conflicts / num_objects
    # one image's row is that image's own statistics
    first = pair_files(*case)[0]
    ref = PartPQEvaluator(load_spec('cityscapes')).image_stats(*_read(first))
    for name in STAT_FIELDS:
        np.testing.assert_array_equal(kept.arrays[name][0], getattr(ref, name))


def _read(pair):
    from tapps_mm.pps_format import read_label
    return read_label(pair[1]), read_prediction(pair[2])


def test_per_image_file_refuses_repeats_and_bad_files(case, tmp_path):
    metric = _build(per_image_file=str(tmp_path / 'x.npz'))
    samples = _samples(case)
    metric.process({}, samples + samples[:1])
    with pytest.raises(ValueError, match='more than once'):
        metric.evaluate(len(samples) + 1)
    assert not (tmp_path / 'x.npz').exists()
    bad = tmp_path / 'bad.npz'
    bad.write_bytes(b'PK\x03\x04 cut short')
    with pytest.raises(ValueError, match='bad.npz'):
        PerImageStats.load(str(bad))


def _dist_worker(rank, world, case, port, out_file, per_image_file=None):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    metric = _build(per_image_file=per_image_file)
    samples = _samples(case)
    # mmengine's DefaultSampler shards by rank, as in a real distributed test loop
    metric.process({}, samples[rank::world])
    res = metric.evaluate(len(samples))
    if rank == 0:
        with open(out_file, 'w') as f:
            json.dump(res, f)
    dist.barrier()  # both ranks leave together: a rank exiting while gloo still talks to it aborts
    dist.destroy_process_group()
    # leave without the interpreter's exit: under load, gloo's worker threads can still be joinable when the
    # C++ destructors run at exit, and that aborts the process ("terminate called without an active
    # exception") after every result was written and checked here
    sys.stdout.flush()
    os._exit(0)


def test_distributed_evaluation_gives_single_process_numbers(case, tmp_path):
    import torch.multiprocessing as mp

    from tapps_mm.testing.ports import free_ports
    (port,) = free_ports()
    out_file = str(tmp_path / 'dist.json')
    mp.spawn(_dist_worker, args=(2, case, port, out_file, str(tmp_path / 'dist.npz')), nprocs=2, join=True)
    res = json.loads(open(out_file).read())
    ref = evaluate_pps(*case, progress=False)
    for key in KEYS:
        assert res[f'pps/{key}'] == pytest.approx(ref[key], abs=1e-12), key
    assert osp.getsize(out_file) > 0
    # the per-image file of two processes is the one of a single process, row for row
    single = _build(per_image_file=str(tmp_path / 'single.npz'))
    single.process({}, _samples(case))
    single_res = single.evaluate(len(_samples(case)))
    a, b = PerImageStats.load(str(tmp_path / 'dist.npz')), PerImageStats.load(str(tmp_path / 'single.npz'))
    assert a.image_ids.tolist() == b.image_ids.tolist()
    for name in a.arrays:
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name])
    assert all(res[k] == single_res[k] for k in res)
