"""Cost of mmdet's plain Mask2Former, TAPPS and the separate-part-queries baseline, side by side.

    python benchmarks/bench_model_cost.py --out benchmarks/results/model_cost.json   # toy + paper crop (CPU)
    python benchmarks/bench_model_cost.py --scales toy --repeats 5
    python benchmarks/bench_model_cost.py --config configs/tapps/tapps_r50_4xb4-60k_pascal-pp.py \
        --baseline-config configs/baseline/baseline_r50_4xb4-60k_pascal-pp.py --dataset pascal \
        --size 1024x1024 --batch 2 --device cuda --amp

The plain model is the TAPPS config with mmdet's ``Mask2Former`` / ``Mask2FormerHead`` /
``MaskFormerFusionHead`` / ``DetDataPreprocessor`` (same backbone, pixel decoder, decoder, queries and
losses, no part branch); the baseline is its own config. All see the same batches of a small dataset in
the official formats, written to a temporary folder at the scale's size.

Timings on a shared machine drift by tens of percent between runs, so each model lives in its own worker
process (a clean peak memory) that is asked for one block of ``--iters`` training iterations at a time,
in turn (A B C, B C A, C A B, ...), ``--repeats`` times; the ratios are taken block by block (neighbours
in time) and reported as median with min / max and quartiles. Training step = data preprocessing +
forward + backward + AdamW step; peak memory = ``torch.cuda.max_memory_allocated`` on GPU, the growth of
the worker's peak RSS over its after-build RSS on CPU; inference = one ``predict`` batch. Workers run
``--threads`` intra-op threads each (default 1: on a loaded 2-core machine two threads per process
oversubscribe the cores and small kernels slow down by up to 10x); the JSON records the layout.

``--out`` writes JSON (``benchmarks.model_cost_report.render_model_cost`` turns it into Markdown);
``ratio.train_step_s`` / ``ratio.train_peak_mb`` / ``ratio.infer_batch_s`` are TAPPS / Mask2Former of
the first scale.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks import machine_info
from benchmarks.model_cost_report import render_model_cost
from benchmarks.toy import TOY

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(HERE)

MODELS = ('mask2former', 'tapps', 'baseline')
RATIOS = (('tapps', 'mask2former'), ('baseline', 'mask2former'), ('baseline', 'tapps'))
METRICS = ('train_step_s', 'train_peak_mb', 'infer_batch_s')
# name -> what a scale measures; --size / --batch / ... override a field for every scale. The toy scale is
# the toy benchmark of benchmarks/toy.py (its configs and data generator options); batch None: the
# config's training batch size.
SCALES = {
    'toy': dict(config=TOY.configs['tapps'], baseline_config=TOY.configs['baseline'], dataset='synthetic',
                size='{}x{}'.format(*TOY.data_args['size']), batch=None, iters=4, warmup=3, repeats=9,
                data_options={k: TOY.data_args[k] for k in ('object_scale', 'twin_parts')}),
    'paper': dict(config='configs/tapps/tapps_r50_4xb4-90k_cityscapes-pp.py',
                  baseline_config='configs/baseline/baseline_r50_4xb4-90k_cityscapes-pp.py',
                  dataset='cityscapes', size='512x1024', batch=1, iters=1, warmup=1, repeats=3),
}
# dataset -> (dataset type, split, fake-data writer in tapps_mm.testing.fake_datasets)
DATASETS = {'synthetic': ('SyntheticPPSDataset', 'train', None),
            'cityscapes': ('CityscapesPPSDataset', 'train', 'write_fake_cityscapes_pp'),
            'pascal': ('PascalPPSDataset', 'training', 'write_fake_pascal_pp')}
OVERRIDES = ('dataset', 'size', 'batch', 'iters', 'warmup', 'repeats')  # flags that override a scale


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--scales', default='toy,paper', help=f'comma-separated, of {sorted(SCALES)}')
    p.add_argument('--config', help='TAPPS config (a custom scale named "custom" replaces --scales)')
    p.add_argument('--baseline-config', help='baseline config of the custom scale (none: no baseline)')
    p.add_argument('--dataset', choices=sorted(DATASETS), help="data the batches come from (the config's classes)")
    p.add_argument('--size', help='HxW of the images (and the train crop)')
    p.add_argument('--batch', type=int)
    p.add_argument('--iters', type=int, help='timed training iterations per block')
    p.add_argument('--warmup', type=int, help='untimed training iterations before the first block')
    p.add_argument('--repeats', type=int, help='blocks per model (interleaved)')
    p.add_argument('--models', default=','.join(MODELS))
    p.add_argument('--threads', type=int, default=1, help='torch intra-op threads per worker (0: torch default)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--amp', action='store_true', help='autocast fp16 + GradScaler (GPU)')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='overrides of every model config, e.g. model.train_cfg.num_points=1024')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', help='write the measurements as JSON')
    return p.parse_args(argv)


def scales_of(args) -> dict[str, dict]:
    """The scales to measure, with the command line's overrides applied."""
    if args.config:
        base = dict(SCALES['toy'], config=args.config, baseline_config=args.baseline_config, data_options={})
        chosen = {'custom': base}
    else:
        chosen = {name: dict(SCALES[name]) for name in args.scales.split(',')}
    for setting in chosen.values():
        for key in OVERRIDES:
            if getattr(args, key) is not None:
                setting[key] = getattr(args, key)
        setting.update(device=args.device, amp=args.amp, threads=args.threads, cfg_options=args.cfg_options)
        if setting['batch'] is None:
            from mmengine.config import Config
            setting['batch'] = Config.fromfile(osp.join(ROOT, setting['config'])).train_dataloader.batch_size
    return chosen


