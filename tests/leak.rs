//! keytrail must never be the way a secret leaks. A secret of every built-in rule (its examples,
//! fabricated values) is planted in a repository, committed or staged; one `--show-secrets` run
//! learns the values, and every other output keytrail has is searched for them: each report format
//! on stdout, `-o` and `--report` files, the stderr summary, the git hooks, baselines, inventory
//! files, error messages, debug logs and a panic.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use aho_corasick::AhoCorasick;
use common::{git, keytrail, repo, write};
use keytrail::rules::RuleSet;

/// Built-in rules whose examples cannot give a finding when planted, each with the reason.
const NOT_PLANTABLE: &[(&str, &str)] = &[];

/// Shorter values are not searched for. Output carries fingerprints (32 hex digits), commit ids,
/// dates, rule ids and paths, in which a value of a few characters turns up by chance (a 4-digit
/// PIN in a commit id, `admin` in a path): the test would fail on output that holds no secret.
/// Redaction does not depend on length (the mask is the same for every secret), so the long
/// secrets of a rule vouch for its short ones. No built-in example is that short today; what is
/// cut are the last lines of PEM bodies (`AB==`).
const MIN_NEEDLE: usize = 8;

/// One value that must not appear, and the rule whose finding it came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Needle {
    rule: String,
    text: String,
}

struct Plant {
    dir: tempfile::TempDir,
    needles: Vec<Needle>,
    /// Every spelling of every needle, searched for in one pass.
    finder: AhoCorasick,
    /// The needle of each of `finder`'s patterns.
    owner: Vec<usize>,
    /// Every built-in rule id.
    rules: Vec<String>,
}

impl Plant {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The needles `output` holds, each once, with the spelling found.
    fn found_in(&self, output: &[u8]) -> Vec<(&Needle, String)> {
        let mut seen = BTreeSet::new();
        let mut found = Vec::new();
        for m in self.finder.find_overlapping_iter(output) {
            let n = self.owner[m.pattern().as_usize()];
            if seen.insert(n) {
                found.push((&self.needles[n], String::from_utf8_lossy(&output[m.range()]).into_owned()));
            }
        }
        found
    }
}

/// The examples of every built-in rule, one file per example named after its rule: those of
/// every third rule only staged, the rest committed in two commits (so a range has history).
fn plant() -> Plant {
    let dir = repo();
    let d = dir.path();
    let rules = RuleSet::builtin().unwrap();
    let mut groups: [Vec<String>; 3] = Default::default();
    for (i, rule) in rules.rules().iter().enumerate() {
        for (n, example) in rule.examples.iter().enumerate() {
            let name = format!("plant/{}.{}.txt", rule.id, n + 1);
            write(d, &name, example);
            let group = match (i % 3, n) {
                (1, 0) => 1,
                (2, _) => 2,
                _ => 0,
            };
            groups[group].push(name);
        }
    }
    let add = |names: &[String]| {
        let mut args = vec!["add", "--"];
        args.extend(names.iter().map(String::as_str));
        git(d, &args);
    };
    add(&groups[0]);
    git(d, &["commit", "-q", "-m", "first"]);
    add(&groups[1]);
    git(d, &["commit", "-q", "-m", "second"]);
    add(&groups[2]);

    let learnt = scan_json(d, &["--show-secrets"]);
    let needles = needles(d, &learnt);
    let (patterns, owner): (Vec<String>, Vec<usize>) =
        needles.iter().enumerate().flat_map(|(i, n)| spellings(&n.text).into_iter().map(move |s| (s, i))).unzip();
    let finder = AhoCorasick::new(&patterns).unwrap();
    Plant { dir, needles, finder, owner, rules: rules.rules().iter().map(|r| r.id.clone()).collect() }
}

