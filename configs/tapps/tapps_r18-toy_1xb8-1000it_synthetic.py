# Toy scale: TAPPS on the synthetic benchmark dataset, trainable on 2 CPU cores in minutes (random init).
# A half-width ResNet-18, 1 pixel-decoder and 3 masked-attention decoder layers, 128 dims, 30 queries.
#
# The toy benchmark (what the main job, tools/reproduce_tables.py, compares; written down before the
# comparison and kept fixed for it; benchmarks/toy.py holds the same facts for the pipeline):
# - What the data stresses, from the mechanism the paper claims: TAPPS predicts each object's parts from
#   that object's own query, so parts stay aligned with their object; the baseline segments parts without
#   knowing the objects. The benchmark dataset (make_synthetic_pp.py --size 64x64 --object-scale 2
#   --twin-parts, in data/synthetic_pp-bench/) paints every cart part in the colour of a robot part
#   (body = torso, window = head, wheel = leg), so a part's class follows from the object it belongs to,
#   not from its look; same-class robots and carts stand in touching, occluding rows, beside crowds
#   and void clutter. Objects are twice as large relative to the image as in the default dataset, so
#   64x64 images keep the part detail of the 128x128 ones at a quarter of the pixels.
# - Variance levers: 2000 training images (the cost is per iteration, not per image), 500 validation
#   images (50 gave several PartPQ points of noise), evaluation of an EMA of the weights (EMAHook,
#   momentum 0.01: about the last 100 iterations), a linear warm-up over the first 50 iterations, and a
#   longer schedule, so that the part masks can form in every seed (v2 stopped while they formed in some).
# - Speed levers (v4 probe below): ResNet-18 at half width (base_channels 32), 1 pixel-decoder and 3
#   decoder layers, 256 sampled points per mask (the 16x16 mask maps of a 64x64 image have 256 pixels;
#   the paper's 12544 points are for 1/4 of 1024x1024), data loading in the main process. The paper
#   configs keep the official settings (tests/test_configs.py).
# - Schedule: batch 8, 1000 iterations, AdamW lr 8e-4 (since v7; v5 had 4e-4), warm-up then poly decay, one
#   evaluation at the end.
# - Seeds 0-4 for each of TAPPS and the baseline (baseline_r18-toy_1xb8-1000it_synthetic.py: the same
#   settings with separate part queries and the official merging).
# Settings tried (each measured with the main job unless marked a probe; the per-run numbers are in
# benchmarks/results/ and benchmarks/results/tried/, summarised in the README's "settings tried" block):
# - v1: 128x128 images, 200 train / 50 val, batch 4 x 1600 iterations, no EMA, 2048 points: about 15 min
#   per run, and a second seed reversed the sign of TAPPS - baseline.
# - v2-400it: the data and evaluation above with a full-width ResNet-18, 2 pixel-decoder and 4 decoder
#   layers, 512 points, one loader worker, no warm-up, 400 iterations (0.64 s per step). The baseline met
#   the 1-point std goal, TAPPS did not: its parts-class PartPQ split between seeds whose part masks had
#   formed and seeds whose had not; the loss was still falling at 400.
# - v3-600it: v2 with 600 iterations, the one lever changed. Both methods gained (PartPQ +4 to +6) but the
#   seed spread grew for both (the parts-class PartPQ of both methods now split between seeds), the
#   paired difference lost its sign, and 10 runs took over an hour on 2 cores.
# - v4 probe (learning curves, 2 seeds, not the 5-seed comparison): v2's data with the cheaper model and
#   warm-up of this file, 1200 iterations, evaluated every 300. Step time 0.27-0.31 s (TAPPS) and
#   0.29-0.35 s (baseline) against v2's 0.64 s (tools/train.py logs). PartPQ at 300 / 600 / 900 / 1200
#   iterations (EMA weights, 500 val images): TAPPS seed 0 48.0 / 58.5 / 60.6 / 61.1, seed 1 50.0 / 56.4 /
#   59.6 / 61.1; baseline seed 0 48.8 / 54.4 / 59.5 / 60.6, seed 1 48.8 / 54.0 / 55.6 / 57.3 (PQ over
#   things at 1200: TAPPS 34.0 / 34.2, baseline 32.9 / 26.3); 6.6 min per TAPPS run, 7.3 min per baseline
#   run. 10 runs of 1200 iterations would take about 65 min, over the 60-minute ceiling.
# - v5-1000it (the default until v7): v4 with 1000 iterations and one evaluation: 10 runs in 35 min
#   (0.18-0.19 s per step). TAPPS PartPQ 59.1 +- 2.5 (seed 4 at 54.9, seeds 0-3 at 59.2-61.0), baseline
#   59.9 +- 1.3: the goal missed for both. The training logs place the spread in how fast a seed's object
#   masks form (the parts follow): the object dice loss at 900 iterations is 1.74 for TAPPS seed 4 against
#   1.52-1.59 for its other seeds, 1.87 for baseline seed 1 against 1.57-1.69, and still falling for all.
# - v6-1500it: v5 with 1500 iterations, the one lever changed, so that the slower seeds converge too.
#   Rule fixed before the comparison: v6 becomes the default if the PartPQ std over seeds 0-4 is at most
#   1 point for both methods; otherwise v5, the faster, stays the default. Measured (main job, 53 min):
#   TAPPS 62.7 +- 0.5 (62.1-63.2: the goal met, seed 4 caught up), baseline 62.2 +- 2.3 (seed 1 at 58.2,
#   the others 62.3-64.1: the goal missed; seed 1 was also the baseline's lowest in v5). So v5 stays the
#   default; v6 is this config with --cfg-options train_cfg.max_iters=1500 train_cfg.val_interval=1500
#   param_scheduler.1.end=1500.
# - lr probe (1 run, after v6): v5 with AdamW lr 2e-4 for baseline seed 1, the seed that lags: PartPQ 51.4
#   at 1000 iterations against 57.7 at 4e-4 (PQ over things 15.8): too slow a rate for this schedule; the
#   probe stopped there. Warm-up probe (1 run): v5 with a 200-iteration warm-up for the same seed: PartPQ
#   54.1 (PQ over things 20.5). A control run of v5 itself through tools/train.py gave 57.7 / 27.2, the
#   main job's numbers, so both probes compare like with like: neither lever rescues the lagging seed.
# - lr 8e-4 probe (2 runs, after the batched target assignment of the heads): v5 with AdamW lr 8e-4 for
#   the two seeds that lag in v5: baseline seed 1 PartPQ 62.7 (PQ over things 36.7; v5: 57.7 / 27.2) and
#   TAPPS seed 4 63.2 (37.9; v5: 54.9 / 22.0). Both lower-rate probes above lost, so the lagging seeds are
#   short of steps at the rate, not unstable. A control of baseline seed 1 at lr 4e-4 on the same code
#   gave 54.3 (20.4), not v5's 57.7: the batched assignment gives mmdet's matches, but its float sums in
#   another order, and that alone moves a lagging seed by 3 points, so 8e-4 is compared on the same code.
# - v7-lr8e-4: v5 with AdamW lr 8e-4, the one lever changed. Rule fixed before the comparison, as for v6:
#   v7 becomes the default if the PartPQ std over seeds 0-4 is at most 1 point for both methods; otherwise
#   v5 stays the default. Measured (main job, 10 runs, 35 min of training and evaluation, 36.5 min in all):
#   TAPPS 62.6 +- 1.0 (61.2-63.7; std 0.99: the goal met, only just), baseline 62.8 +- 0.5 (62.0-63.4):
#   the goal met for both, so v7 is the default (this file). With 5 seeds a sample std is itself uncertain
#   (its 95 % interval is about 0.6x-2.9x the estimate), so "at most 1" is met by the estimate, not proven.
# - v8-official (the default; written down before its measurement): v7 with the algorithm made equal to the
#   official TAPPS (docs/fidelity.md), which the toy inherits from the paper configs: inference keeps only the
#   pixels a query wins with probability >= 0.5 and gives no instance id to a query that keeps none; part
#   targets sampled bilinearly, the part loss normalised per process; objects without part labels and GT
#   segments of one pixel dropped as officially; matching costs in float32; no weight decay on the backbone's
#   norm layers. No toy setting changed (the synthetic generator now numbers instances from 0: the same
#   pixels). Not a tuning step: v8 is the default whatever it measures, since the paper configs and the toy
#   must share one algorithm; the variance goal (PartPQ std over seeds 0-4 at most 1 point for both methods)
#   is reported, met or not. Measured (main job, 10 runs, 24.3 min of training and evaluation): TAPPS 61.5 +- 1.4
#   (60.4-63.6), baseline 60.6 +- 2.4 (56.5-62.7; seed 1 lags again, as in v5): the goal missed for both.
#   Paired TAPPS - baseline PartPQ +0.9 [-2.1, +3.9], PartPQ of parts classes +3.0 [-1.9, +7.8], objects
#   without conflicts +22.6 [+20.3, +24.8]. Against v7 (same seeds, old algorithm) both methods lost 1-2
#   points of PartPQ; the re-run of TAPPS seed 2 gave the same PartPQ to the last digit (runs reproduce).
_base_ = [
    '../_base_/models/tapps_r50.py', '../_base_/datasets/synthetic_pps.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]
model_spec = 'synthetic'  # shipped copy of the synthetic dataset's spec: the model needs no data
dims = 128

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(depth=18, base_channels=32, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
                  init_cfg=None),
    panoptic_head=dict(
        spec=model_spec,
        in_channels=[32, 64, 128, 256],
        feat_channels=dims,
        out_channels=dims,
        num_queries=30,
        pixel_decoder=dict(
            encoder=dict(
                num_layers=1,
                layer_cfg=dict(self_attn_cfg=dict(embed_dims=dims, num_heads=4),
                               ffn_cfg=dict(embed_dims=dims, feedforward_channels=256))),
            positional_encoding=dict(num_feats=dims // 2)),
        positional_encoding=dict(num_feats=dims // 2),
        transformer_decoder=dict(
            num_layers=3,
            layer_cfg=dict(self_attn_cfg=dict(embed_dims=dims, num_heads=4),
                           cross_attn_cfg=dict(embed_dims=dims, num_heads=4),
                           ffn_cfg=dict(embed_dims=dims, feedforward_channels=512)))),
    panoptic_fusion_head=dict(spec=model_spec),
    train_cfg=dict(num_points=256),
    test_cfg=dict(object_mask_thr=0.5))

data_root = 'data/synthetic_pp-bench/'
# how the benchmark dataset is made (benchmarks/toy.py has the same; a missing dataset names this command)
generator = dict(num_train=2000, num_val=500, size=(64, 64), seed=0, object_scale=2.0, twin_parts=True)
size = 64
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPPSAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=(size, size), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(size, size), crop_type='absolute', allow_negative_crop=True),
    dict(type='PackPPSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(size, size), keep_ratio=True),
    dict(type='PackPPSInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,  # see the speed levers above
                        dataset=dict(data_root=data_root, generator=generator, pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, dataset=dict(data_root=data_root, generator=generator, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 1000
warmup_iters = 50
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=0.0008),  # fp32: AMP needs a GPU
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}), clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0, power=0.9, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=250, max_keep_ckpts=2))
custom_hooks = [dict(type='RNGStateHook'), dict(type='CheckpointMatchHook'), dict(type='PerImageStatsHook'),
                dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.01, update_buffers=True,
                     priority=49)]
randomness = dict(seed=0, deterministic=False)
