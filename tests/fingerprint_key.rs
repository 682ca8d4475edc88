//! Fingerprints keyed with an organisation's secret (`KEYTRAIL_FINGERPRINT_KEY`).
mod common;

use common::{keytrail, write, Fake};

fn fingerprints(dir: &std::path::Path, key: Option<&str>) -> Vec<String> {
    let mut cmd = keytrail();
    cmd.args(["scan", ".", "--format", "json", "-q"]).current_dir(dir);
    match key {
        Some(k) => cmd.env("KEYTRAIL_FINGERPRINT_KEY", k),
        None => cmd.env_remove("KEYTRAIL_FINGERPRINT_KEY"),
    };
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["findings"].as_array().unwrap().iter().map(|f| f["fingerprint"].as_str().unwrap().to_string()).collect()
}

#[test]
fn keyed_fingerprints_differ_by_key_and_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fake::new(41);
    write(dir.path(), "app.env", format!("DB_PASSWORD={}\nGITHUB_TOKEN={}\n", f.password(), f.github_pat()));
    let plain = fingerprints(dir.path(), None);
    let key_a = "a".repeat(32);
    let keyed = fingerprints(dir.path(), Some(&key_a));
    assert_eq!(plain.len(), 2);
    assert!(plain.iter().all(|fp| fp.starts_with("kt1:")), "{plain:?}");
    assert!(keyed.iter().all(|fp| fp.starts_with("kt1k:") && fp.len() == 5 + 32), "{keyed:?}");
    assert_eq!(keyed, fingerprints(dir.path(), Some(&key_a)), "stable under one key");
    let other = fingerprints(dir.path(), Some(&"b".repeat(32)));
    assert!(other.iter().all(|fp| !keyed.contains(fp)), "another key, other fingerprints");
    let hex = |fp: &String| fp.split_once(':').unwrap().1.to_string();
    assert!(keyed.iter().all(|k| !plain.iter().any(|p| hex(p) == hex(k))));

    // A keyed fingerprint is accepted wherever fingerprints are written down.
    write(dir.path(), ".keytrailignore", format!("{}\n", keyed[0]));
    let out = keytrail()
        .args(["scan", ".", "--format", "json", "-q"])
        .env("KEYTRAIL_FINGERPRINT_KEY", &key_a)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["stats"]["ignored"], 1, "{json}");
}

#[test]
fn an_empty_or_short_key_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for key in ["", "short"] {
        let out = keytrail()
            .args(["scan", "."])
            .env("KEYTRAIL_FINGERPRINT_KEY", key)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("KEYTRAIL_FINGERPRINT_KEY is set but holds"), "{err}");
        assert!(!err.contains("short"), "the key itself is never echoed: {err}");
    }
}
