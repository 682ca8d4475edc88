//! The history half of a scan root: which repositories it covers, how their repository-relative
//! paths map onto the root's, and how history findings join the working tree's.
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::finding::Source;
use crate::matcher::Matcher;
use crate::scan::{Notice, Report, ScanOptions};
use crate::source::fs::{display_root, human_bytes, slash_path};
use crate::source::git::{self, GitOptions};
use crate::source::known::{Known, KnownTree};
use crate::source::store::ObjectStore;
use std::sync::Arc;

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

/// libgit2 re-hashes every object it reads (SHA-1 with collision detection), which cost more than
/// the provenance walk's tree diffs themselves; `git` does not re-hash on read either, and a
/// damaged object still fails to inflate or parse.
///
/// Its defaults also made memory grow with the history (BENCHMARKS.md, "Memory"): the provenance
/// walk parses every changed tree of every commit, and libgit2 kept each parsed tree of up to
/// 4 KiB in a process-wide cache of up to 256 MiB, and mapped packs in 1 GiB windows up to 8 GiB,
/// so every page the walk touched stayed resident. A tree is read at most twice (as a commit's
/// tree, then as its child's parent tree) and its second read comes from libgit2's small delta
/// base cache, so trees are not cached, and packs are mapped 32 MiB at a time, 64 MiB at most.
/// The settings are process-wide, hence once.
fn configure_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        git2::opts::strict_hash_verification(false);
        // SAFETY: process-wide settings written once, before any libgit2 call of the scan.
        unsafe {
            let _ = git2::opts::set_cache_object_limit(git2::ObjectType::Tree, 0);
            let _ = git2::opts::set_mwindow_size(32 << 20);
            let _ = git2::opts::set_mwindow_mapped_limit(64 << 20);
        }
    });
}

/// Scans the history of every repository the root is in or holds.
pub fn scan_root(
    matcher: &Matcher,
    config: &Config,
    options: &ScanOptions,
    root: &Path,
    several_roots: bool,
) -> (Report, Known) {
    let mut report = Report::default();
    let mut known = Known::default();
    if !root.is_dir() {
        return (report, known);
    }
    configure_libgit2();
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
        let repo = match git::open_or_why(&repo_dir) {
            Ok(repo) => repo,
            Err(why) => {
                report.errors.push(Notice {
                    path: display_root(&repo_dir),
                    message: format!("not a readable git repository: {why}; its history is not scanned"),
                });
                continue;
            }
        };
        let base = repository_base(&repo);
        let map = if let Ok(inside) = canonical_root.strip_prefix(&base) {
            let within = slash_path(inside);
            PathMap { within: (!within.is_empty()).then_some(within), prefix: root_prefix.clone() }
        } else if let Ok(below) = base.strip_prefix(&canonical_root) {
            PathMap { within: None, prefix: format!("{root_prefix}{}/", slash_path(below)) }
        } else {
            PathMap { within: None, prefix: root_prefix.clone() }
        };
        if let Some(blobs) = scan_repository(&repo, matcher, config, options, &map, &mut report) {
            known.trees.extend(KnownTree::new(&repo, root, blobs));
        }
    }
    (report, known)
}

fn scan_repository(
    repo: &git2::Repository,
    matcher: &Matcher,
    config: &Config,
    options: &ScanOptions,
    map: &PathMap,
    report: &mut Report,
) -> Option<Arc<git::HistoryBlobs>> {
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
        progress: options.progress.clone(),
    };
    let blobs = match git::scan_all_blobs(repo, matcher, &opts, report) {
        Ok(b) => Arc::new(b),
        Err(e) => {
            report.errors.push(Notice { path: shown, message: e.to_string() });
            return None;
        }
    };
    let store = ObjectStore::of_repository(repo);
    let objects = git::Objects { repo, store: &store, damaged: &blobs.damaged };
    let walk = git::all_commits(&objects);
    for message in walk.errors {
        report.errors.push(Notice { path: shown.clone(), message });
    }
    for message in walk.notes {
        report.skipped.push(Notice { path: shown.clone(), message });
    }
    let commits = walk.commits;
    report.stats.commits += commits.len() as u64;
    if blobs.findings.is_empty() && blobs.too_large.is_empty() {
        return Some(blobs);
    }
    let at_head = git::fingerprints_at_head(&objects, &blobs.findings);
    for mut f in git::introductions(&objects, &commits, |oid| blobs.scan(oid), report) {
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
    Some(blobs)
}

