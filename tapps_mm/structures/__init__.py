"""What part-aware heads hand on: part targets for the losses, part outputs for the fusion head."""
from tapps_mm.structures.part_outputs import PartOutputs, QueryPartOutputs, SemanticPartOutputs
from tapps_mm.structures.part_targets import (
    PART_BITS,
    PartTargets,
    PresentPartTargets,
    SupervisedObjects,
    pack_part_code,
)

__all__ = ['PartOutputs', 'QueryPartOutputs', 'SemanticPartOutputs', 'PART_BITS', 'PartTargets',
           'PresentPartTargets', 'SupervisedObjects', 'pack_part_code']
