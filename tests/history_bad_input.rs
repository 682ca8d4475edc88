//! History scanning of damaged or unusual repositories, built at test time with `git`: each bad
//! input gets a clear message on stderr, no panic, no silent skip, the rest of the scan completes,
//! and the exit status is the documented one (0 nothing found, 1 findings, 2 error and nothing found).
#![cfg(unix)]
mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::{
    commit_all, corrupt_loose_object, damage_loose_object, findings, git, git_cmd, keytrail, make_writable, pack_file,
    repo, scan_json, scan_run, write, Fake, LooseDamage,
};
use serde_json::Value;

// 1. Shallow clone: history stops at the graft; one note says so; what is there is still scanned.
#[test]
fn shallow_clone_scans_what_it_has_and_says_history_is_cut() {
    let top = tempfile::tempdir().unwrap();
    let origin = top.path().join("origin");
    std::fs::create_dir(&origin).unwrap();
    git(&origin, &["init", "-q", "-b", "main"]);
    let mut fake = Fake::new(101);
    let (before, after) = (fake.github_pat(), fake.stripe_live());
    write(&origin, "old.cfg", format!("token = {before}\n"));
    commit_all(&origin, "secret before the graft");
    write(&origin, "old.cfg", "token = none\n");
    commit_all(&origin, "remove it");
    write(&origin, "new.cfg", format!("key = {after}\n"));
    let added = commit_all(&origin, "secret after the graft");
    write(&origin, "new.cfg", "key = none\n");
    commit_all(&origin, "remove it too");

    let scan_dir = top.path().join("scan");
    std::fs::create_dir(&scan_dir).unwrap();
    let url = format!("file://{}", origin.display());
    git(&scan_dir, &["clone", "-q", "--depth", "2", &url, "clone"]);
    assert_eq!(git(&scan_dir.join("clone"), &["rev-parse", "--is-shallow-repository"]), "true");

    let r = scan_run(&scan_dir, &[]);
    let f = r.findings();
    assert_eq!(f.len(), 1, "only the secret inside the shallow history: {f:#?}");
    assert_eq!(f[0]["commit"], added.as_str());
    assert_eq!(f[0]["path"], "clone/new.cfg");
    assert_eq!(f[0]["source"], "history");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let notes: Vec<&str> = r.stderr.lines().filter(|l| l.contains("shallow")).collect();
    assert_eq!(notes.len(), 1, "one note about the shallow clone: {}", r.stderr);
    assert!(notes[0].contains("clone"), "the note names the repository: {}", notes[0]);
    assert!(r.errors().is_empty(), "a shallow clone is not an error: {:#?}", r.errors());

    // Scanning the clone itself, and with --depth 1: the graft commit's secrets are still reported.
    let one = top.path().join("one");
    git(top.path(), &["clone", "-q", "--depth", "1", &url, "one"]);
    let r = scan_run(&one, &["--history-only"]);
    assert_eq!(r.code, 0, "the tip commit has no secret: {}", r.stderr);
    assert_eq!(r.stderr.matches("shallow clone").count(), 1, "{}", r.stderr);
    assert_eq!(r.json["stats"]["commits"], 1);
}

// 2a. Corrupt loose object plus a secret elsewhere: the damage is named, the secret found, exit 1.
#[test]
fn corrupt_loose_object_is_named_and_other_secrets_are_still_found() {
    for damage in [LooseDamage::Garbage, LooseDamage::Overwritten, LooseDamage::Truncated] {
        let r = repo();
        let d = r.path();
        let secret = Fake::new(201).github_pat();
        write(d, "victim.txt", "an ordinary file whose blob will be damaged, long enough to be worth compressing\n");
        commit_all(d, "victim");
        write(d, "app.cfg", format!("token = {secret}\n"));
        let added = commit_all(d, "add a token");
        write(d, "app.cfg", "token = none\n");
        commit_all(d, "remove the token");
        let victim = git(d, &["rev-parse", "HEAD:victim.txt"]);
        damage_loose_object(d, &victim, damage);

        for extra in [&[][..], &["--history-only"]] {
            let run = scan_run(d, extra);
            let f = run.findings();
            assert_eq!(
                f.len(),
                1,
                "{damage:?} {extra:?}: the undamaged history is still scanned: {f:#?}\n{}",
                run.stderr
            );
            assert_eq!(f[0]["commit"], added.as_str());
            assert_eq!(f[0]["path"], "app.cfg");
            assert_eq!(run.code, 1, "{}", run.stderr);
            assert!(
                run.error_lines().iter().any(|l| l.contains(&victim)),
                "{damage:?} {extra:?}: stderr names the damaged object {victim}: {}",
                run.stderr
            );
        }
    }
}

