"""The speed benchmarks' pure parts (``tools/analysis_tools/speed/``, on ``sys.path`` through pyproject.toml):
the model-cost benchmark's scale selection and ratio spreads, and the Markdown renderers of their JSON
(``benchmarks.speed_report``)."""
import re

from bench_model_cost import COUNTS, SCALES, parse_args, scales_of
from model_cost_blocks import spread

from benchmarks.speed_report import render_evaluator, render_gpu_check, render_model_cost, render_threads

THREADS = dict(torch_threads=1, torch_interop_threads=1, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', cpu_count=2,
               cpus_usable=2)


def _result() -> dict:
    models = {m: dict(train_step_s=t, train_peak_mb=p, infer_batch_s=i, threads=THREADS)
              for m, t, p, i in (('mask2former', 0.5, 400.0, 0.1), ('tapps', 0.6, 420.0, 0.11),
                                 ('baseline', 0.55, 430.0, 0.12))}
    ratio = dict(train_step_s=dict(median=1.2, min=1.1, max=1.3, q1=1.15, q3=1.25, n=3), train_peak_mb=1.05,
                 infer_batch_s=dict(median=1.1, min=1.0, max=1.2, q1=1.05, q3=1.15, n=3))
    setting = dict(SCALES['toy'], device='cpu', amp=False, threads=1, cfg_options=[])
    return dict(command='python tools/analysis_tools/speed/bench_model_cost.py', host=dict(python='3.11', torch='2.13'),
                scales={'toy': dict(setting=setting, models=models, ratios={'tapps/mask2former': ratio})},
                ratio=dict(train_step_s=1.2, train_peak_mb=1.05, infer_batch_s=1.1))


def test_scales_and_overrides():
    assert list(scales_of(parse_args([]))) == ['toy', 'paper']
    toy = scales_of(parse_args(['--scales', 'toy', '--repeats', '3', '--threads', '2']))['toy']
    assert (toy['repeats'], toy['threads'], toy['size']) == (3, 2, SCALES['toy']['size'])
    assert isinstance(toy['batch'], int)  # None in SCALES: the toy config's training batch size
    config = 'configs/tapps/tapps_r50_4xb4-60k_pascal-pp.py'
    custom = scales_of(parse_args(['--config', config, '--size', '64x64', '--batch', '2']))
    assert list(custom) == ['custom'] and custom['custom']['baseline_config'] is None
    assert (custom['custom']['size'], custom['custom']['batch'], custom['custom']['data_options']) == ('64x64', 2, {})
    assert parse_args(['--counts-only']).counts_only and parse_args([]).counts_size == COUNTS['size'] == '256x256'


def test_spread():
    assert spread([3.0, 1.0, 2.0]) == dict(median=2.0, min=1.0, max=3.0, q1=1.5, q3=2.5, n=3)
    assert spread([2.0])['median'] == 2.0


def _flat(text: str) -> str:
    """The Markdown with the column padding of the pipe tables collapsed to one space."""
    return re.sub(' +', ' ', text)


def test_render_model_cost():
    text = _flat(render_model_cost(_result()))
    assert '| train step | 0.500 s | 0.600 s | 0.550 s | 1.20x (1.10-1.30) |' in text
    assert '| peak train memory | 400 MiB | 420 MiB | 430 MiB | 1.05x |' in text
    assert '1 torch thread(s) per worker' in text and text.count('\n|') == 5  # header, rule, 3 rows


def _counts() -> dict:
    def model(ops, syncs, infer_ops, infer_syncs):
        step = dict(ops=ops, syncs=syncs, syncs_by_kind=dict(item=syncs - 1, nonzero=1),
                    syncs_by_source={'other': syncs - 1, 'mmdet/x.py:f': 1})
        return dict(train_step=step, infer_batch=dict(ops=infer_ops, syncs=infer_syncs, syncs_by_kind={}))
    setting = dict(COUNTS, iters=1, repeats=1, device='cpu', amp=False, threads=1, cfg_options=[])
    return dict(setting=setting, command='python tools/analysis_tools/speed/bench_model_cost.py --counts-only',
                host=dict(torch='2.13'), models=dict(mask2former=model(10000, 500, 2000, 70),
                                                     tapps=model(11000, 502, 2100, 80),
                                                     baseline=model(11500, 501, 2500, 75)))


def test_render_counts_beside_the_timings_or_alone():
    text = _flat(render_model_cost({**_result(), 'counts': _counts()}))
    assert text.index('| train step |') < text.index('**ops and synchronisations**')  # after the timings
    assert '| training step: top-level ATen ops | 10,000 | 11,000 | 11,500 | +1,000 (+10.0 %) | +1,500 (+15.0 %) |' \
        in text
    assert '| training step: synchronisation points | 500 | 502 | 501 | +2 | +1 |' in text
    assert '| inference batch: synchronisation points | 70 | 80 | 75 | +10 | +5 |' in text
    assert 'TAPPS item 501, nonzero 1' in text and '256x256, batch 2' in text
    assert '- TAPPS: `other` 501, `mmdet/x.py:f` 1' in text
    alone = render_model_cost(dict(command='-', host={}, scales={}, counts=_counts()))
    assert alone.startswith('**ops and synchronisations**') and 'Measured with' not in alone
    assert 'The part branches alone' not in text  # our Mask2Former not measured


