#!/usr/bin/env bash
# `make scale-test`: Graft across two "hosts" on this machine. Two network namespaces joined by
# a veth pair act as two machines with one link between them (10.77.0.1 and 10.77.0.2, addresses
# that exist only inside the namespaces). mpirun starts in host a; a launch agent (Open MPI's
# plm_rsh_agent, in place of ssh) starts the remote daemon in host b with `ip netns exec`, and
# Open MPI's TCP traffic is held to the veth subnet, so every byte between the ranks crosses the
# link. Each host is pinned to one core (taskset), as two one-core machines.
#
# Runs batch_predict (-np 2, one rank per host) on the demo's Fashion-MNIST validation images
# and checks its output is byte for byte a single process's; then data-parallel finetune (every
# build since it came has it: a finetune without it fails the test, it is never skipped). Prints
# the time and the bytes that crossed the link, and the SHA-256 of every output (batch_predict's,
# the models) to compare between runs; SCALE_KEEP=DIR keeps the outputs there. Needs root (ip
# netns) and `make build`; removes the namespaces on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/.build/release"
NS_A=graft-host-a NS_B=graft-host-b
VETH_A=graft-veth-a VETH_B=graft-veth-b
ADDR_A=10.77.0.1 ADDR_B=10.77.0.2 NET=10.77.0.0/24
IMAGES=${SCALE_IMAGES:-200}          # validation images per class for batch_predict (5 classes)
TRAIN=${SCALE_TRAIN:-200}            # training images per class for finetune

if [ "$(id -u)" != 0 ]; then echo "scale-test: needs root (ip netns, ip link); run it as root" >&2; exit 1; fi
for t in batch_predict demo_data finetune; do
  [ -x "$BIN/$t" ] || { echo "scale-test: $BIN/$t is not built; run make build first" >&2; exit 1; }
done
# finetune's half is never skipped: a build without data-parallel finetune fails here, before
# anything runs. The help is captured first: `finetune --help | grep -q mpirun` under pipefail
# fails whenever grep exits before finetune has written everything (SIGPIPE), which once made
# this script skip finetune silently.
FINETUNE_HELP=$("$BIN/finetune" --help 2>&1 || true)
case "$FINETUNE_HELP" in
  *mpirun*) ;;
  *) echo "scale-test: $BIN/finetune --help does not mention mpirun: this build has no data-parallel finetune; rebuild it (make build)" >&2; exit 1 ;;
esac
command -v mpirun >/dev/null || { echo "scale-test: mpirun not found (Debian's openmpi-bin; make deps installs it)" >&2; exit 1; }
command -v ip >/dev/null || { echo "scale-test: ip not found (Debian's iproute2)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/graft-scale.XXXXXX)
cleanup() {
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  ip link del "$VETH_A" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup   # what an interrupted run may have left
mkdir -p "$WORK"

echo "== two hosts: $NS_A ($ADDR_A) and $NS_B ($ADDR_B), joined by a veth pair"
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$VETH_A" type veth peer name "$VETH_B"
ip link set "$VETH_A" netns "$NS_A"
ip link set "$VETH_B" netns "$NS_B"
ip -n "$NS_A" addr add "$ADDR_A/24" dev "$VETH_A"
ip -n "$NS_B" addr add "$ADDR_B/24" dev "$VETH_B"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "$VETH_A" up
ip -n "$NS_B" link set "$VETH_B" up

CPU_B=$(( $(nproc) > 1 ? 1 : 0 ))   # host b's core (the same as host a's on a one-CPU machine)

# Open MPI calls the agent as it would call ssh: `agent [options] HOST COMMAND...`.
cat > "$WORK/agent.sh" <<AGENT
#!/bin/sh
while [ \$# -gt 0 ]; do case "\$1" in -*) shift ;; *) break ;; esac; done
host=\$1; shift
case "\$host" in
  $ADDR_A) ns=$NS_A cpu=0 ;;
  $ADDR_B) ns=$NS_B cpu=$CPU_B ;;
  *) echo "agent: unknown host \$host" >&2; exit 255 ;;
