"""The numpy PPS merging (baseline: panoptic objects + part segmentation) follows the official
``panoptic_parts.merging.merge_to_pps`` rules exactly, checked against the official code itself."""
from __future__ import annotations

import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from tapps_mm.compat import import_panoptic_parts
from tapps_mm.specs import load_spec
from tapps_mm.testing.repo import load_module


def _load_module():
    """Load pps_merging.py by path: ``import tapps_mm.models...`` would run ``tapps_mm/models/__init__.py``,
    which imports torch and mmdet; the merging itself is numpy only."""
    return load_module(osp.join('tapps_mm', 'models', 'utils', 'pps_merging.py'), '_pps_merging_under_test')


merge_objects_and_parts = _load_module().merge_objects_and_parts
VOID = 255


def _flat(spec, sid: int, pid: int) -> int:
    return spec.sid_pid2flat[sid * 100 + pid]


# --------------------------------------------------------------------------- hand-built cases (Cityscapes-PP)

@pytest.fixture(scope='module')
def cs():
    return load_spec('cityscapes')


def test_car_keeps_its_parts_and_person_with_car_parts_conflicts(cs):
    sem = np.array([[26, 26, 26, 24, 24, 24]])
    inst = np.array([[1, 1, 1, 1, 1, 1]])
    car_window, car_wheel = _flat(cs, 26, 1), _flat(cs, 26, 2)
    person_head = _flat(cs, 24, 2)
    parts = np.array([[car_window, car_wheel, person_head, car_wheel, person_head, car_window]])
    pps, conflicts, objects = merge_objects_and_parts(np.stack([sem, inst], -1), parts, cs, return_objects=True)
    assert pps.dtype == np.uint8 and pps.shape == (1, 6, 3)
    assert pps[0, :, 0].tolist() == [26, 26, 26, 24, 24, 24]
    assert pps[0, :, 1].tolist() == [1] * 6
    # car: window=1, wheel=2, a person part -> unknown; person: car parts -> unknown, head=2
    assert pps[0, :, 2].tolist() == [1, 2, VOID, VOID, 2, VOID]
    assert objects.tolist() == [[24, 1], [26, 1]]  # (sid, iid) order
    assert conflicts.tolist() == [True, True]


def test_background_part_pixels_are_unknown_but_not_conflicts(cs):
    sem = np.full((2, 3), 24)
    inst = np.full((2, 3), 4)
    torso = _flat(cs, 24, 1)
    parts = np.array([[torso, 0, torso], [0, torso, cs.num_parts + 1]])  # 0 and out-of-range: no part class
    pps, conflicts = merge_objects_and_parts((sem, inst), parts, cs)
    assert pps[..., 2].tolist() == [[1, VOID, 1], [VOID, 1, VOID]]
    assert pps[..., 1].tolist() == [[1] * 3] * 2  # the only person segment is instance 1 (official numbering)
    assert conflicts.tolist() == [False]
    _, conflicts_bg = merge_objects_and_parts((sem, inst), parts, cs, count_background=True)
    assert conflicts_bg.tolist() == [True]


def test_stuff_no_parts_classes_and_void(cs):
    sem = np.array([[7, 7, 33, 33, VOID, VOID]])  # road (stuff), bicycle (thing without parts), void
    inst = np.array([[0, 0, 2, 2, 0, 5]])
    car_wheel = _flat(cs, 26, 2)
    parts = np.array([[car_wheel, 0, car_wheel, 0, car_wheel, 0]])
    pps, conflicts = merge_objects_and_parts(np.stack([sem, inst], -1), parts, cs)
    # official: segments of classes without parts get the dummy pid 1 and instance 1 (stuff too);
    # void pixels keep the canvas init [void, 0, 0]
    assert pps[0].tolist() == [[7, 1, 1], [7, 1, 1], [33, 1, 1], [33, 1, 1], [VOID, 0, 0], [VOID, 0, 0]]
    assert conflicts.shape == (0,)  # only objects of classes with parts are reported


def test_instances_are_renumbered_per_class_in_iid_order(cs):
    sem = np.array([[26, 26, 26, 24, 24]])
    inst = np.array([[7, 3, 9, 7, 2]])
    parts = np.array([[_flat(cs, 24, 1), _flat(cs, 26, 1), 0, _flat(cs, 26, 1), 0]])
    pps, conflicts, objects = merge_objects_and_parts((sem, inst), parts, cs, return_objects=True)
    assert pps[0, :, 1].tolist() == [2, 1, 3, 2, 1]
    assert objects.tolist() == [[24, 2], [24, 7], [26, 3], [26, 7], [26, 9]]
    assert conflicts.tolist() == [False, True, False, True, False]