fn scan_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = keytrail().args(["scan", "-q", "--format", "json"]).args(extra).current_dir(dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What to look for: each secret and companion secret as found, the lines of a multi-line one
/// (a PEM body), and the text of the file at the finding (the encoded form of a secret found
/// base64-encoded or escaped).
fn needles(dir: &Path, report: &serde_json::Value) -> Vec<Needle> {
    let mut out = BTreeSet::new();
    for f in report["findings"].as_array().unwrap() {
        let rule = f["rule_id"].as_str().unwrap().to_string();
        let mut add = |text: &str| {
            let mut pieces = vec![text.trim().to_string()];
            if text.trim().contains('\n') {
                // PEM armour lines name the key type, which redaction shows on purpose.
                pieces.extend(text.lines().map(str::trim).filter(|l| !l.contains("-----")).map(str::to_string));
            }
            for p in pieces {
                if p.chars().count() >= MIN_NEEDLE {
                    out.insert(Needle { rule: rule.clone(), text: p });
                }
            }
        };
        add(f["secret"].as_str().unwrap());
        if let Some(c) = f["companion"]["secret"].as_str() {
            add(c);
        }
        if f["source"] != "history" {
            if let Some(raw) = text_at(dir, f) {
                add(&raw);
            }
        }
    }
    out.into_iter().collect()
}

/// The file's text from the finding's start to its end (columns count characters, the end is
/// exclusive).
fn text_at(dir: &Path, f: &serde_json::Value) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(f["path"].as_str()?)).ok()?;
    let n = |k: &str| f[k].as_u64().map(|v| v as usize);
    let (line, col, end_line, end_col) = (n("line")?, n("column")?, n("end_line")?, n("end_column")?);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = String::new();
    for l in line..=end_line {
        let chars: Vec<char> = lines.get(l - 1)?.chars().collect();
        let from = if l == line { col - 1 } else { 0 };
        let to = if l == end_line { (end_col - 1).min(chars.len()) } else { chars.len() };
        out.extend(chars.get(from..to)?);
        if l != end_line {
            out.push('\n');
        }
    }
    Some(out)
}

/// The ways an output can spell a value: as it is, inside a JSON string, with control characters
/// escaped (text output), as a Markdown table cell.
fn spellings(text: &str) -> Vec<String> {
    let json = serde_json::to_string(text).unwrap();
    let mut all = vec![
        text.to_string(),
        json[1..json.len() - 1].to_string(),
        keytrail::finding::escape_control(text),
        keytrail::report::markdown::cell(text),
    ];
    all.sort();
    all.dedup();
    all
}

/// Fails naming what leaked, where, and by which rule's finding.
fn assert_no_leak(plant: &Plant, what: &str, output: &[u8]) {
    let leaks = plant.found_in(output);
    assert!(
        leaks.is_empty(),
        "{what} leaks {} secret(s), e.g. {:?}",
        leaks.len(),
        leaks.iter().take(5).map(|(n, s)| format!("{}: {s}", n.rule)).collect::<Vec<_>>()
    );
}

