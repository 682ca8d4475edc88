//! Git history: every blob of every ref, each read and matched once, and each secret traced to the
//! commit that introduced it at a path.
//!
//! Reading: `git cat-file --batch-all-objects --batch --unordered` streams every object in pack
//! order, which is the fastest order to inflate a pack in (object-id order forces random access and
//! repeated delta resolution). Blobs go through a bounded channel to matcher threads, so matching
//! overlaps reading. This is the same work as the benchmark's floor, so the history scan can only
//! be slower than the floor by what matching and provenance add.
//!
//! Provenance: a `git2` walk of every commit reachable from any ref, parents before children, with a
//! tree diff against the first parent that never descends into an unchanged subtree. Only blobs
//! that had matches are looked at. A secret is *introduced* at (commit, path) when the blob at that
//! path holds its fingerprint and the blob at that path in every parent does not; a blob moved
//! unchanged to a new path (a rename) introduces nothing. So a secret added, removed and added back
//! is two findings, and the same blob in 10,000 later commits is one.
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use git2::{ObjectType, Oid, Repository, Sort, Tree};
use serde::Serialize;

use crate::finding::Finding;
use crate::matcher::Matcher;
use crate::scan::{blob_findings, is_binary, Notice, Report, Stats};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run git ({0}); history scanning needs git on PATH")]
    Spawn(std::io::Error),
    #[error("{path}: malformed `git cat-file` output: {message}")]
    Stream { path: String, message: String },
}

/// Where and when a secret entered the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// Full sha of the commit that introduced the secret at this path.
    pub commit: String,
    pub author: String,
    pub email: String,
    /// Author date, RFC 3339 with the author's offset.
    pub date: String,
    /// The commit message's first line.
    pub summary: String,
    /// Whether the same secret (same fingerprint) is in any file of HEAD's tree.
    pub present_at_head: bool,
}

/// Findings of every blob that had any, keyed by blob id; their paths are filled in later.
pub type BlobFindings = HashMap<Oid, Vec<Finding>>;

/// What matching one blob gave.
pub enum BlobScan {
    Findings(Vec<Finding>),
    /// Not read: larger than the size limit (its size in bytes).
    TooLarge(u64),
}

/// Everything a full history read learned about the repository's blobs.
#[derive(Default)]
pub struct HistoryBlobs {
    pub findings: BlobFindings,
    /// Blobs passed over for size, with their sizes.
    pub too_large: HashMap<Oid, u64>,
}

impl HistoryBlobs {
    pub fn scan(&self, oid: Oid) -> BlobScan {
        match self.too_large.get(&oid) {
            Some(&size) => BlobScan::TooLarge(size),
            None => BlobScan::Findings(self.findings.get(&oid).cloned().unwrap_or_default()),
        }
    }
}

pub struct GitOptions {
    pub max_blob_size: u64,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    pub show_secrets: bool,
    pub progress: std::sync::Arc<crate::scan::Progress>,
}

impl GitOptions {
    pub fn worker_threads(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            self.threads
        }
    }
}

/// Opens the repository that `path` is in (a work tree, a subfolder of one, or a bare repository).
pub fn open(path: &Path) -> Option<Repository> {
    Repository::discover(path).ok()
}

/// Reads every blob of the repository once, in pack order, and matches it.
pub fn scan_all_blobs(
    repo: &Repository,
    matcher: &Matcher,
    opts: &GitOptions,
    report: &mut Report,
) -> Result<HistoryBlobs, GitError> {
    match crate::source::pack::scan_objects(repo, matcher, opts) {
        Ok((blobs, stats)) => {
            report.stats.add(&stats);
            Ok(blobs)
        }
        // Whatever the in-process reader cannot read completely, `cat-file` reads and names.
        Err(_) => scan_all_blobs_with_cat_file(repo, matcher, opts, report),
    }
}

