"""The baseline's part loss: mmdet's Mask2Former loss run on the part-query set by a loss object of its own,
with the head's attributes left as they are (those of the object set)."""
import torch

import tapps_mm.registry  # noqa: F401
from tapps_mm.specs import load_spec
from tapps_mm.testing.model_cases import thing_sample, tiny_model, train_losses

BASELINE = 'configs/baseline/baseline_r18-toy_1xb8-1000it_synthetic.py'
SPEC = load_spec('synthetic')
ROBOT, CART = 0, 1


def test_part_loss_runs_on_the_part_set_without_touching_the_head(monkeypatch):
    model = tiny_model(BASELINE)
    head = model.panoptic_head
    part_loss = head.part_loss
    assert (part_loss.num_queries, part_loss.num_classes) == (head.num_part_queries, SPEC.num_parts)
    assert part_loss.class_weight == [1.0] * SPEC.num_parts + [0.1]
    assert part_loss.assigner is head.assigner and part_loss.num_points == head.num_points
    object_set = (head.num_queries, head.num_classes, head.class_weight, head.loss_cls, head.loss_mask,
                  head.loss_dice)
    seen = []
    part_cls = part_loss.loss_cls.forward

    def recording(cls_score, *args, **kwargs):  # the head, while the part classification loss runs
        seen.append((cls_score.shape[-1], head.num_queries, head.num_classes, head.class_weight, head.loss_cls,
                     head.loss_mask, head.loss_dice))
        return part_cls(cls_score, *args, **kwargs)

    monkeypatch.setattr(part_loss.loss_cls, 'forward', recording)
    losses = train_losses(model, [thing_sample([(ROBOT, 2, 30, 2, 20, [0, 1]), (CART, 34, 60, 2, 60, [5, 4])])])
    assert len(seen) == 3  # one per decoder prediction (2 layers + learnable queries)
    assert all(s == (SPEC.num_parts + 1, *object_set) for s in seen)
    names = ['loss_cls', 'loss_mask', 'loss_dice']
    expected = names + [f'd{i}.{n}' for i in range(2) for n in names]
    assert list(losses) == expected + [k.replace('loss_', 'loss_part_') for k in expected]
    assert all(torch.isfinite(v) for v in losses.values())
