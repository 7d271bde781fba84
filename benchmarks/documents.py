"""Every generated document, from the committed aggregates in ``benchmarks/results/``: the blocks of
README.md and the ``docs/`` pages (each block wherever its markers are, in exactly one of those files)
and the metafiles. ``tools/reproduce_tables.py --update-readme`` writes them, ``--check`` compares.
"""
from __future__ import annotations

import glob
import json
import os.path as osp

import pandas as pd

from benchmarks import REPO, aggregate, config_stem, metafiles, probe_report, render
from benchmarks.outputs import RESULTS_DIR, load_published
from benchmarks.readme_blocks import Markers, replace_block
from benchmarks.speed_report import render_evaluator, render_gpu_check, render_model_cost, render_threads
from benchmarks.toy import TOY

TOY_RESULTS = Markers('toy-results', 'python tools/reproduce_tables.py --update-readme')  # intro and Table 1-toy
#: every toy table in full (docs/results.md): the README's blocks show the cells and one line per comparison
RESULTS_PAGE = 'docs/results.md'
TOY_DETAILS = Markers('toy-results-in-full', 'python tools/reproduce_tables.py --update-readme')
#: toy table -> the block of an ablation / things-only table
TOY_TABLES = {f'{t}-toy': Markers(f'toy-table-{t}', 'python tools/reproduce_tables.py --update-readme')
              for t in sorted(TOY.table_configs)}
SETTINGS_TRIED = Markers('toy-settings-tried', 'python tools/reproduce_tables.py --update-readme')
EVALUATOR_SPEED = Markers('evaluator-speed', 'make bench-eval; python tools/reproduce_tables.py --update-readme')
MODEL_COST = Markers('model-cost', 'make bench-model; python tools/reproduce_tables.py --update-readme')
PER_CLASS = Markers('per-class', 'python tools/reproduce_tables.py --update-readme')
THREAD_LAYOUT = Markers('thread-layout', 'make bench-threads; python tools/reproduce_tables.py --update-readme')
REHEARSAL = Markers('rehearsal', 'make rehearsal; python tools/reproduce_tables.py --update-readme')
#: the probes' evidence and answer (docs/toy_benchmark.md) and the README's sentence of it under Table 1-toy
PROBES = Markers('toy-probes', 'python tools/reproduce_tables.py --tables probes --publish --update-readme')
PROBES_ANSWER = Markers('toy-probes-answer', 'python tools/reproduce_tables.py --tables probes --publish '
                                             '--update-readme')
GPU_CHECK = Markers('gpu-check', 'tools/analysis_tools/speed/gpu_check.sh on a GPU; '
                               'python tools/reproduce_tables.py --update-readme')


def _json(results_dir: str, name: str) -> dict | None:
    path = osp.join(results_dir, name)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def tried_sources(results_dir: str = RESULTS_DIR) -> dict[str, str]:
    """Setting name -> its runs.csv: every ``tried/<setting>/`` and the default (``results/runs.csv``)."""
    sources = {osp.basename(osp.dirname(p)): p
               for p in sorted(glob.glob(osp.join(results_dir, 'tried', '*', 'runs.csv')))}
    if osp.isfile(osp.join(results_dir, 'runs.csv')):
        sources[f'{TOY.name} (default, benchmarks/results/)'] = osp.join(results_dir, 'runs.csv')
    return sources


def _csv(results_dir: str, name: str) -> pd.DataFrame | None:
    path = osp.join(results_dir, name)
    return pd.read_csv(path) if osp.isfile(path) else None


def per_class_body(results_dir: str = RESULTS_DIR) -> str:
    """The per-class comparison of Table 1-toy and, when published, its figure (linked from README.md)."""
    text = render.per_class_block(_csv(results_dir, 'per_class.csv'), _csv(results_dir, 'errors.csv'))
    for name, what in (('per_class_1-toy.png', 'Per class, TAPPS - baseline, Table 1-toy'),
                       ('predictions_1-toy.png', 'TAPPS and the baseline on the val image where they differ most')):
        figure = osp.join(results_dir, name)
        if osp.isfile(figure):
            text += f'\n\n![{what}]({osp.relpath(figure, REPO)})'
    if osp.isfile(osp.join(results_dir, 'predictions_1-toy.png')):
        text += '\n\n' + render.prose(
            'The image where the seed-0 runs differ most in PartPQ (from their per-image statistics): the image and '
            'its ground truth, then each method\'s objects and parts, objects whose predicted parts conflict with '
            'their class outlined red (`tools/analysis_tools/compare_predictions.py` draws more). A class has one hue '
            'in every panel, its objects shades of it; a predicted object that matches a ground-truth object (same '
            'class, IoU > 0.5) has that object\'s colour and name, an unmatched one a shade of its own.')
    return text


