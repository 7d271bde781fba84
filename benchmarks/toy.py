"""The toy benchmark: which configs, seeds, data and ``--quick`` schedule the main job runs on a CPU.

Why one place: whoever changes the toy setting (its design and every setting tried are in
``docs/toy_benchmark.md``) changes this module and the toy config files, and ``tools/reproduce_tables.py``,
the tables and the README follow. Nothing else in ``benchmarks`` names a toy config. The data (its folder and
the generator's arguments) has its one home in the toy TAPPS config, which this module reads.

The toy tables mirror the paper's (``1-toy``: TAPPS vs the separate-query baseline, ``3-toy`` / ``4-toy``
/ ``7-toy``: the ablations of Tables 3, 4 and 7, ``5-toy``: things only, from the runs of ``1-toy``) on the
synthetic dataset with random initialisation.
Their numbers are not comparable with the paper's; only the paired differences are set beside the
paper's differences, for orientation.
"""
from __future__ import annotations

import functools
import os.path as osp
from dataclasses import dataclass, field

from benchmarks import REPO, config_stem
from benchmarks.paper import REFERENCE_VARIANT, VARIANT, ConfigRows

_TAPPS = 'configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'
_BASELINE = 'configs/baseline/baseline_r18-toy_1xb8-1000it_synthetic.py'
#: the plain Mask2Former both are built on (objects only): the control that says whether TAPPS, or the baseline,
#: departs from their shared detector on objects
_MASK2FORMER = 'configs/mask2former/mask2former_r18-toy_1xb8-1000it_synthetic.py'


def _toy(method: str, variants: dict[str, str]) -> ConfigRows:
    return ConfigRows('synthetic', 'R18-toy', 'none', method, variants)


@dataclass(frozen=True)
class ToySetting:
    """Everything that defines the toy benchmark."""
    #: role -> config file (repository-relative) of the default main job (Table 1 at toy scale)
    configs: dict[str, str]
    #: --tables id -> the extra config files that toy table needs (its reference row is configs['tapps'])
    table_configs: dict[str, tuple[str, ...]]
    #: config stem -> its rows in the toy tables (same shape as benchmarks.paper.CONFIG_ROWS)
    rows: dict[str, ConfigRows]
    #: toy table -> the paper's (table, dataset, backbone, pretraining) whose differences are shown beside it
    paper_reference: dict[str, tuple[str, str, str, str]]
    seeds: int = 5  # seeds 0-4 of each config
    #: the variance goal (docs/toy_benchmark.md): each method's seed-to-seed sample std of Table 1-toy's primary
    #: metric at most this many points; the README says from the aggregates whether the default meets it
    seed_std_goal: float = 1.0
    #: the default's name in the "settings tried" block of docs/toy_benchmark.md (which lists the versions)
    name: str = 'v10-batched-part-losses'
    #: --quick: the same path end to end in minutes (numbers labelled smoke), in its own work dirs
    quick_seeds: int = 2
    quick_options: tuple[str, ...] = field(default=(
        'train_cfg.max_iters=10', 'train_cfg.val_interval=10', 'param_scheduler.0.end=2',
        'param_scheduler.1.begin=2', 'param_scheduler.1.end=10', 'default_hooks.checkpoint.interval=5',
        'default_hooks.logger.interval=5', 'train_dataloader.batch_size=2',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        '+val_dataloader.dataset.indices=10'))  # + : a key the config leaves at the dataset's default
    quick_work_root: str = 'work_dirs/quick'
    #: the configs of the pre-registered probes (``--tables probes``; benchmarks/probes.py reads them), each paired
    #: by seed with the Table 1-toy run of its method
    probe_configs: tuple[str, ...] = ()

    @property
    def data_root(self) -> str:
        """The synthetic benchmark dataset the toy configs read (repository-relative), as the toy config names it."""
        return _toy_data(self.configs['tapps'])[0]

    @property
    def data_args(self) -> dict:
        """The generator's arguments of that dataset (the design is in docs/toy_benchmark.md), as the toy config
        names them (``generator``, which a missing dataset's error quotes too); an existing folder made with
        other arguments is remade."""
        return dict(_toy_data(self.configs['tapps'])[1])

    @property
    def make_data(self) -> tuple[str, ...]:
        """The command (repository-relative) that writes the dataset."""
        from tapps_mm.datasets.synthetic_pp import make_command
        return tuple(make_command(self.data_root, **self.data_args))

    def expand(self, tables) -> tuple[str, ...]:
        """``--tables`` ids for launching: ``'all'`` is every toy table; ``'1'`` (the default's) is dropped."""
        ids = [t for i in tables or () for t in (sorted(self.table_configs) if i == 'all' else [i])]
        # 'probes': the probe configs (not a table of the paper: 'all' leaves them out)
        return tuple(dict.fromkeys(i for i in ids if i != '1'))

    def config_files(self, tables: tuple[str, ...] = ()) -> list[str]:
        """The default configs, then those of the requested toy tables (``'3'``, ``'4'``, ``'5'``, ``'7'``) and of
        the probes (``'probes'``)."""
        known = {**self.table_configs, 'probes': self.probe_configs}
        unknown = sorted(set(tables) - set(known))
        if unknown:
            raise KeyError(f'unknown table id(s) {unknown}: toy tables exist for {sorted(self.table_configs)}, '
                           "the probes' runs for 'probes'")
        files = list(self.configs.values())
        for t in tables:
            files += [c for c in known[t] if c not in files]
        return files


