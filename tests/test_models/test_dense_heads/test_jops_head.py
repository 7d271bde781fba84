"""The TAPPS model: part-query generation, part selection and supervision, losses, PPS inference."""
import copy

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

import tapps_mm.registry  # noqa: F401
from tapps_mm.registry import MODELS
from tapps_mm.specs import load_spec
from tapps_mm.testing.model_cases import predict_on_noise, thing_sample, tiny_model, train_losses

TOY = 'configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'
SPEC = load_spec('synthetic')  # labels: robot 0, cart 1, ball 2 (things), sky 3, grass 4, road 5
ROBOT, CART, BALL, SKY = 0, 1, 2, 3
NO_OBJECT = -1  # the last class logit


def _tiny_model(**head):
    return tiny_model(TOY, **head)


def _sample(objects, size=64):
    """Thing objects [(label, y0, y1, x0, x1, part index or None)]: the part covers the upper half."""
    return thing_sample([(lbl, y0, y1, x0, x1, [] if p is None else [p, None])
                         for lbl, y0, y1, x0, x1, p in objects], size)


_loss = train_losses


def test_part_query_generator_equals_the_official_split_fc():
    gen = MODELS.build(dict(type='PartQueryGenerator', num_parts=5, embed_dims=16, num_adapt_layers=2))
    q = torch.randn(7, 16)
    full = gen.part_fc(gen.adapt(q)).view(7, 5, 16)  # official: all part queries of every query
    part_idx = torch.tensor([0, 4, 2, 2, 1, 3, 4])
    assert torch.allclose(gen(q, part_idx), full[torch.arange(7), part_idx], atol=1e-6)
    assert len(MODELS.build(dict(type='PartQueryGenerator', num_parts=3, embed_dims=8, num_adapt_layers=0)).adapt) == 0
    with pytest.raises(ValueError, match='num_adapt_layers'):
        MODELS.build(dict(type='PartQueryGenerator', num_parts=3, num_adapt_layers=4))


@pytest.mark.parametrize('layers', [0, 1, 2, 3])
def test_adaptation_layers_of_table_4(layers):
    head = _tiny_model(part_query=dict(num_adapt_layers=layers)).panoptic_head
    assert sum(isinstance(m, torch.nn.Linear) for m in head.part_queries.adapt) == layers


def _part_rows_with_grad(model):
    grad = model.panoptic_head.part_queries.part_fc.weight.grad.view(SPEC.num_parts, -1).abs().sum(1)
    return set(torch.nonzero(grad > 0)[:, 0].tolist())


def test_only_compatible_part_queries_get_gradients():
    """compatible_parts_train: one cart in the batch -> only cart parts (4-6) are supervised."""
    model = _tiny_model(compatible_parts_train=True)
    losses = _loss(model, [_sample([(CART, 10, 40, 10, 50, 4)]), _sample([(BALL, 5, 30, 5, 30, None)])])
    assert all(torch.isfinite(v) for v in losses.values())
    assert {'loss_part_mask', 'loss_part_dice', 'd0.loss_part_mask', 'd1.loss_part_dice'} <= set(losses)
    sum(losses.values()).backward()
    assert _part_rows_with_grad(model) == set(SPEC.parts_of(SPEC.classes[CART])) == {4, 5, 6}

    model = _tiny_model(compatible_parts_train=False)  # all part classes supervised
    sum(_loss(model, [_sample([(CART, 10, 40, 10, 50, 4)])]).values()).backward()
    assert _part_rows_with_grad(model) == set(range(SPEC.num_parts))


@pytest.mark.parametrize('supervise_unlabelled', [True, False])
def test_part_pairs_of_mixed_classes(supervise_unlabelled, monkeypatch):
    """Mixed classes in a batch: robot -> 4 parts, cart -> 3, ball (no parts) -> none; a robot without part
    labels -> its 4 (empty) part masks (official), or none with ``supervise_unlabelled_objects=False``."""
    model = _tiny_model(supervise_unlabelled_objects=supervise_unlabelled)
    seen = []
    head = model.panoptic_head
    orig = head._layer_part_loss  # each decoder prediction's supervised (image, query, object, part) rows
    monkeypatch.setattr(head, '_layer_part_loss', lambda *a: seen.append(orig(*a)) or seen[-1])
    batch = [_sample([(ROBOT, 2, 30, 2, 20, 0), (CART, 34, 60, 2, 60, 5)]),
             _sample([(BALL, 2, 30, 2, 30, None), (ROBOT, 34, 60, 34, 60, None)])]  # unannotated robot
    _loss(model, batch)
    assert len(seen) == 3  # one per decoder prediction (2 layers + learnable queries)
    unlabelled_robot = [0, 1, 2, 3] if supervise_unlabelled else []
    for layer in seen:
        assert sorted(part for *_, part in layer.rows) == sorted([0, 1, 2, 3, 4, 5, 6] + unlabelled_robot)


def test_loss_is_finite_without_objects():
    model = _tiny_model()
    empty = _sample([])
    empty.gt_sem_seg = PixelData(sem_seg=torch.full((1, 64, 64), 255, dtype=torch.uint8))
    losses = _loss(model, [empty, copy.deepcopy(empty)])
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses['loss_part_mask']) == 0.0
    sum(losses.values()).backward()


@pytest.mark.parametrize('compatible_parts_test', [True, False])
def test_inference_obeys_the_pps_definition(compatible_parts_test, monkeypatch):
    model = _tiny_model()
    model.panoptic_fusion_head.compatible_parts_test = compatible_parts_test
    model.panoptic_fusion_head.test_cfg.update(object_mask_thr=0.0, iou_thr=0.0)  # keep what the random model has
    predict = model.panoptic_head.predict

    def mixed_classes(*args):  # robots, carts, a ball, sky and a no-object query, whatever the weights say
        cls, *rest = predict(*args)
        cls = torch.full_like(cls, -10.0)
        cls[:, :, -1] = -20.0
        for q, label in enumerate([ROBOT, ROBOT, ROBOT, CART, CART, BALL, SKY, NO_OBJECT]):
            cls[:, q, label] = 10.0
        return (cls, *rest)

    monkeypatch.setattr(model.panoptic_head, 'predict', mixed_classes)
    model.eval()
    out = predict_on_noise(model, 2, ori_shape=(50, 70))  # rescaled to another original size
    parts_objects = 0
    for s in out:
        pps = s.pred_pps.data.numpy()
        assert pps.shape == (3, 50, 70) and pps.dtype == np.uint8
        sid, iid, pid = pps.astype(int)
        assert set(np.unique(sid)) <= set(SPEC.classes) | {255}
        for k in np.unique(sid * 256 + iid):
            s_, i_ = divmod(int(k), 256)
            pids = set(np.unique(pid[(sid == s_) & (iid == i_)]).tolist()) - {255}
            assert pids <= set(SPEC.pids_of(s_)), (s_, pids)  # parts only of its own class
            parts_objects += s_ in SPEC.parts_sids
        assert len(s.pred_pps_conflicts) == len({(a, b) for a, b in zip(sid.ravel(), iid.ravel())
                                                 if a in SPEC.parts_sids})
        if compatible_parts_test:
            assert not s.pred_pps_conflicts.any()
    assert parts_objects > 0
