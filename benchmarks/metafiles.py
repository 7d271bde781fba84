"""Write the model metadata mim reads, from the configs and the paper's tables:
``configs/{tapps,baseline,mask2former}/metafile.yml``, ``model-index.yml`` and the results block of the
TAPPS and baseline READMEs (between the ``results`` markers). ``tests/test_benchmarks/test_metafiles.py`` fails
when they are stale.

    python -m benchmarks.metafiles [--check]

Whose numbers: mim reads a model's ``Results`` as what that config and its checkpoint achieve. TAPPS-MM
releases no full-scale checkpoints, so the paper's numbers (official detectron2 implementation, 4x A100)
are not results of these configs: they go under ``Metadata: Paper Results`` (labelled as the paper's),
and ``Results`` holds only what this repository measured: the toy configs' means over seeds from the
committed aggregates of ``tools/reproduce_tables.py`` (``benchmarks/results/results.csv``, read by
``benchmarks.outputs.load_published``; smoke runs of ``--quick`` are never listed).
"""
from __future__ import annotations

import argparse
import os.path as osp
import re
import sys
from glob import glob

import pandas as pd
import yaml

from benchmarks import REPO, config_stem
from benchmarks.outputs import load_published
from benchmarks.paper import CONFIG_ROWS, METRICS, paper_results, paper_table
from benchmarks.readme_blocks import Markers, replace_block, report, sync_files
from benchmarks.render import markdown

PAPER = dict(URL='https://openaccess.thecvf.com/content/CVPR2024/html/de_Geus_Task-aligned_Part-aware_Panoptic_'
                 'Segmentation_through_Joint_Object-Part_Representations_CVPR_2024_paper.html',
             Title='Task-aligned Part-aware Panoptic Segmentation through Joint Object-Part Representations')
MASK2FORMER_PAPER = dict(URL='https://openaccess.thecvf.com/content/CVPR2022/html/Cheng_Masked-Attention_Mask_'
                             'Transformer_for_Universal_Image_Segmentation_CVPR_2022_paper.html',
                         Title='Masked-attention Mask Transformer for Universal Image Segmentation')
FOLDERS = {
    'tapps': dict(collection='TAPPS', architecture=['TAPPS', 'JOPS head', 'Mask2Former'], paper=PAPER),
    'baseline': dict(collection='TAPPS-baseline', architecture=['Mask2Former', 'separate part queries'], paper=PAPER),
    # no part branch and no row of the TAPPS paper: its README has no results block
    'mask2former': dict(collection='Mask2Former-PPS', architecture=['Mask2Former'], paper=MASK2FORMER_PAPER),
}
DATASETS = {'cityscapes-pp': 'Cityscapes-PP', 'pascal-pp': 'Pascal-PP', 'pascal-pp107': 'Pascal-PP-107',
            'synthetic': 'Synthetic-PP (toy)'}
INIT = {'IN': 'ImageNet', 'IN+COCO': 'COCO panoptic (Mask2Former)'}
# config stems: {method}_{backbone}_{gpus}xb{batch}-{schedule}_{dataset} (mmdet's naming)
NAME = re.compile(r'^(?P<method>tapps|baseline|mask2former)_(?P<backbone>[a-z0-9-]+)_(?P<gpus>\d+)xb(?P<batch>\d+)'
                  r'-(?P<schedule>\d+k|\d+it)_(?P<dataset>[a-z0-9-]+)$')
RESULTS_BLOCK = Markers('results', 'python -m benchmarks.metafiles')


def _configs(folder: str) -> list[str]:
    return sorted(config_stem(p) for p in glob(osp.join(REPO, 'configs', folder, '*.py')))


PAPER_SOURCE = ('the paper (official detectron2 implementation, 4x A100); targets of a reproduction, '
                'not results of this config')


def measured_results(results: pd.DataFrame | None, meta: dict | None) -> dict[str, dict]:
    """config stem -> {'Metrics': {paper-named metric: mean, percent}, 'Seeds': n} from the published
    ``results`` (complete runs only; nothing for a --quick smoke aggregate or one with rehearsal runs)."""
    if results is None or meta is None or meta.get('quick') or meta.get('rehearsal'):
        return {}
    frame = results[(results.n > 0)].drop_duplicates(['config', 'metric'])
    out: dict[str, dict] = {}
    for config, group in frame.groupby('config'):
        out[config] = {'Metrics': {m: round(float(v), 1) for m, v in zip(group.metric, group['mean'])
                                   if m in METRICS},
                       'Seeds': int(group.n.max())}
    return out