// 2b. Corrupt loose object and nothing found: exit 2.
#[test]
fn corrupt_loose_object_and_nothing_found_exits_2() {
    let r = repo();
    let d = r.path();
    write(d, "victim.txt", "an ordinary file whose blob will be damaged\n");
    write(d, "other.txt", "nothing secret\n");
    commit_all(d, "start");
    let victim = git(d, &["rev-parse", "HEAD:victim.txt"]);
    corrupt_loose_object(d, &victim);

    let run = scan_run(d, &[]);
    assert!(run.findings().is_empty(), "{:#?}", run.findings());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!run.errors().is_empty());
    assert!(
        run.error_lines().iter().any(|l| l.contains(&victim)),
        "stderr names the damaged object {victim}: {}",
        run.stderr
    );
}

// 3. An empty repository: nothing to read, nothing wrong.
#[test]
fn empty_repository_is_clean() {
    let r = repo();
    let run = scan_run(r.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.errors().is_empty(), "{:#?}", run.errors());
    assert!(run.error_lines().is_empty(), "{}", run.stderr);
    assert_eq!(run.json["stats"]["repositories"], 1);
    assert_eq!(run.json["stats"]["commits"], 0);

    let run = scan_run(r.path(), &["--history-only"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.error_lines().is_empty(), "{}", run.stderr);
}

// 4. A submodule's history belongs to the submodule, not to the parent.
#[test]
fn submodule_history_is_not_reported_as_the_parents() {
    let top = tempfile::tempdir().unwrap();
    let sub = top.path().join("sub");
    let parent = top.path().join("parent");
    for d in [&sub, &parent] {
        std::fs::create_dir(d).unwrap();
        git(d, &["init", "-q", "-b", "main"]);
    }
    let mut fake = Fake::new(401);
    let sub_secret = fake.github_pat();
    write(&sub, "creds.cfg", format!("token = {sub_secret}\n"));
    commit_all(&sub, "sub: add a token");
    write(&sub, "creds.cfg", "token = none\n");
    commit_all(&sub, "sub: remove it");

    write(&parent, "README", "parent\n");
    let mut parent_commits = vec![commit_all(&parent, "parent: start")];
    git(&parent, &["-c", "protocol.file.allow=always", "submodule", "add", "-q", "../sub", "sub"]);
    parent_commits.push(commit_all(&parent, "parent: add the submodule"));
    let parent_secret = fake.stripe_live();
    write(&parent, "app.cfg", format!("key = {parent_secret}\n"));
    let parent_added = commit_all(&parent, "parent: add a key");
    parent_commits.push(parent_added.clone());
    write(&parent, "app.cfg", "key = none\n");
    parent_commits.push(commit_all(&parent, "parent: remove it"));
    assert!(parent.join("sub/.git").is_file(), "sub is a submodule checkout");

    let run = scan_run(&parent, &[]);
    assert!(run.errors().is_empty(), "{:#?}\n{}", run.errors(), run.stderr);
    assert!(run.error_lines().is_empty(), "{}", run.stderr);
    let f = run.findings();
    for x in &f {
        let in_parent_history = x["commit"].as_str().is_some_and(|c| parent_commits.iter().any(|p| p == c));
        assert!(
            !(in_parent_history && x["path"].as_str().unwrap().starts_with("sub/")),
            "a submodule secret reported as the parent's history: {x:#?}"
        );
    }
    let parent_finding = f.iter().find(|x| x["commit"] == parent_added.as_str()).expect("the parent's own secret");
    assert_eq!(parent_finding["path"], "app.cfg");
    assert_eq!(f.len(), 1, "the submodule's history is not followed: {f:#?}");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json["stats"]["repositories"], 1);
}

// 5. A linked worktree shares its main repository's history.
#[test]
fn linked_worktree_reports_the_shared_history() {
    let top = tempfile::tempdir().unwrap();
    let main = top.path().join("main");
    std::fs::create_dir(&main).unwrap();
    git(&main, &["init", "-q", "-b", "main"]);
    write(&main, "app.cfg", format!("token = {}\n", Fake::new(501).github_pat()));
    let added = commit_all(&main, "add a token");
    write(&main, "app.cfg", "token = none\n");
    commit_all(&main, "remove it");
    git(&main, &["worktree", "add", "-q", "-b", "wt-branch", "../wt"]);
    let wt = top.path().join("wt");
    assert!(wt.join(".git").is_file(), "wt is a linked worktree");

    let run = scan_run(&wt, &[]);
    assert!(run.errors().is_empty(), "{:#?}\n{}", run.errors(), run.stderr);
    let f = run.findings();
    assert_eq!(f.len(), 1, "{f:#?}\n{}", run.stderr);
    assert_eq!(f[0]["commit"], added.as_str());
    assert_eq!(f[0]["path"], "app.cfg");
    assert_eq!(f[0]["source"], "history");
    assert_eq!(run.code, 1);
    assert_eq!(run.json["stats"]["repositories"], 1);
    assert_eq!(run.json["stats"]["commits"], 2);
}