def part_head_keys(head_type: str) -> set[str]:
    """The arguments our part-aware head ``head_type`` takes beyond mmdet's ``Mask2FormerHead`` (read from
    the signatures, so a new head argument needs no list here)."""
    from mmdet.models.dense_heads import Mask2FormerHead

    from tapps_mm.registry import MODELS

    def arguments(cls) -> set[str]:
        names: set[str] = set()
        for klass in cls.__mro__[:cls.__mro__.index(Mask2FormerHead) + 1]:
            if '__init__' in vars(klass):
                names |= set(inspect.signature(klass.__init__).parameters)
        return names - {'self', 'args', 'kwargs'}
    return arguments(MODELS.get(head_type)) - arguments(Mask2FormerHead)


def plain_mask2former(model_cfg):
    """The same model without the part branch, as mmdet's own classes."""
    from tapps_mm.models.utils import mask2former_class_args
    from tapps_mm.specs import load_spec
    cfg = model_cfg.copy()
    cfg.type = 'Mask2Former'
    cfg.data_preprocessor.type = 'DetDataPreprocessor'
    head = cfg.panoptic_head
    part_keys = part_head_keys(head.type)
    # the class counts and weights our heads derive from the spec, stated for mmdet's head
    spec = load_spec(head.spec)
    head.update(type='Mask2FormerHead', **mask2former_class_args(
        spec, 'Mask2FormerHead', loss_cls=head.get('loss_cls'), no_object_weight=head.get('no_object_weight', 0.1)))
    for key in part_keys:
        head.pop(key, None)
    cfg.panoptic_fusion_head = dict(type='MaskFormerFusionHead', num_things_classes=spec.num_things,
                                    num_stuff_classes=spec.num_stuff, loss_panoptic=None, init_cfg=None)
    return cfg


def match_in_fp32(head) -> None:
    """Run mmdet's ``Mask2FormerHead.get_targets`` in float32 with autocast off. Under AMP its mask costs sum
    12544 point terms in float16, which overflows ('cost matrix is infeasible'); the official Mask2Former and
    our heads (``BatchedTargetsMixin``) match in float32, so the plain model does too here."""
    import torch
    get_targets = head.get_targets

    def fp32_get_targets(cls_scores_list, mask_preds_list, *args, **kwargs):
        with torch.autocast(cls_scores_list[0].device.type, enabled=False):
            return get_targets([c.float() for c in cls_scores_list], [m.float() for m in mask_preds_list],
                               *args, **kwargs)
    head.get_targets = fp32_get_targets


