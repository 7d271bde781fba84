"""Two methods side by side on the images where they differ most (``tapps_mm.apis.comparison``).

    python tools/analysis_tools/compare_predictions.py CONFIG_A CKPT_A CONFIG_B CKPT_B --out DIR \\
        [--names TAPPS baseline] [--stats-a A.npz --stats-b B.npz] [--num 4 --random 2] [--data-root ROOT]

Per chosen image, ``DIR/<image id>.png`` and ``.pdf``: the image and its ground truth, then each method's
objects and parts (objects whose predicted parts conflict with their class outlined red, its PartPQ on the
image in the title; a class in one hue throughout, a predicted object matching a ground-truth object in that
object's colour); ``DIR/chosen.json`` lists the images, why each was chosen and both PartPQs. Images:
the ``--num`` with the largest per-image PartPQ difference, then ``--random`` others. The per-image PartPQ
comes from the runs' per-image statistics (``--stats-a`` / ``--stats-b``: ``per_image_stats/iter_<N>.npz``
of a training run, ``<ts>/per_image_stats.npz`` of tools/test.py) or, without them, from running the
models on every image of the config's test split (``--data-root`` points it at another copy).
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config_a')
    p.add_argument('checkpoint_a')
    p.add_argument('config_b')
    p.add_argument('checkpoint_b')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--names', nargs=2, metavar=('A', 'B'), help='method names (default: the config names)')
    p.add_argument('--stats-a', help='per-image statistics file of method a on the same split')
    p.add_argument('--stats-b', help='per-image statistics file of method b on the same split')
    p.add_argument('--num', type=int, default=4, help='images with the largest PartPQ difference')
    p.add_argument('--random', type=int, default=2, help='further images drawn at random')
    p.add_argument('--seed', type=int, default=0, help='seed of the random draw')
    p.add_argument('--data-root', help='the dataset copy to read (default: the config\'s data_root)')
    p.add_argument('--min-size', type=int, default=192, help='short side of each drawn panel, pixels')
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override settings of both configs')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from tapps_mm.apis import init_pps_model
    from tapps_mm.apis.comparison import Method, compare, dataset_samples
    from tapps_mm.fileio import write_json_atomic
    names = args.names or [osp.splitext(osp.basename(c))[0] for c in (args.config_a, args.config_b)]
    if names[0] == names[1]:
        names = [f'a: {names[0]}', f'b: {names[1]}']
    methods = [Method(name, init_pps_model(config, ckpt, args.device, args.cfg_options), stats)
               for name, config, ckpt, stats in zip(names, (args.config_a, args.config_b),
                                                    (args.checkpoint_a, args.checkpoint_b),
                                                    (args.stats_a, args.stats_b))]
    samples = dataset_samples(args.config_a, args.data_root, args.cfg_options)
    try:
        records = compare(*methods, samples, args.out, args.num, args.random, args.seed, args.min_size)
    except ValueError as e:
        print(f'compare_predictions: {e}', file=sys.stderr)
        return 1
    write_json_atomic(records, osp.join(args.out, 'chosen.json'))
    for r in records:
        print(f'{r["image_id"]} ({r["why"]}): ' + ', '.join(f'{k} {v:.1f}' for k, v in r.items()
                                                            if k.startswith('PartPQ')))
    return 0


if __name__ == '__main__':
    sys.exit(main())
