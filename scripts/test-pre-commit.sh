#!/usr/bin/env bash
# End-to-end test of .pre-commit-hooks.yaml with the real pre-commit framework. In a throwaway
# repository with the hooks installed, real `git commit`s and real `git push`es to a local bare
# remote must be blocked when they add a credential (made up at run time) and go through when they
# do not, for the hooks keytrail (built by pre-commit with cargo), keytrail-system (this checkout's
# debug build on PATH) and keytrail-pre-push; and `pre-commit try-repo` against this repository
# must fail on a staged secret and pass a clean change, for the rust and the system hook.
#
#   scripts/test-pre-commit.sh
#
# Exit: 0 every check passed; 1 some check failed; 2 setup problem.
#
# pre-commit is installed from PyPI on first use into
# ${KEYTRAIL_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keytrail-ci} and reused afterwards, as are
# the hook environment pre-commit builds (while the source tree stays the same) and cargo's
# build directory for it.
# Env: KEYTRAIL_CI_CACHE (cache dir), PYTHON (interpreter for the venv, default python3).
set -u -o pipefail

# pre-commit and everything it pulls in, exactly. The cache subdirectory is named after a
# checksum of these, so bumping one installs afresh.
PC_VERSION=4.7.0
PY_PINS=(
  "pre-commit==$PC_VERSION"
  cfgv==3.5.0
  distlib==0.4.4
  filelock==4.2.11
  identify==2.6.20
  nodeenv==1.12.0
  packaging==26.3
  platformdirs==4.14.7
  python-discovery==1.9.5
  PyYAML==6.0.3
  virtualenv==21.15.8
)

prog=test-pre-commit
# shellcheck source=scripts/ci-lib.sh
. "$(dirname "$0")/ci-lib.sh" || exit 2

if [ $# -gt 0 ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

repo=$(cd "$(dirname "$0")/.." && pwd) || die_setup "cannot find the repository"
[ -f "$repo/.pre-commit-hooks.yaml" ] || die_setup "no .pre-commit-hooks.yaml in $repo"
for tool in git cargo; do
  command -v "$tool" >/dev/null || die_setup "$tool not found on PATH"
done

# Variables git sets while running a hook would point every git command below at the wrong
# repository or index; SKIP would silently disable hooks under test.
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES \
  GIT_COMMON_DIR GIT_PREFIX SKIP PRE_COMMIT PRE_COMMIT_FROM_REF PRE_COMMIT_TO_REF \
  PRE_COMMIT_REMOTE_NAME PRE_COMMIT_LOCAL_BRANCH

pins_sum=$(printf '%s\n' "${PY_PINS[@]}" | cksum | cut -d' ' -f1)
dir=$cache_root/pre-commit-$PC_VERSION-$pins_sum
venv_py=$dir/venv/bin/python
pre_commit=$dir/venv/bin/pre-commit

install_pre_commit() {
  local log=$dir/install.log started=$SECONDS py=${PYTHON:-python3}
  command -v "$py" >/dev/null || die_setup "$py not found (Python 3.9+ is needed for pre-commit $PC_VERSION)"
  rm -rf "$dir" && mkdir -p "$dir" || die_setup "cannot create cache directory $dir"
  printf '%s: installing pre-commit %s into %s (first use)\n' "$prog" "$PC_VERSION" "$dir" >&2
  venv_install_wheels "$py" "$dir/venv" "${PY_PINS[@]}" || install_fail "pip install of pre-commit failed"
  "$pre_commit" --version 2>>"$log" | grep -qx "pre-commit $PC_VERSION" \
    || die_setup "the installed pre-commit does not report version $PC_VERSION; see $log"
  # Written last: a cache without it is a half-finished install and is redone.
  printf '%s\n' "$PC_VERSION" >"$dir/installed" || die_setup "cannot write to $dir"
  printf '%s: installed in %ss\n' "$prog" "$((SECONDS - started))" >&2
}

# Held for the whole run: a second run sharing the cache would otherwise replace the hook
# environment and the source snapshot under this one.
lock_cache .lock-pre-commit
if [ ! -f "$dir/installed" ] || [ ! -x "$pre_commit" ]; then
  install_pre_commit
fi

started=$SECONDS
work=$(mktemp -d) || die_setup "mktemp failed"
trap 'rm -rf "$work"' EXIT

# --- The keytrail the system hook runs: this checkout's debug build, where the caller's cargo
# puts it (CI has usually built it already for the tests).
echo "== building keytrail (cargo build --locked)"
(cd "$repo" && cargo build --locked --quiet --bin keytrail) || die_setup "cargo build failed"
target_dir=$(cd "$repo" && cargo metadata --locked --format-version 1 --no-deps 2>/dev/null \
  | "$venv_py" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])') \
  || die_setup "cargo metadata failed"
