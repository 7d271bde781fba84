"""Name rules between detectron2's Mask2Former (the official TAPPS code) and mmdet 3.x's Mask2Former.

A rule is a pair of templates, ``(detectron2 name, mmdet name)``, whose ``{placeholders}`` match one
dotted piece (``{i}``: digits, ``{p}``: the rest of the name); both directions use the same table, so
a test can turn our model into the official names and back. The facts behind the table (verified
against the official TAPPS / Mask2Former / detectron2 code and mmdet 3.3):

- predictor ``sem_seg_head.predictor.*``: per decoder layer cross-attention, self-attention, FFN (the
  order of mmdet's ``Mask2FormerTransformerDecoderLayer``, whose ``norms.0/1/2`` follow them);
  ``decoder_norm`` is mmdet's ``post_norm``, ``mask_embed.layers.{0,1,2}`` the Linear layers of mmdet's
  ``mask_embed`` Sequential (``0, 2, 4``: ReLUs between). No decoder input projections (256-d features).
- pixel decoder ``sem_seg_head.pixel_decoder.*``: ``input_proj.i`` (conv, GroupNorm) in the same level
  order as mmdet's ``input_convs`` (``0`` = res5 in both), ``transformer.level_embed`` (a bare Parameter
  [3, 256]; mmdet's ``level_encoding`` Embedding), the deformable encoder, ``adapter_1`` / ``layer_1``
  (the FPN step on res2) and ``mask_features``.
- ResNet ``backbone.stem`` / ``backbone.res{2..5}`` -> mmdet's ``conv1`` / ``layer{1..4}`` (stride in the
  3x3 conv in both: the official configs set ``STRIDE_IN_1X1: False``, mmdet's ``style='pytorch'``). The
  Cityscapes-PP models use SyncBN (``num_batches_tracked`` saved); the Pascal-PP ones detectron2's
  FrozenBN, which has none: :data:`FILLED` (zeros; frozen BN never reads it).
"""
from __future__ import annotations

import re
from typing import Iterable

_P = 'sem_seg_head.predictor.'
_PD = 'sem_seg_head.pixel_decoder.'
_H = 'panoptic_head.'
_D = 'panoptic_head.transformer_decoder.layers.'
_E = 'panoptic_head.pixel_decoder.encoder.layers.'

PREDICTOR_RULES = [
    (_P + 'query_feat.weight', _H + 'query_feat.weight'),
    (_P + 'query_embed.weight', _H + 'query_embed.weight'),
    (_P + 'level_embed.weight', _H + 'level_embed.weight'),
    (_P + 'transformer_cross_attention_layers.{i}.multihead_attn.{p}', _D + '{i}.cross_attn.attn.{p}'),
    (_P + 'transformer_cross_attention_layers.{i}.norm.{p}', _D + '{i}.norms.0.{p}'),
    (_P + 'transformer_self_attention_layers.{i}.self_attn.{p}', _D + '{i}.self_attn.attn.{p}'),
    (_P + 'transformer_self_attention_layers.{i}.norm.{p}', _D + '{i}.norms.1.{p}'),
    (_P + 'transformer_ffn_layers.{i}.linear1.{p}', _D + '{i}.ffn.layers.0.0.{p}'),
    (_P + 'transformer_ffn_layers.{i}.linear2.{p}', _D + '{i}.ffn.layers.1.{p}'),
    (_P + 'transformer_ffn_layers.{i}.norm.{p}', _D + '{i}.norms.2.{p}'),
    (_P + 'decoder_norm.{p}', _H + 'transformer_decoder.post_norm.{p}'),
    (_P + 'class_embed.{p}', _H + 'cls_embed.{p}'),
    *[(_P + f'mask_embed.layers.{k}.{{p}}', _H + f'mask_embed.{2 * k}.{{p}}') for k in range(3)],
]

