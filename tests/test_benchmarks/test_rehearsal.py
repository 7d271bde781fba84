"""The paper-scale rehearsal (benchmarks/rehearsal.py, tools/rehearse.py, `make rehearsal`): its overrides on
every paper config, the marker that keeps a rehearsal run out of every number and every published file, and
the small version end to end through the make target's own command."""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import os.path as osp
import shlex
import shutil
import subprocess

import pandas as pd
import pytest
from mmengine.config import Config

from benchmarks import REPO, aggregate, metafiles, outputs, rehearsal, reproduce
from benchmarks.collect import PREFIX, REHEARSAL_KEY, collect, read_run
from benchmarks.paper import CONFIG_ROWS, METRIC_KEYS
from benchmarks.toy import TOY
from tapps_mm.engine.cli import add_common_args, merge_cfg_options
from tapps_mm.testing.repo import load_module

PASCAL_IN = 'tapps_r50_4xb4-60k_pascal-pp'  # Tables 1a, 2, 3, 5
TOY_TAPPS = osp.splitext(osp.basename(TOY.configs['tapps']))[0]


def _work_dir(path, stem: str, value: float, marked: bool, test: bool = False) -> str:
    """A finished run as mmengine writes it (training with its final evaluation, or a tools/test.py run), the
    dumped config marked as a rehearsal or not."""
    ts = '20250101_000000'
    os.makedirs(osp.join(path, ts, 'vis_data'), exist_ok=True)
    metrics = {PREFIX + k: value for k in METRIC_KEYS.values()}
    with open(osp.join(path, f'{stem}.py'), 'w') as f:
        f.write('train_cfg = dict(max_iters=2, val_interval=2)\nrandomness = dict(seed=0)\n'
                'default_hooks = dict(logger=dict(log_metric_by_epoch=False))\n'
                + (f"load_from = '{path}/iter_2.pth'\n" if test else '')
                + (f'{REHEARSAL_KEY} = True\n' if marked else ''))
    if test:
        with open(osp.join(path, ts, f'{ts}.json'), 'w') as f:
            json.dump(metrics, f)
    else:
        with open(osp.join(path, ts, 'vis_data', 'scalars.json'), 'w') as f:
            for it in (1, 2):
                f.write(json.dumps({'loss': 5.0, 'iter': it, 'step': it}) + '\n')
            f.write(json.dumps({**metrics, 'step': 2}) + '\n')
    with open(osp.join(path, ts, f'{ts}.log'), 'w') as f:
        f.write('2025/01/01 10:00:00 - mmengine - INFO - \n    seed: 0\n2025/01/01 10:01:00 - mmengine - INFO - done\n')
    return str(path)


def _digest(folder: str) -> dict[str, str]:
    return {p: hashlib.sha256(open(p, 'rb').read()).hexdigest() for p in sorted(glob.glob(osp.join(folder, '*')))
            if osp.isfile(p)}


def test_a_rehearsal_run_is_collected_marked_and_never_published(tmp_path):
    # the same files without the marker are a complete run with numbers: the marker alone hides them
    plain = read_run(_work_dir(tmp_path / 'plain', PASCAL_IN, 0.4321, marked=False))
    assert plain.complete and plain.metrics['PartPQ'] == 0.4321 and not plain.rehearsal
    root = tmp_path / 'runs'
    _work_dir(root / PASCAL_IN / 'train', PASCAL_IN, 0.4321, marked=True)
    _work_dir(root / PASCAL_IN / 'test', PASCAL_IN, 0.4321, marked=True, test=True)
    _work_dir(root / 'toy', TOY_TAPPS, 0.6543, marked=False)  # a real run collected beside it keeps its numbers
    runs = {(r.config, r.source): r for r in collect([str(root)])}
    train, test = runs[(PASCAL_IN, 'train')], runs[(PASCAL_IN, 'test')]
    assert (train.status, test.status) == ('rehearsal: evaluated at 2/2 it', 'rehearsal: tested at 2/2 it')
    assert train.rehearsal and test.rehearsal and train.metrics == test.metrics == {} and not train.per_image
    assert runs[(TOY_TAPPS, 'train')].complete

    out = tmp_path / 'out'
    frames = outputs.write_outputs(list(runs.values()), aggregate.table_rows(), str(out),
                                   outputs.meta_of(list(runs.values()), 'test', quick=False))
    cells = frames['results'][frames['results'].config == PASCAL_IN]
    assert set(cells.table) == {'1a', '2', '3', '5'} and (cells.n == 0).all() and cells['mean'].isna().all()
    assert cells.status.str.startswith('rehearsal: ').all()
    toy = frames['results'][(frames['results'].config == TOY_TAPPS) & (frames['results'].metric == 'PartPQ_All')]
    assert list(toy['mean']) == pytest.approx([65.43] * len(toy)) and len(toy)
    tables = (out / 'tables.md').read_text()
    assert 'REHEARSAL' in tables and 'rehearsal: ' in tables and '(paper 44.6)' in tables
    assert '43.2' not in tables and '43.2' not in (out / 'summary.md').read_text()
    assert json.loads((out / 'meta.json').read_text())['rehearsal'] == 2

    # never published: publish refuses, the command refuses --publish / --update-readme before writing, and
    # the metafiles would list nothing measured from such aggregates
    results_dir = tmp_path / 'results'
    with pytest.raises(outputs.RehearsalNotPublished, match='never published'):
        outputs.publish(str(out), str(results_dir))
    assert not results_dir.exists()
    published = _digest(outputs.RESULTS_DIR)
    tool = load_module('tools/reproduce_tables.py', 'reproduce_tables_tool')
    for flags in (['--publish'], ['--publish', '--update-readme']):
        assert reproduce.main(tool.parse_args(['--work-dirs', str(root), '--out', str(out / 'cli'), *flags])) == 2
    assert _digest(outputs.RESULTS_DIR) == published
    results = pd.read_csv(out / 'results.csv', dtype={'table': str})
    assert metafiles.measured_results(results, json.loads((out / 'meta.json').read_text())) == {}


