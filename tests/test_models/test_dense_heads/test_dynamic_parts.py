"""The dynamic part branch (TAPPS Table 7): generator, matching, losses, gradients and PPS inference."""
import copy

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

import tapps_mm.registry  # noqa: F401
from tapps_mm.models import DynamicPartQueryGenerator, JOPSDynamicPartHead
from tapps_mm.specs import load_spec
from tapps_mm.testing.model_cases import predict_on_noise, thing_sample, tiny_model, train_losses

DYN = 'configs/tapps/tapps_r18-toy-dynparts_1xb8-1000it_synthetic.py'
SPEC = load_spec('synthetic')  # labels: robot 0 (parts 0-3), cart 1 (parts 4-6), ball 2, sky 3, grass 4, road 5
ROBOT, CART, BALL, SKY = 0, 1, 2, 3
LOSS_KEYS = ('loss_part_mask', 'loss_part_dice', 'loss_part_cls')


def _tiny_model(**head):
    return tiny_model(DYN, **head)


_sample = thing_sample
_loss = train_losses


# a robot with 3 parts, a cart with 2 parts and a band of a robot part (incompatible with carts), a ball, and a
# robot with 2 parts; GT object g of image b is BATCH[b][g] (mmdet puts things first, in order)
BATCH = [[(ROBOT, 2, 32, 2, 30, [0, 1, 2]), (CART, 36, 62, 4, 60, [4, 5, 0])],
         [(BALL, 4, 30, 4, 30, []), (ROBOT, 34, 62, 30, 62, [3, 1])]]
FORCED = torch.tensor([ROBOT, ROBOT, ROBOT, CART, CART, BALL, SKY, SKY])  # object class per query slot


def test_generator_splits_one_fc_into_dynamic_queries():
    gen = DynamicPartQueryGenerator(num_parts=7, embed_dims=16, num_dynamic=5, num_adapt_layers=2)
    q = torch.randn(3, 16)
    part_q, cls = gen(q)
    assert part_q.shape == (3, 5, 16) and cls.shape == (3, 5, 8)  # 7 parts + 'no part'
    # query d of object m is the d-th C-slice of one Linear(C, C * D) of the adapted object query
    assert torch.allclose(part_q[1, 3], gen.dynamic_fc(gen.adapt(q[1]))[3 * 16:4 * 16], atol=1e-6)
    assert torch.allclose(cls, gen.cls_fc(part_q), atol=1e-6)
    assert sum(isinstance(m, torch.nn.Linear) for m in DynamicPartQueryGenerator(7, 8, num_adapt_layers=3).adapt) == 3
    with pytest.raises(ValueError, match='num_adapt_layers'):
        DynamicPartQueryGenerator(7, num_adapt_layers=4)


def test_config_switches_to_the_dynamic_head():
    head = _tiny_model().panoptic_head
    assert isinstance(head, JOPSDynamicPartHead)
    assert isinstance(head.part_queries, DynamicPartQueryGenerator) and head.part_queries.num_dynamic == 10
    assert not any('part_fc' in n for n, _ in head.named_parameters())  # the fixed generator is gone


