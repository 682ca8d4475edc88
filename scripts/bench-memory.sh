#!/usr/bin/env bash
# Memory benchmark: how keytrail's peak memory grows with the size of the history it reads.
# For each repository it runs `keytrail scan --history-only`, `keytrail scan` (files and
# history) and the floor (`git cat-file --batch-all-objects --batch --unordered > /dev/null`),
# and reports wall time, peak RSS (the kernel's high-water mark, as GNU time's %M) and the peaks
# of its two parts, sampled from /proc/PID/status: RssAnon (heap and stacks) and RssFile (pages
# of mapped files, here mostly the pack). Figures of every repository after the first are also
# given as ratios to the first one's.
#
#   scripts/bench-memory.sh [REPO ...]
#
#   REPO   default: ../bench/history (scripts/bench-history.sh) and ../bench/history-x10
#          (scripts/make-synthetic-history.sh builds it if missing, about ten minutes)
#
# Environment: KEYTRAIL_BIN (default: build target/release/keytrail), RUNS (timed runs per tool,
# default 2: median wall, highest peaks), SAMPLE_MS (default 20), KEYTRAIL_ARGS (extra arguments
# for both keytrail runs, e.g. "--threads 1"), TRACE_DIR (keep every run's samples there as
# TSV: milliseconds, VmRSS, RssAnon, RssFile in KiB), SKIP_FLOOR=1, SKIP_ALL=1 (no files+history
# run).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=${BENCH_DIR:-$root/../bench}
runs=${RUNS:-2}
sample_ms=${SAMPLE_MS:-20}
repos=("$@")
[ ${#repos[@]} -gt 0 ] || repos=("$bench_dir/history" "$bench_dir/history-x10")
for r in "${repos[@]}"; do
  if [ ! -d "$r" ]; then
    case $r in
      */history-x10) bash "$root/scripts/make-synthetic-history.sh" "$r" 10 >&2 ;;
      *) echo "bench-memory: $r not found (scripts/bench-history.sh and scripts/make-synthetic-history.sh build the defaults)" >&2; exit 2 ;;
    esac
  fi
done

if [ -n "${KEYTRAIL_BIN:-}" ]; then
  keytrail=$KEYTRAIL_BIN
else
  echo "bench-memory: cargo build --release" >&2
  (cd "$root" && cargo build --release --quiet >&2)
  keytrail=${CARGO_TARGET_DIR:-$root/target}/release/keytrail
fi
[ -x "$keytrail" ] || { echo "bench-memory: keytrail binary not found at '$keytrail'" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The measuring runner: starts the command, samples /proc/PID/status every SAMPLE_MS, and takes
# the peak RSS and CPU time from wait4's rusage once it exits. Prints
# "wall_ms maxrss_kib peak_anon_kib peak_file_kib cpu_s exit_code".
cat >"$work/measure.py" <<'EOF'
import os, subprocess, sys, time
interval, trace, cmd = float(sys.argv[1]) / 1000, sys.argv[2], sys.argv[3:]
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.environ["STDERR_FILE"], "wb"))
peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
rows = []
status = f"/proc/{p.pid}/status"
while True:
    pid, code, ru = os.wait4(p.pid, os.WNOHANG)
    if pid:
        break
    try:
        with open(status) as f:
            now = {}
            for line in f:
                k, _, v = line.partition(":")
                if k in peak:
                    now[k] = int(v.split()[0])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        now = {}
    if len(now) == 3:
        for k in peak:
            peak[k] = max(peak[k], now[k])
        rows.append(f"{int((time.monotonic() - t0) * 1000)}\t{now['VmRSS']}\t{now['RssAnon']}\t{now['RssFile']}")
    time.sleep(interval)
wall = time.monotonic() - t0
if trace != "-":
    with open(trace, "w") as f:
        f.write("ms\tVmRSS\tRssAnon\tRssFile\n" + "\n".join(rows) + "\n")
print(int(wall * 1000), ru.ru_maxrss, peak["RssAnon"], peak["RssFile"], f"{ru.ru_utime + ru.ru_stime:.2f}", os.waitstatus_to_exitcode(code))
EOF

