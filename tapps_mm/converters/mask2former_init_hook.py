"""Start a model from Mask2Former's own COCO-panoptic weights: the official detectron2 ``.pkl`` at ``load_from``.

The official TAPPS configs start their COCO rows from Mask2Former's model zoo files (``MODEL.WEIGHTS:
checkpoints/maskformer2_R50_bs16_50ep/model_final_94dc52.pkl``, Swin-B IN-21k ``.../model_final_54b88a.pkl``);
our ``*cocopan*`` configs name the same files in ``load_from`` and list this hook. The runner reads the file by
the loading policy of every checkpoint (:mod:`tapps_mm.engine.safe_load`: numpy arrays only, no code runs);
before the weights are copied (``after_load_checkpoint``) this hook turns detectron2's state dict into an
initialisation of the model with :func:`tapps_mm.converters.convert_coco_init`, strictly (every source tensor
mapped or on the documented drop list, every model tensor filled except those meant to start fresh, shapes
equal; otherwise an error naming the file and the tensors): COCO's class head (133 classes + no object) is
dropped, the class head, the part branch and the baseline's part queries keep their initialisation.
:class:`CheckpointMatchHook` then logs what reached the model.

Checkpoints in our own names (a resume, ``tools/test.py``, mmdet's COCO-panoptic ``.pth`` of the ``mmdet``
variant) pass unchanged.
"""
from __future__ import annotations

import os.path as osp

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from tapps_mm.converters.checkpoints import ConversionError
from tapps_mm.converters.tapps_d2 import MASK2FORMER_COCO_PANOPTIC, convert_coco_init, is_detectron2_mask2former
from tapps_mm.registry import HOOKS


def official_download(path: str) -> str | None:
    """Mask2Former's model zoo URL of an official COCO-panoptic file named like ``path``, if it is one."""
    return next((url for rel, url in MASK2FORMER_COCO_PANOPTIC.items() if osp.basename(rel) == osp.basename(path)),
                None)


@HOOKS.register_module()
class Mask2FormerInitHook(Hook):
    """Convert a detectron2 Mask2Former checkpoint given as ``load_from`` into the model's initialisation."""

    priority = 'HIGHEST'  # before CheckpointMatchHook (VERY_HIGH) compares the checkpoint with the model

    def before_run(self, runner) -> None:
        """A missing official file: say where it comes from, before the runner tries to load it."""
        path = runner._load_from
        if runner._resume or not path or '://' in path or osp.isfile(path):
            return
        url = official_download(path)
        if url is not None:
            raise FileNotFoundError(
                f'{path} can not be found: this config starts from Mask2Former\'s own COCO-panoptic weights, as '
                f'the official TAPPS. Download them there (wget -P {osp.dirname(path) or "."} {url}) or set '
                'load_from to your copy '
                '(docs/training_and_launching.md#coco-panoptic-initialisation).')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint)
        meta = checkpoint.get('meta')
        detectron2 = isinstance(meta, dict) and meta.get('format') == 'detectron2'
        if not (detectron2 or is_detectron2_mask2former(state)):
            return
        source = getattr(runner, '_load_from', None) or 'checkpoint'
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        try:
            converted, report = convert_coco_init(state, model)
        except ConversionError as e:
            hint = (' (an official TAPPS checkpoint: convert it with tools/model_converters/tapps_d2_to_mm.py)'
                    if any(k.startswith('criterion.parts_decoder.') for k in state) else '')
            raise ConversionError(f'{source}: not Mask2Former COCO-panoptic weights for the backbone and head of '
                                  f'this config{hint}:\n{e}') from None
        if 'state_dict' in checkpoint:
            checkpoint['state_dict'] = converted
        else:
            checkpoint.clear()
            checkpoint.update(converted)
        print_log(f'{source}: detectron2 Mask2Former weights -> the initialisation of this model: {report}',
                  logger='current')