// 6. A path that is not in a repository: a plain file scan, no git error.
#[test]
fn plain_folder_and_plain_file_are_scanned_without_git_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Make sure no repository above the temporary folder takes part.
    assert!(git2_free_discover(d), "test precondition: {} is inside a git repository", d.display());
    write(d, "conf/app.cfg", format!("token = {}\n", Fake::new(601).github_pat()));

    for target in [".", "conf/app.cfg"] {
        let run = scan_run(d, &[target]);
        assert_eq!(run.code, 1, "{target}: {}", run.stderr);
        assert!(run.errors().is_empty(), "{target}: {:#?}", run.errors());
        assert!(!run.stderr.to_lowercase().contains("git"), "{target}: no git message: {}", run.stderr);
        let f = run.findings();
        assert_eq!(f.len(), 1, "{target}: {f:#?}");
        assert_eq!(f[0]["source"], "worktree");
        assert!(f[0].get("commit").is_none(), "{f:#?}");
        assert_eq!(run.json["stats"]["repositories"], 0);
    }
}

/// Whether `git` agrees that `dir` is outside any repository.
fn git2_free_discover(dir: &Path) -> bool {
    let out = git_cmd(dir).args(["rev-parse", "--git-dir"]).output().unwrap();
    !out.status.success()
}

// 7. Non-UTF-8 file names and commit messages: found, and the JSON is still valid.
#[test]
fn non_utf8_names_and_messages_are_found_and_output_is_valid_json() {
    let r = repo();
    let d = r.path();
    let mut fake = Fake::new(701);
    let (kept, removed) = (fake.github_pat(), fake.stripe_live());
    let kept_name = OsStr::from_bytes(b"k\xffept.cfg");
    let removed_name = OsStr::from_bytes(b"dir\xfe/gone\xff.cfg");
    std::fs::write(d.join(kept_name), format!("token = {kept}\n")).unwrap();
    std::fs::create_dir(d.join(OsStr::from_bytes(b"dir\xfe"))).unwrap();
    std::fs::write(d.join(removed_name), format!("key = {removed}\n")).unwrap();
    // The message lives outside the work tree, so it is not committed.
    let msg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(msg.path(), b"caf\xe9 secrets \xff\xfe\n\nbody \xe9\n").unwrap();
    git(d, &["add", "-A"]);
    git(d, &["-c", "i18n.commitEncoding=latin1", "commit", "-q", "-F", msg.path().to_str().unwrap()]);
    let added = git(d, &["rev-parse", "HEAD"]);
    std::fs::remove_file(d.join(removed_name)).unwrap();
    commit_all(d, "remove one");

    for format in ["json", "text", "sarif", "jsonl"] {
        let out = keytrail().args(["scan", "-q", "--format", format]).current_dir(d).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{format}: {stderr}");
        assert!(!stderr.contains("panicked"), "{format}: {stderr}");
        assert!(std::str::from_utf8(&out.stdout).is_ok(), "{format}: output is UTF-8");
        if format == "json" || format == "sarif" {
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|e| panic!("{format}: {e}"));
        }
        if format == "jsonl" {
            for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                serde_json::from_slice::<Value>(line).unwrap_or_else(|e| panic!("jsonl: {e}"));
            }
        }
    }

    let run = scan_run(d, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.errors().is_empty(), "{:#?}", run.errors());
    let f = run.findings();
    assert_eq!(f.len(), 2, "each secret once: {f:#?}");
    let hist = f.iter().find(|x| x["source"] == "history").expect("the removed secret, from history");
    assert_eq!(hist["commit"], added.as_str());
    assert!(hist["summary"].as_str().unwrap().starts_with("caf"), "{hist:#?}");
    let p = hist["path"].as_str().unwrap();
    assert!(p.starts_with("dir") && p.contains("/gone") && p.ends_with(".cfg"), "{p}");
    let wt = f.iter().find(|x| x["source"] == "worktree").expect("the kept secret, on disk");
    let p = wt["path"].as_str().unwrap();
    assert!(p.starts_with('k') && p.ends_with("ept.cfg"), "{p}");
    assert_eq!(wt["commit"], added.as_str(), "the file's finding carries its commit: {wt:#?}");
}

