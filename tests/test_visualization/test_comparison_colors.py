"""Colours that compare across panels: a class keeps its hue in the ground truth and in every prediction, its
instances are shades of that hue, and a predicted object matching a ground-truth object (same class, IoU > 0.5)
is drawn in that object's colour, in the drawings and in the comparison figure."""
import colorsys

import numpy as np
import pytest

from tapps_mm.apis.comparison import draw_comparison
from tapps_mm.pps_format import write_label
from tapps_mm.specs import load_spec
from tapps_mm.visualization import (
    class_shades,
    colors_against_ground_truth,
    draw_pps_ground_truth,
    draw_pps_prediction,
    ground_truth_arrays,
    match_objects,
    pps_to_sample_arrays,
)

SKY, ROBOT, CART = 1, 4, 5  # sids of the synthetic spec (eval sid = dataset sid)
H = W = 32
A, B, C = (slice(4, 20), slice(2, 10)), (slice(4, 20), slice(14, 22)), (slice(4, 20), slice(24, 30))


def hue(color) -> float:
    return colorsys.rgb_to_hsv(*(c / 255 for c in color))[0]


def same_hue(a, b, tol: float = 0.02) -> bool:
    d = abs(hue(a) - hue(b))
    return min(d, 1 - d) < tol


def class_names(spec) -> list[str]:
    return [spec.class_names[s] for s in spec.classes]


def count_color(img: np.ndarray, color) -> int:
    return int((img == np.asarray(color, np.uint8)).all(-1).sum())


@pytest.fixture(scope='module')
def case(tmp_path_factory):
    """Ground truth: sky, robots A, B, C (head and torso), a void strip. Prediction, its objects in another
    order than the ground truth's: robot 1 on B shifted by a column (IoU 0.78: matches B), robot 2 on A's head
    only (IoU 0.375: unmatched), a cart exactly on C (another class: unmatched), sky over the void strip too
    (void left out of the union: matches)."""
    spec = load_spec('synthetic')
    uids = np.full((H, W), SKY, np.int32)
    for iid, (rows, cols) in enumerate((A, B, C), start=1):
        uids[rows, cols] = ROBOT * 100_000 + iid * 100 + 2                            # torso
        uids[rows.start:rows.start + 4, cols] = ROBOT * 100_000 + iid * 100 + 1     # head
    uids[28:] = 0
    label = str(tmp_path_factory.mktemp('colors') / 'gt.tif')
    write_label(label, uids)
    pps = np.zeros((H, W, 3), np.uint8)
    pps[:] = [SKY, 0, 255]
    pps[B[0], 15:23] = [ROBOT, 1, 2]
    pps[4:10, A[1]] = [ROBOT, 2, 1]
    pps[C] = [CART, 1, 1]
    return spec, label, pps


def test_matched_objects_take_their_ground_truth_colour_others_a_shade_of_their_class(case):
    spec, label, pps = case
    truth = ground_truth_arrays(label, spec)
    pred = pps_to_sample_arrays(pps, spec)
    robot, sky, cart = (spec.classes.index(s) for s in (ROBOT, SKY, CART))
    assert truth['object_labels'].tolist() == [robot] * 3 + [sky]
    assert pred['object_labels'].tolist() == [sky, robot, robot, cart]  # by key: sky, robot 1 (on B), robot 2 (on A)
    assert match_objects(truth, pred).tolist() == [3, 1, -1, -1]

    gt_colors = class_shades(truth['object_labels'])
    got = colors_against_ground_truth(truth, pred, class_names(spec))
    colors = got['object_colors']
    # the matched ones exactly in their ground-truth objects' colours, under their names
    assert colors[0] == gt_colors[3] and colors[1] == gt_colors[1]
    assert got['object_names'][:2] == ['sky', 'robot #2']
    # the instances of a class: different shades of one hue
    assert len(set(gt_colors[:3])) == 3 and all(same_hue(c, gt_colors[0]) for c in gt_colors[:3])
    # unmatched: a shade of its own class's hue that no ground-truth object has
    assert same_hue(colors[2], gt_colors[0]) and colors[2] not in gt_colors
    assert colors[3] == class_shades([cart])[0] and not same_hue(colors[3], gt_colors[2])
    assert got['object_names'][2:] == ['robot, unmatched', 'cart, unmatched']


