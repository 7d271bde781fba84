"""The part-free Mask2Former of PPS (``Mask2FormerPPSHead``): on its own, the plain Mask2Former of
``configs/mask2former/`` (objects only, predictions without parts, scored by PartPQMetric); as the base of the
TAPPS, dynamic-parts and baseline heads, a head that knows nothing of them: each adds its part branch through
the base's hooks."""
import ast
import dataclasses
import inspect

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.optim import OptimWrapper

import tapps_mm.registry  # noqa: F401
from tapps_mm.datasets.synthetic_pp import write_synthetic_pp
from tapps_mm.models.dense_heads import JOPSDynamicPartHead, JOPSHead, Mask2FormerPPSHead, SeparatePartQueriesHead
from tapps_mm.registry import DATASETS
from tapps_mm.specs import load_spec
from tapps_mm.structures import PartTargets, PresentPartTargets, QueryPartOutputs, SemanticPartOutputs
from tapps_mm.testing.model_cases import predict_on_noise, thing_sample, tiny_model, train_losses

M2F = 'configs/mask2former/mask2former_r18-toy_1xb8-1000it_synthetic.py'
TAPPS = 'configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'
DYN = 'configs/tapps/tapps_r18-toy-dynparts_1xb8-1000it_synthetic.py'
BASELINE = 'configs/baseline/baseline_r18-toy_1xb8-1000it_synthetic.py'
# config -> (head class, the part outputs its predict hands the fusion head)
HEADS = {M2F: (Mask2FormerPPSHead, type(None)), TAPPS: (JOPSHead, QueryPartOutputs),
         DYN: (JOPSDynamicPartHead, QueryPartOutputs), BASELINE: (SeparatePartQueriesHead, SemanticPartOutputs)}
ROBOT, CART, SKY = 0, 1, 3  # labels of the synthetic spec
NO_PART = 255


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('syn')
    write_synthetic_pp(str(root), num_train=2, num_val=2, size=(64, 64), progress=False)
    return str(root) + '/'


def _batch(cfg, loader: str, data_root: str) -> dict:
    dataset = DATASETS.build({**cfg[loader].dataset, 'data_root': data_root})
    return pseudo_collate([dataset[0], dataset[1]])


def _objects_in_stripes(predict):
    """``predict`` whose queries are robots, carts and sky, each owning a vertical stripe of the image, whatever
    the weights say (a random model predicts 'no object')."""
    labels = [ROBOT, ROBOT, CART, CART, SKY, SKY, SKY, SKY]

    def forced(*args):
        cls, masks, parts = predict(*args)
        cls = torch.full_like(cls, -10.0)
        masks = torch.full_like(masks, -5.0)
        w = masks.shape[-1] // len(labels)
        for q, label in enumerate(labels):
            cls[:, q, label] = 10.0
            masks[:, q, :, q * w:(q + 1) * w] = 5.0
        return cls, masks, parts
    return forced


def test_plain_mask2former_trains_one_step_and_predicts_without_parts(data_root, monkeypatch):
    cfg = Config.fromfile(M2F)
    model = tiny_model(M2F)
    assert type(model.panoptic_head) is Mask2FormerPPSHead
    assert not any('part' in name for name, _ in model.named_parameters())

    model.train()  # one optimiser step on the training split, through its real pipeline
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    log_vars = model.train_step(_batch(cfg, 'train_dataloader', data_root), optim)
    losses = {k for k in log_vars if k.endswith(('loss_cls', 'loss_mask', 'loss_dice'))}
    assert losses and not any('part' in k for k in log_vars) and torch.isfinite(log_vars['loss'])
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters())

    model.eval()
    batch = _batch(cfg, 'val_dataloader', data_root)
    assert model.val_step(batch)[0].pred_pps.data.shape[0] == 3  # the trained model's own predictions
    monkeypatch.setattr(model.panoptic_head, 'predict', _objects_in_stripes(model.panoptic_head.predict))
    preds = model.val_step(batch)
    spec = load_spec('synthetic')
    for pred in preds:
        sid, _, pid = pred.pred_pps.data.long()
        assert (sid == spec.classes[ROBOT]).any() and (sid == spec.classes[CART]).any()  # objects of parts classes
        assert (pid == NO_PART).all() and len(pred.pred_pps_conflicts) == 0  # none of them with a part
    evaluator = Evaluator(cfg.val_evaluator)
    evaluator.dataset_meta = DATASETS.build({**cfg.val_dataloader.dataset, 'data_root': data_root}).metainfo
    evaluator.process(data_batch=batch, data_samples=[p.to_dict() for p in preds])
    metrics = evaluator.evaluate(2)
    for key in ('PQ', 'PQ_th', 'mIoU_th', 'PartPQ'):
        assert 0.0 <= metrics[f'pps/{key}'] <= 1.0, key
    assert metrics['pps/obj_without_conflicts'] is None  # no parts, no conflicting ones


