"""tools/analysis_tools/compare_predictions.py on a converted paper-config checkpoint and a small copy of
the Cityscapes-PP layout; the image choice and the conflict keys the drawings outline."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from official_checkpoints import official_state

from tapps_mm.apis.comparison import choose_images
from tapps_mm.converters.tapps_d2 import build_model
from tapps_mm.testing.fake_datasets import write_fake_cityscapes_pp
from tapps_mm.testing.repo import load_module

CITYSCAPES = 'configs/tapps/tapps_r50_4xb4-90k_cityscapes-pp.py'
SMALL = ['test_dataloader.dataset.pipeline.1.scale=(128,64)']  # the fake images' own size: a fast CPU test


def test_images_are_chosen_by_the_largest_difference_then_at_random():
    a = {'x': 50.0, 'y': 40.0, 'z': 10.0, 'w': 30.0, 'v': 20.0}
    b = {'x': 49.0, 'y': 60.0, 'z': 11.0, 'w': 30.0, 'v': 25.0, 'only_b': 0.0}
    chosen = choose_images(a, b, num=2, num_random=2, seed=0)
    assert chosen[:2] == [('y', 'largest difference'), ('v', 'largest difference')]
    assert [why for _, why in chosen[2:]] == ['random', 'random'] and len({i for i, _ in chosen}) == 4
    assert choose_images(a, b, 2, 2, seed=0) == chosen  # the draw is seeded
    assert 'only_b' not in dict(chosen)


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """An official-format TAPPS Cityscapes-PP checkpoint (random weights) converted by our tool."""
    tmp = tmp_path_factory.mktemp('compare')
    torch.manual_seed(0)
    model, spec = build_model(CITYSCAPES)
    src = tmp / 'tapps_cityscapes_r50_in1kinit.bin'
    torch.save({'model': official_state(model, spec)}, src)
    tool = load_module('tools/model_converters/tapps_d2_to_mm.py', 'tool_tapps_d2_to_mm_compare')
    assert tool.main([str(src), str(tmp / 'ours.pth')]) == 0
    return tmp / 'ours.pth'


def test_tool_draws_the_chosen_images_of_a_real_layout(converted, tmp_path, capsys):
    root = tmp_path / 'cityscapes'
    write_fake_cityscapes_pp(str(root), num_train=0, num_val=3, size=(64, 128))
    out = tmp_path / 'out'
    tool = load_module('tools/analysis_tools/compare_predictions.py', 'tool_compare_predictions')
    args = [CITYSCAPES, str(converted), CITYSCAPES, str(converted), '--out', str(out), '--names', 'a', 'b',
            '--num', '1', '--random', '1', '--data-root', str(root), '--cfg-options', *SMALL]
    assert tool.main(args) == 0
    chosen = json.loads((out / 'chosen.json').read_text())
    assert [c['why'] for c in chosen] == ['largest difference', 'random']
    for record in chosen:
        assert record['PartPQ a'] == record['PartPQ b']  # the same weights on both sides
        for path in record['files']:
            assert path.endswith(('.png', '.pdf')) and (out / path.rsplit('/', 1)[1]).stat().st_size > 0
    from PIL import Image
    figure = np.asarray(Image.open(out / f'{chosen[0]["image_id"]}.png'))
    assert figure.ndim == 3 and figure.shape[0] > figure.shape[1] / 2  # rows: image + GT, a, b
    assert 'PartPQ' in capsys.readouterr().out


def test_conflict_keys_name_the_flagged_objects(converted):
    """The keys the drawings outline are those of the objects the conflict flags belong to (both heads)."""
    from mmdet.apis import inference_detector

    from tapps_mm.apis import init_pps_model
    from tapps_mm.pps_format import prediction_array
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)
    model = init_pps_model(CITYSCAPES, str(converted), cfg_options={SMALL[0].split('=')[0]: (128, 64),
                                                                   'model.test_cfg.object_mask_thr': 0.0})
    sample = inference_detector(model, image)
    keys = sample.metainfo['pps_conflict_objects']
    pps = prediction_array(sample.pred_pps)
    present = set((pps[..., 0].astype(int) * 1000 + pps[..., 1]).ravel().tolist())
    assert len(keys) == int(np.asarray(sample.pred_pps_conflicts).sum()) and set(keys) <= present


def test_baseline_conflict_keys_follow_the_merge_order():
    """The baseline's flags come from ``merge_objects_and_parts`` in (sid, instance) order; the keys read
    back from its PPS map name the same objects in the same order."""
    from types import SimpleNamespace

    from tapps_mm.models.seg_heads.pps_fusion_head import PartMergeFusionHead
    from tapps_mm.models.utils.pps_merging import merge_objects_and_parts
    from tapps_mm.specs import load_spec
    spec = load_spec('cityscapes-grouped')
    rng = np.random.default_rng(1)
    things = [s for s in spec.parts_sids]
    sem = rng.choice(things + [spec.classes[0]], size=(32, 48))
    inst = np.where(np.isin(sem, things), rng.integers(3, 9, size=sem.shape), 0)
    part = rng.integers(0, spec.num_parts + 1, size=sem.shape)
    pps, conflicts, objects = merge_objects_and_parts(np.stack([sem, inst], -1), part, spec, return_objects=True)
    keys = PartMergeFusionHead.conflict_keys(SimpleNamespace(spec=spec), None,
                                             torch.from_numpy(pps).permute(2, 0, 1).contiguous())
    assert len(keys) == len(conflicts) == len(objects)
    assert [k // 1000 for k in keys] == objects[:, 0].tolist()
