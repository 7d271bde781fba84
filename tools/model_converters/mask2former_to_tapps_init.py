"""Initialise one of our ``-cocopan`` configs from Mask2Former COCO-panoptic weights.

    python tools/model_converters/mask2former_to_tapps_init.py SRC DST --config CFG

SRC: detectron2's Mask2Former COCO-panoptic ``.pkl`` (numpy arrays under ``model``, read with an unpickler
that allows numpy arrays only) or mmdet's COCO-panoptic ``.pth``; R-50 or Swin-B. The COCO class head is
dropped; the part branch (and the baseline's part queries) start fresh; a report lists what was loaded
and what starts fresh. Use DST as the config's ``load_from``.
"""
import argparse
import sys

from tapps_mm.converters.checkpoints import ConversionError, load_detectron2_state
from tapps_mm.converters.tapps_d2 import build_model, convert_coco_init, save_checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--config', required=True, help='the config to initialise')
    args = parser.parse_args(argv)
    try:
        model, _ = build_model(args.config)
        state, report = convert_coco_init(load_detectron2_state(args.src), model)
    except (ConversionError, ValueError) as e:
        print(f'{args.src}: not converted:\n{e}', file=sys.stderr)
        return 1
    save_checkpoint(state, args.dst, dict(converted_from=args.src.rsplit('/', 1)[-1], config=args.config))
    print(f'{args.src} -> {args.dst} (initialisation of {args.config})\n{report}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
