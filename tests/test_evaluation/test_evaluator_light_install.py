"""The evaluator alone (``pip install ./evaluator``): a fresh venv without torch or any OpenMMLab package gets
``tapps-mm-evaluate``, and it scores fake Cityscapes-PP and Pascal-PP sets exactly as the full install does
(every number, per class too, and the per-image statistics)."""
from __future__ import annotations

import json
import os
import os.path as osp
import subprocess
import sys
import venv

import numpy as np
import pytest

from tapps_mm.evaluation import evaluate_pps
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.pps_format import read_label, write_images_json, write_prediction
from tapps_mm.specs import load_spec
from tapps_mm.testing.fake_datasets import write_fake_cityscapes_pp, write_fake_pascal_pp
from tapps_mm.testing.pps_cases import prediction_from_gt
from tapps_mm.testing.repo import REPO

HEAVY = ('torch', 'mmcv', 'mmcv-lite', 'mmengine', 'mmdet', 'mmsegmentation')


@pytest.fixture(scope='module')
def light_venv(tmp_path_factory):
    """A venv with the light install only (pip's cache and index as the machine has them)."""
    root = tmp_path_factory.mktemp('light')
    venv.create(str(root / 'venv'), with_pip=True)
    python = str(root / 'venv' / 'bin' / 'python')
    res = subprocess.run([python, '-m', 'pip', 'install', '-q', osp.join(REPO, 'evaluator')], capture_output=True,
                         text=True, timeout=900)
    if res.returncode != 0 and 'No matching distribution' in res.stderr + res.stdout:
        pytest.skip(f'the package index is not reachable: {res.stderr[-300:]}')
    assert res.returncode == 0, res.stderr[-3000:]
    return python


def _case(kind: str, root: str) -> tuple[str, str, str, str]:
    """A fake data root of ``kind``, predictions derived from its val labels: (gt dir, pred dir, images.json,
    spec)."""
    data = osp.join(root, 'data')
    if kind == 'cityscapes':
        fake, split, spec = write_fake_cityscapes_pp(data, num_train=0, num_val=3), 'val', 'cityscapes'
        gt_dir = osp.join(fake.root, 'gtFinePanopticParts', split)
    else:
        fake, split, spec = write_fake_pascal_pp(data, num_train=0, num_val=3), 'validation', 'pascal'
        gt_dir = osp.join(fake.root, 'labels', split)
    rng = np.random.default_rng(0)
    pred_dir = osp.join(root, 'pred')
    os.makedirs(pred_dir)
    for sample in fake.samples[split]:
        pred = prediction_from_gt(load_spec(spec), read_label(sample.label_path), rng, noise=0.6)
        write_prediction(osp.join(pred_dir, f'{sample.image_id}.png'), pred)
    images_json = osp.join(root, 'images.json')
    write_images_json(images_json, [{'id': i, 'file_name': f'{i}.png'} for i in fake.ids(split)])
    return gt_dir, pred_dir, images_json, spec


def test_the_light_install_has_no_torch_and_no_openmmlab(light_venv):
    res = subprocess.run([light_venv, '-m', 'pip', 'list', '--format=json'], capture_output=True, text=True)
    installed = {p['name'].lower() for p in json.loads(res.stdout)}
    assert 'tapps-mm-evaluator' in installed and not installed & set(HEAVY), installed


@pytest.mark.parametrize('kind', ['cityscapes', 'pascal'])
def test_the_light_install_scores_like_the_full_one(light_venv, kind, tmp_path):
    gt_dir, pred_dir, images_json, spec = _case(kind, str(tmp_path))
    command = osp.join(osp.dirname(light_venv), 'tapps-mm-evaluate')
    out, per_image = tmp_path / 'light.json', tmp_path / 'light.npz'
    res = subprocess.run([command, gt_dir, pred_dir, images_json, '--spec', spec, '--out', str(out),
                          '--per-image-out', str(per_image), '--nproc', '2'], capture_output=True, text=True,
                         timeout=600, cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'PartPQ' in json.loads(res.stdout[res.stdout.index('{'):res.stdout.rindex('}') + 1])
    full = evaluate_pps(gt_dir, pred_dir, images_json, spec, progress=False,
                        per_image_file=str(tmp_path / 'full.npz'))
    light = json.loads(out.read_text())
    assert light == json.loads(json.dumps(full)) and light['num_images'] == 3 and light['per_class']
    a, b = PerImageStats.load(str(per_image)), PerImageStats.load(str(tmp_path / 'full.npz'))
    assert a.image_ids.tolist() == b.image_ids.tolist()
    for name, array in a.arrays.items():
        np.testing.assert_array_equal(array, b.arrays[name])


def test_the_full_install_keeps_the_same_command():
    res = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'evaluate_pps.py'), '--help'], capture_output=True,
                         text=True)
    assert res.returncode == 0 and '--per-image-out' in res.stdout and '--undefined-pids' in res.stdout
