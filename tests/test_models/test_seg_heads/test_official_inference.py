"""Our PPS inference is the official TAPPS inference, pixel for pixel, for every paper spec.

The reference below restates, from the public code of tue-mps/tapps (``tapps/maskformer_model.py``:
``panoptic_inference`` and ``pps_inference``; ``tapps/modeling/transformer_decoder/part_decoder.py``;
``register_*_panoptic_parts*.py`` for ``train_sids2train_pids``), what the official model does with its head's
outputs, loop for loop; it is not derived from our code. Both sides get the same random head outputs (in
float64, so that float summation order cannot flip an argmax); the random cases are built to reach every
rule (see ``test_the_cases_reach_every_rule``).
"""
from __future__ import annotations

import collections
import functools
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

import tapps_mm.registry  # noqa: F401
from tapps_mm.registry import MODELS


def _official_inference_configs() -> list[str]:
    """Every paper config whose inference is the official TAPPS's: the JOPS head with compatible parts at test
    (the dynamic-parts and no-compatibility ablations have no official counterpart; the baseline is tested
    against the official merging in tests/test_models/test_utils/test_pps_merging.py)."""
    from benchmarks.paper import CONFIG_ROWS
    out = []
    for stem in sorted(CONFIG_ROWS):
        cfg = Config.fromfile(osp.join('configs', stem.split('_')[0], stem + '.py')).model
        if cfg.panoptic_head.type == 'JOPSHead' and cfg.panoptic_fusion_head.get('compatible_parts_test', True):
            out.append(stem)
    return out


PAPER_CONFIGS = _official_inference_configs()
PADDED = (64, 96)  # batch input shape; feature maps at 1/4
METAS = [dict(img_shape=(60, 90), ori_shape=(45, 70)), dict(img_shape=(64, 80), ori_shape=(80, 100))]
RULES = collections.Counter()  # which rules the reference met (reset per test)


# ----------------------------------------------------------------------------------------- the reference
def sem_seg_postprocess(result, img_size, out_h, out_w):
    """detectron2's: crop the padded prediction to the image, resize to the output size."""
    result = result[:, :img_size[0], :img_size[1]].expand(1, -1, -1, -1)
    return F.interpolate(result, size=(out_h, out_w), mode='bilinear', align_corners=False)[0]


def official_panoptic_inference(mask_cls, mask_pred, num_classes, num_things, object_mask_threshold,
                                overlap_threshold=0.8):
    """``MaskFormer.panoptic_inference`` of the official TAPPS."""
    scores, labels = F.softmax(mask_cls, dim=-1).max(-1)
    mask_pred = mask_pred.sigmoid()
    keep = labels.ne(num_classes) & (scores > object_mask_threshold)
    query_ids = torch.arange(0, scores.shape[0])
    cur_scores, cur_classes, cur_masks, cur_query_ids = scores[keep], labels[keep], mask_pred[keep], query_ids[keep]
    cur_prob_masks = cur_scores.view(-1, 1, 1) * cur_masks
    panoptic_seg = torch.zeros(cur_masks.shape[-2:], dtype=torch.int32)
    part_related_info = []
    current_segment_id = 0
    if cur_masks.shape[0] == 0:
        return panoptic_seg, part_related_info
    cur_mask_ids = cur_prob_masks.argmax(0)
    stuff_memory_list = {}
    RULES['images with kept queries'] += 1
    for k in range(cur_classes.shape[0]):
        pred_class = cur_classes[k].item()
        isthing = pred_class < num_things
        mask_area = (cur_mask_ids == k).sum().item()
        original_area = (cur_masks[k] >= 0.5).sum().item()
        mask = (cur_mask_ids == k) & (cur_masks[k] >= 0.5)
        if mask_area > 0 and original_area > 0 and mask.sum().item() == 0:
            RULES['query that wins pixels but keeps none'] += 1
        if mask_area > 0 and original_area > 0 and mask.sum().item() > 0:
            if mask_area / original_area < overlap_threshold:
                RULES['query dropped by the overlap rule'] += 1
                continue
            if ((cur_mask_ids == k) & (cur_masks[k] < 0.5)).any():
                RULES['won pixels dropped as low-probability'] += 1
            if not isthing:
                if int(pred_class) in stuff_memory_list:
                    RULES['stuff queries merged'] += 1
                    panoptic_seg[mask] = stuff_memory_list[int(pred_class)]
                    continue
                stuff_memory_list[int(pred_class)] = current_segment_id + 1
            current_segment_id += 1
            panoptic_seg[mask] = current_segment_id
            part_related_info.append({'panoptic_id': current_segment_id, 'query_id': cur_query_ids[k],
                                      'category_id': int(pred_class)})
    return panoptic_seg, part_related_info