debug_bin_dir=$target_dir/debug
[ -x "$debug_bin_dir/keytrail" ] || die_setup "no keytrail binary at $debug_bin_dir/keytrail"

# --- The hooks' source: the working tree as it stands, untracked files included, committed into
# a repository of its own. pre-commit reads a hook repository's committed content only, and
# `pre-commit try-repo` adds staged and tracked changes but never untracked files, so an
# uncommitted .pre-commit-hooks.yaml or new source file would be missing. With a fixed author and
# date the commit id depends on the content alone, so an unchanged tree finds its hook
# environment already built.
snap=$dir/keytrail-src.git
rm -rf "$snap" && git init -q --bare "$snap" || die_setup "cannot create $snap"
GIT_DIR=$snap GIT_WORK_TREE=$repo GIT_INDEX_FILE=$snap/index git add -A \
  || die_setup "cannot copy the working tree of $repo"
snap_tree=$(GIT_DIR=$snap GIT_INDEX_FILE=$snap/index git write-tree) || die_setup "git write-tree failed"
snap_rev=$(GIT_DIR=$snap GIT_AUTHOR_NAME=keytrail GIT_AUTHOR_EMAIL=ci@keytrail.invalid \
  GIT_COMMITTER_NAME=keytrail GIT_COMMITTER_EMAIL=ci@keytrail.invalid \
  GIT_AUTHOR_DATE='@0 +0000' GIT_COMMITTER_DATE='@0 +0000' \
  git commit-tree "$snap_tree" -m "keytrail working tree") || die_setup "git commit-tree failed"
GIT_DIR=$snap git update-ref refs/heads/main "$snap_rev" || die_setup "git update-ref failed"

# One hook environment is kept, the current tree's: a changed tree starts a fresh store rather
# than piling up a build per revision.
export PRE_COMMIT_HOME=$dir/home
if [ "$(cat "$PRE_COMMIT_HOME/.keytrail-rev" 2>/dev/null)" != "$snap_rev" ]; then
  rm -rf "$PRE_COMMIT_HOME"
  mkdir -p "$PRE_COMMIT_HOME" && printf '%s\n' "$snap_rev" >"$PRE_COMMIT_HOME/.keytrail-rev" \
    || die_setup "cannot write to $PRE_COMMIT_HOME"
fi

# pre-commit's `cargo install` inherits the environment. The release profile (thin LTO, four
# codegen units) is for shipped binaries; a test of the hook wiring needs a working binary soon.
# Cold on two cores, opt-level 0 builds in about half the time of opt-level 1 and costs half a
# second per hook run on these small repositories. The target directory outlives the store, so a
# changed tree recompiles keytrail alone.
export CARGO_TARGET_DIR=$cache_root/pre-commit-cargo-target
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_TERM_COLOR=never
export PRE_COMMIT_COLOR=never NO_COLOR=1
# The test repository sees neither the user's nor the system's git settings (signing, hook
# paths, templates, default branch).
printf '[user]\n\tname = keytrail test\n\temail = test@keytrail.invalid\n[init]\n\tdefaultBranch = main\n' \
  >"$work/gitconfig"
export GIT_CONFIG_GLOBAL=$work/gitconfig GIT_CONFIG_NOSYSTEM=1
plain_path=$PATH
system_path=$debug_bin_dir:$PATH

# --- Credentials made up on the spot. The prefix is split so that this file holds no match.
rand() { "$venv_py" -c 'import secrets, sys; a = sys.argv[1]; print("".join(secrets.choice(a) for _ in range(int(sys.argv[2]))))' "$1" "$2"; }
aws_key_id() { printf 'AK''IA%s' "$(rand ABCDEFGHIJKLMNOPQRSTUVWXYZ234567 16)"; }
aws_secret() { rand ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 40; }
new_aws_pair() { # an AWS credentials file; line 3 holds the secret
  printf '[prod]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$(aws_key_id)" "$(aws_secret)"
}

