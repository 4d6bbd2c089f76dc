#!/bin/sh
# Graft vs PyTorch inference throughput, 2 threads, random weights, batch 32 at 224x224.
#   sh Benchmarks/run_bench.sh [arch] [rounds]
# Graft and PyTorch runs are interleaved for `rounds` rounds so that load from other processes
# on a shared machine hits both alike; compare the best figures.
set -e
ARCH=${1:-resnet34}
ROUNDS=${2:-3}
PY=${PYTHON:-$HOME/torchenv/bin/python}
cd "$(dirname "$0")/.."
swift build -c release --scratch-path .build-engine --product graft_bench >/dev/null
uptime
i=0
while [ $i -lt "$ROUNDS" ]; do
    for p in f32 bf16; do OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} .build-engine/release/graft_bench --arch "$ARCH" --precision $p --runs 3; done
    OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$PY" Benchmarks/bench_infer.py --arch "$ARCH" --runs 3 --modes "${MODES:-f32_nchw,f32_cl,bf16_nchw,bf16_cl}" | grep -v "^torch [0-9]"
    i=$((i + 1))
done
uptime
