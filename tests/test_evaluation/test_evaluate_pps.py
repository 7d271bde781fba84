"""File-level API and CLI: official inputs, result keys, multi-process equality, clear errors."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tapps_mm.evaluation import PartPQEvaluator, evaluate_pps
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.specs import load_spec
from tapps_mm.testing.pps_cases import prediction_from_gt, random_gt, write_case_folder
from tapps_mm.testing.repo import REPO

SUMMARY_KEYS = {'PartPQ', 'PartSQ', 'PartRQ', 'PartPQ_parts', 'PartSQ_parts', 'PartRQ_parts', 'PartPQ_noparts',
                'PartSQ_noparts', 'PartRQ_noparts', 'PQ', 'SQ', 'RQ', 'PQ_th', 'SQ_th', 'RQ_th', 'PQ_st', 'SQ_st',
                'RQ_st', 'mIoU', 'mIoU_th', 'mIoU_st', 'mIoU_parts', 'n', 'n_p', 'n_np', 'num_images'}


@pytest.fixture
def case(tmp_path):
    spec = load_spec('cityscapes')
    rng = np.random.default_rng(11)
    gts = [random_gt(spec, rng, 48, 64, num_things=8) for _ in range(6)]
    preds = [prediction_from_gt(spec, g, rng, noise=0.8) for g in gts]
    return write_case_folder(str(tmp_path / 'case'), gts, preds)


def test_api_keys_and_nproc_equality(case):
    res1 = evaluate_pps(*case, spec='cityscapes', nproc=1, progress=False)
    res2 = evaluate_pps(*case, spec='cityscapes', nproc=2, progress=False)
    assert SUMMARY_KEYS <= set(res1)
    assert set(res1['per_class']) == {str(s) for s in load_spec('cityscapes').classes}
    assert {'PartPQ', 'PartSQ', 'PartRQ', 'TP', 'FP', 'FN'} <= set(res1['per_class']['24'])
    for key in SUMMARY_KEYS:
        assert res1[key] == pytest.approx(res2[key], abs=1e-12), key
    assert 0 < res1['PartPQ'] < 1 and res1['num_images'] == 6


def test_cli_writes_results_json(case, tmp_path):
    out = tmp_path / 'res' / 'results.json'
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'evaluate_pps.py'), *case, '--spec', 'cityscapes',
                           '--out', str(out), '--nproc', '2', '--per-image-out', str(tmp_path / 'per_image.npz')],
                          capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    saved = json.loads(out.read_text())
    assert saved['PartPQ'] == pytest.approx(evaluate_pps(*case, progress=False)['PartPQ'], abs=1e-12)
    assert not [f for f in os.listdir(out.parent) if '.tmp' in f]
    # the per-image statistics, one row per image of images.json, sum to the written numbers exactly
    kept = PerImageStats.load(str(tmp_path / 'per_image.npz'))
    assert len(kept) == 6 and kept.image_ids.tolist() == sorted(kept.image_ids.tolist())
    again = PartPQEvaluator(load_spec('cityscapes')).summarize(kept.total())
    assert all(saved[k] == again[k] for k in ('PartPQ', 'PQ', 'mIoU', 'PartSQ_parts'))


def _rewrite_pred(case, index, arr_or_image):
    path = osp.join(case[1], f'img{index:05d}.png')
    img = arr_or_image if isinstance(arr_or_image, Image.Image) else Image.fromarray(arr_or_image)
    img.save(path)
    return path


def test_missing_prediction(case):
    os.remove(osp.join(case[1], 'img00002.png'))
    with pytest.raises(FileNotFoundError, match="img00002"):
        evaluate_pps(*case, progress=False)


def test_ambiguous_image_ids(tmp_path):
    spec = load_spec('cityscapes')
    gt = random_gt(spec, np.random.default_rng(0), 16, 16)
    pred = prediction_from_gt(spec, gt, np.random.default_rng(0))
    for d in ('gt', 'pred'):
        os.makedirs(tmp_path / d)
    for i in ('a1', 'a10'):
        Image.fromarray(gt).save(tmp_path / 'gt' / f'{i}.tif')
        Image.fromarray(pred).save(tmp_path / 'pred' / f'{i}.png')
    (tmp_path / 'images.json').write_text(json.dumps({'images': [{'id': 'a1'}, {'id': 'a10'}]}))
    with pytest.raises(ValueError, match='substrings'):
        evaluate_pps(str(tmp_path / 'gt'), str(tmp_path / 'pred'), str(tmp_path / 'images.json'), progress=False)


def test_the_file_index_matches_exactly_the_official_rule():
    """The paths joined and searched with str.find give the files of the official rule (the id is a substring of
    the path, the path ends with the extension), in order, on random short names that collide often."""
    from tapps_mm.evaluation.evaluate import _FilesByExtension
    rng = np.random.default_rng(0)
    for _ in range(2000):
        names = [''.join(rng.choice(list('ab1/._'), rng.integers(0, 7))) + rng.choice(['.tif', '.png', ''])
                 for _ in range(rng.integers(0, 7))]
        for ext in ('.tif', '.png'):
            index = _FilesByExtension(names, ext, 'ground-truth', 'gt')
            for image_id in ['a', 'b1', '.', 'ab', 'a.t', *names]:
                assert index.matches(image_id) == [f for f in names if image_id in f and f.endswith(ext)]


@pytest.mark.parametrize('bad,match', [
    (np.zeros((10, 10, 3), np.uint8), 'differs from'),
    (np.zeros((48, 64, 4), np.uint8), 'mode RGBA'),
    (np.zeros((48, 64), np.uint8), 'mode L'),
    (np.full((48, 64, 3), 3, np.uint8), r'class ids \[3\]'),
])
def test_bad_predictions_name_the_file(case, bad, match):
    path = _rewrite_pred(case, 1, bad)
    with pytest.raises(ValueError, match=match) as err:
        evaluate_pps(*case, progress=False)
    assert path in str(err.value) or 'img00001' in str(err.value)


@pytest.mark.parametrize('uid,match', [(500, 'outside the panoptic-parts encoding'), (50, r'sids \[50\]'),
                                       (-3, 'outside')])
def test_bad_ground_truth_names_the_file(case, uid, match):
    path = osp.join(case[0], 'img00003.tif')
    gt = np.array(Image.open(path))
    gt[0, 0] = uid
    Image.fromarray(gt).save(path)
    with pytest.raises(ValueError, match=match) as err:
        evaluate_pps(*case, progress=False)
    assert path in str(err.value)


def test_bad_images_json(case):
    with open(case[2], 'w') as f:
        f.write('{"imgs": []}')
    with pytest.raises(ValueError, match='images.json'):
        evaluate_pps(*case, progress=False)
