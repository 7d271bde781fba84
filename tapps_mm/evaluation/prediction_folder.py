"""A folder of predictions that belongs to one run: claimed when the run starts, listed when it ends.

Why: ``tools/test.py --out DIR`` writes one PNG per image from every rank, then ``images.json`` and
``pps_results.json``. Each file is atomic, the folder is not: two runs into one ``DIR``, or a killed rerun
into an old one, would leave files of different runs that score together with exit 0. So:

- :func:`claim` (``tools/test.py``, before the model runs): ``DIR`` must be new or empty, or hold only what a
  prediction run writes and be replaced whole on request (``--overwrite-out``). The claim is a
  ``manifest.json`` created exclusively, naming the run and saying it is unfinished.
- :class:`~tapps_mm.evaluation.metrics.PartPQMetric` records the SHA-256 of every file as it writes it and
  :func:`finish` writes the manifest with all of them, last. A run that finds another run's claim there
  refuses to finish.
- :func:`verify` (``evaluate_pps``, the collector) refuses a folder whose manifest is unfinished, or whose
  files are missing, changed, or not listed.

A folder without ``manifest.json`` holds predictions from another tool (e.g. the official TAPPS code) and is
read as it is.
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import socket
import time

from tapps_mm.fileio import atomic_path

MANIFEST = 'manifest.json'
PREDICTIONS = 'predictions'  # the PNGs' subfolder
#: the files a prediction run writes beside its PNGs
RUN_FILES = ('images.json', 'pps_results.json', MANIFEST)


class PredictionFolderError(ValueError):
    """A prediction folder that is unfinished, mixed, or not ours to replace; the message names it."""


def new_run_id() -> str:
    """A name for this run that no other run shares: host, process and start time."""
    return f'{socket.gethostname()}:{os.getpid()}:{time.strftime("%Y%m%d_%H%M%S")}:{time.time_ns() % 10**9}'


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def write_json_hashed(obj, path: str) -> str:
    """Write ``obj`` as JSON atomically (NaN refused) and return the SHA-256 of the bytes written."""
    data = json.dumps(obj, indent=2, allow_nan=False).encode()
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def find_manifest(pred_dir: str) -> str | None:
    """The manifest that covers ``pred_dir``: in it, or in its parent when it is a run's ``predictions/``."""
    for folder in (pred_dir, osp.dirname(osp.abspath(pred_dir))):
        path = osp.join(folder, MANIFEST)
        if osp.isfile(path):
            return path
        if osp.basename(osp.normpath(pred_dir)) != PREDICTIONS:
            break
    return None