/// Runs keytrail in the plant: its output, after checking its exit status is one of `codes`.
fn run(plant: &Plant, args: &[&str], env: &[(&str, &str)], codes: &[i32]) -> Output {
    let mut cmd = keytrail();
    cmd.args(args).current_dir(plant.path()).env_remove("RUST_LOG").env_remove("KEYTRAIL_PANIC_DETAILS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(codes.contains(&code), "{args:?}: exit {code}\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn assert_output_clean(plant: &Plant, what: &str, out: &Output) {
    assert_no_leak(plant, &format!("{what} (stdout)"), &out.stdout);
    assert_no_leak(plant, &format!("{what} (stderr)"), &out.stderr);
}

const FORMATS: &[&str] = &["text", "json", "jsonl", "sarif", "markdown"];

#[test]
fn every_builtin_rule_is_planted_and_every_format_shows_its_secret_when_asked() {
    let plant = plant();
    let found: BTreeSet<&str> = plant.needles.iter().map(|n| n.rule.as_str()).collect();
    let skipped: BTreeMap<&str, &str> = NOT_PLANTABLE.iter().copied().collect();
    let missing: Vec<&String> =
        plant.rules.iter().filter(|r| !found.contains(r.as_str()) && !skipped.contains_key(r.as_str())).collect();
    assert!(missing.is_empty(), "no secret planted for {} rule(s): {missing:?}", missing.len());
    for (rule, _) in NOT_PLANTABLE {
        assert!(!found.contains(rule), "{rule} is found now: take it off NOT_PLANTABLE");
    }

    // The reverse check: the search finds the secrets when keytrail is asked to print them, so a
    // clean result elsewhere means something.
    let tmp = tempfile::tempdir().unwrap();
    let file = |format: &str| tmp.path().join(format).to_str().unwrap().to_string();
    let mut args = vec!["scan", "-q", "--no-history", "--show-secrets", "--format", "text"];
    let reports: Vec<String> = FORMATS[1..].iter().map(|f| format!("{f}={}", file(f))).collect();
    for r in &reports {
        args.extend(["--report", r]);
    }
    let text = run(&plant, &args, &[], &[1]).stdout;
    for format in FORMATS {
        let out = if *format == "text" { text.clone() } else { std::fs::read(file(format)).unwrap() };
        let shown: BTreeSet<&str> = plant
            .found_in(&out)
            .into_iter()
            .filter(|(n, _)| !n.text.contains('\n'))
            .map(|(n, _)| n.rule.as_str())
            .collect();
        let unseen: Vec<&str> = found.iter().copied().filter(|r| !shown.contains(r)).collect();
        assert!(unseen.is_empty(), "{format} --show-secrets shows no secret of {unseen:?}");
    }
}

#[test]
fn no_report_summary_or_hook_prints_a_secret() {
    let plant = plant();
    let tmp = tempfile::tempdir().unwrap();
    let file = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    // Each format on stdout, with the next one as a `--report` file; then `-o` with all of them.
    for (i, format) in FORMATS.iter().enumerate() {
        let next = FORMATS[(i + 1) % FORMATS.len()];
        let report = file(&format!("r.{next}"));
        let out = run(&plant, &["scan", "--format", format, "--report", &format!("{next}={report}")], &[], &[1]);
        assert!(!out.stdout.is_empty() && !out.stderr.is_empty(), "{format}");
        assert_output_clean(&plant, &format!("scan --format {format}"), &out);
        assert_no_leak(&plant, &format!("--report {next}"), &std::fs::read(&report).unwrap());
    }
    let o = file("o.sarif");
    let mut args = vec!["scan".to_string(), "--format".into(), "sarif".into(), "-o".into(), o.clone()];
    for format in FORMATS {
        args.extend(["--report".into(), format!("{format}={}", file(&format!("all.{format}")))]);
    }
    let out = run(&plant, &args.iter().map(String::as_str).collect::<Vec<_>>(), &[], &[1]);
    assert!(out.stdout.is_empty());
    assert_output_clean(&plant, "scan -o", &out);
    for path in std::iter::once(o).chain(FORMATS.iter().map(|f| file(&format!("all.{f}")))) {
        let written = std::fs::read(&path).unwrap();
        assert!(!written.is_empty(), "{path}");
        assert_no_leak(&plant, &path, &written);
    }
    for args in [&["scan", "--staged"][..], &["scan", "--range", "HEAD~1..HEAD"], &["scan", "--history-only"]] {
        let out = run(&plant, args, &[], &[1]);
        assert!(!out.stdout.is_empty(), "{args:?}");
        assert_output_clean(&plant, &args.join(" "), &out);
    }

    let out = run(&plant, &["hook", "pre-commit", "--color", "always"], &[], &[1]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("keytrail blocked this commit"));
    assert_output_clean(&plant, "hook pre-commit", &out);

    let head = git(plant.path(), &["rev-parse", "HEAD"]);
    let mut cmd = keytrail();
    let line = format!("refs/heads/main {head} refs/heads/main {}\n", "0".repeat(40));
    let out = cmd.args(["hook", "pre-push", "origin"]).current_dir(plant.path()).write_stdin(line).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("keytrail blocked this push"));
    assert_output_clean(&plant, "hook pre-push", &out);
}

#[test]
fn baselines_and_inventories_hold_no_secret() {
    let plant = plant();
    let out = run(&plant, &["baseline"], &[], &[0]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("kt1:"));
    assert_output_clean(&plant, "baseline", &out);
    let out = run(&plant, &["baseline", "-o", "b.toml"], &[], &[0]);
    assert_output_clean(&plant, "baseline -o", &out);
    assert_no_leak(&plant, "baseline file", &std::fs::read(plant.path().join("b.toml")).unwrap());
    let out = run(&plant, &["scan", "--baseline", "b.toml"], &[], &[0]);
    assert_output_clean(&plant, "scan --baseline", &out);

    let out = run(&plant, &["inventory", "sync"], &[], &[0]);
    assert_output_clean(&plant, "inventory sync", &out);
    let inventory = std::fs::read(plant.path().join(".keytrail/inventory.toml")).unwrap();
    assert!(String::from_utf8_lossy(&inventory).contains("[[identity]]"));
    // `identifiers` lists public identifiers on purpose, so that an entry can claim a secret by
    // them (README: "identifiers are public"): AWS key ids are such, and a rule reports them.
    let (public, leaks): (Vec<_>, Vec<_>) =
        plant.found_in(&inventory).into_iter().partition(|(n, _)| n.rule == "aws-access-key-id");
    assert!(!public.is_empty(), "the inventory lists no AWS key id: take the exception out");
    assert!(leaks.is_empty(), "the inventory leaks {:?}", leaks.iter().take(5).collect::<Vec<_>>());
    for args in [
        &["inventory", "check"][..],
        &["inventory", "export"],
        &["inventory", "export", "--format", "csv", "-o", "inventory.csv"],
        &["inventory", "export", "--format", "markdown"],
    ] {
        let out = run(&plant, args, &[], &[0, 1]);
        let written =
            if args.contains(&"-o") { std::fs::read(plant.path().join(args[5])).unwrap() } else { out.stdout };
        assert!(!written.is_empty(), "{args:?}");
        // Public identifiers stay in the inventory: reports show the identity's summary.
        assert_no_leak(&plant, &format!("{args:?}"), &written);
        assert_no_leak(&plant, &format!("{args:?} (stderr)"), &out.stderr);
    }
}

#[test]
fn debug_logs_print_no_secret() {
    let plant = plant();
    for level in ["trace", "keytrail=trace"] {
        let out = run(&plant, &["scan", "--format", "json"], &[("RUST_LOG", level)], &[1]);
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("[DEBUG keytrail"), "RUST_LOG={level} logs nothing:\n{log}");
        assert_output_clean(&plant, &format!("RUST_LOG={level}"), &out);
    }
    let out = run(&plant, &["hook", "pre-commit"], &[("RUST_LOG", "trace")], &[1]);
    assert_output_clean(&plant, "RUST_LOG=trace hook pre-commit", &out);
    // Without RUST_LOG, not a line of it.
    let out = run(&plant, &["scan", "-q"], &[], &[1]);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A few secrets of different rules that a TOML string can hold as they are.
fn sample_secrets(plant: &Plant) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let quotable: Vec<&Needle> = plant
        .needles
        .iter()
        .filter(|n| n.text.len() >= 16 && n.text.bytes().all(|b| b.is_ascii_graphic() && !b"\"'\\#`".contains(&b)))
        .filter(|n| seen.insert(n.rule.as_str()))
        .collect();
    assert!(quotable.len() >= 40, "{}", quotable.len());
    quotable.iter().step_by(quotable.len() / 4).take(4).map(|n| n.text.clone()).collect()
}

