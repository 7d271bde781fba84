"""The checkpoint converters: official TAPPS (detectron2 names) and Mask2Former COCO-panoptic weights, the
latter also as the ``*cocopan*`` configs load them (``load_from`` + ``Mask2FormerInitHook``).

No download: the official checkpoints are stood in for by state dicts with the official key names and
shapes, made from our randomly initialised model with the same rule table read backwards; a round trip
must give identical tensors and identical predictions."""
import os
import os.path as osp
import pickle
import re

import numpy as np
import pytest
import torch
from official_checkpoints import official_state  # noqa: E402  (tests/, on the path)

from tapps_mm.converters import ConversionError, convert_coco_init, convert_tapps
from tapps_mm.converters.checkpoints import load_detectron2_state
from tapps_mm.converters.key_rules import MASK2FORMER_HEAD
from tapps_mm.converters.tapps_d2 import MASK2FORMER_COCO_PANOPTIC, build_model, class_row_permutation
from tapps_mm.engine.safe_load import load_checkpoint_file
from tapps_mm.testing.model_cases import predict_on_noise
from tapps_mm.testing.repo import REPO, load_module

CITYSCAPES = 'configs/tapps/tapps_r50_4xb4-90k_cityscapes-pp.py'
COCOPAN = 'configs/tapps/tapps_r50-cocopan_4xb4-10k_pascal-pp.py'
BASELINE_COCOPAN = 'configs/baseline/baseline_r50-cocopan_4xb4-10k_pascal-pp.py'
SWIN_COCOPAN = 'configs/tapps/tapps_swin-b-p4-w12-384-in21k-cocopan_4xb4-10k_pascal-pp.py'
R50_PKL = 'checkpoints/maskformer2_R50_bs16_50ep/model_final_94dc52.pkl'  # the official configs' MODEL.WEIGHTS


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


def _coco_pkl(path, model, spec, protocol: int = 4):
    """A detectron2 Mask2Former COCO-panoptic .pkl (the model zoo's format): numpy arrays under 'model', the
    class head of COCO's 133 classes + no object, FrozenBN (no step counters), no part branch. Every value is
    shifted by 1/8, so that none equals a fresh initialisation (BN's ones and zeros)."""
    state = {k: v.numpy() + np.float32(0.125) for k, v in official_state(model, spec, frozen_bn=True).items()
             if not k.startswith('criterion.parts_decoder')}
    state['sem_seg_head.predictor.class_embed.weight'] = np.full((134, 256), 0.5, np.float32)
    state['sem_seg_head.predictor.class_embed.bias'] = np.full(134, 0.5, np.float32)
    state['criterion.empty_weight'] = np.ones(134, np.float32)
    os.makedirs(osp.dirname(str(path)), exist_ok=True)
    with open(path, 'wb') as f:
        pickle.dump({'model': state, '__author__': 'Mask2Former', 'matching_heuristics': True}, f, protocol=protocol)
    return state


@pytest.fixture(scope='module')
def coco_source():
    torch.manual_seed(0)
    return build_model(COCOPAN)


@pytest.mark.parametrize('protocol', [2, 4])
def test_detectron2_pkl_reads_as_a_checkpoint(coco_source, tmp_path, protocol):
    source = _coco_pkl(tmp_path / 'model_final.pkl', *coco_source, protocol=protocol)
    checkpoint = load_checkpoint_file(str(tmp_path / 'model_final.pkl'))  # mmengine's local loader (compat fix b)
    assert checkpoint['meta'] == {'format': 'detectron2', 'author': 'Mask2Former'}
    assert checkpoint['state_dict'].keys() == source.keys()
    assert all(np.array_equal(checkpoint['state_dict'][k].numpy(), v) for k, v in source.items())


@pytest.mark.parametrize('config', [COCOPAN, BASELINE_COCOPAN])
def test_coco_panoptic_initialisation(coco_source, tmp_path, config):
    source = _coco_pkl(tmp_path / 'model_final.pkl', *coco_source)
    target, _ = build_model(config)
    state, report = convert_coco_init(load_detectron2_state(str(tmp_path / 'model_final.pkl')), target)
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


def _runner(config: str, work_dir, **cfg_options):
    """The runner of ``config`` as tools/train.py builds it (datasets are built only when training starts)."""
    from mmengine.config import Config

    from tapps_mm.registry import RUNNERS
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.work_dir = str(work_dir)
    cfg.merge_from_dict(cfg_options)
    return RUNNERS.build(cfg)