def probes_bodies(results_dir: str = RESULTS_DIR) -> tuple[str, str]:
    """(the evidence and answer of the probes, the README's sentence), or that they have not run."""
    results_dir = osp.join(results_dir, 'probes')
    family = _csv(results_dir, 'probes.csv')
    if family is None:
        text = render.prose('The probes have not run yet: `python tools/reproduce_tables.py --tables probes --publish '
                            '--update-readme` runs them.')
        return text, text
    return (probe_report.probes_block(family, _csv(results_dir, 'inference.csv'), _csv(results_dir, 'size_bands.csv'),
                                      _json(results_dir, 'meta.json')),
            probe_report.answer(family, _csv(results_dir, 'inference.csv'), probes_setting(osp.dirname(results_dir))))


def probes_setting(results_dir: str = RESULTS_DIR) -> str | None:
    """The earlier toy setting (``tried/<setting>/``) whose Table 1-toy runs the published probes paired with, or
    None when they are the default's: the probes are not re-run when the default changes, so the README says
    which runs they measured. Told by the runs' numbers (config, seed, PartPQ), not by a name written down."""
    probe_runs = _csv(osp.join(results_dir, 'probes'), 'runs.csv')
    if probe_runs is None:
        return None
    stems = {config_stem(c) for c in TOY.configs.values()}

    def runs_of(frame: pd.DataFrame) -> set:
        frame = frame[frame.config.isin(stems) & (frame.status == 'complete')]
        return set(zip(frame.config, frame.seed, frame.PartPQ.round(6)))
    paired = runs_of(probe_runs)
    default = osp.join(results_dir, 'runs.csv')
    if not paired or (osp.isfile(default) and paired <= runs_of(pd.read_csv(default))):
        return None
    return next((name for name, path in tried_sources(results_dir).items()
                 if path != default and paired <= runs_of(pd.read_csv(path))), None)


def block_bodies(results_dir: str = RESULTS_DIR) -> dict[Markers, str]:
    """What each generated block of README.md and docs/ holds; a benchmark whose JSON is absent is said to be
    not measured."""
    results, comparisons, meta = load_published(results_dir)
    runs_csv = osp.join(results_dir, 'runs.csv')
    runs = pd.read_csv(runs_csv) if osp.isfile(runs_csv) else None
    cost = _json(results_dir, 'model_cost.json')
    def toy_block(table: str, goal: float | None = None) -> str:
        details = f'{RESULTS_PAGE}#{render.anchor(table)}'
        return render.toy_table_block(results, comparisons, meta, runs, table, details, goal)
    evidence, answer = probes_bodies(results_dir)
    return {
        PROBES: evidence,
        PROBES_ANSWER: answer,
        TOY_RESULTS: render.toy_results_intro(meta) + '\n\n' + toy_block('1-toy', TOY.seed_std_goal),
        **{markers: toy_block(table) for table, markers in TOY_TABLES.items()},
        TOY_DETAILS: render.results_page(results, comparisons, meta, runs, ['1-toy', *TOY_TABLES]),
        SETTINGS_TRIED: render.settings_tried_table(aggregate.settings_tried(tried_sources(results_dir))),
        EVALUATOR_SPEED: render_evaluator(_json(results_dir, 'evaluator.json')),
        MODEL_COST: render_model_cost(cost) if cost else 'Not measured yet (`make bench-model`).',
        GPU_CHECK: render_gpu_check(_json(results_dir, 'gpu_check.json')),
        PER_CLASS: per_class_body(results_dir),
        THREAD_LAYOUT: render_threads(_json(results_dir, 'threads.json')),
        REHEARSAL: render.rehearsal_block(_json(results_dir, 'rehearsal.json')),
    }


def markdown_pages(root: str = REPO) -> list[str]:
    """The hand-written pages that may hold generated blocks (repository-relative)."""
    return ['README.md'] + sorted(osp.relpath(p, root) for p in glob.glob(osp.join(root, 'docs', '*.md')))


def with_blocks(bodies: dict[Markers, str], root: str = REPO) -> dict[str, str]:
    """The pages of :func:`markdown_pages` that hold a block, each with its blocks replaced. A block whose
    markers are in no page, or in two, raises ValueError naming the pages: a block written nowhere would let
    ``--check`` pass on a stale page."""
    texts = {}
    for rel in markdown_pages(root):
        with open(osp.join(root, rel)) as f:
            texts[rel] = f.read()
    changed: dict[str, str] = {}
    for markers, body in bodies.items():
        homes = [rel for rel, text in texts.items() if markers.start in text]
        if len(homes) != 1:
            raise ValueError(f'the generated block {markers.name!r} must be in exactly one of README.md and docs/*.md; '
                             f'found in {homes or "none"}')
        rel = homes[0]
        texts[rel] = changed[rel] = replace_block(texts[rel], markers, body, rel)
    return changed


def expected_files(results_dir: str = RESULTS_DIR) -> dict[str, str]:
    """Repository-relative path -> expected text of every generated document."""
    files = with_blocks(block_bodies(results_dir))
    files.update(metafiles.expected_files(load_published(results_dir)))
    return files
