"""The registered real-format datasets on fake Cityscapes-PP / Pascal-PP roots: official files, listing,
spec metadata, the loading pipeline's targets (pid 5 becomes 'no part'), and bad data named in errors."""
import filecmp
import os
import os.path as osp
import time

import mmengine
import numpy as np
import pytest
from PIL import Image

import tapps_mm.registry  # noqa: F401  (registers the scope)
from tapps_mm.compat import import_panoptic_parts
from tapps_mm.evaluation.partpq import PartPQEvaluator
from tapps_mm.pps_format import check_uids, read_label, split_uids
from tapps_mm.specs import load_spec
from tapps_mm.testing.fake_datasets import (
    PID5_IMAGE_ID,
    PID5_PIXELS,
    write_fake_cityscapes_pp,
    write_fake_pascal_pp,
    write_fake_synthetic_pp,
)

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadPPSAnnotations'), dict(type='PackPPSInputs')]
# dataset type -> (writer, spec name, val split, number of classes, number of part classes)
DATASETS = {
    'CityscapesPPSDataset': (write_fake_cityscapes_pp, 'cityscapes', 'val', 19, 23),
    'PascalPPSDataset': (write_fake_pascal_pp, 'pascal', 'validation', 59, 57),
    'PascalPP107Dataset': (write_fake_pascal_pp, 'pascal-107', 'validation', 59, 107),
    'SyntheticPPSDataset': (write_fake_synthetic_pp, None, 'val', 6, 7),
}


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp('real_format')
    return {'cityscapes': write_fake_cityscapes_pp(str(base / 'cityscapes')),
            'pascal': write_fake_pascal_pp(str(base / 'pascal')),
            'synthetic': write_fake_synthetic_pp(str(base / 'synthetic'))}


def _root_of(roots, ds_type):
    return roots[{'Cityscapes': 'cityscapes', 'Pascal': 'pascal', 'Synthetic': 'synthetic'}[
        ds_type.split('PP')[0]]]


def _build(ds_type, root, split=None, **kwargs):
    """Build through the registry, like a config does (``split=None``: the class's default split)."""
    mmengine.registry.init_default_scope('tapps_mm')
    from tapps_mm.registry import DATASETS as REGISTRY
    cfg = dict(type=ds_type, data_root=root, pipeline=PIPELINE, serialize_data=False, **kwargs)  # no gc.collect
    return REGISTRY.build(cfg if split is None else dict(cfg, split=split))


def _spec_of(ds_type, fake):
    name = DATASETS[ds_type][1]
    return load_spec(name or osp.join(fake.root, 'evalspec.yaml'))


