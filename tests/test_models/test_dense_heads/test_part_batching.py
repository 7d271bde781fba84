"""The batched part branch (one product for all images) computes exactly what the
straightforward per-image code computed: on a fixed seed it draws the same random points in the same order,
so losses and gradients are equal up to float summation order (which the BLAS kernel, and so the thread
count, decides: with one thread the batched product rounds differently in the last bit)."""
import types

import pytest
import torch

import tapps_mm.registry  # noqa: F401
from tapps_mm.models.dense_heads.jops_head import JOPSHead
from tapps_mm.registry import MODELS
from tapps_mm.testing.model_cases import thing_sample, tiny_model, train_losses

TOY = 'configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'
DYN = 'configs/tapps/tapps_r18-toy-dynparts_1xb8-1000it_synthetic.py'
ROBOT, CART, BALL = 0, 1, 2


# ------------------------------------------------------------------ the per-image reference
def masks_reference(part_q, imgs, mask_features):
    out = torch.zeros(len(part_q), *part_q.shape[1:-1], *mask_features.shape[-2:])
    for b in imgs.unique().tolist():
        sel = imgs == b
        out[sel] = torch.einsum('m...c,chw->m...hw', part_q[sel], mask_features[b])
    return out


def part_queries_reference(gen, queries, part_idx):
    adapted = gen.adapt(queries)
    c = gen.out_dims
    weight, bias = gen.part_fc.weight.view(gen.num_parts, c, -1), gen.part_fc.bias.view(gen.num_parts, c)
    out = adapted.new_zeros(adapted.shape[0], c)
    for j in torch.unique(part_idx).tolist():
        rows = (part_idx == j).nonzero(as_tuple=True)[0]
        out = out.index_put((rows,), adapted[rows] @ weight[j].t() + bias[j])
    return out


# ------------------------------------------------------------------ pieces
@pytest.mark.parametrize('lead', [(), (3,)])  # fixed part queries [M, C]; dynamic ones [M, D, C]
def test_masks_per_image_equal_per_image_products(lead):
    torch.manual_seed(0)
    imgs = torch.tensor([2, 0, 2, 2, 0, 3])  # unsorted, image 1 without rows
    part_q = torch.randn(len(imgs), *lead, 16, requires_grad=True)
    feats = torch.randn(4, 16, 8, 9, requires_grad=True)
    new = JOPSHead._masks_per_image(part_q, imgs, feats)
    ref = masks_reference(part_q, imgs, feats)
    assert new.shape == ref.shape == (len(imgs), *lead, 8, 9)
    assert torch.allclose(new, ref, atol=1e-5)
    grads = [torch.autograd.grad((m * torch.arange(m.numel()).view_as(m)).sum(), (part_q, feats)) for m in (new, ref)]
    assert all(torch.allclose(a, b, atol=1e-3) for a, b in zip(*grads))
    assert JOPSHead._masks_per_image(part_q[:0], imgs[:0], feats).shape == (0, *lead, 8, 9)


def test_part_query_generator_equals_the_loop():
    gen = MODELS.build(dict(type='PartQueryGenerator', num_parts=6, embed_dims=16, num_adapt_layers=2))
    q = torch.randn(9, 16)
    part_idx = torch.tensor([5, 0, 5, 2, 2, 0, 3, 5, 1])
    assert torch.equal(gen(q, part_idx), part_queries_reference(gen, q, part_idx))
    empty = gen(q[:0], part_idx[:0])
    assert empty.shape == (0, 16)
    empty.sum().backward()  # the FC stays in the graph without pairs
    assert gen.part_fc.weight.grad is not None


# ------------------------------------------------------------------ whole losses, fixed seed
def _batch():
    return [thing_sample([(ROBOT, 2, 30, 2, 20, [0, 1, 2]), (CART, 34, 60, 2, 60, [4, 5])]),
            thing_sample([(BALL, 2, 30, 2, 30, []), (ROBOT, 34, 60, 34, 60, [3, None])]),
            thing_sample([(CART, 4, 40, 10, 50, [6, 4, 5])])]


@pytest.mark.parametrize('config', [TOY, DYN])
def test_losses_and_gradients_equal_the_per_image_code(config):
    results = []
    for reference in (False, True):
        model = tiny_model(config)
        head = model.panoptic_head
        if reference:
            head._masks_per_image = masks_reference
            if hasattr(head.part_queries, 'part_fc'):
                head.part_queries.forward = types.MethodType(part_queries_reference, head.part_queries)
        losses = train_losses(model, _batch())  # seeds the RNG: the same sampled points for both
        sum(losses.values()).backward()
        results.append(({k: float(v.detach()) for k, v in losses.items()},
                        {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (new, new_grads), (ref, ref_grads) = results
    assert new.keys() == ref.keys() and any('part' in k and v > 0 for k, v in new.items())
    assert all(new[k] == pytest.approx(ref[k], rel=1e-6, abs=1e-7) for k in new)
    assert new_grads.keys() == ref_grads.keys()
    assert all(torch.allclose(new_grads[n], ref_grads[n], rtol=1e-4, atol=1e-6) for n in new_grads)
