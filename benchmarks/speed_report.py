"""Markdown of the speed benchmarks' JSON (``tools/analysis_tools/speed/``; committed in
``benchmarks/results/``): pure functions of the JSON, no torch, no files; tables through
``benchmarks.render.markdown``. The documents stage renders them, not the tools: the GPU machine runs
them without pandas.

``render_model_cost`` renders ``bench_model_cost.py --out`` JSON, ``render_gpu_check`` the JSON of
``gpu_check.sh`` (or says that it has not been run), ``render_evaluator`` the JSON of
``bench_evaluator.py --out``, ``render_threads`` that of ``bench_threads.py --out``.
"""
from __future__ import annotations

import pandas as pd

from benchmarks.render import markdown

NAMES = {'mask2former': 'Mask2Former (mmdet)', 'mask2former_pps': 'Mask2Former (ours)', 'tapps': 'TAPPS',
         'baseline': 'baseline'}
ROWS = (('train_step_s', 'train step', 's'), ('train_peak_mb', 'peak train memory', 'MiB'),
        ('infer_batch_s', 'inference / batch', 's'))
SHORT = {'mask2former': 'M2F', 'mask2former_pps': 'M2F (ours)', 'tapps': 'TAPPS', 'baseline': 'baseline'}
#: the model the part branches are added to (our object head), when the counts measured it
OURS = 'mask2former_pps'
RATIO_COLUMNS = ('tapps/mask2former', 'baseline/mask2former', 'baseline/tapps')


def _table(body: list[list[str]], columns: list[str]) -> str:
    return markdown(pd.DataFrame(body, columns=columns))


def _ratio(value) -> str:
    """'1.23x' for a single ratio, '1.23x (1.10-1.31)' for a median with its min-max over blocks."""
    if isinstance(value, dict):
        return f'{value["median"]:.2f}x ({value["min"]:.2f}-{value["max"]:.2f})'
    return f'{value:.2f}x'


def _threads(layout: dict) -> str:
    return (f'{layout["torch_threads"]} torch thread(s) per worker (OMP_NUM_THREADS={layout["OMP_NUM_THREADS"]}, '
            f'MKL_NUM_THREADS={layout["MKL_NUM_THREADS"]}), {layout["cpus_usable"]} usable of '
            f'{layout["cpu_count"]} cores')


def render_scale(name: str, scale: dict) -> str:
    """One table: a row per measurement, a column per model and per ratio (median, min-max over blocks)."""
    s, models = scale['setting'], scale['models']
    ratios = [r for r in RATIO_COLUMNS if r in scale['ratios']]
    device = s['device'] + (' + AMP' if s['amp'] else '')
    head = (f'**{name}**: `{s["config"]}` vs `{s["baseline_config"] or "-"}`, {s["dataset"]} {s["size"]}, batch '
            f'{s["batch"]}, {device}; {s["repeats"]} interleaved blocks of {s["iters"]} training iteration(s) per '
            f'model after {s["warmup"]} warm-up; {_threads(next(iter(models.values()))["threads"])}.')
    columns = ['measurement', *(NAMES[m] for m in models),
               *(' / '.join(SHORT[m] for m in r.split('/')) for r in ratios)]
    body = [[label, *(f'{models[m][key]:{".3f" if unit == "s" else ".0f"}} {unit}' for m in models),
             *(_ratio(scale['ratios'][r][key]) for r in ratios)] for key, label, unit in ROWS]
    return head + '\n\n' + _table(body, columns)


#: the rows of the counts table: (part of the JSON, measurement, label)
COUNT_ROWS = (('train_step', 'ops', 'training step: top-level ATen ops'),
              ('train_step', 'syncs', 'training step: synchronisation points'),
              ('infer_batch', 'ops', 'inference batch: top-level ATen ops'),
              ('infer_batch', 'syncs', 'inference batch: synchronisation points'))


#: the functions with the most synchronisation points the counts block names, per model
TOP_SYNC_SOURCES = 6


def _added(value: int, reference: int, percent: bool) -> str:
    """'+1,234 (+9.7 %)' (ops) or '+2' (synchronisations) beside the reference model."""
    text = f'{value - reference:+,}'
    return text + (f' ({100.0 * (value - reference) / reference:+.1f} %)' if percent and reference else '')