def model_config(setting: dict, model: str):
    from mmengine.config import Config, DictAction

    from tapps_mm.engine.cli import merge_cfg_options
    path = setting['baseline_config'] if model == 'baseline' else setting['config']
    cfg = Config.fromfile(osp.join(ROOT, path))
    if setting['cfg_options']:  # parsed and checked as tools/train.py's --cfg-options
        merge_cfg_options(cfg, {k: DictAction._parse_iterable(v) for k, v in
                                (kv.split('=', 1) for kv in setting['cfg_options'])})
    model_cfg = plain_mask2former(cfg.model) if model == 'mask2former' else cfg.model
    model_cfg.backbone.init_cfg = None  # no download; random weights cost the same
    return model_cfg


def write_data(setting: dict, root: str, seed: int) -> None:
    h, w = (int(v) for v in setting['size'].split('x'))
    n = max(setting['batch'] * 2, 4)
    if setting['dataset'] == 'synthetic':  # with the scale's generator options (the toy benchmark's)
        from tapps_mm.datasets.synthetic_pp import write_synthetic_pp
        write_synthetic_pp(root, num_train=n, num_val=0, size=(h, w), seed=seed, progress=False,
                           **setting.get('data_options', {}))
        return
    from tapps_mm.testing import fake_datasets
    getattr(fake_datasets, DATASETS[setting['dataset']][2])(root, num_train=n, num_val=0, size=(h, w), seed=seed)


def _batches(setting: dict, data_root: str, seed: int) -> tuple[list, list]:
    """Fixed batches through a train pipeline (flip, no resize: the images are at the scale's size) and
    the test pipeline; every worker gets the same ones."""
    import numpy as np
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from tapps_mm.registry import DATASETS as REGISTRY
    ds_type, split, _ = DATASETS[setting['dataset']]
    # the config's spec: it decides the part codes (e.g. Cityscapes-PP's 9 grouped parts, not 23)
    spec = Config.fromfile(osp.join(ROOT, setting['config'])).train_dataloader.dataset.get('spec')
    load = [dict(type='LoadImageFromFile'), dict(type='LoadPPSAnnotations')]
    train = load + [dict(type='RandomFlip', prob=0.5), dict(type='PackPPSInputs')]
    test = [dict(type='LoadImageFromFile'), dict(type='PackPPSInputs')]
    train_ds = REGISTRY.build(dict(type=ds_type, data_root=data_root, split=split, spec=spec, pipeline=train))
    test_ds = REGISTRY.build(dict(type=ds_type, data_root=data_root, split=split, spec=spec, pipeline=test))
    np.random.seed(seed)
    n, b = len(train_ds), setting['batch']
    idx = [[(i * b + j) % n for j in range(b)] for i in range(4)]
    return [pseudo_collate([train_ds[k] for k in ks]) for ks in idx], [pseudo_collate([test_ds[k] for k in idx[0]])]


