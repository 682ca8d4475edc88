# Shared by the benchmark scripts: installs GNU time and the peer scanners, builds keytrail, and
# times registered tools round-robin. A script sets `root` and `bench_name`, sources this file,
# registers tools with `add_tool`, calls `run_rounds RUNS`, then reads `wall_of` / `rss_of`.
# Peers write their reports into "$work": some replace their output file by rename, which would
# turn /dev/null into a regular file.
# --- GNU time -------------------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "$bench_name: installing GNU time (apt-get)" >&2
    apt-get update -qq >&2 && apt-get install -y -qq time >&2
  else
    echo "$bench_name: /usr/bin/time is missing; run: sudo apt-get update && sudo apt-get install -y time" >&2
    exit 2
  fi
fi

# --- peers ------------------------------------------------------------------------------------
peers_sh=$root/../shared/bench/peers.sh
[ -f "$peers_sh" ] || { echo "$bench_name: $peers_sh not found (shared/ must sit beside the repo)" >&2; exit 2; }
echo "$bench_name: installing peers via $peers_sh" >&2
peer_paths=$(bash "$peers_sh" ${PEERS_DIR:+"$PEERS_DIR"})
kingfisher=$(awk '$1 == "kingfisher" { print $2 }' <<<"$peer_paths")
gitleaks=$(awk '$1 == "gitleaks" { print $2 }' <<<"$peer_paths")
[ -x "$kingfisher" ] || { echo "$bench_name: kingfisher not found at '$kingfisher'" >&2; exit 2; }

# --- keytrail ---------------------------------------------------------------------------------
keytrail=
if [ "${SKIP_KEYTRAIL:-0}" != 1 ]; then
  if [ -n "${KEYTRAIL_BIN:-}" ]; then
    keytrail=$KEYTRAIL_BIN
  else
    echo "$bench_name: cargo build --release" >&2
    (cd "$root" && cargo build --release --quiet >&2)
    keytrail=$root/target/release/keytrail
  fi
  [ -x "$keytrail" ] || { echo "$bench_name: keytrail binary not found at '$keytrail'" >&2; exit 2; }
fi

# --- measuring --------------------------------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run_once NAME OK_CODES CMD...  -> appends "wall_ms rss_kib cpu_s" to $work/NAME.runs (cpu: user+sys)
# OK_CODES is a space-separated list of exit codes that mean "scan finished".
run_once() {
  local name=$1 ok=$2; shift 2
  local t0 t1 rc=0
  t0=$(date +%s%N)
  (cd "$work" && /usr/bin/time -f '%e %M %U %S' -o "$work/$name.time" "$@" >"$work/$name.stdout" 2>"$work/$name.stderr") || rc=$?
  t1=$(date +%s%N)
  if [[ " $ok " != *" $rc "* ]]; then
    echo "$bench_name: $name exited $rc; last lines of its stderr:" >&2
    tail -n 20 "$work/$name.stderr" >&2
    exit 2
  fi
  # GNU time prepends "Command exited with non-zero status N" when rc != 0: take the last line.
  echo "$(( (t1 - t0) / 1000000 )) $(tail -n 1 "$work/$name.time" | awk '{ print $2, $3 + $4 }')" >>"$work/$name.runs"
}

# Tools are registered with add_tool NAME OK_CODES CMD... and then run round-robin: one untimed
# warm-up each, then $runs rounds of one timed run each, so a load change on the machine hits all
# of them alike.
tools=()
add_tool() {
  local name=$1; shift
  tools+=("$name")
  printf '%q ' "$@" >"$work/$name.cmd"
}
run_tool() { eval "run_once $1 $(cat "$work/$1.cmd")"; }

# median wall (s) and max peak RSS (MiB) of NAME's timed runs
wall_of() { cut -d' ' -f1 "$work/$1.runs" | sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f", m / 1000 }'; }
cpu_of() { cut -d' ' -f3 "$work/$1.runs" | sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f", m }'; }
rss_of() { cut -d' ' -f2 "$work/$1.runs" | sort -n | tail -n 1 | awk '{ printf "%.1f", $1 / 1024 }'; }


# run_rounds RUNS: one untimed warm-up of every tool, then RUNS interleaved timed rounds.
run_rounds() {
  local runs=$1 t i
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  echo "$bench_name: warm-up: ${tools[*]}" >&2
  for t in "${tools[@]}"; do
    run_tool "$t"
    mv "$work/$t.runs" "$work/$t.warm"
  done
  for ((i = 1; i <= runs; i++)); do
    echo "$bench_name: round $i/$runs" >&2
    for t in "${tools[@]}"; do run_tool "$t"; done
  done
  load_after=$(cut -d' ' -f1 /proc/loadavg)
}

# ratio A B -> "A/B" formatted as 0.00x
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
