"""The results pipeline (launch -> collect -> aggregate -> render / plots -> predictions -> documents);
``docs/architecture.md`` shows the modules in the order of that flow. Not installed: it runs from the
checkout (the tools that use it put the checkout's root first on ``sys.path``, pytest through
``pyproject.toml``). The speed benchmarks are ``tools/analysis_tools/speed/``; their JSON, committed in
``results/``, is rendered here (``speed_report``)."""
import functools
import os
import os.path as osp
import platform

#: the checkout this package belongs to (runs are launched from it, documents written into it)
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def config_stem(path: str) -> str:
    """'configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py' -> 'tapps_r18-toy_1xb8-1000it_synthetic': the
    name a config's runs, rows and metafile entries are known by."""
    return osp.splitext(osp.basename(path))[0]


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)


@functools.lru_cache(maxsize=None)
def machine_info() -> dict:
    """The machine, as every record names it (a run's launch file, the speed benchmarks, the GPU check): mmengine's
    ``collect_env`` (Python, PyTorch, the GPUs) without what would name this machine (paths, compiler builds),
    with the CUDA of the PyTorch build and the CPU cores; ``machine`` says it in words, as the tables print it."""
    import torch
    from mmengine.utils.dl_utils import collect_env
    env = collect_env()
    gpus = [name for key, name in env.items() if key.startswith('GPU ') for _ in key[4:].split(',')]
    cores = usable_cores()
    words = f'{cores} CPU cores ({platform.machine()})' + (f', {len(gpus)}x {gpus[0]}' if gpus else '')
    return dict(machine=words, python=env['Python'].split()[0], torch=env['PyTorch'], cuda=torch.version.cuda,
                gpu=gpus[0] if gpus else None, cpu_count=os.cpu_count(), cpus_usable=cores)