def train_sids2train_pids(spec) -> dict[int, list[int]]:
    """The official registration: every class of ``eval_sid_pid2eval_pid_flat`` -> its flat part ids, in order."""
    out = collections.defaultdict(list)
    for sid_pid, flat in spec.official.eval_sid_pid2eval_pid_flat.items():
        out[spec.sid2label[int(sid_pid) // 100]].append(int(flat))
    return dict(out)


def partsegid2pid(spec, void=255) -> np.ndarray:
    """The official ``_prepare_part_mappings``: flat part id -> eval pid (255 for 0: no part)."""
    mapping = np.full(256, void, np.int64)
    for sid_pid, flat in spec.official.eval_sid_pid2eval_pid_flat.items():
        mapping[int(flat)] = int(sid_pid) % 100
    return mapping


def official_part_decoder(gen, queries, part_ids_per_query, mask_features):
    """``PartDecoder``: the MLP gives all part queries of every query (split into Npc chunks), their masks,
    then the compatible ones gathered."""
    embeds = gen.part_fc(gen.adapt(queries))  # [n, Npc * C]
    embeds = torch.stack(torch.tensor_split(embeds, gen.num_parts, dim=1), dim=1)  # [n, Npc, C]
    masks = torch.einsum('npc,chw->nphw', embeds, mask_features)
    idx_q = torch.cat([torch.full((len(p),), i) for i, p in enumerate(part_ids_per_query)])
    return masks[idx_q, torch.cat(part_ids_per_query)]


def official_pps_inference(panoptic_r, mask_features, queries, gen, spec, image_size, height, width, no_part=0.1):
    """``MaskFormer.pps_inference``: the 3-channel [sem, inst, pid] prediction."""
    panoptic_pred, part_related_info = panoptic_r
    sids2pids = train_sids2train_pids(spec)
    num_things = spec.num_things
    sem_id_map = torch.full((height, width), 255, dtype=torch.long)
    inst_id_map = torch.full((height, width), 255, dtype=torch.long)
    gather_ids, part_ids_per_query = [], []
    for p_info in part_related_info:
        if p_info['category_id'] in sids2pids:
            gather_ids.append(p_info['query_id'])
            part_ids_per_query.append(torch.tensor(sids2pids[p_info['category_id']]) - 1)
    partseg_pred = torch.zeros((height, width), dtype=torch.long)
    if gather_ids:
        masks_parts = official_part_decoder(gen, queries[torch.stack(gather_ids)], part_ids_per_query, mask_features)
        masks_parts = F.interpolate(masks_parts[None], size=PADDED, mode='bilinear', align_corners=False)[0]
        masks_parts = sem_seg_postprocess(masks_parts, image_size, height, width).sigmoid()
        partseg_map = torch.full((spec.num_parts + 1, height, width), no_part, dtype=masks_parts.dtype)
    part_count, inst_count = 0, 1
    for p_info in part_related_info:
        category_id = p_info['category_id']
        mask = panoptic_pred == p_info['panoptic_id']
        sem_id_map[mask] = spec.classes[category_id]
        if category_id < num_things:
            inst_id_map[mask] = inst_count
            inst_count += 1
        else:
            inst_id_map[mask] = 1
        if gather_ids and category_id in sids2pids:
            RULES[f'segment with {"one part" if len(sids2pids[category_id]) == 1 else "parts"}'] += 1
            for i, part_id in enumerate(sids2pids[category_id]):
                partseg_map[part_id][mask] = masks_parts[part_count + i][mask]
            part_count += len(sids2pids[category_id])
    if gather_ids:
        partseg_pred = torch.argmax(partseg_map, dim=0)
        inside = sem_id_map != 255
        RULES['no-part pixels inside segments with parts'] += int(((partseg_pred == 0) & inside).any())
    part_id_map = torch.from_numpy(partsegid2pid(spec))[partseg_pred]
    RULES['void pixels'] += int((sem_id_map == 255).any())
    return torch.stack([sem_id_map, inst_id_map, part_id_map])


# ----------------------------------------------------------------------------------------- random cases
def _class_logits(rng, num_queries, num_classes, num_things, thr) -> torch.Tensor:
    """Log-probabilities with chosen top scores: confident things and stuff, several queries of one stuff
    class, scores just above / below the object threshold, 'no object' queries."""
    probs = np.full((num_queries, num_classes + 1), 1e-3)
    stuff_twice = int(rng.integers(num_things, num_classes))
    for q in range(num_queries):
        kind = rng.random()
        label = (num_classes if kind < 0.7 else stuff_twice if kind < 0.8
                 else int(rng.integers(0, num_things)) if kind < 0.92 else int(rng.integers(0, num_classes)))
        score = (thr + rng.choice([-1, 1]) * 1e-4) if rng.random() < 0.15 else rng.uniform(thr, 1.0)
        probs[q] = (1 - score) / num_classes
        probs[q, label] = score
    return torch.from_numpy(np.log(probs))


def _mask_logits(rng, num_queries, h, w) -> torch.Tensor:
    """Blobs of random size and place at 1/4 resolution, soft edges, many pixels below 0.5 everywhere."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((num_queries, h, w))
    for q in range(num_queries):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(1.5, h / 3), rng.uniform(1.5, w / 3)
        d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        out[q] = rng.uniform(2, 8) * (1 - d) + rng.normal(0, 0.7, (h, w)) - rng.uniform(0, 1.5)
    return torch.from_numpy(out)


def _wins_but_keeps_nothing(cls, masks, num_things):
    """Queries 0 and 1, things of score 0.99, the others 'no object': query 0 is at 0.6 over the right 10
    columns and 0.45 elsewhere; query 1 is at 0.95 over the right 12 columns. Query 0 wins the left part
    (more than its own area) at 0.45 and keeps nothing; mmdet's ``panoptic_postprocess`` would still give it
    an instance id, shifting query 1's."""
    w = masks.shape[-1]
    cls[2:] = torch.log(torch.full_like(cls[2:], 0.01 / (cls.shape[1] - 1)))
    cls[2:, -1] = np.log(0.99)
    for q in (0, 1):
        cls[q] = torch.log(torch.full_like(cls[q], 0.01 / (cls.shape[1] - 1)))
        cls[q, q % num_things] = np.log(0.99)
    masks[:2] = -8.0
    masks[0] = np.log(0.45 / 0.55)
    masks[0, :, w - 10:] = np.log(0.6 / 0.4)
    masks[1, :, w - 12:] = np.log(0.95 / 0.05)


@functools.lru_cache(maxsize=None)
def _model(stem: str):
    init_default_scope('tapps_mm')
    cfg = Config.fromfile(osp.join('configs', stem.split('_')[0], stem + '.py')).model
    cfg.backbone.init_cfg = None  # random weights, no download; the backbone is not run
    torch.manual_seed(0)
    model = MODELS.build(cfg).double().eval()
    with torch.no_grad():  # part queries of a useful scale (initialised weights give tiny logits)
        for p in model.panoptic_head.part_queries.parameters():
            p.normal_(0, 0.25)
    return model


def _check_case(model, spec_name, seed, monkeypatch):
    head, fusion = model.panoptic_head, model.panoptic_fusion_head
    spec, q_count, c = fusion.spec, head.num_queries, head.transformer_decoder.embed_dims
    thr = model.test_cfg['object_mask_thr']
    rng = np.random.default_rng(seed)
    fh, fw = PADDED[0] // 4, PADDED[1] // 4
    cls = torch.stack([_class_logits(rng, q_count, spec.num_classes, spec.num_things, thr) for _ in METAS])
    masks = torch.stack([_mask_logits(rng, q_count, fh, fw) for _ in METAS])
    if seed == 0:
        _wins_but_keeps_nothing(cls[0], masks[0], spec.num_things)
    queries = torch.from_numpy(rng.normal(0, 1, (len(METAS), q_count, c)))
    feats = torch.from_numpy(rng.normal(0, 1, (len(METAS), c, fh, fw)))
    # the head's forward gives these outputs (last layer last; the layer's queries and mask features as the JOPS
    # head records them); the backbone is not run
    monkeypatch.setattr(head, 'forward', lambda x, samples: ([cls], [masks], [(queries, feats)]))
    monkeypatch.setattr(model, 'extract_feat', lambda inputs: None)
    samples = [DetDataSample(metainfo=dict(batch_input_shape=PADDED, pad_shape=PADDED, scale_factor=(1.0, 1.0), **m))
               for m in METAS]
    with torch.no_grad():
        ours = model.predict(torch.zeros(len(METAS), 3, *PADDED, dtype=torch.float64), samples)

    for b, (meta, sample) in enumerate(zip(METAS, ours)):
        height, width = meta['ori_shape']
        with torch.no_grad():
            mask_pred = F.interpolate(masks[b][None], size=PADDED, mode='bilinear', align_corners=False)[0]
            mask_pred = sem_seg_postprocess(mask_pred, meta['img_shape'], height, width)
            panoptic_r = official_panoptic_inference(cls[b], mask_pred, spec.num_classes, spec.num_things, thr)
            official = official_pps_inference(panoptic_r, feats[b], queries[b], head.part_queries, spec,
                                              meta['img_shape'], height, width)
        pred = sample.pred_pps.data.long()
        for ch, name in enumerate(('class', 'instance', 'part')):
            differ = int((pred[ch] != official[ch]).sum())
            assert differ == 0, f'{spec_name} seed {seed} image {b}: {differ} pixels of the {name} channel differ'


def test_every_spec_is_covered():
    specs = {Config.fromfile(osp.join('configs', s.split('_')[0], s + '.py')).model.panoptic_fusion_head.spec
             for s in PAPER_CONFIGS}
    assert specs == {'cityscapes-grouped', 'pascal', 'pascal-107'} and len(PAPER_CONFIGS) >= 10


@pytest.mark.parametrize('stem', PAPER_CONFIGS)
def test_inference_equals_the_official(stem, monkeypatch):
    """Every paper config with the official inference (its thresholds, spec and part-query generator) on
    random head outputs; the cases reach every rule the equivalence depends on."""
    model = _model(stem)
    spec_name = model.panoptic_fusion_head.spec.name
    assert model.test_cfg['filter_low_score'] is True
    RULES.clear()
    for seed in range(3):
        _check_case(model, spec_name, seed, monkeypatch)
    expected = {'images with kept queries', 'query that wins pixels but keeps none',
                'query dropped by the overlap rule', 'won pixels dropped as low-probability', 'stuff queries merged',
                'segment with parts', 'no-part pixels inside segments with parts', 'void pixels'}
    if spec_name.startswith('pascal'):  # boat, chair, ...: one whole-object part each
        expected.add('segment with one part')
    assert expected <= {k for k, v in RULES.items() if v > 0}, dict(RULES)
