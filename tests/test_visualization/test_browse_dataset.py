"""tools/analysis_tools/browse_dataset.py and tapps_mm.visualization: the drawings show what the data holds
(objects in their colours, parts in their part colours, void hatched), not just that files get written."""
import glob
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tapps_mm.datasets.synthetic_pp import write_synthetic_pp
from tapps_mm.testing.repo import REPO, load_module
from tapps_mm.visualization import (
    class_shades,
    distinct_colors,
    draw_pps_prediction,
    draw_pps_sample,
    part_color,
    pps_to_sample_arrays,
    render_pps_panels,
    sample_legend,
)
from tapps_mm.visualization.pps_drawing import HIGHLIGHT_COLOR, IGNORE_COLOR, OUTLINE_COLOR

TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'browse_dataset.py')
CONFIG = osp.join(REPO, 'configs', '_base_', 'datasets', 'synthetic_pps.py')
CLASSES = ('robot', 'cart', 'sky')
PARTS = ('robot-head', 'robot-torso', 'robot-arm', 'robot-leg')


def count_color(img: np.ndarray, color) -> int:
    return int((img == np.asarray(color, np.uint8)).all(-1).sum())


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('browse_syn'))
    write_synthetic_pp(root, num_train=3, num_val=1, size=(64, 64), progress=False)
    return root + '/'


@pytest.fixture(scope='module')
def tool():
    return load_module(TOOL, 'browse_dataset')


def hand_made_case():
    """16 x 24 image: two robots (parts head / arm), stuff 'sky' around them, a void strip at the bottom."""
    h, w = 16, 24
    image = np.dstack([np.tile(np.linspace(0, 255, w, dtype=np.uint8), (h, 1))] * 3)
    a = np.zeros((h, w), bool)
    a[2:11, 2:10] = True
    b = np.zeros((h, w), bool)
    b[2:11, 12:22] = True
    ignore = np.zeros((h, w), bool)
    ignore[14:] = True
    sky = ~(a | b | ignore)
    part_seg = np.zeros((h, w), np.uint8)
    part_seg[2:6, 2:10] = 1   # robot-head (part index 0)
    part_seg[6:11, 2:10] = 3  # robot-arm (part index 2)
    part_seg[2:11, 12:17] = 3
    return image, np.stack([a, b, sky]), np.array([0, 0, 2]), part_seg, ignore