PIXEL_DECODER_RULES = [
    (_PD + 'input_proj.{i}.0.{p}', _H + 'pixel_decoder.input_convs.{i}.conv.{p}'),
    (_PD + 'input_proj.{i}.1.{p}', _H + 'pixel_decoder.input_convs.{i}.gn.{p}'),
    (_PD + 'transformer.level_embed', _H + 'pixel_decoder.level_encoding.weight'),
    (_PD + 'transformer.encoder.layers.{i}.self_attn.{p}', _E + '{i}.self_attn.{p}'),
    (_PD + 'transformer.encoder.layers.{i}.linear1.{p}', _E + '{i}.ffn.layers.0.0.{p}'),
    (_PD + 'transformer.encoder.layers.{i}.linear2.{p}', _E + '{i}.ffn.layers.1.{p}'),
    (_PD + 'transformer.encoder.layers.{i}.norm1.{p}', _E + '{i}.norms.0.{p}'),
    (_PD + 'transformer.encoder.layers.{i}.norm2.{p}', _E + '{i}.norms.1.{p}'),
    (_PD + 'mask_features.{p}', _H + 'pixel_decoder.mask_feature.{p}'),
    (_PD + 'adapter_1.norm.{p}', _H + 'pixel_decoder.lateral_convs.0.gn.{p}'),
    (_PD + 'adapter_1.weight', _H + 'pixel_decoder.lateral_convs.0.conv.weight'),
    (_PD + 'layer_1.norm.{p}', _H + 'pixel_decoder.output_convs.0.gn.{p}'),
    (_PD + 'layer_1.weight', _H + 'pixel_decoder.output_convs.0.conv.weight'),
]

RESNET_RULES = [
    ('backbone.stem.conv1.norm.{p}', 'backbone.bn1.{p}'),
    ('backbone.stem.conv1.weight', 'backbone.conv1.weight'),
    *[rule for k in range(2, 6) for rule in (
        (f'backbone.res{k}.{{i}}.conv{{c}}.norm.{{p}}', f'backbone.layer{k - 1}.{{i}}.bn{{c}}.{{p}}'),
        (f'backbone.res{k}.{{i}}.conv{{c}}.weight', f'backbone.layer{k - 1}.{{i}}.conv{{c}}.weight'),
        (f'backbone.res{k}.{{i}}.shortcut.norm.{{p}}', f'backbone.layer{k - 1}.{{i}}.downsample.1.{{p}}'),
        (f'backbone.res{k}.{{i}}.shortcut.weight', f'backbone.layer{k - 1}.{{i}}.downsample.0.weight'))],
]

#: model tensors without a detectron2 counterpart, filled with zeros (BN step counters)
FILLED = re.compile(r'.*\.num_batches_tracked$')

_PIECE = {'i': r'\d+', 'c': r'\d+', 'p': r'.+'}


def _regex(template: str) -> re.Pattern:
    out, pos = '', 0
    for m in re.finditer(r'\{(\w)\}', template):
        out += re.escape(template[pos:m.start()]) + f'(?P<{m.group(1)}>{_PIECE[m.group(1)]})'
        pos = m.end()
    return re.compile(out + re.escape(template[pos:]) + '$')


class KeyRules:
    """Rules applied first match first, in either direction."""

    def __init__(self, rules: Iterable[tuple[str, str]]):
        self.pairs = list(rules)
        self.rules = [(_regex(a), b, _regex(b), a) for a, b in self.pairs]

    def to_mmdet(self, key: str) -> str | None:
        for pattern, template, _, _ in self.rules:
            if m := pattern.match(key):
                return template.format(**m.groupdict())
        return None

    def to_detectron2(self, key: str) -> str | None:
        for _, _, pattern, template in self.rules:
            if m := pattern.match(key):
                return template.format(**m.groupdict())
        return None


MASK2FORMER_R50 = KeyRules(PREDICTOR_RULES + PIXEL_DECODER_RULES + RESNET_RULES)
MASK2FORMER_HEAD = KeyRules(PREDICTOR_RULES + PIXEL_DECODER_RULES)  # backbones with their own rules (Swin)