/// Reads every object through `git cat-file --batch-all-objects`, matching blobs on the other
/// threads as they arrive.
fn scan_all_blobs_with_cat_file(
    repo: &Repository,
    matcher: &Matcher,
    opts: &GitOptions,
    report: &mut Report,
) -> Result<HistoryBlobs, GitError> {
    let git_dir = repo.path().to_path_buf();
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(&git_dir)
        .args(["cat-file", "--batch-all-objects", "--batch", "--unordered"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(GitError::Spawn)?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| GitError::Stream { path: git_dir.display().to_string(), message: "no stdout".into() })?;
    let threads = opts.worker_threads();
    let results: Mutex<BlobFindings> = Mutex::new(HashMap::new());
    enlarge_pipe(&stdout);
    let (tx, rx) = crossbeam_channel::bounded::<Vec<(Oid, Vec<u8>)>>(threads * 4);
    let mut stats = Stats::default();
    let mut too_large = HashMap::new();
    let mut damaged = Vec::new();
    let read_result = std::thread::scope(|s| {
        for _ in 0..threads {
            let rx = rx.clone();
            let results = &results;
            s.spawn(move || {
                let mut local: Vec<(Oid, Vec<Finding>)> = Vec::new();
                for batch in rx {
                    for (oid, data) in batch {
                        opts.progress.blob(data.len() as u64);
                        let found = match_blob(matcher, &data, opts.show_secrets);
                        if !found.is_empty() {
                            local.push((oid, found));
                        }
                    }
                }
                if let Ok(mut r) = results.lock() {
                    r.extend(local);
                }
            });
        }
        drop(rx);
        let r = read_stream(stdout, opts.max_blob_size, &tx, &mut stats, &mut too_large, &mut damaged, &git_dir);
        drop(tx);
        r
    });
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child.wait().map_err(GitError::Spawn)?;
    read_result?;
    if !status.success() {
        // A corrupt object stops cat-file; what was read is kept and the damage is named.
        report.errors.push(Notice {
            path: git_dir.display().to_string(),
            message: format!("git cat-file failed: {}", stderr.trim()),
        });
    }
    for oid in damaged {
        report.errors.push(Notice {
            path: git_dir.display().to_string(),
            message: format!("object {oid} is missing or corrupt; skipped"),
        });
    }
    report.stats.add(&stats);
    Ok(HistoryBlobs { findings: results.into_inner().unwrap_or_else(|p| p.into_inner()), too_large })
}

/// Blobs go to the matchers in batches: one channel message per blob cost more in wake-ups
/// and `sched_yield` than the matching itself on a history of many small files (BENCHMARKS.md).
const BATCH_BYTES: usize = 1 << 20;
const BATCH_BLOBS: usize = 256;

/// A 1 MiB pipe (the Linux default ceiling) instead of 64 KiB lets `cat-file` run ahead of
/// the reader with 16× fewer wake-ups; where it cannot be set the default pipe still works.
#[cfg(target_os = "linux")]
fn enlarge_pipe(stdout: &std::process::ChildStdout) {
    use std::os::fd::AsRawFd;
    // SAFETY: F_SETPIPE_SZ only reads its integer argument; a failure leaves the pipe as it was.
    unsafe {
        libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}

#[cfg(not(target_os = "linux"))]
fn enlarge_pipe(_stdout: &std::process::ChildStdout) {}

/// Parses `<oid> <type> <size>\n<content>\n` records, sending blobs to the matchers.
fn read_stream(
    stdout: impl Read,
    max_blob_size: u64,
    tx: &crossbeam_channel::Sender<Vec<(Oid, Vec<u8>)>>,
    stats: &mut Stats,
    too_large: &mut HashMap<Oid, u64>,
    damaged: &mut Vec<String>,
    git_dir: &Path,
) -> Result<(), GitError> {
    let bad = |message: String| GitError::Stream { path: git_dir.display().to_string(), message };
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let mut header = Vec::new();
    let mut batch = Vec::new();
    let mut batch_bytes = 0usize;
    loop {
        header.clear();
        let n = reader.read_until(b'\n', &mut header).map_err(|e| bad(e.to_string()))?;
        if n == 0 {
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            return Ok(());
        }
        let line = String::from_utf8_lossy(&header);
        // cat-file reports an object it cannot read as `<oid> missing` and goes on; so do we.
        if let Some(oid) = line.trim_end().strip_suffix(" missing") {
            damaged.push(oid.to_string());
            continue;
        }
        let mut parts = line.trim_end().split(' ');
        let (Some(oid), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(format!("unexpected header {:?}", line.trim_end())));
        };
        let size: u64 = size.parse().map_err(|_| bad(format!("bad size in {:?}", line.trim_end())))?;
        let oid = Oid::from_str(oid).map_err(|e| bad(e.to_string()))?;
        if kind == "blob" && size <= max_blob_size {
            let mut data = vec![0; size as usize];
            reader.read_exact(&mut data).map_err(|e| bad(e.to_string()))?;
            stats.blobs += 1;
            stats.blob_bytes += size;
            batch_bytes += data.len();
            batch.push((oid, data));
            if batch_bytes >= BATCH_BYTES || batch.len() >= BATCH_BLOBS {
                batch_bytes = 0;
                if tx.send(std::mem::take(&mut batch)).is_err() {
                    return Ok(());
                }
            }
        } else {
            if kind == "blob" {
                too_large.insert(oid, size);
            }
            std::io::copy(&mut (&mut reader).take(size), &mut std::io::sink()).map_err(|e| bad(e.to_string()))?;
        }
        let mut nl = [0u8; 1];
        reader.read_exact(&mut nl).map_err(|e| bad(e.to_string()))?;
    }
}

/// Matches one blob; binary blobs are passed over. Paths are filled in by the caller.
pub fn match_blob(matcher: &Matcher, data: &[u8], show_secrets: bool) -> Vec<Finding> {
    if is_binary(data) {
        return Vec::new();
    }
    blob_findings(matcher, data, "", show_secrets).unwrap_or_default()
}

/// One change between a commit's tree and its first parent's.
struct Change {
    path: Vec<u8>,
    old: Option<Oid>,
    new: Option<Oid>,
}

/// Collects blob changes between two trees, skipping identical subtrees.
fn diff_trees(
    repo: &Repository,
    old: Option<&Tree>,
    new: Option<&Tree>,
    prefix: &[u8],
    out: &mut Vec<Change>,
) -> Result<(), git2::Error> {
    let mut old_entries: HashMap<Vec<u8>, (Oid, Option<ObjectType>)> = HashMap::new();
    if let Some(t) = old {
        for e in t.iter() {
            old_entries.insert(e.name_bytes().to_vec(), (e.id(), e.kind()));
        }
    }
    let join = |name: &[u8]| {
        let mut p = prefix.to_vec();
        if !p.is_empty() {
            p.push(b'/');
        }
        p.extend_from_slice(name);
        p
    };
    if let Some(t) = new {
        for e in t.iter() {
            let name = e.name_bytes();
            let before = old_entries.remove(name);
            if before.is_some_and(|(id, _)| id == e.id()) {
                continue;
            }
            let path = join(name);
            let old_blob = before.filter(|(_, k)| *k == Some(ObjectType::Blob)).map(|(id, _)| id);
            let old_tree = before.filter(|(_, k)| *k == Some(ObjectType::Tree)).map(|(id, _)| id);
            match e.kind() {
                Some(ObjectType::Blob) => out.push(Change { path: path.clone(), old: old_blob, new: Some(e.id()) }),
                Some(ObjectType::Tree) => {
                    let sub = repo.find_tree(e.id())?;
                    let old_sub = old_tree.map(|id| repo.find_tree(id)).transpose()?;
                    diff_trees(repo, old_sub.as_ref(), Some(&sub), &path, out)?;
                }
                _ => {}
            }
            if e.kind() != Some(ObjectType::Blob) {
                if let Some(ob) = old_blob {
                    out.push(Change { path: path.clone(), old: Some(ob), new: None });
                }
            }
            if e.kind() != Some(ObjectType::Tree) {
                if let Some(ot) = old_tree {
                    let old_sub = repo.find_tree(ot)?;
                    diff_trees(repo, Some(&old_sub), None, &path, out)?;
                }
            }
        }
    }
    for (name, (id, kind)) in old_entries {
        let path = join(&name);
        match kind {
            Some(ObjectType::Blob) => out.push(Change { path, old: Some(id), new: None }),
            Some(ObjectType::Tree) => {
                let sub = repo.find_tree(id)?;
                diff_trees(repo, Some(&sub), None, &path, out)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Every commit reachable from any ref (and HEAD), parents before children. A ref whose target
/// cannot be read is named in `broken` and left out; the other refs are still walked.
pub fn all_commits(repo: &Repository, broken: &mut Vec<String>) -> Result<Vec<Oid>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    let mut pushed = false;
    if let Ok(c) = repo.head().and_then(|h| h.peel_to_commit()) {
        walk.push(c.id())?;
        pushed = true;
    }
    for r in repo.references()?.flatten() {
        match r.peel_to_commit() {
            Ok(c) => {
                // A commit whose history is damaged would abort the whole walk: check it first.
                if let Err(e) = walk.push(c.id()) {
                    broken.push(format!("{}: {}", String::from_utf8_lossy(r.name_bytes()), e.message()));
                    continue;
                }
                pushed = true;
            }
            // Tags of trees or blobs legitimately peel to no commit; a missing target is damage.
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                let target = r.target().map(|t| t.to_string()).unwrap_or_default();
                broken
                    .push(format!("{} points to {target}, which is missing", String::from_utf8_lossy(r.name_bytes())));
            }
            Err(_) => {}
        }
    }
    if !pushed {
        return Ok(Vec::new());
    }
    walk.collect()
}

/// Finds where each matched secret entered the history among `commits` (parents first).
/// `scan_blob` gives a blob's findings; a blob too large to read is named in `report.skipped`
/// with the path and commit where it appeared.
pub fn introductions(
    repo: &Repository,
    commits: &[Oid],
    mut scan_blob: impl FnMut(Oid) -> BlobScan,
    report: &mut Report,
) -> Vec<Finding> {
    let mut findings_of = |oid: Oid| match scan_blob(oid) {
        BlobScan::Findings(f) => Ok(f),
        BlobScan::TooLarge(size) => Err(size),
    };
    let repo_path = repo.path().to_path_buf();
    let mut out = Vec::new();
    let mut changes = Vec::new();
    let mut fps_cache: HashMap<Oid, HashSet<String>> = HashMap::new();
    let mut fingerprints =
        |oid: Oid, findings_of: &mut dyn FnMut(Oid) -> Result<Vec<Finding>, u64>| -> HashSet<String> {
            fps_cache
                .entry(oid)
                .or_insert_with(|| findings_of(oid).unwrap_or_default().into_iter().map(|f| f.fingerprint).collect())
                .clone()
        };
    for &cid in commits {
        // A commit, its tree, its parents' trees, and what changed against the first parent.
        let read = repo.find_commit(cid).and_then(|commit| {
            let tree = commit.tree()?;
            let parents: Vec<Tree> = commit.parents().filter_map(|p| p.tree().ok()).collect();
            changes.clear();
            diff_trees(repo, parents.first(), Some(&tree), b"", &mut changes)?;
            Ok((commit, parents))
        });
        let (commit, parents) = match read {
            Ok(r) => r,
            Err(e) => {
                report.errors.push(Notice {
                    path: repo_path.display().to_string(),
                    message: format!("commit {cid}: {}", e.message()),
                });
                continue;
            }
        };
        let removed: HashSet<Oid> = changes.iter().filter(|c| c.new.is_none()).filter_map(|c| c.old).collect();
        let mut provenance: Option<Provenance> = None;
        for change in &changes {
            let Some(new) = change.new else { continue };
            let found = match findings_of(new) {
                Ok(found) => found,
                Err(size) => {
                    report.stats.skipped_too_large += 1;
                    report.skipped.push(Notice {
                        path: String::from_utf8_lossy(&change.path).into_owned(),
                        message: format!(
                            "blob {new} in commit {} is {}, over the size limit; not scanned",
                            &cid.to_string()[..12],
                            crate::source::fs::human_bytes(size)
                        ),
                    });
                    continue;
                }
            };
            if found.is_empty() || removed.contains(&new) {
                continue;
            }
            let mut before: HashSet<String> = change.old.map(|o| fingerprints(o, &mut findings_of)).unwrap_or_default();
            for other in parents.iter().skip(1) {
                if let Ok(entry) = other.get_path(Path::new(&*String::from_utf8_lossy(&change.path))) {
                    if entry.kind() == Some(ObjectType::Blob) {
                        before.extend(fingerprints(entry.id(), &mut findings_of));
                    }
                }
            }
            let path = String::from_utf8_lossy(&change.path).into_owned();
            for mut f in found {
                if before.contains(&f.fingerprint) {
                    continue;
                }
                let p = provenance.get_or_insert_with(|| provenance_of(&commit));
                f.path = path.clone();
                f.history = Some(p.clone());
                out.push(f);
            }
        }
    }
    out
}

fn provenance_of(commit: &git2::Commit) -> Provenance {
    let author = commit.author();
    let when = author.when();
    Provenance {
        commit: commit.id().to_string(),
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        date: rfc3339(when.seconds(), when.offset_minutes()),
        summary: commit.summary_bytes().map(|s| String::from_utf8_lossy(s).into_owned()).unwrap_or_default(),
        present_at_head: false,
    }
}

/// Fingerprints of every secret in HEAD's tree.
pub fn fingerprints_at_head(repo: &Repository, blobs: &BlobFindings) -> HashSet<String> {
    let mut fps = HashSet::new();
    let Ok(tree) = repo.head().and_then(|h| h.peel_to_tree()) else { return fps };
    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
        if let Some(found) = blobs.get(&entry.id()) {
            fps.extend(found.iter().map(|f| f.fingerprint.clone()));
        }
        git2::TreeWalkResult::Ok
    });
    fps
}

/// `YYYY-MM-DDTHH:MM:SS±HH:MM` for a unix time at an offset, without a date library.
pub fn rfc3339(seconds: i64, offset_minutes: i32) -> String {
    let local = seconds + offset_minutes as i64 * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.abs();
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        off / 60,
        off % 60
    )
}

