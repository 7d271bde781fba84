"""The schedule of the model-cost benchmark: one worker process per model (``model_cost_worker.py``),
asked for one block of ``iters`` training iterations at a time, in turn (A B C, B C A, C A B, ...),
``repeats`` times, then for inference batches the same way; per-model medians and block-by-block ratios.

Why interleaved blocks: timings on a shared machine drift by tens of percent between runs, so the ratios
are taken block by block (neighbours in time) and reported as median with min / max and quartiles.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

from model_cost_data import write_data
from model_cost_models import ROOT
from model_cost_worker import thread_layout

from benchmarks import machine_info

MODELS = ('mask2former', 'tapps', 'baseline')
RATIOS = (('tapps', 'mask2former'), ('baseline', 'mask2former'), ('baseline', 'tapps'))
WORKER = osp.join(osp.dirname(osp.abspath(__file__)), 'model_cost_worker.py')


class Client:
    """A worker process, asked one request at a time."""

    def __init__(self, setting: dict, model: str, data_root: str, seed: int, wait: bool = True) -> None:
        # the worker imports benchmarks and tapps_mm from the checkout its configs come from, as this process does
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (ROOT, os.environ.get('PYTHONPATH')))))
        if setting['threads']:  # OpenMP / MKL pools sized like torch's
            env.update(OMP_NUM_THREADS=str(setting['threads']), MKL_NUM_THREADS=str(setting['threads']))
        job = json.dumps(dict(setting=setting, model=model, data_root=data_root, seed=seed))
        self.name = model
        self.log = tempfile.TemporaryFile('w+')  # the worker's logs; shown only if it dies
        self.proc = subprocess.Popen([sys.executable, WORKER, job], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        if wait:  # else: the caller reads the 'ready' line (``ready``), after starting other workers
            self.ready()

    def ready(self) -> None:
        """Wait until the worker has built its model and warmed it up."""
        self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.log.seek(0)
            tail = ''.join(self.log.readlines()[-40:])
            raise RuntimeError(f'bench_model_cost: the {self.name} worker died (exit {self.proc.wait()}):\n{tail}')
        return json.loads(line)

    def ask(self, **request) -> dict:
        self.send(**request)
        return self._read()

    def send(self, **request) -> None:
        """A request whose answer ``_read`` reads later (workers asked at once work side by side)."""
        self.proc.stdin.write(json.dumps(request) + '\n')
        self.proc.stdin.flush()

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


def measure_counts(setting: dict, models: list[str], seed: int = 0, log=print) -> dict:
    """Top-level ATen ops and synchronisation points of one training step and one inference batch per model
    (``model_cost_counts``), each model in a worker of its own, all at once (counts, not times: the workers may
    share the cores); the differences to Mask2Former."""
    t0 = time.perf_counter()
    result = dict(setting=setting, models={})
    clients: dict[str, Client] = {}
    with tempfile.TemporaryDirectory() as root:
        write_data(setting, root, seed)
        try:
            for m in models:
                clients[m] = Client(setting, m, root, seed, wait=False)
            for m in models:
                clients[m].ready()
                clients[m].send(op='counts')
            for m in models:
                result['models'][m] = clients[m]._read()
                step = result['models'][m]['train_step']
                log(f'  {m}: {step["ops"]} ops, {step["syncs"]} synchronisations per training step')
        finally:
            for c in clients.values():
                c.close()
    if 'mask2former' in models:
        ref = result['models']['mask2former']
        result['added'] = {m: {part: dict(ops=c[part]['ops'] - ref[part]['ops'],
                                          ops_pct=100.0 * (c[part]['ops'] - ref[part]['ops']) / ref[part]['ops'],
                                          syncs=c[part]['syncs'] - ref[part]['syncs'])
                               for part in ('train_step', 'infer_batch')}
                           for m, c in result['models'].items() if m != 'mask2former'}
    result['wall_s'] = time.perf_counter() - t0
    return result


def host_info() -> dict:
    """Where the measurement ran (``machine_info``) and this process's threads."""
    return dict(machine_info(), parent_threads=thread_layout())
