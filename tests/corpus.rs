//! The labelled detection corpus: a realistic monorepo and a git repository with history, both
//! generated at test time from a seeded PRNG, with planted fake credentials of well over 100
//! formats and many hard negatives. The real binary scans both; its findings are scored against
//! the labels (recall, precision, per family and per format).
//!
//! `KEYTRAIL_CORPUS_OUT=DIR cargo test --test corpus -- --ignored write_corpus` writes the corpus
//! to DIR (monorepo/, history/, labels.json, negatives.json) for scripts/compare-corpus.sh.
#[path = "corpus/cloud_scm.rs"]
mod cloud_scm;
#[path = "corpus/history.rs"]
mod history;
#[path = "corpus/keys_config.rs"]
mod keys_config;
#[path = "corpus/model.rs"]
mod model;
#[path = "corpus/negatives.rs"]
mod negatives;
#[path = "corpus/rng.rs"]
mod rng;
#[path = "corpus/saas.rs"]
mod saas;
#[path = "corpus/score.rs"]
mod score;
#[path = "corpus/tokens.rs"]
mod tokens;

use std::path::Path;

use model::{Corpus, Family, Label, Negative};

const SEED: u64 = 0x6b74_636f_7270_7573;

/// Writes the monorepo to `mono` and builds the history repository in `hist`.
fn generate(mono: &Path, hist: &Path) -> (Vec<Label>, Vec<Negative>) {
    let mut r = rng::Rng::new(SEED);
    let mut c = Corpus::new("monorepo");
    cloud_scm::cloud(&mut c, &mut r);
    cloud_scm::scm(&mut c, &mut r);
    saas::messaging(&mut c, &mut r);
    saas::payments(&mut c, &mut r);
    saas::ai(&mut c, &mut r);
    keys_config::keys(&mut c, &mut r);
    keys_config::config(&mut c, &mut r);
    negatives::negatives(&mut c, &mut r);
    filler(&mut c);
    c.write_to(mono);
    std::fs::create_dir_all(hist).unwrap();
    let mut r2 = rng::Rng::new(SEED ^ 0xfeed);
    let h = history::build(hist, &mut r2);
    let mut labels = c.labels;
    labels.extend(h.c.labels);
    let mut negs = c.negatives;
    negs.extend(h.c.negatives);
    check(&labels, &negs);
    (labels, negs)
}

/// Ordinary files with nothing secret in them, so the tree looks like a real project.
fn filler(c: &mut Corpus) {
    c.file("README.md", "# acme monorepo\n\nServices, apps, infrastructure and tooling of Acme.\n\nSee docs/ for set-up. Secrets come from Vault; never commit them.\n");
    c.file("web/package.json", "{\n  \"name\": \"web\",\n  \"private\": true,\n  \"scripts\": { \"build\": \"vite build\", \"test\": \"vitest\" },\n  \"dependencies\": { \"react\": \"^18.3.1\", \"stripe\": \"^15.0.0\" }\n}\n");
    c.file("web/src/App.tsx", "import { useState } from 'react';\n\nexport function App() {\n  const [count, setCount] = useState(0);\n  return <button onClick={() => setCount(count + 1)}>{count}</button>;\n}\n");
    c.file("services/gateway/main.go", "package main\n\nimport \"net/http\"\n\nfunc main() {\n\thttp.HandleFunc(\"/healthz\", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })\n\t_ = http.ListenAndServe(\":8080\", nil)\n}\n");
    c.file("services/reports/reports/__init__.py", "");
    c.file("services/reports/pyproject.toml", "[tool.poetry]\nname = \"reports\"\nversion = \"0.4.0\"\n\n[tool.poetry.dependencies]\npython = \"^3.11\"\ndjango = \"^5.0\"\n");
    c.file("Makefile", "test:\n\tcd web && npm test\n\tcd services/reports && poetry run pytest\n");
    c.file(
        "sdk/rust/Cargo.toml",
        "[package]\nname = \"acme-client\"\nversion = \"0.3.1\"\nedition = \"2021\"\n\n[dependencies]\nserde = \"1\"\n",
    );
    c.file(
        "k8s/prod/kustomization.yaml",
        "resources:\n  - ingress.yaml\n  - ledger-secrets.yaml\n  - api-tls-secret.yaml\n",
    );
    c.file("docs/runbooks/rotate-credentials.md", "# Rotating a leaked credential\n\n1. Revoke it at the provider.\n2. Issue a new one and store it in Vault.\n3. Purge it from git history (git filter-repo).\n");
}