# ------------------------------------------------------------------------------------------ the files
def test_fake_files_are_official_and_deterministic(tmp_path):
    import_panoptic_parts()
    from panoptic_parts.utils.format import decode_uids
    load_spec('cityscapes'), load_spec('pascal')  # spec loading is not the writers' time
    start = time.perf_counter()
    cs = write_fake_cityscapes_pp(str(tmp_path / 'a' / 'cs'))
    pp = write_fake_pascal_pp(str(tmp_path / 'a' / 'pp'))
    assert time.perf_counter() - start < 1.0
    write_fake_cityscapes_pp(str(tmp_path / 'b' / 'cs'))
    write_fake_pascal_pp(str(tmp_path / 'b' / 'pp'))
    other = write_fake_pascal_pp(str(tmp_path / 'c' / 'pp'), seed=1)
    files = sorted(osp.relpath(osp.join(d, f), tmp_path / 'a') for d, _, fs in os.walk(tmp_path / 'a') for f in fs)
    assert len(files) == 16 and not [f for f in files if '.tmp' in f]
    for rel in files:
        assert filecmp.cmp(tmp_path / 'a' / rel, tmp_path / 'b' / rel, shallow=False), rel
    assert any(not np.array_equal(read_label(a.label_path), read_label(b.label_path))
               for a, b in zip(pp.samples['training'], other.samples['training']))
    assert cs.ids('train')[0] == 'aachen_000000_000019' and cs.ids('val')[0] == PID5_IMAGE_ID
    assert pp.ids('training') == ['2008_000002', '2008_000004']
    for fake, spec, img_format, size in ((cs, load_spec('cityscapes'), 'PNG', (64, 128)),
                                         (pp, load_spec('pascal'), 'JPEG', (96, 128))):
        dspec = spec.dataset_spec
        for sample in (s for samples in fake.samples.values() for s in samples):
            with Image.open(sample.label_path) as label, Image.open(sample.img_path) as image:
                assert (label.format, label.mode, image.format, image.mode) == ('TIFF', 'I', img_format, 'RGB')
                assert label.size == image.size == size[::-1]
            uids = read_label(sample.label_path)
            check_uids(uids, spec, sample.label_path)
            decode_uids(uids, experimental_noinfo_id=0, experimental_dataset_spec=dspec)  # official: no assert
            sid, iid, pid = split_uids(np.unique(uids))
            mapped = np.array([spec.dataset_sid2eval_sid.get(int(s)) is not None for s in sid])
            thing = np.isin(sid, spec.thing_sids)
            assert np.isin(sid, spec.stuff_sids).any(), 'stuff'
            assert (~mapped).any(), 'void'
            assert (thing & (np.unique(uids) <= 99)).any(), 'crowd'
            assert (np.isin(sid, spec.parts_sids) & (pid > 0)).sum() >= 5, 'things with parts'
            assert (np.isin(sid, spec.parts_sids) & (np.unique(uids) > 999) & (np.unique(uids) <= 99_999)).any()
            assert (thing & ~np.isin(sid, spec.parts_sids) & (iid >= 0) & (np.unique(uids) > 999)).any(), 'no parts'
    assert cs.undefined_pid_pixels() == {24: PID5_PIXELS}
    uids = read_label(cs.samples['val'][0].label_path)
    assert ((uids // 100_000 == 24) & (uids % 100 == 5)).sum() == PID5_PIXELS


# ------------------------------------------------------------------------------------------ the datasets
@pytest.mark.parametrize('ds_type', list(DATASETS))
def test_registered_dataset_lists_the_files_with_spec_metainfo(roots, ds_type):
    _, spec_name, val, num_classes, num_parts = DATASETS[ds_type]
    fake = _root_of(roots, ds_type)
    for split in fake.samples:
        ds = _build(ds_type, fake.root, split)
        assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == sorted(fake.ids(split))
        paths = {(s.img_path, s.label_path) for s in fake.samples[split]}
        assert {(ds.get_data_info(i)['img_path'], ds.get_data_info(i)['pps_label_path'])
                for i in range(len(ds))} == paths
    meta = ds.metainfo
    spec = _spec_of(ds_type, fake)
    assert len(meta['classes']) == spec.num_classes == num_classes
    assert len(meta['part_classes']) == spec.num_parts == num_parts
    assert len(meta['thing_classes']) == spec.num_things > 0 and meta['num_things'] == spec.num_things
    assert meta['classes'] == tuple(spec.class_names[s] for s in spec.classes)
    assert load_spec(meta['spec']).path == spec.path  # what the metric and the visualiser score and draw in
    default = _build(ds_type, fake.root)
    assert default.split == {'val': 'train', 'validation': 'training'}[val] and len(default) == 2


def _samples(ds_type, fake):
    spec = _spec_of(ds_type, fake)
    for split in fake.samples:
        ds = _build(ds_type, fake.root, split)
        for i in range(len(ds)):
            packed = ds[i]
            yield spec, read_label(ds.get_data_info(i)['pps_label_path']), packed['inputs'], packed['data_samples']


@pytest.mark.parametrize('ds_type', list(DATASETS))
def test_pipeline_targets_are_consistent(roots, ds_type):
    fake = _root_of(roots, ds_type)
    for spec, uids, inputs, sample in _samples(ds_type, fake):
        sem = sample.gt_sem_seg.sem_seg[0].numpy()
        part = sample.gt_part_seg.sem_seg[0].numpy()
        ignore = sem == 255  # void and crowd
        masks = sample.gt_instances.masks.to_ndarray().astype(bool)
        labels = sample.gt_instances.labels.numpy()
        assert inputs.shape[1:] == sem.shape == part.shape == uids.shape
        assert not part[ignore].any() and part.max() <= spec.num_parts
        sid = split_uids(uids)[0]
        void = np.array([spec.dataset_sid2eval_sid.get(int(s)) is None for s in range(100)])[sid]
        assert ignore[void].all()
        # every part label is compatible with the pixel's class (and only classes with parts get parts)
        has_part = part > 0
        assert spec.compatibility[sem[has_part], part[has_part] - 1].all()
        # thing instances: non-empty, disjoint, off ignore, of their class, not more than the GT's objects
        assert len(masks) == len(labels) == len(sample.gt_instances.bboxes) and len(masks) >= 1
        assert (labels < spec.num_things).all()
        assert masks.any(axis=(1, 2)).all() and (masks.sum(0) <= 1).all() and not (masks & ignore).any()
        for mask, label in zip(masks, labels):
            assert (sem[mask] == label).all()
            assert len(np.unique(np.where(uids[mask] >= 100_000, uids[mask] // 100, uids[mask]))) == 1
        # the undefined pid (Cityscapes-PP person pid 5): object pixels with 'no part label'
        pid5 = (uids >= 100_000) & (uids % 100 == 5) & (sid == 24) if ds_type.startswith('Cityscapes') else None
        if pid5 is not None and pid5.any():
            person = spec.sid2label[24]
            assert pid5.sum() == PID5_PIXELS
            assert (part[pid5] == 0).all() and not ignore[pid5].any() and (sem[pid5] == person).all()
            assert any(mask[pid5].all() and label == person for mask, label in zip(masks, labels))


def _oracle(spec, uids):
    """Targets as our evaluator (tested against the official one) reads the GT: official decode_uids with
    countable part groupings and the eval spec's pid mapping (sid-level keys too: Pascal's boat 4 -> 4_01, bicycle
    2 -> 2_02), crowd iff sid_iid < 1000, undefined pids as 'no part label'; part labels for every class with
    part masks (single-part classes too), as the official TAPPS trains."""
    evaluator = PartPQEvaluator(spec)
    distinct, inverse = np.unique(uids, return_inverse=True)
    sid, _, pid, sid_iid = evaluator._decode_gt_uids(distinct, 'gt')
    label = np.array([spec.sid2label.get(spec.dataset_sid2eval_sid.get(int(s)), -1) for s in sid])
    crowd = np.isin(sid, spec.thing_sids) & (sid_iid < 1000)
    ignore = (label < 0) | crowd
    flat = np.array([spec.sid_pid2flat.get(int(s) * 100 + int(p), 0) if s in spec.part_mask_sids and p > 0 else 0
                     for s, p in zip(sid, pid)])
    instance = np.where(np.isin(sid, spec.thing_sids) & ~ignore, sid_iid, -1)
    shape = uids.shape
    return (np.where(ignore, 255, label)[inverse].reshape(shape), ignore[inverse].reshape(shape),
            np.where(ignore, 0, flat)[inverse].reshape(shape), instance[inverse].reshape(shape), label)


ORACLE_CASES = [
    ('CityscapesPPSDataset', 'instances'),
    ('CityscapesPPSDataset', 'parts'),
    ('PascalPPSDataset', 'instances'),
    ('PascalPPSDataset', 'parts'),
    ('PascalPP107Dataset', 'instances'),
    ('PascalPP107Dataset', 'parts'),
    ('SyntheticPPSDataset', 'instances'),
    ('SyntheticPPSDataset', 'parts'),
]


@pytest.mark.parametrize('ds_type,aspect', ORACLE_CASES)
def test_pipeline_targets_match_the_evaluators_reading(roots, ds_type, aspect):
    """Training must learn what evaluation scores: same void / crowd, instances and part labels."""
    fake = _root_of(roots, ds_type)
    for spec, uids, _, sample in _samples(ds_type, fake):
        sem, ignore, part, instance, _ = _oracle(spec, uids)
        got_ignore = (sample.gt_sem_seg.sem_seg[0].numpy() == 255)
        if aspect == 'instances':
            assert np.array_equal(sample.gt_sem_seg.sem_seg[0].numpy(), sem)
            assert np.array_equal(got_ignore, ignore)
            expected = {(spec.sid2label[int(k) // 1000], (instance == k).tobytes())
                        for k in np.unique(instance[instance >= 0])}
            got = {(int(lbl), m.astype(bool).tobytes()) for lbl, m in
                   zip(sample.gt_instances.labels.numpy(), sample.gt_instances.masks.to_ndarray())}
            assert got == expected
        else:
            both = ~got_ignore & ~ignore
            assert np.array_equal(sample.gt_part_seg.sem_seg[0].numpy()[both], part[both])


# ------------------------------------------------------------------------------------------ bad data
def _first(fake, split):
    return fake.samples[split][0]


@pytest.mark.parametrize('defect', ['missing_image', 'missing_label'])
def test_missing_files_are_named(tmp_path, defect):
    fake = write_fake_cityscapes_pp(str(tmp_path))
    sample = _first(fake, 'train')
    ds = _build('CityscapesPPSDataset', fake.root, 'train', check_files=False)
    index = [ds.get_data_info(i)['img_id'] for i in range(len(ds))].index(sample.image_id)
    path = sample.img_path if defect == 'missing_image' else sample.label_path
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=path):  # gone after the listing: named when loaded
        ds[index]
    if defect == 'missing_image':
        with pytest.raises(FileNotFoundError, match=path):  # check_files (default) names it at construction
            _build('CityscapesPPSDataset', fake.root, 'train')
    else:  # Cityscapes is listed from its labels: the image is silently not a sample (check_dataset reports it)
        assert _build('CityscapesPPSDataset', fake.root, 'train').get_data_info(0)['img_id'] != sample.image_id


@pytest.mark.parametrize('ds_type,defect', [('CityscapesPPSDataset', 555), ('CityscapesPPSDataset', 40),
                                            ('PascalPPSDataset', 555), ('SyntheticPPSDataset', 7),
                                            ('CityscapesPPSDataset', 'size'), ('PascalPP107Dataset', 'size')])
def test_bad_labels_are_named(tmp_path, ds_type, defect):
    writer, _, val, _, _ = DATASETS[ds_type]
    fake = writer(str(tmp_path))
    sample = _first(fake, val)
    uids = read_label(sample.label_path)
    if defect == 'size':
        uids = np.ascontiguousarray(uids[:-4])
        message = 'differs from image'
    else:
        uids[3:5, 3:5] = defect
        message = 'outside the panoptic-parts encoding' if defect == 555 else 'not in the dataset spec'
    Image.fromarray(uids).save(sample.label_path)
    ds = _build(ds_type, fake.root, val)
    index = [ds.get_data_info(i)['img_id'] for i in range(len(ds))].index(sample.image_id)
    with pytest.raises(ValueError, match=message) as info:
        ds[index]
    assert sample.label_path in str(info.value)


def test_all_void_label_loads(tmp_path):
    fake = write_fake_cityscapes_pp(str(tmp_path))
    sample = _first(fake, 'train')
    Image.fromarray(np.zeros_like(read_label(sample.label_path))).save(sample.label_path)
    ds = _build('CityscapesPPSDataset', fake.root, 'train')
    index = [ds.get_data_info(i)['img_id'] for i in range(len(ds))].index(sample.image_id)
    packed = ds[index]
    assert (packed['data_samples'].gt_sem_seg.sem_seg == 255).all()