def _rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def thread_layout() -> dict:
    """This process's threads, beside the machine's cores (``machine_info``)."""
    import torch
    return dict(torch_threads=torch.get_num_threads(), torch_interop_threads=torch.get_num_interop_threads(),
                **{k: os.environ.get(k) for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')},
                **{k: machine_info()[k] for k in ('cpu_count', 'cpus_usable')})


def third_party_modules() -> list[str]:
    """Top-level installed modules this process imported (what a bare machine must be given)."""
    ours = {'benchmarks', 'tapps_mm', '__main__'}
    return sorted(name for name, mod in list(sys.modules.items()) if '.' not in name and not name.startswith('_')
                  and name not in sys.stdlib_module_names and name not in ours and getattr(mod, '__file__', None))


class Worker:
    """One model in this process: built, warmed up, then asked for blocks of iterations."""

    def __init__(self, setting: dict, model: str, data_root: str, seed: int) -> None:
        import torch
        from mmengine.registry import init_default_scope

        import tapps_mm.registry  # noqa: F401
        from tapps_mm.registry import MODELS as REGISTRY
        init_default_scope('tapps_mm')
        torch.manual_seed(seed)
        self.torch = torch
        self.device = torch.device(setting['device'])
        self.amp = setting['amp']
        self.model = REGISTRY.build(model_config(setting, model)).to(self.device)
        self.model.init_weights()
        if model == 'mask2former':
            match_in_fp32(self.model.panoptic_head)
        self.optim = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp)
        self.train_batches, self.test_batches = _batches(setting, data_root, seed)
        self.cuda = self.device.type == 'cuda'
        self.base_rss = _rss_mb()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        self.step = 0
        self.loss = float('nan')
        self.train(setting['warmup'])

    def _sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def train(self, iters: int) -> list[float]:
        self.model.train()
        times = []
        for _ in range(iters):
            batch = self.train_batches[self.step % len(self.train_batches)]
            self.step += 1
            self._sync()
            t = time.perf_counter()
            with self.torch.autocast(self.device.type, enabled=self.amp):
                losses = self.model(**self.model.data_preprocessor(batch, True), mode='loss')
            loss = sum(v for k, v in losses.items() if 'loss' in k)
            self.optim.zero_grad()
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optim)
            self.scaler.update()
            self._sync()
            times.append(time.perf_counter() - t)
            self.loss = float(loss)
        return times

    def infer(self, iters: int) -> list[float]:
        self.model.eval()
        times = []
        with self.torch.no_grad():
            for _ in range(iters):
                self._sync()
                t = time.perf_counter()
                with self.torch.autocast(self.device.type, enabled=self.amp):
                    self.model(**self.model.data_preprocessor(self.test_batches[0], False), mode='predict')
                self._sync()
                times.append(time.perf_counter() - t)
        return times

    def train_peak_mb(self) -> float:
        if self.cuda:
            return self.torch.cuda.max_memory_allocated() / 2 ** 20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - self.base_rss

    def handle(self, request: dict) -> dict:
        op = request['op']
        if op == 'train':
            times = self.train(request['iters'])
            if self.cuda:  # idle workers share one GPU: give the cached blocks back between blocks
                self.torch.cuda.empty_cache()
            return dict(times=times)
        if op == 'infer':
            return dict(times=self.infer(request['iters']))
        if op == 'stats':
            modules = third_party_modules()  # before thread_layout: collect_env imports what the model does not
            return dict(train_peak_mb=self.train_peak_mb(), final_loss=self.loss, threads=thread_layout(),
                        params_m=sum(p.numel() for p in self.model.parameters()) / 1e6, modules=modules)
        raise ValueError(f'unknown request {request!r}')


def worker_main(spec: str) -> None:
    """Serve JSON-line requests on stdin; replies go to the original stdout, everything else to stderr."""
    reply = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    job = json.loads(spec)
    if os.environ.get('TAPPS_BENCH_MMCV_OPS') == 'none':
        from benchmarks.mmcv_without_ops import use_mmcv_without_compiled_ops
        use_mmcv_without_compiled_ops()
    import torch
    if job['setting']['threads']:
        torch.set_num_threads(job['setting']['threads'])
    worker = Worker(job['setting'], job['model'], job['data_root'], job['seed'])
    print(json.dumps(dict(ready=True)), file=reply)
    for line in sys.stdin:
        request = json.loads(line)
        if request['op'] == 'quit':
            break
        print(json.dumps(worker.handle(request)), file=reply)


class Client:
    """A worker process, asked one request at a time."""

    def __init__(self, setting: dict, model: str, data_root: str, seed: int) -> None:
        env = dict(os.environ)
        if setting['threads']:  # OpenMP / MKL pools sized like torch's
            env.update(OMP_NUM_THREADS=str(setting['threads']), MKL_NUM_THREADS=str(setting['threads']))
        job = json.dumps(dict(setting=setting, model=model, data_root=data_root, seed=seed))
        self.name = model
        self.log = tempfile.TemporaryFile('w+')  # the worker's logs; shown only if it dies
        self.proc = subprocess.Popen([sys.executable, osp.abspath(__file__), '--worker-job', job], cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True)
        self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            tail = ''.join(self.log.readlines()[-40:])
            raise RuntimeError(f'bench_model_cost: the {self.name} worker died (exit {self.proc.wait()}):\n{tail}')
        return json.loads(line)

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + '\n')
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps(dict(op='quit')) + '\n')
            self.proc.stdin.close()
            self.proc.wait()
        self.log.close()


