"""The batched target assignment (one call per match cost for all images of a layer) finds what mmdet's
per-image ``get_targets`` finds: same matches, same targets and the same losses on a fixed seed (it draws
the same sampling points), for TAPPS, the dynamic-parts head and both query sets of the baseline."""
import types

import pytest
import torch
from mmdet.models.dense_heads import Mask2FormerHead, MaskFormerHead

from tapps_mm.testing.model_cases import thing_sample, tiny_model, train_losses

CONFIGS = ['configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py',
           'configs/tapps/tapps_r18-toy-dynparts_1xb8-1000it_synthetic.py',
           'configs/baseline/baseline_r18-toy_1xb8-1000it_synthetic.py']
ROBOT, CART, BALL = 0, 1, 2


def _batch():
    """Several objects per image, an image without parts (the baseline's part set has no GT there)."""
    return [thing_sample([(ROBOT, 2, 30, 2, 20, [0, 1, 2]), (CART, 34, 60, 2, 60, [4, 5]),
                          (ROBOT, 2, 30, 22, 40, [0])]),
            thing_sample([(BALL, 2, 30, 2, 30, [])]),
            thing_sample([(CART, 4, 40, 10, 50, [6, 4, 5]), (BALL, 44, 60, 44, 60, [])])]


def _per_image_reference(head):
    """mmdet's own get_targets / _get_targets_single on this head, recording matches as the heads do."""
    def single(self, *args):
        res = Mask2FormerHead._get_targets_single(self, *args)
        self.record(res[-1])
        return res
    head.get_targets = types.MethodType(MaskFormerHead.get_targets, head)
    head._get_targets_single = types.MethodType(single, head)


def _run(config, reference):
    model = tiny_model(config)
    head = model.panoptic_head
    if reference:
        _per_image_reference(head)
    calls = []
    get_targets = head.get_targets
    head.get_targets = lambda *a, **k: calls.append(get_targets(*a, **k)) or calls[-1]
    losses = train_losses(model, _batch())  # seeds the RNG: the same draws for both paths
    return {k: float(v.detach()) for k, v in losses.items()}, calls


@pytest.mark.parametrize('config', CONFIGS)
def test_same_matches_targets_and_losses_as_mmdet_per_image(config):
    (new, new_calls), (ref, ref_calls) = _run(config, False), _run(config, True)
    assert len(new_calls) == len(ref_calls) > 0  # every layer (and the baseline's part set) went through it
    for a, b in zip(new_calls, ref_calls):
        labels, label_w, mask_t, mask_w, avg = a
        assert avg == b[4]
        for x, y in zip((labels, label_w, mask_t, mask_w), b[:4]):
            assert all(torch.equal(u, v) for u, v in zip(x, y))
    assert new.keys() == ref.keys()
    assert all(new[k] == pytest.approx(ref[k], rel=1e-6, abs=1e-7) for k in new)
    assert any(v > 0 for k, v in new.items() if 'part' in k)


def test_other_assigners_are_refused_by_name():
    model = tiny_model(CONFIGS[0])
    model.panoptic_head.assigner = object()
    with pytest.raises(TypeError, match='train_cfg.assigner'):
        train_losses(model, _batch())
