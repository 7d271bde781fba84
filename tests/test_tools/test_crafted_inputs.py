"""What careful attacks and careless users found (issue 35), each crafted as in the probe: every one ends in an
error that names the file, id or key, and no file is written outside the folder it was meant for.

1. image ids that are paths (``../../escape/x``, absolute) in images.json or a data sample;
2. a checkpoint whose values are numpy arrays or sparse tensors (the copy fails, mmengine only logs it);
3. URL checkpoints: the cache keyed by URL, a download cut short never cached;
4. prediction folders claimed by one run (a manifest; mixed or unfinished folders refused);
7. a schedule of no iterations, an empty images.json, ``--out res.json``;
8. crafted numpy in a ``.pkl`` given to the model converter;
10. per-image statistics files with odd arrays, images that declare too many pixels;
11. ``--per-image-out`` without ``.npz``;
12. a URL given to tools/test.py.
(5, 6, 9 and the collector's part of 10: tests/test_benchmarks/test_collect_bad_runs.py; the make targets:
tests/test_tools/test_make_targets.py.)
"""
from __future__ import annotations

import copy
import functools
import http.server
import json
import os
import os.path as osp
import pickle
import shutil
import struct
import subprocess
import sys
import threading
import zlib

import numpy as np
import pytest
import torch
from mmengine.config import Config

from tapps_mm.evaluation import evaluate_pps
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.evaluation.prediction_folder import MANIFEST, PredictionFolderError, claim, finish, new_run_id, verify
from tapps_mm.pps_format import read_image_ids, read_label, read_prediction, write_prediction
from tapps_mm.registry import RUNNERS
from tapps_mm.specs import load_spec
from tapps_mm.testing.launch import poly_schedule
from tapps_mm.testing.pps_cases import prediction_from_gt, random_gt, write_case_folder
from tapps_mm.testing.repo import REPO, load_module

