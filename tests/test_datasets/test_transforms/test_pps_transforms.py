"""Loading, augmentation and packing of PPS targets: properties that must hold after every augmentation."""
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import tapps_mm.registry  # noqa: F401
from tapps_mm.datasets.pps_targets import PPSTargetEncoder, decode_targets
from tapps_mm.datasets.synthetic_pp import generate_sample, sample_rng, write_synthetic_pp
from tapps_mm.pps_format import split_uids
from tapps_mm.registry import DATASETS
from tapps_mm.specs import load_spec


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('syn')
    write_synthetic_pp(str(root), num_train=6, num_val=2, size=(96, 128), progress=False)
    return root


def _dataset(root, pipeline):
    init_default_scope('tapps_mm')
    return DATASETS.build(dict(type='SyntheticPPSDataset', data_root=str(root), split='train', pipeline=pipeline,
                               serialize_data=False))  # the tests edit data_list


def _pipelines():
    """The paper's augmentations (Cityscapes, Pascal LSJ, test resizes) at the synthetic size."""
    base = Config.fromfile('configs/_base_/datasets/cityscapes_pps.py').train_pipeline
    lsj = Config.fromfile('configs/_base_/datasets/pascal_pps.py').train_pipeline
    scale = dict(ResizeScale=dict(target_size=(128, 96)), RandomCrop=dict(crop_size=(80, 64)),
                 RandomChoiceResize=dict(scales=[64, 77, 96, 128], max_size=256),
                 FixedSizeCrop=dict(crop_size=(80, 64)))
    out = {}
    for name, pipe in (('cityscapes', base), ('pascal-lsj', lsj)):
        out[name] = [{**t, **scale.get(t['type'], {})} for t in pipe]
    load = [dict(type='LoadImageFromFile'), dict(type='LoadPPSAnnotations')]
    out['flip-only'] = load + [dict(type='RandomFlip', prob=1.0), dict(type='PackPPSInputs')]
    out['test-resize'] = load + [dict(type='Resize', scale=(200, 150), keep_ratio=True), dict(type='PackPPSInputs')]
    return out


def _objects(sample, num_things):
    """All object masks (things from gt_instances, one per stuff label from gt_sem_seg) and labels."""
    masks = list(sample.gt_instances.masks.masks.astype(bool))
    labels = sample.gt_instances.labels.tolist()
    sem = sample.gt_sem_seg.sem_seg[0].numpy()
    for label in np.unique(sem):
        if num_things <= label < 255:
            masks.append(sem == label)
            labels.append(int(label))
    return np.array(masks).reshape(-1, *sem.shape), np.array(labels, int)


@pytest.mark.parametrize('name', list(_pipelines()))
def test_targets_obey_pps_definition_after_augmentation(synthetic_root, name):
    ds = _dataset(synthetic_root, _pipelines()[name])
    spec = ds.spec
    compat = spec.compatibility
    seen_parts = 0
    for seed in range(4):
        np.random.seed(seed)
        for i in range(len(ds)):
            packed = ds[i]
            sample = packed['data_samples']
            h, w = packed['inputs'].shape[1:]
            masks, labels = _objects(sample, spec.num_things)
            part = sample.gt_part_seg.sem_seg[0].numpy()
            ignore = (sample.gt_sem_seg.sem_seg[0].numpy() == 255)
            assert part.shape == (h, w) == masks.shape[1:] == ignore.shape
            assert (labels < spec.num_things).sum() == len(sample.gt_instances)
            # no pixel in two objects, no object pixel ignored
            assert masks.sum(0).max(initial=0) <= 1
            assert not (masks.any(0) & ignore).any()
            # every part pixel lies in an object of a parts class whose class is compatible with the part
            owner = np.full((h, w), -1)
            for k, m in enumerate(masks):
                owner[m] = k
            py, px = np.nonzero(part)
            assert (owner[py, px] >= 0).all()
            assert compat[labels[owner[py, px]], part[py, px].astype(int) - 1].all()
            seen_parts += len(py)
    assert seen_parts > 0  # the samples really had parts


