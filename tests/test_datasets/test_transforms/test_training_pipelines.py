"""Every training pipeline, run: what comes out is what detectron2's augmentations give the official TAPPS.

The pipelines are read from the config files and run on inputs built so the output shows what happened: a
noisy image (any resize kernel leaves its trace) and a label map whose value is each pixel's source
coordinate (``y * W + x``: crop offsets, flips and the nearest rule can be read back). They are compared
with ``tests/detectron2_restated.py``, detectron2's transforms restated, fed numpy's stream in detectron2's
order (the same seed gives the same draws: ``np.random.choice`` over the sizes and ``randint`` are one
integer draw, mmcv's flip and detectron2's are one uniform below 0.5, ``ResizeScale`` and
``FixedSizeCrop`` one uniform each). Sizes in this file are (height, width).
"""
from __future__ import annotations

import detectron2_restated as d2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import tapps_mm.registry  # noqa: F401
from tapps_mm.datasets.transforms import SSDPhotoMetricDistortion
from tapps_mm.registry import TRANSFORMS

CITYSCAPES = 'configs/tapps/tapps_r50_4xb4-90k_cityscapes-pp.py'
CITYSCAPES_BASELINE = 'configs/baseline/baseline_r50_4xb4-90k_cityscapes-pp.py'
PASCAL = 'configs/tapps/tapps_r50_4xb4-60k_pascal-pp.py'
PASCAL_107 = 'configs/tapps/tapps_r50-cocopan_4xb4-10k_pascal-pp107.py'
TOY = 'configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'
#: detectron2's MIN_SIZE_TRAIN of Base-Cityscapes-PPS.yaml: [int(x * 0.1 * 1024) for x in range(5, 21)]
CITYSCAPES_SHORT_SIDES = [512, 614, 716, 819, 921, 1024, 1126, 1228, 1331, 1433, 1536, 1638, 1740, 1843, 1945, 2048]


def augmentations(config: str, skip: tuple[str, ...] = ()) -> list:
    """The config's training transforms between loading and packing, built."""
    init_default_scope('tapps_mm')
    pipeline = Config.fromfile(config).train_dataloader.dataset.pipeline
    return [TRANSFORMS.build(t) for t in pipeline
            if t['type'] not in ('LoadImageFromFile', 'LoadPPSAnnotations', 'PackPPSInputs') + skip]


def run(transforms: list, img: np.ndarray, labels: np.ndarray) -> dict:
    results = dict(img=img.copy(), gt_seg_map=labels.copy(), seg_fields=['gt_seg_map'], img_shape=img.shape[:2],
                   ori_shape=img.shape[:2])
    for t in transforms:
        results = t(results)
    return results


def noisy_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 120, w)[None, :, None] + np.linspace(0, 60, h)[:, None, None]
    return np.clip(ramp + rng.integers(0, 120, (h, w, 3)), 0, 255).astype(np.uint8)


def coordinates(h: int, w: int) -> np.ndarray:
    """Label map whose value is the pixel's source coordinate y * w + x (int32, as our target codes)."""
    return np.arange(h * w, dtype=np.int32).reshape(h, w)