def render_counts(counts: dict) -> str:
    """The ops and synchronisation points per training step and inference batch of each model (``counts`` of
    ``bench_model_cost.py --out`` JSON), with the differences to Mask2Former."""
    s = counts['setting']
    models = {m: counts['models'][m] for m in NAMES if m in counts['models']}  # our Mask2Former beside mmdet's
    others = [m for m in models if m not in ('mask2former', OURS)] if 'mask2former' in models else []
    head = (f'**ops and synchronisations**: `{s["config"]}` vs `{s["baseline_config"] or "-"}`, {s["dataset"]} '
            f'{s["size"]}, batch {s["batch"]}, {s["device"]}; one training step after {s["warmup"]} warm-up step(s) '
            'and one inference batch (every query kept) per model, counted by `torch.profiler` (torch '
            f'{counts["host"]["torch"]}); measured with `{counts["command"]}`.')
    columns = ['measurement', *(NAMES[m] for m in models), *(f'{SHORT[m]} - M2F' for m in others)]
    body = [[label, *(f'{models[m][part][key]:,}' for m in models),
             *(_added(models[m][part][key], models['mask2former'][part][key], key == 'ops') for m in others)]
            for part, key, label in COUNT_ROWS]
    kinds = sorted({k for m in models.values() for k in m['train_step']['syncs_by_kind']})
    by_kind = '; '.join(f'{NAMES[m]} ' + ', '.join(f'{k} {c["train_step"]["syncs_by_kind"].get(k, 0)}' for k in kinds)
                        for m, c in models.items())
    by_source = '\n'.join(f'- {NAMES[m]}: ' + ', '.join(f'`{source}` {n}' for source, n in list(
        c['train_step'].get('syncs_by_source', {}).items())[:TOP_SYNC_SOURCES]) for m, c in models.items())
    return (head + '\n\n' + _table(body, columns) + _part_branch(models)
            + '\n\nSynchronisation points of the training step by kind: ' + by_kind
            + f'; by the function they come from (the {TOP_SYNC_SOURCES} with the most; `other`: no '
            'model code, i.e. the backward pass and the optimizer step):\n\n' + by_source)


def _part_branch(models: dict) -> str:
    """What the part branches alone add: TAPPS's and the baseline's counts beside our own Mask2Former's (the same
    object head; mmdet's differs in its target assignment), when it was measured."""
    if OURS not in models:
        return ''
    ref = models[OURS]
    added = '; '.join(
        f'{NAMES[m]} {_added(models[m]["train_step"]["ops"], ref["train_step"]["ops"], True)} ops and '
        f'{_added(models[m]["train_step"]["syncs"], ref["train_step"]["syncs"], False)} synchronisation points per '
        f'training step, {_added(models[m]["infer_batch"]["ops"], ref["infer_batch"]["ops"], True)} ops and '
        f'{_added(models[m]["infer_batch"]["syncs"], ref["infer_batch"]["syncs"], False)} per inference batch'
        for m in models if m in ('tapps', 'baseline'))
    return (f'\n\nThe part branches alone, beside {NAMES[OURS]} (the same object head as TAPPS and the baseline; '
            f'mmdet\'s assigns its targets image by image): {added}.')


def render_model_cost(data: dict) -> str:
    """Markdown block for the README from ``bench_model_cost.py --out`` JSON: one table per scale, times as
    medians over interleaved blocks, ratios as median (min-max) of block-by-block ratios; then the op and
    synchronisation counts, if measured."""
    parts = [render_scale(name, scale) for name, scale in data['scales'].items()]
    host = data['host']
    if data['scales']:
        parts.append(f'Measured with `{data["command"]}` (Python {host["python"]}, torch {host["torch"]}'
                     + (f', {host["gpu"]}' if host.get('gpu') and any(
                         s['setting']['device'].startswith('cuda') for s in data['scales'].values()) else '') + ').')
    if data.get('counts'):
        parts.append(render_counts(data['counts']))
    return '\n\n'.join(parts)


def render_gpu_check(data: dict | None) -> str:
    """Markdown for the GPU check: its tables with the device named, or a line saying it has not been run."""
    if not data:
        return ('GPU check (`tools/analysis_tools/speed/gpu_check.sh`: R-50, 1024x1024 crop, batch 2, AMP): **not run '
                'yet** - no GPU was available; the figures above are CPU measurements.')
    dev = data['device']
    head = (f'GPU check on **{dev["gpu"] or "CPU (self-check)"}** (torch {dev["torch"]}, CUDA {dev["cuda"]}, '
            f'mmcv ops: {data["mmcv_ops"]}), '
            f'{data["wall_s"]:.0f} s in all.')
    ev = data.get('evaluator')
    tail = ''
    if ev:
        n = ev['scaling_images']
        procs = [k for k in ev if k.startswith('scaling_s_per_image_') and not k.endswith('_1proc')]
        tail = (f'\n\nPartPQ evaluator ({ev["images"]} images of {ev["size"]}, {ev["spec"]} spec): ours '
                f'{ev["ours_s_per_image"]:.3f} s / image vs official {ev["official_s_per_image"]:.2f} s / image '
                f'({ev["speedup_vs_official"]:.0f}x, identical: {ev["identical"]}); on {n} images '
                f'{ev["scaling_s_per_image_1proc"]:.3f} s / image with 1 process'
                + ''.join(f', {ev[k]:.3f} s / image with {k.rsplit("_", 1)[1][:-4]} processes' for k in procs) + '.')
    losses = ''
    for scale in data['model_cost']['scales'].values():
        nan = [NAMES[m] for m, v in scale['models'].items() if v.get('final_loss', 0.0) is None]
        if nan:  # gpu_check writes non-finite numbers as null
            losses = (f'\n\nThe last training loss was not finite for {", ".join(nan)} (random weights under float16 '
                      'autocast): these are timing runs of the same operations, not training runs.')
    return head + '\n\n' + render_model_cost(data['model_cost']) + losses + tail


