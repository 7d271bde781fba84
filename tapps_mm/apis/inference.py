"""Part-aware panoptic inference on one's own images: the model of a config with a checkpoint, mmdet's
``inference_detector`` for the test pipeline and the forward pass, and per image the official PPS PNG, an
overlay picture and a JSON of the segments."""
from __future__ import annotations

import os
import os.path as osp
from glob import glob

import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def init_pps_model(config: str, checkpoint: str, device: str = 'cpu', cfg_options: dict | None = None):
    """The model of ``config`` with the weights of ``checkpoint``, strictly (every tensor must fit), in eval
    mode, with segment scores on. Checkpoints load with the restricted unpickler (``tapps_mm.engine``)."""
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    import tapps_mm.registry  # noqa: F401
    from tapps_mm.datasets.pps_dataset import pps_metainfo
    from tapps_mm.engine.cli import merge_cfg_options
    from tapps_mm.registry import MODELS
    from tapps_mm.specs import load_spec

    cfg = Config.fromfile(config)
    merge_cfg_options(cfg, cfg_options)
    init_default_scope(cfg.get('default_scope', 'tapps_mm'))
    cfg.model.backbone.init_cfg = None  # the checkpoint holds the weights: no pretrained download
    cfg.model.test_cfg.segment_scores = True
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.cfg = cfg  # mmdet's inference_detector builds the test pipeline from it
    model.spec = load_spec(cfg.model.panoptic_fusion_head.spec)
    model.dataset_meta = pps_metainfo(model.spec)
    return model.to(device).eval()


def list_images(inputs: list[str]) -> list[str]:
    """Image files of ``inputs`` (files, or folders searched recursively), in order, without repeats."""
    found: list[str] = []
    for item in inputs:
        if osp.isdir(item):
            found += sorted(p for p in glob(osp.join(item, '**', '*'), recursive=True)
                            if p.lower().endswith(IMAGE_EXTENSIONS))
        elif osp.isfile(item):
            found.append(item)
        else:
            raise FileNotFoundError(f'{item}: no such image file or folder')
    return list(dict.fromkeys(found))


def output_stems(images: list[str]) -> list[str]:
    """One output name per image, all distinct (outputs and images.json ids are named by them): the file stem;
    where stems repeat, the path below the common folder (``a__b__x``), and the extension where even that
    repeats (``dup.png``, ``dup.jpg`` -> ``dup_png``, ``dup_jpg``)."""
    stems = [osp.splitext(osp.basename(p))[0] for p in images]
    if len(set(stems)) == len(stems):
        return stems
    paths = [osp.abspath(p) for p in images]
    common = osp.commonpath([osp.dirname(p) for p in paths])
    stems = [osp.splitext(osp.relpath(p, common))[0].replace(osp.sep, '__') for p in paths]
    return [s + '_' + osp.splitext(p)[1].lstrip('.').lower() if stems.count(s) > 1 else s
            for s, p in zip(stems, paths)]


def segments_of(pps: np.ndarray, scores: dict[int, float], spec) -> list[dict]:
    """The segments of an H x W x 3 PPS prediction: class, instance, score, area, parts with their areas."""
    sid, iid, pid = (pps[..., c].astype(np.int64) for c in range(3))
    key = np.where(sid != 255, sid * 1000 + iid, -1)
    out = []
    for k, area in zip(*np.unique(key[key >= 0], return_counts=True)):
        s, i = int(k) // 1000, int(k) % 1000
        inside = key == k
        parts = []
        if s in spec.parts_sids:
            p_ids, p_areas = np.unique(pid[inside & (pid != 255)], return_counts=True)
            parts = [dict(pid=int(p), name=spec.part_names.get(spec.sid_pid2flat.get(s * 100 + int(p)), f'pid {p}'),
                          area=int(a)) for p, a in zip(p_ids, p_areas)]
        out.append(dict(sid=s, class_name=spec.class_names.get(s, str(s)), instance=i, is_thing=s in spec.thing_sids,
                        score=scores.get(int(k)), area=int(area), parts=parts))
    return out


def _readable(path: str) -> np.ndarray:
    """The BGR image (what the test pipeline decodes) of ``path``, or a ValueError naming it."""
    import mmcv
    try:
        image = mmcv.imread(path)
    except Exception as e:  # a file mmcv cannot decode
        raise ValueError(f'{path}: not a readable image ({type(e).__name__}: {e})') from None
    if image is None:
        raise ValueError(f'{path}: not a readable image')
    return image


def infer_images(model, images: list[str], out_dir: str, progress: bool = True) -> tuple[list[str], list[str]]:
    """For each image: ``<stem>.png`` (official PPS prediction), ``<stem>_overlay.png`` (objects and parts
    with a legend) and ``<stem>.json`` (segments) in ``out_dir``, plus ``images.json`` (so
    ``tools/evaluate_pps.py`` can score the folder). Returns (written stems, errors naming the files)."""
    from mmdet.apis import inference_detector
    from PIL import Image

    from tapps_mm.fileio import atomic_path, write_json_atomic
    from tapps_mm.pps_format import prediction_array, write_images_json, write_prediction
    from tapps_mm.visualization import draw_pps_prediction
    os.makedirs(out_dir, exist_ok=True)
    stems = output_stems(images)
    bar = None
    if progress and len(images) > 1:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(images))
    written, errors = [], []
    for path, stem in zip(images, stems):
        try:
            image = _readable(path)  # read once: the model gets the decoded array, the overlay its RGB view
            sample = inference_detector(model, image)
            pps = prediction_array(sample.pred_pps)
            write_prediction(osp.join(out_dir, f'{stem}.png'), pps)
            overlay = draw_pps_prediction(np.ascontiguousarray(image[..., ::-1]), pps, model.spec,
                                          title=osp.basename(path))
            with atomic_path(osp.join(out_dir, f'{stem}_overlay.png')) as tmp:
                Image.fromarray(overlay).save(tmp, format='PNG')
            segments = segments_of(pps, sample.metainfo.get('pps_segment_scores', {}), model.spec)
            write_json_atomic(dict(image=path, height=int(pps.shape[0]), width=int(pps.shape[1]), segments=segments),
                              osp.join(out_dir, f'{stem}.json'))
            written.append(stem)
        except ValueError as e:
            errors.append(str(e))
        if bar:
            bar.update()
    if bar:
        print()
    write_images_json(osp.join(out_dir, 'images.json'), [dict(id=s, file_name=f'{s}.png') for s in written])
    return written, errors