@pytest.mark.parametrize('config', list(HEADS), ids=[h.__name__ for h, _ in HEADS.values()])
def test_each_head_adds_its_part_branch_through_the_base_hooks(config):
    """The base's ``forward`` hands on what ``_forward_head`` recorded per decoder prediction (nothing for
    the plain head), ``loss_by_feat`` receives it with the part maps, ``part_outputs`` turns it into what the
    fusion head reads; mmdet's object losses are in every head's losses."""
    model = tiny_model(config)
    head_type, outputs_type = HEADS[config]
    head = model.panoptic_head
    assert type(head) is head_type
    sample = thing_sample([(ROBOT, 2, 30, 2, 20, [0, 1]), (CART, 34, 60, 2, 60, [5, 4])])
    x = model.extract_feat(torch.randn(1, 3, 64, 64))
    cls_list, mask_list, layers = head(x, [sample])
    assert len(cls_list) == len(mask_list) == 3  # 2 decoder layers + the learnable queries
    assert len(layers) == (0 if head_type is Mask2FormerPPSHead else 3)

    losses = train_losses(model, [sample])
    prefixes = ('', 'd0.', 'd1.')
    assert {p + k for p in prefixes for k in ('loss_cls', 'loss_mask', 'loss_dice')} <= set(losses)
    assert any('part' in k for k in losses) == (head_type is not Mask2FormerPPSHead)

    model.eval()
    _, _, parts = head.predict(x, [sample])
    assert type(parts) is outputs_type
    assert predict_on_noise(model, 1)[0].pred_pps.data.shape == (3, 64, 64)


@torch.no_grad()
def test_the_joint_part_branch_leaves_mask2formers_objects_as_they_are():
    """With the plain model's weights, TAPPS (fixed or dynamic part queries) predicts the same object classes
    and masks: its part branch reads the queries and adds nothing to them."""
    plain = tiny_model(M2F).eval()
    x = plain.extract_feat(torch.randn(2, 3, 64, 64))
    samples = [thing_sample([]) for _ in range(2)]
    cls, masks, _ = plain.panoptic_head.predict(x, samples)
    for config in (TAPPS, DYN):
        head = tiny_model(config).panoptic_head.eval()
        head.load_state_dict(plain.panoptic_head.state_dict(), strict=False)
        tapps_cls, tapps_masks, _ = head.predict(x, samples)
        assert torch.equal(tapps_cls, cls) and torch.equal(tapps_masks, masks), config


def _attributes_read(cls) -> set[str]:
    """Every ``<expr>.name`` in the source of ``cls``'s module."""
    tree = ast.parse(inspect.getsource(inspect.getmodule(cls)))
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def _instance_names(cls) -> set[str]:
    """Attributes, submodules, parameters and buffers of a built ``cls`` head."""
    head = tiny_model({h: config for config, (h, _) in HEADS.items()}[cls]).panoptic_head
    return set(vars(head)) | set(head._modules) | set(head._parameters) | set(head._buffers)


def _own_names(cls, base) -> set[str]:
    """Names ``cls`` adds to ``base``: its methods and class attributes, its instances' attributes."""
    defined = {n for klass in cls.__mro__[:cls.__mro__.index(base)] for n in vars(klass)}
    inherited = {n for klass in base.__mro__ for n in vars(klass)}
    return (defined | _instance_names(cls)) - _instance_names(base) - inherited


def test_base_heads_read_nothing_their_subclasses_define():
    """The part-free head reads no name of the TAPPS / baseline heads, and the JOPS head none of the dynamic
    one (nor the field its targets add): each subclass overrides hooks instead."""
    base_reads = _attributes_read(Mask2FormerPPSHead)
    for cls in (JOPSHead, JOPSDynamicPartHead, SeparatePartQueriesHead):
        assert not base_reads & _own_names(cls, Mask2FormerPPSHead), cls.__name__
    dynamic_only = _own_names(JOPSDynamicPartHead, JOPSHead) | (
        {f.name for f in dataclasses.fields(PresentPartTargets)} - {f.name for f in dataclasses.fields(PartTargets)})
    assert 'present' in dynamic_only and 'loss_part_cls' in dynamic_only
    assert not _attributes_read(JOPSHead) & dynamic_only
