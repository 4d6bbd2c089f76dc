#!/bin/sh
# make report-check: renders a finetune report.html in headless Chromium, as a person would see it,
# to a PNG, and fails if the page did not render, has errors, or misses a part.
#   scripts/report_check.sh [REPORT.html] [OUT.png]
set -eu
REPORT=${1:-demo-out/report.html}
PNG=${2:-docs/report.png}
if [ ! -f "$REPORT" ]; then
    echo "report-check: $REPORT not found; run 'make demo' first (it writes demo-out/report.html)" >&2
    exit 1
fi
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$CHROME" ]; then
    echo "report-check: no Chromium; install Debian's chromium (make report-check does, as root)" >&2
    exit 1
fi
URL="file://$(realpath "$REPORT")"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FLAGS="--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions --user-data-dir=$WORK/profile"

# The page as Chromium built it, and what it said while loading (console messages, failed loads).
"$CHROME" $FLAGS --enable-logging=stderr --v=0 --virtual-time-budget=2000 --dump-dom "$URL" > "$WORK/dom.html" 2> "$WORK/log.txt"
status=0
fail() { echo "report-check: $*" >&2; status=1; }
[ -s "$WORK/dom.html" ] || fail "Chromium rendered nothing for $REPORT"
for part in run curves confusion per-class mistakes warnings; do
    grep -q "id=\"$part\"" "$WORK/dom.html" || fail "the part '$part' is missing"
done
svgs=$(grep -o "<svg" "$WORK/dom.html" | wc -l)
[ "$svgs" -ge 4 ] || fail "expected the 4 charts as SVG, found $svgs"
if grep -q "CONSOLE" "$WORK/log.txt"; then fail "the page logged to the console:"; grep "CONSOLE" "$WORK/log.txt" >&2; fi
if grep -qi "Failed to load resource\|net::ERR" "$WORK/log.txt"; then fail "the page failed to load something:"; grep -i "Failed to load resource\|net::ERR" "$WORK/log.txt" >&2; fi
grep -qi "<script" "$WORK/dom.html" && fail "the page has a script"
grep -Eqi "(src|href)=\"https?:" "$WORK/dom.html" && fail "the page refers to the network"

# The picture.
mkdir -p "$(dirname "$PNG")"
"$CHROME" $FLAGS --window-size=1280,${REPORT_HEIGHT:-2700} --screenshot="$PNG" "$URL" 2> "$WORK/shot.txt" || fail "Chromium could not take the screenshot"
[ -s "$PNG" ] || fail "no screenshot written to $PNG"
[ "$status" = 0 ] && echo "report-check: $REPORT renders with every part ($svgs SVG charts); picture in $PNG"
exit "$status"