@pytest.mark.parametrize('compatible', [True, False])
def test_matching_losses_and_gradients(compatible, monkeypatch):
    model = _tiny_model(compatible_parts_train=compatible)
    head = model.panoptic_head
    calls = []
    orig = head._match_parts
    monkeypatch.setattr(head, '_match_parts', lambda *a: calls.append((a, orig(*a))) or calls[-1][1])
    losses = _loss(model, [_sample(o) for o in BATCH])

    assert {f'{p}{k}' for p in ('d0.', 'd1.', '') for k in LOSS_KEYS} <= set(losses)  # 2 layers + queries
    assert all(torch.isfinite(v) for v in losses.values())
    assert all(float(losses[f'{p}{k}']) > 0 for p in ('d0.', 'd1.', '') for k in LOSS_KEYS)

    assert len(calls) == 3  # one matching per decoder prediction
    for (cls_logits, _, imgs, gts, present, _), assigned in calls:
        objects = [BATCH[b][g] for b, g in zip(imgs.tolist(), gts.tolist())]
        assert sorted(o[0] for o in objects) == [ROBOT, ROBOT, CART]  # the ball has no parts: no dynamic queries
        for m, (label, *_, parts) in enumerate(objects):
            want = {p for p in parts if SPEC.compatibility[label, p] or not compatible}
            assert set(present[m].nonzero()[:, 0].tolist()) == want  # the cart's robot-head only if unrestricted
            matched = assigned[m][assigned[m] >= 0].tolist()
            assert sorted(matched) == sorted(want)  # every GT part to exactly one dynamic query
            incompatible = ~torch.from_numpy(SPEC.compatibility[label])
            assert bool(torch.isinf(cls_logits[m, :, :-1][:, incompatible]).all()) == compatible
            assert torch.isfinite(cls_logits[m][:, :-1][:, ~incompatible]).all()
            assert torch.isfinite(cls_logits[m, :, -1]).all()  # 'no part' is always allowed

    sum(losses.values()).backward()
    for name, p in head.part_queries.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_more_parts_than_dynamic_queries(monkeypatch):
    """num_dynamic=2 < robot's 3 parts: 2 distinct parts matched (as Mask2Former with more GTs than queries)."""
    model = _tiny_model(num_dynamic=2)
    head = model.panoptic_head
    seen = []
    orig = head._match_parts
    monkeypatch.setattr(head, '_match_parts', lambda *a: seen.append(orig(*a)) or seen[-1])
    losses = _loss(model, [_sample([(ROBOT, 2, 62, 2, 62, [0, 1, 2])])])
    assert all(torch.isfinite(v) for v in losses.values())
    assert len(seen) == 3
    for assigned in seen:
        assert assigned.shape == (1, 2) and (assigned >= 0).all() and len(set(assigned[0].tolist())) == 2


def test_loss_is_finite_and_connected_without_objects():
    empty = _sample([])
    empty.gt_sem_seg = PixelData(sem_seg=torch.full((1, 64, 64), 255, dtype=torch.uint8))
    unannotated = _sample([(ROBOT, 2, 40, 2, 40, [])])  # a parts class without part labels
    # nothing to supervise: no objects, or an unannotated object that supervise_unlabelled_objects=False skips
    for model, batch in ((_tiny_model(), [empty, copy.deepcopy(empty)]),
                         (_tiny_model(supervise_unlabelled_objects=False), [unannotated])):
        losses = _loss(model, batch)
        assert all(torch.isfinite(v) for v in losses.values())
        assert all(float(losses[f'{p}{k}']) == 0.0 for p in ('d0.', 'd1.', '') for k in LOSS_KEYS)
        sum(losses.values()).backward()
        # DDP: the dynamic branch takes part in the graph (zero gradients) even with nothing to supervise
        assert all(p.grad is not None for p in model.panoptic_head.part_queries.parameters())
    # official default: the unannotated robot's dynamic queries all learn 'no part' (no mask targets)
    losses = _loss(_tiny_model(), [unannotated])
    assert float(losses['loss_part_cls']) > 0 and float(losses['loss_part_mask']) == 0.0


def _expected_score(head, query, part, feats, allowed):
    """max_d p_d(part) * sigmoid(mask_d), the class softmax over ``allowed`` parts + 'no part'."""
    part_q, cls = head.part_queries(query[None])
    keep = torch.cat([allowed, torch.tensor([True])])
    probs = cls[0].masked_fill(~keep, float('-inf')).softmax(-1)[:, part]
    masks = torch.einsum('dc,chw->dhw', part_q[0], feats).sigmoid()
    return (probs[:, None, None] * masks).amax(0).clamp(head.logit_eps, 1 - head.logit_eps)


