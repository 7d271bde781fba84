"""Write the synthetic part-aware panoptic dataset in the official Panoptic Parts formats.

    python tools/dataset_converters/make_synthetic_pp.py --out data/synthetic_pp --num-train 200 --num-val 50

See tapps_mm/datasets/synthetic_pp.py for what the scenes contain. Deterministic for a seed.
"""
import argparse

from tapps_mm.datasets.synthetic_pp import write_synthetic_pp


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'--size must look like 128x128, got {text!r}')
    if h < 32 or w < 32:
        raise argparse.ArgumentTypeError(f'--size must be at least 32x32, got {text!r}')
    return h, w


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument('--size', type=parse_size, default=(128, 128), help='HxW (default 128x128)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--object-scale', type=float, default=1.0,
                        help='object size relative to the image (2: objects twice as large)')
    parser.add_argument('--twin-parts', action='store_true',
                        help="paint cart parts in the robot parts' colours (a part's class then depends on its object)")
    args = parser.parse_args()
    write_synthetic_pp(args.out, args.num_train, args.num_val, args.size, args.seed,
                       object_scale=args.object_scale, twin_parts=args.twin_parts)
    print(f'Synthetic Panoptic Parts written to {args.out}')


if __name__ == '__main__':
    main()
