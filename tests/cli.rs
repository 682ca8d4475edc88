//! Drives the real `keytrail` binary.
mod common;

use common::{keytrail, project, run, write, Fake};
use predicates::prelude::*;

#[test]
fn clean_tree_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "src/main.rs", "fn main() { println!(\"hello\"); }\n");
    keytrail().args(["scan", "-q"]).current_dir(dir.path()).assert().code(0).stdout("");
}

#[test]
fn findings_exit_1_and_every_planted_secret_is_found() {
    let p = project();
    let (code, out, _) = run(p.dir.path(), &["scan", "-q", "--format", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rules: Vec<&str> =
        json["findings"].as_array().unwrap().iter().map(|f| f["rule_id"].as_str().unwrap()).collect();
    for expected in [
        "github-pat-classic",
        "aws-access-key-id",
        "stripe-secret-key",
        "slack-bot-token",
        "database-url-password",
        "private-key",
    ] {
        assert!(rules.contains(&expected), "{expected} missing from {rules:?}");
    }
    assert!(!rules.iter().any(|r| r.starts_with("generic")), "README placeholder must not be reported: {rules:?}");
}

#[test]
fn missing_path_exits_2_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    keytrail()
        .args(["scan", "no-such-dir"])
        .current_dir(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no-such-dir: No such file or directory"));
}

#[test]
fn every_format_matches_its_snapshot() {
    let p = project();
    for format in ["text", "json", "jsonl", "sarif", "markdown"] {
        let (code, out, _) = run(p.dir.path(), &["scan", "-q", "--format", format]);
        assert_eq!(code, 1, "{format}");
        insta::assert_snapshot!(format!("format_{format}"), out);
    }
}

#[test]
fn no_format_prints_a_secret_unless_asked() {
    let p = project();
    for format in ["text", "json", "jsonl", "sarif", "markdown"] {
        let (_, out, err) = run(p.dir.path(), &["scan", "--format", format]);
        for secret in &p.secrets {
            assert!(!out.contains(secret.as_str()), "{format} stdout leaks {secret}");
            assert!(!err.contains(secret.as_str()), "{format} stderr leaks {secret}");
        }
        let (_, shown, _) = run(p.dir.path(), &["scan", "--format", format, "--show-secrets"]);
        let leaked = p.secrets.iter().filter(|s| shown.contains(s.as_str())).count();
        assert_eq!(leaked, p.secrets.len(), "{format} --show-secrets must show every secret");
    }
}

#[test]
fn output_file_gets_the_report() {
    let p = project();
    let out = p.dir.path().join("report.sarif");
    keytrail().args(["scan", "-q", "--format", "sarif", "-o"]).arg(&out).arg(p.dir.path()).assert().code(1).stdout("");
    let sarif: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let result = &sarif["runs"][0]["results"][0];
    let uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap();
    assert!(!uri.starts_with('/'), "uri must be relative: {uri}");
    assert!(result["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64().unwrap() >= 1);
}

#[test]
fn output_is_identical_across_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fake::new(99);
    for i in 0..300 {
        let body = if i % 3 == 0 { format!("token = \"{}\"\n", f.github_pat()) } else { format!("x = {i}\n") };
        write(dir.path(), &format!("d{}/f{i}.txt", i % 17), body);
    }
    let (_, one, _) = run(dir.path(), &["scan", "-q", "--format", "json", "--threads", "1"]);
    let (_, eight, _) = run(dir.path(), &["scan", "-q", "--format", "json", "--threads", "8"]);
    assert_eq!(one, eight);
    let json: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(json["findings"].as_array().unwrap().len(), 100);
    let paths: Vec<&str> = json["findings"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "findings must be sorted by path");
}

#[test]
fn binary_and_oversize_files_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fake::new(3);
    let mut binary = format!("token = {}\n", f.github_pat()).into_bytes();
    binary.insert(3, 0);
    write(dir.path(), "blob.bin", &binary);
    write(dir.path(), "big.txt", format!("{}\ntoken = {}\n", "x".repeat(4096), f.github_pat()));
    write(dir.path(), "small.txt", "nothing\n");
    let (code, out, err) = run(dir.path(), &["scan", "--format", "json", "--max-file-size", "1K"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["stats"]["skipped_binary"], 1);
    assert_eq!(json["stats"]["skipped_too_large"], 1);
    assert_eq!(json["stats"]["files"], 1);
    assert!(err.contains("big.txt: 4.0 KiB is over the 1 KiB limit"), "{err}");
    assert!(err.contains("skipped 1 binary, 1 over 1 KiB"), "{err}");
}

#[test]
fn invalid_utf8_is_scanned_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let mut content = b"\xff\xfe\xc3(garbage \xe2\x82\n".to_vec();
    content.extend_from_slice(format!("key = \"{}\"\n", Fake::new(5).github_pat()).as_bytes());
    content.extend_from_slice(b"\xc0\xaf");
    write(dir.path(), "weird.txt", &content);
    let (code, out, err) = run(dir.path(), &["scan", "-q", "--format", "json"]);
    assert_eq!(code, 1, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["findings"][0]["line"], 2);
    assert_eq!(json["findings"][0]["column"], 8);
}

#[test]
fn broken_symlinks_are_named_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.txt", format!("t = {}\n", Fake::new(1).github_pat()));
    std::os::unix::fs::symlink("does-not-exist", dir.path().join("dangling")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("outside")).unwrap();
    let (code, _, err) = run(dir.path(), &["scan"]);
    assert_eq!(code, 1);
    assert!(err.contains("dangling: broken symlink (to does-not-exist)"), "{err}");
    assert!(err.contains("outside: symlink to outside the scanned tree, not followed"), "{err}");
}

#[test]
fn unreadable_files_are_errors_but_do_not_stop_the_scan() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    write(dir.path(), "locked.txt", "secret stuff\n");
    std::fs::set_permissions(dir.path().join("locked.txt"), std::fs::Permissions::from_mode(0o000)).unwrap();
    write(dir.path(), "open.txt", "nothing\n");
    let bin = assert_cmd::cargo::cargo_bin("keytrail");
    // root reads anything, so drop to an unprivileged user to make the file unreadable.
    let mut cmd = if unsafe { libc_geteuid() } == 0 {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(&bin);
        c
    } else {
        std::process::Command::new(&bin)
    };
    let out = cmd.args(["scan", "."]).current_dir(dir.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("locked.txt: Permission denied"), "{err}");
    assert!(err.contains("scanned 1 file"), "the readable file is still scanned: {err}");

    // With a finding elsewhere, the findings decide the status.
    write(dir.path(), "leak.txt", format!("t = {}\n", Fake::new(2).github_pat()));
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn gitignored_files_are_skipped_unless_no_ignore() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".gitignore", "generated/\n");
    write(dir.path(), "generated/out.txt", format!("t = {}\n", Fake::new(4).github_pat()));
    keytrail().args(["scan", "-q"]).current_dir(dir.path()).assert().code(0);
    keytrail().args(["scan", "-q", "--no-ignore"]).current_dir(dir.path()).assert().code(1);
}

