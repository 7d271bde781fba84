# TAPPS (CVPR 2024): the Mask2Former of ./mask2former_r50.py with the JOPS head of ./jops_head.py, the official
# hyper-parameters (tests/test_configs/test_all_configs.py checks that only the keys it lists differ).
_base_ = ['./mask2former_r50.py', './jops_head.py']

model = _base_.jops_model
