#!/bin/sh
# Graft vs PyTorch inference throughput, 2 threads, random weights, batch 32 at 224x224.
#   sh Benchmarks/run_bench.sh [arch] [runs]
# The machine may be shared: compare the "best" figures, and look at the load average printed.
set -e
ARCH=${1:-resnet34}
RUNS=${2:-7}
cd "$(dirname "$0")/.."
swift build -c release --scratch-path .build-engine --product graft_bench >/dev/null
uptime
for p in f32 bf16; do .build-engine/release/graft_bench --arch "$ARCH" --precision $p --runs "$RUNS"; done
"${PYTHON:-$HOME/torchenv/bin/python}" Benchmarks/bench_infer.py --arch "$ARCH" --runs "$RUNS"
uptime
