"""The part losses of all decoder layers at once (TAPPS's ``JOPSHead`` and the baseline's ``QuerySetLoss``) are
the layer-by-layer computation they replace, on crafted targets: objects of a parts class without any part
label, objects of a class without parts, an image without objects, an image without part labels, one-pixel
objects and one-pixel parts. Both sides draw the same random points (the batched loss draws in each layer's
turn), so the values agree to float summation order (the per-layer sums are taken over rows, the products
batched over layers) and the gradients to the same.

The layer-by-layer references are the code the heads ran before: ``JOPSHead._part_loss`` per layer (still the
dynamic head's) and mmdet's own ``Mask2FormerHead.loss_by_feat`` with its per-image targets on the part set."""
import types

import numpy as np
import pytest
import torch
from mmcv.ops import point_sample
from mmdet.models.dense_heads import Mask2FormerHead, MaskFormerHead

import tapps_mm.registry  # noqa: F401
from tapps_mm.models.dense_heads.point_losses import sample_code_masks
from tapps_mm.models.seg_heads.pps_fusion_head import PanopticSegments
from tapps_mm.models.utils import merge_objects_and_parts
from tapps_mm.specs import load_spec
from tapps_mm.testing.model_cases import thing_sample, tiny_model, train_losses

TOY = 'configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'
NOCOMPAT = 'configs/tapps/tapps_r18-toy-nocompat-train_1xb8-1000it_synthetic.py'
BASELINE = 'configs/baseline/baseline_r18-toy_1xb8-1000it_synthetic.py'
ROBOT, CART, BALL = 0, 1, 2
LOSS_REL, LOSS_ABS = 1e-6, 1e-7


def _crafted():
    """Batches of the cases the supervision rules distinguish."""
    without_labels = thing_sample([(CART, 4, 40, 10, 50, [6, 4, 5])])
    del without_labels.gt_part_seg  # a sample without part labels: no part targets at all
    return {
        'mixed': [thing_sample([(ROBOT, 2, 30, 2, 20, [0, 1, 2]), (CART, 34, 60, 2, 60, [4, None]),
                                (ROBOT, 40, 41, 40, 41, [3]),  # one pixel, its part one pixel
                                (ROBOT, 2, 30, 30, 50, [])]),  # a parts class without part labels
                  thing_sample([]),  # no objects
                  thing_sample([(BALL, 2, 30, 2, 30, []), (CART, 50, 51, 50, 51, []),  # one pixel, no part
                                (ROBOT, 34, 60, 34, 60, [3, None, 0])]),
                  without_labels],
        'no objects': [thing_sample([]), thing_sample([])],
        'no parts class': [thing_sample([(BALL, 2, 30, 2, 30, [])])],
        'one pixel': [thing_sample([(ROBOT, 10, 11, 10, 11, [2]), (CART, 20, 21, 30, 31, [5])])],
    }


CASES = _crafted()


