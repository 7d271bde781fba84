"""Bad input says what is wrong, naming the file or the key (each case of issue 25, with its trigger)."""
from __future__ import annotations

import argparse
import json
import os.path as osp
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from mmengine.config import Config

from tapps_mm.testing.repo import REPO

TOY = osp.join(REPO, 'configs', 'tapps', 'tapps_r18-toy_1xb8-1000it_synthetic.py')


# ------------------------------------------------------------------------------ --cfg-options
def _load(*options: str):
    from tapps_mm.engine.cli import add_common_args, load_config
    p = argparse.ArgumentParser()
    p.add_argument('config')
    add_common_args(p)
    return load_config(p.parse_args([TOY, '--cfg-options', *options]))


def test_a_misspelt_cfg_option_names_the_closest_key():
    with pytest.raises(KeyError, match=r"model\.panoptic_head has no key 'num_querys'; did you mean "
                                       r"'model\.panoptic_head\.num_queries'"):
        _load('model.panoptic_head.num_querys=5')
    with pytest.raises(KeyError, match="the config has no key 'train_cfgs'"):
        _load('train_cfgs.max_iters=5')
    cfg = _load('model.panoptic_head.num_queries=5', 'param_scheduler.1.end=7', '+model.panoptic_head.extra=1')
    assert (cfg.model.panoptic_head.num_queries, cfg.param_scheduler[1].end, cfg.model.panoptic_head.extra) == (5, 7, 1)


# ------------------------------------------------------------------------------ duplicates
def test_inference_outputs_have_distinct_names():
    from tapps_mm.apis.inference import output_stems
    assert output_stems(['in/dup.png', 'in/dup.jpg', 'in/a.png']) == ['dup_png', 'dup_jpg', 'a']
    assert output_stems(['in/x/i.png', 'in/y/i.png']) == ['x__i', 'y__i']
    assert output_stems(['a.png', 'b.png']) == ['a', 'b']


def test_an_image_listed_twice_is_refused(tmp_path):
    from tapps_mm.pps_format import read_image_ids, write_images_json
    path = str(tmp_path / 'images.json')
    write_images_json(path, [dict(id='a', file_name='a.png'), dict(id='b', file_name='b.png'),
                             dict(id='a', file_name='a.png')])
    with pytest.raises(ValueError, match=r"images\.json: image ids listed more than once .*\['a'\]"):
        read_image_ids(path)


# ------------------------------------------------------------------------------ prediction files
def _png(path, width: int, height: int, depth: int, rows: bytes) -> None:
    """A minimal RGB PNG of the given bit depth (Pillow cannot write 16-bit RGB)."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b''.join(b'\x00' + rows[i * len(rows) // height:(i + 1) * len(rows) // height] for i in range(height))
    ihdr = struct.pack('>IIBBBBB', width, height, depth, 2, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def test_a_16_bit_prediction_is_named_as_such(tmp_path):
    from tapps_mm.pps_format import read_prediction
    path = tmp_path / 'p16.png'
    _png(path, 2, 2, 16, np.full(2 * 2 * 3, 24 * 256, '>u2').tobytes())
    with pytest.raises(ValueError, match='p16.png: expected an 8-bit 3-channel PNG .* 16 bits per channel'):
        read_prediction(str(path))
    _png(tmp_path / 'p8.png', 2, 2, 8, bytes([24, 1, 255] * 4))
    assert read_prediction(str(tmp_path / 'p8.png')).tolist() == [[[24, 1, 255]] * 2] * 2


# ------------------------------------------------------------------------------ collected runs
def test_a_nan_metric_is_a_failed_run(tmp_path):
    from benchmarks.collect import read_run
    from benchmarks.paper import METRIC_KEYS
    stem = 'tapps_r18-toy_1xb8-1000it_synthetic'
    run = tmp_path / stem / 'seed0'
    (run / '20260101_000000' / 'vis_data').mkdir(parents=True)
    (run / f'{stem}.py').write_text('train_cfg = dict(max_iters=2, val_interval=2)\nrandomness = dict(seed=0)\n'
                                    "default_hooks = dict(logger=dict(log_metric_by_epoch=False))\n")
    metrics = {f'pps/{k}': 0.5 for k in METRIC_KEYS.values()}
    metrics['pps/PartPQ'] = float('nan')
    lines = [dict(loss=1.0, iter=2, step=2), dict(metrics, step=2)]
    (run / '20260101_000000' / 'vis_data' / 'scalars.json').write_text(
        ''.join(json.dumps(r) + '\n' for r in lines))  # json writes NaN, as mmengine's does
    record = read_run(str(run))
    assert record.status.startswith('failed: PartPQ not finite in') and 'scalars.json' in record.status
    assert not record.complete and not record.metrics


@pytest.mark.parametrize('argv,message', [
    (['--seeds', '0'], "0 is not a count"), (['--seeds', '-1'], "-1 is not a count"),
    (['--jobs', '0'], "0 is not a count"), (['--jobs', '-2'], "-2 is not a count"),
    (['--partition', 'gpu\n#SBATCH --x'], 'is not a Slurm partition name')])
def test_reproduce_options_are_checked(argv, message, capsys):
    sys.path.insert(0, osp.join(REPO, 'tools'))
    try:
        import reproduce_tables
    finally:
        sys.path.pop(0)
    with pytest.raises(SystemExit):
        reproduce_tables.parse_args(argv)
    assert message in capsys.readouterr().err


def test_work_dirs_without_runs_are_refused(tmp_path):
    from benchmarks.collect import RunError, collect
    (tmp_path / 'empty').mkdir()
    with pytest.raises(RunError, match='empty: no run below it'):
        collect([str(tmp_path / 'empty')])


# ------------------------------------------------------------------------------ the toy's data, the checkout
def test_a_missing_toy_dataset_names_the_command_with_its_options(tmp_path):
    from mmengine.registry import init_default_scope

    from benchmarks.toy import TOY
    from tapps_mm.registry import DATASETS
    cfg = Config.fromfile(TOY.configs['tapps'])  # the one home of the toy's data: benchmarks.toy reads it there
    init_default_scope('tapps_mm')
    with pytest.raises(FileNotFoundError) as err:
        DATASETS.build({**cfg.train_dataloader.dataset, 'data_root': str(tmp_path / 'missing')})
    assert ' '.join(TOY.make_data).replace(TOY.data_root, str(tmp_path / 'missing')) in str(err.value)
    assert '--num-train 2000' in str(err.value) and '--twin-parts' in str(err.value)


def test_reproduce_uses_the_checkout_it_is_run_from(tmp_path):
    """A second checkout sharing this environment: its tools/reproduce_tables.py plans runs in itself."""
    other = tmp_path / 'other'
    for part in ('tools', 'benchmarks', 'tapps_mm', 'configs'):
        shutil.copytree(osp.join(REPO, part), other / part, ignore=shutil.ignore_patterns('__pycache__', 'results'))
    res = subprocess.run([sys.executable, str(other / 'tools' / 'reproduce_tables.py'), '--dry-run', '--seeds', '1'],
                         capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr[-2000:]
    assert f'[reproduce] checkout: {other}' in res.stdout
    assert str(other / 'tools' / 'train.py') in res.stdout
    assert osp.join(REPO, 'tools') not in res.stdout  # (the interpreter may live in this checkout's .venv)