def test_image_and_targets_get_the_same_geometry(synthetic_root, tmp_path):
    """Paint the image from the labels: after flip/resize/crop the image still agrees with the targets.

    The image is resized with nearest interpolation here, so every (object, part) region of the targets
    must have exactly one colour; flipping the image alone (a geometry mismatch) breaks that.
    """
    from PIL import Image
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 256, (256 ** 2, 3)).astype(np.uint8)
    for path in sorted((synthetic_root / 'labels' / 'train').glob('*.tif')):
        uids = np.array(Image.open(path))
        code = np.unique(uids, return_inverse=True)[1].reshape(uids.shape)
        Image.fromarray(palette[code]).save(tmp_path / path.name.replace('.tif', '.png'))
    # colour augmentation left out: OpenCV's HSV round trip is not a function of the pixel value alone (its
    # vectorised and scalar paths round differently), so one colour can become two
    pipeline = [{**t, 'interpolation': 'nearest'} if 'Resize' in t['type'] else t
                for t in _pipelines()['cityscapes'] if not t['type'].endswith('PhotoMetricDistortion')]
    ds = _dataset(synthetic_root, pipeline)
    for info in ds.data_list:
        info['img_path'] = str(tmp_path / (info['img_id'] + '.png'))

    def colours_per_region(img, masks, part):
        return [len(np.unique(img[m & (part == p)].reshape(-1, 3), axis=0))
                for m in masks for p in np.unique(part[m])]

    mismatched = 0
    for seed in range(3):
        np.random.seed(seed)
        for i in range(len(ds)):
            packed = ds[i]
            sample = packed['data_samples']
            img = packed['inputs'].numpy().transpose(1, 2, 0)
            masks, _ = _objects(sample, ds.spec.num_things)
            part = sample.gt_part_seg.sem_seg[0].numpy()
            assert colours_per_region(img, masks, part) == [1] * len(colours_per_region(img, masks, part))
            mismatched += max(colours_per_region(img[:, ::-1], masks, part)) > 1  # control: image flipped alone
    assert mismatched > 0


def test_unaugmented_targets_reconstruct_the_ground_truth(synthetic_root):
    spec = load_spec(str(synthetic_root / 'evalspec.yaml'))
    _, uids = generate_sample(sample_rng(0, 'train', 5), 96, 96)
    t = PPSTargetEncoder(spec).encode(uids)
    dec = decode_targets(t.codes, t.labels, t.crowd)
    sid, iid, pid = split_uids(uids)
    thing = np.isin(sid, spec.thing_sids)
    assert (dec.ignore == ((sid == 0) | (thing & (uids <= 99)))).all()
    # one mask per thing instance and per stuff class, equal to its pixels, labelled with its class
    key = np.where(dec.ignore, -1, sid * 1000 + np.where(thing, iid, 0))  # synthetic iids start at 1
    expected = np.unique(key[key >= 0])
    assert len(dec.masks) == len(expected)
    for m, label in zip(dec.masks.astype(bool), dec.labels):
        (k,) = np.unique(key[m])
        assert (m == (key == k)).all() and spec.classes[label] == k // 1000
    flat = np.vectorize(lambda s, p: spec.sid_pid2flat.get(int(s) * 100 + int(p), 0) if p else 0)(sid, pid)
    assert (dec.part_seg == np.where(dec.ignore, 0, flat)).all() and flat.max() > 0


def test_bad_label_errors_name_the_file(synthetic_root, tmp_path):
    from PIL import Image
    ds = _dataset(synthetic_root, [dict(type='LoadImageFromFile'), dict(type='LoadPPSAnnotations'),
                                   dict(type='PackPPSInputs')])
    bad = tmp_path / 'bad.tif'
    Image.fromarray(np.full((96, 128), 555, np.int32)).save(bad)
    ds.data_list[0]['pps_label_path'] = str(bad)
    with pytest.raises(ValueError, match='bad.tif.*outside the panoptic-parts encoding'):
        ds[0]
    small = tmp_path / 'small.tif'
    Image.fromarray(np.full((10, 10), 1, np.int32)).save(small)
    ds.data_list[0]['pps_label_path'] = str(small)
    with pytest.raises(ValueError, match='small.tif.*differs from image'):
        ds[0]
    ds.data_list[0]['pps_label_path'] = str(tmp_path / 'missing.tif')
    with pytest.raises(FileNotFoundError, match='missing.tif'):
        ds[0]
    with pytest.raises(FileNotFoundError, match='images_nope.json'):
        DATASETS.build(dict(type='SyntheticPPSDataset', data_root=str(synthetic_root), split='nope'))
