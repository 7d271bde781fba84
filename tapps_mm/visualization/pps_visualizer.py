"""The visualiser of scope ``tapps_mm``: mmdet's DetVisualizationHook calls it (``tools/test.py
--show-dir``) to draw ground truth and prediction side by side, each as objects + parts panels and a legend."""
from __future__ import annotations

import os.path as osp

from mmengine.visualization import Visualizer

from tapps_mm.registry import VISUALIZERS


@VISUALIZERS.register_module()
class PPSLocalVisualizer(Visualizer):
    """Draws ``pred_pps`` of a data sample with :func:`~tapps_mm.visualization.draw_pps_prediction`, in the
    spec of the dataset it runs on: its metainfo ``spec``, which mmengine's loops hand the visualiser as
    ``dataset_meta`` (a config names the spec once, in its dataset)."""

    @property
    def dataset_meta(self) -> dict | None:
        """mmengine keeps it on rank 0 only; here every rank keeps it: mmdet's ``DetVisualizationHook`` has each
        rank draw its own samples (``--show-dir`` of a distributed test), each in the dataset's spec."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        self._dataset_meta = dataset_meta

    def add_datasample(self, name: str, image, data_sample=None, draw_gt: bool = True,
                       draw_pred: bool = True, show: bool = False, wait_time: float = 0,
                       out_file: str | None = None, pred_score_thr: float = 0.3, step: int = 0) -> None:
        """mmdet's signature: the ground truth (from the sample's official label file, when ``draw_gt``) and
        the prediction side by side, as mmdet's visualiser does, the prediction's matched objects in their
        ground-truth colours (``pred_score_thr`` is unused: the PPS map is already thresholded by the fusion
        head)."""
        import mmcv

        from tapps_mm.pps_format import prediction_array
        from tapps_mm.specs import load_spec
        from tapps_mm.visualization.pps_drawing import (
            draw_pps_ground_truth,
            draw_pps_prediction,
            ground_truth_arrays,
            side_by_side,
        )
        if data_sample is None or 'pred_pps' not in data_sample or not draw_pred:
            return
        if not (self.dataset_meta or {}).get('spec'):
            raise ValueError('PPSLocalVisualizer: no spec: its dataset_meta (a PPS dataset\'s metainfo) names none')
        spec = load_spec(self.dataset_meta['spec'])
        title = osp.basename(data_sample.img_path) if 'img_path' in data_sample else name  # not 'test_img'
        label = data_sample.get('pps_label_path')
        truth = ground_truth_arrays(label, spec) if draw_gt and label and osp.isfile(label) else None
        drawing = draw_pps_prediction(image, prediction_array(data_sample.pred_pps), spec,
                                      ground_truth=truth, title=f'prediction: {title}' if draw_gt else title)
        if truth is not None:
            drawing = side_by_side(draw_pps_ground_truth(image, truth, spec,
                                                         title=f'ground truth: {title}'), drawing)
        if show:
            self.show(drawing, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawing[..., ::-1], out_file)
        else:
            self.add_image(name, drawing, step)