#[test]
fn placeholders_and_wrong_checksums_are_not_findings() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fake::new(11);
    write(
        dir.path(),
        "settings.py",
        format!(
            "AWS_ACCESS_KEY_ID = \"AKIAIOSFODNN7EXAMPLE\"\nGITHUB_TOKEN = \"{}\"\nAPI_KEY = \"${{API_KEY}}\"\npassword = \"changeme\"\nSLACK = \"<YOUR_TOKEN>\"\n",
            f.github_pat_bad_checksum()
        ),
    );
    keytrail().args(["scan", "-q"]).current_dir(dir.path()).assert().code(0).stdout("");
}

#[test]
fn closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fake::new(12);
    for i in 0..2000 {
        write(dir.path(), &format!("f{i}.txt"), format!("t = {}\n", f.github_pat()));
    }
    let bin = assert_cmd::cargo::cargo_bin("keytrail");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("'{}' scan . | head -n 1 >/dev/null; echo \"status=${{PIPESTATUS[0]}}\"", bin.display()))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("status=1"), "stdout={stdout} stderr={stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn rules_list_shows_every_builtin_rule() {
    let out = keytrail().args(["rules", "list"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("ID "));
    assert!(text.contains("github-pat-classic") && text.contains("personal_access_token"));
    assert!(text.lines().count() > 40, "at least 40 rules");
}