def test_render_panels_colours_outlines_and_void():
    image, masks, _, part_seg, ignore = hand_made_case()
    colors = np.asarray(distinct_colors(3), np.float64)
    objects, parts = render_pps_panels(image, masks, colors, part_seg, ignore, scale=2.0, object_alpha=0.6)
    assert objects.shape == parts.shape == (32, 48, 3)
    # objects panel: the interior of object k is the image blended with colour k
    for k, (y, x) in enumerate([(12, 10), (12, 30), (1, 1)]):
        expected = np.round(0.6 * colors[k] + 0.4 * image[y // 2, x // 2]).astype(np.uint8)
        np.testing.assert_array_equal(objects[y, x], expected)
    assert (objects[4:22, 2 * 10] == OUTLINE_COLOR).all() or (objects[4:22, 2 * 10 - 1] == OUTLINE_COLOR).all()
    assert count_color(objects[28:], IGNORE_COLOR) > 0 and count_color(objects[:28], IGNORE_COLOR) == 0
    # parts panel: opaque part colours inside, grey where there is no part label
    np.testing.assert_array_equal(parts[8, 8], part_color(0))
    np.testing.assert_array_equal(parts[16, 8], part_color(2))
    np.testing.assert_array_equal(parts[16, 28], part_color(2))
    assert parts[16, 38, 0] == parts[16, 38, 1] == parts[16, 38, 2]  # robot 2 without part label: grey
    assert count_color(parts, part_color(1)) == 0


def test_draw_pps_sample_composes_panels_and_legend():
    image, masks, labels, part_seg, ignore = hand_made_case()
    objects, parts = sample_legend(labels, part_seg, CLASSES, PARTS)
    assert [t for t, _ in objects] == ['robot #1', 'robot #2', 'sky']
    assert [c for _, c in objects] == class_shades(labels)  # robots: two shades of the robot colour
    assert objects[0][1] == distinct_colors(1)[0] != objects[1][1] and objects[2][1] == distinct_colors(3)[2]
    assert parts == [('robot-head', part_color(0)), ('robot-arm', part_color(2))]

    out = draw_pps_sample(image, masks, labels, part_seg, CLASSES, PARTS, ignore_mask=ignore, title='hand made')
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    scale = 24  # ceil(384 / 16): the short side reaches min_size with an integer factor
    assert out.shape[0] > 16 * scale and out.shape[1] > 2 * 24 * scale
    # the part areas (minus outlines) appear in their exact colours; an absent part colour nowhere
    assert count_color(out, part_color(0)) >= 0.8 * (4 * 8) * scale ** 2
    assert count_color(out, part_color(2)) >= 0.8 * (5 * 8 + 9 * 5) * scale ** 2
    assert count_color(out, part_color(3)) == 0
    with pytest.raises(ValueError, match='labels'):
        draw_pps_sample(image, masks, labels[:2], part_seg, CLASSES, PARTS)


def test_large_images_are_scaled_down():
    image = np.zeros((300, 2400, 3), np.uint8)
    out = draw_pps_sample(image, np.zeros((0, 300, 2400), bool), [], np.zeros((300, 2400), np.uint8), CLASSES, PARTS)
    assert out.shape[1] < 2 * 1024 + 100


def test_draw_pps_prediction_official_format(data_root):
    from tapps_mm.specs import load_spec
    spec = load_spec(osp.join(data_root, 'evalspec.yaml'))  # sids: sky 1 ... robot 4; robot pids 1-4
    pps = np.full((32, 32, 3), 255, np.uint8)
    pps[:, :, :2] = [1, 0]                  # sky
    pps[4:20, 4:14] = [4, 1, 255]           # robot 1 without part label ...
    pps[4:10, 4:14] = [4, 1, 1]             # ... but with a head
    pps[4:20, 16:26] = [4, 2, 3]            # robot 2: arm
    pps[28:] = [255, 0, 255]                # void
    arrays = pps_to_sample_arrays(pps, spec)
    robot, sky = spec.classes.index(4), spec.classes.index(1)
    assert arrays['object_labels'].tolist() == [sky, robot, robot]
    assert arrays['object_masks'].sum((1, 2)).tolist() == [32 * 28 - 160 - 160, 160, 160]
    assert arrays['part_seg'][5, 5] == spec.sid_pid2flat[401] and arrays['part_seg'][15, 5] == 0
    assert arrays['part_seg'][5, 20] == spec.sid_pid2flat[403]
    assert arrays['ignore_mask'].sum() == 4 * 32
    out = draw_pps_prediction(np.zeros((32, 32, 3), np.uint8), pps, spec)
    assert count_color(out, part_color(spec.sid_pid2flat[403] - 1)) > 160 * 12 ** 2 * 0.8
    # objects named by their keys (sid * 1000 + instance id); a conflicting one is outlined, and the legend says so
    assert arrays['object_keys'].tolist() == [1000, 4001, 4002]
    marked = draw_pps_prediction(np.zeros((32, 32, 3), np.uint8), pps, spec, conflict_objects=[4002])
    assert count_color(out, HIGHLIGHT_COLOR) == 0 < count_color(marked, HIGHLIGHT_COLOR)


def test_browse_val_draws_the_parts_of_each_sample(tool, data_root, tmp_path):
    """Val pipeline (deterministic): the PNG holds every part present in the sample, in its colour."""
    from mmengine.config import Config

    import tapps_mm.registry
    out = str(tmp_path / 'val')
    written = tool.main([CONFIG, '--out', out, '--split', 'val', '--num', '5',
                         '--cfg-options', f'val_dataloader.dataset.data_root={data_root}'])
    assert len(written) == 1 and sorted(glob.glob(osp.join(out, '*.png'))) == written
    png = np.asarray(Image.open(written[0]).convert('RGB'))

    cfg = Config.fromfile(CONFIG)
    cfg.val_dataloader.dataset.data_root = data_root
    tool.ensure_annotations(cfg.val_dataloader.dataset)
    item = tapps_mm.registry.DATASETS.build(cfg.val_dataloader.dataset)[0]
    part_seg = item['data_samples'].gt_part_seg.sem_seg.numpy()[0]
    scale = int(np.ceil(384 / min(part_seg.shape)))
    present = [int(v) for v in np.unique(part_seg) if v > 0]
    assert present, 'the synthetic sample should contain parts'
    for v in present:
        assert count_color(png, part_color(v - 1)) >= 0.5 * (part_seg == v).sum() * scale ** 2, v


def test_browse_train_script(data_root, tmp_path):
    """The command line of docs/datasets.md, run as a script from the repository root."""
    out = tmp_path / 'train'
    proc = subprocess.run([sys.executable, TOOL, CONFIG, '--out', str(out), '--num', '2', '--seed', '0',
                           '--cfg-options', f'train_dataloader.dataset.data_root={data_root}'],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout
    files = sorted(out.glob('*.png'))
    assert [f.name for f in files] == ['0000_train_000000.png', '0001_train_000001.png']
    part_colors = [part_color(j) for j in range(7)]
    for f in files:
        png = np.asarray(Image.open(f).convert('RGB'))
        assert png.shape[0] >= 384 and png.shape[1] >= 2 * 384, png.shape
        # the parts panel paints whole parts: more pixels in a part colour than 4 legend swatches (15 x 15)
        assert max(count_color(png, c) for c in part_colors) > 1000
        grey = (png[..., 0] == png[..., 1]) & (png[..., 1] == png[..., 2])
        assert 0.2 < grey.mean() < 0.9  # grey parts-panel background and white canvas, colour elsewhere