def _parsed(options: list[str]) -> dict:
    """``--cfg-options`` as tools/train.py parses them (mmengine's DictAction)."""
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    add_common_args(parser)
    return parser.parse_args(['c.py', '--cfg-options', *options]).cfg_options


def test_every_paper_config_takes_the_rehearsal_overrides():
    assert sorted(rehearsal.FULL.configs) == sorted(CONFIG_ROWS) and len(CONFIG_ROWS) >= 20
    assert [CONFIG_ROWS[s].backbone for s in rehearsal.FULL.configs[:2]] == ['Swin-B', 'Swin-B']  # longest first
    for stem in rehearsal.FULL.configs:
        cfg = Config.fromfile(osp.join(REPO, rehearsal.config_file(stem)))
        applied = rehearsal.overrides(cfg, rehearsal.FULL, 'work_dirs/rehearsal/data/x/')
        options = [o.option for o in applied]
        assert all(o.why for o in applied) and not [o for o in options if 'pipeline' in o], stem
        merged = merge_cfg_options(Config.fromfile(osp.join(REPO, rehearsal.config_file(stem))), _parsed(options))
        # nothing to download, the real pipelines and models, a few iterations, the marker
        assert not merged.get('load_from') and not rehearsal._pretrained(merged.model.to_dict(), 'model'), stem
        assert merged.train_dataloader.dataset.pipeline == cfg.train_dataloader.dataset.pipeline
        assert merged.test_dataloader.dataset.pipeline == cfg.test_dataloader.dataset.pipeline
        assert merged.model.panoptic_head.num_queries == 100 and merged.model.train_cfg.num_points == 12544
        assert merged.train_cfg.max_iters == rehearsal.FULL.iters and merged[REHEARSAL_KEY] is True
        assert merged.default_hooks.input_shapes.type == 'InputShapesHook'
        assert ('load_from=None' in options) == bool(cfg.get('load_from')), stem
        assert rehearsal.cells(stem) and all(c.startswith('Table ') for c in rehearsal.cells(stem))
    # the small version's sizes, divided by 4 in the pipelines and expected so by the checks
    small = 'tapps_r50-cocopan_4xb4-90k_cityscapes-pp'
    cfg = Config.fromfile(osp.join(REPO, rehearsal.config_file(small)))
    merged = merge_cfg_options(cfg, _parsed([o.option for o in rehearsal.overrides(cfg, rehearsal.SMALL, 'd/')]))
    assert [t.get('crop_size') for t in merged.train_dataloader.dataset.pipeline if 'crop_size' in t] == [(256, 128)]
    sizes = rehearsal.SMALL.sizes(small)
    shapes = (sizes.image, sizes.train_input, rehearsal.expected_test_shape(sizes, sizes.image))
    assert shapes == ((256, 512), (128, 256), (256, 512))


def test_shape_checks_and_what_is_left_to_do():
    plan = rehearsal.Plan(configs=(PASCAL_IN,), iters=1, num_val=1)
    sizes = plan.sizes(PASCAL_IN)
    assert rehearsal.expected_test_shape(sizes, (375, 500)) == (800, 1067)  # shortest side 800
    sample = {'ori_shape': [375, 500], 'img_shape': [800, 1067]}
    good = {'train': [{'iter': 1, 'inputs': [1, 3, 1024, 1024], 'samples': [sample]}],
            'test': [{'iter': 0, 'inputs': [1, 3, 800, 1088], 'samples': [sample]}]}
    assert rehearsal.check_shapes(sizes, good, plan) == []
    swapped = {**good, 'train': [{'iter': 1, 'inputs': [1, 3, 1024, 512], 'samples': [sample]}]}
    [problem] = rehearsal.check_shapes(sizes, swapped, plan)
    assert '[1, 3, 1024, 512]' in problem and '[1, 3, 1024, 1024]' in problem
    assert rehearsal.check_shapes(sizes, {'train': [], 'test': []}, plan) == [
        '0 training batches recorded, 1 planned', '0 test batches recorded, 1 val image(s) written']
    record = {'plan': plan.fingerprint(), 'configs': {PASCAL_IN: {'status': 'complete'}}}
    assert rehearsal.todo(plan, record, force=False) == []
    assert rehearsal.todo(plan, record, force=True) == [PASCAL_IN]
    other = rehearsal.Plan(configs=plan.configs, iters=2)  # recorded under another plan: run again
    assert rehearsal.todo(other, record, force=False) == [PASCAL_IN]
    # a Swin-B config (14 GB) runs alone; R-50 ones two at a time
    swin, r50 = rehearsal.FULL.configs[0], [s for s in rehearsal.FULL.configs if not rehearsal.heavy(s)]
    assert rehearsal.heavy(swin) and rehearsal.next_config([swin, *r50], []) == swin
    assert rehearsal.next_config([swin, *r50], [r50[0]]) == r50[0]
    assert rehearsal.next_config(r50, [swin]) is None and rehearsal.next_config([], []) is None