/// Repositories at or under `dir`: work trees (a `.git` folder or file) and bare repositories.
pub fn find_repositories(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let is_bare = d.join("HEAD").is_file() && d.join("objects").is_dir() && d.join("refs").is_dir();
        if d.join(".git").exists() || is_bare {
            found.push(d.clone());
        }
        if is_bare {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() && e.file_name() != ".git" {
                stack.push(e.path());
            }
        }
    }
    found.sort();
    found
}

/// Reads and matches blobs on demand, each once: for scans of a few commits or the index, where
/// streaming every object would be wasted work.
pub struct LazyBlobs<'r> {
    repo: &'r Repository,
    matcher: &'r Matcher,
    max_blob_size: u64,
    show_secrets: bool,
    cache: HashMap<Oid, Vec<Finding>>,
    pub blobs: u64,
    pub blob_bytes: u64,
}

impl<'r> LazyBlobs<'r> {
    pub fn new(repo: &'r Repository, matcher: &'r Matcher, max_blob_size: u64, show_secrets: bool) -> Self {
        LazyBlobs { repo, matcher, max_blob_size, show_secrets, cache: HashMap::new(), blobs: 0, blob_bytes: 0 }
    }

    pub fn findings(&mut self, oid: Oid) -> Vec<Finding> {
        match self.scan(oid) {
            BlobScan::Findings(f) => f,
            BlobScan::TooLarge(_) => Vec::new(),
        }
    }

