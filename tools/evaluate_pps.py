"""Score PPS predictions with PartPQ / PartSQ / PQ / mIoU (the official panoptic_parts numbers, fast).

    python tools/evaluate_pps.py GT_DIR PRED_DIR IMAGES_JSON --spec cityscapes --out RESULTS.json --nproc 2

The command line lives in ``tapps_mm.evaluation.cli`` (also the light install's ``tapps-mm-evaluate``).
"""
from tapps_mm.evaluation.cli import main

if __name__ == '__main__':
    main()
