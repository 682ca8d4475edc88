# shellcheck shell=bash
# Shared by the CI scripts that install pinned tools from npm and PyPI into a cache and reuse
# them: sourced, never run. The caller sets `prog` (its name in messages) first, and `log` (the
# install log) before calling the install helpers.
# shellcheck disable=SC2154 # prog and log belong to the caller

# The cache every CI script installs into; KEYTRAIL_CI_CACHE moves it.
cache_root=${KEYTRAIL_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keytrail-ci}

die_setup() { printf '%s: setup: %s\n' "$prog" "$*" >&2; exit 2; }

# lock_cache NAME: holds an exclusive lock on $cache_root/NAME (fd 9) until unlock_cache, so two
# CI jobs sharing a cache do not install over each other.
lock_cache() {
  mkdir -p "$cache_root" 2>/dev/null || die_setup "cannot create cache directory $cache_root"
  command -v flock >/dev/null || return 0
  exec 9>"$cache_root/$1" || die_setup "cannot open $cache_root/$1"
  flock 9 || die_setup "cannot lock $cache_root/$1"
}
unlock_cache() { if command -v flock >/dev/null; then exec 9>&-; fi; }

# install_fail MESSAGE: stops a failed install step, showing the end of its log ($log).
install_fail() {
  printf '%s: setup: %s; last lines of %s:\n' "$prog" "$1" "$log" >&2
  tail -n 25 "$log" | sed 's/^/  /' >&2
  exit 2
}

# npm_install_exact DIR PACKAGE@VERSION...: into DIR/npm, exact versions, no install scripts,
# and npm's download cache dropped after, so tarballs are not kept twice in $HOME. Logs to $log.
npm_install_exact() {
  local dir=$1 rc
  shift
  npm install --prefix "$dir/npm" --cache "$dir/npm-cache" --no-audit --no-fund \
    --no-update-notifier --ignore-scripts --save-exact --loglevel=error "$@" >>"$log" 2>&1
  rc=$?
  rm -rf "$dir/npm-cache"
  return $rc
}

# venv_install_wheels PYTHON VENV PIN...: a venv holding exactly PIN..., from binary wheels only
# (a source build of a Rust-backed wheel would need a toolchain and minutes). Logs to $log.
venv_install_wheels() {
  local py=$1 venv=$2
  shift 2
  "$py" -m venv "$venv" >>"$log" 2>&1 \
    || install_fail "$py -m venv failed (on Debian's own python3: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-cache-dir \
    --only-binary=:all: "$@" >>"$log" 2>&1
}

# verdict OK FILE: prints PASS or FAIL for FILE (OK is 1 when every check passed) and counts it in
# the caller's passed/failed totals.
verdict() {
  if [ "$1" = 1 ]; then
    printf 'PASS %s\n' "$2"
    passed=$((passed + 1))
  else
    printf 'FAIL %s\n' "$2"
    failed=$((failed + 1))
  fi
}

# unreadable FILE: true (after saying so and counting a failure) when FILE cannot be read.
unreadable() {
  [ -f "$1" ] && [ -r "$1" ] && return 1
  printf '  error: no such readable file\n'
  verdict 0 "$1"
}

# verdicts_total: the closing line, and the script's status (0 only when nothing failed).
verdicts_total() {
  printf '%s: %d file(s) valid, %d invalid\n' "$prog" "$passed" "$failed"
  [ "$failed" -eq 0 ]
}
