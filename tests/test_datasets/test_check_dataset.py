"""check_dataset: clean fake roots in the official layouts pass, the pid-5 artefact is counted exactly
(as a warning), every injected defect is reported naming its file, and the CLI exits 1 on errors."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tapps_mm.datasets.check import check_dataset
from tapps_mm.datasets.pps_targets import PPSTargetEncoder
from tapps_mm.pps_format import read_label
from tapps_mm.specs import load_spec
from tapps_mm.testing.fake_datasets import (
    PID5_IMAGE_ID,
    PID5_PIXELS,
    write_fake_cityscapes_pp,
    write_fake_pascal_pp,
    write_fake_synthetic_pp,
)
from tapps_mm.testing.repo import REPO, load_module

SCRIPT = osp.join(REPO, 'tools', 'dataset_converters', 'check_dataset.py')
WRITERS = {'cityscapes': write_fake_cityscapes_pp, 'pascal': write_fake_pascal_pp, 'pascal-107': write_fake_pascal_pp,
           'synthetic': write_fake_synthetic_pp}
SPLITS = {'cityscapes': ('train', 'val'), 'pascal': ('training', 'validation'),
          'pascal-107': ('training', 'validation'), 'synthetic': ('train', 'val')}


@pytest.fixture(scope='module')
def clean(tmp_path_factory):
    """One clean root per layout (read-only: tests that inject defects write their own)."""
    base = tmp_path_factory.mktemp('clean')
    return {name: WRITERS[name](str(base / name.split('-')[0])) for name in WRITERS}


def _cli():
    return load_module(SCRIPT, 'check_dataset_cli')


# ------------------------------------------------------------------------------------------ clean roots
@pytest.mark.parametrize('dataset', list(WRITERS))
def test_clean_root_passes(clean, dataset):
    fake = clean[dataset]
    report = check_dataset(fake.root, dataset)
    assert report.ok, report.summary()
    assert report.splits == SPLITS[dataset]
    for split in report.splits:
        assert report.counts[split]['images'] == report.counts[split]['checked'] == 2
    if dataset == 'cityscapes':
        assert [w.kind for w in report.warnings] == ['undefined_pid']
    else:
        assert not report.warnings, report.summary()
        assert all(not c['undefined_pid'] for c in report.counts.values())


def test_pid5_is_counted_exactly_as_a_warning(clean):
    fake = clean['cityscapes']
    report = check_dataset(fake.root, 'cityscapes')
    assert report.counts['train']['undefined_pid'] == {}
    [label] = report.counts['val']['undefined_pid_files']
    assert PID5_IMAGE_ID in label
    assert report.counts['val']['undefined_pid'] == {
        'person': {'sid': 24, 'files': 1, 'pixels': PID5_PIXELS, 'first_files': [label]}}
    assert fake.undefined_pid_pixels('val') == {24: PID5_PIXELS}
    [warning] = report.warnings
    assert warning.split == 'val' and PID5_IMAGE_ID in warning.message and f'{PID5_PIXELS} pixels' in warning.message
    assert "'no part label'" in warning.message and 'munster' in warning.message
    # the same count as the training-side encoder (Cityscapes-PP has no countable part groupings)
    encoder = PPSTargetEncoder(load_spec('cityscapes'))
    totals: dict[int, int] = {}
    for s in fake.samples['val']:
        for sid, n in encoder.undefined_pid_pixels(read_label(s.label_path)).items():
            totals[sid] = totals.get(sid, 0) + n
    assert totals == {24: PID5_PIXELS}
    assert 'person: 1 files, 12 pixels' in report.summary()


def test_undefined_pids_are_counted_per_class_and_split(tmp_path):
    fake = write_fake_cityscapes_pp(str(tmp_path), num_train=3)
    for sample, uid in zip(fake.samples['train'], (2400005, 2500105, 2400005)):  # person / rider pid 5
        _rewrite_label(sample.label_path, _set_block(uid))
    report = check_dataset(fake.root, 'cityscapes', splits=['train'], max_listed=1)
    assert report.ok
    counts = report.counts['train']['undefined_pid']
    assert {k: (v['files'], v['pixels'], len(v['first_files'])) for k, v in counts.items()} == {
        'person': (2, 12, 1), 'rider': (1, 6, 1)}
    person, rider = sorted(report.warnings, key=lambda w: 'rider' in w.message)
    assert 'and 1 more' in person.message and 'more' not in rider.message
    assert osp.basename(fake.samples['train'][1].label_path) in rider.message


def test_without_pid5_there_is_no_warning(tmp_path):
    fake = write_fake_cityscapes_pp(str(tmp_path), undefined_pid5=False)
    report = check_dataset(fake.root, 'cityscapes')
    assert report.ok and not report.warnings, report.summary()
    assert PID5_IMAGE_ID not in fake.ids('val')


def test_worker_processes_give_the_same_report(clean):
    one = check_dataset(clean['cityscapes'].root, 'cityscapes')
    two = check_dataset(clean['cityscapes'].root, 'cityscapes', nproc=2)
    assert [str(i) for i in one.warnings] == [str(i) for i in two.warnings] and one.counts == two.counts


def test_splits_and_spec_arguments(clean):
    report = check_dataset(clean['cityscapes'].root, 'cityscapes', splits=['train'], spec='cityscapes-grouped')
    assert report.ok and list(report.counts) == ['train'] and not report.warnings
    assert report.spec.endswith('grouped_evalspec.yaml')


# ------------------------------------------------------------------------------------------ defects
def _rewrite_label(path: str, edit) -> None:
    uids = read_label(path)
    Image.fromarray(np.ascontiguousarray(edit(uids.copy())).astype(np.int32)).save(path)


def _set_block(value: int):
    def edit(uids):
        uids[:2, :3] = value
        return uids
    return edit


def _inject(fake, dataset: str, defect: str) -> tuple[str, str]:
    """Apply ``defect`` to the first val sample; return (expected error kind, file the error must name)."""
    sample = fake.samples[SPLITS[dataset][1]][0]
    img, label = sample.img_path, sample.label_path
    num_sids = len(load_spec('cityscapes' if dataset == 'cityscapes' else 'pascal' if dataset.startswith('pascal')
                             else osp.join(fake.root, 'evalspec.yaml')).dataset_spec.l)
    if defect == 'missing_label':
        os.remove(label)
        return 'missing_label', label
    if defect == 'missing_image':
        os.remove(img)
        return 'missing_image', img
    if defect == 'size_mismatch':
        _rewrite_label(label, lambda u: u[:, :-8])
        return 'size_mismatch', label
    if defect == 'image_size_mismatch':
        with Image.open(img) as im:
            im.resize((im.width + 4, im.height)).save(img)
        return 'size_mismatch', img
    if defect == 'bad_uid':
        _rewrite_label(label, _set_block(555))
        return 'bad_uid', label
    if defect == 'unknown_sid':
        _rewrite_label(label, _set_block(num_sids))
        return 'unknown_sid', label
    if defect == 'undefined_pid':  # Pascal-PP person has pids 1-24: the official tools reject 25
        _rewrite_label(label, _set_block(1500125))
        return 'rejected_pid', label
    if defect == 'float_label':
        Image.fromarray(read_label(label).astype(np.float32)).save(label)
        return 'label_format', label
    if defect == 'rgb_label':
        Image.fromarray(np.zeros(read_label(label).shape + (3,), np.uint8)).save(label, format='TIFF')
        return 'label_format', label
    if defect == 'unreadable_label':
        with open(label, 'wb') as f:
            f.write(b'not a tiff at all')
        return 'unreadable_label', label
    if defect == 'truncated_image':
        with open(img, 'rb') as f:
            data = f.read()
        with open(img, 'wb') as f:
            f.write(data[:len(data) // 2])
        return 'unreadable_image', img
    raise ValueError(defect)


DEFECTS = [('cityscapes', 'missing_label'), ('synthetic', 'missing_label'),
           ('cityscapes', 'missing_image'), ('pascal', 'missing_image'), ('synthetic', 'missing_image'),
           ('cityscapes', 'size_mismatch'), ('pascal', 'image_size_mismatch'), ('synthetic', 'size_mismatch'),
           ('cityscapes', 'bad_uid'), ('pascal', 'bad_uid'), ('pascal-107', 'bad_uid'),
           ('cityscapes', 'unknown_sid'), ('synthetic', 'unknown_sid'),
           ('pascal', 'undefined_pid'), ('cityscapes', 'float_label'), ('pascal', 'rgb_label'),
           ('cityscapes', 'unreadable_label'), ('cityscapes', 'truncated_image'), ('pascal', 'truncated_image')]


@pytest.mark.parametrize('dataset,defect', DEFECTS)
def test_defect_is_reported_naming_the_file(tmp_path, dataset, defect):
    fake = WRITERS[dataset](str(tmp_path))
    kind, path = _inject(fake, dataset, defect)
    report = check_dataset(fake.root, dataset)
    assert not report.ok
    [error] = report.errors  # only the broken file, nothing else
    assert error.kind == kind, report.summary()
    if defect == 'undefined_pid':
        assert '[1500125]' in error.message
    assert path in error.message and error.split == SPLITS[dataset][1]
    assert path in report.summary()


def test_missing_folders_name_the_expected_layout(tmp_path):
    report = check_dataset(str(tmp_path), 'cityscapes', splits=['val'])
    assert {e.kind for e in report.errors} == {'missing_folder'} and len(report.errors) == 2
    assert all('gtFinePanopticParts/val/<city>/<id>_gtFinePanopticParts.tif' in e.message for e in report.errors)
    assert check_dataset(str(tmp_path / 'nowhere'), 'pascal').errors[0].kind == 'missing_folder'
    # a root one level too high: the hint names the folder to pass
    fake = write_fake_pascal_pp(str(tmp_path / 'pascal_pp' / 'VOC2010'))
    errors = check_dataset(str(tmp_path / 'pascal_pp'), 'pascal').errors
    assert errors and all(e.kind == 'missing_folder' for e in errors)
    assert any(f'pass {fake.root} as the root' in e.message for e in errors)


def test_synthetic_without_evalspec_or_listing(tmp_path):
    fake = write_fake_synthetic_pp(str(tmp_path))
    os.remove(osp.join(fake.root, 'images_val.json'))
    report = check_dataset(fake.root, 'synthetic')
    assert [e.kind for e in report.errors] == ['missing_folder'] and 'images_val.json' in report.errors[0].message
    os.remove(osp.join(fake.root, 'evalspec.yaml'))
    assert [e.kind for e in check_dataset(fake.root, 'synthetic', splits=['train']).errors] == ['listing']


def test_suspicious_files_are_warnings(tmp_path):
    fake = write_fake_pascal_pp(str(tmp_path))
    first = fake.samples['training'][0]
    # a leftover temporary file of an interrupted conversion: the dataset would load it as a sample
    shutil.copy(first.label_path, first.label_path.replace('.tif', '.tmp123.tif'))
    shutil.copy(first.img_path, first.img_path.replace('.jpg', '.tmp123.jpg'))
    # the same image in both splits
    shutil.copy(first.label_path, osp.join(fake.root, 'labels', 'validation', osp.basename(first.label_path)))
    # a 16-bit label (cannot hold part-level uids)
    second = fake.samples['training'][1]
    Image.fromarray((read_label(second.label_path) % 100).astype(np.uint16)).save(second.label_path)
    report = check_dataset(fake.root, 'pascal')
    assert report.ok, report.summary()
    kinds = sorted(w.kind for w in report.warnings)
    assert kinds == ['label_dtype', 'split_overlap', 'unexpected_name'], report.summary()
    assert any('2008_000002.tmp123' in w.message for w in report.warnings)


def test_unlisted_and_empty_synthetic_files_are_warnings(tmp_path):
    fake = write_fake_synthetic_pp(str(tmp_path))
    extra = osp.join(fake.root, 'labels', 'train', 'train_000099.tif')
    Image.fromarray(np.zeros((64, 64), np.int32)).save(extra)
    void = fake.samples['train'][1].label_path
    _rewrite_label(void, lambda u: np.zeros_like(u))
    report = check_dataset(fake.root, 'synthetic')
    assert report.ok, report.summary()
    assert sorted((w.kind, w.path) for w in report.warnings) == [('all_void', void), ('unlisted_file', extra)]


def test_cityscapes_image_without_label_and_wrong_city(tmp_path):
    fake = write_fake_cityscapes_pp(str(tmp_path))
    sample = fake.samples['train'][0]
    other = osp.join(fake.root, 'gtFinePanopticParts', 'train', 'bremen')
    os.makedirs(other)
    shutil.move(sample.label_path, other)
    report = check_dataset(fake.root, 'cityscapes', splits=['train'])
    missing_image, missing_label = report.errors
    assert missing_image.kind == 'missing_image' and 'leftImg8bit/train/bremen/aachen_' in missing_image.message
    assert missing_label.kind == 'missing_label' and sample.img_path in missing_label.message
    assert [w.kind for w in report.warnings] == ['unexpected_name'] and 'bremen' in report.warnings[0].message


# ------------------------------------------------------------------------------------------ CLI
def test_cli_exit_codes_and_output(clean, tmp_path, capsys):
    cli = _cli()
    assert cli.main([clean['pascal'].root, '--dataset', 'pascal']) == 0
    assert '0 errors, 0 warnings: OK' in capsys.readouterr().out
    fake = write_fake_cityscapes_pp(str(tmp_path))
    _, path = _inject(fake, 'cityscapes', 'bad_uid')
    assert cli.main([fake.root, '--dataset', 'cityscapes', '--splits', 'val', '--nproc', '2']) == 1
    out = capsys.readouterr().out
    assert f'ERROR: [val] {path}: uids outside the panoptic-parts encoding: [555]' in out
    assert '1 errors, 0 warnings: NOT OK' in out  # the broken file is the pid-5 one: no pid count from it


def test_cli_runs_from_the_repository_root(clean):
    proc = subprocess.run([sys.executable, SCRIPT, clean['cityscapes'].root, '--dataset', 'cityscapes'],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'WARNING: [val]' in proc.stdout and PID5_IMAGE_ID in proc.stdout and ': OK' in proc.stdout
