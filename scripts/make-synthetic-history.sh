#!/usr/bin/env bash
# Builds a synthetic repository shaped like the history benchmark but SCALE times as long, for
# measuring how keytrail's memory grows with history (BENCHMARKS.md, "Memory").
#
#   scripts/make-synthetic-history.sh [OUT_DIR] [SCALE] [SEED]
#
#   OUT_DIR  default: ../bench/history-x10 beside the repository (replaced if it exists)
#   SCALE    default 10: 240 x SCALE commits, ~487 x 240 x SCALE blobs and as many trees
#   SEED     default 7; the same arguments give the same commits
#
# scripts/make-synthetic-history.py writes a `git fast-import` stream (blobs grouped by file so
# each version deltas against the one before it), fast-import packs it, and the last commit is
# checked out so that a scan of files and history has a working tree to read. Nothing is
# downloaded. At SCALE 10: 2,400 commits, 2.4 M objects (1.18 M blobs, 20.4 GiB of content) and
# 1.2 GiB packed, 10x the benchmark's objects and 8.3x its pack; 17 minutes on 2 busy cores
# (fast-import is single-threaded; SCALE 1 takes 2-3 minutes). The fake credentials planted are
# listed in OUT_DIR.secrets.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/../bench/history-x10}
scale=${2:-10}
seed=${3:-7}
rm -rf "$out"
mkdir -p "$out"
git -C "$out" init -q -b main
git -C "$out" config gc.auto 0
start=$(date +%s)
python3 "$root/scripts/make-synthetic-history.py" --scale "$scale" --seed "$seed" --secrets-out "$out.secrets" |
  git -C "$out" fast-import --quiet --done --depth=50 --active-branches=1
git -C "$out" reset -q --hard main
end=$(date +%s)
echo "$out: built in $((end - start)) s"
echo "commits: $(git -C "$out" rev-list --count main)"
git -C "$out" count-objects -vH | grep -E 'in-pack|size-pack'
git -C "$out" cat-file --batch-all-objects --batch-check='%(objecttype) %(objectsize)' |
  awk '$1 == "blob" { n++; s += $2 } $1 == "tree" { t++ } END { printf "unique blobs: %d, %.0f MiB; trees: %d\n", n, s / 1048576, t }'
echo "fake credentials planted: $out.secrets"