    pub fn scan(&mut self, oid: Oid) -> BlobScan {
        if let Some(f) = self.cache.get(&oid) {
            return BlobScan::Findings(f.clone());
        }
        // The header alone tells the size, so an oversize blob is never inflated.
        if let Ok((size, _)) = self.repo.odb().and_then(|odb| odb.read_header(oid)) {
            if size as u64 > self.max_blob_size {
                return BlobScan::TooLarge(size as u64);
            }
        }
        let found = match self.repo.find_blob(oid) {
            Ok(b) => {
                self.blobs += 1;
                self.blob_bytes += b.size() as u64;
                match_blob(self.matcher, b.content(), self.show_secrets)
            }
            Err(_) => Vec::new(),
        };
        self.cache.insert(oid, found.clone());
        BlobScan::Findings(found)
    }
}

/// A commit selection: everything reachable from `include` and from none of `exclude`.
pub fn commits_between(repo: &Repository, include: &[Oid], exclude: &[Oid]) -> Result<Vec<Oid>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
    for &i in include {
        walk.push(i)?;
    }
    for &e in exclude {
        walk.hide(e)?;
    }
    walk.collect()
}

/// The commits a `BASE..HEAD` or `BASE...HEAD` range introduces. `BASE...HEAD` starts from their
/// merge base (what a pull request adds); an all-zero BASE (a new branch) means every commit of
/// HEAD that no other ref reaches.
pub fn range_commits(repo: &Repository, spec: &str) -> Result<(Vec<Oid>, Oid), String> {
    let (base, head, symmetric) = match spec.split_once("...") {
        Some((b, h)) => (b, h, true),
        None => match spec.split_once("..") {
            Some((b, h)) => (b, h, false),
            None => return Err(format!("`{spec}` is not a range: use BASE..HEAD or BASE...HEAD")),
        },
    };
    let resolve = |rev: &str| -> Result<Oid, String> {
        let rev = if rev.is_empty() { "HEAD" } else { rev };
        repo.revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.id())
            .map_err(|e| format!("`{rev}`: {}", e.message()))
    };
    let head = resolve(head)?;
    let exclude = if !base.is_empty() && base.bytes().all(|b| b == b'0') {
        other_ref_tips(repo, head)
    } else {
        let base = resolve(base)?;
        if symmetric {
            vec![repo.merge_base(base, head).map_err(|e| e.message().to_string())?]
        } else {
            vec![base]
        }
    };
    let commits = commits_between(repo, &[head], &exclude).map_err(|e| e.message().to_string())?;
    Ok((commits, head))
}