#[test]
fn errors_in_settings_inventory_ignore_and_baseline_files_point_at_the_line_without_quoting_it() {
    let plant = plant();
    let fp = format!("kt1:{}", "0a".repeat(16));
    let identity = "version = 1\n\n[[identity]]\nid = \"ci-token\"\nowner = \"platform\"\n";
    for s in sample_secrets(&plant) {
        let cases: Vec<(&str, String, &str)> = vec![
            // (file, content, where the error must point: `file:line:`, then a column but for the
            // inventory's checks of values, which give lines)
            (".keytrail.toml", format!("max_file_size = 10\n{s}\n"), ".keytrail.toml:2:"),
            (".keytrail.toml", format!("\ntoken = {s}\n"), ".keytrail.toml:2:"),
            (".keytrail.toml", format!("max_file_size = \"{s}\"\n"), ".keytrail.toml:1:"),
            (".keytrail.toml", format!("disable_rules = \"{s}\"\n"), ".keytrail.toml:1:"),
            (".keytrail.toml", format!("[allowlist]\nstopwords = [\"x\", \"{s}\n"), ".keytrail.toml:2:"),
            (".keytrail.toml", format!("[allowlist]\nstopwords = [\"x\", {s}]\n"), ".keytrail.toml:2:"),
            (".keytrail/inventory.toml", format!("{identity}{s}\n"), "inventory.toml:6:"),
            (".keytrail/inventory.toml", format!("{identity}purpose = {s}\n"), "inventory.toml:6:"),
            (".keytrail/inventory.toml", format!("{identity}purpose = \"{s}\n"), "inventory.toml:6:"),
            (".keytrail/inventory.toml", format!("{identity}fingerprints = [\"{s}\"]\n"), "inventory.toml:6:"),
            (".keytrailignore", format!("{fp}\n{s}\n"), ".keytrailignore:2:"),
            (".keytrailignore", format!("{fp} {s}[\n"), ".keytrailignore:1:"),
            (".keytrailignore", format!("{fp} plant/** {s}\n"), ".keytrailignore:1:"),
            (
                "b.toml",
                format!("version = 1\nfindings = [\n  {{ path = \"a\", fingerprint = \"{s}\" }},\n]\n"),
                "b.toml:3:",
            ),
            (
                "b.toml",
                format!("version = 1\nfindings = [\n  {{ path = \"a\", fingerprint = {s} }},\n]\n"),
                "b.toml:3:",
            ),
        ];
        for (file, content, place) in cases {
            let scratch = tempfile::tempdir().unwrap();
            let d = scratch.path();
            write(d, "clean.txt", "nothing here\n");
            write(d, file, &content);
            let mut commands: Vec<Vec<&str>> = vec![vec!["scan"]];
            match file {
                "b.toml" => commands = vec![vec!["scan", "--baseline", "b.toml"]],
                ".keytrail.toml" => commands.push(vec!["rules", "check", "--config", ".keytrail.toml"]),
                ".keytrail/inventory.toml" => commands.push(vec!["inventory", "check"]),
                _ => {}
            }
            for args in commands {
                let out = keytrail().args(&args).current_dir(d).env_remove("RUST_LOG").output().unwrap();
                let err = String::from_utf8_lossy(&out.stderr);
                assert_eq!(out.status.code(), Some(2), "{args:?} with {file}:\n{content}\n{err}");
                let at = err.find(place).map(|i| &err[i + place.len()..]);
                let column = at.and_then(|rest| rest.split_once(':')).is_some_and(|(c, _)| c.parse::<u32>().is_ok());
                let values_check = content.contains("fingerprints = [");
                assert!(at.is_some(), "{args:?} must point at {place}:\n{content}\n{err}");
                assert!(column || values_check, "{args:?} must give a column after {place}:\n{content}\n{err}");
                for stream in [&err, &String::from_utf8_lossy(&out.stdout)] {
                    assert!(!stream.contains(s.as_str()), "{args:?} quotes the secret of {file}:\n{content}\n{err}");
                }
            }
        }
    }
}