def test_single_part_class_of_pascal_is_no_parts_class():
    """Pascal-PP gives classes without parts (boat...) one flat 'part'; inside a person it is a foreign part."""
    spec = load_spec('pascal')
    boat_flat, person_flat = _flat(spec, 4, 1), spec.parts_of(15)[0] + 1
    sem = np.array([[4, 4, 15, 15]])
    inst = np.array([[1, 1, 1, 1]])
    parts = np.array([[boat_flat, person_flat, boat_flat, person_flat]])
    pps, conflicts = merge_objects_and_parts((sem, inst), parts, spec)
    assert pps[0, :, 2].tolist() == [1, 1, VOID, spec.part_index_to_pid(15)[person_flat - 1]]
    assert conflicts.tolist() == [True]


def test_invalid_inputs(cs):
    parts = np.zeros((1, 2), dtype=np.int64)
    with pytest.raises(ValueError, match='neither eval sids'):
        merge_objects_and_parts((np.array([[0, 26]]), np.array([[0, 1]])), parts, cs)
    with pytest.raises(ValueError, match='segments of one class'):
        inst = np.arange(256)[None]
        merge_objects_and_parts((np.full((1, 256), 26), inst), np.zeros((1, 256), int), cs)
    with pytest.raises(ValueError, match='shape'):
        merge_objects_and_parts((np.array([[26, 26]]), np.array([[1, 1]])), np.zeros((2, 2), int), cs)


# --------------------------------------------------------------------------- equality with the official code

class _NumpyOnePromotionImage:
    """``PIL.Image`` as seen by the official module, except that RGB images load as int64.

    The official panoptic decoding ``pred_pan[..., 1] * 256`` on a uint8 array relies on numpy 1's
    value-based promotion (-> uint16/uint32); numpy 2 raises OverflowError. Loading as int64 gives exactly
    the numpy-1 ids; nothing else in the official code changes."""

    fromarray = staticmethod(Image.fromarray)

    @staticmethod
    def open(path):
        img = Image.open(path)
        return np.asarray(img).astype(np.int64) if img.mode == 'RGB' else img


