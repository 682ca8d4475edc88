//! Non-human identities end to end: a repository with secrets in several states and an inventory
//! that claims some of them; every governance state and risk id is checked through JSON and SARIF,
//! and the `inventory` commands are run against it.
mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{commit_all, repo, run, write, Fake};
use keytrail::finding::fingerprint;
use serde_json::Value;

struct Fixture {
    dir: tempfile::TempDir,
    pat: String,
    key_id: String,
}

const INVENTORY: &str = ".keytrail/inventory.toml";

/// The repository: a retired Stripe key still in two environments' files, a personal access
/// token in a CI workflow, an AWS key past its rotation period (claimed by key id), a database
/// password within policy, an unencrypted private key, a Slack token only in history, and an
/// inventory entry whose secret is nowhere.
fn fixture() -> Fixture {
    let dir = repo();
    let d = dir.path();
    let mut f = Fake::new(5);
    let stripe = f.stripe_live();
    write(d, "config/prod.env", format!("STRIPE_SECRET_KEY={stripe}\n"));
    write(d, "config/staging.env", format!("STRIPE_SECRET_KEY={stripe}\n"));
    let pat = f.github_pat();
    write(d, ".github/workflows/deploy.yml", format!("jobs:\n  deploy:\n    env:\n      GH_TOKEN: {pat}\n"));
    let key_id = f.aws_key_id();
    let key_secret = f.aws_secret();
    write(
        d,
        "app/settings.py",
        format!("AWS_ACCESS_KEY_ID = \"{key_id}\"\nAWS_SECRET_ACCESS_KEY = \"{key_secret}\"\n"),
    );
    let db_password = f.alnum(20);
    write(
        d,
        "docker-compose.yml",
        format!("services:\n  api:\n    environment:\n      DATABASE_URL: postgres://app:{db_password}@db.internal:5432/orders\n"),
    );
    write(d, "keys/signing.pem", f.pem_private_key());
    commit_all(d, "initial");
    write(d, "scripts/notify.sh", format!("SLACK_TOKEN={}\n", f.slack_bot()));
    commit_all(d, "notify the channel");
    std::fs::remove_file(d.join("scripts/notify.sh")).unwrap();
    commit_all(d, "drop the notifier");

    let inventory = format!(
        r#"# Lifecycle inventory of the service's machine identities.
version = 1

# Payments
[[identity]]
id = "payments-stripe-live"
owner = "team-payments"
purpose = "charges cards from checkout"
kind = "api_key"
provider = "stripe"
fingerprints = ["{stripe_fp}"]
status = "retired"   # replaced by the v2 checkout key
retire_when = "checkout v1 is shut down"

[[identity]]
id = "ci-aws-deployer"
owner = "team-platform"
provider = "aws"
identifiers = ["{key_id}"]
created = 2019-06-01
last_rotated = 2020-01-01
rotate_every = "90d"
status = "active"

[[identity]]
id = "orders-db"
owner = "team-orders"
kind = "database_credential"
fingerprints = ["{db_fp}"]
last_rotated = 2026-10-01
rotate_every = "10y"
status = "active"
environments = ["prod"]

[[identity]]
id = "growth-sendgrid"
owner = "team-growth"
provider = "sendgrid"
fingerprints = ["kt1:{zeros}"]
status = "active"
"#,
        stripe_fp = fingerprint(stripe.as_bytes()),
        db_fp = fingerprint(db_password.as_bytes()),
        zeros = "0".repeat(32),
    );
    write(d, INVENTORY, inventory);
    Fixture { dir, pat, key_id }
}