/// The folder a repository's paths are relative to: its work tree, or the repository itself when
/// bare; canonical, so it compares with canonical roots.
fn repository_base(repo: &git2::Repository) -> PathBuf {
    let base = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
    std::fs::canonicalize(&base).unwrap_or(base)
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
    let Report { findings, stats, errors, skipped, identities: _ } = history;
    files.findings.extend(findings.into_iter().zip(absorbed).filter(|(_, a)| !a).map(|(f, _)| f));
    files.stats.add(&stats);
    files.errors.extend(errors);
    files.skipped.extend(skipped);
}

/// A part of a repository's history chosen by the user instead of all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// What the index adds over HEAD (`--staged`).
    Staged,
    /// The commits of `BASE..HEAD` or `BASE...HEAD` (`--range`).
    Range(String),
    /// What `git push` is sending: `(local tip, remote tip if the remote has one)` per ref, and the
    /// remote's name, whose tracking refs count as already pushed.
    Push { updates: Vec<(String, Option<String>)>, remote: Option<String> },
}

/// Scans a selection of the history of the repository `root` is in.
pub fn scan_selection(
    matcher: &Matcher,
    config: &Config,
    options: &ScanOptions,
    root: &Path,
    selection: &Selection,
) -> Report {
    let mut report = Report::default();
    let shown = display_root(root);
    let repo = match git::open_or_why(root) {
        Ok(repo) => repo,
        Err(why) => {
            report.errors.push(Notice {
                path: shown,
                message: format!("not in a git repository (--staged, --range and pre-push need one): {why}"),
            });
            return report;
        }
    };
    // libgit2 reads commits and trees of its own accord here (walking, parsing revisions,
    // diffing the index), and loops forever on a truncated loose one: with such an object, the
    // scan stops before it starts. Other damage makes libgit2 fail at once, and is named.
    let damaged = crate::source::pack::damaged_loose_objects(&repo);
    let hangs = damaged.iter().filter(|(_, e)| e.truncated && !e.blob).count();
    let damaged_ids: HashSet<git2::Oid> = damaged.iter().map(|(oid, _)| *oid).collect();
    let git_dir = repo.path().display().to_string();
    let named = damaged.into_iter().map(|(oid, e)| (oid, e.message)).collect();
    for message in crate::source::pack::name_damaged(named, "loose objects") {
        report.errors.push(Notice { path: git_dir.clone(), message });
    }
    if hangs > 0 {
        report.errors.push(Notice {
            path: shown,
            message: format!(
                "nothing was scanned: {hangs} truncated loose object{} (named) may be commits or trees, which \
                 the history walk cannot read past; `git fsck` lists the damage",
                if hangs == 1 { "" } else { "s" }
            ),
        });
        return report;
    }
    let store = ObjectStore::of_repository(&repo);
    let objects = git::Objects { repo: &repo, store: &store, damaged: &damaged_ids };
    let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let base = repository_base(&repo);
    let within = canonical_root.strip_prefix(&base).map(slash_path).ok().filter(|w| !w.is_empty());
    let map = PathMap { within, prefix: String::new() };
    report.stats.repositories += 1;
    let mut blobs = git::LazyBlobs::new(&repo, matcher, options.max_file_size, options.show_secrets);
    let found = match selection {
        Selection::Staged => match git::staged_findings(&repo, &mut blobs) {
            Ok(f) => f,
            Err(e) => {
                report.errors.push(Notice { path: shown, message: format!("cannot read the index: {}", e.message()) });
                return report;
            }
        },
        Selection::Range(spec) => match git::range_commits(&objects, spec) {
            Ok((commits, tip)) => introduced(&objects, &commits, tip, &mut blobs, &mut report),
            Err(message) => {
                report.errors.push(Notice { path: shown, message: format!("bad --range: {message}") });
                return report;
            }
        },
        Selection::Push { updates, remote } => {
            let mut include = Vec::new();
            let mut exclude = Vec::new();
            for (local, remote_tip) in updates {
                // git passes shas; a pre-commit push of a whole new branch passes its ref name.
                let resolved = git2::Oid::from_str(local).or_else(|_| {
                    let commit = repo.revparse_single(local).and_then(|o| objects.commit_of(o.id()))?;
                    commit.ok_or_else(|| git2::Error::from_str("not a commit"))
                });
                let Ok(local) = resolved else {
                    report.errors.push(Notice {
                        path: shown.clone(),
                        message: format!("cannot resolve the pushed commit `{local}`"),
                    });
                    continue;
                };
                if local.is_zero() {
                    continue; // a deletion pushes no content
                }
                include.push(local);
                match remote_tip.as_deref().and_then(|r| git2::Oid::from_str(r).ok()).filter(|r| !r.is_zero()) {
                    Some(r) if objects.commit(r).is_ok() => exclude.push(r),
                    _ => exclude.extend(remote_tracking_tips(&objects, remote.as_deref())),
                }
            }
            match git::commits_between(&repo, &include, &exclude) {
                Ok(commits) => match include.first() {
                    Some(&tip) => introduced(&objects, &commits, tip, &mut blobs, &mut report),
                    None => Vec::new(),
                },
                Err(e) => {
                    report.errors.push(Notice {
                        path: shown,
                        message: format!("cannot walk the pushed commits: {}", e.message()),
                    });
                    return report;
                }
            }
        }
    };
    report.stats.blobs += blobs.blobs;
    report.stats.blob_bytes += blobs.blob_bytes;
    for (path, oid, size, limit) in std::mem::take(&mut blobs.too_large) {
        let Some(path) = map.apply(&path) else { continue };
        report.stats.skipped_too_large += 1;
        report.skipped.push(Notice {
            path,
            message: format!(
                "staged blob {oid} is {} (--max-file-size {}), over the size limit; not scanned",
                human_bytes(size),
                human_bytes(limit)
            ),
        });
    }
    for (oid, message) in std::mem::take(&mut blobs.unreadable) {
        report
            .errors
            .push(Notice { path: shown.clone(), message: format!("blob {oid} cannot be read: {message}; skipped") });
    }
    for mut f in found {
        let Some(path) = map.apply(&f.path) else { continue };
        if config.path_allowed(&path) {
            continue;
        }
        f.path = path;
        report.findings.push(f);
    }
    report
}

