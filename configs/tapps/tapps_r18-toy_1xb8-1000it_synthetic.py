# Toy scale: TAPPS on the synthetic benchmark dataset, trainable on 2 CPU cores in minutes (random init); the toy
# benchmark of tools/reproduce_tables.py trains it and the baseline for seeds 0-4 (benchmarks/toy.py).
# The toy Mask2Former (model, data, schedule, evaluation: configs/mask2former/) with the JOPS head of
# ../_base_/models/jops_head.py, as ../_base_/models/tapps_r50.py (tests/test_configs/test_all_configs.py checks
# that both add the same keys).
# Design, history and every tried setting: docs/toy_benchmark.md.
_base_ = ['../mask2former/mask2former_r18-toy_1xb8-1000it_synthetic.py', '../_base_/models/jops_head.py']

model = _base_.jops_model
