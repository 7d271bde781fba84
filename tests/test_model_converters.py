"""The checkpoint converters: official TAPPS (detectron2 names) and Mask2Former COCO-panoptic weights.

No download: the official checkpoints are stood in for by state dicts with the official key names and
shapes, made from our randomly initialised model with the same rule table read backwards; a round trip
must give identical tensors and identical predictions."""
import pickle

import numpy as np
import pytest
import torch

from tapps_mm.converters import MASK2FORMER_R50, ConversionError, convert_coco_init, convert_tapps
from tapps_mm.converters.checkpoints import load_detectron2_state
from tapps_mm.converters.key_rules import KeyRules
from tapps_mm.converters.tapps_d2 import PART_RULES, build_model, class_row_permutation
from tapps_mm.testing.model_cases import predict_on_noise
from tapps_mm.testing.repo import load_module

CITYSCAPES = 'configs/tapps/tapps_r50_4xb4-90k_cityscapes-pp.py'
COCOPAN = 'configs/tapps/tapps_r50-cocopan_4xb4-10k_pascal-pp.py'
BASELINE_COCOPAN = 'configs/baseline/baseline_r50-cocopan_4xb4-10k_pascal-pp.py'
OFFICIAL_RULES = KeyRules(PART_RULES + MASK2FORMER_R50.pairs)


def official_state(model, spec, frozen_bn: bool = False) -> dict:
    """Our model's tensors under the official names, in the official class order (what the .bin holds);
    ``frozen_bn``: without BN step counters, as the Pascal-PP models (detectron2's FrozenBN)."""
    state = {}
    perm = class_row_permutation(spec)
    for key, value in model.state_dict().items():
        if frozen_bn and key.endswith('num_batches_tracked'):
            continue
        name = OFFICIAL_RULES.to_detectron2(key)
        assert name is not None, key
        if key.startswith('panoptic_head.cls_embed.'):
            value = value[torch.argsort(torch.tensor(perm))]
        state[name] = value.clone()
    state['criterion.empty_weight'] = torch.ones(spec.num_classes + 1)
    return state


@pytest.fixture(scope='module')
def cityscapes():
    torch.manual_seed(0)
    model, spec = build_model(CITYSCAPES)
    return model.eval(), spec


def test_official_names_look_as_documented(cityscapes):
    model, spec = cityscapes
    names = set(official_state(model, spec))
    for name in ('sem_seg_head.predictor.transformer_cross_attention_layers.8.multihead_attn.in_proj_weight',
                 'sem_seg_head.predictor.transformer_ffn_layers.0.linear2.weight',
                 'sem_seg_head.predictor.mask_embed.layers.2.bias', 'sem_seg_head.predictor.decoder_norm.weight',
                 'sem_seg_head.pixel_decoder.input_proj.2.1.weight',
                 'sem_seg_head.pixel_decoder.transformer.level_embed',
                 'sem_seg_head.pixel_decoder.adapter_1.norm.bias', 'sem_seg_head.pixel_decoder.layer_1.weight',
                 'backbone.stem.conv1.norm.running_var', 'backbone.res5.2.conv3.norm.weight',
                 'backbone.res2.0.shortcut.weight', 'criterion.parts_decoder.mask_head.layers.2.weight'):
        assert name in names, name
    assert official_state(model, spec)['criterion.parts_decoder.mask_head.layers.2.weight'].shape == (256 * 9, 256)
    # Cityscapes-PP: the official class ids are the trainIds (stuff first), ours put the 8 things first
    assert class_row_permutation(spec)[:8] == list(range(11, 19)) and class_row_permutation(spec)[-1] == 19


@pytest.mark.parametrize('frozen_bn', [False, True])
def test_round_trip_gives_identical_tensors_and_predictions(cityscapes, frozen_bn):
    model, spec = cityscapes
    torch.manual_seed(1)
    other, _ = build_model(CITYSCAPES)
    state, report = convert_tapps(official_state(model, spec, frozen_bn), other, spec)
    assert report.dropped == ['criterion.empty_weight']
    assert len(report.filled) == (53 if frozen_bn else 0) and all('num_batches_tracked' in k for k in report.filled)
    ours = model.state_dict()
    assert state.keys() == ours.keys()
    assert all(torch.equal(state[k], ours[k]) for k in ours)
    other.load_state_dict(state, strict=True)
    other.eval()
    for m in (model, other):
        m.panoptic_fusion_head.test_cfg.update(object_mask_thr=0.0)
    a, b = predict_on_noise(model, 1)[0], predict_on_noise(other, 1)[0]
    assert torch.equal(a.pred_pps.data, b.pred_pps.data)


