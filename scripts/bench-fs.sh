#!/usr/bin/env bash
# Filesystem-scan benchmark: keytrail against Kingfisher (and gitleaks `dir`) on one real source tree.
#
#   scripts/bench-fs.sh [CORPUS_DIR] [RUNS]
#
#   CORPUS_DIR  tree to scan (default: ${CARGO_HOME:-$HOME/.cargo}/registry/src)
#   RUNS        timed runs per tool (default: 3); the table shows the median wall time and the
#               highest peak RSS over those runs
#
# Environment:
#   PEERS_DIR      where ../shared/bench/peers.sh installs the peer scanners (default: its own)
#   KEYTRAIL_BIN   use this keytrail binary instead of building target/release/keytrail
#   BASELINE_BIN   also run this (older) keytrail binary as `keytrail-base`, and compare keytrail's
#                  wall and CPU time with it (the detection issue's bar: within 10%)
#   SKIP_KEYTRAIL  =1: measure the peers only (keytrail shown as "pending")
#   SKIP_GITLEAKS  =1: leave out the gitleaks column
#
# Each tool gets one untimed warm-up run first (page cache; Kingfisher compiles its Vectorscan
# rule cache into ~/.cache on first use), then the tools run interleaved, RUNS rounds. Wall time is read from a nanosecond clock around each
# run, peak RSS from GNU time's %M. Target (issue): keytrail wall <= 0.3 x Kingfisher, RSS <= 1 x.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
corpus=${1:-${CARGO_HOME:-$HOME/.cargo}/registry/src}
runs=${2:-3}
[ -d "$corpus" ] || { echo "bench-fs: corpus dir not found: $corpus" >&2; exit 2; }
corpus=$(cd "$corpus" && pwd)
case $runs in '' | *[!0-9]* | 0) echo "bench-fs: RUNS must be a positive integer" >&2; exit 2 ;; esac

bench_name=bench-fs
# shellcheck source=scripts/bench-common.sh
. "$root/scripts/bench-common.sh"

if [ -n "$keytrail" ]; then
  # keytrail: 0 = clean, 1 = findings, 2 = error
  add_tool keytrail "0 1" "$keytrail" scan "$corpus" --format json -o "$work/keytrail.json"
fi
if [ -n "${BASELINE_BIN:-}" ]; then
  [ -x "$BASELINE_BIN" ] || { echo "bench-fs: BASELINE_BIN is not executable: $BASELINE_BIN" >&2; exit 2; }
  add_tool keytrail-base "0 1" "$BASELINE_BIN" scan "$corpus" --format json -o "$work/keytrail-base.json"
fi
# kingfisher: 0 = clean, 200 = findings, 205 = validated findings
add_tool kingfisher "0 200 205" "$kingfisher" scan "$corpus" --git-history none --no-validate \
  --no-update-check --format json -o "$work/kingfisher.json"
if [ "${SKIP_GITLEAKS:-0}" != 1 ] && [ -x "$gitleaks" ]; then
  add_tool gitleaks "0" "$gitleaks" dir "$corpus" --no-banner --exit-code 0 -f json -r "$work/gitleaks.json"
fi

run_rounds "$runs"

# --- report -----------------------------------------------------------------------------------
files=$(find "$corpus" -type f | wc -l)
mib=$(find "$corpus" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.1f", s / 1048576 }')
mem_gib=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
kf_version=$("$kingfisher" --version 2>/dev/null | awk '{ print $NF }')
kf_wall=$(wall_of kingfisher)
kf_rss=$(rss_of kingfisher)

echo
echo "corpus: $corpus"
echo "corpus size: $files files, $mib MiB"
echo "machine: nproc=$(nproc), memory ${mem_gib} GiB, $(uname -sm)"
echo "runs: $runs rounds, tools interleaved (median wall, max peak RSS); kingfisher $kf_version"
echo "load average (1 min) before/after: $load_before / $load_after (nproc=$(nproc); a busy machine skews the figures)"
echo
row='| %-13s | %13s | %12s | %12s | %10s | %9s |\n'
printf "$row" tool "median wall s" "median CPU s" "peak RSS MiB" "wall vs KF" "RSS vs KF"
printf "$row" ------------- ------------: -----------: -----------: ---------: --------:
[ -n "$keytrail" ] || printf "$row" keytrail pending pending pending pending pending
for t in "${tools[@]}"; do
  w=$(wall_of "$t"); r=$(rss_of "$t")
  printf "$row" "$t" "$w" "$(cpu_of "$t")" "$r" "$(ratio "$w" "$kf_wall")" "$(ratio "$r" "$kf_rss")"
done
if [ -n "$keytrail" ]; then
  verdict=$(awk -v w="$(wall_of keytrail)" -v r="$(rss_of keytrail)" -v kw="$kf_wall" -v kr="$kf_rss" \
    'BEGIN { printf "wall %s (%.2fx, target <= 0.30x), RSS %s (%.2fx, target <= 1.00x)",
             (w <= 0.3 * kw) ? "PASS" : "FAIL", w / kw, (r <= kr) ? "PASS" : "FAIL", r / kr }')
  echo
  echo "target: $verdict"
  if [ -n "${BASELINE_BIN:-}" ]; then
    awk -v w="$(wall_of keytrail)" -v bw="$(wall_of keytrail-base)" -v c="$(cpu_of keytrail)" -v bc="$(cpu_of keytrail-base)" \
      'BEGIN { printf "against the baseline: wall %.2fx, CPU %.2fx (target <= 1.10x: %s)\n",
               w / bw, c / bc, (w <= 1.1 * bw && c <= 1.1 * bc) ? "PASS" : "FAIL" }'
  fi
fi
