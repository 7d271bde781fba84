"""Record the shapes every batch had on its way into the model.

Why: a run on stand-in data (the paper-scale rehearsal, ``benchmarks/rehearsal.py``) must show that the real
pipeline ran at the real sizes. The data samples carry the sizes (``ori_shape``: the image as loaded, i.e.
what entered the pipeline; ``img_shape``: after it, e.g. the crop; ``batch_input_shape``: the padded batch)
only inside the model's step, after the data preprocessor, so a forward hook on the preprocessor reads them
there, together with the shape of the batch tensor the model saw.

Written when a phase ends to ``<log_dir>/input_shapes.json`` (atomic; one file per start of a run, beside
mmengine's own log): ``{"train": [...], "val": [...], "test": [...]}``, one entry per batch with its
iteration (training: 1-based, as mmengine logs it), the batch tensor's shape and each sample's shapes.
"""
from __future__ import annotations

import os.path as osp

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from tapps_mm.fileio import write_json_atomic
from tapps_mm.registry import HOOKS

INPUT_SHAPES_FILE = 'input_shapes.json'
PHASES = ('train', 'val', 'test')
_SHAPE_KEYS = ('ori_shape', 'img_shape', 'pad_shape', 'batch_input_shape')


def _plain(value):
    """A metainfo value as JSON (shapes are tuples of ints, a scale factor a tuple of floats)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, 'item') else value


@HOOKS.register_module()
class InputShapesHook(Hook):
    """Keep, per batch, the input tensor's shape and each sample's shapes (see the module docstring);
    ``max_batches`` per phase bounds the file for long runs."""

    priority = 'VERY_LOW'

    def __init__(self, max_batches: int = 1000) -> None:
        self.max_batches = max_batches
        self.records: dict[str, list[dict]] = {p: [] for p in PHASES}
        self._phase: str | None = None
        self._iter = 0
        self._handle = None

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._handle = model.data_preprocessor.register_forward_hook(self._record)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._phase, self._iter = 'train', runner.iter + 1

    def before_val_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._phase, self._iter = 'val', runner.iter

    def before_test_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._phase, self._iter = 'test', runner.iter

    def _record(self, module, args, output) -> None:
        records = self.records.get(self._phase)
        if records is None or len(records) >= self.max_batches or not isinstance(output, dict):
            return
        inputs, samples = output.get('inputs'), output.get('data_samples') or []
        records.append({'iter': self._iter, 'inputs': list(getattr(inputs, 'shape', ())),
                        'samples': [{k: _plain(s.metainfo[k]) for k in (*_SHAPE_KEYS, 'scale_factor', 'flip')
                                     if k in s.metainfo} for s in samples]})

    def _write(self, runner) -> None:
        write_json_atomic(self.records, osp.join(runner.log_dir, INPUT_SHAPES_FILE))

    def after_train(self, runner) -> None:
        self._write(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._write(runner)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._write(runner)

    def after_run(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._write(runner)
