import os
import os.path as osp

import pytest

from tapps_mm.testing.repo import REPO

# `make test` runs 2 xdist workers on 2 cores: one intra-op thread each, or their OpenMP threads spin
# against each other (10-50x slower tensor ops). Set before torch is imported by any test module.
if os.environ.get('PYTEST_XDIST_WORKER'):
    os.environ.setdefault('OMP_NUM_THREADS', '1')
else:
    # yapf (imported by mmengine) caches its grammar as a pickle in the user's cache directory on
    # first import, and renames the file into place before closing it: two xdist workers importing
    # it at once on a fresh machine can read it empty (EOFError at collection). Build the cache
    # here, in the controller, before any worker starts.
    import yapf  # noqa: F401

SHARED_REFERENCE = osp.join(osp.dirname(REPO), 'shared', 'reference')


@pytest.fixture(scope='session')
def shared_reference() -> str:
    """The project's shared reference folder (next to the repository); tests skip without it."""
    if not osp.isdir(SHARED_REFERENCE):
        pytest.skip('../shared/reference is not present next to the repository')
    return SHARED_REFERENCE


@pytest.fixture(scope='session')
def slurm_env(tmp_path_factory):
    """A real single-node Slurm on localhost for the whole session (``tests/slurm_cluster.py``):
    the client environment (``SLURM_CONF``) to merge into ``srun`` / ``sbatch`` calls; skips without Slurm."""
    from slurm_cluster import local_slurm_cluster, slurm_missing_reason
    reason = slurm_missing_reason()
    if reason:
        pytest.skip(reason)
    with local_slurm_cluster(tmp_path_factory.mktemp('slurm'), cpus=2) as env:
        yield env