TOY = osp.join(REPO, 'configs', 'tapps', 'tapps_r18-toy_1xb8-1000it_synthetic.py')
ESCAPES = ['../../escape/x', '/tmp/abs/x', 'a\\b', '..', '', 'a\x00b']


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny toy config on 2 + 2 synthetic images, trained 1 iteration in process: (config path, checkpoint)."""
    from tapps_mm.datasets.synthetic_pp import write_synthetic_pp
    root = tmp_path_factory.mktemp('crafted')
    data = str(root / 'data') + '/'
    write_synthetic_pp(data, num_train=2, num_val=2, size=(64, 64), progress=False)
    cfg = Config.fromfile(TOY)
    cfg.work_dir = str(root / 'train')
    cfg.model.panoptic_head.transformer_decoder.num_layers = 2
    cfg.model.panoptic_head.num_queries = 8
    cfg.model.train_cfg.num_points = 256
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False, batch_size=2)
        cfg[loader].dataset.data_root = data
    cfg.train_dataloader.dataset.pipeline[3].update(scale=(64, 64))
    cfg.train_dataloader.dataset.pipeline[4].update(crop_size=(64, 64))
    cfg.val_dataloader.dataset.pipeline[1].update(scale=(64, 64))
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.update(max_iters=1, val_interval=1)
    cfg.param_scheduler = poly_schedule(1)
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.pop('visualization')
    cfg.log_level = 'WARNING'
    RUNNERS.build(copy.deepcopy(cfg)).train()
    path = str(root / 'tiny.py')
    cfg.dump(path)
    return path, osp.join(cfg.work_dir, 'iter_1.pth'), data


def _test_tool(config: str, checkpoint: str, work_dir, *flags: str):
    tool = load_module('tools/test.py', 'tool_test_crafted')
    tool.main([config, checkpoint, '--work-dir', str(work_dir), *flags])


@pytest.fixture
def served(tmp_path):
    """A loopback http server of ``tmp_path / 'www'``; ``/cut/<name>`` sends the first half of the file with no
    Content-Length (a download cut short by a server that gives no length)."""
    root = tmp_path / 'www'
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith('/cut/'):
                data = (root / self.path[len('/cut/'):]).read_bytes()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(data[:len(data) // 2])
                self.close_connection = True
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


@pytest.fixture
def case(tmp_path):
    spec = load_spec('cityscapes')
    rng = np.random.default_rng(3)
    gts = [random_gt(spec, rng, 32, 48, num_things=4) for _ in range(3)]
    return write_case_folder(str(tmp_path / 'case'), gts, [prediction_from_gt(spec, g, rng, noise=0.5) for g in gts])


# ------------------------------------------------------------------------------------------ 1. ids as paths
@pytest.mark.parametrize('bad', ESCAPES)
def test_an_image_id_that_is_a_path_is_refused_naming_it_and_its_file(bad, tmp_path):
    path = tmp_path / 'images.json'
    path.write_text(json.dumps({'images': [{'id': 'fine', 'file_name': 'fine.png'}, {'id': bad, 'file_name': 'x'}]}))
    with pytest.raises(ValueError, match=rf'{path}: image id .* cannot name a file'):
        read_image_ids(str(path))


def test_test_tool_never_writes_outside_out_for_a_crafted_id(tiny, tmp_path):
    """The probe: an images.json whose id climbs out of the dataset; the run is refused before anything is
    written, the dataset checker reports the id, and the metric refuses such an id from any dataset."""
    from tapps_mm.datasets.check import check_dataset
    from tapps_mm.evaluation.metrics import PartPQMetric
    config, checkpoint, data = tiny
    crafted = tmp_path / 'data'
    shutil.copytree(data, crafted)
    ann = crafted / 'images_val.json'
    images = json.loads(ann.read_text())
    images['images'][0]['id'] = '../../escape/x'
    ann.write_text(json.dumps(images))
    (crafted / 'escape').mkdir()  # the files the id points at exist, as in the probe (else it fails late)
    shutil.copy(crafted / 'images' / 'val' / 'val_000000.png', crafted / 'escape' / 'x.png')
    shutil.copy(crafted / 'labels' / 'val' / 'val_000000.tif', crafted / 'escape' / 'x.tif')
    out = tmp_path / 'out'
    (tmp_path / 'escape').mkdir()  # an unrelated folder where out/predictions/../../escape/x.png would land
    (tmp_path / 'escape' / 'x.png').write_bytes(b'precious')
    with pytest.raises(ValueError, match=r"images_val.json: image id '\.\./\.\./escape/x' cannot name a file"):
        _test_tool(config, checkpoint, tmp_path / 'work', '--out', str(out),
                   '--cfg-options', f'test_dataloader.dataset.data_root={crafted}/')
    assert (tmp_path / 'escape' / 'x.png').read_bytes() == b'precious' and not out.exists()
    report = check_dataset(str(crafted), 'synthetic', progress=False)
    assert any('../../escape/x' in e.message and 'images_val.json' in e.message for e in report.errors)
    metric = PartPQMetric(spec=str(crafted / 'evalspec.yaml'), outfile_prefix=str(out))
    sample = {'pps_label_path': str(crafted / 'labels' / 'val' / 'val_000001.tif'), 'pps_image_id': '../escape',
              'pred_pps': np.zeros((3, 64, 64), np.uint8)}
    with pytest.raises(ValueError, match=r"data sample of .*val_000001.tif: image id '\.\./escape' cannot name"):
        metric.process({}, [sample])
    assert not (tmp_path / 'escape.png').exists()


# ------------------------------------------------------------------------------------------ 2. values that do not copy
def test_a_checkpoint_of_numpy_arrays_or_sparse_tensors_is_not_scored(tiny, tmp_path):
    config, checkpoint, _ = tiny
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    as_numpy = tmp_path / 'numpy.pth'
    torch.save({'state_dict': {k: v.numpy() for k, v in state.items()}}, as_numpy)
    with pytest.raises(RuntimeError, match=r'numpy.pth: \d+ values are not dense tensors .*numpy.ndarray'):
        _test_tool(config, str(as_numpy), tmp_path / 'a')
    name = next(k for k, v in state.items() if v.dim() == 2)
    rows, cols = state[name].shape
    sparse = torch.sparse_coo_tensor(torch.tensor([[rows + 5], [0]]), torch.ones(1), (rows, cols),
                                     check_invariants=False)  # an index out of range
    torch.save({'state_dict': {**state, name: sparse}}, tmp_path / 'sparse.pth')
    with pytest.raises(Exception, match=r'sparse.pth'):  # refused on load (torch checks it) or by the hook
        _test_tool(config, str(tmp_path / 'sparse.pth'), tmp_path / 'b')
    assert not any(f.endswith('.json') for _, _, fs in os.walk(tmp_path / 'b') for f in fs)  # nothing scored


def test_a_copy_that_failed_silently_stops_the_run():
    """Whatever mmengine failed to copy (it only logs it): the hook compares the model with the checkpoint."""
    from types import SimpleNamespace

    from tapps_mm.engine import CheckpointMatchHook
    model = torch.nn.Linear(2, 2)
    runner = SimpleNamespace(model=model, _load_from='ckpt.pth')
    hook = CheckpointMatchHook(strict=True)
    bias = model.bias.detach().clone()  # what the model already holds: copied or not, the same
    hook.after_load_checkpoint(runner, {'state_dict': {'weight': torch.full((2, 2), 7.0), 'bias': bias}})
    with pytest.raises(RuntimeError, match=r'ckpt.pth: 1/2 tensors did not reach the model.*weight'):
        hook.before_test(runner)  # the copy never happened
    nan = {'weight': torch.full((2, 2), float('nan')), 'bias': torch.zeros(2)}
    hook.after_load_checkpoint(runner, {'state_dict': nan})
    model.load_state_dict(nan)
    hook.before_test(runner)  # a NaN checkpoint that did load is not a failed copy


# ------------------------------------------------------------------------------------------ 3. URL checkpoints
def test_url_checkpoints_are_cached_by_url_and_only_when_complete(served, tmp_path, monkeypatch):
    from tapps_mm.engine.safe_load import load_checkpoint_url
    root, url = served
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    for folder, value in (('a', 1.0), ('b', 2.0)):
        (root / folder).mkdir()
        torch.save({'state_dict': {'w': torch.full((64,), value)}}, root / folder / 'model.pth')
    assert load_checkpoint_url(f'{url}/a/model.pth')['state_dict']['w'][0] == 1.0
    assert load_checkpoint_url(f'{url}/b/model.pth')['state_dict']['w'][0] == 2.0  # not A's cached weights
    torch.save({'state_dict': {'w': torch.ones(10_000)}}, root / 'big.pth')
    with pytest.raises(ValueError, match=r'big.pth: the download is not a readable checkpoint \(cut short\?\); '
                                         'nothing was cached'):
        load_checkpoint_url(f'{url}/cut/big.pth')
    from tapps_mm.engine.safe_load import url_cache_path
    cached = url_cache_path(f'{url}/cut/big.pth')
    assert not os.listdir(osp.dirname(cached))  # neither the file nor a partial one


# ------------------------------------------------------------------------------------------ 4. prediction folders
def _metric_run(tiny, out, run_id=None):
    """What tools/test.py does to --out: claim it, then the metric writes and lists its files."""
    from tapps_mm.evaluation.metrics import PartPQMetric
    _, _, data = tiny
    metric = PartPQMetric(spec=data + 'evalspec.yaml', outfile_prefix=str(out), format_only=True,
                          outfile_run=run_id)
    for i in range(2):
        label = f'{data}labels/val/val_{i:06d}.tif'
        metric.process({}, [{'pps_label_path': label, 'pred_pps': np.full((3, 64, 64), 255, np.uint8)}])
    return metric


def test_a_prediction_folder_belongs_to_one_run(tiny, tmp_path):
    _, _, data = tiny
    out = tmp_path / 'out'
    first = new_run_id()
    claim(str(out), first)
    metric = _metric_run(tiny, out, first)
    metric.compute_metrics(metric.results)
    assert verify(str(out))['run'] == first
    # a second run into the same --out: refused, unless the old run's files are replaced whole
    with pytest.raises(PredictionFolderError, match=r'out: --out already holds files .*--overwrite-out'):
        claim(str(out), new_run_id())
    # a killed rerun (claimed, some files written, no manifest of the end): refused as unfinished
    second = new_run_id()
    claim(str(out), second, overwrite=True)
    assert os.listdir(out) == [MANIFEST]  # the old run's files are gone, whole
    (out / 'predictions').mkdir()
    write_prediction(str(out / 'predictions' / 'val_000000.png'), np.zeros((3, 64, 64), np.uint8))
    with pytest.raises(PredictionFolderError, match=rf'predictions of run {second} are unfinished'):
        evaluate_pps(data + 'labels/val', str(out / 'predictions'), data + 'images_val.json', data + 'evalspec.yaml',
                     progress=False)
    # two runs at once: the one that finishes sees the other's claim; a file of another run is named
    metric = _metric_run(tiny, out, second)
    claim_of_other = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**claim_of_other, 'run': 'other'}))
    with pytest.raises(PredictionFolderError, match=rf'claimed by another run \(other\) while this one \({second}\)'):
        metric.compute_metrics(metric.results)
    (out / MANIFEST).write_text(json.dumps(claim_of_other))
    metric.compute_metrics(metric.results)
    write_prediction(str(out / 'predictions' / 'val_000001.png'), np.zeros((3, 64, 64), np.uint8))
    (out / 'predictions' / 'val_000009.png').write_bytes(b'')
    with pytest.raises(PredictionFolderError, match=r'mixed here .*val_000009.png is not of this run.*'
                                                    r'val_000001.png was written by another run'):
        evaluate_pps(data + 'labels/val', str(out / 'predictions'), data + 'images_val.json', data + 'evalspec.yaml',
                     progress=False)
    # replacing refuses a folder with files a prediction run does not write
    (out / 'notes.txt').write_text('mine')
    with pytest.raises(PredictionFolderError, match=r'not replaced: it holds files .*notes.txt'):
        claim(str(out), new_run_id(), overwrite=True)
    assert (out / 'notes.txt').read_text() == 'mine'


def test_test_tool_claims_out_and_evaluate_pps_reads_its_folder(tiny, tmp_path):
    config, checkpoint, data = tiny
    out = tmp_path / 'out'
    _test_tool(config, checkpoint, tmp_path / 'w1', '--out', str(out))
    manifest = verify(str(out))
    assert sorted(manifest['files']) == ['images.json', 'pps_results.json', 'predictions/val_000000.png',
                                         'predictions/val_000001.png']
    saved = json.loads((out / 'pps_results.json').read_text())
    again = evaluate_pps(data + 'labels/val', str(out / 'predictions'), str(out / 'images.json'),
                         data + 'evalspec.yaml', progress=False)
    assert again['PartPQ'] == saved['PartPQ']
    with pytest.raises(PredictionFolderError, match='--out already holds files'):
        _test_tool(config, checkpoint, tmp_path / 'w2', '--out', str(out))
    _test_tool(config, checkpoint, tmp_path / 'w3', '--out', str(out), '--overwrite-out')
    assert verify(str(out))['run'] != manifest['run']


def test_finish_refuses_unlisted_paths_in_a_manifest(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps({'run': 'r', 'complete': True, 'files': {'../x.png': 'ab'}}))
    with pytest.raises(PredictionFolderError, match=r"lists '\.\./x\.png', which is not a file inside its folder"):
        verify(str(tmp_path))
    (tmp_path / 'new').mkdir()
    finish(str(tmp_path / 'new'), None, {})
    assert verify(str(tmp_path / 'new'))['run'] == 'unclaimed'


# ------------------------------------------------------------------------------------------ 7. nothing done, exit 0
def test_nothing_to_do_is_an_error(tiny, tmp_path, case):
    config, checkpoint, _ = tiny
    train = load_module('tools/train.py', 'tool_train_crafted')
    with pytest.raises(ValueError, match=r'tiny.py: train_cfg.max_iters = 0: a run must train at least one iter'):
        train.build_config(train.parse_args([config, '--cfg-options', 'train_cfg.max_iters=0']))
    empty = tmp_path / 'empty.json'
    empty.write_text('{"images": []}')
    with pytest.raises(ValueError, match=r'empty.json: lists no image'):
        evaluate_pps(case[0], case[1], str(empty), 'cityscapes', progress=False)
    test = load_module('tools/test.py', 'tool_test_crafted')
    with pytest.raises(ValueError, match=r'--out .*res.json: looks like a file; --out takes a folder'):
        test.build_config(test.parse_args([config, checkpoint, '--out', str(tmp_path / 'res.json')]))
    assert not (tmp_path / 'res.json').exists()


# ------------------------------------------------------------------------------------------ 8. converters
def _flagged_pickle(path) -> None:
    """A float32 array whose dtype state sets the 'has objects' flags (63 instead of 0)."""
    raw = pickle.dumps({'model': {'w': np.zeros(3, 'f4')}}, protocol=2)
    marker = b'J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t'
    assert marker in raw
    path.write_bytes(raw.replace(marker, marker[:-2] + b'\x3ft'))


def test_model_converter_refuses_crafted_numpy_naming_the_file(tmp_path):
    crafted = {'object': np.array([1, 'x'], dtype=object), 'structured': np.zeros(2, dtype=[('x', 'f4'), ('o', 'O')])}
    paths = []
    for name, array in crafted.items():
        paths.append(tmp_path / f'{name}.pkl')
        with open(paths[-1], 'wb') as f:
            pickle.dump({'model': {'w': array}}, f, protocol=2)
    paths.append(tmp_path / 'flags.pkl')
    _flagged_pickle(paths[-1])
    config = osp.join(REPO, 'configs', 'tapps', 'tapps_r50_4xb4-60k_pascal-pp107.py')
    for path in paths:
        res = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'model_converters', 'tapps_d2_to_mm.py'),
                              str(path), str(tmp_path / 'out.pth'), '--config', config],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 1, (res.returncode, res.stderr[-2000:])  # not 139 (a segfault)
        assert f'{path}: not converted' in res.stderr and 'refused to load' in res.stderr
        assert 'Traceback' not in res.stderr
    assert not (tmp_path / 'out.pth').exists()


# ------------------------------------------------------------------------------------------ 10. odd files
def _npz(path, **overrides) -> str:
    arrays = {'image_id': np.array(['a', 'b']), 'version': np.asarray(1), 'spec': np.asarray('x'),
              'num_objects': np.zeros(2, np.int64), 'num_conflicts': np.zeros(2, np.int64)}
    from tapps_mm.evaluation.per_image import STAT_FIELDS
    arrays.update({k: np.zeros((2, 3)) for k in STAT_FIELDS})
    arrays.update(overrides)
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize('overrides,message', [
    (dict(version=np.ones((2, 2), np.int64)), 'version'),
    (dict(version=np.asarray(np.nan)), 'version'),
    (dict(image_id=np.asarray('a')), 'image_id must be a 1-d array'),
    (dict(tp=np.asarray(3)), 'one row per image'),
    (dict(tp=np.full((2, 3), np.inf)), 'not finite non-negative'),
    (dict(fp=np.full((2, 3), -1)), 'not finite non-negative'),
])
def test_odd_per_image_files_are_named(overrides, message, tmp_path):
    path = _npz(tmp_path / 'stats.npz', **overrides)
    with pytest.raises(ValueError, match=rf'{path}: .*{message}'):
        PerImageStats.load(path)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def _huge_png(path, width=16000, height=16000) -> str:
    """A tiny file whose header declares an 8-bit RGB image of width x height (8 GB to decode as the probe's)."""
    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    data = b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', header) + _chunk(b'IDAT', zlib.compress(b'\0' * 1000)) \
        + _chunk(b'IEND', b'')
    path.write_bytes(data)
    return str(path)


def _huge_tiff(path, width=20000, height=20000) -> str:
    """A tiny int32 TIFF whose header declares width x height pixels (over Pillow's own limit)."""
    tags = [(256, 4, width), (257, 4, height), (258, 3, 32), (259, 3, 1), (262, 3, 1), (273, 4, 8),
            (277, 3, 1), (278, 4, height), (279, 4, width * height * 4), (339, 3, 2)]
    ifd = struct.pack('<H', len(tags)) + b''.join(struct.pack('<HHII', t, k, 1, v) for t, k, v in tags) + b'\0' * 4
    path.write_bytes(b'II*\0' + struct.pack('<I', 8 + 64) + b'\0' * 64 + ifd)
    return str(path)


def test_images_that_declare_too_many_pixels_are_refused_before_decoding(tmp_path, monkeypatch):
    png, tif = _huge_png(tmp_path / 'huge.png'), _huge_tiff(tmp_path / 'huge.tif')
    with pytest.raises(ValueError, match=rf'{png}: 16000 x 16000 pixels is more than the limit .*'
                                         'TAPPS_MM_MAX_IMAGE_PIXELS'):
        read_prediction(png)
    with pytest.raises(ValueError, match=rf'{tif}: 20000 x 20000 pixels is more than the limit'):
        read_label(tif)
    # the limit is the user's: raised, the header passes and the (absent) data is what fails, still named
    monkeypatch.setenv('TAPPS_MM_MAX_IMAGE_PIXELS', str(20000 * 20000))
    with pytest.raises(ValueError, match=rf'{tif}: cannot decode the image'):
        read_label(tif)
    monkeypatch.setenv('TAPPS_MM_MAX_IMAGE_PIXELS', '100')
    small = tmp_path / 'small.png'
    write_prediction(str(small), np.zeros((3, 16, 16), np.uint8))
    with pytest.raises(ValueError, match=r'small.png: 16 x 16 pixels is more than the limit of 100'):
        read_prediction(str(small))


# ------------------------------------------------------------------------------------------ 11. --per-image-out
def test_per_image_out_without_npz_is_written_and_out_too(case, tmp_path):
    out, stats = tmp_path / 'res.json', tmp_path / 'stats'
    res = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'evaluate_pps.py'), *case, '--out', str(out),
                          '--per-image-out', str(stats)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(out.read_text())['num_images'] == 3 and len(PerImageStats.load(str(stats))) == 3
    assert sorted(os.listdir(tmp_path)) == ['case', 'res.json', 'stats']  # no stray temporary file
    res = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'evaluate_pps.py'), *case,
                          '--per-image-out', str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and f'--per-image-out {tmp_path}: is a folder' in res.stderr


# ------------------------------------------------------------------------------------------ 12. a URL to tools/test.py
def test_test_tool_takes_a_url(tiny, served, tmp_path, monkeypatch):
    config, checkpoint, _ = tiny
    root, url = served
    monkeypatch.setattr(torch.hub, '_hub_dir', str(tmp_path / 'hub'))
    (root / 'tiny.pth').write_bytes(open(checkpoint, 'rb').read())
    _test_tool(config, f'{url}/tiny.pth', tmp_path / 'work')
    (result,) = [f for f in os.listdir(tmp_path / 'work') if not f.endswith('.py')]
    assert json.loads((tmp_path / 'work' / result / f'{result}.json').read_text())['pps/num_images'] == 2
