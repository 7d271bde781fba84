"""The synthetic dataset: official formats, loadable by panoptic_parts, GT scores PartPQ = 1.0, and the
scenes contain what PPS is about."""
import filecmp
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from tapps_mm.compat import import_panoptic_parts
from tapps_mm.datasets.synthetic_pp import SID, write_synthetic_pp
from tapps_mm.evaluation import evaluate_pps, pair_files
from tapps_mm.pps_format import read_label, split_uids
from tapps_mm.specs import load_spec
from tapps_mm.testing.official import official_class_stats, official_summary
from tapps_mm.testing.pps_cases import prediction_from_gt, write_case_folder


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('synthetic'))
    write_synthetic_pp(out, num_train=3, num_val=8, size=(96, 128), seed=1, progress=False)
    return out


def test_layout_and_official_spec_loading(root):
    for rel in ('datasetspec.yaml', 'evalspec.yaml', 'images_train.json', 'images_val.json',
                'images/val/val_000007.png', 'labels/val/val_000007.tif', 'labels/train/train_000002.tif'):
        assert osp.isfile(osp.join(root, rel)), rel
    assert not [f for _, _, fs in os.walk(root) for f in fs if '.tmp' in f]
    import_panoptic_parts()
    from panoptic_parts.specs.eval_spec import PartPQEvalSpec
    cwd = os.getcwd()
    os.chdir(root)  # the official loader resolves dataset_spec_path from the current directory
    try:
        official = PartPQEvalSpec('evalspec.yaml')
    finally:
        os.chdir(cwd)
    spec = load_spec(osp.join(root, 'evalspec.yaml'))  # ours resolves it from the spec's folder
    assert sorted(official.eval_sid_total) == sorted(spec.classes)
    assert len(spec.stuff_sids) >= 2 and len(spec.parts_sids) >= 2
    assert all(len(spec.pids_of(s)) >= 3 for s in spec.parts_sids)
    assert set(spec.thing_sids) - set(spec.parts_sids)  # a thing class without parts


def test_ground_truth_as_prediction_scores_one_with_official_evaluator(root, tmp_path):
    spec = load_spec(osp.join(root, 'evalspec.yaml'))
    pairs = pair_files(osp.join(root, 'labels', 'val'), osp.join(root, 'images', 'val'),
                       osp.join(root, 'images_val.json'))
    rng = np.random.default_rng(0)
    gts = [read_label(g) for _, g, _ in pairs]
    case = write_case_folder(str(tmp_path), gts, [prediction_from_gt(spec, g, rng, noise=0.0) for g in gts])
    written = pair_files(*case)
    _, stat = official_class_stats(spec, [(g, p) for _, g, p in written], parse_spec_once=True)
    official = official_summary(spec, stat)
    assert official['PartPQ'] == 1.0 and official['n_p'] == 2
    assert evaluate_pps(*case, spec=spec, progress=False)['PartPQ'] == 1.0


def test_scenes_exercise_pps(root):
    labels = [np.array(Image.open(osp.join(root, 'labels', 'val', f'val_{i:06d}.tif'))) for i in range(8)]
    allu = np.concatenate([lbl.ravel() for lbl in labels])
    assert (allu == 0).any(), 'void pixels'
    assert np.isin(allu, [SID['robot'], SID['cart'], SID['ball']]).any(), 'crowd pixels'
    five = (allu >= 1000) & (allu <= 99_999)
    assert (five & np.isin(allu // 1000, [SID['robot'], SID['cart']])).any(), 'object pixels without part label'
    touching = 0
    for lbl in labels:  # same-class instances touching horizontally or vertically
        inst = np.where(lbl >= 10 ** 5, lbl // 100, np.where(lbl >= 1000, lbl, -1))
        for a, b in ((inst[:, 1:], inst[:, :-1]), (inst[1:], inst[:-1])):
            touching += int(((a != b) & (a > 0) & (b > 0) & (a // 1000 == b // 1000)).sum())
    assert touching > 0
    img = np.array(Image.open(osp.join(root, 'images', 'val', 'val_000000.png')))
    assert img.dtype == np.uint8 and img.shape == (96, 128, 3) and img.std() > 10


def test_deterministic_for_a_seed(root, tmp_path):
    write_synthetic_pp(str(tmp_path / 'a'), num_train=0, num_val=3, size=(96, 128), seed=1, progress=False)
    write_synthetic_pp(str(tmp_path / 'b'), num_train=0, num_val=3, size=(96, 128), seed=2, progress=False)
    for i in range(3):
        for sub, ext in (('images', 'png'), ('labels', 'tif')):
            rel = osp.join(sub, 'val', f'val_{i:06d}.{ext}')
            assert filecmp.cmp(osp.join(root, rel), str(tmp_path / 'a' / rel), shallow=False)
    assert not filecmp.cmp(osp.join(root, 'labels/val/val_000000.tif'), str(tmp_path / 'b/labels/val/val_000000.tif'),
                           shallow=False)


def test_shipped_synthetic_spec_is_the_generated_one():
    """`load_spec('synthetic')` (used by model configs without data) matches what the generator writes."""
    import os.path as osp

    from tapps_mm.datasets.synthetic_pp import dataset_spec_yaml, eval_spec_yaml
    from tapps_mm.specs import NAMED_SPECS, load_spec
    folder = osp.dirname(NAMED_SPECS['synthetic'])
    with open(NAMED_SPECS['synthetic']) as f:
        assert f.read() == eval_spec_yaml('synthetic_pp_datasetspec.yaml')
    with open(osp.join(folder, 'synthetic_pp_datasetspec.yaml')) as f:
        assert f.read() == dataset_spec_yaml()
    spec = load_spec('synthetic')
    assert spec.num_classes == 6 and spec.num_things == 3 and spec.num_parts == 7


@pytest.mark.parametrize('seed', range(4))
def test_every_class_in_a_small_split(seed, tmp_path):
    """A split of a few images holds every class, so none silently drops out of its evaluation."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the generator warns when a split lacks a class
        write_synthetic_pp(str(tmp_path), num_train=0, num_val=5, size=(64, 64), seed=seed, progress=False)
    ev = load_spec(osp.join(str(tmp_path), 'evalspec.yaml'))
    found = set()
    for name in sorted(os.listdir(tmp_path / 'labels' / 'val')):
        found |= set(split_uids(np.unique(read_label(str(tmp_path / 'labels' / 'val' / name))))[0].tolist())
    assert set(ev.classes) <= found


def test_a_split_without_some_class_warns(tmp_path):
    with pytest.warns(UserWarning, match=r"split 'val' \(1 images\) has no pixel of \[.*'ball'"):
        write_synthetic_pp(str(tmp_path), num_train=0, num_val=1, size=(64, 64), seed=0, progress=False)
