#!/usr/bin/env bash
# History-scan benchmark: keytrail's full-history scan with provenance against Kingfisher,
# gitleaks and Betterleaks, and against the floor of reading every object once
# (`git cat-file --batch-all-objects --batch --unordered`), on one repository, in one run.
# Also times `keytrail scan --staged` on a repository with a few staged files.
#
#   scripts/bench-history.sh [REPO] [RUNS]
#
#   REPO  repository to scan (default: built once by ../shared/bench/make-history.sh into
#         $BENCH_DIR/history, BENCH_DIR defaulting to ../bench beside the repository)
#   RUNS  timed runs per tool (default: 3)
#
# Environment: PEERS_DIR, KEYTRAIL_BIN, SKIP_KEYTRAIL as for bench-fs.sh; SKIP_GITLEAKS=1 and
# SKIP_BETTERLEAKS=1 leave out the two slowest peers (about 2 and 6 minutes a round).
# Targets (issue): keytrail <= 0.25 x Kingfisher's wall time and <= 2 x the floor; peak RSS <=
# Kingfisher's; --staged under 30 ms.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${2:-3}
bench_dir=${BENCH_DIR:-$root/../bench}
repo=${1:-$bench_dir/history}
if [ ! -d "$repo" ]; then
  echo "bench-history: building $repo with make-history.sh (about 15 minutes)" >&2
  mkdir -p "$(dirname "$repo")"
  bash "$root/../shared/bench/make-history.sh" "$repo" >&2
fi
repo=$(cd "$repo" && pwd)
bench_name=bench-history
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"
betterleaks=$(awk '$1 == "betterleaks" { print $2 }' <<<"$peer_paths")

add_tool floor "0" sh -c 'git -C "$1" cat-file --batch-all-objects --batch --unordered >/dev/null' floor "$repo"
if [ -n "$keytrail" ]; then
  add_tool keytrail "0 1" "$keytrail" scan "$repo" --history-only --format json -o "$work/keytrail.json"
  add_tool keytrail-all "0 1" "$keytrail" scan "$repo" --format json -o "$work/keytrail-all.json"
fi
add_tool kingfisher "0 200 205" "$kingfisher" scan "$repo" --git-history full --no-validate \
  --no-update-check --format json -o "$work/kingfisher.json"
[ "${SKIP_GITLEAKS:-0}" = 1 ] || [ ! -x "$gitleaks" ] ||
  add_tool gitleaks "0" "$gitleaks" git "$repo" --no-banner --exit-code 0 -f json -r "$work/gitleaks.json"
[ "${SKIP_BETTERLEAKS:-0}" = 1 ] || [ ! -x "$betterleaks" ] ||
  add_tool betterleaks "0" "$betterleaks" git "$repo" --no-banner --exit-code=0 -o "$work/betterleaks.json"

run_rounds "$runs"

commits=$(git -C "$repo" rev-list --all | wc -l)
blobs=$(git -C "$repo" cat-file --batch-all-objects --batch-check='%(objecttype) %(objectsize)' |
  awk '$1 == "blob" { n++; s += $2 } END { printf "%d blobs, %.0f MiB", n, s / 1048576 }')
kf_wall=$(wall_of kingfisher)
kf_rss=$(rss_of kingfisher)
floor_wall=$(wall_of floor)
echo
echo "repository: $repo ($commits commits, $blobs unique)"
echo "machine: nproc=$(nproc), $(uname -sm); $runs rounds, interleaved (median wall, max peak RSS)"
echo "load average (1 min) before/after: $load_before / $load_after"
echo
printf '| %-13s | %12s | %13s | %10s | %10s | %10s |\n' tool "median wall s" "peak RSS MiB" "wall vs KF" "RSS vs KF" "vs floor"
printf '| %-13s | %12s | %13s | %10s | %10s | %10s |\n' ------------- -----------: ------------: ---------: ---------: ---------:
for t in "${tools[@]}"; do
  w=$(wall_of "$t"); r=$(rss_of "$t")
  printf '| %-13s | %12s | %13s | %10s | %10s | %10s |\n' "$t" "$w" "$r" \
    "$(ratio "$w" "$kf_wall")" "$(ratio "$r" "$kf_rss")" "$(ratio "$w" "$floor_wall")"
done

if [ -n "$keytrail" ]; then
  # --staged: a copy of a small repository with three staged files, timed whole-process.
  staged=$work/staged
  git init -q -b main "$staged"
  for i in 1 2 3 4 5 6 7 8 9 10; do printf 'line %s\n' "$i" >"$staged/f$i.txt"; done
  git -C "$staged" add -A && git -C "$staged" -c user.name=b -c user.email=b@example.invalid commit -qm init
  for i in 1 2 3; do printf 'changed %s\n' "$i" >>"$staged/f$i.txt"; done
  git -C "$staged" add -A
  best=
  for i in $(seq 1 20); do
    t0=$(date +%s%N)
    (cd "$staged" && "$keytrail" scan --staged -q >/dev/null) || true
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    echo "$ms" >>"$work/staged.ms"
  done
  median=$(sort -n "$work/staged.ms" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  echo
  echo "keytrail scan --staged (3 staged files, 20 runs): median ${median} ms, best ${best} ms (target < 30 ms)"
  kw=$(wall_of keytrail); kr=$(rss_of keytrail)
  echo
  echo "targets: wall vs Kingfisher $(ratio "$kw" "$kf_wall") (<= 0.25x), vs floor $(ratio "$kw" "$floor_wall") (<= 2x), RSS vs Kingfisher $(ratio "$kr" "$kf_rss") (<= 1x)"
fi
