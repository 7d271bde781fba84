#!/usr/bin/env bash
# Distributed evaluation with torchrun, mmdet's interface:
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# Environment: NNODES, NODE_RANK, MASTER_ADDR, PORT as for tools/dist_train.sh.
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

# Build yapf's grammar cache (imported by mmengine) once: processes that build it at the same time
# can read it half-written on a fresh machine.
"$PYTHON" -c 'import yapf'
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
