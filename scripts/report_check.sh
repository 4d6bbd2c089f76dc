#!/bin/sh
# make report-check: renders a finetune report.html (and graft compare's compare.html beside it) in headless Chromium, as a person would see it,
# to a PNG, and fails if the page did not render, has errors, or misses a part. Then it makes a
# second report from hostile class names (a right-to-left override U+202E, a 255-byte name, an
# escape sequence with HTML in it) with a one-epoch finetune on Fixtures/trainset, checks that
# every such name is isolated in <bdi>, and renders it too (OUT-hostile.png): look at it.
#   scripts/report_check.sh [REPORT.html] [OUT.png]
#   GRAFT_BIN: the folder of the built tools (default .build/release); HOSTILE=0 skips the second.
set -eu
REPORT=${1:-demo-out/report.html}
PNG=${2:-docs/report.png}
BIN=${GRAFT_BIN:-$PWD/.build/release}
if [ ! -f "$REPORT" ]; then
    echo "report-check: $REPORT not found; run 'make demo' first (it writes demo-out/report.html)" >&2
    exit 1
fi
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$CHROME" ]; then
    echo "report-check: no Chromium; install Debian's chromium (make report-check does, as root)" >&2
    exit 1
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FLAGS="--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions --user-data-dir=$WORK/profile"
status=0
fail() { echo "report-check: $*" >&2; status=1; }

# render REPORT PNG HEIGHT [PARTS]: the page as Chromium built it, what it said while loading
# (console messages, failed loads), then the picture. The DOM is left in $WORK/dom.html. PARTS:
# the section ids the page must have (default: finetune's report.html's).
render() {
    url="file://$(realpath "$1")"
    "$CHROME" $FLAGS --enable-logging=stderr --v=0 --virtual-time-budget=2000 --dump-dom "$url" > "$WORK/dom.html" 2> "$WORK/log.txt"
    [ -s "$WORK/dom.html" ] || fail "Chromium rendered nothing for $1"
    for part in ${4:-run curves confusion per-class mistakes warnings}; do
        grep -q "id=\"$part\"" "$WORK/dom.html" || fail "$1: the part '$part' is missing"
    done
    svgs=$(grep -o "<svg" "$WORK/dom.html" | wc -l)
    [ "$svgs" -ge 4 ] || fail "$1: expected the 4 charts as SVG, found $svgs"
    if grep -q "CONSOLE" "$WORK/log.txt"; then fail "$1: the page logged to the console:"; grep "CONSOLE" "$WORK/log.txt" >&2; fi
    if grep -qi "Failed to load resource\|net::ERR" "$WORK/log.txt"; then fail "$1: the page failed to load something:"; grep -i "Failed to load resource\|net::ERR" "$WORK/log.txt" >&2; fi
    grep -qi "<script" "$WORK/dom.html" && fail "$1: the page has a script"
    grep -Eqi "(src|href)=\"https?:" "$WORK/dom.html" && fail "$1: the page refers to the network"
    mkdir -p "$(dirname "$2")"
    "$CHROME" $FLAGS --window-size=1280,$3 --screenshot="$2" "$url" 2> "$WORK/shot.txt" || fail "Chromium could not take the screenshot of $1"
    [ -s "$2" ] || fail "no screenshot written to $2"
    return 0
}

render "$REPORT" "$PNG" "${REPORT_HEIGHT:-2700}"
[ "$status" = 0 ] && echo "report-check: $REPORT renders with every part ($svgs SVG charts); picture in $PNG"
# graft compare's page beside it (make demo writes demo-out/compare/compare.html).
COMPARE=$(dirname "$REPORT")/compare/compare.html
if [ -f "$COMPARE" ]; then
    render "$COMPARE" "$(dirname "$PNG")/compare.png" "${COMPARE_HEIGHT:-1500}" "table curves confusion-1 confusion-2"
    [ "$status" = 0 ] && echo "report-check: $COMPARE renders with every part ($svgs SVG charts); picture in $(dirname "$PNG")/compare.png"
fi
[ "${HOSTILE:-1}" = 0 ] && exit "$status"

# The hostile report: Fixtures/trainset's images under class folders named to break a page.
RLO=$(printf 'daisy \342\200\256gpj.exe')                          # shows "daisy exe.jpg" unless isolated
LONG=$(printf 'roses-with-a-name-that-goes-on%.0s' 1 2 3 4 5 6 7 8 | cut -c1-255)   # the longest a folder name can be
ESC=$(printf 'tulips \033]0;pwned\007<b>bold & "q"')     # no / in a file name
HOSTILE_DIR="$WORK/hostile"
for split in train val; do
    mkdir -p "$HOSTILE_DIR/data/$split"
    cp -r Fixtures/trainset/$split/daisy "$HOSTILE_DIR/data/$split/$RLO"
    cp -r Fixtures/trainset/$split/roses "$HOSTILE_DIR/data/$split/$LONG"
    cp -r Fixtures/trainset/$split/tulips "$HOSTILE_DIR/data/$split/$ESC"
done
(cd "$HOSTILE_DIR" && GRAFT_CONV_CACHE=off "$BIN/finetune" --weights none --arch resnet18 --classes 3 --image-size 32 --resize 32 \
    --epochs 1 --batch-size 8 --workers 1 data > finetune.log 2>&1) || { cat "$HOSTILE_DIR/finetune.log" >&2; fail "finetune on the hostile class names failed"; exit 1; }
HOSTILE_PNG="${PNG%.png}-hostile.png"
render "$HOSTILE_DIR/report.html" "$HOSTILE_PNG" 2700
# Outside <bdi>...</bdi> (and FSI...PDI, in the title) no direction mark and no class name may remain.
perl -CSD -pe 's/<bdi[^>]*>[^<]*<\/bdi>//g; s/\x{2068}[^\x{2069}]*\x{2069}//g' "$WORK/dom.html" > "$WORK/outside.html"
grep -q "$(printf '\342\200\256')" "$WORK/outside.html" && fail "a U+202E outside <bdi> in the hostile report"
grep -q "roses-with-a-name" "$WORK/outside.html" && fail "the long class name outside <bdi> in the hostile report"
grep -q "pwned" "$WORK/outside.html" && fail "the escape-sequence class name outside <bdi> in the hostile report"
grep -q "$(printf '\033')" "$HOSTILE_DIR/finetune.log" && fail "finetune printed an escape character (ESC) to the terminal"
[ "$status" = 0 ] && echo "report-check: the hostile class names stay isolated; picture in $HOSTILE_PNG (look at it)"
exit "$status"
