//! History scanning against real repositories built at test time with `git`.
mod common;

use common::{commit_all, findings, git, git_cmd, keytrail, pack_file, repo, scan_json, write, Fake};

#[test]
fn secret_added_then_removed_is_found_with_its_commit() {
    let r = repo();
    let token = Fake::new(1).github_pat();
    write(r.path(), "app.cfg", "name = demo\n");
    commit_all(r.path(), "start");
    write(r.path(), "app.cfg", format!("name = demo\ntoken = {token}\n"));
    let added = commit_all(r.path(), "add a token");
    write(r.path(), "app.cfg", "name = demo\n");
    commit_all(r.path(), "remove the token");

    let v = scan_json(r.path(), &[]);
    let f = findings(&v);
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = &f[0];
    assert_eq!(f["source"], "history");
    assert_eq!(f["commit"], added.as_str());
    assert_eq!(f["author"], "Ada Dev");
    assert_eq!(f["email"], "ada@example.test");
    assert_eq!(f["date"], "2025-03-01T12:00:00+01:00");
    assert_eq!(f["summary"], "add a token");
    assert_eq!(f["path"], "app.cfg");
    assert_eq!(f["line"], 2);
    assert_eq!(f["present_at_head"], false);
    assert_eq!(v["stats"]["commits"], 3);
}

#[test]
fn secret_on_an_unmerged_branch_is_found() {
    let r = repo();
    write(r.path(), "README", "hi\n");
    commit_all(r.path(), "init");
    git(r.path(), &["checkout", "-q", "-b", "feature"]);
    write(r.path(), "deploy.sh", format!("export STRIPE_KEY={}\n", Fake::new(2).stripe_live()));
    let c = commit_all(r.path(), "wip");
    git(r.path(), &["checkout", "-q", "main"]);
    let f = findings(&scan_json(r.path(), &[]));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["commit"], c.as_str());
    assert_eq!(f[0]["rule_id"], "stripe-secret-key");
}

#[test]
fn rename_is_not_a_new_finding_but_a_changed_copy_is() {
    let r = repo();
    let token = Fake::new(3).github_pat();
    write(r.path(), "a.cfg", format!("token = {token}\n"));
    let first = commit_all(r.path(), "add");
    git(r.path(), &["mv", "a.cfg", "b.cfg"]);
    commit_all(r.path(), "rename");
    for i in 0..20 {
        write(r.path(), "other.txt", format!("{i}\n"));
        commit_all(r.path(), &format!("unrelated {i}"));
    }
    let f = findings(&scan_json(r.path(), &["--history-only"]));
    assert_eq!(f.len(), 1, "a rename and later commits must not add findings: {f:#?}");
    assert_eq!(f[0]["commit"], first.as_str());
    assert_eq!(f[0]["path"], "a.cfg");
    assert_eq!(f[0]["present_at_head"], true);

    git(r.path(), &["mv", "b.cfg", "c.cfg"]);
    write(r.path(), "c.cfg", format!("# moved and edited\ntoken = {token}\n"));
    let changed = commit_all(r.path(), "move and edit");
    let f = findings(&scan_json(r.path(), &["--history-only"]));
    assert_eq!(f.len(), 2, "{f:#?}");
    let second = f.iter().find(|x| x["path"] == "c.cfg").expect("c.cfg finding");
    assert_eq!(second["commit"], changed.as_str());
    assert_eq!(second["line"], 2);
}

#[test]
fn removed_and_added_back_is_two_findings() {
    let r = repo();
    let line = format!("token = {}\n", Fake::new(4).github_pat());
    write(r.path(), "a.cfg", &line);
    let one = commit_all(r.path(), "add");
    write(r.path(), "a.cfg", "gone\n");
    commit_all(r.path(), "remove");
    write(r.path(), "a.cfg", &line);
    let two = commit_all(r.path(), "add back");
    let f = findings(&scan_json(r.path(), &["--history-only"]));
    let commits: Vec<&str> = f.iter().map(|x| x["commit"].as_str().unwrap()).collect();
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(commits.contains(&one.as_str()) && commits.contains(&two.as_str()));
}