def _make_command(args: str) -> list[str]:
    """The command `make rehearsal REHEARSAL_ARGS=...` runs (its last recipe line, printed by make -n)."""
    if not shutil.which('make'):
        pytest.skip('make is not installed')
    # --no-print-directory: under `make test` a nested make would print 'Entering directory' lines
    out = subprocess.run(['make', '--no-print-directory', '-n', 'rehearsal', f'REHEARSAL_ARGS={args}'], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()
    assert 'tools/rehearse.py' in out[-1], out
    return shlex.split(out[-1])


def test_small_rehearsal_through_the_make_target(tmp_path):
    """One Cityscapes-PP and one Pascal-PP config, trained, tested and collected through `make rehearsal`'s
    command; a second call finds both recorded complete and runs nothing."""
    root = tmp_path / 'rehearsal'
    cmd = _make_command(f'--small --root {root}')
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    record = json.loads((root / 'rehearsal.json').read_text())
    assert set(record['configs']) == set(rehearsal.SMALL.configs) and record['plan']['size_factor'] == 0.25
    assert REPO not in json.dumps(record)  # no path of this checkout in the record
    for stem, entry in record['configs'].items():
        assert entry['status'] == 'complete' and entry['checks'] == [], (stem, entry)
        assert entry['train']['iters'] == 1 and entry['train']['cpu_seconds'] > 0 and entry['test']['seconds'] > 0
        sizes = rehearsal.SMALL.sizes(stem)
        [batch] = entry['train']['batches']
        assert batch['inputs'] == '1x3x{}x{}'.format(*sizes.train_input)
        assert batch['samples'][0]['ori_shape'] == '{}x{}'.format(*sizes.image)
        assert {PREFIX + k for k in METRIC_KEYS.values()} - {PREFIX + 'obj_without_conflicts'} <= set(
            entry['test']['metric_keys'])
        assert entry['test']['collected_as'] == 'rehearsal: tested at 1/1 it'
        assert {c['table'] for c in entry['collected']} == set(CONFIG_ROWS[stem].variants)
        assert all(c['status'].startswith('rehearsal: ') for c in entry['collected'])
        assert f'+{REHEARSAL_KEY}=True' in entry['overrides'] and 'train_cfg.max_iters=1' in entry['overrides']
        assert all(rehearsal.option_key(o) in record['override_reasons'] for o in entry['overrides'])
    cityscapes, pascal = (record['configs'][s] for s in rehearsal.SMALL.configs)
    assert 'load_from=None' in cityscapes['overrides'] and any('SyncBN' in c for c in cityscapes['implicit'])
    assert 'model.backbone.init_cfg=None' in pascal['overrides']
    assert record['collection']['exit'] == 0 and record['collection']['numbers_shown'] == 0
    assert record['collection']['tables_marked']
    again = subprocess.run([*cmd, '--dry-run'], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert again.stdout.count('skip (recorded complete)') == 2 and 'tools/train.py' not in again.stdout


def test_the_paper_batch_sampler_gets_each_image_size(tmp_path):
    """The paper configs batch with mmdet's AspectRatioBatchSampler (detectron2's aspect-ratio grouping), which
    reads each sample's width and height: the datasets give them (the rehearsal found them missing)."""
    from mmdet.datasets.samplers import AspectRatioBatchSampler
    from mmengine.dataset import DefaultSampler

    from tapps_mm.datasets.pps_dataset import PascalPPSDataset
    from tapps_mm.testing.fake_datasets import write_fake_pascal_pp
    write_fake_pascal_pp(str(tmp_path), num_train=3, num_val=0, size=(96, 128))
    ds = PascalPPSDataset(data_root=str(tmp_path), split='training', pipeline=[])
    assert [(ds.get_data_info(i)['width'], ds.get_data_info(i)['height']) for i in range(len(ds))] == [(128, 96)] * 3
    batches = list(AspectRatioBatchSampler(DefaultSampler(ds, shuffle=False), batch_size=2))
    assert sorted(i for b in batches for i in b) == [0, 1, 2] and len(batches[0]) == 2
