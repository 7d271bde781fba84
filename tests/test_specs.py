"""Class / part definitions come from the official eval specs; our Pascal-PP-107 spec matches the
published one."""
import os.path as osp

import numpy as np
import pytest

from tapps_mm.specs import NAMED_SPECS, load_official_spec, load_spec


@pytest.mark.parametrize('name,classes,things,parts_classes,parts', [
    ('cityscapes', 19, 8, 5, 23),
    ('cityscapes-grouped', 19, 8, 5, 9),
    ('pascal', 59, 20, 15, 57),
    ('pascal-107', 59, 20, 15, 107),
])
def test_named_spec_counts(name, classes, things, parts_classes, parts):
    spec = load_spec(name)
    assert (spec.num_classes, spec.num_things, len(spec.parts_sids), spec.num_parts) == \
        (classes, things, parts_classes, parts)
    assert spec.num_stuff == classes - things
    # labels: things first, then stuff (mmdet panoptic convention)
    assert spec.classes[:spec.num_things] == spec.thing_sids
    comp = spec.compatibility
    assert comp.shape == (classes, parts)
    # the models' part masks: every class of eval_sid_pid2eval_pid_flat (the official train_sids_with_parts)
    assert set(spec.part_mask_sids) == {sp // 100 for sp in spec.official.eval_sid_pid2eval_pid_flat}
    assert comp[~spec.label_has_part_masks].sum() == 0 and (comp[spec.label_has_part_masks].sum(1) >= 1).all()
    # scored with parts: more than one part (a subset)
    assert (comp[spec.label_has_parts].sum(1) >= 2).all() and set(spec.parts_sids) <= set(spec.part_mask_sids)


def test_cityscapes_definitions():
    spec = load_spec('cityscapes')
    person = spec.sid2label[24]
    assert spec.class_names[24] == 'person' and spec.pids_of(24) == (1, 2, 3, 4)
    assert spec.parts_of(24) == (0, 1, 2, 3) and spec.parts_of(26) == (8, 9, 10, 11, 12)
    assert np.flatnonzero(spec.compatibility[person]).tolist() == [0, 1, 2, 3]
    grouped = load_spec('cityscapes-grouped')
    assert grouped.parts_of(24) == grouped.parts_of(25) == (0, 1, 2, 3)
    assert grouped.parts_of(26) == grouped.parts_of(27) == grouped.parts_of(28) == (4, 5, 6, 7, 8)
    assert spec.part_index_to_pid(26) == {8: 1, 9: 2, 10: 3, 11: 4, 12: 5}
    assert spec.dataset_sid2eval_sid[24] == 24 and spec.dataset_sid2eval_sid[0] is None
    assert spec.dataset_sid_pid2eval_sid_pid[2401] == 2401 and spec.dataset_sid_pid2eval_sid_pid[24] is None
    assert load_spec('pascal').dataset_sid_pid2eval_sid_pid[102] == 104  # grouped Pascal parts


def test_pascal_whole_object_parts_are_no_parts_classes():
    """Scored as no-parts classes, but their one whole-object part is a part mask of the models (official)."""
    spec = load_spec('pascal')
    for name in ('boat', 'chair', 'table', 'sofa', 'train'):
        sid = next(s for s, n in spec.class_names.items() if n == name)
        assert sid not in spec.parts_sids and sid in spec.part_mask_sids
        assert len(spec.parts_of(sid)) == 1 and spec.pids_of(sid) == () and spec.part_index_to_pid(sid) == {
            spec.sid_pid2flat[sid * 100 + 1] - 1: 1}
    spec107 = load_spec('pascal-107')
    names = {n: s for s, n in spec107.class_names.items()}
    assert len(spec107.pids_of(names['train'])) == 7
    assert names['tvmonitor'] not in spec107.parts_sids
    assert names['tvmonitor'] in load_spec('pascal').parts_sids


def test_spec_by_yaml_path_and_unknown_name(tmp_path):
    path = load_spec('cityscapes').path
    assert load_spec(path).classes == load_spec('cityscapes').classes
    with pytest.raises(FileNotFoundError, match='Unknown PPS spec'):
        load_spec('no-such-spec')


def test_own_107_spec_equals_published_reference(shared_reference):
    ref = load_official_spec(osp.join(shared_reference, 'ppq_ppp_59_107_cvpr21_default_evalspec.yaml'))
    ours = load_spec('pascal-107').official
    for attr in ('ignore_label', 'dataset_sid2eval_sid', 'dataset_sid_pid2eval_sid_pid', 'eval_sid_pid2eval_pid_flat',
                 'eval_sid2scene_label', 'eval_pid_flat2scene_part_label', 'cat_definition'):
        assert dict(getattr(ours, attr)) == dict(getattr(ref, attr)) if isinstance(getattr(ours, attr), dict) \
            else getattr(ours, attr) == getattr(ref, attr), attr
    for attr in ('eval_sid_things', 'eval_sid_stuff', 'eval_sid_parts', 'eval_sid_no_parts', 'eval_sid_total'):
        assert sorted(getattr(ours, attr)) == sorted(getattr(ref, attr)), attr
    assert ours._dspec.l == ref._dspec.l


def test_named_specs_cover_the_paper():
    assert set(NAMED_SPECS) == {'cityscapes', 'cityscapes-grouped', 'pascal', 'pascal-107', 'synthetic'}