def render_evaluator(ev: dict | None) -> str:
    """Markdown table of ``bench_evaluator.py --out`` JSON: ours vs the official evaluator on the same files (the
    smooth case, then the noisy one), the scaling with processes and where a process's time goes."""
    if not ev:
        return 'Not measured yet (`make bench-eval`).'
    procs = sorted(int(k.rsplit('_', 1)[1][:-4]) for k in ev if k.startswith('scaling_s_per_image_')
                   and not k.endswith('_1proc'))

    def versus(case: dict, what: str) -> list[list[str]]:
        same = 'identical' if case['identical'] else 'DIFFERENT'
        return [[f'{what}: official `panoptic_parts` evaluator, 1 process',
                 f'{case["official_s_per_image"]:.2f} s / image'],
                [f'{what}: ours, 1 process (file reading included)', f'{case["ours_s_per_image"]:.3f} s / image'],
                [f'**{what}: speed-up, same files, same process count**', f'**{case["speedup_vs_official"]:.0f}x**'],
                [f'{what}: per-class TP / FP / FN / IoU sums vs official',
                 f'{same} (max difference {case["max_abs_iou_sum_diff"]:.1g})']]

    body = versus(ev, f'smooth ({ev["images"]} images, {ev["size"]})')
    if 'noisy' in ev:
        noisy = ev['noisy']
        body += versus(noisy, f'noisy ({noisy["images"]} images, {noisy["size"]}, '
                              f'{noisy["part_noise"]:.0%} of the part pixels random)')
    body += [[f'ours on {ev["scaling_images"]} images: 1 process vs {n}',
              f'{ev["scaling_s_per_image_1proc"]:.3f} vs {ev[f"scaling_s_per_image_{n}proc"]:.3f} s / image '
              f'({ev[f"scaling_speedup_{n}proc_vs_1proc"]:.2f}x)'] for n in procs]
    profile = ev.get('profile')
    if profile:
        n = profile['nproc']
        stages = ', '.join(f'{k} {v * 1e3:.1f}' for k, v in profile['s_per_image'].items())
        row_kb = profile['row_bytes_per_image'] / 1e3
        body += [['one process, ms per image', f'{stages}; a row pickled: {row_kb:.1f} kB'],
                 ['fixed costs, ms', f'pool of {n} started {profile["pool_start_s"] * 1e3:.0f}, files paired '
                                     f'{profile["pairing_s"] * 1e3:.0f}, rows summed {profile["summary_s"] * 1e3:.0f}'],
                 [f'statistics with {n} processes at once',
                  f'{profile["statistics_slowdown_nproc"]:.2f}x as long each'],
                 [f'speed-up of {n} processes predicted by this profile',
                  f'{profile[f"predicted_speedup_{n}proc"]:.2f}x']]
    return _table(body, [f'measurement ({ev["spec"]} spec)', 'result'])


def render_threads(data: dict | None) -> str:
    """Markdown of ``bench_threads.py --out`` JSON: throughput of each thread layout, idle and beside a busy core."""
    if not data:
        return 'Not measured yet (`make bench-threads`).'
    def vs_reference(v: dict) -> str:  # None: the reference layout was not among those measured (--layouts)
        return 'not measured' if v['throughput_vs_reference'] is None else f'{v["throughput_vs_reference"]:.2f}x'
    body = [[name, f'{v["step_s"]:.3f} s', f'{v["throughput_it_s"]:.1f}', vs_reference(v)]
            for name, v in data['layouts'].items()]
    return (f'The toy TAPPS config, {data["iters"]} training iterations per run (the first {data["skip"]} left out), '
            f'{data["machine"]}; measured with `{data["command"]}`:\n\n'
            + _table(body, ['layout', 'step time per run', 'iterations / s, all runs', 'vs 1 run x 2 threads, idle']))