esac
exec ip netns exec "\$ns" taskset -c "\$cpu" /bin/sh -c "\$*"
AGENT
chmod +x "$WORK/agent.sh"

# mpirun runs in host a (pinned to core 0, where it starts rank 0 itself) and reaches host b
# through the agent; TCP only, on the veth subnet.
MPIRUN=(ip netns exec "$NS_A" taskset -c 0 mpirun --allow-run-as-root --host "$ADDR_A:1,$ADDR_B:1" -np 2
        --mca plm_rsh_agent "$WORK/agent.sh" --mca btl tcp,self
        --mca btl_tcp_if_include "$NET" --mca oob_tcp_if_include "$NET" --bind-to none)

link_bytes() {   # bytes sent and received by host a's end of the link
  ip -n "$NS_A" -s -j link show "$VETH_A" | python3 -c 'import json, sys; s = json.load(sys.stdin)[0]["stats64"]; print(s["tx"]["bytes"], s["rx"]["bytes"])'
}

timed() {   # timed NAME COMMAND...: runs it, keeps its output in $WORK/NAME.{out,err}; sets
            # SECONDS_TAKEN to "wall s (CPU s)", the CPU time of the processes it waited for:
            # under mpirun, host a's (host b's daemon leaves the launch agent and is not counted)
  local name=$1; shift
  local TIMEFORMAT='%R %U %S' rc=0 wall user sys
  { time "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || rc=$?; } 2> "$WORK/$name.time"
  if [ "$rc" != 0 ]; then
    echo "scale-test: $name failed:" >&2; cat "$WORK/$name.err" >&2; exit 1
  fi
  read -r wall user sys < "$WORK/$name.time"
  SECONDS_TAKEN=$(python3 -c "print(f'{$wall:.2f} s wall ({$user + $sys:.2f} s CPU)')")
}

across() {   # across NAME COMMAND...: under mpirun over the two hosts, with the link's byte count
  local name=$1; shift
  local before after
  before=$(link_bytes)
  timed "$name" "${MPIRUN[@]}" "$@"
  after=$(link_bytes)
  python3 - "$before" "$after" "$SECONDS_TAKEN" "$name" <<'PY'
import sys
(tx0, rx0), (tx1, rx1) = (map(int, s.split()) for s in sys.argv[1:3])
print(f"   {sys.argv[4]}: {sys.argv[3].replace(' CPU)', ' CPU in host a)')}, over the link: {(tx1 - tx0) / 1e6:.2f} MB sent by host a, {(rx1 - rx0) / 1e6:.2f} MB received")
PY
}

echo "== data: the demo's Fashion-MNIST classes 5-9 (28x28 PNGs), $TRAIN train and $IMAGES val images per class"
IDX="$WORK/idx"; mkdir -p "$IDX"
for f in /usr/share/datasets/fashion-mnist/*.gz; do gunzip -c "$f" > "$IDX/$(basename "$f" .gz)"; done
"$BIN/demo_data" --idx "$IDX" --classes 5,6,7,8,9 --train-per-class "$TRAIN" --val-per-class "$IMAGES" "$WORK/data" >/dev/null
WEIGHTS="$ROOT/weights/fashion04-resnet18.pth"

echo "== mpirun's own cost: starting and ending two ranks that do nothing (/bin/true)"
across launch /bin/true

# At 224x224, the tutorial's size, so that the run's time is mostly the model's work (this
# resnet18 was trained at 32x32: its classes mean little here; speed and identity are the point).
echo "== batch_predict, $((5 * IMAGES)) images, resnet18 at 224x224, --json"
PREDICT=("$BIN/batch_predict" --recursive --json --weights "$WEIGHTS" --image-size 224 --resize 256 --batch-size 16 "$WORK/data/val")
timed predict-single taskset -c 0 "${PREDICT[@]}"
echo "   one process on one core: $SECONDS_TAKEN"
across predict-2hosts "${PREDICT[@]}"
grep -h "processes" "$WORK/predict-2hosts.err" | sed 's/^/   /' || true
if cmp -s "$WORK/predict-single.out" "$WORK/predict-2hosts.out"; then
  echo "   output: identical to one process's ($(wc -l < "$WORK/predict-single.out") lines, $(wc -c < "$WORK/predict-single.out") bytes)"
else
  echo "scale-test: batch_predict over two hosts printed something else than one process:" >&2
  diff "$WORK/predict-single.out" "$WORK/predict-2hosts.out" | head >&2
  exit 1
fi

{   # data-parallel finetune (checked at the start)
  echo "== finetune, $((5 * TRAIN)) train images, resnet18 at 32x32, --train all, 2 epochs, global batch 64"
  finetune_args() {   # finetune_args TAG BATCH
    echo --weights "$WEIGHTS" --classes 5 --image-size 32 --resize 32 --epochs 2 --batch-size "$2" --lr 1e-3 \
      --no-augment --output "$WORK/$1.pth" --class-indices "$WORK/$1.json" --metrics "$WORK/$1.metrics.json" "$WORK/data"
  }
  epoch_rate() {   # the median epoch's images/s, from metrics.json
    python3 - "$1" <<'PY'
import json, statistics, sys
rates = [e["images_per_second"] for e in json.load(open(sys.argv[1]))["epochs"]]
print(f"{statistics.median(rates):.1f} images/s")
PY
  }
  last_epoch() {   # the last "[epoch N]" line (progress lines end in erase-line sequences)
    tr '\r' '\n' < "$1" | sed 's/.*\x1b\[K//' | grep -h '^\[epoch' | tail -1
  }
  # shellcheck disable=SC2046  # the paths have no spaces (mktemp)
  timed finetune-single taskset -c 0 "$BIN/finetune" $(finetune_args single 64)
  echo "   one process on one core, --batch-size 64: $SECONDS_TAKEN, $(epoch_rate "$WORK/single.metrics.json") (median epoch)"
  # shellcheck disable=SC2046
  across finetune-2hosts "$BIN/finetune" $(finetune_args two 32)
  echo "   2 hosts, --batch-size 32 each: $(epoch_rate "$WORK/two.metrics.json") (median epoch)"
  grep -h "allreduce" "$WORK/finetune-2hosts.out" "$WORK/finetune-2hosts.err" | sed 's/^/   /' || true
  echo "   one process, last epoch: $(last_epoch "$WORK/finetune-single.out")"
  echo "   2 hosts, last epoch:     $(last_epoch "$WORK/finetune-2hosts.out")"
}
# What a run must reproduce byte for byte when it is run again on this machine (the same
# command, the same bytes: --conv auto's choices come from the choice cache after the first
# run): batch_predict's output and the two models. Compare these lines between runs.
# batch_predict prints each image's path, which holds this run's scratch folder (mktemp): its
# digest is taken with that folder's name cut out, as "<work>".
echo "== outputs (SHA-256; the same on every run on this machine):"
for f in predict-single.out predict-2hosts.out; do
  echo "   $(sed "s|$WORK/|<work>/|g" "$WORK/$f" | sha256sum | cut -c1-16)  $f (scratch folder as <work>)"
done
for f in single.pth two.pth single.json two.json; do
  echo "   $(sha256sum "$WORK/$f" | cut -c1-16)  $f"
done
if [ -n "${SCALE_KEEP:-}" ]; then
  mkdir -p "$SCALE_KEEP"
  cp "$WORK"/predict-*.out "$WORK"/single.* "$WORK"/two.* "$WORK"/finetune-*.out "$SCALE_KEEP"/
  echo "   kept in $SCALE_KEEP"
fi
echo "== done; namespaces removed. Load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) (this machine has $(nproc) CPUs)"