def _load(runner) -> tuple[dict, dict]:
    """What Runner.train() does before the first iteration, around the weights: before, after."""
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.call_hook('before_run')
    runner.load_or_resume()
    return before, runner.model.state_dict()


@pytest.mark.parametrize('config', [COCOPAN, BASELINE_COCOPAN])
def test_configs_load_from_reads_the_official_pkl(coco_source, config, tmp_path, monkeypatch):
    """The file the config names, where the official code reads it (relative to the working directory),
    converted on load: the shared weights come from it, COCO's class head does not, the rest starts fresh."""
    monkeypatch.chdir(tmp_path)
    source = _coco_pkl(tmp_path / R50_PKL, *coco_source)
    runner = _runner(config, tmp_path / 'work')
    assert runner._load_from == R50_PKL
    before, after = _load(runner)
    for ours, theirs in (('backbone.layer4.2.conv3.weight', 'backbone.res5.2.conv3.weight'),
                         ('backbone.bn1.running_var', 'backbone.stem.conv1.norm.running_var'),
                         ('panoptic_head.pixel_decoder.level_encoding.weight',
                          'sem_seg_head.pixel_decoder.transformer.level_embed'),
                         ('panoptic_head.transformer_decoder.layers.8.cross_attn.attn.in_proj_weight',
                          'sem_seg_head.predictor.transformer_cross_attention_layers.8.multihead_attn.in_proj_weight'),
                         ('panoptic_head.mask_embed.4.bias', 'sem_seg_head.predictor.mask_embed.layers.2.bias')):
        assert not np.array_equal(before[ours].numpy(), source[theirs]), ours  # else the check proves nothing
        assert np.array_equal(after[ours].numpy(), source[theirs]), ours
    queries = source['sem_seg_head.predictor.query_feat.weight']
    assert np.array_equal(after['panoptic_head.query_feat.weight'][:100].numpy(), queries)
    # COCO's 134-row class head is dropped: ours (60 rows) keeps its initialisation, as the part branch
    fresh = [k for k in after if k.startswith(('panoptic_head.cls_embed.', 'panoptic_head.part_queries.',
                                               'panoptic_head.part_cls_embed.', 'panoptic_head.part_mask_embed.'))]
    assert any(k.startswith('panoptic_head.cls_embed.') for k in fresh)
    assert after['panoptic_head.cls_embed.weight'].shape == (60, 256)
    assert all(torch.equal(after[k], before[k]) for k in fresh)
    if config == BASELINE_COCOPAN:  # the object queries from COCO, the part queries fresh
        name = 'panoptic_head.query_feat.weight'
        assert torch.equal(after[name][100:], before[name][100:])


def test_mmdet_variant_loads_mmdets_checkpoint_unchanged(coco_source, tmp_path):
    """The documented variant: load_from = mmdet's COCO-panoptic .pth (our names, COCO's class head)."""
    model, _ = coco_source
    state = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith('panoptic_head.part_queries')}
    state['panoptic_head.cls_embed.weight'] = torch.zeros(134, 256)
    state['panoptic_head.cls_embed.bias'] = torch.zeros(134)
    torch.save({'state_dict': state, 'meta': {}}, tmp_path / 'mmdet_coco.pth')
    runner = _runner(COCOPAN, tmp_path / 'work', load_from=str(tmp_path / 'mmdet_coco.pth'))
    before, after = _load(runner)
    assert torch.equal(after['backbone.layer4.2.conv3.weight'], state['backbone.layer4.2.conv3.weight'])
    assert torch.equal(after['panoptic_head.cls_embed.weight'], before['panoptic_head.cls_embed.weight'])


def test_missing_or_foreign_official_file_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = _runner(COCOPAN, tmp_path / 'work')
    url = MASK2FORMER_COCO_PANOPTIC[R50_PKL]
    with pytest.raises(FileNotFoundError, match=f'{re.escape(R50_PKL)} can not be found: .* {re.escape(url)}'):
        runner.call_hook('before_run')
    os.makedirs(osp.dirname(R50_PKL))
    with open(R50_PKL, 'w') as f:  # e.g. the HTML page of a failed download
        f.write('<html>Not Found</html>')
    with pytest.raises(ValueError, match=f'{re.escape(R50_PKL)}: not a readable checkpoint'):
        runner.load_or_resume()
    with open(R50_PKL, 'wb') as f:  # another detectron2 model
        pickle.dump({'model': {'roi_heads.box_predictor.cls_score.weight': np.zeros((81, 1024), np.float32)}}, f)
    with pytest.raises(ConversionError, match=f'{re.escape(R50_PKL)}: not Mask2Former COCO-panoptic weights'
                                              '(.|\\n)*roi_heads.box_predictor.cls_score.weight'):
        runner.load_or_resume()
    with open(R50_PKL, 'wb') as f:  # a pickle, but no weights under 'model'
        pickle.dump({'blobs': {}}, f)
    with pytest.raises(ValueError, match=f'{re.escape(R50_PKL)}: not a detectron2 model file'):
        runner.load_or_resume()