def read_manifest(path: str) -> dict:
    """A manifest, checked: ``{'run': str, 'complete': bool, 'files': {relative path: sha256}}``."""
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise PredictionFolderError(f'{path}: not a readable manifest ({type(e).__name__}: {e})') from None
    files = manifest.get('files') if isinstance(manifest, dict) else None
    if not (isinstance(files, dict) and isinstance(manifest.get('run'), str)
            and isinstance(manifest.get('complete'), bool)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
        raise PredictionFolderError(f'{path}: not a prediction manifest ({{"run": ..., "complete": ..., '
                                    '"files": {path: sha256}})')
    for name in files:
        if _outside(name):
            raise PredictionFolderError(f'{path}: lists {name!r}, which is not a file inside its folder')
    return manifest


def _outside(name: str) -> bool:
    parts = name.split('/')
    return osp.isabs(name) or '\\' in name or any(p in ('', '.', '..') for p in parts)


def _listing(folder: str) -> list[str]:
    """The files of a prediction folder, as the manifest names them (``predictions/<id>.png``, ``images.json``)."""
    names = []
    for entry in sorted(os.listdir(folder)):
        path = osp.join(folder, entry)
        if entry == PREDICTIONS and osp.isdir(path) and not osp.islink(path):
            names += [f'{PREDICTIONS}/{f}' for f in sorted(os.listdir(path))]
        else:
            names.append(entry)
    return names


def claim(folder: str, run_id: str, overwrite: bool = False) -> None:
    """Make ``folder`` this run's: new or empty, else (``overwrite``) an earlier run's folder replaced whole."""
    if osp.exists(folder) and not osp.isdir(folder):
        raise PredictionFolderError(f'{folder}: exists and is not a folder (--out takes a folder, or FILE.pkl)')
    if osp.isdir(folder) and os.listdir(folder):
        if not overwrite:
            raise PredictionFolderError(
                f'{folder}: --out already holds files ({", ".join(_listing(folder)[:4])} ...); a run writes into a '
                'new or empty folder. Give another --out, or pass --overwrite-out to replace the predictions of '
                'an earlier run')
        _remove_run_files(folder)
    os.makedirs(folder, exist_ok=True)
    try:  # exclusive: of two runs started into one folder at once, one gets it
        fd = os.open(osp.join(folder, MANIFEST), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise PredictionFolderError(f'{folder}: another run claimed this --out just now') from None
    with os.fdopen(fd, 'w') as f:
        json.dump({'run': run_id, 'complete': False, 'files': {}}, f)


def release(folder: str, run_id: str) -> None:
    """Give back a claim of a run that failed before it wrote anything (a bad config, a checkpoint refused), so
    that the folder is not left unfinished; a folder with files in it stays as it is (and is refused)."""
    path = osp.join(folder, MANIFEST)
    if not osp.isfile(path) or read_manifest(path)['run'] != run_id:
        return
    if [n for n in _listing(folder) if n != MANIFEST]:
        return
    os.remove(path)
    if osp.isdir(osp.join(folder, PREDICTIONS)):
        os.rmdir(osp.join(folder, PREDICTIONS))
    if not os.listdir(folder):
        os.rmdir(folder)


def _remove_run_files(folder: str) -> None:
    """Remove what a prediction run wrote in ``folder``, and refuse if anything else is there."""
    foreign = [n for n in _listing(folder)
               if not (n in RUN_FILES or (n.startswith(PREDICTIONS + '/') and n.endswith('.png')))]
    if foreign:
        raise PredictionFolderError(f'{folder}: not replaced: it holds files a prediction run does not write '
                                    f'({", ".join(foreign[:5])}); give another --out')
    manifest = osp.join(folder, MANIFEST)
    # first mark it unfinished, so that a kill during the removal leaves a folder that is refused, not one that
    # looks like predictions of another tool
    with atomic_path(manifest) as tmp, open(tmp, 'w') as f:
        json.dump({'run': 'being replaced', 'complete': False, 'files': {}}, f)
    for name in _listing(folder):
        if name != MANIFEST:
            os.remove(osp.join(folder, name))
    if osp.isdir(osp.join(folder, PREDICTIONS)):
        os.rmdir(osp.join(folder, PREDICTIONS))
    os.remove(manifest)


def finish(folder: str, run_id: str | None, files: dict[str, str]) -> None:
    """Write the manifest of a finished run: every file it wrote, with its SHA-256. A folder claimed by another
    run meanwhile is refused (the two runs' files are mixed)."""
    path = osp.join(folder, MANIFEST)
    if osp.isfile(path):
        claimed = read_manifest(path)['run']
        if run_id is not None and claimed != run_id:
            raise PredictionFolderError(f'{folder}: claimed by another run ({claimed}) while this one ({run_id}) '
                                        'wrote into it; its files are mixed: rerun into a new --out')
    with atomic_path(path) as tmp, open(tmp, 'w') as f:
        json.dump({'run': run_id or 'unclaimed', 'complete': True, 'files': dict(sorted(files.items()))}, f,
                  indent=1)


def verify(folder: str, manifest_file: str | None = None) -> dict | None:
    """Check a prediction folder against its manifest: finished, every listed file unchanged, nothing else
    there. Returns the manifest, or None when the folder has none (predictions of another tool)."""
    manifest_file = manifest_file or osp.join(folder, MANIFEST)
    if not osp.isfile(manifest_file):
        return None
    manifest = read_manifest(manifest_file)
    folder = osp.dirname(manifest_file)
    if not manifest['complete']:
        raise PredictionFolderError(f'{folder}: the predictions of run {manifest["run"]} are unfinished (the run '
                                    'was killed or is still running); rerun tools/test.py with --overwrite-out')
    listed = manifest['files']
    problems = []
    for name in _listing(folder):
        if name != MANIFEST and name not in listed:
            problems.append(f'{name} is not of this run')
    for name, digest in listed.items():
        path = osp.join(folder, name)
        if not osp.isfile(path):
            problems.append(f'{name} is missing')
        elif sha256_of(path) != digest:
            problems.append(f'{name} was written by another run')
    if problems:
        raise PredictionFolderError(f'{folder}: files of different runs are mixed here (manifest of run '
                                    f'{manifest["run"]}): ' + '; '.join(problems[:5])
                                    + (f'; ... ({len(problems) - 5} more)' if len(problems) > 5 else '')
                                    + '. Rerun tools/test.py into a new --out')
    return manifest