def _model_entry(folder: str, stem: str, table, measured: dict[str, dict]) -> dict:
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', folder, stem + '.py'))
    m = NAME.match(stem)
    gpus, batch = int(m['gpus']), int(m['batch'])
    toy = m['dataset'] == 'synthetic'
    metadata = {
        'Training Data': DATASETS[m['dataset']],
        'Training Resources': '1x CPU (2 cores)' if toy else f'{gpus}x A100 GPUs',
        'Batch Size': gpus * batch,
        'Iterations': cfg.train_cfg.max_iters,
    }
    entry = {'Name': stem, 'In Collection': FOLDERS[folder]['collection'],
             'Config': f'configs/{folder}/{stem}.py', 'Metadata': metadata}
    if stem in CONFIG_ROWS:
        rows = CONFIG_ROWS[stem]
        metadata['Pretraining'] = INIT[rows.pretraining]
        metadata['Paper Tables'] = list(rows.variants)
        metadata['Paper Results'] = {'Source': PAPER_SOURCE, 'Task': 'Part-aware Panoptic Segmentation',
                                     'Dataset': DATASETS[m['dataset']], 'Metrics': paper_results(stem, table)}
    elif not toy:  # a full-scale config that trains no row of the paper
        metadata['Pretraining'] = INIT['IN+COCO' if 'cocopan' in m['backbone'] else 'IN']
    if stem in measured:
        metadata['Measured'] = (f'mean over {measured[stem]["Seeds"]} seed(s), tools/reproduce_tables.py '
                                '(benchmarks/results/results.csv)')
        entry['Results'] = [{'Task': 'Part-aware Panoptic Segmentation', 'Dataset': DATASETS[m['dataset']],
                             'Metrics': measured[stem]['Metrics']}]
    return entry


def metafile(folder: str, measured: dict[str, dict]) -> str:
    table = paper_table()
    info = FOLDERS[folder]
    full_scale = {NAME.match(stem)['dataset'] for stem in _configs(folder)} - {'synthetic'}
    collection = {'Name': info['collection'],
                  'Metadata': {'Training Data': [name for key, name in DATASETS.items() if key in full_scale],
                               'Training Techniques': ['AdamW', 'Weight Decay', 'Poly LR', 'AMP'],
                               'Training Resources': '4x A100 GPUs', 'Architecture': info['architecture']},
                  'Paper': info['paper'], 'README': f'configs/{folder}/README.md'}
    doc = {'Collections': [collection], 'Models': [_model_entry(folder, s, table, measured) for s in _configs(folder)]}
    header = '# Generated by `python -m benchmarks.metafiles` from the configs and benchmarks/paper.py.\n'
    return header + yaml.safe_dump(doc, sort_keys=False, width=120, allow_unicode=True)


def model_index() -> str:
    return yaml.safe_dump({'Import': [f'configs/{f}/metafile.yml' for f in FOLDERS]}, sort_keys=False)


def results_block(folder: str) -> str:
    """Markdown tables of the paper's numbers, one per dataset, for the configs of ``folder``."""
    table = paper_table()
    parts = []
    stems = [s for s in _configs(folder) if s in CONFIG_ROWS]
    for dataset in ('cityscapes-pp', 'pascal-pp', 'pascal-pp107'):
        chosen = [s for s in stems if NAME.match(s)['dataset'] == dataset]
        if not chosen:
            continue
        body = []
        for stem in chosen:
            results, rows = paper_results(stem, table), CONFIG_ROWS[stem]
            body.append([f'[{stem}](./{stem}.py)', rows.pretraining, ', '.join(rows.variants)]
                        + [f'{results[m]:.1f}' if m in results else '' for m in METRICS])
        parts.append(f'**{DATASETS[dataset]}** (the paper\'s numbers, %)\n\n'
                     + markdown(pd.DataFrame(body, columns=['config', 'init', 'tables', *METRICS])))
    return '\n\n'.join(parts)


def readme_with_results(folder: str) -> str:
    path = osp.join(REPO, 'configs', folder, 'README.md')
    with open(path) as f:
        return replace_block(f.read(), RESULTS_BLOCK, results_block(folder), path)


def expected_files(published: tuple | None = None) -> dict[str, str]:
    """The metafiles and config-folder READMEs, with the measured results of ``published`` (the
    ``(results, comparisons, meta)`` of ``benchmarks.outputs.load_published``; read when not given)."""
    published = load_published() if published is None else published
    measured = measured_results(published[0], published[2])
    files = {'model-index.yml': model_index()}
    for folder in FOLDERS:
        files[f'configs/{folder}/metafile.yml'] = metafile(folder, measured)
        if any(stem in CONFIG_ROWS for stem in _configs(folder)):
            files[f'configs/{folder}/README.md'] = readme_with_results(folder)
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--check', action='store_true', help='only report stale files (exit 1 if any)')
    args = parser.parse_args(argv)
    return report(sync_files(expected_files(), REPO, args.check), args.check)


if __name__ == '__main__':
    sys.exit(main())
