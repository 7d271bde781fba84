"""TAPPS-MM: part-aware panoptic segmentation (TAPPS, CVPR 2024) on MMEngine and mmdet 3.x.

Kept light on purpose: ``tapps_mm.specs`` and ``tapps_mm.evaluation`` work without torch; the
OpenMMLab components register themselves when a config with ``default_scope='tapps_mm'`` is built
(see ``tapps_mm.registry``).
"""
from tapps_mm.version import __version__

__all__ = ['__version__']