#[test]
fn a_panic_says_where_but_not_what_and_exits_2() {
    let plant = plant();
    let panic = [("KEYTRAIL_TEST_PANIC_WITH_SECRET", "1")];
    for args in [
        &["scan", "--no-history"][..],
        &["scan", "--no-history", "--threads", "1"],
        &["scan", "--history-only"],
        &["scan", "--history-only", "--threads", "1"],
        &["hook", "pre-commit"],
    ] {
        let out = run(&plant, args, &panic, &[2]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("keytrail: internal error at "), "{args:?}:\n{err}");
        assert!(err.contains("please report it"), "{err}");
        assert!(!err.contains("test hook"), "{args:?} prints the panic message:\n{err}");
        assert_output_clean(&plant, &format!("{args:?} panicking"), &out);
    }
    // The reverse check: asked for, the details show the secret, so the check above can fail.
    let details = [("KEYTRAIL_TEST_PANIC_WITH_SECRET", "1"), ("KEYTRAIL_PANIC_DETAILS", "1")];
    let out = run(&plant, &["scan", "--no-history", "--threads", "1"], &details, &[2]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("test hook: "));
    assert!(!plant.found_in(&out.stderr).is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Why a network check could not run here, or `None` once it ran.
type Unavailable = Option<String>;

/// A full scan (files and history, SARIF) under `strace`: no socket but AF_UNIX ones (the C
/// library may ask nscd for user names) and no network address anywhere.
fn no_socket_under_strace(plant: &Plant, args: &[&str], expected: &[u8]) -> Unavailable {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("strace.log");
    let out = match std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=%network", "-o"])
        .arg(&log)
        .arg(assert_cmd::cargo::cargo_bin("keytrail"))
        .args(args)
        .current_dir(plant.path())
        .env_remove("RUST_LOG")
        .output()
    {
        Ok(out) => out,
        Err(e) => return Some(format!("strace: {e}")),
    };
    let Ok(trace) = std::fs::read_to_string(&log) else {
        return Some(format!("strace did not run: {}", String::from_utf8_lossy(&out.stderr)));
    };
    assert_eq!(out.status.code(), Some(1), "under strace: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, expected, "the scan under strace gave another report");
    for line in trace.lines() {
        let network = line.contains("AF_INET")
            || line.contains("AF_NETLINK")
            || line.contains("AF_PACKET")
            || (line.contains("socket(") && !line.contains("(AF_UNIX") && !line.contains("(AF_LOCAL"))
            || (line.contains("sa_family=") && !line.contains("sa_family=AF_UNIX"));
        assert!(!network, "keytrail used the network:\n{line}\n\n{trace}");
    }
    None
}

/// The same scan in a user and network namespace of its own, which has no interface up: it must
/// give the same report as outside.
fn same_report_without_network(plant: &Plant, args: &[&str], expected: &[u8]) -> Unavailable {
    match std::process::Command::new("unshare").args(["-rn", "true"]).output() {
        Ok(probe) if probe.status.success() => {}
        Ok(probe) => return Some(format!("unshare -rn: {}", String::from_utf8_lossy(&probe.stderr).trim())),
        Err(e) => return Some(format!("unshare: {e}")),
    }
    let out = std::process::Command::new("unshare")
        .args(["-rn", "--"])
        .arg(assert_cmd::cargo::cargo_bin("keytrail"))
        .args(args)
        .current_dir(plant.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "without network: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, expected, "the scan without network gave another report");
    None
}

#[test]
fn a_full_scan_opens_no_network_socket() {
    let plant = plant();
    let args = ["scan", "-q", "--format", "sarif"];
    let expected = run(&plant, &args, &[], &[1]).stdout;
    assert!(String::from_utf8_lossy(&expected).contains("\"results\""));
    let traced = no_socket_under_strace(&plant, &args, &expected);
    let isolated = same_report_without_network(&plant, &args, &expected);
    if let (Some(a), Some(b)) = (&traced, &isolated) {
        let skip = std::env::var_os("KEYTRAIL_SKIP_NETNS_TEST").is_some_and(|v| v == "1");
        let why = format!(
            "cannot check that keytrail stays off the network: {a}; {b}. Install strace (Debian: apt-get \
             install strace) or allow unprivileged user namespaces, or set KEYTRAIL_SKIP_NETNS_TEST=1"
        );
        assert!(skip, "{why}");
        eprintln!("skipped: {why}");
    }
}
