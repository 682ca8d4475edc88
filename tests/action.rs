//! The GitHub Action's scan step, `scripts/action/scan.sh`, run as Actions would run it: real git
//! repositories, simulated event payloads, and the keytrail under test first on PATH.
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{commit_all, git, repo, write, Fake};
use serde_json::{json, Value};

const ZERO: &str = "0000000000000000000000000000000000000000";
/// GitHub's limit on one step's summary.
const SUMMARY_LIMIT: usize = 1024 * 1024;

/// What one run of the scan step left behind.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    outputs: HashMap<String, String>,
    summary: String,
    sarif: Option<Value>,
}

impl Run {
    fn output(&self, name: &str) -> &str {
        self.outputs.get(name).map(String::as_str).unwrap_or_else(|| panic!("no output {name}: {:?}", self.outputs))
    }

    /// The files of the SARIF results, sorted.
    fn result_paths(&self) -> Vec<String> {
        let sarif = self.sarif.as_ref().expect("a SARIF report");
        let mut paths: Vec<String> = sarif["runs"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|run| run["results"].as_array().unwrap().iter())
            .map(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap().to_string())
            .collect();
        paths.sort();
        paths
    }

    /// The line that says what was scanned, in the log and first in the summary.
    fn scanned_line(&self) -> &str {
        self.stdout.lines().find(|l| l.starts_with("keytrail: scanning ")).unwrap_or_else(|| panic!("{}", self.stdout))
    }

    fn assert_no_secret(&self, secrets: &[&str]) {
        for s in secrets {
            for (name, text) in [("log", &self.stdout), ("stderr", &self.stderr), ("summary", &self.summary)] {
                assert!(!text.contains(s), "the {name} shows a secret in full");
            }
        }
    }
}

/// The runner's side of one step: event payload, output files and the SARIF path, in a directory
/// of their own.
struct Step {
    dir: tempfile::TempDir,
    event: String,
    env: Vec<(String, String)>,
}

impl Step {
    fn new(event: &str, payload: Option<Value>) -> Step {
        let dir = tempfile::tempdir().unwrap();
        let mut env = vec![
            ("GITHUB_EVENT_NAME".to_string(), event.to_string()),
            ("GITHUB_OUTPUT".to_string(), path_string(&dir.path().join("output"))),
            ("GITHUB_STEP_SUMMARY".to_string(), path_string(&dir.path().join("summary.md"))),
            ("INPUT_SARIF".to_string(), path_string(&dir.path().join("keytrail.sarif"))),
            ("GITHUB_SERVER_URL".to_string(), "https://github.com".to_string()),
            ("GITHUB_REPOSITORY".to_string(), "acme/shop".to_string()),
        ];
        if let Some(payload) = payload {
            let path = dir.path().join("event.json");
            std::fs::write(&path, serde_json::to_vec_pretty(&payload).unwrap()).unwrap();
            env.push(("GITHUB_EVENT_PATH".to_string(), path_string(&path)));
        }
        Step { dir, event: event.to_string(), env }
    }

