"""Model metadata: every trained row of the paper has exactly one config, and the metafiles, model index
and per-folder READMEs are what the configs and the paper's tables give (regenerate with
``python -m benchmarks.metafiles``)."""
import os.path as osp
from collections import Counter
from glob import glob

import pytest
import yaml

from benchmarks.metafiles import REPO, expected_files
from benchmarks.paper import CONFIG_ROWS, KEYS, TRAINED_METHODS, paper_results, paper_table


def test_every_trained_paper_row_has_exactly_one_config():
    table = paper_table()
    trained = {tuple(r) for r in table[table.method.isin(TRAINED_METHODS)][KEYS].itertuples(index=False)}
    claimed = Counter(key for rows in CONFIG_ROWS.values() for key in rows.keys())
    assert set(claimed) == trained, (sorted(trained - set(claimed)), sorted(set(claimed) - trained))
    assert max(claimed.values()) == 1
    for stem in CONFIG_ROWS:
        assert osp.isfile(osp.join(REPO, 'configs', stem.split('_')[0], stem + '.py')), stem


def test_tables_agree_where_they_repeat_a_row():
    # e.g. Pascal-PP R-50 TAPPS is in Tables 1a, 2, 3 and 5: one set of numbers
    assert paper_results('tapps_r50_4xb4-60k_pascal-pp') == {
        'PartPQ_All': 44.6, 'PartPQ_Pt': 59.6, 'PartPQ_NoPt': 39.4, 'PartSQ_Pt': 74.3, 'PQ_All': 47.1, 'PQ_Th': 65.6,
        'PQ_St': 37.6, 'mIoU_Th': 69.9, 'obj_without_conflicts': 100.0}


@pytest.mark.parametrize('rel,text', sorted(expected_files().items()))
def test_generated_files_are_up_to_date(rel, text):
    path = osp.join(REPO, rel)
    assert osp.isfile(path) and open(path).read() == text, f'{rel} is stale: run python -m benchmarks.metafiles'


def test_model_index_lists_every_config():
    index = yaml.safe_load(open(osp.join(REPO, 'model-index.yml')))
    names = []
    for metafile in index['Import']:
        for model in yaml.safe_load(open(osp.join(REPO, metafile)))['Models']:
            assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]
            assert osp.isfile(osp.join(REPO, model['Config']))
            names.append(model['Name'])
    configs = [p for folder in ('tapps', 'baseline', 'mask2former')
               for p in glob(osp.join(REPO, 'configs', folder, '*.py'))]
    assert sorted(names) == sorted(osp.splitext(osp.basename(p))[0] for p in configs)
