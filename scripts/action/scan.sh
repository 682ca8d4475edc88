#!/usr/bin/env bash
# The scan step of the keytrail GitHub Action (action.yml). Chooses what to scan from the event,
# runs keytrail once, and hands its results to the rest of the job.
#
# What is scanned:
#   push                     the pushed commits, BEFORE..AFTER; a new branch, or a BEFORE this
#                            clone lacks (force push), scans the commits of AFTER that no other
#                            ref has; a deleted branch scans nothing
#   pull_request(_target)    the pull request's commits, BASE..HEAD, however many there are
#   anything else, or none   the files and the whole git history
#
# Environment (all optional; outside Actions a missing event means a full scan):
#   INPUT_PATH       directory to scan (default .), relative to GITHUB_WORKSPACE
#   INPUT_ARGS       extra `keytrail scan` flags, split into words like a POSIX shell splits
#                    them (blanks separate; '…', "…" and \ group; # starts a comment) but with
#                    nothing expanded: $VAR, `…`, globs and ~ stay as written
#   INPUT_SARIF      SARIF report to write (default keytrail.sarif)
#   INPUT_INVENTORY  lifecycle inventory file (default: keytrail's own default)
#   KEYTRAIL_BIN     the keytrail executable (default: keytrail on PATH)
#   GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_SHA   the event, its JSON payload, its commit
#   GITHUB_WORKSPACE                                  where relative paths start (default .)
#   GITHUB_OUTPUT, GITHUB_STEP_SUMMARY                files the results are appended to
#   GITHUB_SERVER_URL, GITHUB_REPOSITORY              with both, the summary links to files
#
# Outputs (appended to GITHUB_OUTPUT): findings (number, counted in the SARIF report; empty if
# keytrail wrote none), sarif (absolute path; empty when nothing was scanned), exit-code
# (keytrail's: 0 clean, 1 findings, 2 error), scope (range or full: the SARIF category's suffix).
#
# Exit: 0 once keytrail has run, whatever it found, so that the SARIF upload still happens and
# the action's last step gives the verdict; 2 on a setup problem (no jq, no keytrail, an
# unreadable event payload, a bad input), with an ::error:: line saying which.
set -euo pipefail

# GitHub drops a step summary larger than this.
SUMMARY_LIMIT=$((1024 * 1024))
ZERO_SHA=0000000000000000000000000000000000000000

# Workflow command data: %, CR and LF are GitHub's escapes.
escape_data() {
  local s=${1//'%'/%25}
  s=${s//$'\r'/%0D}
  printf '%s' "${s//$'\n'/%0A}"
}

output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"; fi
}

die() {
  printf '::error title=keytrail::%s\n' "$(escape_data "$*")"
  output exit-code 2
  exit 2
}

notice() { printf '::notice title=keytrail::%s\n' "$(escape_data "$*")"; }
warning() { printf '::warning title=keytrail::%s\n' "$(escape_data "$*")"; }

bytes() {
  local LC_ALL=C
  printf '%s' "${#1}"
}

is_sha() { [[ $1 =~ ^[0-9a-f]{40}([0-9a-f]{24})?$ ]]; }
is_zero() { [[ $1 =~ ^0+$ ]]; }
short() { printf '%s' "${1:0:12}"; }

# Splits $1 into the array WORDS as a POSIX shell splits a command line, expanding nothing.
# Fails on an unterminated quote.
split_words() {
  local s=$1 n=${#1} i=0 c next word="" started=0 quote=""
  WORDS=()
  while [ "$i" -lt "$n" ]; do
    c=${s:i:1}
    if [ "$quote" = "'" ]; then
      if [ "$c" = "'" ]; then quote=""; else word+=$c; fi
    elif [ "$quote" = '"' ]; then
      if [ "$c" = '"' ]; then
        quote=""
      elif [ "$c" = $'\\' ] && [ $((i + 1)) -lt "$n" ]; then
        next=${s:i+1:1}
        case $next in
          '$' | '`' | '"' | $'\\') word+=$next i=$((i + 1)) ;;
          $'\n') i=$((i + 1)) ;;
          *) word+=$c ;;
        esac
      else
        word+=$c
      fi
    else
      case $c in
        ' ' | $'\t' | $'\n' | $'\r')
          if [ "$started" = 1 ]; then WORDS+=("$word") word="" started=0; fi
          ;;
        "'" | '"') quote=$c started=1 ;;
        $'\\')
          i=$((i + 1))
          next=${s:i:1}
          # A backslash before a newline joins lines; at the very end it stands for itself.
          if [ "$i" -ge "$n" ]; then
            word+=$'\\' started=1
          elif [ "$next" != $'\n' ]; then
            word+=$next started=1
          fi
          ;;
        '#')
          if [ "$started" = 1 ]; then
            word+=$c
          else
            while [ "$i" -lt "$n" ] && [ "${s:i:1}" != $'\n' ]; do i=$((i + 1)); done
          fi
          ;;
        *) word+=$c started=1 ;;
      esac
    fi
    i=$((i + 1))
  done
  [ -z "$quote" ] || return 1
  if [ "$started" = 1 ]; then WORDS+=("$word"); fi
}