    fn env(mut self, name: &str, value: &str) -> Step {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    fn summary_path(&self) -> PathBuf {
        self.dir.path().join("summary.md")
    }

    /// Runs the scan step with `workspace` as GITHUB_WORKSPACE and nothing of this process's
    /// environment but PATH and HOME, so a real Actions runner running these tests changes nothing.
    fn run(&self, workspace: &Path) -> Run {
        let bin = assert_cmd::cargo::cargo_bin("keytrail");
        let bin_dir = bin.parent().unwrap();
        let path = std::env::join_paths(
            std::iter::once(bin_dir.to_path_buf()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
        )
        .unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg(script())
            .current_dir(workspace)
            .env_clear()
            .env("PATH", path)
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("GITHUB_WORKSPACE", workspace)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("RUST_BACKTRACE", "0");
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        let out = cmd.output().expect("bash must be installed to test the action");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let outputs = std::fs::read_to_string(self.dir.path().join("output"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("not name=value: {l:?}"));
                (k.to_string(), v.to_string())
            })
            .collect();
        let summary = std::fs::read_to_string(self.summary_path()).unwrap_or_default();
        let sarif_path = &self.env.iter().find(|(n, _)| n == "INPUT_SARIF").unwrap().1;
        let sarif = std::fs::read(workspace.join(sarif_path)).ok().map(|b| serde_json::from_slice(&b).unwrap());
        let run = Run { code: out.status.code().unwrap_or(-1), stdout, stderr, outputs, summary, sarif };
        assert!(
            run.code == 0 || run.code == 2,
            "{} step exited {}:\n{}\n{}",
            self.event,
            run.code,
            run.stdout,
            run.stderr
        );
        run
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/action/scan.sh")
}

fn path_string(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// A test without jq would pass for the wrong reason (every run a setup error), so it fails.
fn require_tools() {
    for tool in ["bash", "jq", "git"] {
        let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
        assert!(found, "{tool} is needed to test the GitHub Action's scan step, and is not on PATH");
    }
}

fn head(s: &str) -> String {
    s.chars().take(300).collect()
}

fn stripe_line(seed: u64) -> (String, String) {
    let key = Fake::new(seed).stripe_live();
    (format!("import stripe\n\nstripe.api_key = \"{key}\"\n"), key)
}

#[test]
fn push_scans_the_pushed_commits_only() {
    require_tools();
    let r = repo();
    let d = r.path();
    write(d, "README.md", "shop\n");
    commit_all(d, "init");
    let (old_file, old_key) = stripe_line(101);
    write(d, "legacy/billing.py", &old_file);
    commit_all(d, "billing, with its key inline");
    write(d, "README.md", "shop, now with billing\n");
    let before = commit_all(d, "docs");
    let (new_file, new_key) = stripe_line(102);
    write(d, "app/payments.py", &new_file);
    commit_all(d, "payments");
    write(d, "README.md", "shop, now with payments\n");
    let after = commit_all(d, "docs again");

    let payload =
        json!({ "ref": "refs/heads/main", "before": before, "after": after, "created": false, "deleted": false });
    // The default SARIF path, relative to the workspace.
    let step = Step::new("push", Some(payload)).env("INPUT_SARIF", "keytrail.sarif");
    let run = step.run(d);

    let range = format!("{}..{}", &before[..12], &after[..12]);
    assert_eq!(run.scanned_line(), format!("keytrail: scanning the pushed commits {range}"));
    assert!(run.stderr.contains("and 2 commits"), "{}", run.stderr);
    assert_eq!(run.result_paths(), ["app/payments.py"], "the key added before `before` must not be reported");
    assert_eq!(run.output("findings"), "1");
    assert_eq!(run.output("exit-code"), "1");
    assert_eq!(run.output("scope"), "range", "its SARIF category must not close the full scan's alerts");
    assert_eq!(run.output("sarif"), path_string(&d.join("keytrail.sarif")));
    assert!(run.summary.starts_with(&format!("**keytrail** scanned the pushed commits {range}.\n")), "{}", run.summary);
    assert!(run.summary.contains("app/payments.py"), "{}", run.summary);
    assert!(!run.summary.contains("legacy/billing.py"), "{}", run.summary);
    assert!(run.summary.contains("](https://github.com/acme/shop/blob/"), "findings link to GitHub: {}", run.summary);
    assert!(run.stdout.contains("app/payments.py:3:"), "keytrail's text report goes to the log: {}", run.stdout);
    run.assert_no_secret(&[&old_key, &new_key]);
}

#[test]
fn new_branch_push_scans_the_commits_no_other_ref_has() {
    require_tools();
    let r = repo();
    let d = r.path();
    let (main_file, main_key) = stripe_line(201);
    write(d, "config/settings.py", &main_file);
    commit_all(d, "settings");
    git(d, &["checkout", "-q", "-b", "feature/export"]);
    write(d, "export.py", "def export():\n    pass\n");
    commit_all(d, "export");
    let token = Fake::new(202).github_pat();
    write(d, ".github/workflows/export.yml", format!("jobs:\n  export:\n    env:\n      GH_TOKEN: {token}\n"));
    let after = commit_all(d, "export workflow");

    let payload = json!({ "ref": "refs/heads/feature/export", "before": ZERO, "after": after, "created": true });
    let run = Step::new("push", Some(payload)).run(d);

    assert_eq!(
        run.scanned_line(),
        format!("keytrail: scanning the commits of {} that no other ref has (a new branch)", &after[..12])
    );
    assert!(run.stderr.contains("and 2 commits"), "main's commit is not the branch's: {}", run.stderr);
    assert_eq!(run.result_paths(), [".github/workflows/export.yml"]);
    assert_eq!(run.output("findings"), "1");
    assert_eq!(run.output("exit-code"), "1");
    assert!(run.summary.starts_with("**keytrail** scanned the commits of "), "{}", run.summary);
    assert!(!run.summary.contains("config/settings.py"), "{}", run.summary);
    run.assert_no_secret(&[&main_key, &token]);
}

#[test]
fn pull_request_scans_all_its_commits_however_many() {
    require_tools();
    let r = repo();
    let d = r.path();
    let (base_file, base_key) = stripe_line(301);
    write(d, "shop/checkout.py", &base_file);
    commit_all(d, "checkout");
    let base = git(d, &["rev-parse", "HEAD"]);
    git(d, &["checkout", "-q", "-b", "refactor"]);
    let token = Fake::new(302).github_pat();
    for i in 1..=50 {
        if i == 3 {
            write(d, "deploy/release.env", format!("GH_TOKEN={token}\n"));
        }
        write(d, "CHANGELOG.md", format!("step {i}\n"));
        commit_all(d, &format!("refactor step {i}"));
    }
    let head = git(d, &["rev-parse", "HEAD"]);
    // actions/checkout leaves a pull request's merge commit checked out.
    git(d, &["checkout", "-q", "--detach", &base]);
    git(d, &["merge", "-q", "--no-ff", "-m", "Merge refactor into main", &head]);

    let payload = json!({
        "action": "synchronize",
        "number": 42,
        "pull_request": { "number": 42, "commits": 50, "base": { "ref": "main", "sha": base }, "head": { "ref": "refactor", "sha": head } }
    });
    let run = Step::new("pull_request", Some(payload)).run(d);

    let range = format!("{}..{}", &base[..12], &head[..12]);
    assert_eq!(run.scanned_line(), format!("keytrail: scanning the commits of pull request #42, {range}"));
    assert!(run.stderr.contains("and 50 commits"), "{}", run.stderr);
    assert_eq!(run.result_paths(), ["deploy/release.env"], "the base branch's key is not the pull request's");
    assert_eq!(run.output("findings"), "1");
    assert_eq!(run.output("exit-code"), "1");
    assert!(run.summary.starts_with(&format!("**keytrail** scanned the commits of pull request #42, {range}.\n")));
    assert!(run.summary.contains("deploy/release.env"), "{}", run.summary);
    assert!(!run.summary.contains("shop/checkout.py"), "{}", run.summary);
    run.assert_no_secret(&[&base_key, &token]);
}

#[test]
fn schedule_scans_the_files_and_the_whole_history() {
    require_tools();
    let r = repo();
    let d = r.path();
    let (gone_file, gone_key) = stripe_line(401);
    write(d, "scripts/charge.py", &gone_file);
    commit_all(d, "charge script");
    write(d, "scripts/charge.py", "import os\n\nstripe.api_key = os.environ[\"STRIPE_KEY\"]\n");
    commit_all(d, "key from the environment");
    let (aws_id, aws_secret) = {
        let mut f = Fake::new(402);
        (f.aws_key_id(), f.aws_secret())
    };
    // In the working tree only, never committed.
    write(
        d,
        "local/aws.ini",
        format!("[default]\naws_access_key_id = {aws_id}\naws_secret_access_key = {aws_secret}\n"),
    );

    let run = Step::new("schedule", Some(json!({ "schedule": "17 4 * * 1" }))).run(d);

    assert_eq!(run.scanned_line(), "keytrail: scanning the files and the whole git history, for the schedule run");
    let paths = run.result_paths();
    assert!(paths.contains(&"scripts/charge.py".to_string()), "the key only in history: {paths:?}");
    assert!(paths.contains(&"local/aws.ini".to_string()), "the key only in the working tree: {paths:?}");
    assert_eq!(run.output("findings"), paths.len().to_string());
    assert_eq!(run.output("exit-code"), "1");
    assert_eq!(run.output("scope"), "full");
    assert!(run
        .summary
        .starts_with("**keytrail** scanned the files and the whole git history, for the schedule run.\n"));
    assert!(run.summary.contains("scripts/charge.py") && run.summary.contains("local/aws.ini"), "{}", run.summary);
    run.assert_no_secret(&[&gone_key, &aws_secret]);
}

#[test]
fn deleted_branch_push_scans_nothing() {
    require_tools();
    let r = repo();
    let d = r.path();
    let (file, _) = stripe_line(501);
    write(d, "app.py", &file);
    let before = commit_all(d, "app");

    let payload = json!({ "ref": "refs/heads/old", "before": before, "after": ZERO, "deleted": true });
    let step = Step::new("push", Some(payload));
    let run = step.run(d);

    assert_eq!(run.code, 0);
    assert_eq!(run.scanned_line(), "keytrail: scanning nothing: the push deleted a branch");
    assert_eq!(run.output("findings"), "0");
    assert_eq!(run.output("exit-code"), "0");
    assert_eq!(run.output("sarif"), "", "no SARIF to upload");
    assert!(run.sarif.is_none());
    assert_eq!(run.summary, "**keytrail** scanned nothing: the push deleted a branch.\n");
}

#[test]
fn a_clean_push_reports_zero() {
    require_tools();
    let r = repo();
    let d = r.path();
    write(d, "README.md", "shop\n");
    let before = commit_all(d, "init");
    write(d, "README.md", "shop!\n");
    let after = commit_all(d, "docs");

    let run = Step::new("push", Some(json!({ "before": before, "after": after }))).run(d);

    assert_eq!(run.code, 0);
    assert_eq!(run.output("findings"), "0");
    assert_eq!(run.output("exit-code"), "0");
    assert_eq!(run.result_paths(), Vec::<String>::new());
}

#[test]
fn summary_stays_under_the_limit_with_thousands_of_findings() {
    require_tools();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut fake = Fake::new(601);
    let tokens: Vec<String> = (0..2000).map(|_| fake.github_pat()).collect();
    let mut body = String::new();
    for (i, t) in tokens.iter().enumerate() {
        body.push_str(&format!("TOKEN_{i}={t}\n"));
    }
    write(d, "ci/tokens.env", body);

    // Not a git repository: a full scan of the files. The args are split like a shell would.
    let step =
        Step::new("workflow_dispatch", None).env("INPUT_ARGS", "--no-history  --max-file-size '5 MiB'  # files only");
    let run = step.run(d);
    assert_eq!(
        run.scanned_line(),
        "keytrail: scanning the files (not a git repository), for the workflow_dispatch run"
    );
    assert_eq!(run.output("findings"), "2000");
    assert_eq!(run.output("exit-code"), "1");
    assert!(run.summary.len() < SUMMARY_LIMIT, "{} bytes", run.summary.len());
    assert!(run.summary.contains("more findings"), "keytrail says rows were left out");
    assert!(!run.summary.contains("was cut"), "keytrail's own report fits without cutting");
    run.assert_no_secret(&[&tokens[0], &tokens[1999]]);

    // A summary file that already holds most of the allowance: the report is cut to fit, at a line
    // end, and says so.
    let filler = "filler line\n".repeat(900 * 1024 / 12);
    std::fs::write(step.summary_path(), &filler).unwrap();
    let run = step.run(d);
    assert!(run.summary.len() < SUMMARY_LIMIT, "{} bytes", run.summary.len());
    let ours = &run.summary[filler.len()..];
    assert!(ours.starts_with("**keytrail** scanned the files (not a git repository)"), "{}", head(ours));
    let note = ours.find("\n\n> This summary was cut to fit GitHub's 1 MiB limit").expect("a note on the cut");
    let last_row = ours[..note].lines().last().unwrap();
    assert!(last_row.starts_with('|') && last_row.ends_with('|'), "cut mid-row: {last_row:?}");
    println!("2000 findings, two runs: {:.1}s", started.elapsed().as_secs_f64());
}

#[test]
fn shallow_clone_fetches_the_history_a_push_needs() {
    require_tools();
    let origin = repo();
    let o = origin.path();
    write(o, "README.md", "shop\n");
    commit_all(o, "init");
    let (old_file, _) = stripe_line(701);
    write(o, "legacy/billing.py", &old_file);
    let before = commit_all(o, "billing");
    let (new_file, _) = stripe_line(702);
    write(o, "app/payments.py", &new_file);
    commit_all(o, "payments");
    write(o, "README.md", "shop!\n");
    let after = commit_all(o, "docs");

    // What actions/checkout does by default: one commit, with the remote kept.
    let parent = tempfile::tempdir().unwrap();
    let url = format!("file://{}", o.display());
    git(parent.path(), &["clone", "-q", "--depth", "1", &url, "work"]);
    let d = parent.path().join("work");
    assert_eq!(git(&d, &["rev-parse", "--is-shallow-repository"]), "true");

    let run = Step::new("push", Some(json!({ "before": before, "after": after }))).run(&d);

    assert!(run.stdout.contains("::notice title=keytrail::shallow clone: fetching"), "{}", run.stdout);
    assert_eq!(git(&d, &["rev-parse", "--is-shallow-repository"]), "false");
    assert_eq!(
        run.scanned_line(),
        format!("keytrail: scanning the pushed commits {}..{}", &before[..12], &after[..12])
    );
    assert_eq!(run.result_paths(), ["app/payments.py"]);
}

#[test]
fn setup_problems_stop_with_an_error_and_exit_2() {
    require_tools();
    let r = repo();
    let d = r.path();
    write(d, "README.md", "shop\n");
    commit_all(d, "init");

    let step = Step::new("pull_request", None).env("GITHUB_EVENT_PATH", &path_string(&d.join("missing.json")));
    let run = step.run(d);
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("::error title=keytrail::cannot read the event payload"), "{}", run.stdout);
    assert_eq!(run.output("exit-code"), "2");

    let bad = Step::new("push", Some(json!({ "before": "main; rm -rf /", "after": "HEAD" })));
    let run = bad.run(d);
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("is not a commit id"), "{}", run.stdout);

    let quote = Step::new("schedule", None).env("INPUT_ARGS", "--config 'unterminated");
    let run = quote.run(d);
    assert_eq!(run.code, 2);
    assert!(run.stdout.contains("unterminated quote"), "{}", run.stdout);
}
