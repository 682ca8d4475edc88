#!/usr/bin/env bash
# Checks GitHub Action and workflow files the way they can be checked without GitHub:
#   1. against SchemaStore's schemas, with check-jsonschema --builtin-schema vendor.github-actions
#      (action.yml, action.yaml) or vendor.github-workflows (any other file), and
#   2. with action-validator, which applies its own copy of those schemas.
#
#   scripts/validate-actions.sh [FILE ...]   (default: action.yml and .github/workflows/*.y*ml)
#
# Exit: 0 every file passes both checks; 1 some check failed (or a file is missing/unreadable);
# 2 usage or setup problem.
#
# Neither tool reaches the network when checking: both carry their schemas, and neither looks up
# what `uses:` names (actions, local paths, images). action-validator's npm build cannot check
# `paths:` globs and says so on stderr; this repository's workflows have none.
#
# The validators are installed on first use, from package registries only (npm, PyPI), into
# ${KEYTRAIL_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keytrail-ci} and reused afterwards.
# Env: KEYTRAIL_CI_CACHE (cache dir), PYTHON (interpreter for the venv, default python3).
set -u -o pipefail

# The cache subdirectory is named after a checksum of every pin below, so bumping one
# installs afresh instead of reusing a stale install.
VALIDATOR_PKGS=(
  @action-validator/cli@0.6.0
  # A peer dependency of the CLI, pinned here so npm cannot pick another build of the validator.
  @action-validator/core@0.6.0
  chalk@5.2.0
)
PY_PINS=(
  check-jsonschema==0.39.0
  attrs==26.1.0
  certifi==2026.10.18
  charset-normalizer==3.5.2
  click==8.5.1
  idna==3.20
  jsonschema==4.26.0
  jsonschema-specifications==2025.9.1
  referencing==0.37.0
  regress==2026.9.1
  requests==2.34.2
  rpds-py==2026.9.1
  ruamel.yaml==0.19.1
  typing_extensions==4.16.0
  urllib3==2.8.0
)

prog=validate-actions
# shellcheck source=scripts/ci-lib.sh
. "$(dirname "$0")/ci-lib.sh" || exit 2

if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

if [ $# -eq 0 ]; then
  cd "$(dirname "$0")/.." || die_setup "cannot enter the repository"
  set -- action.yml
  for f in .github/workflows/*.yml .github/workflows/*.yaml; do
    [ -e "$f" ] && set -- "$@" "$f"
  done
fi

pins_sum=$(printf '%s\n' "${VALIDATOR_PKGS[@]}" "${PY_PINS[@]}" | cksum | cut -d' ' -f1)
dir=$cache_root/actions-$pins_sum
validator=$dir/npm/node_modules/@action-validator/cli/cli.mjs
check_jsonschema=$dir/venv/bin/check-jsonschema

install_tools() {
  local log=$dir/install.log started=$SECONDS py=${PYTHON:-python3}
  command -v node >/dev/null || die_setup "node not found (Node.js 18+ runs action-validator)"
  command -v npm >/dev/null || die_setup "npm not found (it installs action-validator)"
  command -v "$py" >/dev/null || die_setup "$py not found (Python 3.9+ is needed for check-jsonschema)"
  rm -rf "$dir" || die_setup "cannot clear $dir"
  mkdir -p "$dir" || die_setup "cannot create cache directory $dir"
  printf '%s: installing validators into %s (first use)\n' "$prog" "$dir" >&2

  # No install scripts run: the validator is JavaScript and WebAssembly, with nothing to build.
  npm_install_exact "$dir" "${VALIDATOR_PKGS[@]}" || install_fail "npm install of action-validator failed"
  [ -f "$validator" ] || install_fail "npm installed no $validator"
  # Prints its usage and exits 0: proof that node can load it and its WebAssembly.
  node "$validator" --help >>"$log" 2>&1 || install_fail "action-validator does not start with $(node --version)"

  venv_install_wheels "$py" "$dir/venv" "${PY_PINS[@]}" || install_fail "pip install of check-jsonschema failed"
  "$check_jsonschema" --version >>"$log" 2>&1 || install_fail "check-jsonschema does not start"
  # Written last: a cache without it is a half-finished install and is redone.
  printf '%s\n' "${VALIDATOR_PKGS[@]}" "${PY_PINS[@]}" >"$dir/installed" || install_fail "cannot write to $dir"
  printf '%s: installed in %ss (%s)\n' "$prog" "$((SECONDS - started))" \
    "$(du -sh "$dir" 2>/dev/null | cut -f1)" >&2
}

lock_cache .lock
if [ ! -f "$dir/installed" ] || [ ! -f "$validator" ] || [ ! -x "$check_jsonschema" ]; then
  (install_tools) || exit 2
fi
unlock_cache
command -v node >/dev/null || die_setup "node not found (Node.js 18+ runs action-validator)"

tmp=$(mktemp -d) || die_setup "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

passed=0 failed=0
for file in "$@"; do
  printf '== %s\n' "$file"
  unreadable "$file" && continue
  # action-validator also tells an action from a workflow by the file name.
  case ${file##*/} in
    action.yml | action.yaml) schema=vendor.github-actions ;;
    *) schema=vendor.github-workflows ;;
  esac
  ok=1
  echo "-- check-jsonschema --builtin-schema $schema:"
  # An absolute path keeps a name starting with "-" from reading as an option.
  if "$check_jsonschema" --builtin-schema "$schema" "$(realpath -- "$file")" >"$tmp/cj.txt" 2>&1; then
    echo "  ok"
  else
    # A oneOf failure quotes the whole offending mapping, which can run to kilobytes.
    sed -E 's/^/  /; s/^(.{400}).+$/\1 …/' "$tmp/cj.txt"
    ok=0
  fi
  echo "-- action-validator:"
  if node "$validator" "$(realpath -- "$file")" >"$tmp/av.txt" 2>&1; then
    echo "  ok"
    # Its warnings (globs it cannot check) go with a passing result.
    sed 's/^/  /' "$tmp/av.txt"
  else
    # It prints its whole result object, which nests every branch of a oneOf it tried.
    sed 's/^/  /' "$tmp/av.txt" | head -n 60
    lines=$(($(wc -l <"$tmp/av.txt")))
    [ "$lines" -le 60 ] || printf '  … %d more lines\n' "$((lines - 60))"
    ok=0
  fi
  verdict "$ok" "$file"
done

verdicts_total
