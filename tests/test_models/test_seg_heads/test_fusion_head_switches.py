"""The fusion heads honour mmdet's ``test_cfg`` switches (panoptic_on / instance_on / semantic_on) as
mmdet's ``MaskFormerFusionHead`` does, and always make the PPS prediction."""
import pytest
import torch
from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead

import tapps_mm.registry  # noqa: F401
from tapps_mm.testing.model_cases import predict_on_noise, tiny_model

CONFIGS = ['configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py',
           'configs/baseline/baseline_r18-toy_1xb8-1000it_synthetic.py']


def _predict(model, fusion_inputs=None, **switches):
    fusion = model.panoptic_fusion_head
    fusion.test_cfg.update(object_mask_thr=0.0, iou_thr=0.0, max_per_image=10, **switches)  # 8 queries x 6 classes
    if fusion_inputs is not None:  # what the fusion head is given: the object logits and masks
        predict = fusion.predict

        def recording(mask_cls, mask_pred, samples, **kwargs):
            fusion_inputs.append((mask_cls, mask_pred, samples, kwargs['rescale']))
            return predict(mask_cls, mask_pred, samples, **kwargs)
        fusion.predict = recording
    model.eval()
    return predict_on_noise(model, 2, ori_shape=(50, 70))


@pytest.mark.parametrize('config', CONFIGS)
def test_switches_add_mmdets_outputs_and_keep_the_pps(config):
    model = tiny_model(config)
    default = _predict(model)
    assert all('pred_panoptic_seg' in s and 'pred_instances' not in s for s in default)

    inputs = []
    both = _predict(model, inputs, instance_on=True)
    mmdet_head = MaskFormerFusionHead(num_things_classes=model.num_things_classes,
                                      num_stuff_classes=model.num_stuff_classes,
                                      test_cfg=dict(model.panoptic_fusion_head.test_cfg))
    mask_cls, mask_pred, samples, rescale = inputs[0]
    expected = mmdet_head.predict(mask_cls, mask_pred, samples, rescale=rescale)
    for ours, ref, plain in zip(both, expected, default):
        assert torch.equal(ours.pred_pps.data, plain.pred_pps.data)
        assert torch.equal(ours.pred_pps_conflicts, plain.pred_pps_conflicts)
        assert torch.equal(ours.pred_panoptic_seg.sem_seg, plain.pred_panoptic_seg.sem_seg)
        instances = ours.pred_instances
        assert len(instances) and instances.masks.shape[1:] == (50, 70)
        assert (instances.labels < model.num_things_classes).all()
        for key in ('labels', 'scores', 'bboxes', 'masks'):
            assert torch.equal(instances[key], ref['ins_results'][key]), key

    no_panoptic = _predict(model, panoptic_on=False)
    for ours, plain in zip(no_panoptic, default):
        assert 'pred_panoptic_seg' not in ours
        assert torch.equal(ours.pred_pps.data, plain.pred_pps.data)


@pytest.mark.parametrize('config', CONFIGS)
def test_semantic_on_names_the_config_key(config):
    model = tiny_model(config)
    with pytest.raises(ValueError, match=r'model\.test_cfg\.semantic_on'):
        _predict(model, semantic_on=True)
