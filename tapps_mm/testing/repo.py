"""The repository's root, and its scripts loaded by path (``tools/`` is not a package), for the tests."""
from __future__ import annotations

import importlib.util
import os.path as osp
from types import ModuleType

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_module(path: str, name: str) -> ModuleType:
    """Run the Python file ``path`` (absolute, or relative to the repository) as a new module ``name``,
    without importing the package around it."""
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