@torch.no_grad()
def test_part_mask_logits_is_the_max_over_dynamic_queries():
    head = _tiny_model().panoptic_head.eval()
    head.cls_embed.weight.zero_()
    head.cls_embed.bias.zero_()
    head.cls_embed.bias[ROBOT] = 5.0  # both queries are predicted robots
    torch.manual_seed(3)
    q, feats = torch.randn(2, 128), torch.randn(128, 16, 16)
    q_idx, part_idx = torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 5, 2, 3, 6])
    robot = torch.from_numpy(SPEC.compatibility[ROBOT])
    for compatible in (True, False):
        head.compatible_parts_train = compatible
        out = head.part_mask_logits(q[q_idx], part_idx, feats)
        assert out.shape == (5, 16, 16) and torch.isfinite(out).all()
        for m, (i, j) in enumerate(zip(q_idx.tolist(), part_idx.tolist())):
            allowed = robot if compatible else torch.ones_like(robot)
            assert torch.allclose(out[m].sigmoid(), _expected_score(head, q[i], j, feats, allowed), atol=1e-5)
            # each pair alone gives the same map: the score does not depend on what else is asked
            assert torch.allclose(head.part_mask_logits(q[i:i + 1], part_idx[m:m + 1], feats)[0], out[m], atol=1e-4)
        if compatible:  # parts the predicted class was never trained to output have no probability
            assert torch.allclose(out[[1, 4]].sigmoid(), torch.tensor(head.logit_eps))


class _ForcedClasses(torch.nn.Module):
    """A cls_embed that gives each query slot a fixed class, also when part_mask_logits asks for the class
    of a query vector (looked up among the last decoder layer's queries)."""

    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes
        self.last = None

    def _logits(self, slots):
        out = torch.full((*slots.shape, self.num_classes + 1), -10.0)
        out[..., -1] = -20.0
        return out.scatter(-1, FORCED[slots][..., None], 10.0)

    def forward(self, x):
        if x.dim() == 3:  # decoder predictions [B, Q, C]
            self.last = x
            return self._logits(torch.arange(x.shape[1]).expand(x.shape[0], -1))
        return self._logits((x[:, None, None] == self.last[None]).all(-1).nonzero()[:, 2])


@pytest.mark.parametrize('compatible_parts_test', [True, False])
def test_inference_obeys_the_pps_definition(compatible_parts_test):
    model = _tiny_model()
    model.panoptic_fusion_head.compatible_parts_test = compatible_parts_test
    model.panoptic_fusion_head.test_cfg.update(object_mask_thr=0.0, iou_thr=0.0)  # keep what the random model has
    head = model.panoptic_head
    head.cls_embed = _ForcedClasses(head.num_classes)  # robots, carts, a ball and sky
    with torch.no_grad():
        head.part_queries.cls_fc.bias[-1] = -20.0  # random dynamic queries that do predict parts
    model.eval()
    out = predict_on_noise(model, 2, ori_shape=(50, 70))  # rescaled to another original size
    parts_objects = part_pixels = 0
    for s in out:
        pps = s.pred_pps.data.numpy()
        assert pps.shape == (3, 50, 70) and pps.dtype == np.uint8
        sid, iid, pid = pps.astype(int)
        for k in np.unique(sid * 256 + iid):
            s_, i_ = divmod(int(k), 256)
            region = (sid == s_) & (iid == i_)
            pids = set(np.unique(pid[region]).tolist()) - {255}
            assert pids <= set(SPEC.pids_of(s_)), (s_, pids)  # parts only of its own class
            parts_objects += s_ in SPEC.parts_sids
            part_pixels += int((pid[region] != 255).sum())
        # trained on compatible parts, the dynamic classifier gives incompatible parts no score: no conflicts
        assert not s.pred_pps_conflicts.any()
    assert parts_objects > 0 and part_pixels > 0
