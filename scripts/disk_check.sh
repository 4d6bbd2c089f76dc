#!/bin/sh
# Warns (and goes on) when a folder `make test` writes in has under 2 GB free: the build folder
# grows by a few GB on a first build and each test pass needs about 0.5 GB in TMPDIR, and a full
# disk otherwise shows up as tests failing with "No space left on device".
# Usage: scripts/disk_check.sh FOLDER...
for dir in "$@"; do
  free_kb=$(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 { print $4 }')
  [ -n "$free_kb" ] || continue
  if [ "$free_kb" -lt 2097152 ]; then
    echo "make test: warning: only $((free_kb / 1024)) MB free in $dir ($(df -P "$dir" | awk 'NR == 2 { print $6 }')); the build and the tests need about 2 GB. Tests that fail with 'No space left on device' mean the disk is full, not that the code is wrong." >&2
  fi
done
exit 0
