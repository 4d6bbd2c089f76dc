#!/usr/bin/env bash
# `make serve-check`: graft serve under load, on loopback, bounded in time (about 4 minutes).
# Prints the figures; asserts behaviour, never speed.
#
#  1. throughput: wrk at concurrency 64 against batch_predict's images/s on the same image
#  2. latency: p50 and p99 at concurrency 1, 8 and 64
#  3. memory: RSS over 20,000 requests (at a small image size, so that they take seconds)
#  4. faults: garbage bodies, truncated uploads, a slow client, clients that vanish mid-request,
#     10x overload; after each the server must still answer
#  5. kill -9 during load: nothing left behind, the port free at once
#
# The model is weights/fashion04-resnet18.pth (a real resnet18) at 224x224 unless SERVE_SIZE says
# otherwise. wrk runs on the same 2 cores as the server: it takes some of the CPU it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.build/release"
WEIGHTS="$PWD/weights/fashion04-resnet18.pth"
IMAGE="$PWD/Fixtures/images/src/jpeg_420.jpg"
SIZE=${SERVE_SIZE:-224}
RESIZE=$(( SIZE * 256 / 224 ))
PORT=${SERVE_PORT:-18080}
WORK=$(mktemp -d /tmp/graft-serve-check.XXXXXX)
SERVER_PID=""
trap 'kill -9 $SERVER_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
fail() { echo "serve-check: FAILED: $*"; exit 1; }

# Starts graft serve with the given extra options; waits for its "ready" line.
start() {
  "$BIN/graft" serve --weights "$WEIGHTS" --class-indices /nonexistent --port "$PORT" "$@" > "$WORK/server.out" 2> "$WORK/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    grep -q "ready" "$WORK/server.out" 2>/dev/null && return 0
    kill -0 $SERVER_PID 2>/dev/null || { cat "$WORK/server.err"; fail "graft serve exited at start"; }
    sleep 0.1
  done
  fail "graft serve did not get ready in 60 s"
}
stop() { kill -TERM $SERVER_PID; wait $SERVER_PID || fail "graft serve exited $? on SIGTERM"; SERVER_PID=""; }
rss_kb() { awk '/^VmRSS/ { print $2 }' /proc/$SERVER_PID/status; }
ok() { curl -s -o /dev/null -w '%{http_code}' --data-binary @"$IMAGE" -H 'Content-Type: image/jpeg' "http://127.0.0.1:$PORT/v1/predict"; }