/// What `commits` introduce, each marked with whether the secret is still at its path in `tip`.
fn introduced(
    objects: &git::Objects<'_>,
    commits: &[git2::Oid],
    tip: git2::Oid,
    blobs: &mut git::LazyBlobs<'_>,
    report: &mut Report,
) -> Vec<crate::finding::Finding> {
    report.stats.commits += commits.len() as u64;
    let mut found = git::introductions(objects, commits, |oid| blobs.scan(oid), report);
    for f in found.iter_mut() {
        f.source = Source::History;
        let still = git::present_at(objects, tip, &f.path, &f.fingerprint, blobs);
        if let Some(h) = f.history.as_mut() {
            h.present_at_head = still;
        }
    }
    found
}

/// Tips of the remote's tracking refs (`refs/remotes/NAME/*`), or of every remote when the name
/// is unknown.
fn remote_tracking_tips(objects: &git::Objects<'_>, remote: Option<&str>) -> Vec<git2::Oid> {
    let glob = match remote {
        Some(name) if !name.contains(['*', '?', '[']) => format!("refs/remotes/{name}/*"),
        _ => "refs/remotes/*".to_string(),
    };
    let mut out = Vec::new();
    if let Ok(refs) = objects.repo.references_glob(&glob) {
        for r in refs.flatten() {
            out.extend(git::ref_commit(objects, &r));
        }
    }
    out
}