def spread(values: list[float]) -> dict:
    """Median, min, max and quartiles (n >= 2) of repeated measurements."""
    q = statistics.quantiles(values, n=4, method='inclusive') if len(values) > 1 else [values[0]] * 3
    return dict(median=statistics.median(values), min=min(values), max=max(values), q1=q[0], q3=q[2],
                n=len(values))


def measure_scale(setting: dict, models: list[str], seed: int = 0, log=print) -> dict:
    """Interleaved blocks of every model; per-model medians and block-by-block ratios."""
    if not setting.get('baseline_config'):
        models = [m for m in models if m != 'baseline']
    blocks: dict[str, dict[str, list[float]]] = {m: dict(train_step_s=[], infer_batch_s=[]) for m in models}
    clients: dict[str, Client] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        write_data(setting, root, seed)
        try:
            for m in models:
                clients[m] = Client(setting, m, root, seed)
            log(f'  {len(models)} workers ready ({time.perf_counter() - t0:.0f} s)')
            for r in range(setting['repeats']):
                order = models[r % len(models):] + models[:r % len(models)]
                for m in order:
                    times = clients[m].ask(op='train', iters=setting['iters'])['times']
                    blocks[m]['train_step_s'].append(statistics.mean(times))
                log(f'  block {r + 1}/{setting["repeats"]}: ' + ', '.join(
                    f'{m} {blocks[m]["train_step_s"][-1]:.3f} s' for m in models))
            stats = {m: clients[m].ask(op='stats') for m in models}
            clients[models[0]].ask(op='infer', iters=1)  # warm-up of the inference path (each model below)
            for r in range(max(2, setting['repeats'] // 2) + 1):
                for m in models[r % len(models):] + models[:r % len(models)]:
                    times = clients[m].ask(op='infer', iters=1)['times']
                    if r:  # round 0 warms every model's inference path up
                        blocks[m]['infer_batch_s'].append(times[0])
        finally:
            for c in clients.values():
                c.close()
    result = dict(setting=setting, wall_s=time.perf_counter() - t0, models={}, ratios={},
                  python_modules=sorted(set().union(*(stats[m].pop('modules') for m in models))))
    for m in models:
        st = stats[m]
        result['models'][m] = dict(
            train_step_s=statistics.median(blocks[m]['train_step_s']), train_step_s_blocks=blocks[m]['train_step_s'],
            infer_batch_s=statistics.median(blocks[m]['infer_batch_s']),
            infer_batch_s_blocks=blocks[m]['infer_batch_s'], train_peak_mb=st['train_peak_mb'],
            params_m=st['params_m'], final_loss=st['final_loss'], threads=st['threads'])
    for a, b in RATIOS:
        if a in models and b in models:
            ra = result['models'][a]
            rb = result['models'][b]
            result['ratios'][f'{a}/{b}'] = dict(
                train_step_s=spread([x / y for x, y in zip(ra['train_step_s_blocks'], rb['train_step_s_blocks'])]),
                infer_batch_s=spread([x / y for x, y in zip(ra['infer_batch_s_blocks'], rb['infer_batch_s_blocks'])]),
                train_peak_mb=ra['train_peak_mb'] / rb['train_peak_mb'])
    return result


def host_info() -> dict:
    return dict(machine_info(), parent_threads=thread_layout())


def main(argv=None):
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == '--worker-job':
        return worker_main(sys.argv[2])
    args = parse_args(argv)
    models = args.models.split(',')
    out = dict(command='python benchmarks/bench_model_cost.py ' + ' '.join(sys.argv[1:] if argv is None else argv),
               host=host_info(), scales={})
    for name, setting in scales_of(args).items():
        print(f'{name}: {setting["config"]}, {setting["size"]}, batch {setting["batch"]}, {setting["repeats"]} x '
              f'{setting["iters"]} iterations per model, {setting["threads"] or "default"} thread(s) per worker')
        out['scales'][name] = measure_scale(setting, models, args.seed)
    first = next(iter(out['scales'].values()))['ratios'].get('tapps/mask2former')
    if first:
        out['ratio'] = {k: (v['median'] if isinstance(v, dict) else v) for k, v in first.items()}
    print(render_model_cost(out))
    if args.out:
        from tapps_mm.fileio import write_json_atomic
        write_json_atomic(out, args.out)
    return out


if __name__ == '__main__':
    main()
