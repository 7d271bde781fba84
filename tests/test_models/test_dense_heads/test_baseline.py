"""The separate-query baseline: part queries matched and supervised apart from objects, official merging."""
import numpy as np
import torch
from mmengine.config import Config

import tapps_mm.registry  # noqa: F401
from tapps_mm.models.dense_heads import SeparatePartQueriesHead
from tapps_mm.specs import load_spec
from tapps_mm.structures import SemanticPartOutputs
from tapps_mm.testing.model_cases import predict_on_noise, thing_sample, tiny_model, train_losses

BASELINE = 'configs/baseline/baseline_r18-toy_1xb8-1000it_synthetic.py'
SPEC = load_spec('synthetic')
ROBOT, CART, BALL, SKY = 0, 1, 2, 3


def test_config_switches_to_the_baseline_only_in_the_config():
    model = tiny_model(BASELINE)
    assert type(model).__name__ == 'PartAwareMask2Former'  # one detector; the heads differ
    head = model.panoptic_head
    assert isinstance(head, SeparatePartQueriesHead) and not hasattr(head, 'part_queries')
    assert head.query_feat.num_embeddings == head.num_queries + head.num_part_queries == 8 + 30
    # the TAPPS config it inherits leaves the JOPS head's own switches to that head: none reaches this one
    assert not {'part_query', 'compatible_parts_train'} & set(Config.fromfile(BASELINE).model.panoptic_head)


def test_part_segments_one_per_part_class_present():
    part_map = torch.zeros(8, 8, dtype=torch.uint8)
    part_map[:2] = 1
    part_map[4:, :4] = 6
    part_map[6:, 6:] = 1  # same part class in another object: one semantic segment
    seg = SeparatePartQueriesHead.part_segments(part_map)
    assert seg.labels.tolist() == [0, 5]
    assert seg.masks.sum((1, 2)).tolist() == [16 + 4, 16]


def test_losses_on_every_layer_and_gradients_reach_the_part_queries():
    model = tiny_model(BASELINE)
    losses = train_losses(model, [thing_sample([(ROBOT, 2, 30, 2, 20, [0, 1]), (CART, 34, 60, 2, 60, [5, 4])]),
                                  thing_sample([(BALL, 4, 30, 4, 30, [])])])
    for prefix in ('', 'd0.', 'd1.'):
        for key in ('loss_cls', 'loss_mask', 'loss_dice', 'loss_part_cls', 'loss_part_mask', 'loss_part_dice'):
            assert torch.isfinite(losses[prefix + key]), prefix + key
    sum(losses.values()).backward()
    head = model.panoptic_head
    assert head.part_cls_embed.weight.grad.abs().sum() > 0 and head.part_mask_embed[0].weight.grad.abs().sum() > 0
    # the part queries' rows of the shared embedding table get gradients from the part loss
    assert head.query_feat.weight.grad[head.num_queries:].abs().sum() > 0


def test_loss_is_finite_without_objects_or_parts():
    empty = thing_sample([])
    empty.gt_sem_seg.sem_seg[:] = 255
    losses = train_losses(tiny_model(BASELINE), [empty])
    assert all(torch.isfinite(v) for v in losses.values())


def test_inference_merges_with_the_official_rules_and_flags_conflicts(monkeypatch):
    """Every part query says 'robot-head' everywhere: robots get head pixels, carts get 255 and a conflict."""
    model = tiny_model(BASELINE)
    model.panoptic_fusion_head.test_cfg.update(object_mask_thr=0.0, iou_thr=0.0)
    model.eval()
    predict = model.panoptic_head.predict

    def forced(*args):
        cls, masks, parts = predict(*args)
        part_cls, part_masks = parts.cls_logits, parts.mask_logits
        cls = torch.full_like(cls, -10.0)
        labels = [ROBOT, ROBOT, CART, CART, BALL, SKY, SKY, -1]
        for q, label in enumerate(labels):
            cls[:, q, label] = 10.0
        masks = torch.full_like(masks, -5.0)  # queries own vertical stripes of the image
        w = masks.shape[-1] // len(labels)
        for q in range(len(labels)):
            masks[:, q, :, q * w:(q + 1) * w] = 5.0
        part_cls = torch.full_like(part_cls, -10.0)
        part_cls[..., 0] = 10.0  # robot-head
        return cls, masks, SemanticPartOutputs(part_cls, torch.full_like(part_masks, 5.0))

    monkeypatch.setattr(model.panoptic_head, 'predict', forced)
    out = predict_on_noise(model, 1)[0]
    sid, iid, pid = out.pred_pps.data.numpy().astype(int)
    robot, cart = SPEC.classes[ROBOT], SPEC.classes[CART]
    head_pid = SPEC.part_index_to_pid(robot)[0]
    assert (pid[sid == robot] == head_pid).all() and (pid[sid == cart] == 255).all()
    assert len(np.unique(iid[sid == robot])) == 2 and len(np.unique(iid[sid == cart])) == 2
    # one flag per object of a parts class, in (sid, iid) order: 2 robots without, 2 carts with conflicts
    assert out.pred_pps_conflicts.tolist() == [False, False, True, True]


def test_object_queries_load_from_a_mask2former_checkpoint():
    from mmengine.runner.checkpoint import load_state_dict
    tapps = tiny_model('configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py')  # object queries only
    baseline = tiny_model(BASELINE)
    head = baseline.panoptic_head
    parts_before = head.query_feat.weight[head.num_queries:].detach().clone()
    load_state_dict(baseline, tapps.state_dict(), strict=False)
    for name in ('query_feat', 'query_embed'):
        ours, theirs = getattr(head, name).weight, getattr(tapps.panoptic_head, name).weight
        assert ours.shape[0] == head.num_queries + head.num_part_queries
        assert torch.equal(ours[:head.num_queries], theirs)
    assert torch.equal(head.query_feat.weight[head.num_queries:], parts_before)
    assert torch.equal(head.cls_embed.weight, tapps.panoptic_head.cls_embed.weight)  # same classes: loaded too


def test_part_background_threshold_is_a_switch_and_zero_is_mask2formers_semantic_inference():
    """Our choice (no official baseline): a pixel whose best part score is below ``no_part_score`` (0.1, TAPPS's
    'no part' score) is background. At 0 the part branch is plain Mask2Former semantic inference (argmax of
    sum over queries of class probability x mask probability), as the paper's text reads."""
    head = tiny_model(BASELINE).panoptic_fusion_head
    torch.manual_seed(0)
    part_cls, part_masks = torch.randn(5, SPEC.num_parts + 1) * 3, torch.randn(5, 6, 7) * 3 - 4
    scores = torch.einsum('qp,qhw->phw', part_cls.softmax(-1)[:, :-1], part_masks.sigmoid())
    best, idx = scores.max(0)
    assert (best < 0.1).any() and (best >= 0.1).any()  # both sides of the threshold reached
    head.no_part_score = 0.1
    assert torch.equal(head.part_semantic(part_cls, part_masks), torch.where(best >= 0.1, idx + 1, 0))
    head.no_part_score = 0.0
    assert torch.equal(head.part_semantic(part_cls, part_masks), idx + 1)