def d2_cityscapes(img: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The official Cityscapes-PP geometry: ResizeShortestEdge('choice', max 4096), RandomCrop 512x1024,
    RandomFlip (the colour step draws from Python's ``random``, not numpy's, and is left out)."""
    h, w = img.shape[:2]
    size = np.random.choice(CITYSCAPES_SHORT_SIDES)
    hw = d2.shortest_edge_hw(h, w, size, 4096)
    img, labels = d2.resize(img, hw), d2.pil_nearest(labels, hw)
    y0, x0 = d2.random_crop_offset(hw, (512, 1024))
    img, labels = img[y0:y0 + 512, x0:x0 + 1024], labels[y0:y0 + 512, x0:x0 + 1024]
    if np.random.uniform(0.0, 1.0) < 0.5:
        img, labels = img[:, ::-1], labels[:, ::-1]
    return img, labels


def d2_pascal(img: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The official Pascal-PP geometry: RandomFlip, ResizeScale(0.1, 2.0, 1024x1024), FixedSizeCrop 1024x1024
    padded with 128 (image) / 255 (labels)."""
    if np.random.uniform(0.0, 1.0) < 0.5:
        img, labels = img[:, ::-1], labels[:, ::-1]
    hw = d2.resize_scale_hw(img.shape[:2], np.random.uniform(0.1, 2.0), (1024, 1024))
    img, labels = d2.resize(np.ascontiguousarray(img), hw), d2.pil_nearest(np.ascontiguousarray(labels), hw)
    u = np.random.uniform(0.0, 1.0)
    return d2.fixed_size_crop(img, (1024, 1024), u, 128), d2.fixed_size_crop(labels, (1024, 1024), u, 255)


@pytest.mark.parametrize('config', [CITYSCAPES, CITYSCAPES_BASELINE])
def test_cityscapes_geometry_is_detectron2s(config):
    """Every crop of a 1024x2048 image is 512 high and 1024 wide; image (PIL bilinear) and labels (PIL's
    nearest rule) equal detectron2's for the same draws; all 16 short sides and both flips occur."""
    transforms = augmentations(config, skip=('SSDPhotoMetricDistortion',))
    img, labels = noisy_image(1024, 2048), coordinates(1024, 2048)
    sizes, flips, offsets = set(), set(), set()
    for seed in range(40):
        np.random.seed(seed)
        out = run(transforms, img, labels)
        np.random.seed(seed)
        ref_img, ref_labels = d2_cityscapes(img, labels)
        assert out['img'].shape == (512, 1024, 3) and out['gt_seg_map'].shape == (512, 1024), seed
        np.testing.assert_array_equal(out['gt_seg_map'], ref_labels)
        np.testing.assert_array_equal(out['img'], ref_img)
        sizes.add(out['scale'])
        flips.add(out['flip'])
        offsets.add(int(out['gt_seg_map'][0, 0 if not out['flip'] else -1]))
    assert len(sizes) >= 12 and flips == {True, False} and len(offsets) > 30


def test_cityscapes_colour_is_detectron2s_ssd_augmentation():
    """SSD colour augmentation with the draws our transform made equals detectron2's; the hue shift takes
    every integer in [-18, 18] (mmseg's own transform never shifts by +18); no channel is ever swapped."""
    (colour,) = [t for t in augmentations(CITYSCAPES) if isinstance(t, SSDPhotoMetricDistortion)]
    img = noisy_image(24, 32)
    shifts = []
    draws: list = []

    def recording(fn):
        def draw(*args, **kwargs):
            value = fn(*args, **kwargs)
            draws.append(value)
            if fn is real_randint and args[:1] == (-18,):
                shifts.append(int(value))
            return value
        return draw

    real_randint, real_uniform = np.random.randint, np.random.uniform
    mp = pytest.MonkeyPatch()
    mp.setattr(np.random, 'randint', recording(real_randint))
    mp.setattr(np.random, 'uniform', recording(real_uniform))
    try:
        for seed in range(1500):
            np.random.seed(seed)
            draws.clear()
            out = colour(dict(img=img.copy()))['img']
            ref = d2.ColorAugSSD(list(draws))(img.copy())
            np.testing.assert_array_equal(out, ref, err_msg=f'seed {seed}')
    finally:
        mp.undo()
    assert set(shifts) == set(range(-18, 19))


@pytest.mark.parametrize('config', [PASCAL, PASCAL_107])
def test_pascal_geometry_is_detectron2s(config):
    """Flip, LSJ and FixedSizeCrop equal detectron2's for the same draws on a ~500x375 image: every output is
    1024x1024, padded with 128 / void, resized with PIL's kernels."""
    transforms = augmentations(config)
    img, labels = noisy_image(375, 500), coordinates(375, 500)
    padded = cropped = 0
    for seed in range(30):
        np.random.seed(seed)
        out = run(transforms, img, labels)
        np.random.seed(seed)
        ref_img, ref_labels = d2_pascal(img, labels)
        assert out['img'].shape == (1024, 1024, 3) and out['gt_seg_map'].shape == (1024, 1024)
        np.testing.assert_array_equal(out['gt_seg_map'], ref_labels)
        np.testing.assert_array_equal(out['img'], ref_img)
        padded += int((out['gt_seg_map'] == 255).any())
        cropped += int(max(out['img_shape']) == 1024)
    assert padded and cropped  # both branches reached


def test_pascal_crop_offsets_lie_on_the_diagonal():
    """One uniform draw places the crop on both axes: read from the coordinate labels, y0 / (H - 1024) equals
    x0 / (W - 1024) up to rounding, and the fraction covers [0, 1] (mmdet's RandomCrop draws each axis)."""
    (crop,) = [t for t in augmentations(PASCAL) if type(t).__name__ == 'FixedSizeCrop']
    h, w = 1400, 2600
    labels = coordinates(h, w)
    fractions = []
    for seed in range(200):
        np.random.seed(seed)
        out = crop(dict(img=np.zeros((h, w, 3), np.uint8), gt_seg_map=labels.copy(), seg_fields=['gt_seg_map'],
                        img_shape=(h, w)))
        y0, x0 = divmod(int(out['gt_seg_map'][0, 0]), w)
        u = x0 / (w - 1024)
        assert abs(y0 - u * (h - 1024)) <= 1.0, (seed, y0, x0)
        fractions.append(u)
    assert min(fractions) < 0.05 and max(fractions) > 0.95


def test_training_resize_is_pils_bilinear():
    """Shrinking and enlarging a noisy image: our training resize equals PIL's bilinear (antialiased when
    shrinking); mmdet's default (OpenCV's) does not: the test can tell them apart."""
    init_default_scope('tapps_mm')
    img = noisy_image(300, 400)
    for hw in ((97, 131), (600, 800)):
        ours = TRANSFORMS.build(dict(type='PILResize', scale=hw[::-1], keep_ratio=False))(
            dict(img=img.copy(), img_shape=img.shape[:2]))['img']
        np.testing.assert_array_equal(ours, d2.resize(img, hw))
    opencv = TRANSFORMS.build(dict(type='Resize', scale=(131, 97), keep_ratio=False))(dict(img=img.copy()))['img']
    assert np.abs(opencv.astype(int) - d2.resize(img, (97, 131)).astype(int)).mean() > 5


def test_label_resize_is_pils_nearest_rule():
    """Labels follow PIL's nearest rule (pixel centres), the official panoptic labels' (uint8 PNG through
    PIL); torch's 'nearest' (the official part labels' path, a float map) rounds down instead and differs."""
    from tapps_mm.datasets.transforms.augmentation import resize_nearest
    labels = coordinates(90, 120)
    for hw in ((37, 53), (200, 250)):
        np.testing.assert_array_equal(resize_nearest(labels, hw), d2.pil_nearest(labels, hw))
    torch_nearest = d2.resize(labels.astype(np.float64), (37, 53), nearest=True)
    assert (torch_nearest != d2.pil_nearest(labels, (37, 53))).any()


def test_toy_pipeline_does_what_its_config_says():
    """The toy's own augmentation (no official counterpart): flip, a ratio-preserving PIL resize of 0.75-1.5,
    a 64x64 crop (padded by the model when smaller); image and labels keep one geometry."""
    transforms = augmentations(TOY)
    img, labels = noisy_image(64, 64), coordinates(64, 64)
    ratios = set()
    for seed in range(30):
        np.random.seed(seed)
        out = run(transforms[:2], img, labels)  # flip, resize
        h, w = out['img_shape']
        src = img[:, ::-1] if out['flip'] else img
        np.testing.assert_array_equal(out['img'], d2.resize(np.ascontiguousarray(src), (h, w)))
        ratios.add(round(h / 64, 2))
        out = transforms[2](out)  # crop
        assert out['img'].shape[:2] == out['gt_seg_map'].shape == (min(h, 64), min(w, 64))
    assert min(ratios) < 0.85 and max(ratios) > 1.35
