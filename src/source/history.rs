//! The history half of a scan root: which repositories it covers, how their repository-relative
//! paths map onto the root's, and how history findings join the working tree's.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::finding::Source;
use crate::matcher::Matcher;
use crate::scan::{Notice, Report, ScanOptions};
use crate::source::fs::{display_root, slash_path};
use crate::source::git::{self, GitOptions};

/// How a repository's paths appear in a root's report.
struct PathMap {
    /// Keep only paths under this repository-relative folder (the root is inside the work tree).
    within: Option<String>,
    /// Put this before every kept path (the repository is inside the root, or several roots).
    prefix: String,
}

impl PathMap {
    fn apply(&self, repo_path: &str) -> Option<String> {
        let rel = match &self.within {
            Some(w) => repo_path.strip_prefix(w.as_str())?.strip_prefix('/')?,
            None => repo_path,
        };
        Some(format!("{}{rel}", self.prefix))
    }
}

/// Scans the history of every repository the root is in or holds.
pub fn scan_root(
    matcher: &Matcher,
    config: &Config,
    options: &ScanOptions,
    root: &Path,
    several_roots: bool,
) -> Report {
    let mut report = Report::default();
    if !root.is_dir() {
        return report;
    }
    let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let root_prefix = if several_roots {
        let d = display_root(root);
        if d == "." {
            String::new()
        } else {
            format!("{}/", d.trim_end_matches('/'))
        }
    } else {
        String::new()
    };
    let repos: Vec<PathBuf> = match git::open(root) {
        Some(_) => vec![root.to_path_buf()],
        None => git::find_repositories(root),
    };
    for repo_dir in repos {
        let Some(repo) = git::open(&repo_dir) else {
            report
                .errors
                .push(Notice { path: display_root(&repo_dir), message: "not a readable git repository".into() });
            continue;
        };
        let base = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
        let base = std::fs::canonicalize(&base).unwrap_or(base);
        let map = if let Ok(inside) = canonical_root.strip_prefix(&base) {
            let within = slash_path(inside);
            PathMap { within: (!within.is_empty()).then_some(within), prefix: root_prefix.clone() }
        } else if let Ok(below) = base.strip_prefix(&canonical_root) {
            PathMap { within: None, prefix: format!("{root_prefix}{}/", slash_path(below)) }
        } else {
            PathMap { within: None, prefix: root_prefix.clone() }
        };
        scan_repository(&repo, matcher, config, options, &map, &mut report);
    }
    report
}

fn scan_repository(
    repo: &git2::Repository,
    matcher: &Matcher,
    config: &Config,
    options: &ScanOptions,
    map: &PathMap,
    report: &mut Report,
) {
    let shown = map.prefix.trim_end_matches('/').to_string();
    let shown = if shown.is_empty() { ".".to_string() } else { shown };
    report.stats.repositories += 1;
    if repo.is_shallow() {
        report.skipped.push(Notice {
            path: shown.clone(),
            message: "shallow clone: history before the graft is not in the repository".into(),
        });
    }
    let opts = GitOptions {
        max_blob_size: options.max_file_size,
        threads: options.threads,
        show_secrets: options.show_secrets,
    };
    let blobs = match git::scan_all_blobs(repo, matcher, &opts, report) {
        Ok(b) => b,
        Err(e) => {
            report.errors.push(Notice { path: shown, message: e.to_string() });
            return;
        }
    };
    let commits = match git::all_commits(repo) {
        Ok(c) => c,
        Err(e) => {
            report.errors.push(Notice { path: shown, message: format!("cannot walk history: {}", e.message()) });
            return;
        }
    };
    report.stats.commits += commits.len() as u64;
    if blobs.is_empty() {
        return;
    }
    let at_head = git::fingerprints_at_head(repo, &blobs);
    for mut f in git::introductions(repo, &commits, |oid| blobs.get(&oid).cloned(), report) {
        let Some(path) = map.apply(&f.path) else { continue };
        if config.path_allowed(&path) {
            continue;
        }
        f.path = path;
        f.source = Source::History;
        if let Some(h) = f.history.as_mut() {
            h.present_at_head = at_head.contains(&f.fingerprint);
        }
        report.findings.push(f);
    }
}

/// Joins history findings to the working tree's: a file's finding takes the provenance of the
/// latest commit that introduced the same secret at the same path, and that history finding is
/// not repeated. Earlier introductions (a secret removed and added back) stay as history findings.
pub fn merge_into(files: &mut Report, history: Report) {
    let mut latest: HashMap<(String, String), usize> = HashMap::new();
    for (i, f) in history.findings.iter().enumerate() {
        latest.insert((f.path.clone(), f.fingerprint.clone()), i);
    }
    let mut absorbed = vec![false; history.findings.len()];
    for f in files.findings.iter_mut() {
        if let Some(&i) = latest.get(&(f.path.clone(), f.fingerprint.clone())) {
            let mut prov = history.findings[i].history.clone();
            if let Some(p) = prov.as_mut() {
                p.present_at_head = true;
            }
            f.history = prov;
            absorbed[i] = true;
        }
    }
    let Report { findings, stats, errors, skipped } = history;
    files.findings.extend(findings.into_iter().zip(absorbed).filter(|(_, a)| !a).map(|(f, _)| f));
    files.stats.add(&stats);
    files.errors.extend(errors);
    files.skipped.extend(skipped);
}