#[test]
fn working_tree_finding_carries_its_commit_and_is_not_repeated() {
    let r = repo();
    write(r.path(), "svc/.env", format!("SLACK_BOT_TOKEN={}\n", Fake::new(5).slack_bot()));
    let c = commit_all(r.path(), "config");
    let f = findings(&scan_json(r.path(), &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["source"], "worktree");
    assert_eq!(f[0]["commit"], c.as_str());
    assert_eq!(f[0]["present_at_head"], true);

    let files_only = findings(&scan_json(r.path(), &["--no-history"]));
    assert_eq!(files_only.len(), 1);
    assert!(files_only[0].get("commit").is_none());
}

#[test]
fn a_folder_of_repositories_is_swept_in_one_command() {
    let top = tempfile::tempdir().unwrap();
    let mut fake = Fake::new(6);
    for name in ["alpha", "beta", "gamma"] {
        let d = top.path().join(name);
        std::fs::create_dir(&d).unwrap();
        git(&d, &["init", "-q", "-b", "main"]);
        write(&d, "secret.txt", format!("token = {}\n", fake.github_pat()));
        commit_all(&d, "add");
        write(&d, "secret.txt", "clean\n");
        commit_all(&d, "clean");
    }
    write(top.path(), "loose/notes.txt", format!("stripe = {}\n", fake.stripe_live()));
    let v = scan_json(top.path(), &[]);
    let mut paths: Vec<String> = findings(&v).iter().map(|f| f["path"].as_str().unwrap().to_string()).collect();
    paths.sort();
    assert_eq!(paths, ["alpha/secret.txt", "beta/secret.txt", "gamma/secret.txt", "loose/notes.txt"]);
    assert_eq!(v["stats"]["repositories"], 3);
}

#[test]
fn bare_repository_history_is_scanned() {
    let r = repo();
    write(r.path(), "k.txt", format!("t = {}\n", Fake::new(7).github_pat()));
    let c = commit_all(r.path(), "add");
    let bare = tempfile::tempdir().unwrap();
    let bare_path = bare.path().join("mirror.git");
    git(r.path(), &["clone", "-q", "--bare", ".", bare_path.to_str().unwrap()]);
    let f = findings(&scan_json(&bare_path, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["commit"], c.as_str());
}

#[test]
fn history_text_output_groups_by_commit() {
    let r = repo();
    write(r.path(), "a.txt", format!("t = {}\n", Fake::new(8).github_pat()));
    commit_all(r.path(), "first secret");
    write(r.path(), "a.txt", "clean\n");
    commit_all(r.path(), "clean up");
    let out = keytrail().args(["scan", "-q"]).current_dir(r.path()).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let commit = git(r.path(), &["rev-parse", "HEAD~1"]);
    let text = text.replace(&commit, "<commit>");
    insta::assert_snapshot!("history_text", text);
}

#[test]
fn staged_sees_the_index_not_the_working_tree() {
    let r = repo();
    let mut fake = Fake::new(20);
    let committed = fake.github_pat();
    write(r.path(), "old.cfg", format!("token = {committed}\n"));
    commit_all(r.path(), "already committed");
    // Staged: a new secret in a new file, and an edit to the old file that leaves its secret alone.
    let staged = fake.stripe_live();
    write(r.path(), "new.py", format!("KEY = \"{staged}\"\n"));
    write(r.path(), "old.cfg", format!("# comment\ntoken = {committed}\n"));
    git(r.path(), &["add", "new.py", "old.cfg"]);
    // Unstaged: a secret only in the working tree.
    write(r.path(), "new.py", format!("KEY = \"{staged}\"\nOTHER = \"{}\"\n", fake.slack_bot()));

    let f = findings(&scan_json(r.path(), &["--staged"]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["path"], "new.py");
    assert_eq!(f[0]["rule_id"], "stripe-secret-key");
    assert_eq!(f[0]["source"], "staged");
}

#[test]
fn staged_works_before_the_first_commit() {
    let r = repo();
    write(r.path(), "a.env", format!("TOKEN={}\n", Fake::new(21).github_pat()));
    git(r.path(), &["add", "a.env"]);
    let out = keytrail().args(["scan", "--staged"]).current_dir(r.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    keytrail().args(["scan", "--staged", "-q"]).current_dir(tempfile::tempdir().unwrap().path()).assert().code(2);
}

#[test]
fn range_reports_exactly_what_its_commits_introduce() {
    let r = repo();
    let mut fake = Fake::new(30);
    write(r.path(), "base.cfg", format!("t = {}\n", fake.github_pat()));
    let base = commit_all(r.path(), "base has a secret");
    write(r.path(), "feature.cfg", format!("t = {}\n", fake.stripe_live()));
    let c1 = commit_all(r.path(), "feature secret");
    write(r.path(), "base.cfg", "t = removed\n");
    commit_all(r.path(), "remove the base secret");

    for spec in [format!("{base}..HEAD"), format!("{base}...HEAD")] {
        let f = findings(&scan_json(r.path(), &["--range", &spec]));
        assert_eq!(f.len(), 1, "{spec}: {f:#?}");
        assert_eq!(f[0]["commit"], c1.as_str());
        assert_eq!(f[0]["path"], "feature.cfg");
        assert_eq!(f[0]["present_at_head"], true);
    }
    // A new branch: an all-zero base means commits no other ref has.
    git(r.path(), &["branch", "old", &base]);
    git(r.path(), &["checkout", "-q", "-b", "topic"]);
    git(r.path(), &["branch", "-D", "main"]);
    let zero = "0".repeat(40);
    let f = findings(&scan_json(r.path(), &["--range", &format!("{zero}..HEAD")]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["commit"], c1.as_str());

    keytrail().args(["scan", "--range", "nonsense"]).current_dir(r.path()).assert().code(2);
}

#[test]
fn pre_push_scans_only_what_the_remote_lacks() {
    let remote = tempfile::tempdir().unwrap();
    git(remote.path(), &["init", "-q", "--bare", "-b", "main"]);
    let r = repo();
    let mut fake = Fake::new(40);
    write(r.path(), "a.cfg", format!("t = {}\n", fake.github_pat()));
    commit_all(r.path(), "pushed before");
    git(r.path(), &["remote", "add", "origin", remote.path().to_str().unwrap()]);
    git(r.path(), &["push", "-q", "origin", "main"]);
    let pushed = git(r.path(), &["rev-parse", "HEAD"]);
    write(r.path(), "b.cfg", format!("t = {}\n", fake.stripe_live()));
    let local = commit_all(r.path(), "new secret");

    let stdin = format!("refs/heads/main {local} refs/heads/main {pushed}\n");
    let out = keytrail()
        .args(["hook", "pre-push", "origin", "url"])
        .write_stdin(stdin)
        .current_dir(r.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("b.cfg") && !text.contains("a.cfg"), "{text}");

    // A new branch: the remote sha is zero; what origin's tracking refs have is not rescanned.
    let zero = "0".repeat(40);
    let stdin = format!("refs/heads/topic {local} refs/heads/topic {zero}\n");
    let out = keytrail()
        .args(["hook", "pre-push", "origin", "url"])
        .write_stdin(stdin)
        .current_dir(r.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("b.cfg") && !text.contains("a.cfg"), "{text}");

    // A deletion pushes nothing.
    let stdin = format!("(delete) {zero} refs/heads/topic {local}\n");
    keytrail().args(["hook", "pre-push", "origin"]).write_stdin(stdin).current_dir(r.path()).assert().code(0);
}

#[test]
fn a_tracked_unchanged_file_is_matched_once_and_an_edited_one_is_reread() {
    let r = repo();
    let token = Fake::new(50).github_pat();
    write(r.path(), "app/settings.ini", format!("token = {token}\n"));
    write(r.path(), "app/plain.txt", "nothing here\n");
    let c = commit_all(r.path(), "settings");
    let v = scan_json(r.path(), &[]);
    assert_eq!(v["stats"]["files"], 2);
    assert_eq!(v["stats"]["files_from_history"], 2, "both files are blobs history already read");
    let f = findings(&v);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!((f[0]["source"].as_str(), f[0]["line"].as_u64()), (Some("worktree"), Some(1)));
    assert_eq!(f[0]["commit"], c.as_str());

    // An uncommitted edit: the file no longer matches its index entry, so it is read again.
    write(r.path(), "app/settings.ini", format!("# header\n\ntoken = {token}\n"));
    let v = scan_json(r.path(), &[]);
    assert_eq!(v["stats"]["files_from_history"], 1);
    let f = findings(&v);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["line"], 3);
    assert_eq!(f[0]["commit"], c.as_str(), "the same secret at the same path keeps its provenance");
}

#[test]
fn an_oversize_blob_in_history_is_named_not_silently_skipped() {
    let r = repo();
    write(r.path(), "big.txt", format!("{}\ntoken = {}\n", "x".repeat(3000), Fake::new(51).github_pat()));
    commit_all(r.path(), "big");
    std::fs::remove_file(r.path().join("big.txt")).unwrap();
    commit_all(r.path(), "gone");
    let out = keytrail().args(["scan", "--max-file-size", "1K"]).current_dir(r.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("skipped: big.txt: blob ") && err.contains("over the size limit; not scanned"), "{err}");
}

#[test]
fn packed_history_gives_the_same_findings_as_loose_objects() {
    let r = repo();
    let d = r.path();
    write(d, "a.cfg", format!("token = {}\n", Fake::new(40).github_pat()));
    commit_all(d, "add a token");
    // Many similar versions so that `git gc` stores most of them as deltas.
    for i in 0..30 {
        // Each version changes six more lines than the one before, so it is nearest to its
        // neighbours and the deltas form chains.
        let value = |n: usize| if n < 6 * i { format!("changed {n} in {}", n / 6) } else { n.to_string() };
        let mut body = (0..200).map(|n| format!("setting_{n} = {}\n", value(n))).collect::<String>();
        if i == 17 {
            body.push_str(&format!("STRIPE_KEY={}\n", Fake::new(41).stripe_live()));
        }
        write(d, "settings.ini", body);
        commit_all(d, &format!("settings {i}"));
    }
    let loose = scan_json(d, &["--history-only"]);
    assert_eq!(loose["stats"]["packs"], 0);
    assert_eq!(findings(&loose).len(), 2, "{:#?}", findings(&loose));

    git(d, &["gc", "-q", "--aggressive"]);
    let verify = git(d, &["verify-pack", "-v", &pack_index(d)]);
    assert!(verify.contains("chain length = 2:"), "the pack holds chains of deltas: {verify}");
    let packed = scan_json(d, &["--history-only"]);
    assert_eq!(packed["stats"]["packs"], 1, "the pack is read in process: {:#?}", packed["stats"]);
    assert_eq!(findings(&packed), findings(&loose));
    assert_eq!(packed["stats"]["blobs"], loose["stats"]["blobs"]);
    assert_eq!(packed["stats"]["blob_bytes"], loose["stats"]["blob_bytes"]);
    assert_same_in_slices(d, &packed);

    // Deltas that name their base by id (REF_DELTA), as a pack written without
    // `--delta-base-offset` holds them.
    let objects = git(d, &["rev-list", "--objects", "--all"]);
    let mut pack = git_cmd(d)
        .args(["pack-objects", "-q", "--window=50", "--depth=50", ".git/objects/pack/by-id"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut pack.stdin.take().unwrap(), objects.as_bytes()).unwrap();
    assert!(pack.wait().unwrap().success());
    for old in std::fs::read_dir(d.join(".git/objects/pack")).unwrap() {
        let old = old.unwrap().path();
        if !old.file_name().unwrap().to_string_lossy().starts_with("by-id") {
            std::fs::remove_file(old).unwrap();
        }
    }
    let verify = git(d, &["verify-pack", "-v", &pack_index(d)]);
    assert!(verify.contains("chain length = 2:"), "the pack holds chains of deltas: {verify}");
    let by_id = scan_json(d, &["--history-only"]);
    assert_eq!(by_id["stats"]["packs"], 1, "{:#?}", by_id["stats"]);
    assert_eq!(findings(&by_id), findings(&loose));
    assert_eq!(by_id["stats"]["blobs"], loose["stats"]["blobs"]);
    assert_same_in_slices(d, &by_id);

    // A commit after the gc is loose again: both stores are read, each object once.
    write(d, "late.cfg", format!("token = {}\n", Fake::new(42).github_pat()));
    let late = commit_all(d, "late token");
    let mixed = scan_json(d, &["--history-only"]);
    let f = findings(&mixed);
    assert_eq!(f.len(), 3, "{f:#?}");
    assert!(f.iter().any(|x| x["commit"] == late.as_str() && x["path"] == "late.cfg"));
    assert_eq!(mixed["stats"]["blobs"].as_u64(), loose["stats"]["blobs"].as_u64().map(|b| b + 1));
}

fn pack_index(d: &std::path::Path) -> String {
    pack_file(d, "idx").display().to_string()
}

/// The pack read a few objects at a time (`KEYTRAIL_PACK_SLICE`), so most deltas have their
/// base in another slice, gives what reading it whole gave.
fn assert_same_in_slices(d: &std::path::Path, whole: &serde_json::Value) {
    for slice in ["1", "3", "17"] {
        let out = keytrail()
            .args(["scan", "-q", "--format", "json", "--history-only"])
            .env("KEYTRAIL_PACK_SLICE", slice)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(out.status.code().unwrap() <= 1, "{}", String::from_utf8_lossy(&out.stderr));
        let sliced: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(findings(&sliced), findings(whole), "slices of {slice}");
        for stat in ["blobs", "blob_bytes", "packs"] {
            assert_eq!(sliced["stats"][stat], whole["stats"][stat], "{stat}, slices of {slice}");
        }
    }
}

#[test]
fn objects_borrowed_through_alternates_are_scanned() {
    let origin = repo();
    write(origin.path(), "a.cfg", format!("token = {}\n", Fake::new(43).github_pat()));
    let added = commit_all(origin.path(), "add a token");
    write(origin.path(), "a.cfg", "token = none\n");
    commit_all(origin.path(), "remove it");
    git(origin.path(), &["gc", "-q"]);

    let parent = tempfile::tempdir().unwrap();
    let src = origin.path().to_str().unwrap();
    git(parent.path(), &["clone", "-q", "--shared", src, "borrowed"]);
    let clone = parent.path().join("borrowed");
    assert!(clone.join(".git/objects/info/alternates").is_file());

    let v = scan_json(&clone, &["--history-only"]);
    let f = findings(&v);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["commit"], added.as_str());
    assert_eq!(v["stats"]["packs"], 1, "{:#?}", v["stats"]);
}
