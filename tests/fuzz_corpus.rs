//! Replays every file of the fuzz corpora (`fuzz/corpus/<target>/`) and every input that once
//! broke a target (`fuzz/regressions/<target>/`) through the target's own body, so that a fixed
//! bug cannot come back unnoticed and the corpora keep passing without `cargo fuzz`.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("matcher", keytrail::fuzz::matcher),
    ("decode_base64", keytrail::fuzz::decode_base64),
    ("decode_escapes", keytrail::fuzz::decode_escapes),
    ("decode_percent", keytrail::fuzz::decode_percent),
    ("rules", keytrail::fuzz::rules),
    ("config", keytrail::fuzz::config),
    ("inventory", keytrail::fuzz::inventory),
    ("staged_lines", keytrail::fuzz::staged_lines),
    ("delta", keytrail::fuzz::delta),
    ("objects", keytrail::fuzz::objects),
];

/// Runs every file under `dir/<target>/` through its target; returns how many ran and the
/// files that panicked.
fn replay(dir: &str) -> (usize, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir);
    let mut ran = 0;
    let mut failed = Vec::new();
    for (name, target) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(name)) else { continue };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).unwrap();
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    (ran, failed)
}

#[test]
fn every_target_has_a_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, _) in TARGETS {
        let files = std::fs::read_dir(root.join(name)).map(|d| d.count()).unwrap_or(0);
        assert!(files > 0, "fuzz/corpus/{name} is missing or empty");
    }
}

#[test]
fn corpus_replays_clean() {
    let (ran, failed) = replay("corpus");
    assert!(ran > 0, "no corpus file found");
    assert!(failed.is_empty(), "{} of {ran} corpus files break their target:\n{}", failed.len(), failed.join("\n"));
}

#[test]
fn regressions_stay_fixed() {
    let (ran, failed) = replay("regressions");
    assert!(failed.is_empty(), "{} of {ran} regression inputs break again:\n{}", failed.len(), failed.join("\n"));
}
