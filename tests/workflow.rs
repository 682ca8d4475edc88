//! keytrail where people meet it: git hooks, extra reports, Markdown links, baselines, settings.
mod common;

use common::{commit_all, findings, git, keytrail, repo, run, scan_json, write, Fake};

#[test]
fn a_blocked_commit_names_file_line_kind_and_the_three_ways_out() {
    let r = repo();
    write(r.path(), "README.md", "hello\n");
    commit_all(r.path(), "init");
    let token = Fake::new(60).stripe_live();
    write(r.path(), "app/pay.py", format!("import os\n\nKEY = \"{token}\"\n"));
    git(r.path(), &["add", "app/pay.py"]);

    let (code, out, err) = run(r.path(), &["hook", "pre-commit"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("app/pay.py:3:"), "{out}");
    assert!(!out.contains(&token) && !err.contains(&token), "the hook must not print the secret");
    assert!(err.contains("keytrail blocked this commit"), "{err}");
    assert!(err.contains("app/pay.py:3  Stripe live secret key (API key)"), "{err}");
    assert!(err.contains("Remove the secret"), "{err}");
    assert!(err.contains("keytrail:allow"), "{err}");
    let fingerprint = findings(&scan_json(r.path(), &["--staged"]))[0]["fingerprint"].as_str().unwrap().to_string();
    let line = format!("echo '{fingerprint} app/pay.py' >> .keytrailignore");
    assert!(err.contains(&line), "{err}");

    // Way out 3, exactly as printed, lets the commit through.
    write(r.path(), ".keytrailignore", format!("{fingerprint} app/pay.py\n"));
    let (code, _, err) = run(r.path(), &["hook", "pre-commit"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 ignored by fingerprint"), "{err}");

    // Way out 2: the inline marker.
    std::fs::remove_file(r.path().join(".keytrailignore")).unwrap();
    write(r.path(), "app/pay.py", format!("KEY = \"{token}\"  # keytrail:allow test fixture\n"));
    git(r.path(), &["add", "app/pay.py"]);
    assert_eq!(run(r.path(), &["hook", "pre-commit"]).0, 0);

    // A clean change passes, and says what it looked at.
    write(r.path(), "app/pay.py", "KEY = os.environ[\"STRIPE_KEY\"]\n");
    git(r.path(), &["add", "app/pay.py"]);
    let (code, _, err) = run(r.path(), &["hook", "pre-commit"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("scanned the staged changes (1 blob"), "{err}");

    // Outside a repository the hook fails loudly instead of passing having scanned nothing.
    let (code, _, err) = run(tempfile::tempdir().unwrap().path(), &["hook", "pre-commit"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not in a git repository"), "{err}");
}

#[test]
fn pre_push_under_the_pre_commit_framework_reads_its_variables() {
    let r = repo();
    let mut fake = Fake::new(61);
    write(r.path(), "old.cfg", format!("t = {}\n", fake.github_pat()));
    let base = commit_all(r.path(), "already pushed");
    write(r.path(), "new.cfg", format!("t = {}\n", fake.stripe_live()));
    let tip = commit_all(r.path(), "being pushed");

    let push = |vars: &[(&str, &str)]| {
        let mut cmd = keytrail();
        cmd.args(["hook", "pre-push"]).current_dir(r.path()).write_stdin("");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (code, out, err) = push(&[("PRE_COMMIT_FROM_REF", &base), ("PRE_COMMIT_TO_REF", &tip)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(out.contains("new.cfg") && !out.contains("old.cfg"), "{out}");
    assert!(err.contains("keytrail blocked this push"), "{err}");
    assert!(err.contains("git rebase -i"), "{err}");

    // A branch none of whose history the remote has: pre-commit names only the branch.
    let (code, out, _) = push(&[("PRE_COMMIT_LOCAL_BRANCH", "refs/heads/main"), ("PRE_COMMIT_REMOTE_NAME", "origin")]);
    assert_eq!(code, Some(1));
    assert!(out.contains("new.cfg") && out.contains("old.cfg"), "{out}");

    // Pushing only the commit that was already there is clean.
    let (code, _, err) = push(&[("PRE_COMMIT_FROM_REF", &base), ("PRE_COMMIT_TO_REF", &base)]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn extra_reports_come_from_the_same_scan_and_markdown_links_to_the_commit() {
    let r = repo();
    let mut fake = Fake::new(62);
    write(r.path(), "src/a b.py", format!("KEY = \"{}\"\n", fake.stripe_live()));
    let commit = commit_all(r.path(), "add a key");
    let out_dir = tempfile::tempdir().unwrap();
    let sarif = out_dir.path().join("k.sarif");
    let md = out_dir.path().join("k.md");
    let (code, text, err) = run(
        r.path(),
        &[
            "scan",
            "--report",
            &format!("sarif={}", sarif.display()),
            "--report",
            &format!("markdown={}", md.display()),
            "--link-base",
            "https://github.example/o/r/",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(text.contains("src/a b.py:1:"), "the main report still goes to stdout: {text}");
    let sarif: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 1);
    let md = std::fs::read_to_string(&md).unwrap();
    let link = format!("(https://github.example/o/r/blob/{commit}/src/a%20b.py#L1)");
    assert!(md.contains(&link), "{md}");
    assert!(!md.contains("\x1b["), "files never get colour");

    let (code, _, err) = run(r.path(), &["scan", "--report", "pdf=x.pdf"]);
    assert_eq!(code, 2);
    assert!(err.contains("`pdf` is not a format"), "{err}");
}

#[test]
fn the_markdown_report_stays_under_githubs_summary_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut fake = Fake::new(63);
    let mut body = String::new();
    for _ in 0..3000 {
        body.push_str(&format!("KEY = \"{}\"\n", fake.stripe_live()));
    }
    for i in 0..4 {
        write(dir.path(), &format!("k{i}.py"), &body);
    }
    let (code, md, _) = run(dir.path(), &["scan", "-q", "--format", "markdown"]);
    assert_eq!(code, 1);
    assert!(md.len() < 1024 * 1024, "{} bytes", md.len());
    assert!(md.contains("**12000 findings**"), "{}", &md[..400]);
    assert!(md.contains("more findings, left out"), "the cut is said, not silent");
}

/// An extra rule in the settings, in the format of the built-in rule files.
fn acme_rule(example_body: &str) -> String {
    format!(
        "[[rule]]\nid = \"acme-key\"\nname = \"Acme deploy key\"\ndescription = \"Deploys to Acme.\"\n\
         provider = \"acme\"\nnhi_kind = \"api_key\"\nkeywords = [\"acme_\"]\n\
         regex = '''\\b(?P<secret>acme_[a-z0-9]{{18}})\\b'''\n\
         examples = [\"key = acme_{example_body}\"]\nnegative_examples = [\"acme_short\"]\n"
    )
}

#[test]
fn settings_file_shapes_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut fake = Fake::new(64);
    let stripe = fake.stripe_live();
    let gh_allowed = fake.github_pat();
    let gh_reported = fake.github_pat();
    write(
        d,
        ".keytrail.toml",
        format!(
            "max_file_size = \"1KiB\"\ninventory = \"ops/nhi.toml\"\ndisable_rules = [\"stripe-secret-key\"]\n\n\
             [allowlist]\npaths = [\"fixtures/**\"]\nvalues = ['^{}']\nstopwords = [\"zebra\"]\n\n{}",
            &gh_allowed[..12],
            acme_rule("7q2w9e4r1t8y3u6i0p")
        ),
    );
    write(
        d,
        "app.py",
        format!(
            "ACME = \"acme_{}\"\nSTRIPE = \"{stripe}\"\nA = \"{gh_allowed}\"\nB = \"{gh_reported}\"\n\
             DB_PASSWORD = \"Zebra-{}\"\n",
            fake.alnum(18).to_ascii_lowercase(),
            fake.alnum(12)
        ),
    );
    write(d, "ops/nhi.toml", "version = 1\n");
    write(d, "fixtures/sample.py", format!("B = \"{}\"\n", fake.github_pat()));
    write(d, "big.txt", format!("{}\nB = \"{}\"\n", "x".repeat(2000), fake.github_pat()));

    let v = scan_json(d, &["--no-history"]);
    let f = findings(&v);
    let rules: Vec<&str> = f.iter().map(|f| f["rule_id"].as_str().unwrap()).collect();
    assert_eq!(rules, ["acme-key", "github-pat-classic"], "{f:#?}");
    assert_eq!(f[1]["line"], 4, "the allowlisted value on line 3 is dropped");
    assert_eq!(v["stats"]["allowlisted_secrets"], 2, "one by regex, one by stopword");
    assert_eq!(v["stats"]["skipped_allowlisted"], 1);
    assert_eq!(v["stats"]["skipped_too_large"], 1, "max_file_size from the settings");
    // The flag beats the settings.
    let v = scan_json(d, &["--no-history", "--max-file-size", "1MiB"]);
    assert_eq!(findings(&v).len(), 3);

    // The inventory the settings name is the one read.
    assert_eq!(f[0]["governance"], "unmanaged");
    let inventory = format!(
        "version = 1\n[[identity]]\nid = \"acme-deploy\"\nowner = \"platform\"\nfingerprints = [\"{}\"]\n",
        f[0]["fingerprint"].as_str().unwrap()
    );
    write(d, "ops/nhi.toml", &inventory);
    let f = findings(&scan_json(d, &["--no-history"]));
    assert_eq!(f[0]["governance"], "managed", "{:#?}", f[0]);
    assert_eq!(f[0]["inventory"]["owner"], "platform");
    write(d, "ops/nhi.toml", inventory.replace("owner", "who"));
    let (code, _, err) = run(d, &["scan", "--no-history"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nhi.toml"), "{err}");
}

#[test]
fn settings_errors_name_file_and_line_and_rules_check_validates_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "k.toml", format!("disable_rules = []\n\n{}", acme_rule("7q2w9e4r1t8y3u6i0p")));
    let (code, _, err) = run(d, &["rules", "check", "--config", "k.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("k.toml: valid; 1 rule(s) of its own"), "{err}");

    // An example its own regex does not match.
    write(d, "k.toml", acme_rule("short"));
    let (code, _, err) = run(d, &["rules", "check", "--config", "k.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("k.toml:1: rule `acme-key`: example 1"), "{err}");

    for (text, expected) in [
        ("max_file_size = 10\n\n[allowlist]\npath = []\n", "k.toml:4:1: unknown field `path`"),
        ("disable_rules = [\"no-such-rule\"]\n", "k.toml:1: rule `no-such-rule`: disable_rules names no built-in rule"),
        ("[allowlist]\nvalues = ['(']\n", "k.toml:2:11: allowlist value regex `(` is invalid"),
        ("max_file_size = true\n", "k.toml:1:17:"),
        ("[[rule]]\nid = \"x\"\nregex = '''(?P<secret>a{1000}{1000})'''\n", "k.toml:1: rule `x`: regex:"),
    ] {
        write(d, "k.toml", text);
        let (code, _, err) = run(d, &["rules", "check", "--config", "k.toml"]);
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.contains(expected), "{text}: {err}");
        let (code, _, err) = run(d, &["scan", "--config", "k.toml", "."]);
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.contains(expected), "{text}: {err}");
    }
    write(d, "k.toml", b"\xff\xfe = 1\n");
    let (code, _, err) = run(d, &["rules", "check", "--config", "k.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("k.toml:1:1: not UTF-8"), "{err}");
}

#[test]
fn a_baseline_is_deterministic_secret_free_and_survives_edits() {
    let r = repo();
    let d = r.path();
    let mut fake = Fake::new(65);
    let (old_gh, old_stripe) = (fake.github_pat(), fake.stripe_live());
    write(d, "a.cfg", format!("token = {old_gh}\n"));
    commit_all(d, "first");
    write(d, "b/c.py", format!("KEY = \"{old_stripe}\"\n"));
    write(d, "a.cfg", "token = gone\n");
    commit_all(d, "second");

    let (code, _, err) = run(d, &["baseline", "-o", "keytrail-baseline.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("baseline of 2 entries"), "{err}");
    let first = std::fs::read_to_string(d.join("keytrail-baseline.toml")).unwrap();
    assert!(!first.contains(&old_gh) && !first.contains(&old_stripe), "{first}");
    assert!(!first.contains("line =") && !first.contains("commit ="), "{first}");
    assert!(first.find("a.cfg").unwrap() < first.find("b/c.py").unwrap(), "sorted by path: {first}");
    // Regenerating, with more history on top, gives the same bytes.
    write(d, "README.md", "docs\n");
    commit_all(d, "third");
    let (_, again, _) = run(d, &["baseline"]);
    assert_eq!(again, first);

    let (code, _, err) = run(d, &["scan", "--baseline", "keytrail-baseline.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("in the baseline"), "{err}");

    // Lines move and commits are rewritten: still accepted. A new secret is not.
    write(d, "b/c.py", format!("import os\n\n\nKEY = \"{old_stripe}\"\n"));
    let new_slack = fake.slack_bot();
    write(d, "b/d.py", format!("SLACK = \"{new_slack}\"\n"));
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "--amend", "-m", "third, amended"]);
    let f = findings(&scan_json(d, &["--baseline", "keytrail-baseline.toml"]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["path"], "b/d.py");
    // The same secret copied to a new place is a new exposure.
    write(d, "e.py", format!("KEY = \"{old_stripe}\"\n"));
    let f = findings(&scan_json(d, &["--no-history", "--baseline", "keytrail-baseline.toml"]));
    let paths: Vec<&str> = f.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["b/d.py", "e.py"]);

    write(d, "bad.toml", "version = 1\nfindings = [\n  { path = \"a\" },\n]\n");
    let (code, _, err) = run(d, &["scan", "--baseline", "bad.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml:3:3: missing field `fingerprint`"), "{err}");
}

/// Enough text that a debug build takes well over the progress line's delay to scan it.
fn slow_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut block = "let value = compute(input, 42).unwrap_or_default(); // nothing to see\n".repeat(19);
    block.push_str("let token = config.get(\"api_key\").unwrap_or_default();\n");
    let body = block.repeat(1_000);
    for i in 0..12 {
        write(dir.path(), &format!("src/m{i}.rs"), &body);
    }
    dir
}

#[test]
fn progress_shows_on_a_terminal_only() {
    let dir = slow_tree();
    // A pipe (CI logs, `2>file`): the summary line and nothing else.
    let (code, _, err) = run(dir.path(), &["scan", "--threads", "1", "."]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");

    // A terminal, through script(1): the line appears while scanning and is erased at the end.
    let bin = assert_cmd::cargo::cargo_bin("keytrail");
    let out = tempfile::tempdir().unwrap();
    let typescript = out.path().join("typescript");
    let command = format!("{} scan --threads 1 . > /dev/null", bin.display());
    let status = std::process::Command::new("script")
        .args(["-qec", &command])
        .arg(&typescript)
        .current_dir(dir.path())
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("script(1) from util-linux runs commands on a pseudo-terminal");
    assert!(status.success());
    let seen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    let last = seen.rfind("scanning ").expect("the progress line is drawn on a terminal");
    assert!(seen[last..].contains("\x1b[2K"), "and erased before the summary: {seen:?}");
    assert!(seen.contains("keytrail: scanned 12 files"), "{seen:?}");
}

#[test]
fn commit_all_and_partial_commits_are_scanned_through_gits_temporary_index() {
    let r = repo();
    let d = r.path();
    write(d, "app.py", "import os\n");
    commit_all(d, "init");
    let hook = d.join(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("keytrail");
    std::fs::write(&hook, format!("#!/bin/sh\nexec '{}' hook pre-commit --color never\n", bin.display())).unwrap();
    let mut perms = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).unwrap();
    let head = git(d, &["rev-parse", "HEAD"]);

    // Nothing staged: `commit -a` and `commit PATH` give the hook a temporary index
    // (GIT_INDEX_FILE); the repository's own index does not hold the secret.
    write(d, "app.py", format!("import os\nKEY = \"{}\"\n", Fake::new(66).stripe_live()));
    for args in [&["commit", "-q", "-a", "-m", "all"][..], &["commit", "-q", "-m", "path", "--", "app.py"][..]] {
        let out = common::git_cmd(d).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} must be blocked");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("keytrail blocked this commit") && err.contains("app.py:2"), "{err}");
        assert_eq!(git(d, &["rev-parse", "HEAD"]), head, "nothing was committed");
    }
}
