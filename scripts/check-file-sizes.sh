#!/usr/bin/env bash
# Fails when a file tracked by git under src/ or include/ has more than 600
# lines (issue 14: split a file by topic before it grows past that).
# Run by CTest (file_sizes) and usable by hand: scripts/check-file-sizes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
max=600
over=0
while IFS= read -r f; do
  [ -f "$f" ] || continue
  n=$(wc -l <"$f")
  if [ "$n" -gt "$max" ]; then
    echo "file-sizes: $f has $n lines (more than $max): split it by topic" >&2
    over=1
  fi
done < <(git ls-files 'src/*' 'include/*')
if [ "$over" -ne 0 ]; then exit 1; fi
echo "file-sizes: every file under src/ and include/ has at most $max lines"
