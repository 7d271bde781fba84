"""Part-aware panoptic segmentation of your own images.

    python tools/infer.py IMAGES_OR_DIR... --config CFG --checkpoint CKPT --out DIR [--device cpu]

Per image, in DIR: ``<stem>.png`` (the official 3-channel PPS prediction: eval sid, instance id, eval pid;
255 = none), ``<stem>_overlay.png`` (objects by class with instance outlines, parts with a legend) and
``<stem>.json`` (segments: class, instance, score, area, parts with their areas); ``images.json`` lists
them (``tools/evaluate_pps.py`` scores the folder against ground truth). Unreadable images are reported by
name and skipped; the exit status is 1 if there were any.
"""
import argparse
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('inputs', nargs='+', help='image files and / or folders (searched recursively)')
    parser.add_argument('--config', required=True, help='the model config')
    parser.add_argument('--checkpoint', required=True, help='weights of that config (must fit it exactly)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load the checkpoint with the full unpickler (runs code the file names): only for '
                             'files you trust')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from tapps_mm.apis import infer_images, init_pps_model, list_images
    if args.unsafe_load:
        from tapps_mm.engine import allow_unsafe_load
        allow_unsafe_load()
    images = list_images(args.inputs)
    if not images:
        print(f'no images found in {args.inputs}', file=sys.stderr)
        return 1
    model = init_pps_model(args.config, args.checkpoint, args.device, args.cfg_options)
    written, errors = infer_images(model, images, args.out)
    print(f'{len(written)} of {len(images)} images segmented into {args.out}')
    for error in errors:
        print(f'error: {error}', file=sys.stderr)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