# measure NAME REPO_INDEX OK_CODES CMD...  -> appends one line to $work/NAME.REPO_INDEX
measure() {
  local name=$1 idx=$2 ok=$3 trace=- line rc; shift 3
  if [ -n "${TRACE_DIR:-}" ]; then
    mkdir -p "$TRACE_DIR"
    trace=$TRACE_DIR/$name.$idx.$(date +%s%N).tsv
  fi
  line=$(STDERR_FILE=$work/$name.stderr python3 "$work/measure.py" "$sample_ms" "$trace" "$@")
  rc=${line##* }
  if [[ " $ok " != *" $rc "* ]]; then
    echo "bench-memory: $name exited $rc on ${repos[$idx]}; last lines of its stderr:" >&2
    tail -n 20 "$work/$name.stderr" >&2
    exit 2
  fi
  echo "$line" >>"$work/$name.$idx"
}

tools=()
[ "${SKIP_FLOOR:-0}" = 1 ] || tools+=(floor)
tools+=(history-only)
[ "${SKIP_ALL:-0}" = 1 ] || tools+=(files+history)
read -r -a extra <<<"${KEYTRAIL_ARGS:-}"

run_tool() {
  local t=$1 idx=$2 repo=$3
  case $t in
    floor) measure "$t" "$idx" "0" git -C "$repo" cat-file --batch-all-objects --batch --unordered ;;
    history-only) measure "$t" "$idx" "0 1" "$keytrail" scan "$repo" --history-only --format json -o "$work/out.json" "${extra[@]}" ;;
    files+history) measure "$t" "$idx" "0 1" "$keytrail" scan "$repo" --format json -o "$work/out.json" "${extra[@]}" ;;
  esac
}

load_before=$(cut -d' ' -f1 /proc/loadavg)
for idx in "${!repos[@]}"; do
  repo=$(cd "${repos[$idx]}" && pwd)
  repos[idx]=$repo
  echo "bench-memory: $repo: counting objects, warming the page cache" >&2
  git_dir=$(git -C "$repo" rev-parse --absolute-git-dir)
  cat "$git_dir"/objects/pack/*.pack >/dev/null 2>&1 || true
  commits=$(git -C "$repo" rev-list --all | wc -l)
  objects=$(git -C "$repo" count-objects -v | awk '$1 == "count:" || $1 == "in-pack:" { n += $2 } END { print n }')
  packed=$(git -C "$repo" count-objects -v | awk '$1 == "size-pack:" { printf "%.0f", $2 / 1024 }')
  blobs=$(git -C "$repo" cat-file --batch-all-objects --batch-check='%(objecttype) %(objectsize)' |
    awk '$1 == "blob" { n++; s += $2; if ($2 > m) m = $2 } END { printf "%d %.0f %.1f", n, s / 1048576, m / 1048576 }')
  echo "$commits $objects $packed $blobs" >"$work/repo.$idx"
  for ((i = 1; i <= runs; i++)); do
    echo "bench-memory: $repo: round $i/$runs" >&2
    for t in "${tools[@]}"; do run_tool "$t" "$idx" "$repo"; done
  done
done
load_after=$(cut -d' ' -f1 /proc/loadavg)

# Median wall (s), then the highest peak RSS, RssAnon and RssFile (MiB) of a tool's runs.
summary() {
  local w
  w=$(cut -d' ' -f1 "$work/$1.$2" | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }')
  awk -v w="$w" '{ if ($2 > r) r = $2; if ($3 > a) a = $3; if ($4 > f) f = $4 }
    END { printf "%.2f %.1f %.1f %.1f", w / 1000, r / 1024, a / 1024, f / 1024 }' "$work/$1.$2"
}
x() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

echo
echo "machine: nproc=$(nproc), $(uname -sm); keytrail: $keytrail ${KEYTRAIL_ARGS:-}"
echo "$runs run(s) per tool and repository (median wall, highest peaks); /proc sampled every $sample_ms ms"
echo "load average (1 min) before/after: $load_before / $load_after"
echo
echo "| repository | commits | objects | unique blobs | blob content MiB | largest blob MiB | packs and indexes MiB |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for idx in "${!repos[@]}"; do
  read -r c o p b s m <"$work/repo.$idx"
  echo "| ${repos[$idx]} | $c | $o | $b | $s | $m | $p |"
done
if [ ${#repos[@]} -gt 1 ]; then
  read -r c0 o0 p0 b0 s0 _ <"$work/repo.0"
  for idx in "${!repos[@]}"; do
    [ "$idx" = 0 ] && continue
    read -r c o p b s _ <"$work/repo.$idx"
    echo "| ratio to the first | $(x "$c" "$c0") | $(x "$o" "$o0") | $(x "$b" "$b0") | $(x "$s" "$s0") | | $(x "$p" "$p0") |"
  done
fi
echo
echo "| repository | run | wall s | peak RSS MiB | peak RssAnon MiB | peak RssFile MiB | CPU s |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
for t in "${tools[@]}"; do
  for idx in "${!repos[@]}"; do
    read -r w r a f <<<"$(summary "$t" "$idx")"
    cpu=$(awk '{ print $5 }' "$work/$t.$idx" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    echo "| $(basename "${repos[$idx]}") | $t | $w | $r | $a | $f | $cpu |"
    if [ "$idx" != 0 ]; then
      read -r w0 r0 a0 f0 <<<"$(summary "$t" 0)"
      echo "| ratio to $(basename "${repos[0]}") | $t | $(x "$w" "$w0") | $(x "$r" "$r0") | $(x "$a" "$a0") | $(x "$f" "$f0") | |"
    fi
  done
done
