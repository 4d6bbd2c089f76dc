#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets in Fuzz/ with AddressSanitizer (into .build-fuzz/)
# and runs each for FUZZ_SECONDS, starting from seeds taken from Fixtures/. A target keeps
# going after a crash, a timeout (an input taking over 5 s) or an out-of-memory (over
# 2048 MB, or one allocation over 2048 MB), so a run reports every kind of finding it met.
#
#   FUZZ_TARGETS  which targets (default: checkpoint jpeg png imagefolder multipart)
#   FUZZ_SECONDS  time per target, in seconds (default 60)
#   FUZZ_DIR      where corpora, findings and logs go (default .build-fuzz/work); the corpus
#                 of each target grows from run to run
#   FUZZ_FLAGS    more libFuzzer flags, e.g. "-jobs=2" or "-seed=1"
#
# `scripts/fuzz.sh replay` instead runs every saved finding in Fixtures/fuzz/<target>/ once
# through the sanitizer build, under the same limits.
#
# Exits 1 when a target found something: the inputs are in FUZZ_DIR/findings/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
TARGETS=${FUZZ_TARGETS:-checkpoint jpeg png imagefolder multipart}
SECS=${FUZZ_SECONDS:-60}
WORK=${FUZZ_DIR:-.build-fuzz/work}
FLAGS=${FUZZ_FLAGS:-}
LIMITS=(-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=5)
KEEP_GOING=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
MODE=${1:-fuzz}

product() {
  case $1 in
    checkpoint) echo FuzzCheckpoint ;; jpeg) echo FuzzJPEG ;; png) echo FuzzPNG ;;
    imagefolder) echo FuzzImageFolder ;; multipart) echo FuzzMultipart ;;
    *) echo "unknown fuzz target '$1' (known: checkpoint jpeg png imagefolder multipart)" >&2; return 1 ;;
  esac
}

# Copies the seeds of target $1 into folder $2, named after their paths.
seed() {
  local files=()
  case $1 in
    checkpoint) files=(Fixtures/checkpoints/*.pth Fixtures/wrapped/*.pth Fixtures/hostile/*.pth Fixtures/cycles/*.pth Fixtures/typed_views/*.pth Fixtures/vgg/predict/*.pth Fixtures/mobilenet/predict/*.pth) ;;
    jpeg) files=(Fixtures/images/src/*.jpg Fixtures/trainset/*/*/*.jpg Fixtures/damaged/src/*.jpg) ;;
    png) files=(Fixtures/images/src/*.png Fixtures/trainset/*/*/*.png Fixtures/damaged/src/*.png) ;;
    imagefolder)
      # The training fixture's layout as a script, and the hand-written scripts with links.
      (cd Fixtures/trainset && find . -mindepth 1 -type d | LC_ALL=C sort | sed 's|^\./|d |' &&
        find . -type f | LC_ALL=C sort | sed 's|^\./|f |') > "$2/seed-trainset.txt"
      files=(Fuzz/seeds/imagefolder/*) ;;
    multipart) files=(Fuzz/seeds/multipart/*) ;;
  esac
  for f in "${files[@]}" Fixtures/fuzz/"$1"/*; do
    [ -f "$f" ] && [ "$(basename "$f")" != README.md ] || continue
    cp "$f" "$2/seed-$(echo "${f#Fixtures/}" | tr / _)"
  done
}

# Replays finding $2 with binary $1 and prints what it is: the error line and the top frames.
report() {
  echo "  $2 ($(wc -c < "$2") bytes):"
  "$1" "${LIMITS[@]}" "$2" 2>&1 | grep -E "Fatal error|ERROR:|^ *#[0-9]+ 0x" |
    grep -vE "compiler-rt|libc\.so|libswiftCore|libc_start|compiler-generated|crtstuff" | head -10 |
    sed -E 's/^ *(#[0-9]+) 0x[0-9a-f]+ in /    \1 /; s/^ *(#[0-9]+) 0x[0-9a-f]+ /    \1 /; s/ \(BuildId: [0-9a-f]+\)//' |
    $SWIFT demangle --simplified | cut -c1-300 || true
}

# The scratch files of the harnesses (inputs written as files, trees built) go to a fresh
# folder in memory when there is one: the disk is 5-10x slower.
SHM=/tmp; [ -d /dev/shm ] && [ -w /dev/shm ] && SHM=/dev/shm
export TMPDIR; TMPDIR=$(mktemp -d "$SHM/graft-fuzz.XXXXXX")
trap 'rm -rf "$TMPDIR"' EXIT
export LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan-suppressions.txt:print_suppressions=0"
# Crashes are reported by libFuzzer and ASan; the Swift runtime's own backtracer would fight them.
export SWIFT_BACKTRACE=enable=no

for t in $TARGETS; do
  p=$(product "$t")
  $SWIFT build --quiet --scratch-path .build-fuzz -c release --product "$p" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
done

status=0
for t in $TARGETS; do
  bin=.build-fuzz/release/$(product "$t")
  if [ "$MODE" = replay ]; then
    n=0 failed=0
    for f in Fixtures/fuzz/"$t"/*; do
      [ -f "$f" ] && [ "$(basename "$f")" != README.md ] || continue
      n=$((n + 1))
      "$bin" "${LIMITS[@]}" "$f" > /dev/null 2>&1 || { failed=$((failed + 1)); report "$bin" "$f"; }
    done
    echo "fuzz $t: $n saved findings replayed, $failed still fail"
    [ "$failed" -eq 0 ] || status=1
    continue
  fi
  corpus=$WORK/corpus/$t findings=$WORK/findings/$t log=$WORK/logs/$t.log
  mkdir -p "$corpus" "$WORK/logs"; rm -rf "$findings"; mkdir -p "$findings"
  seed "$t" "$corpus"
  dict=(); [ -f "Fuzz/$t.dict" ] && dict=(-dict="Fuzz/$t.dict")
  echo "fuzz $t: ${SECS}s from $(ls "$corpus" | wc -l) corpus inputs; log in $log"
  # shellcheck disable=SC2086
  "$bin" "${KEEP_GOING[@]}" "${LIMITS[@]}" "${dict[@]}" -max_total_time="$SECS" \
    -artifact_prefix="$findings/" $FLAGS "$corpus" > "$log" 2>&1 || true
  # Fork mode's last status line has the executions; the saved inputs are the findings, one
  # per distinct stack (libFuzzer's dedup), named crash-*, timeout-*, oom-* or leak-*.
  execs=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 | sed -nE 's/^#([0-9]+): cov.*/\1/p')
  count() { find "$findings" -type f -name "$1-*" | wc -l; }
  saved=$(find "$findings" -type f | wc -l)
  echo "fuzz $t: ${execs:-0} executions in ${SECS}s; findings: $(count crash) crashes, $(count timeout) timeouts," \
    "$(count oom) out-of-memory, $(count leak) leaks (in $findings); corpus $(ls "$corpus" | wc -l) inputs"
  [ "$saved" -eq 0 ] || status=1
  for f in "$findings"/*; do
    [ -f "$f" ] && report "$bin" "$f"
  done
done
exit $status