#[test]
fn rules_check_passes_on_builtin_rules() {
    keytrail().args(["rules", "check"]).assert().code(0).stderr(predicate::str::contains("all valid"));
}

#[test]
fn rules_check_reports_every_problem_with_file_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        r#"[[rule]]
id = "bad-regex"
name = "Bad regex"
description = "d"
provider = "demo"
nhi_kind = "api_key"
keywords = ["demo_"]
regex = '''(?P<secret>demo_[a-z'''
examples = ["demo_abc"]
negative_examples = ["x"]

[[rule]]
id = "no-name"
description = "d"
provider = "demo"
nhi_kind = "flux_capacitor"
keywords = ["flux_"]
regex = '''(?P<secret>flux_[a-z]{6})'''
examples = ["flux_abcdef"]
negative_examples = ["x"]

[[rule]]
id = "example-misses"
name = "Misses"
description = "d"
provider = "demo"
nhi_kind = "api_key"
keywords = ["tok_"]
regex = '''\b(?P<secret>tok_[0-9]{6})\b'''
examples = ["tok_12ab56"]
negative_examples = ["tok_482913"]
"#,
    )
    .unwrap();
    let out = keytrail().args(["rules", "check"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap().replace(&path.display().to_string(), "broken.toml");
    insta::assert_snapshot!("rules_check_broken", err);
}

#[test]
fn inline_markers_of_keytrail_gitleaks_and_detect_secrets_suppress_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fake::new(21);
    let keys: Vec<String> = (0..6).map(|_| f.stripe_live()).collect();
    let text = format!(
        "A = \"{}\"  # keytrail:allow\nB = \"{}\"  // gitleaks:allow\nC = \"{}\"  # pragma: allowlist secret\n\
         # pragma: allowlist nextline secret\nD = \"{}\"\nE = \"{}\"\n# keytrail:allow applies to its own line only\nF = \"{}\"\n",
        keys[0], keys[1], keys[2], keys[3], keys[4], keys[5]
    );
    write(dir.path(), "settings.py", text);
    let (code, out, _) = run(dir.path(), &["scan", "-q", "--format", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lines: Vec<u64> = json["findings"].as_array().unwrap().iter().map(|f| f["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [6, 8], "only the unmarked E and F are reported");
}

#[test]
fn keytrailignore_drops_findings_by_fingerprint_and_optional_path_glob() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fake::new(22);
    let (shared, other) = (f.stripe_live(), f.stripe_live());
    write(dir.path(), "tests/fixture.py", format!("KEY = \"{shared}\"\n"));
    write(dir.path(), "src/app.py", format!("KEY = \"{shared}\"\nOTHER = \"{other}\"\n"));
    let fp = |s: &str| keytrail::finding::fingerprint(s.as_bytes());
    write(
        dir.path(),
        ".keytrailignore",
        format!("# judged harmless\n{} tests/**   # the test fixture only\n{}\n", fp(&shared), fp(&other)),
    );
    let (code, out, _) = run(dir.path(), &["scan", "-q", "--format", "json"]);
    assert_eq!(code, 1);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let found: Vec<(String, u64)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(found, [("src/app.py".to_string(), 1)]);
    assert_eq!(json["stats"]["ignored"], 2);

    write(dir.path(), ".keytrailignore", "kt1:nothex\n");
    let (code, _, err) = run(dir.path(), &["scan", "-q"]);
    assert_eq!(code, 2);
    assert!(err.contains(".keytrailignore:1:"), "{err}");
}
