"""Convert an official TAPPS checkpoint (detectron2) into a checkpoint of our config of the same row.

    python tools/model_converters/tapps_d2_to_mm.py SRC DST [--config CFG]

SRC: ``tapps_{pascal,pascal107,cityscapes}_{r50_in1kinit,r50_cocoinit,swinb_cocoinit}.bin`` (a torch state
dict, possibly under ``model``); the config follows from that name unless ``--config`` is given. Strict:
every source tensor has a destination (or is on the documented drop list), every model tensor a source,
shapes agree; a report is printed; exit 1 otherwise. Then ``tools/test.py CFG DST`` evaluates it.
"""
import argparse
import sys

from tapps_mm.converters.checkpoints import ConversionError, load_detectron2_state
from tapps_mm.converters.tapps_d2 import build_model, config_for, convert_tapps, save_checkpoint
from tapps_mm.engine.safe_load import UnsafeCheckpointError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--config', help='our config of the same row (default: from the official file name)')
    args = parser.parse_args(argv)
    try:
        config = config_for(args.src, args.config)
        model, spec = build_model(config)
        state, report = convert_tapps(load_detectron2_state(args.src), model, spec)
    except (ConversionError, ValueError, UnsafeCheckpointError, OSError) as e:
        print(f'{args.src}: not converted:\n{e}', file=sys.stderr)
        return 1
    save_checkpoint(state, args.dst, dict(converted_from=args.src.rsplit('/', 1)[-1], config=config))
    print(f'{args.src} -> {args.dst} (config {config})\n{report}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
