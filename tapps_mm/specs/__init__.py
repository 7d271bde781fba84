"""Class and part definitions, loaded from the official panoptic_parts evaluation specs.

Nothing here is hand-written: every list comes from an official-format eval spec YAML (the ones inside
the installed ``panoptic_parts`` package, our own Pascal-PP-107 spec, or any user YAML), parsed by
``panoptic_parts``' own ``PartPQEvalSpec`` so the evaluator and the models see the same definitions.

Conventions used by the models:
- label (contiguous class index): things first, then stuff, each sorted by eval sid (mmdet's
  panoptic convention, which Mask2Former's fusion relies on).
- part index: flat part id - 1 (``eval_sid_pid2eval_pid_flat``); several classes may share a flat
  part (Cityscapes-PP grouped).
- two sets of classes with parts: ``parts_sids`` are *scored* with parts (more than one eval part: the
  evaluator's ``eval_sid_parts``); ``part_mask_sids`` get part masks in the models (every class listed in
  ``eval_sid_pid2eval_pid_flat``, the official TAPPS's ``train_sids_with_parts``), which adds Pascal-PP's
  single-part classes (boat, chair, table, sofa, train; tvmonitor in Pascal-PP-107).
"""
from __future__ import annotations

import contextlib
import functools
import os
import os.path as osp
from dataclasses import dataclass, field

import numpy as np

from tapps_mm.compat import import_panoptic_parts

_OWN_SPECS = osp.join(osp.dirname(__file__), 'eval_specs')

#: Named specs; values are paths inside the panoptic_parts package ('pp:') or ours.
NAMED_SPECS = {
    'cityscapes': 'pp:specs/eval_specs/ppq_cpp_19_23_cvpr21_default_evalspec.yaml',
    'cityscapes-grouped': 'pp:specs/eval_specs/ppq_cpp_19_23_cvpr21_grouped_evalspec.yaml',
    'pascal': 'pp:specs/eval_specs/ppq_ppp_59_57_cvpr21_default_evalspec.yaml',
    'pascal-107': osp.join(_OWN_SPECS, 'ppq_ppp_59_107_cvpr21_default_evalspec.yaml'),
    # the synthetic dataset (tapps_mm.datasets.synthetic_pp writes the same spec next to its data)
    'synthetic': osp.join(_OWN_SPECS, 'synthetic_pp_evalspec.yaml'),
}


def _pp_root() -> str:
    """Directory of the installed ``panoptic_parts`` package."""
    return osp.dirname(import_panoptic_parts().__file__)


def resolve_spec_path(name_or_path: str) -> str:
    """Map a spec name (see ``NAMED_SPECS``) or a YAML path to an existing absolute path."""
    target = NAMED_SPECS.get(name_or_path, name_or_path)
    if target.startswith('pp:'):
        target = osp.join(_pp_root(), target[3:])
    if not osp.isfile(target):
        raise FileNotFoundError(
            f'Unknown PPS spec {name_or_path!r}: not one of {sorted(NAMED_SPECS)} and no such YAML file.')
    return osp.abspath(target)


def _dataset_spec_base(eval_spec_path: str) -> str:
    """The directory from which the eval spec's ``dataset_spec_path`` resolves.

    The official loader opens it relative to the current directory (its repository root). We accept
    that, a path relative to the eval spec's own folder, and the official ``panoptic_parts/...`` form
    relative to the installed package (also with the TAPPS repository's ``utils/panoptic_parts/`` prefix).
    """
    from ruamel.yaml import YAML
    with open(eval_spec_path) as f:
        dspec_path = YAML(typ='safe').load(f)['dataset_spec_path']
    if osp.isabs(dspec_path):
        return os.getcwd()
    candidates = [os.getcwd(), osp.dirname(eval_spec_path), osp.dirname(_pp_root())]
    for base in candidates:
        if osp.isfile(osp.join(base, dspec_path)):
            return base
    marker = 'panoptic_parts/specs/'
    if marker in dspec_path:  # e.g. utils/panoptic_parts/panoptic_parts/specs/... (TAPPS repo layout)
        return None
    raise FileNotFoundError(
        f'{eval_spec_path}: dataset_spec_path {dspec_path!r} not found relative to the current '
        f'directory, to the spec folder, or to the installed panoptic_parts package.')


