#!/usr/bin/env bash
# Scores keytrail and its peers (Kingfisher, gitleaks, Betterleaks) on the labelled corpus of
# tests/corpus.rs and prints one markdown table: recall, precision and F1 on the monorepo, the
# history repository, and both combined.
#
#   scripts/compare-corpus.sh [WORKDIR]
#
# WORKDIR (default: a temp dir) receives corpus/ (monorepo/, history/, labels.json,
# negatives.json) and reports/ (each tool's JSON). Env: KEYTRAIL_BIN to use a prebuilt binary,
# PEERS_DIR for ../shared/bench/peers.sh, KEEP=1 to keep a temp WORKDIR, CORPUS_DIR to score an
# already written corpus instead of writing one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-}
if [ -z "$work" ]; then
  work=$(mktemp -d)
  [ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/reports"
corpus=${CORPUS_DIR:-$work/corpus}
score=$root/scripts/score-corpus.py

if [ -z "${CORPUS_DIR:-}" ]; then
  echo "compare-corpus: writing the corpus to $corpus" >&2
  (cd "$root" && KEYTRAIL_CORPUS_OUT=$corpus cargo test --release --quiet --test corpus -- --ignored write_corpus >&2)
fi

if [ -n "${KEYTRAIL_BIN:-}" ]; then
  keytrail=$KEYTRAIL_BIN
else
  (cd "$root" && cargo build --release --quiet >&2)
  keytrail=${CARGO_TARGET_DIR:-$root/target}/release/keytrail
fi

peers_sh=$root/../shared/bench/peers.sh
[ -f "$peers_sh" ] || { echo "compare-corpus: $peers_sh not found" >&2; exit 2; }
echo "compare-corpus: installing peers via $peers_sh" >&2
peer_paths=$(bash "$peers_sh" ${PEERS_DIR:+"$PEERS_DIR"})
kingfisher=$(awk '$1 == "kingfisher" { print $2 }' <<<"$peer_paths")
gitleaks=$(awk '$1 == "gitleaks" { print $2 }' <<<"$peer_paths")
betterleaks=$(awk '$1 == "betterleaks" { print $2 }' <<<"$peer_paths")

# Each tool runs from inside the reports dir (some write reports by rename; gitleaks unlinks its -r
# path first), and every report path is in our own temp dir.
run() { local name=$1; shift; echo "compare-corpus: $name" >&2; (cd "$work/reports" && "$@" >"$work/reports/$name.stdout" 2>"$work/reports/$name.stderr") || {
  local rc=$?; if [ $rc -gt 1 ] && [ "$name" != kingfisher-monorepo ] && [ "$name" != kingfisher-history ]; then
    echo "compare-corpus: $name exited $rc:" >&2; tail -n 20 "$work/reports/$name.stderr" >&2; exit 2; fi; }; }

m=$corpus/monorepo h=$corpus/history r=$work/reports
run keytrail-monorepo "$keytrail" scan --format json -q -o "$r/keytrail-monorepo.json" "$m"
run keytrail-history "$keytrail" scan --format json -q -o "$r/keytrail-history.json" "$h"
# Kingfisher exits 200 when it finds something
run kingfisher-monorepo "$kingfisher" scan "$m" --git-history none --no-validate --no-update-check --format json -o "$r/kingfisher-monorepo.json"
run kingfisher-history "$kingfisher" scan "$h" --git-history full --no-validate --no-update-check --format json -o "$r/kingfisher-history.json"
run gitleaks-monorepo "$gitleaks" dir "$m" -f json -r "$r/gitleaks-monorepo.json" --exit-code 0 --no-banner
run gitleaks-history "$gitleaks" git "$h" -f json -r "$r/gitleaks-history.json" --exit-code 0 --no-banner
# Betterleaks 2.x: `fs` for files, `git` for history, JSON by the -o extension
run betterleaks-monorepo "$betterleaks" fs "$m" -o "$r/betterleaks-monorepo.json" --exit-code=0 --no-banner
run betterleaks-history "$betterleaks" git "$h" -o "$r/betterleaks-history.json" --exit-code=0 --no-banner

python3 - "$score" "$corpus" "$r" <<'PY'
import json, subprocess, sys
score, corpus, reports = sys.argv[1:]
def f1(r, p): return 2 * r * p / (r + p) if r + p else 0.0
print("| tool | monorepo R | monorepo P | monorepo F1 | history R | history P | history F1 | combined R | combined P | combined F1 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for tool in ["keytrail", "kingfisher", "gitleaks", "betterleaks"]:
    cells, tp, fp, n = [], 0, 0, 0
    for repo in ["monorepo", "history"]:
        out = subprocess.run([sys.executable, score, f"{corpus}/labels.json", tool, f"{reports}/{tool}-{repo}.json", repo,
                              "--root", f"{corpus}/{repo}", "--json"], capture_output=True, text=True, check=True).stdout
        s = json.loads(out)
        tp, fp, n = tp + s["recalled"], fp + s["fp"], n + s["labels"]
        cells += [f"{s['recall']:.3f}", f"{s['precision']:.3f}", f"{s['f1']:.3f}"]
    rec, prec = tp / n, (tp / (tp + fp) if tp + fp else 1.0)
    cells += [f"{rec:.3f}", f"{prec:.3f}", f"{f1(rec, prec):.3f}"]
    print(f"| {tool} | " + " | ".join(cells) + " |")
PY
echo "compare-corpus: reports in $r (per-tool detail: scripts/score-corpus.py $corpus/labels.json TOOL REPORT REPO)" >&2