fn scan(dir: &Path, format: &str) -> Value {
    let (code, out, err) = run(dir, &["scan", "-q", "--format", format]);
    assert_eq!(code, 1, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn risk_ids(v: &Value) -> BTreeSet<String> {
    v.as_array().unwrap().iter().map(|r| r.get("id").unwrap_or(r).as_str().unwrap().to_string()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The finding of `rule` at `path` in a JSON report.
fn finding<'a>(report: &'a Value, rule: &str, path: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == rule && f["path"] == path)
        .unwrap_or_else(|| panic!("no {rule} finding at {path}"))
}

#[test]
fn governance_states_and_risks_in_json() {
    let fx = fixture();
    let report = scan(fx.dir.path(), "json");

    let stripe = finding(&report, "stripe-secret-key", "config/prod.env");
    assert_eq!(stripe["governance"], "offboarding-failure");
    assert_eq!(stripe["inventory"]["id"], "payments-stripe-live");
    assert_eq!(stripe["inventory"]["owner"], "team-payments");
    assert_eq!(stripe["inventory"]["status"], "retired");
    assert_eq!(risk_ids(&stripe["risks"]), set(&["NHI1", "NHI2", "NHI8", "NHI9"]));
    let reasons = stripe["risks"].to_string();
    assert!(reasons.contains("retired") && reasons.contains("prod, staging"), "{reasons}");

    let aws = finding(&report, "aws-access-key-id", "app/settings.py");
    assert_eq!(aws["inventory"]["id"], "ci-aws-deployer", "linked by its key id");
    assert_eq!(aws["governance"], "rotation-overdue");
    assert_eq!(risk_ids(&aws["risks"]), set(&["NHI2", "NHI7"]));
    assert!(aws["nhi"]["identifier"].as_str().unwrap().starts_with("aws:"), "{}", aws["nhi"]);
    assert!(!aws["nhi"]["identifier"].as_str().unwrap().contains(&fx.key_id), "the identifier abbreviates the key id");
    assert_eq!(aws["nhi"]["details"]["key_type"], "long-term");

    let db = finding(&report, "database-url-password", "docker-compose.yml");
    assert_eq!(db["governance"], "managed");
    assert_eq!(risk_ids(&db["risks"]), set(&["NHI2", "NHI4"]));

    let pat = finding(&report, "github-pat-classic", ".github/workflows/deploy.yml");
    assert_eq!(pat["governance"], "unmanaged");
    assert_eq!(pat["inventory"], Value::Null);
    assert_eq!(risk_ids(&pat["risks"]), set(&["NHI10", "NHI2", "NHI7"]), "first seen 2025-03-01, no policy");
    assert_eq!(pat["nhi"]["details"]["token_type"], "classic-pat");

    let key = finding(&report, "private-key", "keys/signing.pem");
    assert!(risk_ids(&key["risks"]).contains("NHI4"), "unencrypted private key");

    let slack = report["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "slack-bot-token").unwrap();
    assert_eq!(slack["source"], "history");
    let identity = report["identities"].as_array().unwrap().iter().find(|i| i["rule_id"] == "slack-bot-token").unwrap();
    assert_eq!(identity["at_head"], false);
    assert_eq!(identity["first_seen"], "2025-03-01");

    let stripe_identity =
        report["identities"].as_array().unwrap().iter().find(|i| i["rule_id"] == "stripe-secret-key").unwrap();
    assert_eq!(stripe_identity["paths"], 2);
    assert_eq!(stripe_identity["environments"], serde_json::json!(["prod", "staging"]));
    assert!(stripe_identity["first_commit"].as_str().is_some_and(|c| c.len() == 40));
    // Reports never hold the secret itself.
    assert!(!report.to_string().contains(&fx.pat));
}

#[test]
fn sarif_results_carry_identity_inventory_and_risks() {
    let fx = fixture();
    let sarif = scan(fx.dir.path(), "sarif");
    let run = &sarif["runs"][0];
    let names: Vec<&str> = run["taxonomies"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["OWASP NHI Top 10", "CWE"]);
    assert_eq!(run["taxonomies"][0]["taxa"].as_array().unwrap().len(), 10);
    let results = run["results"].as_array().unwrap();
    let stripe = results
        .iter()
        .find(|r| {
            r["ruleId"] == "stripe-secret-key"
                && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "config/prod.env"
        })
        .unwrap();
    let message = stripe["message"]["text"].as_str().unwrap();
    assert!(
        message.starts_with("Stripe live secret key owned by team-payments (retired) is still in code."),
        "{message}"
    );
    let props = &stripe["properties"];
    assert_eq!(props["governance"], "offboarding-failure");
    assert_eq!(props["inventory"]["id"], "payments-stripe-live");
    assert_eq!(risk_ids(&props["risks"]), set(&["NHI1", "NHI2", "NHI8", "NHI9"]));
    assert_eq!(props["nhi"]["provider"], "stripe");
    assert_eq!(props["nhi"]["lifetime"], "long-lived");
    assert_eq!(stripe["partialFingerprints"]["keytrail/v1"], props["fingerprint"]);
    let taxa: BTreeSet<&str> = stripe["taxa"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert!(taxa.contains("NHI1") && taxa.contains("798"), "{taxa:?}");

    let pat = results.iter().find(|r| r["ruleId"] == "github-pat-classic").unwrap();
    assert!(pat["message"]["text"].as_str().unwrap().contains("with no inventory entry is in code."));
    assert_eq!(pat["properties"]["inventory"], Value::Null);
    let slack = results.iter().find(|r| r["ruleId"] == "slack-bot-token").unwrap();
    assert!(slack["message"]["text"].as_str().unwrap().contains("is in git history."), "{}", slack["message"]);

    let rule =
        run["tool"]["driver"]["rules"].as_array().unwrap().iter().find(|r| r["id"] == "stripe-secret-key").unwrap();
    let help = rule["help"]["markdown"].as_str().unwrap();
    assert!(help.contains("**Rotate.**") && help.contains("**Revoke.**"), "{help}");
    let tags: Vec<&str> = rule["properties"]["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tags.contains(&"external/cwe/cwe-798") && tags.contains(&"api_key") && tags.contains(&"NHI2"), "{tags:?}");
}

#[test]
fn sarif_and_json_agree_on_every_finding() {
    let fx = fixture();
    let json = scan(fx.dir.path(), "json");
    let sarif = scan(fx.dir.path(), "sarif");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(results.len(), findings.len());
    let mut states = BTreeSet::new();
    let mut risks = BTreeSet::new();
    for f in findings {
        let r = results
            .iter()
            .find(|r| {
                r["properties"]["fingerprint"] == f["fingerprint"]
                    && r["locations"][0]["physicalLocation"]["region"]["startLine"] == f["line"]
                    && r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == f["path"]
            })
            .unwrap_or_else(|| panic!("no SARIF result for {f}"));
        let props = &r["properties"];
        assert_eq!(props["governance"], f["governance"], "{f}");
        assert_eq!(props["inventory"], f["inventory"], "{f}");
        assert_eq!(risk_ids(&props["risks"]), risk_ids(&f["risks"]), "{f}");
        assert_eq!(props["nhi"]["identifier"], f["nhi"]["identifier"], "{f}");
        let taxa: BTreeSet<String> = r["taxa"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["toolComponent"]["name"] == "OWASP NHI Top 10")
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(taxa, risk_ids(&f["risks"]), "results refer to their risks' taxa");
        states.insert(f["governance"].as_str().unwrap().to_string());
        risks.extend(risk_ids(&f["risks"]));
    }
    assert_eq!(states, set(&["managed", "offboarding-failure", "rotation-overdue", "unmanaged"]));
    assert_eq!(risks, set(&["NHI1", "NHI10", "NHI2", "NHI4", "NHI7", "NHI8", "NHI9"]));
}

#[test]
fn inventory_check_reports_drift() {
    let fx = fixture();
    let (code, out, _) = run(fx.dir.path(), &["inventory", "check"]);
    assert_eq!(code, 1, "{out}");
    for expected in [
        "unmanaged: github:classic-pat",
        "offboarding failure:",
        "rotation overdue:",
        "not found: entry `growth-sendgrid`",
    ] {
        assert!(out.contains(expected), "`{expected}` missing from:\n{out}");
    }
    assert!(!out.contains("orders-db"), "a managed identity is no drift:\n{out}");
}

#[test]
fn inventory_sync_adds_unmanaged_identities_once_and_keeps_comments() {
    let fx = fixture();
    let d = fx.dir.path();
    let before = std::fs::read_to_string(d.join(INVENTORY)).unwrap();
    let (code, _, err) = run(d, &["inventory", "sync"]);
    assert_eq!(code, 0, "{err}");
    let after = std::fs::read_to_string(d.join(INVENTORY)).unwrap();
    assert!(after.starts_with(before.trim_end()), "existing entries and comments are kept");
    assert!(after.contains("# replaced by the v2 checkout key"));
    assert!(after.contains("owner = \"unassigned\""));
    assert!(after.contains(&format!("\"{}\"", fingerprint(fx.pat.as_bytes()))));
    assert!(after.contains("created = 2025-03-01"), "created is the first commit's date:\n{after}");
    let (code, _, _) = run(d, &["inventory", "sync"]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(d.join(INVENTORY)).unwrap(), after, "a second sync changes nothing");

    let report = scan(d, "json");
    let unmanaged: Vec<&Value> =
        report["findings"].as_array().unwrap().iter().filter(|f| f["governance"] == "unmanaged").collect();
    assert!(unmanaged.is_empty(), "{unmanaged:?}");
}

#[test]
fn inventory_export_in_every_format() {
    let fx = fixture();
    let d = fx.dir.path();
    let report = scan(d, "json");
    let identities = report["identities"].as_array().unwrap().len();
    // Every identity found, plus the one entry whose secret was not.
    let rows = identities + 1;

    let (code, out, err) = run(d, &["inventory", "export", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json.as_array().unwrap().len(), rows);
    let absent = json.as_array().unwrap().iter().find(|r| r["id"] == "growth-sendgrid").unwrap();
    assert_eq!(absent["presence"], "absent");
    let stripe = json.as_array().unwrap().iter().find(|r| r["id"] == "payments-stripe-live").unwrap();
    assert_eq!(stripe["owner"], "team-payments");
    assert_eq!(stripe["locations"], 2);
    assert_eq!(stripe["presence"], "head");

    let (_, csv, _) = run(d, &["inventory", "export", "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,owner,kind,provider,identifier,status,governance,risks,locations,first_seen,presence,fingerprint"
    );
    assert_eq!(lines.len(), rows + 1);

    let (_, md, _) = run(d, &["inventory", "export", "--format", "markdown"]);
    let lines: Vec<&str> = md.lines().collect();
    assert!(lines[0].starts_with("| id | owner |") && lines[1].starts_with("|---|"));
    assert_eq!(lines.len(), rows + 2);
}

#[test]
fn an_invalid_inventory_stops_before_scanning() {
    let fx = fixture();
    let d = fx.dir.path();
    let text = std::fs::read_to_string(d.join(INVENTORY)).unwrap();
    write(
        d,
        INVENTORY,
        text.replace(
            "status = \"active\"\n\n[[identity]]\nid = \"orders-db\"",
            "status = \"paused\"\n\n[[identity]]\nid = \"orders-db\"",
        ),
    );
    let (code, out, err) = run(d, &["scan", "--format", "json"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "nothing scanned, nothing reported");
    assert!(
        err.contains(".keytrail/inventory.toml:") && err.contains("ci-aws-deployer") && err.contains("paused"),
        "{err}"
    );

    write(d, INVENTORY, "version = 1\n[[identity]]\nid = \"a\"\nowner = \"x\"\ncolour = \"red\"\n");
    let (code, _, err) = run(d, &["scan"]);
    assert_eq!(code, 2);
    assert!(err.contains(":5:") && err.contains("colour"), "{err}");

    write(d, INVENTORY, "version = 1\n[[identity]\nid = \"a\"\n");
    let (code, _, err) = run(d, &["inventory", "check"]);
    assert_eq!(code, 2);
    assert!(err.contains(".keytrail/inventory.toml:2"), "{err}");
}

/// Writes SARIF logs for `.ci/run` to validate with `scripts/validate-sarif.sh`: the fixture with
/// its inventory (files and history), and an empty scan.
///
///     KEYTRAIL_SARIF_OUT=DIR cargo test --test nhi -- --ignored write_sarif_samples
#[test]
#[ignore]
fn write_sarif_samples() {
    let out = std::path::PathBuf::from(std::env::var("KEYTRAIL_SARIF_OUT").expect("KEYTRAIL_SARIF_OUT names a folder"));
    std::fs::create_dir_all(&out).unwrap();
    let fx = fixture();
    let d = fx.dir.path();
    for (name, extra) in [("nhi-fixture", vec![]), ("nhi-fixture-history", vec!["--history-only"])] {
        let target = out.join(format!("{name}.sarif"));
        let mut args = vec!["scan", "-q", "--format", "sarif", "-o", target.to_str().unwrap()];
        args.extend(extra);
        let (code, _, err) = run(d, &args);
        assert_eq!(code, 1, "{err}");
    }
    let empty = tempfile::tempdir().unwrap();
    write(empty.path(), "README.md", "nothing here\n");
    let target = out.join("empty.sarif");
    let (code, _, err) = run(empty.path(), &["scan", "-q", "--format", "sarif", "-o", target.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}