# ------------------------------------------------------------------------------------------------ TAPPS
def _per_layer(head) -> None:
    """The layer-by-layer part loss, as the head computed it before: ``_part_loss`` in each layer's turn."""
    head._supervised_parts = types.MethodType(lambda self, *a: None, head)
    head._layer_part_loss = types.MethodType(
        lambda self, queries, feats, gts, targets, matches, _: self._part_loss(
            queries, feats, self._supervised_objects(gts, targets, matches), targets), head)
    head._part_losses_of_layers = types.MethodType(lambda self, layers, targets: layers, head)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Gradients after float summation in another order, backpropagated through the network: |a - b| <= 1e-3 |b|
    + 1e-4 max |b| (the official training step test's criterion)."""
    return torch.allclose(a, b, rtol=1e-3, atol=1e-4 * float(b.abs().max()) + 1e-12)


def _losses_and_grads(model, batch):
    losses = train_losses(model, batch)
    sum(losses.values()).backward()
    return ({k: float(v.detach()) for k, v in losses.items()},
            {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})


@pytest.mark.parametrize('config,head,case', [
    *((TOY, {}, case) for case in CASES),
    (NOCOMPAT, {}, 'mixed'),  # all part classes supervised
    (TOY, dict(supervise_unlabelled_objects=False), 'mixed'),  # objects without part labels left out
], ids=[*CASES, 'all-parts', 'labelled-only'])
def test_tapps_batched_part_loss_is_the_per_layer_loss(config, head, case):
    batch = CASES[case]
    new_model, ref_model = tiny_model(config, **head), tiny_model(config, **head)
    _per_layer(ref_model.panoptic_head)
    (new, new_grads), (ref, ref_grads) = _losses_and_grads(new_model, batch), _losses_and_grads(ref_model, batch)
    assert list(new) == list(ref)  # the same keys in the same order (the summed loss depends on it)
    for k in new:
        assert new[k] == pytest.approx(ref[k], rel=LOSS_REL, abs=LOSS_ABS), k
    parts = [v for k, v in new.items() if 'part' in k]
    none = case in ('no objects', 'no parts class')
    assert len(parts) == 2 * 3 and (all(v == 0 for v in parts) if none else any(v > 0 for v in parts))
    # without any pair, the whole part-query generator stays in the graph with zero gradients (DDP needs every
    # parameter used); the layer-by-layer code left its adaptation layers out (no gradient at all)
    extra = new_grads.keys() - ref_grads.keys()
    assert ref_grads.keys() <= new_grads.keys() and (not extra or none)
    assert all(n.startswith('panoptic_head.part_queries.adapt.') and not new_grads[n].any() for n in extra)
    assert any(n.startswith('panoptic_head.part_queries') for n in new_grads)
    for n in ref_grads:
        assert _close(new_grads[n], ref_grads[n]), n


HEADS = 'tapps_mm/models/dense_heads/'


@pytest.mark.parametrize('config,ours,expected', [
    (TOY, (HEADS + 'jops_head.py', HEADS + 'point_losses.py'), 1),
    (BASELINE, (HEADS + 'separate_parts_head.py', HEADS + 'point_losses.py'), 2),
], ids=['tapps', 'baseline'])
def test_the_part_branch_asks_the_device_once_or_twice_per_step(config, ours, expected):
    """Counted as ``make bench-model`` counts (``model_cost_counts``): TAPPS's part branch waits for the device
    once per step (the GT labels), the baseline's twice (the part classes present, the cost matrices of all
    layers); the object matching once per decoder layer (its cost matrix)."""
    from model_cost_counts import profile_counts
    model = tiny_model(config)
    counts = profile_counts(lambda: train_losses(model, CASES['mixed'][:3]))['syncs_by_source']
    assert sum(n for source, n in counts.items() if source.startswith(ours)) == expected, counts
    layers = 3  # tiny_model: 2 decoder layers + the learnable queries
    assert sum(n for source, n in counts.items() if source.startswith(HEADS + 'batched')) == layers


# --------------------------------------------------------------------------------------------- baseline
def _part_set_outputs(model, batch):
    """The baseline's part-set predictions of every layer (leaves, for gradients) and its part maps."""
    head = model.panoptic_head
    data = model.data_preprocessor(dict(inputs=[torch.zeros(3, 64, 64, dtype=torch.uint8) for _ in batch],
                                        data_samples=batch), True)
    torch.manual_seed(3)
    with torch.no_grad():
        _, _, layers = head(model.extract_feat(data['inputs']), data['data_samples'])
    cls = [c.clone().requires_grad_() for c, _ in layers]
    masks = [m.clone().requires_grad_() for _, m in layers]
    maps = [s.gt_part_seg.sem_seg[0] if 'gt_part_seg' in s else None for s in data['data_samples']]
    return head, cls, masks, maps, [s.metainfo for s in data['data_samples']]


def _mmdet_part_loss(part_loss, cls, masks, gts, metas):
    """mmdet's layer-by-layer Mask2Former loss with its per-image targets, on the part set."""
    ref = types.SimpleNamespace(**{k: getattr(part_loss, k) for k in (
        'num_queries', 'num_classes', 'class_weight', 'loss_cls', 'loss_mask', 'loss_dice', 'assigner', 'sampler',
        'num_points', 'oversample_ratio', 'importance_sample_ratio')})
    for name, fn in (('loss_by_feat', Mask2FormerHead.loss_by_feat), ('get_targets', MaskFormerHead.get_targets),
                     ('_loss_by_feat_single', Mask2FormerHead._loss_by_feat_single),
                     ('_get_targets_single', Mask2FormerHead._get_targets_single)):
        setattr(ref, name, types.MethodType(fn, ref))
    return ref.loss_by_feat(cls, masks, gts, metas)


@pytest.mark.parametrize('case', ['mixed', 'no objects', 'one pixel'])
def test_baseline_part_set_loss_is_mmdets_per_layer_loss(case):
    batch = [s for s in CASES[case] if 'gt_part_seg' in s]  # the baseline needs part labels on every image
    head, cls, masks, maps, metas = _part_set_outputs(tiny_model(BASELINE), batch)
    results = []
    for batched in (True, False):
        torch.manual_seed(4)
        if batched:
            losses = head.part_loss.loss_by_feat(cls, masks, head.batch_part_segments(maps, masks[0]), metas)
        else:
            gts = [head.part_segments(m) for m in maps]
            losses = _mmdet_part_loss(head.part_loss, cls, masks, gts, metas)
        grads = torch.autograd.grad(sum(v.sum() for v in losses.values()), cls + masks, allow_unused=True)
        results.append(({k: float(v.detach().sum()) for k, v in losses.items()}, grads))
    (new, new_grads), (ref, ref_grads) = results
    assert list(new) == list(ref)
    for k in new:
        assert new[k] == pytest.approx(ref[k], rel=LOSS_REL, abs=LOSS_ABS), k
    for a, b in zip(new_grads, ref_grads):
        assert (a is None) == (b is None) and (a is None or _close(a, b))


# ------------------------------------------------------------------------------------------------ pieces
@pytest.mark.parametrize('size', [(64, 64), (32, 128), (48, 80), (37, 53)])
def test_code_masks_are_point_sampled_binary_masks(size):
    """``point_sample`` of the binary masks: bit for bit on CPU where the sizes are powers of two (grid_sample's
    arithmetic; with other sizes its kernel's fused multiply-adds round the last bit differently)."""
    torch.manual_seed(0)
    h, w = size
    maps = torch.zeros(3, h, w)
    maps[:, h // 3:, : w // 2] = 257.0
    maps[:, : h // 2, w // 3:] = 514.0
    maps[1, 5, 7] = 258.0  # one pixel
    maps[2] = torch.randint(0, 3, (h, w)).float() * 256 + 1
    imgs = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    codes = torch.tensor([257, 514, 258, 999, 1, 257, 513])
    coords = torch.rand(len(imgs), 500, 2)
    coords[:, :4] = torch.tensor([[0.0, 0.0], [0.999, 0.999], [7.5 / w, 5.5 / h], [7.4 / w, 5.6 / h]])
    ours = sample_code_masks(maps, imgs, codes, coords)
    ref = point_sample((maps[imgs] == codes[:, None, None].float()).float()[:, None], coords).squeeze(1)
    assert ((ref > 0) & (ref < 1)).any() and ref[2, 2] > 0.99  # the one-pixel mask at its pixel's centre
    if h & (h - 1) == 0 and w & (w - 1) == 0:
        assert torch.equal(ours, ref)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_baseline_merging_on_the_device_is_the_official_merging():
    """``PartMergeFusionHead.merge`` equals ``merge_objects_and_parts`` (tested against the official
    ``merge_to_pps``): random segments of every kind, random part ids (in and out of range, other classes')."""
    spec = load_spec('synthetic')
    head = tiny_model(BASELINE).panoptic_fusion_head
    rng = np.random.default_rng(0)
    for _ in range(20):
        h, w = 24, 32
        things = rng.integers(0, spec.num_things, rng.integers(0, 5)).tolist()
        stuff = rng.permutation(np.arange(spec.num_things, spec.num_classes))[:rng.integers(0, 3)].tolist()
        labels = rng.permutation(things + stuff).tolist()  # stuff: one segment per class, as the fusion head makes
        thing_ids, count = [], 0
        for label in labels:
            count += label < spec.num_things
            thing_ids.append(count if label < spec.num_things else 0)
        seg_map = torch.from_numpy(rng.integers(-1, len(labels), (h, w)))
        seg_map.view(-1)[:len(labels)] = torch.arange(len(labels))  # every segment has pixels, as the fusion head's
        part_seg = torch.from_numpy(rng.integers(0, spec.num_parts + 3, (h, w)))
        segments = PanopticSegments(seg_map, torch.arange(len(labels)), torch.tensor(labels, dtype=torch.long),
                                    torch.tensor(thing_ids, dtype=torch.long), torch.ones(len(labels)))
        pps, conflicts = head.merge(segments, part_seg)
        sids = torch.tensor([*spec.classes, spec.ignore_label])
        objects = np.stack([sids[torch.tensor(labels + [len(sids) - 1], dtype=torch.long)[seg_map]].numpy(),
                            torch.tensor([t if t else 1 for t in thing_ids] + [0], dtype=torch.long)[seg_map].numpy()],
                           -1)
        ref_pps, ref_conflicts = merge_objects_and_parts(objects, part_seg.numpy(), spec)
        assert np.array_equal(pps.permute(1, 2, 0).numpy(), ref_pps)
        assert conflicts.tolist() == ref_conflicts.tolist()
