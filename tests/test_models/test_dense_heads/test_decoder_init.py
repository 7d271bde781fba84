"""The masked-attention decoder starts as Mask2Former's: every weight matrix of its layers xavier-uniform.

Restated from Mask2Former's ``mask2former_transformer_decoder.py`` (the official TAPPS's copy): the
self-attention, cross-attention and FFN layers call ``nn.init.xavier_uniform_`` on each parameter with more
than one dimension. mmdet's ``Mask2FormerHead.init_weights`` draws the same matrices from
``xavier_normal_``, whose values exceed the uniform bound.
"""
from __future__ import annotations

import math

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import tapps_mm.registry  # noqa: F401
from tapps_mm.registry import MODELS

CONFIGS = ['configs/tapps/tapps_r50_4xb4-90k_cityscapes-pp.py', 'configs/baseline/baseline_r50_4xb4-60k_pascal-pp.py',
           'configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py']


def _head(config: str, **options):
    cfg = Config.fromfile(config)
    init_default_scope('tapps_mm')
    head = MODELS.build({**cfg.model.panoptic_head, **options})
    torch.manual_seed(0)
    head.init_weights()
    return head


def _matrices(head) -> dict[str, torch.Tensor]:
    return {n: p.detach() for n, p in head.transformer_decoder.named_parameters() if p.dim() > 1}


def _bound(w: torch.Tensor) -> float:
    fan_out, fan_in = w.shape[0], w[0].numel()
    return math.sqrt(6.0 / (fan_in + fan_out))


@pytest.mark.parametrize('config', CONFIGS)
def test_decoder_weights_are_xavier_uniform(config):
    matrices = _matrices(_head(config))
    assert any('attn' in n for n in matrices) and any('ffn' in n for n in matrices)
    for name, w in matrices.items():
        bound = _bound(w)
        assert w.abs().max() <= bound + 1e-7, name
        # uniform on [-bound, bound]: fills the range, std bound / sqrt(3)
        assert w.abs().max() > 0.97 * bound, name
        assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1), name


def test_mmdets_init_stays_a_named_switch():
    """``decoder_init='xavier_normal'`` gives mmdet's init back: the same variance, values beyond the bound."""
    matrices = _matrices(_head(CONFIGS[0], decoder_init='xavier_normal'))
    assert all(w.abs().max() > _bound(w) for w in matrices.values())
    with pytest.raises(ValueError, match='decoder_init'):
        _head(CONFIGS[0], decoder_init='kaiming')