def test_the_drawings_paint_a_class_in_one_hue_and_a_match_in_its_ground_truth_colour(case):
    """Opaque objects on a black image: every object's area shows its colour exactly, so the objects panels
    (the left half of a drawing, with their legend; the parts panel has its own palette) compare by colour."""
    spec, label, pps = case
    truth = ground_truth_arrays(label, spec)
    image = np.zeros((H, W, 3), np.uint8)
    scale = 12  # ceil(384 / 32)
    gt, pred, alone = (d[:, :d.shape[1] // 2] for d in (
        draw_pps_ground_truth(image, label, spec, object_alpha=1.0),
        draw_pps_prediction(image, pps, spec, ground_truth=truth, object_alpha=1.0),
        draw_pps_prediction(image, pps, spec, object_alpha=1.0)))
    robot_a, robot_b, robot_c, sky = class_shades(truth['object_labels'])
    area = 16 * 8 * scale ** 2  # of A and B (C is 6 wide)
    for color, size in ((robot_a, area), (robot_b, area), (robot_c, 0.75 * area)):  # each robot in its shade
        assert count_color(gt, color) > 0.8 * size
    assert count_color(pred, robot_b) > 0.8 * area  # the robot matching B, in B's colour
    assert count_color(pred, sky) > 0.8 * (H * 28 - 3 * 16 * 8) * scale ** 2  # sky, matched: the same colour
    assert count_color(pred, robot_a) == count_color(pred, robot_c) == 0  # unmatched ground truth: nowhere
    unmatched = colors_against_ground_truth(truth, pps_to_sample_arrays(pps, spec), class_names(spec))
    unmatched = unmatched['object_colors'][2]
    assert count_color(pred, unmatched) > 0.8 * 6 * 8 * scale ** 2 and same_hue(unmatched, robot_a)
    # alone (no ground truth), a prediction still has the class hues, its robots in the first shades
    assert count_color(alone, robot_a) > 0.8 * area and count_color(alone, sky) > 0


def test_the_comparison_figure_draws_a_match_in_its_ground_truth_colour(case):
    spec, label, pps = case
    truth = ground_truth_arrays(label, spec)
    figure = draw_comparison(np.zeros((H, W, 3), np.uint8), label, spec, [('a', pps, [], 50.0), ('b', pps, [], 50.0)],
                             'crafted', min_size=192)
    robot_b = class_shades(truth['object_labels'])[1]
    blended = np.round(0.6 * np.asarray(robot_b)).astype(np.uint8)  # the figure's alpha over a black image
    scale = 6  # ceil(192 / 32)
    assert count_color(figure, blended) > 0.8 * 3 * 16 * 8 * scale ** 2  # B in the ground truth and both rows


def test_show_dir_draws_a_match_in_its_ground_truth_colour(case, tmp_path):
    """``tools/test.py --show-dir``'s visualiser sets the prediction beside its ground truth the same way."""
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import PixelData
    from PIL import Image

    from tapps_mm.visualization import PPSLocalVisualizer
    spec, label, pps = case
    sample = DetDataSample(metainfo=dict(img_path='crafted.png', pps_label_path=label))
    sample.pred_pps = PixelData(data=torch.from_numpy(np.ascontiguousarray(pps.transpose(2, 0, 1))))
    visualizer = PPSLocalVisualizer(name='colors_test')
    visualizer.dataset_meta = dict(spec='synthetic')  # as mmengine's loops set it from the dataset
    visualizer.add_datasample(
        'x', np.zeros((H, W, 3), np.uint8), sample, out_file=str(tmp_path / 'both.png'))
    both = np.asarray(Image.open(tmp_path / 'both.png').convert('RGB'))
    robot_b = class_shades(ground_truth_arrays(label, spec)['object_labels'])[1]
    blended = np.round(0.6 * np.asarray(robot_b)).astype(np.uint8)
    assert count_color(both, blended) > 0.8 * 2 * 16 * 8 * 12 ** 2  # B, and the prediction matching it