# ---- setup -------------------------------------------------------------------------------------

command -v jq >/dev/null || die "jq is needed to read the event payload and the SARIF report, and is not on PATH"
bin=${KEYTRAIL_BIN:-keytrail}
if ! [ -x "$bin" ] && ! command -v "$bin" >/dev/null; then
  command -v keytrail >/dev/null || die "keytrail is not installed: $bin is not an executable and no keytrail is on PATH"
  bin=keytrail
fi

if [ -n "${GITHUB_WORKSPACE:-}" ]; then
  cd "$GITHUB_WORKSPACE" || die "cannot enter GITHUB_WORKSPACE ($GITHUB_WORKSPACE)"
fi
path=${INPUT_PATH:-.}
[ -e "$path" ] || die "the path input ($path) does not exist in $(pwd)"

sarif=${INPUT_SARIF:-keytrail.sarif}
case $sarif in
  *$'\n'* | *$'\r'*) die "the sarif input must be a single line" ;;
  /*) ;;
  *) sarif=$(pwd)/$sarif ;;
esac
mkdir -p "$(dirname "$sarif")" || die "cannot create the folder for $sarif"

split_words "${INPUT_ARGS:-}" || die "the args input has an unterminated quote: ${INPUT_ARGS:-}"
extra=(${WORDS[@]+"${WORDS[@]}"})

event=${GITHUB_EVENT_NAME:-}
[[ $event =~ ^[a-z_]*$ ]] || die "GITHUB_EVENT_NAME is not an event name: $event"
payload=${GITHUB_EVENT_PATH:-}

# Reads field $1 (a jq path) of the payload; "" when absent or null.
field() { jq -r "try (($1) // empty | tostring) catch empty" "$payload"; }

read_payload() {
  [ -n "$payload" ] || die "GITHUB_EVENT_PATH is not set, so the $event event's commits are unknown"
  [ -r "$payload" ] || die "cannot read the event payload $payload"
  jq -e 'type == "object"' "$payload" >/dev/null 2>&1 || die "the event payload $payload is not a JSON object"
}

# ---- the repository ----------------------------------------------------------------------------

repo_dir=$path
[ -d "$repo_dir" ] || repo_dir=$(dirname "$repo_dir")
in_git=0 shallow=0 remote=""
if command -v git >/dev/null; then
  if git_err=$(git -C "$repo_dir" rev-parse --git-dir 2>&1 >/dev/null); then
    in_git=1
    [ "$(git -C "$repo_dir" rev-parse --is-shallow-repository)" = true ] && shallow=1
    remotes=$(git -C "$repo_dir" remote)
    if printf '%s\n' "$remotes" | grep -qx origin; then
      remote=origin
    else
      remote=$(printf '%s\n' "$remotes" | head -n 1)
    fi
  elif [[ $git_err == *"dubious ownership"* ]]; then
    die "git refuses $repo_dir, which another user owns: run \`git config --global --add safe.directory '*'\` in an earlier step"
  fi
fi

has_commit() { git -C "$repo_dir" cat-file -e "$1^{commit}" 2>/dev/null; }

# Brings in what a range needs: the full history when the clone is shallow, and the commits $@
# (those the clone lacks). Without a remote (a local run) there is nothing to fetch from.
fetched=0
fetch_history() {
  local missing=() sha
  for sha in "$@"; do has_commit "$sha" || missing+=("$sha"); done
  if [ "$shallow" = 0 ] && [ ${#missing[@]} -eq 0 ]; then return 0; fi
  if [ -z "$remote" ] || [ "$fetched" = 1 ]; then return 0; fi
  fetched=1
  local args=(fetch --no-tags --quiet)
  if [ "$shallow" = 1 ]; then
    # The branches come too: "commits no other ref has" needs the other refs.
    notice "shallow clone: fetching the history the scan needs from $remote. Give actions/checkout fetch-depth: 0 to skip this."
    args+=(--unshallow "$remote" "+refs/heads/*:refs/remotes/$remote/*")
  else
    notice "fetching commits this clone lacks from $remote: ${missing[*]}"
    args+=("$remote")
  fi
  # A commit no ref reaches any more (the old tip of a force push) cannot be fetched, and one bad
  # want fails the whole fetch, so the branches alone are tried next.
  local err
  if ! err=$(git -C "$repo_dir" "${args[@]}" ${missing[@]+"${missing[@]}"} 2>&1); then
    if [ "$shallow" = 0 ] || ! err=$(git -C "$repo_dir" "${args[@]}" 2>&1); then
      printf '%s\n' "$err" >&2
      warning "git fetch from $remote failed; scanning what this clone has"
    fi
  fi
  [ "$(git -C "$repo_dir" rev-parse --is-shallow-repository)" = true ] || shallow=0
}

# ---- what to scan ------------------------------------------------------------------------------

mode=full range="" what=""
shown_path=""
[ "$path" = . ] || shown_path=" of \`${path//\`/\'}\`"

case $event in
  push)
    read_payload
    before=$(field .before)
    after=$(field .after)
    deleted=$(field .deleted)
    [ -n "$after" ] || after=${GITHUB_SHA:-}
    if [ "$deleted" = true ] || is_zero "${after:-0}"; then
      mode=none what="nothing: the push deleted a branch"
    else
      is_sha "$after" || die "the push payload's after ($after) is not a commit id"
      [ -z "$before" ] || is_sha "$before" || die "the push payload's before ($before) is not a commit id"
      [ "$in_git" = 1 ] || die "a push is scanned commit by commit, and $repo_dir is not in a git repository"
      if [ -z "$before" ] || is_zero "$before"; then
        fetch_history "$after"
        range=$ZERO_SHA..$after
        what="the commits of $(short "$after") that no other ref has (a new branch)"
      else
        fetch_history "$after" "$before"
        if has_commit "$before"; then
          range=$before..$after
          what="the pushed commits $(short "$before")..$(short "$after")"
        else
          range=$ZERO_SHA..$after
          what="the commits of $(short "$after") that no other ref has ($(short "$before"), the branch's previous tip, is not in this clone: a force push or a shallow clone)"
          notice "the push's previous tip $before is not in this clone (a force push, or history too shallow), so keytrail scans the commits of $after that no other ref has"
        fi
      fi
      has_commit "$after" || die "the pushed commit $after is not in the clone at $repo_dir"
      mode=range
    fi
    ;;
  pull_request | pull_request_target)
    read_payload
    base=$(field .pull_request.base.sha)
    head=$(field .pull_request.head.sha)
    number=$(field .pull_request.number)
    is_sha "$base" || die "the pull request payload's base.sha ($base) is not a commit id"
    is_sha "$head" || die "the pull request payload's head.sha ($head) is not a commit id"
    [[ $number =~ ^[0-9]*$ ]] || die "the pull request payload's number ($number) is not a number"
    [ "$in_git" = 1 ] || die "a pull request is scanned commit by commit, and $repo_dir is not in a git repository"
    # A local range, never an API listing of the pull request's commits, which stops at 250.
    fetch_history "$base" "$head"
    has_commit "$head" || die "the pull request's head commit $head is not in the clone at $repo_dir"
    has_commit "$base" || die "the pull request's base commit $base is not in the clone at $repo_dir"
    mode=range range=$base..$head
    what="the commits of pull request #$number, $(short "$base")..$(short "$head")"
    ;;
  *)
    if [ "$in_git" = 1 ]; then
      fetch_history
      what="the files and the whole git history$shown_path"
      if [ "$shallow" = 1 ]; then
        warning "shallow clone, and its history could not be fetched: only the history it has is scanned"
        what="$what (a shallow clone: only the history it has)"
      fi
    else
      what="the files$shown_path (not a git repository)"
    fi
    what="$what, for the ${event:-local} run"
    ;;
esac

printf 'keytrail: scanning %s\n' "$what"

if [ "$mode" = none ]; then
  output findings 0
  output sarif ""
  output exit-code 0
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    printf '**keytrail** scanned %s.\n' "$what" >>"$GITHUB_STEP_SUMMARY"
  fi
  exit 0
fi

# ---- the scan ----------------------------------------------------------------------------------

markdown=$(mktemp "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/keytrail-summary.XXXXXX") || die "mktemp failed"
trap 'rm -f "$markdown"' EXIT
rm -f "$sarif"

cmd=("$bin" scan --report "sarif=$sarif" --report "markdown=$markdown")
[ "$mode" != range ] || cmd+=(--range "$range")
if [ -n "${GITHUB_SERVER_URL:-}" ] && [ -n "${GITHUB_REPOSITORY:-}" ]; then
  cmd+=(--link-base "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY")
fi
[ -z "${INPUT_INVENTORY:-}" ] || cmd+=(--inventory "$INPUT_INVENTORY")
cmd+=(${extra[@]+"${extra[@]}"} -- "$path")

# The report quotes the scanned files, which a pull request controls: a line of theirs must not
# read as a workflow command.
stop=""
if [ "${GITHUB_ACTIONS:-}" = true ]; then
  stop=keytrail-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '::stop-commands::%s\n' "$stop"
fi
set +e
"${cmd[@]}"
code=$?
set -e
[ -z "$stop" ] || printf '::%s::\n' "$stop"

findings=""
if [ -s "$sarif" ]; then
  findings=$(jq '[.runs[].results[]] | length' "$sarif" 2>/dev/null) || {
    findings=""
    warning "$sarif is not a readable SARIF log"
  }
  output sarif "$sarif"
else
  output sarif ""
fi
output findings "$findings"
output exit-code "$code"
output scope "$mode"

# ---- the job summary ---------------------------------------------------------------------------

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  header="**keytrail** scanned $what."
  if ! [ -s "$markdown" ]; then
    printf '%s\n\nkeytrail stopped with exit status %s before writing its report: see the log.\n' \
      "$header" "$code" >>"$GITHUB_STEP_SUMMARY"
  else
    used=0
    [ ! -f "$GITHUB_STEP_SUMMARY" ] || used=$(($(wc -c <"$GITHUB_STEP_SUMMARY")))
    size=$(($(wc -c <"$markdown")))
    # Room for the header, the notes below and a margin.
    budget=$((SUMMARY_LIMIT - used - $(bytes "$header") - 1024))
    [ "$budget" -ge 0 ] || budget=0
    {
      printf '%s\n\n' "$header"
      if [ "$code" -gt 1 ]; then
        printf '> keytrail met errors (exit status %s): see the log. The report below may be incomplete.\n\n' "$code"
      fi
      if [ "$size" -le "$budget" ]; then
        cat "$markdown"
      else
        # Cut at a line end, so no table row or UTF-8 sequence is left half-written.
        head -c "$budget" "$markdown" | sed '$d'
        printf '\n\n> This summary was cut to fit GitHub'\''s 1 MiB limit: keytrail'\''s report had %s bytes.' "$size"
        printf ' Every finding is in the log and in the SARIF report.\n'
      fi
    } >>"$GITHUB_STEP_SUMMARY"
  fi
fi
exit 0
