import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_REFERENCE = osp.join(osp.dirname(REPO), 'shared', 'reference')


@pytest.fixture(scope='session')
def shared_reference() -> str:
    """The project's shared reference folder (next to the repository); tests skip without it."""
    if not osp.isdir(SHARED_REFERENCE):
        pytest.skip('../shared/reference is not present next to the repository')
    return SHARED_REFERENCE