def test_render_counts_of_the_part_branches_beside_our_mask2former():
    counts = _counts()
    counts['models'] = dict(counts['models'], mask2former_pps=dict(
        train_step=dict(ops=9000, syncs=450, syncs_by_kind=dict(item=450)),
        infer_batch=dict(ops=2000, syncs=70, syncs_by_kind={})))
    text = _flat(render_model_cost(dict(command='-', host={}, scales={}, counts=counts)))
    # ours beside mmdet's, the differences still to mmdet's (the goals); then the part branches alone
    assert '| training step: top-level ATen ops | 10,000 | 9,000 | 11,000 | 11,500 | +1,000 (+10.0 %) | +1,500 ' \
        '(+15.0 %) |' in text
    assert ('TAPPS +2,000 (+22.2 %) ops and +52 synchronisation points per training step, +100 (+5.0 %) ops and +10 '
            'per inference batch; baseline +2,500 (+27.8 %) ops and +51') in text


def test_render_gpu_check():
    assert 'not run yet' in render_gpu_check(None)
    data = dict(device=dict(gpu='NVIDIA H200', torch='2.11', cuda='13.0'), mmcv_ops='compiled', wall_s=300.0,
                model_cost=_result())
    assert render_gpu_check(data).startswith('GPU check on **NVIDIA H200**')


def test_evaluator_block_from_its_json():
    ev = dict(images=10, size='1024x2048', spec='cityscapes', official_s_per_image=8.0, ours_s_per_image=0.04,
              speedup_vs_official=200.0, scaling_images=40, scaling_s_per_image_1proc=0.04,
              scaling_s_per_image_2proc=0.03, scaling_speedup_2proc_vs_1proc=4 / 3, identical=True,
              max_abs_iou_sum_diff=0.0, tp_total=5)
    text = _flat(render_evaluator(ev))  # a record without the noisy case and the profile (the GPU check's)
    assert '| smooth (10 images, 1024x2048): official `panoptic_parts` evaluator, 1 process | 8.00 s / image |' in text
    assert '**200x**' in text and 'identical (max difference 0)' in text
    assert '| ours on 40 images: 1 process vs 2 | 0.040 vs 0.030 s / image (1.33x) |' in text
    assert 'noisy' not in text and 'profile' not in text
    assert 'DIFFERENT' in render_evaluator({**ev, 'identical': False})
    assert 'Not measured yet' in render_evaluator(None)
    noisy = dict(images=10, size='512x1024', part_noise=0.15, official_s_per_image=2.0, ours_s_per_image=0.05,
                 speedup_vs_official=40.0, identical=True, max_abs_iou_sum_diff=0.0, tp_total=5)
    profile = dict(nproc=2, s_per_image=dict(read=0.001, decode=0.01, statistics=0.02, pickle=0.0005),
                   row_bytes_per_image=2900, pool_start_s=0.05, pairing_s=0.002, summary_s=0.003,
                   statistics_slowdown_nproc=1.1, predicted_speedup_2proc=1.7)
    text = _flat(render_evaluator({**ev, 'noisy': noisy, 'profile': profile}))
    assert '| **noisy (10 images, 512x1024, 15% of the part pixels random): speed-up, same files, same process ' \
           'count** | **40x** |' in text
    assert '| one process, ms per image | read 1.0, decode 10.0, statistics 20.0, pickle 0.5; a row pickled: ' \
           '2.9 kB |' in text
    assert '| fixed costs, ms | pool of 2 started 50, files paired 2, rows summed 3 |' in text
    assert '| statistics with 2 processes at once | 1.10x as long each |' in text
    assert '| speed-up of 2 processes predicted by this profile | 1.70x |' in text


def test_thread_layout_block_from_its_json():
    layouts = {'1 run x 2 threads, idle': dict(step_s=0.1, throughput_it_s=10.0, throughput_vs_reference=1.0),
               '2 runs x 1 thread, one busy core': dict(step_s=0.25, throughput_it_s=8.0,
                                                       throughput_vs_reference=0.8)}
    text = _flat(render_threads(dict(iters=60, skip=10, machine='2 CPU cores', command='cmd', layouts=layouts)))
    assert '| 2 runs x 1 thread, one busy core | 0.250 s | 8.0 | 0.80x |' in text
    # measured without the reference layout (--layouts): no ratio to show
    alone = {'2 runs x 1 thread, idle': dict(step_s=0.2, throughput_it_s=10.0, throughput_vs_reference=None)}
    text = _flat(render_threads(dict(iters=3, skip=1, machine='2 CPU cores', command='cmd', layouts=alone)))
    assert '| 2 runs x 1 thread, idle | 0.200 s | 10.0 | not measured |' in text
    assert 'Not measured yet' in render_threads(None)