/// Tips of every ref that does not point at `tip` itself: what "already known" means for a
/// branch being created.
pub fn other_ref_tips(repo: &Repository, tip: Oid) -> Vec<Oid> {
    let mut out = Vec::new();
    if let Ok(refs) = repo.references() {
        for r in refs.flatten() {
            if let Ok(c) = r.peel_to_commit() {
                if c.id() != tip && !out.contains(&c.id()) {
                    out.push(c.id());
                }
            }
        }
    }
    out
}

/// Whether `fingerprint` is in the blob at `path` in `commit`'s tree.
pub fn present_at(repo: &Repository, commit: Oid, path: &str, fingerprint: &str, blobs: &mut LazyBlobs<'_>) -> bool {
    let Ok(tree) = repo.find_commit(commit).and_then(|c| c.tree()) else { return false };
    let Ok(entry) = tree.get_path(Path::new(path)) else { return false };
    blobs.findings(entry.id()).iter().any(|f| f.fingerprint == fingerprint)
}

/// Secrets on lines that the index adds compared with HEAD: what a commit made now would add.
pub fn staged_findings(repo: &Repository, blobs: &mut LazyBlobs<'_>) -> Result<Vec<Finding>, git2::Error> {
    let head_tree = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
    // `git commit -a`, `git commit PATH` and `--include` hand hooks their temporary index here.
    let index = match std::env::var_os("GIT_INDEX_FILE") {
        Some(path) => git2::Index::open(std::path::Path::new(&path))?,
        None => repo.index()?,
    };
    let mut opts = git2::DiffOptions::new();
    opts.include_typechange(true).ignore_submodules(true);
    let diff = repo.diff_tree_to_index(head_tree.as_ref(), Some(&index), Some(&mut opts))?;
    let mut out = Vec::new();
    for delta in diff.deltas() {
        if !matches!(
            delta.status(),
            git2::Delta::Added
                | git2::Delta::Modified
                | git2::Delta::Renamed
                | git2::Delta::Copied
                | git2::Delta::Typechange
        ) {
            continue;
        }
        let new = delta.new_file();
        let found = blobs.findings(new.id());
        if found.is_empty() {
            continue;
        }
        let Some(path) = new.path_bytes().map(|p| String::from_utf8_lossy(p).into_owned()) else { continue };
        let added = added_lines(repo, delta.old_file().id(), new.id())?;
        for mut f in found {
            if (f.line..=f.end_line).any(|l| added.contains(&l)) {
                f.path = path.clone();
                f.source = crate::finding::Source::Staged;
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// 1-based numbers of the lines `new` adds over `old` (every line when `old` is zero).
fn added_lines(repo: &Repository, old: Oid, new: Oid) -> Result<HashSet<usize>, git2::Error> {
    let new_blob = repo.find_blob(new)?;
    let old_blob = if old.is_zero() { None } else { repo.find_blob(old).ok() };
    let old_content: &[u8] = old_blob.as_ref().map_or(&[], |b| b.content());
    added_lines_between(old_content, new_blob.content())
}

/// The 1-based numbers of the lines of `new` that a diff from `old` adds.
pub fn added_lines_between(old: &[u8], new: &[u8]) -> Result<HashSet<usize>, git2::Error> {
    let mut opts = git2::DiffOptions::new();
    opts.context_lines(0).force_text(true);
    let patch = git2::Patch::from_buffers(old, None, new, None, Some(&mut opts))?;
    let mut added = HashSet::new();
    for h in 0..patch.num_hunks() {
        for l in 0..patch.num_lines_in_hunk(h)? {
            let line = patch.line_in_hunk(h, l)?;
            if line.origin() == '+' {
                if let Some(n) = line.new_lineno() {
                    added.insert(n as usize);
                }
            }
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(rfc3339(1_700_000_000, 60), "2023-11-14T23:13:20+01:00");
        assert_eq!(rfc3339(951_782_400, -330), "2000-02-28T18:30:00-05:30");
    }
}