@pytest.mark.parametrize('defect', ['missing', 'extra', 'shape'])
def test_a_missing_extra_or_misshaped_key_is_named(cityscapes, defect):
    model, spec = cityscapes
    state = official_state(model, spec)
    name = 'sem_seg_head.predictor.transformer_ffn_layers.3.linear1.weight'
    if defect == 'missing':
        del state[name]
        expected = 'model tensors without a source: panoptic_head.transformer_decoder.layers.3.ffn.layers.0.0.weight'
    elif defect == 'extra':
        name = 'sem_seg_head.predictor.extra_head.weight'
        state[name] = torch.zeros(3)
        expected = f'source tensors without a destination: {name}'
    else:
        state[name] = torch.zeros(5, 256)
        expected = f'shapes that do not fit: {name}'
    with pytest.raises(ConversionError, match=expected.replace('.', r'\.').replace('(', r'\(')):
        convert_tapps(state, model, spec)


def test_tool_converts_an_official_file_strictly(cityscapes, tmp_path, capsys):
    model, spec = cityscapes
    src = tmp_path / 'tapps_cityscapes_r50_in1kinit.bin'
    torch.save({'model': official_state(model, spec)}, src)
    tool = load_module('tools/model_converters/tapps_d2_to_mm.py', 'tool_tapps_d2_to_mm')
    assert tool.main([str(src), str(tmp_path / 'ours.pth')]) == 0  # the config follows from the name
    assert 'tensors converted' in capsys.readouterr().out
    from mmengine.runner import load_checkpoint
    load_checkpoint(model, str(tmp_path / 'ours.pth'), strict=True)  # through the restricted unpickler
    bad = tmp_path / 'tapps_cityscapes_r50_in1kinit_bad.bin'
    torch.save({'model': {'backbone.unknown.weight': torch.zeros(1)}}, bad)
    assert tool.main([str(bad), str(tmp_path / 'bad.pth'), '--config', CITYSCAPES]) == 1
    assert 'backbone.unknown.weight' in capsys.readouterr().err and not (tmp_path / 'bad.pth').exists()


def _coco_pkl(path, model, spec):
    """A detectron2 Mask2Former COCO-panoptic .pkl: numpy arrays under 'model', 133 classes + no object."""
    state = {k: v.numpy() for k, v in official_state(model, spec).items()
             if not k.startswith('criterion.parts_decoder')}
    state['sem_seg_head.predictor.class_embed.weight'] = np.zeros((134, 256), np.float32)
    state['sem_seg_head.predictor.class_embed.bias'] = np.zeros(134, np.float32)
    with open(path, 'wb') as f:
        pickle.dump({'model': state, '__author__': 'Detectron2'}, f)
    return state


@pytest.mark.parametrize('config', [COCOPAN, BASELINE_COCOPAN])
def test_coco_panoptic_initialisation(tmp_path, config):
    torch.manual_seed(0)
    coco, spec = build_model(COCOPAN)
    src = tmp_path / 'model_final.pkl'
    source = _coco_pkl(src, coco, spec)
    target, _ = build_model(config)
    state, report = convert_coco_init(load_detectron2_state(str(src)), target)
    assert any(k.startswith('panoptic_head.cls_embed') for k in report.fresh)
    if config == COCOPAN:
        assert any(k.startswith('panoptic_head.part_queries') for k in report.fresh)
    else:
        assert any('part queries' in note for note in report.notes)
        assert state['panoptic_head.query_feat.weight'].shape[0] == 200
    for ours, theirs in (('backbone.layer4.2.conv3.weight', 'backbone.res5.2.conv3.weight'),
                         ('panoptic_head.transformer_decoder.post_norm.weight',
                          'sem_seg_head.predictor.decoder_norm.weight')):
        assert np.array_equal(state[ours].numpy(), source[theirs])
    assert np.array_equal(state['panoptic_head.query_feat.weight'][:100].numpy(),
                          source['sem_seg_head.predictor.query_feat.weight'])
    target.load_state_dict(state, strict=False)
    tool = load_module('tools/model_converters/mask2former_to_tapps_init.py', 'tool_coco_init')
    assert tool.main([str(src), str(tmp_path / 'init.pth'), '--config', config]) == 0


def test_detectron2_pkl_with_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return exec, (f'open({str(tmp_path / "ran")!r}, "w").write("ran")',)
    src = tmp_path / 'evil.pkl'
    with open(src, 'wb') as f:
        pickle.dump({'model': {'w': np.zeros(2)}, 'x': Payload()}, f)
    with pytest.raises(pickle.UnpicklingError, match=r'evil.pkl: refused to load: it needs builtins.exec'):
        load_detectron2_state(str(src))
    assert not (tmp_path / 'ran').exists()


def test_swin_keys_follow_mmdets_own_rules():
    from tapps_mm.converters.tapps_d2 import _rules_for
    source = {'backbone.layers.0.blocks.0.attn.qkv.weight': torch.zeros(3), 'backbone.patch_embed.proj.weight':
              torch.zeros(1), 'sem_seg_head.predictor.decoder_norm.weight': torch.zeros(1)}
    renamed, rules = _rules_for(source, [])
    assert {rules.to_mmdet(k) for k in renamed} == {
        'backbone.stages.0.blocks.0.attn.w_msa.qkv.weight', 'backbone.patch_embed.projection.weight',
        'panoptic_head.transformer_decoder.post_norm.weight'}