def _random_case(spec, rng: np.random.Generator, h: int = 24, w: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Blocky objects (some void, non-consecutive iids) whose parts are clean (own parts and background),
    or noisy (also foreign parts, out-of-range values and 255)."""
    gh, gw = h // 4, w // 4
    labels = rng.integers(0, spec.num_classes, size=(gh, gw))
    sids = np.asarray(spec.classes)[labels]
    sids[rng.random((gh, gw)) < 0.15] = VOID
    thing = np.isin(sids, spec.thing_sids)
    iids = np.where(thing, rng.choice([1, 2, 3, 7], size=(gh, gw)), 0)
    iids[sids == VOID] = rng.integers(0, 3, size=int((sids == VOID).sum()))  # ignored under void
    sem = np.kron(sids, np.ones((4, 4), dtype=np.int64))
    inst = np.kron(iids, np.ones((4, 4), dtype=np.int64))
    parts = rng.integers(0, spec.num_parts + 3, size=(h, w))
    parts[rng.random((h, w)) < 0.03] = 255
    for sid, iid in {(int(s), int(i)) for s, i in zip(sids.ravel(), iids.ravel()) if s in spec.parts_sids}:
        mask = (sem == sid) & (inst == iid)
        own = rng.choice(np.append(np.asarray(spec.parts_of(sid)) + 1, 0), size=int(mask.sum()))
        keep_noise = rng.random(own.shape) < (0.3 if rng.random() < 0.5 else 0.0)
        parts[mask] = np.where(keep_noise, parts[mask], own)
    return np.stack([sem, inst], -1), parts


def _write_official_inputs(panoptic: np.ndarray, parts: np.ndarray, image_id: str, root) -> dict:
    """COCO-panoptic PNG + annotation (segments in (sid, iid) order, id 0 = void) and the part PNG."""
    sem, inst = panoptic[..., 0], panoptic[..., 1]
    valid = sem != VOID
    pairs = sorted({(int(s), int(i)) for s, i in zip(sem[valid], inst[valid])})
    seg_id = np.zeros(sem.shape, dtype=np.int64)
    segments_info = []
    for k, (s, i) in enumerate(pairs, start=1):
        seg_id[valid & (sem == s) & (inst == i)] = k
        segments_info.append({'id': k, 'category_id': s})
    rgb = np.stack([seg_id % 256, seg_id // 256 % 256, seg_id // 256 ** 2], -1).astype(np.uint8)
    Image.fromarray(rgb).save(root / 'panoptic' / f'{image_id}.png')
    Image.fromarray(parts.astype(np.uint8)).save(root / 'parts' / f'{image_id}.png')
    return {'image_id': image_id, 'file_name': f'{image_id}.png', 'segments_info': segments_info}


def _official_merge(spec, cases, root, monkeypatch) -> list[np.ndarray]:
    """Run ``panoptic_parts.merging.merge_to_pps.merge`` on files and read its PPS PNGs back."""
    import_panoptic_parts()
    from panoptic_parts.merging import merge_to_pps

    def eval_spec(path):  # the same PartPQEvalSpec object our spec was parsed from (no cwd dependence)
        assert path == spec.path
        return spec.official

    monkeypatch.setattr(merge_to_pps, 'PartPQEvalSpec', eval_spec)
    monkeypatch.setattr(merge_to_pps, 'Image', _NumpyOnePromotionImage)
    (root / 'panoptic').mkdir()
    (root / 'parts').mkdir()
    ids = [f'pps_{k:03d}' for k in range(len(cases))]  # fixed width: the official lookup is a substring match
    annotations = [_write_official_inputs(pan, parts, i, root) for i, (pan, parts) in zip(ids, cases)]
    (root / 'panoptic.json').write_text(json.dumps({'annotations': annotations}))
    (root / 'images.json').write_text(json.dumps({'images': [{'id': i} for i in ids]}))
    merge_to_pps.merge(spec.path, str(root / 'panoptic'), str(root / 'panoptic.json'), str(root / 'parts'),
                       str(root / 'images.json'), str(root / 'out'))
    return [np.array(Image.open(root / 'out' / f'{i}.png')) for i in ids]


@pytest.mark.parametrize('name', ['cityscapes', 'cityscapes-grouped', 'pascal', 'pascal-107'])
def test_equal_to_official_merging(name, tmp_path, monkeypatch):
    spec = load_spec(name)
    cases = [_random_case(spec, np.random.default_rng(seed)) for seed in range(4)]
    expected = _official_merge(spec, cases, tmp_path, monkeypatch)
    n_conflicts, n_objects = [], []
    for (pan, parts), official in zip(cases, expected):
        ours, conflicts, objects = merge_objects_and_parts(pan, parts, spec, return_objects=True)
        np.testing.assert_array_equal(ours, official)
        assert official[..., 2].max() == VOID and (official[..., 0] == VOID).any()  # unknown parts and void
        # conflict flags: an object conflicts iff it holds a valid part class that the official rule rejected
        for (sid, iid), flag in zip(objects, conflicts):
            mask = (pan[..., 0] == sid) & (pan[..., 1] == iid)
            rejected = (official[..., 2] == VOID) & (parts >= 1) & (parts <= spec.num_parts)
            assert flag == bool((mask & rejected).any())
        assert len(objects) == len({(s, i) for s, i in zip(pan[..., 0].ravel(), pan[..., 1].ravel())
                                    if s in spec.parts_sids})
        n_conflicts.append(int(conflicts.sum()))
        n_objects.append(len(conflicts))
    assert 0 < sum(n_conflicts) < sum(n_objects)  # both kinds of objects are tested


def test_official_merging_needs_numpy1_promotion(cs, tmp_path, monkeypatch):
    """Why the shim above exists: unpatched, the official decoding overflows under numpy >= 2."""
    if int(np.__version__.split('.')[0]) < 2:
        pytest.skip('numpy 1 promotes uint8 * 256 by value')
    monkeypatch.setattr(_NumpyOnePromotionImage, 'open', staticmethod(Image.open))
    with pytest.raises(OverflowError):
        _official_merge(cs, [_random_case(cs, np.random.default_rng(0), 8, 8)], tmp_path, monkeypatch)