@contextlib.contextmanager
def _cwd(path: str):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def load_official_spec(eval_spec_path: str):
    """``panoptic_parts.specs.eval_spec.PartPQEvalSpec`` for a YAML, wherever it is run from."""
    import_panoptic_parts()
    from panoptic_parts.specs.eval_spec import PartPQEvalSpec
    base = _dataset_spec_base(eval_spec_path)
    if base is None:  # rewrite a foreign repository prefix onto the installed package
        import tempfile

        from ruamel.yaml import YAML
        yaml = YAML()
        with open(eval_spec_path) as f:
            data = yaml.load(f)
        tail = data['dataset_spec_path'].split('panoptic_parts/specs/', 1)[1]
        data['dataset_spec_path'] = osp.join(_pp_root(), 'specs', tail)
        with tempfile.NamedTemporaryFile('w', suffix='_evalspec.yaml', delete=False) as tmp:
            yaml.dump(data, tmp)
        try:
            return PartPQEvalSpec(tmp.name)
        finally:
            os.unlink(tmp.name)
    with _cwd(base):
        return PartPQEvalSpec(eval_spec_path)


@dataclass(frozen=True)
class PPSSpec:
    """Everything the datasets, models and evaluator need to know about one label space."""

    name: str
    path: str
    official: object = field(repr=False, compare=False)
    classes: tuple[int, ...]            # eval sids in label order (things, then stuff)
    thing_sids: tuple[int, ...]
    stuff_sids: tuple[int, ...]
    parts_sids: tuple[int, ...]         # classes scored with parts (more than one eval part)
    part_mask_sids: tuple[int, ...]     # classes whose objects get part masks (single-part classes too)
    class_names: dict[int, str]         # eval sid -> name
    part_names: dict[int, str]          # flat part id -> name
    sid_pid2flat: dict[int, int]        # eval sid_pid (sid * 100 + pid) -> flat part id
    ignore_label: int

    @property
    def dataset_spec(self):
        """The official dataset spec (``panoptic_parts`` DatasetSpec) of the label files: their sids
        (``.l``: dataset class names by sid), parts and name; what the official decoders take."""
        return self.official._dspec

    @property
    def num_dataset_classes(self) -> int:
        """Dataset sids 0 .. n - 1 of the label files."""
        return len(self.dataset_spec.l)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_things(self) -> int:
        return len(self.thing_sids)

    @property
    def num_stuff(self) -> int:
        return len(self.stuff_sids)

    @property
    def num_parts(self) -> int:
        """Number of flat part classes (``Npc`` of the paper)."""
        return max(self.part_names) if self.part_names else 0

    @functools.cached_property
    def sid2label(self) -> dict[int, int]:
        return {sid: i for i, sid in enumerate(self.classes)}

    def _mask_pids(self, sid: int) -> tuple[int, ...]:
        """Eval pids of every part mask of a class (the official order of ``eval_sid_pid2eval_pid_flat``)."""
        return tuple(sp % 100 for sp in self.sid_pid2flat if sp // 100 == sid)

    def pids_of(self, sid: int) -> tuple[int, ...]:
        """Eval pids (1-based, per class) of a class scored with parts; () for a class without parts."""
        return self._mask_pids(sid) if sid in self.parts_sids else ()

    def parts_of(self, sid: int) -> tuple[int, ...]:
        """Part indices (flat id - 1) of a class's part masks, in the official order; () if it has none."""
        return tuple(self.sid_pid2flat[sid * 100 + pid] - 1 for pid in self._mask_pids(sid))

    @functools.cached_property
    def compatibility(self) -> np.ndarray:
        """Bool matrix [num_classes, num_parts]: label i has a part mask of part index j (the models'
        compatible parts; single-part classes have one)."""
        mat = np.zeros((self.num_classes, self.num_parts), dtype=bool)
        for label, sid in enumerate(self.classes):
            mat[label, list(self.parts_of(sid))] = True
        return mat

    @functools.cached_property
    def label_has_parts(self) -> np.ndarray:
        """Per label: scored with parts (``parts_sids``; the evaluator's rule)."""
        return np.array([sid in self.parts_sids for sid in self.classes])

    @functools.cached_property
    def label_has_part_masks(self) -> np.ndarray:
        """Per label: the models predict part masks for its objects (``part_mask_sids``)."""
        return np.array([sid in self.part_mask_sids for sid in self.classes])

    @functools.cached_property
    def dataset_sid2eval_sid(self) -> dict[int, int | None]:
        """Dataset sid -> eval sid (None = ignored), as given by the spec (``DEFAULT`` dropped)."""
        return _clean_mapping(self.official.dataset_sid2eval_sid)

    @functools.cached_property
    def dataset_sid_pid2eval_sid_pid(self) -> dict[int, int | None]:
        """Dataset sid_pid -> eval sid_pid (None = ignored), as given by the spec."""
        return _clean_mapping(self.official.dataset_sid_pid2eval_sid_pid)

    @functools.cached_property
    def num_dataset_pids(self) -> np.ndarray:
        """Per dataset sid, how many pids its dataset spec defines; larger pids in label files (Cityscapes-PP's
        person / rider pid 5) are undefined."""
        dspec = self.dataset_spec
        return np.array([len(dspec.sid2part_classes[s]) - 1 for s in range(len(dspec.l))])

    def part_index_to_pid(self, sid: int) -> dict[int, int]:
        """Flat part index -> per-class eval pid of a class's part masks (for the PPS output)."""
        return {self.sid_pid2flat[sid * 100 + pid] - 1: pid for pid in self._mask_pids(sid)}


def _clean_mapping(mapping) -> dict[int, int | None]:
    return {int(k): (None if v == 'IGNORED' else int(v)) for k, v in mapping.items() if k != 'DEFAULT'}


@functools.lru_cache(maxsize=None)
def load_spec(name_or_path: str = 'cityscapes') -> PPSSpec:
    """Load a named spec ('cityscapes', 'cityscapes-grouped', 'pascal', 'pascal-107') or a YAML path."""
    path = resolve_spec_path(name_or_path)
    official = load_official_spec(path)
    things = tuple(sorted(official.eval_sid_things))
    stuff = tuple(sorted(official.eval_sid_stuff))
    # A class is scored with parts iff the official cat_definition gives it more than one part.
    parts_sids = tuple(sorted(
        sid for sid, cat in zip(official.eval_sid_total, official.cat_definition['cat_def'])
        if len(cat['parts_cls']) > 1))
    sid_pid2flat = {int(k): int(v) for k, v in official.eval_sid_pid2eval_pid_flat.items()}
    part_names = {int(k): str(v) for k, v in official.eval_pid_flat2scene_part_label.items() if int(k) > 0}
    for flat in sid_pid2flat.values():
        part_names.setdefault(flat, f'part{flat}')
    return PPSSpec(
        name=name_or_path if name_or_path in NAMED_SPECS else osp.basename(path),
        path=path,
        official=official,
        classes=things + stuff,
        thing_sids=things,
        stuff_sids=stuff,
        parts_sids=parts_sids,
        part_mask_sids=tuple(sorted({sp // 100 for sp in sid_pid2flat})),
        class_names={int(k): str(v) for k, v in official.eval_sid2scene_label.items()},
        part_names=dict(sorted(part_names.items())),
        sid_pid2flat=sid_pid2flat,
        ignore_label=int(official.ignore_label),
    )


__all__ = ['NAMED_SPECS', 'PPSSpec', 'load_spec', 'load_official_spec', 'resolve_spec_path']
