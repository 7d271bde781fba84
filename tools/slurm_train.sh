#!/usr/bin/env bash
# Training on a Slurm cluster, mmdet's interface (one task per GPU, --launcher slurm):
#   [GPUS=16] [GPUS_PER_NODE=8] tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# Environment: GPUS (tasks in all), GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS (extra srun flags),
# PORT (rendezvous port, default 29500), GRES (default gpu:GPUS_PER_NODE; GRES= for CPU-only nodes,
# where the tasks train over gloo). Add --resume to continue from the latest complete checkpoint
# in WORK_DIR (a requeued job picks up where it was killed).
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
GRES=${GRES-gpu:${GPUS_PER_NODE}}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
export MASTER_PORT=${PORT:-29500}

# Build yapf's grammar cache (imported by mmengine) once, here (home directories are shared on
# clusters): tasks that build it at the same time can read it half-written.
"$PYTHON" -c 'import yapf'
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    ${GRES:+--gres="${GRES}"} \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$(dirname "$0")/train.py" "${CONFIG}" --work-dir="${WORK_DIR}" --launcher="slurm" "${@:5}"