@functools.lru_cache(maxsize=None)
def _toy_data(config: str) -> tuple[str, dict]:
    """(data root, generator arguments) of a toy config: the config is their one home."""
    from mmengine.config import Config
    dataset = Config.fromfile(osp.join(REPO, config)).train_dataloader.dataset
    return osp.normpath(dataset.data_root), dataset.generator.to_dict()


_T = 'configs/tapps/tapps_r18-toy-{}_1xb8-1000it_synthetic.py'
#: --tables id -> the ablation switches of that toy table (each a config named by its switch); Table 5
#: (things only: PQ_Th, mIoU_Th) is read from the Table 1 runs and needs none
_SWITCHES = {'3': ('nocompat', 'nocompat-train'), '4': ('adapt0', 'adapt1', 'adapt3'), '5': (), '7': ('dynparts',)}
_P = 'configs/_probes_/toy/{}_1xb8-{}_synthetic.py'
TOY = ToySetting(
    probe_configs=tuple(_P.format(*c) for c in (
        ('tapps_r18-toy-partlossx05', '1000it'), ('tapps_r18-toy-partlossx2', '1000it'),
        ('tapps_r18-toy-width256', '1000it'), ('baseline_r18-toy-width256', '1000it'),
        ('tapps_r18-toy', '2000it'), ('baseline_r18-toy', '2000it'))),
    configs={'tapps': _TAPPS, 'baseline': _BASELINE, 'mask2former': _MASK2FORMER},
    table_configs={t: tuple(_T.format(s) for s in switches) for t, switches in _SWITCHES.items()},
    rows={
        config_stem(_TAPPS): _toy('tapps', {'1-toy': '', **{f'{t}-toy': v for t, v in REFERENCE_VARIANT.items()},
                                            '5-toy': ''}),
        config_stem(_BASELINE): _toy('baseline', {'1-toy': '', '3-toy': '', '5-toy': ''}),
        config_stem(_MASK2FORMER): _toy('mask2former', {'1-toy': '', '5-toy': ''}),
        **{config_stem(_T.format(s)): _toy('tapps', {f'{t}-toy': VARIANT[s]})
           for t, switches in _SWITCHES.items() for s in switches},
    },
    paper_reference={'1-toy': ('1a', 'pascal-pp', 'R50', 'IN'), '3-toy': ('3', 'pascal-pp', 'R50', 'IN'),
                     '4-toy': ('4', 'pascal-pp', 'R50', 'IN+COCO'), '5-toy': ('5', 'pascal-pp', 'R50', 'IN'),
                     '7-toy': ('7', 'pascal-pp', 'R50', 'IN+COCO')},
)