cat > "$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/jpeg"
local f = io.open("$IMAGE", "rb"); wrk.body = f:read("*all"); f:close()
statuses = {}
response = function(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
EOF
# wrk's summary: requests/s, p50 and p99 latency, non-2xx count.
wrk_run() {  # connections seconds
  wrk -t"$(( $1 < 2 ? 1 : 2 ))" -c"$1" -d"$2"s --latency -s "$WORK/post.lua" "http://127.0.0.1:$PORT/v1/predict" > "$WORK/wrk.txt" 2>&1 || true
  local rps p50 p99 bad errors
  rps=$(awk '/^Requests\/sec/ { print $2 }' "$WORK/wrk.txt")
  p50=$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.txt")
  p99=$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.txt")
  bad=$(awk '/Non-2xx/ { print $NF }' "$WORK/wrk.txt")
  errors=$(awk '/Socket errors/ { print $0 }' "$WORK/wrk.txt")
  echo "$rps ${p50:-?} ${p99:-?} ${bad:-0} ${errors:-}"
}

echo "== machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2 }')"
echo "== model: resnet18 at ${SIZE}x${SIZE} (weights/fashion04-resnet18.pth), image $(basename "$IMAGE")"

# 1. The server's images/s under wrk, then batch_predict's on the same image (2048 copies, so that
# loading the model is a small part of its time).
mkdir -p "$WORK/images/x"
for i in $(seq 1 2048); do ln -s "$IMAGE" "$WORK/images/x/$i.jpg"; done
start --image-size "$SIZE" --resize "$RESIZE" --max-queue 256
wrk_run 8 3 > /dev/null   # warm the connections and the caches
read -r rps p50 p99 bad errors <<< "$(wrk_run 64 20)"
stop
t0=$(date +%s.%N)
"$BIN/batch_predict" --weights "$WEIGHTS" --class-indices /nonexistent --image-size "$SIZE" --resize "$RESIZE" \
  --recursive --batch-size 32 "$WORK/images" > /dev/null 2>&1 || fail "batch_predict failed"
t1=$(date +%s.%N)
batch_ips=$(echo "2048 / ($t1 - $t0)" | bc -l)
printf "throughput: graft serve %.1f images/s at concurrency 64 (p50 %s, p99 %s, non-2xx %s); batch_predict %.1f images/s (2048 images, batch 32): %.0f %%\n" \
  "$rps" "$p50" "$p99" "$bad" "$batch_ips" "$(echo "100 * $rps / $batch_ips" | bc -l)"
[ "$bad" = 0 ] || fail "non-2xx answers under normal load"

# 2. Latency at concurrency 1, 8 and 64.
start --image-size "$SIZE" --resize "$RESIZE" --max-queue 256
for c in 1 8 64; do
  read -r rps p50 p99 bad errors <<< "$(wrk_run $c 10)"
  printf "latency: concurrency %-2s  p50 %-9s p99 %-9s %.1f requests/s %s\n" "$c" "$p50" "$p99" "$rps" "${errors:-}"
  [ "$bad" = 0 ] || fail "non-2xx answers at concurrency $c"
done
stop

# 3. RSS over 20,000 requests (32x32: the model's time is small, the server's own is measured).
start --image-size 32 --resize 32 --max-queue 256 --read-timeout 5
wrk -t2 -c32 -d3s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/v1/predict" > /dev/null 2>&1 || true   # warm-up
total=0; series=""
first_rss=$(rss_kb)
while [ $total -lt 20000 ]; do
  wrk -t2 -c32 -d5s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/v1/predict" > "$WORK/wrk.txt" 2>&1 || true
  n=$(awk '/requests in/ { print $1 }' "$WORK/wrk.txt")
  total=$((total + n))
  series="$series $(( $(rss_kb) / 1024 ))"
done
last_rss=$(rss_kb)
echo "memory: RSS $((first_rss / 1024)) MB after 3 s of load; then every 5 s over $total requests:$series MB"
[ $((last_rss)) -lt $((first_rss * 2 + 100 * 1024)) ] || fail "RSS grew from $first_rss to $last_rss kB"

# 4. Faults, each followed by a normal request that must succeed.
python3 scripts/serve_faults.py "$PORT" "$IMAGE" || fail "faults"
[ "$(ok)" = 200 ] || fail "not serving after the faults"
# 10x overload: 320 connections against --max-queue 32: 429s, answered fast, never errors or hangs.
stop
start --image-size 32 --resize 32 --max-queue 32 --max-batch 32
read -r rps p50 p99 bad errors <<< "$(wrk_run 320 10)"
echo "overload: 320 connections, --max-queue 32: $rps answers/s, $bad of them 429 (refused at once), p99 $p99 ${errors:-}"
[ "$bad" -gt 0 ] || fail "no 429 under 10x overload"
sleep 1   # what was admitted in the last moment is answered
[ "$(ok)" = 200 ] || fail "not serving after the overload"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" = 200 ] || fail "/healthz after the overload"
grep -q 'status="429"' <(curl -s "http://127.0.0.1:$PORT/metrics") || fail "/metrics does not count the 429s"

# 5. kill -9 during load: no file left behind, the port free at once.
before=$(ls -A /tmp /dev/shm 2>/dev/null | grep -v "$(basename "$WORK")" | sort | md5sum)
(wrk -t2 -c32 -d5s -s "$WORK/post.lua" "http://127.0.0.1:$PORT/v1/predict" > /dev/null 2>&1 &)
sleep 2
kill -9 $SERVER_PID; wait $SERVER_PID 2>/dev/null || true; SERVER_PID=""
sleep 4
after=$(ls -A /tmp /dev/shm 2>/dev/null | grep -v "$(basename "$WORK")" | sort | md5sum)
[ "$before" = "$after" ] || fail "files appeared in /tmp or /dev/shm"
start --image-size 32 --resize 32
[ "$(ok)" = 200 ] || fail "the restarted server does not answer"
stop
echo "kill -9 under load: nothing left in /tmp or /dev/shm; the port rebound at once; the restarted server answers"
echo "serve-check: all passed"
