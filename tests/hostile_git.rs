//! Broken and hostile git repositories, built at test time and scanned through the real binary:
//! damaged objects, packs and refs, history cycles, hostile tree entry names, blobs that inflate to
//! gigabytes, many refs, and repositories that cannot be opened. Each scan must end, name what is
//! damaged on stderr, still find the secret that sits in an intact part, and exit with the
//! documented status (0 nothing found, 1 findings, 2 something could not be read and nothing was
//! found) — never panic. Cases already in `history_bad_input.rs` (shallow clones, a ref to a
//! missing commit, damaged loose objects and packs) are not repeated here.
#![cfg(unix)]
mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

use common::{
    commit_all, corrupt_loose_object, git, git_cmd, keytrail, repo, scan_run, scan_with, write, Fake, ScanRun,
};
use flate2::{Compress, Compression, FlushCompress};

const ZERO: &str = "0000000000000000000000000000000000000000";
const GIB: u64 = 1 << 30;

/// `git ARGS` with `input` on standard input; its trimmed stdout.
fn git_stdin(dir: &Path, args: &[&str], input: &[u8]) -> String {
    let mut child =
        git_cmd(dir).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A commit of `tree` on top of HEAD (or a root commit), made the tip of `main`.
fn commit_tree(dir: &Path, tree: &str, message: &str) -> String {
    let parent = git_cmd(dir).args(["rev-parse", "-q", "--verify", "HEAD"]).output().unwrap();
    let parent = String::from_utf8_lossy(&parent.stdout).trim().to_string();
    let mut args = vec!["commit-tree", tree, "-m", message];
    if !parent.is_empty() {
        args.extend(["-p", &parent]);
    }
    let commit = git(dir, &args);
    git(dir, &["update-ref", "refs/heads/main", &commit]);
    commit
}

/// A tree object written as raw bytes (`git mktree` refuses the names hostile trees hold).
fn raw_tree(dir: &Path, entries: &[(&str, &[u8], &str)]) -> String {
    let mut bytes = Vec::new();
    for (mode, name, oid) in entries {
        bytes.extend_from_slice(mode.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(name);
        bytes.push(0);
        bytes.extend_from_slice(&hex(oid));
    }
    git_stdin(dir, &["hash-object", "-t", "tree", "--literally", "-w", "--stdin"], &bytes)
}

fn hex(oid: &str) -> Vec<u8> {
    (0..oid.len()).step_by(2).map(|i| u8::from_str_radix(&oid[i..i + 2], 16).unwrap()).collect()
}

/// A blob written to the object store; its id.
fn blob(dir: &Path, content: &str) -> String {
    git_stdin(dir, &["hash-object", "-w", "--stdin"], content.as_bytes())
}

/// keytrail held to an address-space limit, so a scan that inflated gigabytes into memory would
/// fail instead of passing on a machine with memory to spare.
fn keytrail_within(bytes: u64) -> assert_cmd::Command {
    use assert_cmd::cargo::CommandCargoExt;
    let mut cmd = std::process::Command::cargo_bin("keytrail").unwrap();
    cmd.env_remove("NO_COLOR").env("RUST_BACKTRACE", "0");
    // SAFETY: setrlimit is async-signal-safe and touches only the child being started.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    assert_cmd::Command::from_std(cmd)
}

/// Memory a scan of a few small blobs and a few-MB bomb needs, with room to spare, and a quarter
/// of what inflating one of the 4 GiB bombs would take.
const SCAN_MEMORY: u64 = GIB;

fn scan_within(dir: &Path, extra: &[&str]) -> ScanRun {
    let mut args = vec!["--threads", "2"];
    args.extend_from_slice(extra);
    scan_with(keytrail_within(SCAN_MEMORY), dir, &args)
}

// ---------------------------------------------------------------------------------------------
// Zlib streams of gigabytes of zeros, made in milliseconds.

/// `data` as raw deflate ending in a full flush: byte-aligned, and referring to nothing before
/// its start, so copies of it can follow one another within one stream.
fn deflate_flushed(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    c.compress_vec(data, &mut out, FlushCompress::Full).unwrap();
    assert_eq!(c.total_in(), data.len() as u64);
    out
}

/// Writes a zlib stream of `prefix` followed by `zeros` zero bytes: one compressed MiB of zeros
/// repeated (about 1 KB each), so 4 GiB is a 4 MB stream.
fn write_zeros_zlib(out: &mut impl Write, prefix: &[u8], zeros: u64) {
    const MIB: usize = 1 << 20;
    out.write_all(&[0x78, 0x01]).unwrap(); // deflate, 32 KiB window, no dictionary
    if !prefix.is_empty() {
        out.write_all(&deflate_flushed(prefix)).unwrap();
    }
    let mib = deflate_flushed(&vec![0; MIB]);
    for _ in 0..zeros / MIB as u64 {
        out.write_all(&mib).unwrap();
    }
    let rest = (zeros % MIB as u64) as usize;
    if rest > 0 {
        out.write_all(&deflate_flushed(&vec![0; rest])).unwrap();
    }
    out.write_all(&[0x03, 0x00]).unwrap(); // an empty final block
                                           // Adler-32: a zero byte leaves the sum `a` as it is and adds `a` to `b`.
    let (mut a, mut b) = (1u64, 0u64);
    for &x in prefix {
        a = (a + u64::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    b = (b + zeros % 65521 * a) % 65521;
    out.write_all(&(((b << 16) | a) as u32).to_be_bytes()).unwrap();
}

/// A loose blob whose header declares `declared` bytes and whose stream inflates to `actual`
/// zero bytes, stored under the made-up id `oid` (nothing re-hashes objects on read).
fn loose_zeros(repo: &Path, oid: &str, declared: u64, actual: u64) {
    let path = common::loose_object_path(repo, oid);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    write_zeros_zlib(&mut f, format!("blob {declared}\0").as_bytes(), actual);
    f.flush().unwrap();
}

/// A pack entry's header: its type and size, 4 bits then 7 bits a byte.
fn entry_header(kind: u8, mut size: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut byte = (kind << 4) | (size & 0x0f) as u8;
    size >>= 4;
    while size > 0 {
        out.push(byte | 0x80);
        byte = (size & 0x7f) as u8;
        size >>= 7;
    }
    out.push(byte);
    out
}

/// A pack and its index holding blobs of zeros: `(id, declared size, actual size)` each.
fn pack_of_zeros(repo: &Path, blobs: &[(&str, u64, u64)]) -> String {
    write_pack(
        repo,
        blobs.iter().map(|&(oid, declared, actual)| {
            let mut entry = entry_header(3, declared);
            write_zeros_zlib(&mut entry, b"", actual);
            (oid, entry)
        }),
    )
}

/// A pack of the given entries (made-up id, entry bytes) and its index. The pack's trailing
/// checksum is made up (nothing that reads packs re-hashes them) and the index records the same
/// bytes, as it must.
fn write_pack<'a>(repo: &Path, entries: impl IntoIterator<Item = (&'a str, Vec<u8>)>) -> String {
    let checksum = [0x5a; 20];
    let mut pack = Vec::new();
    let mut offsets = Vec::new();
    for (oid, entry) in entries {
        offsets.push((hex(oid), 12 + pack.len() as u32));
        pack.extend_from_slice(&entry);
    }
    let mut head = b"PACK".to_vec();
    head.extend_from_slice(&2u32.to_be_bytes());
    head.extend_from_slice(&(offsets.len() as u32).to_be_bytes());
    let pack = [head, pack, checksum.to_vec()].concat();
    offsets.sort();
    let mut idx = vec![0xff, b't', b'O', b'c', 0, 0, 0, 2];
    for first in 0..=255u8 {
        let n = offsets.iter().filter(|(id, _)| id[0] <= first).count() as u32;
        idx.extend_from_slice(&n.to_be_bytes());
    }
    for (id, _) in &offsets {
        idx.extend_from_slice(id);
    }
    for _ in &offsets {
        idx.extend_from_slice(&[0; 4]); // CRC-32s, checked only when copying entries between packs
    }
    for (_, offset) in &offsets {
        idx.extend_from_slice(&offset.to_be_bytes());
    }
    idx.extend_from_slice(&checksum);
    idx.extend_from_slice(&[0x5b; 20]);
    let name = format!("pack-{}", "5a".repeat(20));
    let dir = repo.join(".git/objects/pack");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.pack")), pack).unwrap();
    std::fs::write(dir.join(format!("{name}.idx")), idx).unwrap();
    format!("{name}.pack")
}

// ---------------------------------------------------------------------------------------------
// Damaged commits and trees.

// A commit in the middle that cannot be read ends the walk along that line only: what is in front
// of it, and what another ref reaches around it, is still scanned.
#[test]
fn a_damaged_commit_ends_only_the_history_behind_it() {
    let r = repo();
    let d = r.path();
    let mut fake = Fake::new(1101);
    let (behind, ahead) = (fake.github_pat(), fake.stripe_live());
    write(d, "README", "start\n");
    commit_all(d, "start");
    write(d, "old.cfg", format!("token = {behind}\n"));
    let old = commit_all(d, "an old token");
    git(d, &["branch", "keep"]);
    write(d, "old.cfg", "token = none\n");
    let damaged = commit_all(d, "remove it");
    write(d, "new.cfg", format!("key = {ahead}\n"));
    let new = commit_all(d, "a new key");
    write(d, "new.cfg", "key = none\n");
    commit_all(d, "remove it too");
    corrupt_loose_object(d, &damaged);

    for extra in [&[][..], &["--history-only"]] {
        let run = scan_run(d, extra);
        let mut commits: Vec<(String, String)> = run
            .findings()
            .iter()
            .map(|f| (f["path"].as_str().unwrap().to_string(), f["commit"].as_str().unwrap().to_string()))
            .collect();
        commits.sort();
        assert_eq!(
            commits,
            [("new.cfg".to_string(), new.clone()), ("old.cfg".to_string(), old.clone())],
            "{extra:?}: the secret ahead of the damage, and the one `keep` reaches around it: {}",
            run.stderr
        );
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.error_lines().iter().any(|l| l.contains(&format!("commit {damaged}"))),
            "{extra:?}: stderr names the damaged commit: {}",
            run.stderr
        );
        assert_eq!(run.json["stats"]["commits"], 4, "every readable commit once: {}", run.stderr);
    }
}

// A subtree that cannot be parsed costs its own files, not the commit's other files.
#[test]
fn an_unparsable_subtree_costs_only_its_own_files() {
    let r = repo();
    let d = r.path();
    let secret = Fake::new(1201).github_pat();
    let good = blob(d, &format!("token = {secret}\n"));
    let other = blob(d, "nothing\n");
    // An entry with an empty name: git and libgit2 both refuse to parse such a tree.
    let bad = raw_tree(d, &[("100644", b"", &other)]);
    let root = raw_tree(d, &[("100644", b"app.cfg", &good), ("40000", b"sub", &bad)]);
    let commit = commit_tree(d, &root, "a damaged subtree");

    let run = scan_run(d, &["--history-only"]);
    assert_eq!(run.paths(), ["app.cfg"], "{}", run.stderr);
    assert_eq!(run.findings()[0]["commit"], commit.as_str());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let named: Vec<&str> = run.error_lines().into_iter().filter(|l| l.contains(&format!("tree {bad}"))).collect();
    assert_eq!(named.len(), 1, "the tree is named once: {}", run.stderr);
    assert!(named[0].contains(" at sub "), "with its path: {}", named[0]);
}

// --staged and --range read blobs one by one: one that cannot be read is named, not taken for a
// blob without secrets.
#[test]
fn staged_and_range_scans_name_an_unreadable_blob() {
    let r = repo();
    let d = r.path();
    let mut fake = Fake::new(1301);
    write(d, "victim.txt", "a file whose blob will be damaged\n");
    let base = commit_all(d, "base");
    write(d, "victim.txt", "its next version, damaged too\n");
    write(d, "app.cfg", format!("token = {}\n", fake.github_pat()));
    commit_all(d, "a token");
    let victim = git(d, &["rev-parse", "HEAD:victim.txt"]);
    corrupt_loose_object(d, &victim);

    let run = scan_run(d, &["--range", &format!("{base}..HEAD")]);
    assert_eq!(run.paths(), ["app.cfg"], "{}", run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.error_lines().iter().any(|l| l.contains(&victim)), "names {victim}: {}", run.stderr);

    write(d, "staged.txt", "staged, then damaged\n");
    write(d, "staged.cfg", format!("key = {}\n", fake.stripe_live()));
    git(d, &["add", "staged.txt", "staged.cfg"]);
    let staged = git(d, &["rev-parse", ":staged.txt"]);
    corrupt_loose_object(d, &staged);
    let run = scan_run(d, &["--staged"]);
    assert_eq!(run.paths(), ["staged.cfg"], "{}", run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.error_lines().iter().any(|l| l.contains(&staged)), "names {staged}: {}", run.stderr);

    git(d, &["rm", "-q", "--cached", "staged.cfg"]);
    let run = scan_run(d, &["--staged"]);
    assert!(run.findings().is_empty(), "{:#?}", run.findings());
    assert_eq!(run.code, 2, "nothing found, something unread: {}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Refs.

/// The commits HEAD reaches, newest first.
fn commits_newest_first(d: &Path) -> Vec<String> {
    git(d, &["rev-list", "HEAD"]).lines().map(str::to_string).collect()
}

/// A repository with one secret in its history (added, then removed); the commit that added it.
fn history_with_a_secret(d: &Path, seed: u64) -> String {
    write(d, "README", "start\n");
    commit_all(d, "start");
    write(d, "app.cfg", format!("token = {}\n", Fake::new(seed).github_pat()));
    let added = commit_all(d, "a token");
    write(d, "app.cfg", "token = none\n");
    commit_all(d, "remove it");
    added
}

#[test]
fn broken_refs_are_named_and_every_other_ref_is_walked() {
    let r = repo();
    let d = r.path();
    let added = history_with_a_secret(d, 1401);
    let heads = d.join(".git/refs/heads");
    std::fs::write(heads.join("loop-a"), "ref: refs/heads/loop-b\n").unwrap();
    std::fs::write(heads.join("loop-b"), "ref: refs/heads/loop-a\n").unwrap();
    std::fs::write(heads.join("garbage"), "this is not an object id\n").unwrap();
    std::fs::write(heads.join("dangling"), "ref: refs/heads/nowhere\n").unwrap();

    let run = scan_run(d, &["--history-only"]);
    assert_eq!(run.paths(), ["app.cfg"], "{}", run.stderr);
    assert_eq!(run.findings()[0]["commit"], added.as_str());
    assert_eq!(run.code, 1, "{}", run.stderr);
    for name in ["refs/heads/loop-a", "refs/heads/loop-b", "refs/heads/garbage"] {
        assert!(run.error_lines().iter().any(|l| l.contains(name)), "names {name}: {}", run.stderr);
    }
    assert!(
        run.skipped_lines().iter().any(|l| l.contains("refs/heads/dangling") && l.contains("refs/heads/nowhere")),
        "a symbolic ref to nothing is a note: {}",
        run.stderr
    );
    assert!(!run.error_lines().iter().any(|l| l.contains("dangling")), "{}", run.stderr);

    // The same damage with nothing found: the scan is incomplete.
    let clean = repo();
    write(clean.path(), "README", "nothing\n");
    commit_all(clean.path(), "start");
    let heads = clean.path().join(".git/refs/heads");
    std::fs::write(heads.join("loop-a"), "ref: refs/heads/loop-b\n").unwrap();
    std::fs::write(heads.join("loop-b"), "ref: refs/heads/loop-a\n").unwrap();
    let run = scan_run(clean.path(), &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.findings().is_empty());
}

#[test]
fn head_pointing_nowhere_or_in_a_loop_leaves_the_other_refs_scanned() {
    let r = repo();
    let d = r.path();
    let added = history_with_a_secret(d, 1501);
    let head = d.join(".git/HEAD");

    // A branch with no commit yet (`git checkout --orphan`): unusual, not damage.
    std::fs::write(&head, "ref: refs/heads/nowhere\n").unwrap();
    let run = scan_run(d, &["--history-only"]);
    assert_eq!(run.paths(), ["app.cfg"], "{}", run.stderr);
    assert_eq!(run.findings()[0]["commit"], added.as_str());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.error_lines().is_empty(), "{}", run.stderr);
    assert!(
        run.skipped_lines().iter().any(|l| l.contains("HEAD points to refs/heads/nowhere")),
        "the note names HEAD and its target: {}",
        run.stderr
    );
    let run = scan_run(d, &["--staged"]);
    assert_eq!(run.code, 0, "the index matches no commit, and holds no secret: {}", run.stderr);

    // HEAD → refs/heads/x → HEAD.
    std::fs::write(&head, "ref: refs/heads/x\n").unwrap();
    std::fs::write(d.join(".git/refs/heads/x"), "ref: HEAD\n").unwrap();
    let run = scan_run(d, &["--history-only"]);
    assert_eq!(run.paths(), ["app.cfg"], "{}", run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.error_lines().iter().any(|l| l.contains("HEAD cannot be resolved")), "{}", run.stderr);
    assert!(run.error_lines().iter().any(|l| l.contains("refs/heads/x")), "{}", run.stderr);
}

// 100,000 refs on three commits: each commit is walked once, and the scan takes seconds.
#[test]
fn a_hundred_thousand_refs_walk_each_commit_once() {
    let r = repo();
    let d = r.path();
    let added = history_with_a_secret(d, 1601);
    let commits = commits_newest_first(d);
    assert_eq!(commits.len(), 3);
    let mut packed = String::from("# pack-refs with: peeled fully-peeled sorted \n");
    let mut names: Vec<String> = (0..100_000).map(|i| format!("refs/heads/many/{i:06}")).collect();
    names.sort();
    for (i, name) in names.iter().enumerate() {
        packed.push_str(&format!("{} {name}\n", commits[i % 3]));
    }
    std::fs::write(d.join(".git/packed-refs"), packed).unwrap();
    assert_eq!(git(d, &["for-each-ref", "--count=2", "refs/heads/many"]).lines().count(), 2);

    let run = scan_run(d, &[]);
    assert_eq!(run.paths(), ["app.cfg"], "{}", run.stderr);
    assert_eq!(run.findings()[0]["commit"], added.as_str());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json["stats"]["commits"], 3, "each commit once");
    assert!(run.errors().is_empty(), "{:#?}", run.errors());

    // A new branch's range excludes what the other refs reach: here, all but the tip.
    let run = scan_run(d, &["--range", &format!("{ZERO}..HEAD")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json["stats"]["commits"], 1);
}

// ---------------------------------------------------------------------------------------------
// History cycles.

// Grafts give a commit any parents, its own descendants included: the walk must end.
#[test]
fn a_graft_cycle_ends_and_every_commit_is_scanned() {
    let r = repo();
    let d = r.path();
    let added = history_with_a_secret(d, 1701);
    let commits = commits_newest_first(d);
    let (tip, root) = (&commits[0], &commits[2]);
    // The root commit's parent becomes the tip: tip → … → root → tip.
    std::fs::write(d.join(".git/info/grafts"), format!("{root} {tip}\n")).unwrap();

    for extra in [&[][..], &["--history-only"]] {
        let run = scan_run(d, extra);
        assert_eq!(run.paths(), ["app.cfg"], "{extra:?}: {}", run.stderr);
        assert_eq!(run.findings()[0]["commit"], added.as_str());
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(run.json["stats"]["commits"], 3, "{extra:?}: each commit once: {}", run.stderr);
    }
    // Every commit of the cycle is new to a new branch.
    let run = scan_run(d, &["--range", &format!("{ZERO}..HEAD")]);
    assert_eq!(run.paths(), ["app.cfg"], "{}", run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // In a cycle every commit is an ancestor of every other: the range is empty, as for git.
    let run = scan_run(d, &["--range", "HEAD~1..HEAD"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json["stats"]["commits"], 0);
}

// A graft that makes a commit a root is honoured as git honours it: what that commit holds is
// new in it, and what is behind it is no longer in the history.
#[test]
fn a_graft_that_cuts_the_history_is_followed_as_git_does() {
    let r = repo();
    let d = r.path();
    write(d, "README", "start\n");
    commit_all(d, "start");
    write(d, "app.cfg", format!("token = {}\n", Fake::new(1751).github_pat()));
    commit_all(d, "a token");
    write(d, "README", "more\n");
    let tip = commit_all(d, "more");
    std::fs::write(d.join(".git/info/grafts"), format!("{tip}\n")).unwrap();
    assert_eq!(git(d, &["rev-list", "--count", "HEAD"]), "1", "git sees one commit");

    let run = scan_run(d, &["--history-only"]);
    assert_eq!(run.paths(), ["app.cfg"], "{}", run.stderr);
    assert_eq!(run.findings()[0]["commit"], tip.as_str(), "new in the grafted root: {}", run.stderr);
    assert_eq!(run.json["stats"]["commits"], 1, "{}", run.stderr);
}

// `git replace` swaps an object for another wherever git reads it; a replacement can make a
// cycle for git. keytrail reads the original objects, and the replacement too (it is a ref).
#[test]
fn a_replace_ref_cycle_ends_and_both_histories_are_scanned() {
    let r = repo();
    let d = r.path();
    let added = history_with_a_secret(d, 1801);
    let commits = commits_newest_first(d);
    let (tip, root) = (&commits[0], &commits[2]);
    // The replacement holds a secret of its own, so it is seen to be scanned.
    let secret = Fake::new(1802).stripe_live();
    let extra_blob = blob(d, &format!("key = {secret}\n"));
    let root_tree = git(d, &["rev-parse", &format!("{root}^{{tree}}")]);
    let listing = git(d, &["ls-tree", &root_tree]);
    let listing = format!("{listing}\n100644 blob {extra_blob}\treplaced.cfg\n");
    let new_tree = git_stdin(d, &["mktree"], listing.as_bytes());
    let replacement = git(d, &["commit-tree", &new_tree, "-p", tip, "-m", "replacement root"]);
    git(d, &["replace", root, &replacement]);
    assert_eq!(git(d, &["rev-list", "--count", "HEAD"]), "3", "git sees a cycle and stops");

    let run = scan_run(d, &["--history-only"]);
    assert_eq!(run.paths(), ["app.cfg", "replaced.cfg"], "{}", run.stderr);
    let by_path = |p: &str| run.findings().into_iter().find(|f| f["path"] == p).unwrap();
    assert_eq!(by_path("app.cfg")["commit"], added.as_str());
    assert_eq!(by_path("replaced.cfg")["commit"], replacement.as_str());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json["stats"]["commits"], 4, "the three commits and the replacement, once each");

    // A new branch: the replacement (whose parent is the branch's tip) does not make the
    // branch's commits already known.
    let run = scan_run(d, &["--range", &format!("{ZERO}..HEAD")]);
    assert_eq!(run.paths(), ["app.cfg"], "{}", run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Hostile tree entry names.

// Tree entries named `..`, `.git`, `a/../../etc`, `/etc/passwd`, or holding a newline or a
// backslash are reported as the tree names them, never resolved against the file system: a
// secret in a real file outside the repository is never read, and nothing is written there.
#[test]
fn hostile_tree_names_are_reported_as_tree_paths_and_never_followed() {
    let top = tempfile::tempdir().unwrap();
    let d = top.path().join("repo");
    std::fs::create_dir(&d).unwrap();
    git(&d, &["init", "-q", "-b", "main"]);
    let mut fake = Fake::new(1901);
    let (inside, outside) = (fake.github_pat(), fake.stripe_live());
    // Real files where the hostile names would lead if they were followed.
    write(top.path(), "outside.cfg", format!("key = {outside}\n"));
    write(top.path(), "etc", format!("key = {outside}\n"));
    let secret = blob(&d, &format!("token = {inside}\n"));
    let dotdot = raw_tree(&d, &[("100644", b"inner.cfg", &secret)]);
    // In git's order: a tree sorts as its name followed by `/`.
    let names: [&[u8]; 6] = [b"../outside.cfg", b".git", b"/etc/passwd", b"a/../../etc", b"back\\slash", b"new\nline"];
    let mut entries: Vec<(&str, &[u8], &str)> = vec![("40000", b"..", &dotdot)];
    entries.extend(names.iter().map(|n| ("100644", *n, secret.as_str())));
    let tree = raw_tree(&d, &entries);
    commit_tree(&d, &tree, "hostile names");
    let before = listing(top.path());

    let expected = ["../inner.cfg", "../outside.cfg", ".git", "/etc/passwd", "a/../../etc", "back\\slash", "new\nline"];
    for extra in [&[][..], &["--history-only"], &["--range", &format!("{ZERO}..HEAD")]] {
        let mut args = vec!["--show-secrets"];
        args.extend_from_slice(extra);
        let run = scan_run(&d, &args);
        assert_eq!(run.paths(), expected, "{extra:?}: {}", run.stderr);
        assert!(run.findings().iter().all(|f| f["secret"] == inside.as_str()), "{extra:?}");
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.errors().is_empty(), "{extra:?}: {:#?}", run.errors());
    }
    // Scanned from above, the repository's paths are prefixed, still unresolved.
    let run = scan_run(top.path(), &["--history-only"]);
    assert!(run.paths().contains(&"repo/../outside.cfg".to_string()), "{:?}", run.paths());
    // The text report puts each finding's path on one line.
    let out = keytrail().args(["scan", "--history-only", "--color", "never"]).current_dir(&d).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("new"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("line:")), "the newline in a name is escaped:\n{text}");
    assert_eq!(listing(top.path()), before, "nothing is written next to the repository");
}

/// Names, sizes and modification times of the entries of `dir`.
fn listing(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (e.file_name().to_string_lossy().into_owned(), m.len(), m.modified().unwrap())
        })
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Blobs that inflate to gigabytes.

const BOMB: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
const LIES_SMALL: &str = "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1";
const LIES_LARGE: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";

/// A commit holding `app.cfg` (a secret) and, under `names`, the given blob ids; its id.
fn commit_with_blobs(d: &Path, secret: &str, blobs: &[(&str, &str)]) -> String {
    let app = blob(d, &format!("token = {secret}\n"));
    let mut listing = format!("100644 blob {app}\tapp.cfg\n");
    for (name, oid) in blobs {
        listing.push_str(&format!("100644 blob {oid}\t{name}\n"));
    }
    let tree = git_stdin(d, &["mktree", "--missing"], listing.as_bytes());
    commit_tree(d, &tree, "bombs")
}

fn assert_skipped_for_size(run: &ScanRun, oid: &str, path: &str) {
    let line = run.skipped_lines().into_iter().find(|l| l.contains(oid)).unwrap_or_else(|| {
        panic!("a skipped line names {oid}: {}", run.stderr);
    });
    assert!(line.contains(path), "{line}");
    assert!(line.contains("4 GiB") && line.contains("--max-file-size 10 MiB"), "size against the limit: {line}");
}

// A loose blob of 4 GiB of zeros (a 4 MB file), one whose header says 100 bytes but inflates to
// 4 GiB, and one whose header says 4 GiB but inflates to 100 bytes: the first and last are passed
// over for their declared size without being inflated, the liar is damage; under a 1 GiB
// address-space limit throughout.
#[test]
fn loose_blobs_that_inflate_to_gigabytes_are_never_inflated() {
    let r = repo();
    let d = r.path();
    let secret = Fake::new(2001).github_pat();
    loose_zeros(d, BOMB, 4 * GIB, 4 * GIB);
    loose_zeros(d, LIES_SMALL, 100, 4 * GIB);
    loose_zeros(d, LIES_LARGE, 4 * GIB, 100);
    let commit =
        commit_with_blobs(d, &secret, &[("zeros.bin", BOMB), ("small.bin", LIES_SMALL), ("large.bin", LIES_LARGE)]);

    for extra in [&[][..], &["--history-only"], &["--range", &format!("{ZERO}..HEAD")]] {
        let run = scan_within(d, extra);
        assert_eq!(run.paths(), ["app.cfg"], "{extra:?}: {}", run.stderr);
        assert_eq!(run.findings()[0]["commit"], commit.as_str());
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_skipped_for_size(&run, BOMB, "zeros.bin");
        assert_skipped_for_size(&run, LIES_LARGE, "large.bin");
        assert!(
            run.error_lines().iter().any(|l| l.contains(LIES_SMALL)),
            "{extra:?}: the blob longer than its header is named: {}",
            run.stderr
        );
    }

    // Staged, the same blobs are passed over, or named, before the commit is made.
    for (name, oid) in [("staged-zeros.bin", BOMB), ("staged-small.bin", LIES_SMALL)] {
        git(d, &["update-index", "--add", "--cacheinfo", &format!("100644,{oid},{name}")]);
    }
    let run = scan_within(d, &["--staged"]);
    assert!(run.findings().is_empty(), "{:#?}", run.findings());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_skipped_for_size(&run, BOMB, "staged-zeros.bin");
    assert!(run.error_lines().iter().any(|l| l.contains(LIES_SMALL)), "{}", run.stderr);
}

// The same inside a pack: the 4 GiB blob is passed over from its entry header, without being
// inflated; the entry whose header says 100 bytes is read as 100 bytes, no more.
#[test]
fn packed_blobs_that_inflate_to_gigabytes_are_never_inflated() {
    let r = repo();
    let d = r.path();
    let secret = Fake::new(2101).github_pat();
    let pack = pack_of_zeros(d, &[(BOMB, 4 * GIB, 4 * GIB), (LIES_SMALL, 100, 4 * GIB), (LIES_LARGE, 1000, 1000)]);
    let commit =
        commit_with_blobs(d, &secret, &[("zeros.bin", BOMB), ("small.bin", LIES_SMALL), ("fine.bin", LIES_LARGE)]);
    assert_eq!(git(d, &["cat-file", "-s", BOMB]), (4 * GIB).to_string(), "git reads the hand-made pack");

    for extra in [&[][..], &["--history-only"], &["--range", &format!("{ZERO}..HEAD")]] {
        let run = scan_within(d, extra);
        assert_eq!(run.paths(), ["app.cfg"], "{extra:?}: {}", run.stderr);
        assert_eq!(run.findings()[0]["commit"], commit.as_str());
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_skipped_for_size(&run, BOMB, "zeros.bin");
        assert!(!run.stderr.contains(&pack) || run.error_lines().iter().all(|l| !l.contains("does not match")));
    }
    let run = scan_within(d, &["--history-only"]);
    assert_eq!(run.json["stats"]["packs"], 1, "the pack is read, not refused: {}", run.stderr);
}

// Deltas that name each other as their base by id: git and libgit2 follow such a chain forever.
#[test]
fn a_cycle_of_deltas_in_a_pack_ends_and_the_rest_is_scanned() {
    let r = repo();
    let d = r.path();
    let (a, b) = ("aa".repeat(20), "bb".repeat(20));
    // Each a REF_DELTA (type 7) on the other: a 5-byte base, a 5-byte result, insert "hello".
    let delta = [&[5u8, 5, 5][..], b"hello"].concat();
    let entry = |base: &str| {
        let mut e = entry_header(7, delta.len() as u64);
        e.extend_from_slice(&hex(base));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&delta).unwrap();
        e.extend_from_slice(&z.finish().unwrap());
        e
    };
    let pack = write_pack(d, [(a.as_str(), entry(&b)), (b.as_str(), entry(&a))]);
    let secret = Fake::new(2201).github_pat();
    let commit = commit_with_blobs(d, &secret, &[]);
    for extra in [&[][..], &["--history-only"]] {
        let run = scan_within(d, extra);
        assert_eq!(run.code, 1, "{extra:?}: {}", run.stderr);
        assert_eq!(run.paths(), ["app.cfg"], "{extra:?}: {}", run.stderr);
        assert_eq!(run.findings()[0]["commit"], commit.as_str());
        let errors = run.error_lines();
        for id in [&a, &b] {
            assert!(
                errors
                    .iter()
                    .any(|l| l.contains(&format!("object {id} (pack {pack}) cannot be read")) && l.contains("cycle")),
                "{errors:#?}"
            );
        }
        assert!(errors.iter().any(|l| l.contains("2 objects are deltas on a cycle of bases")), "{errors:#?}");
    }
    // A scan of part of the history reads the blobs its commits add one by one, where libgit2
    // would follow the cycle forever: a blob on it is named.
    let tree = raw_tree(d, &[("100644", b"looped.cfg", &a)]);
    let tip = commit_tree(d, &tree, "a blob on a cycle of deltas");
    let mut cmd = keytrail_within(SCAN_MEMORY);
    cmd.timeout(std::time::Duration::from_secs(120));
    let run = scan_with(cmd, d, &["--range", &format!("{commit}..{tip}")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.error_lines().iter().any(|l| l.contains(&a) && l.contains("cycle")), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Submodules, `.git` files, repository formats, bare repositories.

// A gitlink names a commit of another repository: it is not this repository's to have.
#[test]
fn a_gitlink_to_a_missing_commit_is_not_damage() {
    let r = repo();
    let d = r.path();
    let added = history_with_a_secret(d, 2201);
    let absent = "1234567890abcdef1234567890abcdef12345678";
    git(d, &["update-index", "--add", "--cacheinfo", &format!("160000,{absent},vendor/lib")]);
    git(d, &["commit", "-q", "-m", "a submodule"]);
    assert_eq!(git(d, &["ls-tree", "HEAD", "vendor/lib"]).split_whitespace().nth(1), Some("commit"));

    for extra in [&[][..], &["--history-only"], &["--range", &format!("{ZERO}..HEAD")]] {
        let run = scan_run(d, extra);
        assert_eq!(run.paths(), ["app.cfg"], "{extra:?}: {}", run.stderr);
        assert_eq!(run.findings()[0]["commit"], added.as_str());
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.errors().is_empty(), "{extra:?}: {:#?}", run.errors());
    }
    let also_absent = "abcdef1234567890abcdef1234567890abcdef12";
    git(d, &["update-index", "--add", "--cacheinfo", &format!("160000,{also_absent},vendor/other")]);
    let run = scan_run(d, &["--staged"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.errors().is_empty(), "{:#?}", run.errors());
}

// A `.git` file (a worktree's or a submodule's pointer) to nowhere: named with where it points;
// the files beside it, and repositories next to it, are still scanned.
#[test]
fn a_dot_git_file_pointing_nowhere_is_named_and_the_rest_is_scanned() {
    let top = tempfile::tempdir().unwrap();
    let mut fake = Fake::new(2301);
    let broken = top.path().join("broken");
    write(&broken, ".git", "gitdir: ../nowhere/.git/worktrees/gone\n");
    write(&broken, "app.cfg", format!("token = {}\n", fake.github_pat()));
    let healthy = top.path().join("healthy");
    std::fs::create_dir(&healthy).unwrap();
    git(&healthy, &["init", "-q", "-b", "main"]);
    write(&healthy, "old.cfg", format!("key = {}\n", fake.stripe_live()));
    let added = commit_all(&healthy, "a key");
    write(&healthy, "old.cfg", "key = none\n");
    commit_all(&healthy, "remove it");

    let run = scan_run(top.path(), &[]);
    assert_eq!(run.paths(), ["broken/app.cfg", "healthy/old.cfg"], "{}", run.stderr);
    let old = run.findings().into_iter().find(|f| f["path"] == "healthy/old.cfg").unwrap();
    assert_eq!(old["commit"], added.as_str());
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = run.error_lines().into_iter().find(|l| l.contains("broken")).expect("the broken repository is named");
    assert!(line.contains("nowhere"), "with where its .git file points: {line}");

    let run = scan_run(&broken, &[]);
    assert_eq!(run.paths(), ["app.cfg"], "{}", run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let run = scan_run(&broken, &["--history-only"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = scan_run(&broken, &["--staged"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.error_lines().iter().any(|l| l.contains("nowhere")), "{}", run.stderr);
}

// A repository format keytrail cannot read: it says which, and scans the files.
#[test]
fn an_unknown_repository_format_or_extension_is_named_and_files_are_scanned() {
    for (settings, expected) in [
        (&[("core.repositoryformatversion", "99")][..], "version 99"),
        (&[("core.repositoryformatversion", "1"), ("extensions.frobnicate", "true")][..], "frobnicate"),
    ] {
        let r = repo();
        let d = r.path();
        history_with_a_secret(d, 2401);
        write(d, "live.cfg", format!("key = {}\n", Fake::new(2402).stripe_live()));
        for (key, value) in settings {
            git(d, &["config", key, value]);
        }
        let run = scan_run(d, &[]);
        assert_eq!(run.paths(), ["live.cfg"], "the working tree is still scanned: {}", run.stderr);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.error_lines().iter().any(|l| l.contains(expected)), "names {expected}: {}", run.stderr);
        let run = scan_run(d, &["--history-only"]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.error_lines().iter().any(|l| l.contains(expected)), "{}", run.stderr);
    }
}

// A bare repository as the scan root: its history is scanned, with the repository's own paths.
#[test]
fn a_bare_repository_as_root_has_its_history_scanned() {
    let r = repo();
    let added = history_with_a_secret(r.path(), 2501);
    let top = tempfile::tempdir().unwrap();
    git(top.path(), &["clone", "-q", "--bare", r.path().to_str().unwrap(), "bare.git"]);
    let bare = top.path().join("bare.git");

    for extra in [&[][..], &["--history-only"]] {
        let run = scan_run(&bare, extra);
        assert_eq!(run.paths(), ["app.cfg"], "{extra:?}: {}", run.stderr);
        assert_eq!(run.findings()[0]["commit"], added.as_str());
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.errors().is_empty(), "{extra:?}: {:#?}", run.errors());
    }
    let run = scan_run(top.path(), &["--history-only"]);
    assert_eq!(run.paths(), ["bare.git/app.cfg"], "{}", run.stderr);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Objects libgit2 cannot be trusted with.

// libgit2 loops forever on a loose object whose zlib stream ends early: keytrail must never hand
// it one. The full scan reads around it; a scan of part of the history, where libgit2 walks of
// its own accord, stops at once and says why.
#[test]
fn a_truncated_loose_commit_or_tree_never_hangs_the_scan() {
    for victim_is_tree in [false, true] {
        let r = repo();
        let d = r.path();
        let mut fake = Fake::new(2601);
        write(d, "README", "start\n");
        let base = commit_all(d, "start");
        write(d, "old.cfg", format!("token = {}\n", fake.github_pat()));
        let old = commit_all(d, "an old token");
        write(d, "old.cfg", "token = none\n");
        let between = commit_all(d, "remove it");
        write(d, "new.cfg", format!("key = {}\n", fake.stripe_live()));
        let new = commit_all(d, "a new key");
        write(d, "new.cfg", "key = none\n");
        commit_all(d, "remove it too");
        git(d, &["branch", "keep", &old]);
        let victim = if victim_is_tree { git(d, &["rev-parse", &format!("{between}^{{tree}}")]) } else { between };
        common::damage_loose_object(d, &victim, common::LooseDamage::Truncated);

        let run = scan_run(d, &["--history-only"]);
        let mut found: Vec<(String, String)> = run
            .findings()
            .iter()
            .map(|f| (f["path"].as_str().unwrap().to_string(), f["commit"].as_str().unwrap().to_string()))
            .collect();
        found.sort();
        assert_eq!(found, [("new.cfg".into(), new.clone()), ("old.cfg".into(), old.clone())], "{}", run.stderr);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.error_lines().iter().any(|l| l.contains(&victim)), "names {victim}: {}", run.stderr);

        for extra in [&["--staged"][..], &["--range", &format!("{base}..HEAD")]] {
            let run = scan_run(d, extra);
            assert_eq!(run.code, 2, "{extra:?}: {}", run.stderr);
            assert!(run.error_lines().iter().any(|l| l.contains(&victim)), "{extra:?}: {}", run.stderr);
            assert!(run.stderr.contains("nothing was scanned"), "{extra:?}: {}", run.stderr);
        }
    }
}

/// Writes a loose object under `oid`, whatever its content hashes to: nothing re-hashes objects
/// on read, so hand-made ones can name themselves.
fn loose_object(repo: &Path, oid: &str, kind: &str, content: &[u8]) {
    let path = common::loose_object_path(repo, oid);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(format!("{kind} {}\0", content.len()).as_bytes()).unwrap();
    z.write_all(content).unwrap();
    std::fs::write(path, z.finish().unwrap()).unwrap();
}

fn tree_bytes(entries: &[(&str, &str, &str)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (mode, name, oid) in entries {
        bytes.extend_from_slice(format!("{mode} {name}\0").as_bytes());
        bytes.extend_from_slice(&hex(oid));
    }
    bytes
}

fn commit_bytes(tree: &str, parents: &[&str], message: &str) -> Vec<u8> {
    let mut text = format!("tree {tree}\n");
    for p in parents {
        text.push_str(&format!("parent {p}\n"));
    }
    text.push_str(&format!("author Ada Dev <ada@example.test> 1740826800 +0100\ncommitter Ada Dev <ada@example.test> 1740826800 +0100\n\n{message}\n"));
    text.into_bytes()
}

// Made-up ids let objects name themselves: a tree that holds itself, two commits that are each
// other's parent, a tag that tags itself; and a chain of trees 5,000 deep. Every walk ends,
// without overflowing a stack, and names what it could not follow.
#[test]
fn objects_that_name_themselves_and_trees_nested_too_deep_end() {
    let r = repo();
    let d = r.path();
    let mut fake = Fake::new(2701);
    let secret = blob(d, &format!("token = {}\n", fake.github_pat()));
    let buried = blob(d, &format!("key = {}\n", fake.stripe_live()));
    let id = |n: u32| format!("{n:08x}{}", "5e1f".repeat(8));
    let (selfish, tip, other, tag) = (id(1), id(2), id(3), id(4));
    loose_object(d, &selfish, "tree", &tree_bytes(&[("100644", "app.cfg", &secret), ("40000", "self", &selfish)]));
    let empty = git_stdin(d, &["hash-object", "-t", "tree", "-w", "--stdin"], b"");
    loose_object(d, &tip, "commit", &commit_bytes(&empty, &[&other], "tip"));
    loose_object(d, &other, "commit", &commit_bytes(&selfish, &[&tip], "adds app.cfg"));
    // git itself would check the ids: the refs are written by hand.
    std::fs::write(d.join(".git/refs/heads/main"), format!("{tip}\n")).unwrap();
    let tag_text =
        format!("object {tag}\ntype tag\ntag loop\ntagger Ada Dev <ada@example.test> 1740826800 +0100\n\nloop\n");
    loose_object(d, &tag, "tag", tag_text.as_bytes());
    std::fs::write(d.join(".git/refs/tags/loop"), format!("{tag}\n")).unwrap();
    let mut deep = git_stdin(d, &["mktree"], format!("100644 blob {buried}\tburied.cfg\n").as_bytes());
    for n in 0..5000 {
        let next = id(100 + n);
        loose_object(d, &next, "tree", &tree_bytes(&[("40000", "d", &deep)]));
        deep = next;
    }
    let deep_commit = id(10_000);
    loose_object(d, &deep_commit, "commit", &commit_bytes(&deep, &[], "deep"));
    std::fs::write(d.join(".git/refs/heads/deep"), format!("{deep_commit}\n")).unwrap();

    for extra in [&["--history-only"][..], &[]] {
        let run = scan_run(d, extra);
        assert_eq!(run.paths(), ["app.cfg"], "{extra:?}: {}", run.stderr);
        assert_eq!(run.findings()[0]["commit"], other.as_str());
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(run.json["stats"]["commits"], 3, "each commit once: {}", run.stderr);
        let named = |what: &str, why: &str| {
            assert!(
                run.error_lines().iter().any(|l| l.contains(what) && l.contains(why)),
                "{what}: {why}: {}",
                run.stderr
            )
        };
        named(&format!("tree {selfish} at self"), "holds itself");
        named("refs/tags/loop", "nested too deep");
        named("d/d/d/d", "deeper than 4096");
    }
    // A scan of part of the history lets libgit2 check ids, which refuses such objects at once.
    let run = scan_run(d, &["--range", &format!("{ZERO}..main")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.error_lines().iter().any(|l| l.contains(&tip) && l.contains("hash mismatch")), "{}", run.stderr);
}