/// The corpus must be unambiguous: no two labels, and no label and negative, share a line.
fn check(labels: &[Label], negs: &[Negative]) {
    let overlap = |r1: &str, p1: &str, a1: usize, b1: usize, r2: &str, p2: &str, a2: usize, b2: usize| {
        r1 == r2 && p1 == p2 && a1 <= b2 && a2 <= b1
    };
    for (i, a) in labels.iter().enumerate() {
        for b in &labels[i + 1..] {
            assert!(
                !overlap(a.repo, &a.path, a.first_line, a.last_line, b.repo, &b.path, b.first_line, b.last_line),
                "labels overlap: {a:?} {b:?}"
            );
        }
        for n in negs {
            assert!(
                !overlap(a.repo, &a.path, a.first_line, a.last_line, n.repo, &n.path, n.first_line, n.last_line),
                "label and negative overlap: {a:?} {n:?}"
            );
        }
    }
}

fn run_keytrail(dir: &Path, repo: &'static str) -> Vec<score::Finding> {
    let out = assert_cmd::Command::cargo_bin("keytrail")
        .unwrap()
        .env("RUST_BACKTRACE", "0")
        .args(["scan", "--format", "json", "-q"])
        .arg(dir)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "keytrail failed on {repo}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("keytrail JSON");
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| score::Finding {
            repo,
            path: f["path"].as_str().unwrap_or_default().trim_start_matches("./").to_string(),
            line: f["line"].as_u64().unwrap_or(0) as usize,
            rule: f["rule_id"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

#[test]
fn corpus_recall_and_precision() {
    let root = tempfile::tempdir().unwrap();
    let (mono, hist) = (root.path().join("monorepo"), root.path().join("history"));
    let t0 = std::time::Instant::now();
    let (labels, negatives) = generate(&mono, &hist);
    let generated = t0.elapsed();
    let mut findings = run_keytrail(&mono, "monorepo");
    findings.extend(run_keytrail(&hist, "history"));
    let outcome = score::score(&labels, &negatives, &findings);
    let s = score::summarize(&labels, &negatives, &outcome);
    println!("{}", s.table);
    println!("generated in {generated:.2?}");
    let weak: Vec<String> =
        s.family_recall.iter().filter(|(_, r)| **r < 0.90).map(|(f, r)| format!("{} {r:.3}", f.name())).collect();
    assert!(s.recall >= 0.97, "overall recall {:.3} < 0.97", s.recall);
    assert!(s.precision >= 0.97, "overall precision {:.3} < 0.97", s.precision);
    assert!(weak.is_empty(), "family recall below 0.90: {}", weak.join(", "));
}

#[test]
fn corpus_generation_is_deterministic_and_checksums_are_valid() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (la, _) = generate(&a.path().join("m"), &a.path().join("h"));
    let (lb, _) = generate(&b.path().join("m"), &b.path().join("h"));
    let key = |l: &Label| (l.path.clone(), l.first_line, l.last_line, l.format.clone(), l.commit.clone());
    assert_eq!(la.iter().map(key).collect::<Vec<_>>(), lb.iter().map(key).collect::<Vec<_>>());
    for rel in ["services/uploader/.env", "ops/aws/credentials"] {
        assert_eq!(
            std::fs::read(a.path().join("m").join(rel)).unwrap(),
            std::fs::read(b.path().join("m").join(rel)).unwrap()
        );
    }
    let mut r = rng::Rng::new(1);
    let t = r.crc_token("ghp_");
    assert_eq!(&t[34..], rng::base62_crc32(&t.as_bytes()[4..34]));
    let bad = r.crc_token_bad("ghp_");
    assert_ne!(&bad[34..], rng::base62_crc32(&bad.as_bytes()[4..34]));
    assert!(FAMILIES_COVERED.iter().all(|f| la.iter().any(|l| l.family == *f)));
}

const FAMILIES_COVERED: [Family; 7] = model::FAMILIES;

#[test]
#[ignore = "writes the corpus to $KEYTRAIL_CORPUS_OUT"]
fn write_corpus() {
    let out = std::path::PathBuf::from(std::env::var("KEYTRAIL_CORPUS_OUT").expect("set KEYTRAIL_CORPUS_OUT=DIR"));
    for sub in ["monorepo", "history"] {
        let p = out.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(&p).unwrap();
        }
    }
    std::fs::create_dir_all(&out).unwrap();
    let (labels, negatives) = generate(&out.join("monorepo"), &out.join("history"));
    std::fs::write(out.join("labels.json"), serde_json::to_string_pretty(&model::labels_json(&labels)).unwrap())
        .unwrap();
    std::fs::write(
        out.join("negatives.json"),
        serde_json::to_string_pretty(&model::negatives_json(&negatives)).unwrap(),
    )
    .unwrap();
    eprintln!("wrote {} labels and {} negatives to {}", labels.len(), negatives.len(), out.display());
}