def test_detectron2_pkl_with_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return exec, (f'open({str(tmp_path / "ran")!r}, "w").write("ran")',)
    src = tmp_path / 'evil.pkl'
    with open(src, 'wb') as f:
        pickle.dump({'model': {'w': np.zeros(2)}, 'x': Payload()}, f)
    with pytest.raises(pickle.UnpicklingError,
                       match=r'evil\.pkl: refused to load: unpickling it would need builtins\.exec'):
        load_detectron2_state(str(src))
    assert not (tmp_path / 'ran').exists()


def _to_detectron2_swin(key: str, value: torch.Tensor) -> tuple[str, torch.Tensor]:
    """Our Swin-B tensor under Mask2Former's ``D2SwinTransformer`` name (the original Swin's), with the patch-merging
    rows in the original order: mmdet's ``swinv1_to_mmdet`` read backwards."""
    if key.startswith('backbone.stages.'):
        key = (key.replace('backbone.stages.', 'backbone.layers.', 1).replace('attn.w_msa.', 'attn.')
               .replace('ffn.layers.0.0.', 'mlp.fc1.').replace('ffn.layers.1.', 'mlp.fc2.'))
        if '.downsample.reduction.' in key:
            out, dims = value.shape
            value = value.reshape(out, dims // 4, 4).transpose(1, 2)[:, [0, 2, 1, 3], :].reshape(out, dims)
        elif '.downsample.norm.' in key:
            value = value.reshape(-1, 4).transpose(0, 1)[[0, 2, 1, 3]].reshape(-1)
        return key, value
    if key.startswith('backbone.'):
        return key.replace('patch_embed.projection', 'patch_embed.proj'), value
    return MASK2FORMER_HEAD.to_detectron2(key), value


def test_swin_b_coco_panoptic_pkl_initialises_the_swin_configs(tmp_path):
    """Swin-B IN-21k (model_final_54b88a.pkl): every backbone and head tensor found, the round trip exact."""
    torch.manual_seed(0)
    model, _ = build_model(SWIN_COCOPAN)
    ours = model.state_dict()
    source = dict(_to_detectron2_swin(k, v.clone()) for k, v in ours.items()
                  if not k.startswith(('panoptic_head.cls_embed.', 'panoptic_head.part_queries.')))
    source['sem_seg_head.predictor.class_embed.weight'] = torch.zeros(134, 256)
    with open(tmp_path / 'model_final_54b88a.pkl', 'wb') as f:
        pickle.dump({'model': {k: v.numpy() for k, v in source.items()}, '__author__': 'Mask2Former'}, f)
    state, report = convert_coco_init(load_detectron2_state(str(tmp_path / 'model_final_54b88a.pkl')), model)
    assert 'backbone.layers.2.blocks.17.attn.relative_position_bias_table' in source
    assert report.dropped == ['sem_seg_head.predictor.class_embed.weight']
    assert state.keys() == {k for k in ours if not k.startswith(('panoptic_head.cls_embed.',
                                                                  'panoptic_head.part_queries.'))}
    assert all(torch.equal(state[k], ours[k]) for k in state)


def test_swin_keys_follow_mmdets_own_rules():
    from tapps_mm.converters.tapps_d2 import _rules_for
    source = {'backbone.layers.0.blocks.0.attn.qkv.weight': torch.zeros(3), 'backbone.patch_embed.proj.weight':
              torch.zeros(1), 'sem_seg_head.predictor.decoder_norm.weight': torch.zeros(1)}
    renamed, rules = _rules_for(source, [])
    assert {rules.to_mmdet(k) for k in renamed} == {
        'backbone.stages.0.blocks.0.attn.w_msa.qkv.weight', 'backbone.patch_embed.projection.weight',
        'panoptic_head.transformer_decoder.post_norm.weight'}
