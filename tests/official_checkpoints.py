"""Official TAPPS checkpoints stood in for: our model's tensors under the official (detectron2) names, for
the converter tests and the comparison tool's tests (no official file can be downloaded)."""
import torch

from tapps_mm.converters import MASK2FORMER_R50
from tapps_mm.converters.key_rules import KeyRules
from tapps_mm.converters.tapps_d2 import PART_RULES, class_row_permutation

OFFICIAL_RULES = KeyRules(PART_RULES + MASK2FORMER_R50.pairs)


def official_state(model, spec, frozen_bn: bool = False) -> dict:
    """Our model's tensors under the official names, in the official class order (what the .bin holds);
    ``frozen_bn``: without BN step counters, as the Pascal-PP models (detectron2's FrozenBN)."""
    state = {}
    perm = class_row_permutation(spec)
    for key, value in model.state_dict().items():
        if frozen_bn and key.endswith('num_batches_tracked'):
            continue
        name = OFFICIAL_RULES.to_detectron2(key)
        assert name is not None, key
        if key.startswith('panoptic_head.cls_embed.'):
            value = value[torch.argsort(torch.tensor(perm))]
        state[name] = value.clone()
    state['criterion.empty_weight'] = torch.ones(spec.num_classes + 1)
    return state