// 8. A history blob over --max-file-size: skipped, and counted or named, never silently.
#[test]
fn history_blob_over_the_size_limit_is_skipped_and_reported() {
    let r = repo();
    let d = r.path();
    let secret = Fake::new(801).github_pat();
    let mut big = "filler line without secrets\n".repeat(200);
    big.push_str(&format!("token = {secret}\n"));
    write(d, "big.cfg", &big);
    commit_all(d, "big file");
    let blob = git(d, &["rev-parse", "HEAD:big.cfg"]);
    write(d, "big.cfg", "small now\n");
    commit_all(d, "shrink it");

    // Under the default limit the secret is found ...
    assert_eq!(findings(&scan_json(d, &[])).len(), 1);
    // ... over a 1 KiB limit it is passed over, and the report says so.
    let run = scan_run(d, &["--max-file-size", "1K"]);
    assert!(run.findings().is_empty(), "{:#?}", run.findings());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json["stats"]["skipped_too_large"], 1, "the blob is counted: {:#?}", run.json["stats"]);
    let named = run.skipped().iter().any(|s| {
        let text = format!("{} {}", s["path"], s["message"]);
        text.contains("big.cfg") || text.contains(&blob)
    });
    assert!(named, "a skipped entry names the blob or its path: {:#?}", run.skipped());
    assert!(run.stderr.contains("skipped"), "{}", run.stderr);
}

// 9. A ref to a commit that does not exist: named, and every other ref still scanned.
#[test]
fn ref_to_a_missing_commit_is_named_and_other_refs_are_scanned() {
    let r = repo();
    let d = r.path();
    write(d, "app.cfg", format!("token = {}\n", Fake::new(901).github_pat()));
    let added = commit_all(d, "add a token");
    write(d, "app.cfg", "token = none\n");
    commit_all(d, "remove it");
    let bogus = "1234567890abcdef1234567890abcdef12345678";
    std::fs::write(d.join(".git/refs/heads/broken"), format!("{bogus}\n")).unwrap();

    let run = scan_run(d, &[]);
    let f = run.findings();
    assert_eq!(f.len(), 1, "{f:#?}\n{}", run.stderr);
    assert_eq!(f[0]["commit"], added.as_str());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.error_lines().iter().any(|l| l.contains("refs/heads/broken") || l.contains(bogus)),
        "stderr names the broken ref or its object: {}",
        run.stderr
    );
}

/// Ways a pack gets damaged.
#[derive(Clone, Copy, Debug)]
enum PackDamage {
    /// Cut in half.
    Truncated,
    /// Its index deleted.
    NoIndex,
    /// Its index replaced by another pack's.
    ForeignIndex,
}

// 10. A damaged pack is named; the loose history on top of it is still read.
#[test]
fn damaged_pack_is_named_and_the_loose_history_is_still_read() {
    for damage in [PackDamage::Truncated, PackDamage::NoIndex, PackDamage::ForeignIndex] {
        let r = repo();
        let d = r.path();
        let mut fake = Fake::new(1001);
        write(d, "packed.cfg", format!("token = {}\n", fake.github_pat()));
        commit_all(d, "add a token");
        git(d, &["gc", "-q"]);
        write(d, "loose.cfg", format!("key = {}\n", fake.stripe_live()));
        let added = commit_all(d, "add a key, loose");
        write(d, "loose.cfg", "key = none\n");
        commit_all(d, "remove it");
        let pack = pack_file(d, "pack");
        let idx = pack.with_extension("idx");
        match damage {
            PackDamage::Truncated => {
                make_writable(&pack);
                let len = std::fs::metadata(&pack).unwrap().len();
                std::fs::OpenOptions::new().write(true).open(&pack).unwrap().set_len(len / 2).unwrap();
            }
            PackDamage::NoIndex => std::fs::remove_file(&idx).unwrap(),
            PackDamage::ForeignIndex => {
                let other = repo();
                write(other.path(), "other.txt", "another repository\n");
                commit_all(other.path(), "other");
                git(other.path(), &["gc", "-q"]);
                let foreign = pack_file(other.path(), "idx");
                make_writable(&idx);
                std::fs::copy(foreign, &idx).unwrap();
            }
        }

        let run = scan_run(d, &["--history-only"]);
        let f = run.findings();
        assert_eq!(f.len(), 1, "{damage:?}: {f:#?}\n{}", run.stderr);
        assert_eq!(f[0]["path"], "loose.cfg");
        assert_eq!(f[0]["commit"], added.as_str());
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(run.json["stats"]["packs"], 0);
        let name = pack.file_name().unwrap().to_str().unwrap();
        assert!(
            run.error_lines().iter().any(|l| l.contains(name)),
            "{damage:?}: stderr names the pack: {}",
            run.stderr
        );
    }
}
