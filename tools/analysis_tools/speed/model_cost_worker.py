"""One model of the model-cost benchmark in a process of its own, so that its peak memory is its own:
built, warmed up, then asked over JSON lines on stdin for blocks of training iterations (step time, peak
memory) and inference batches (``predict`` time), in the order ``model_cost_blocks`` chooses.

    PYTHONPATH=. python tools/analysis_tools/speed/model_cost_worker.py JOB   # as model_cost_blocks.Client starts it

Training step = data preprocessing + forward + backward + AdamW step; peak memory =
``torch.cuda.max_memory_allocated`` on GPU, the growth of the process's peak RSS over its after-build RSS
on CPU. Replies go to the original stdout, everything else (the model's logs) to stderr.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import resource
import sys
import time

from model_cost_data import batches
from model_cost_models import match_in_fp32, model_config

from benchmarks import machine_info

HERE = osp.dirname(osp.abspath(__file__))


def rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def thread_layout() -> dict:
    """This process's threads (torch's intra- and inter-op threads, the pools' variables: what a timing depends
    on), beside the machine's cores (``machine_info``)."""
    import torch
    return dict(torch_threads=torch.get_num_threads(), torch_interop_threads=torch.get_num_interop_threads(),
                **{k: os.environ.get(k) for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')},
                **{k: machine_info()[k] for k in ('cpu_count', 'cpus_usable')})


def third_party_modules() -> list[str]:
    """Top-level installed modules this process imported (what a bare machine must be given): neither the
    standard library, nor this project, nor the modules of this folder."""
    ours = {'benchmarks', 'tapps_mm', '__main__'}
    return sorted(name for name, mod in list(sys.modules.items()) if '.' not in name and not name.startswith('_')
                  and name not in sys.stdlib_module_names and name not in ours and getattr(mod, '__file__', None)
                  and osp.dirname(osp.abspath(mod.__file__)) != HERE)


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
        self.train_batches, self.test_batches = batches(setting, data_root, seed)
        self.cuda = self.device.type == 'cuda'
        self.base_rss = rss_mb()
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
        if op == 'counts':  # one more training step and inference batch, profiled (model_cost_counts)
            from model_cost_counts import profile_counts
            # every query kept (a random model keeps none at the configs' threshold, which would leave the
            # fusion heads' work out), as tools/analysis_tools/model_fingerprint.py does
            self.model.panoptic_fusion_head.test_cfg['object_mask_thr'] = 0.0
            self.infer(1)  # the inference path warmed up as the training path
            return dict(train_step=profile_counts(lambda: self.train(1)),
                        infer_batch=profile_counts(lambda: self.infer(1)))
        if op == 'stats':
            modules = third_party_modules()  # before thread_layout: collect_env imports what the model does not
            return dict(train_peak_mb=self.train_peak_mb(), final_loss=self.loss, threads=thread_layout(),
                        params_m=sum(p.numel() for p in self.model.parameters()) / 1e6, modules=modules)
        raise ValueError(f'unknown request {request!r}')


def serve(job: str) -> None:
    """Build the model of ``job`` (JSON: setting, model, data_root, seed), then answer requests until 'quit'."""
    reply = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    spec = json.loads(job)
    if os.environ.get('TAPPS_BENCH_MMCV_OPS') == 'none':
        from mmcv_without_ops import use_mmcv_without_compiled_ops
        use_mmcv_without_compiled_ops()
    import torch
    if spec['setting']['threads']:
        torch.set_num_threads(spec['setting']['threads'])
    worker = Worker(spec['setting'], spec['model'], spec['data_root'], spec['seed'])
    print(json.dumps(dict(ready=True)), file=reply)
    for line in sys.stdin:
        request = json.loads(line)
        if request['op'] == 'quit':
            break
        print(json.dumps(worker.handle(request)), file=reply)


if __name__ == '__main__':
    serve(sys.argv[1])
