"""mmcv's compiled extension, absent: this is mmcv-lite (mmcv 2.1.0 without compiled ops).

mmcv's ``ext_loader.load_ext`` imports ``mmcv._ext`` and checks that each op it needs is an attribute; here
every name is one (PEP 562 ``__getattr__``), so ``mmcv.ops`` and everything built on it (mmdet, mmseg)
import. Calling one raises :class:`CompiledOpMissing`, naming the op and how to get the compiled build. The
CPU path of TAPPS-MM calls no compiled op; its whole test suite runs on this set-up.

Installed by ``make install`` (distribution ``tapps-mm-mmcv-ext-stub``, ``requirements/mmcv-ext-stub``);
``make install-gpu`` uninstalls it and builds mmcv 2.1.0 with its ops against the installed torch, whose
compiled ``_ext`` then takes precedence.
"""

COMPILED = False  # what mmcv._ext is here: ``mmcv._ext.COMPILED`` is False only for this stand-in


class CompiledOpMissing(RuntimeError):
    """A compiled mmcv op was called, but this mmcv has no compiled extension."""


def __getattr__(name: str):
    if name.startswith('__'):
        raise AttributeError(name)

    def missing(*args, **kwargs):
        raise CompiledOpMissing(
            f'mmcv compiled op {name!r} was called, but this mmcv is mmcv-lite, without compiled ops (the CPU '
            'set-up of make install). For the compiled build: make install-gpu (docs/get_started.md)')
    missing.__name__ = name
    return missing