# --- Checks. Each collects its problems and prints ok or FAIL with the full output.
n_pass=0 n_fail=0 out=$work/out.txt problems=()
begin() { label=$1; problems=(); check_started=$SECONDS; }
problem() { problems+=("$1"); }
has() { # has TEXT WHY: the last output holds TEXT literally
  grep -qF -- "$1" "$out" || problem "output lacks $2: $1"
}
has_re() { grep -qE -- "$1" "$out" || problem "output lacks $2: /$1/"; }
end() {
  local secs=$((SECONDS - check_started))
  if [ ${#problems[@]} -eq 0 ]; then
    printf 'ok    %s (%ss)\n' "$label" "$secs"
    n_pass=$((n_pass + 1))
  else
    printf 'FAIL  %s (%ss)\n' "$label" "$secs"
    printf '      - %s\n' "${problems[@]}"
    echo "      output:"
    sed 's/^/      | /' "$out"
    n_fail=$((n_fail + 1))
  fi
}

# expect_commit pass|block [git commit arguments]: commits with the hooks, then checks whether
# the commit was made.
expect_commit() {
  local expect=$1 before after rc
  shift
  before=$(git rev-parse -q --verify HEAD)
  git commit -q -m "$label" "$@" >"$out" 2>&1
  rc=$?
  after=$(git rev-parse -q --verify HEAD)
  if [ "$expect" = pass ]; then
    [ "$rc" -eq 0 ] || problem "git commit exited $rc; expected the commit to go through"
    [ -n "$after" ] && [ "$after" != "$before" ] || problem "no commit was made"
  else
    [ "$rc" -ne 0 ] || problem "git commit exited 0: the commit went through"
    if [ "$after" != "$before" ]; then
      problem "a commit was made although the hook should block it"
      # Undone, changes kept staged, so that the checks after this one start where they should.
      if [ -n "$before" ]; then git reset -q --soft "$before"; else git update-ref -d HEAD; fi
    fi
  fi
}

# A blocked commit or push must say what and where, and how to get through (keytrail exits 1
# for findings; 2 would be an error, not a finding).
names_finding() { # names_finding HOOK-ID PATH LINE commit|push
  has_re "^- hook id: $1\$" "the hook id"
  has_re "^- exit code: 1\$" "keytrail's findings exit status"
  has "$2:$3" "the file and line"
  has "AWS secret access key" "the credential kind"
  has "keytrail blocked this $4" "the verdict"
  has_re "[Rr]emove the secret" "way out 1 (remove it)"
  has "keytrail:allow" "way out 2 (the allow marker)"
  has_re "echo '[^ ]+ $2' >> \.keytrailignore" "way out 3 (a fingerprint for .keytrailignore)"
}

test_repo=$work/project
mkdir -p "$test_repo" && cd "$test_repo" && git init -q || die_setup "cannot create $test_repo"
cat >.pre-commit-config.yaml <<EOF
repos:
  - repo: $snap
    rev: $snap_rev
    hooks:
      - id: keytrail
      - id: keytrail-system
      - id: keytrail-pre-push
EOF
"$pre_commit" install -t pre-commit -t pre-push >"$out" 2>&1 \
  || { cat "$out" >&2; die_setup "pre-commit install failed"; }
mkdir -p app docs deploy
printf '# demo\n' >README.md
printf 'DEBUG = False\nTIMEOUT = 30\n' >app/settings.py
printf 'old notes\n' >docs/old.txt
git add -A

echo "== pre-commit stage, both hooks, first commit of a new repository"
rust_keytrail() { # the keytrail pre-commit built for the rust hooks, if any
  local bin
  for bin in "$PRE_COMMIT_HOME"/repo*/rustenv-*/bin/keytrail; do
    [ -x "$bin" ] && printf '%s\n' "$bin" && return 0
  done
  return 1
}
env_built_before=$(rust_keytrail)
new_aws_pair >deploy/first.env
git add deploy/first.env
begin "first commit with a secret is blocked (no HEAD yet; builds the hook environment if needed)"
PATH=$system_path expect_commit block
names_finding keytrail deploy/first.env 3 commit
names_finding keytrail-system deploy/first.env 3 commit
end
build_secs=$((SECONDS - check_started))
begin "pre-commit built keytrail into its rust hook environment"
rust_keytrail >/dev/null || problem "no keytrail in $PRE_COMMIT_HOME/repo*/rustenv-*/bin"
end
git rm -q --cached deploy/first.env && rm deploy/first.env
begin "clean first commit passes"
PATH=$system_path expect_commit pass
has_re 'keytrail \(leaked credentials in staged changes\)\.+Passed' "the hook's Passed line"
end

for hook in keytrail keytrail-system; do
  if [ "$hook" = keytrail ]; then
    other=keytrail-system hook_path=$plain_path
  else
    other=keytrail hook_path=$debug_bin_dir:$plain_path
  fi
  echo "== pre-commit stage, hook $hook (SKIP=$other)"
  export SKIP=$other PATH=$hook_path
  env_file=deploy/$hook.env

  new_aws_pair >"$env_file"
  git add "$env_file"
  begin "$hook: a staged secret blocks the commit"
  expect_commit block
  names_finding "$hook" "$env_file" 3 commit
  end
  ignore_lines=$(grep -E "^ *echo '[^ ]+ [^ ]+' >> \.keytrailignore$" "$out")
  # Same secret, same place: the fingerprint printed above must let it through later.
  blocked_secret=$(cat "$env_file")
  git rm -q --cached "$env_file" && rm "$env_file"

  # `commit -a` and `commit PATH` hand hooks a temporary index through GIT_INDEX_FILE; the file
  # on disk still lacks the change.
  cp app/settings.py "$work/settings.orig"
  printf 'SERVICE = "billing"\nAWS_ACCESS_KEY_ID = "%s"\nAWS_SECRET_ACCESS_KEY = "%s"\n' \
    "$(aws_key_id)" "$(aws_secret)" >>app/settings.py
  begin "$hook: git commit -a with a secret in a tracked file is blocked"
  git diff --cached --quiet || problem "something was staged before the commit: the check proves nothing"
  expect_commit block -a
  names_finding "$hook" app/settings.py 5 commit
  end
  git reset -q
  begin "$hook: git commit PATH (a partial commit) with a secret is blocked"
  git diff --cached --quiet || problem "something was staged before the commit: the check proves nothing"
  expect_commit block -- app/settings.py
  names_finding "$hook" app/settings.py 5 commit
  end
  git reset -q && cp "$work/settings.orig" app/settings.py

  printf 'change %s\n' "$hook" >>README.md
  git add README.md
  begin "$hook: a clean change passes"
  expect_commit pass
  end

  new_aws_pair | sed 's/$/  # keytrail:allow/' >deploy/allowed-$hook.env
  git add deploy/allowed-$hook.env
  begin "$hook: a secret whose lines are marked keytrail:allow passes"
  expect_commit pass
  end

  printf '%s\n' "$blocked_secret" >"$env_file"
  begin "$hook: the blocked secret passes once .keytrailignore lists the printed fingerprint"
  if [ -z "$ignore_lines" ]; then
    problem "the blocked commit printed no \`echo '...' >> .keytrailignore\` line to run"
  else
    bash -c "$ignore_lines" || problem "the printed .keytrailignore lines do not run: $ignore_lines"
  fi
  git add "$env_file" .keytrailignore 2>/dev/null
  expect_commit pass
  end

  git rm -q docs/old.txt 2>/dev/null || git rm -q "deploy/allowed-$hook.env"
  begin "$hook: a commit that only deletes a file passes (and the hook runs)"
  expect_commit pass
  has_re 'keytrail \(leaked credentials in staged changes\)\.+Passed' "the hook's Passed line"
  end
done
unset SKIP
export PATH=$plain_path

# --- pre-push: real pushes to a bare repository; secrets are committed past the commit hooks.
echo "== pre-push stage, hook keytrail-pre-push"
git init -q --bare "$work/remote.git" && git remote add origin "$work/remote.git" \
  || die_setup "cannot create the remote"
remote_tip() { git --git-dir="$work/remote.git" rev-parse -q --verify "refs/heads/$1"; }
# expect_push pass|block BRANCH: pushes BRANCH, then checks whether the remote took it.
expect_push() {
  local expect=$1 branch=$2 before after rc
  before=$(remote_tip "$branch")
  git push -q origin "$branch" >"$out" 2>&1
  rc=$?
  after=$(remote_tip "$branch")
  if [ "$expect" = pass ]; then
    [ "$rc" -eq 0 ] || problem "git push exited $rc; expected the push to go through"
    [ "$after" = "$(git rev-parse "$branch")" ] || problem "the remote's $branch is not the pushed commit"
  else
    [ "$rc" -ne 0 ] || problem "git push exited 0: the push went through"
    if [ "$after" != "$before" ]; then
      problem "the remote's $branch moved although the hook should block it"
      if [ -n "$before" ]; then
        git --git-dir="$work/remote.git" update-ref "refs/heads/$branch" "$before"
      else
        git --git-dir="$work/remote.git" update-ref -d "refs/heads/$branch"
      fi
      git fetch -q origin --prune
    fi
  fi
}
# A secret added in one commit and deleted in the next: the pushed tip is clean, history is not.
commit_secret_then_remove() {
  new_aws_pair >"deploy/$1.env"
  git add "deploy/$1.env" && git commit -q --no-verify -m "add $1"
  secret_commit=$(git rev-parse --short=10 HEAD)
  git rm -q "deploy/$1.env" && git commit -q --no-verify -m "remove $1"
}
base=$(git rev-parse HEAD)

commit_secret_then_remove push-first
begin "first push of a branch to an empty remote, with a secret in its history, is blocked"
expect_push block main
names_finding keytrail-pre-push deploy/push-first.env 3 push
has "$secret_commit" "the commit that adds the secret"
end
git reset -q --hard "$base"
begin "first push of a clean branch passes (allowed and ignored secrets in its history)"
expect_push pass main
end

commit_secret_then_remove push-more
begin "pushing new commits with a secret in between is blocked"
expect_push block main
names_finding keytrail-pre-push deploy/push-more.env 3 push
has "$secret_commit" "the commit that adds the secret"
end
git reset -q --hard "$base"
printf 'more\n' >>README.md && git commit -q --no-verify -am "clean change"
begin "pushing a clean new commit passes"
expect_push pass main
end

git switch -q -c feature
commit_secret_then_remove push-branch
begin "pushing a new branch with a secret is blocked"
expect_push block feature
names_finding keytrail-pre-push deploy/push-branch.env 3 push
end
git reset -q --hard main
printf 'feature\n' >>README.md && git commit -q --no-verify -am "feature work"
begin "pushing a clean new branch passes"
expect_push pass feature
end

# --- `pre-commit try-repo`, the way a user tries hooks before adding them to a config. It builds
# its hook environments in a throwaway store, so the rust hook is compiled again (only keytrail
# itself: cargo's build directory is shared).
try_dir=$work/try
mkdir -p "$try_dir" && cd "$try_dir" && git init -q || die_setup "cannot create $try_dir"
printf 'hello\n' >README.md && git add README.md && git commit -q --no-verify -m init
for hook in keytrail keytrail-system; do
  hook_path=$plain_path
  [ "$hook" = keytrail ] || hook_path=$debug_bin_dir:$plain_path
  echo "== pre-commit try-repo, hook $hook"
  new_aws_pair >deploy.env
  git add deploy.env
  begin "try-repo $hook: a staged secret fails the hook"
  PATH=$hook_path "$pre_commit" try-repo "$snap" "$hook" --ref "$snap_rev" >"$out" 2>&1
  rc=$?
  [ "$rc" -ne 0 ] || problem "pre-commit try-repo exited 0 with a secret staged"
  names_finding "$hook" deploy.env 3 commit
  end
  git rm -q --cached deploy.env && rm deploy.env
  printf 'more\n' >>README.md && git add README.md
  begin "try-repo $hook: a clean staged change passes"
  PATH=$hook_path "$pre_commit" try-repo "$snap" "$hook" --ref "$snap_rev" >"$out" 2>&1
  rc=$?
  [ "$rc" -eq 0 ] || problem "pre-commit try-repo exited $rc on a clean change"
  has_re 'keytrail \(leaked credentials in staged changes\)\.+Passed' "the hook's Passed line"
  end
done

cd "$repo" || exit 2
if [ -z "$env_built_before" ]; then
  how="built in about ${build_secs}s (cargo install, release profile at opt-level 0)"
else
  how="reused"
fi
printf '%s: hook environment %s; whole run %ss\n' "$prog" "$how" "$((SECONDS - started))"
printf '%s: %d passed, %d failed\n' "$prog" "$n_pass" "$n_fail"
[ "$n_fail" -eq 0 ]
