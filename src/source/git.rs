//! Git history: every blob of every ref, each read and matched once, and each secret traced to the
//! commit that introduced it at a path.
//!
//! Reading: each pack is decoded in process along its delta trees ([`crate::source::pack`],
//! [`crate::source::delta`]), then the loose objects. `git cat-file --batch-all-objects --batch
//! --unordered`, read here, serves only an object format other than SHA-1: it streams every object
//! in pack order through a bounded channel to matcher threads.
//!
//! Provenance: a walk of every commit reachable from any ref, parents before children, with a
//! tree diff against the first parent that never descends into an unchanged subtree; commits and
//! trees come from keytrail's own reader ([`ObjectStore`]). Only blobs that had matches are looked
//! at. A secret is *introduced* at (commit, path) when the blob at that path holds its fingerprint
//! and the blob at that path in every parent does not; a blob moved unchanged to a new path (a
//! rename) introduces nothing. So a secret added, removed and added back is two findings, and the
//! same blob in 10,000 later commits is one.
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use git2::{ObjectType, Oid, Repository, Sort};
use serde::Serialize;

use crate::finding::Finding;
use crate::matcher::Matcher;
use crate::scan::{blob_findings, is_binary, Notice, Report, Stats};
use crate::source::store::{self, ObjectStore, StoreError};

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
    /// Not read: larger than the size limit (its size as its header gives it, and the limit).
    TooLarge {
        size: u64,
        limit: u64,
    },
}

/// Everything a full history read learned about the repository's blobs.
#[derive(Default)]
pub struct HistoryBlobs {
    pub findings: BlobFindings,
    /// Blobs passed over for size, with their sizes.
    pub too_large: HashMap<Oid, u64>,
    /// The size limit they were over.
    pub limit: u64,
    /// Objects that could not be read; libgit2 must not be handed them (see
    /// [`crate::source::pack::read_loose`]).
    pub damaged: HashSet<Oid>,
}

impl HistoryBlobs {
    pub fn scan(&self, oid: Oid) -> BlobScan {
        match self.too_large.get(&oid) {
            Some(&size) => BlobScan::TooLarge { size, limit: self.limit },
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
    open_or_why(path).ok()
}

/// Like [`open`], with why a repository cannot be opened (a `.git` file pointing nowhere, an
/// unsupported format version or extension).
pub fn open_or_why(path: &Path) -> Result<Repository, String> {
    Repository::discover(path).map_err(|e| e.message().to_string())
}

/// Reads every blob of the repository once, in pack order, and matches it.
pub fn scan_all_blobs(
    repo: &Repository,
    matcher: &Matcher,
    opts: &GitOptions,
    report: &mut Report,
) -> Result<HistoryBlobs, GitError> {
    match crate::source::pack::scan_objects(repo, matcher, opts) {
        Ok(scan) => {
            report.stats.add(&scan.stats);
            let path = repo.path().display().to_string();
            for message in scan.errors {
                report.errors.push(Notice { path: path.clone(), message });
            }
            Ok(scan.blobs)
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
    Ok(HistoryBlobs {
        findings: results.into_inner().unwrap_or_else(|p| p.into_inner()),
        too_large,
        limit: opts.max_blob_size,
        damaged: HashSet::new(),
    })
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

/// The longest `<oid> <type> <size>` line `cat-file` writes (a SHA-256 id, a type, a size).
const HEADER_MAX: u64 = 256;

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
        // Bounded: after an object longer than its header said, what follows is content, not a
        // header, and may have no line break for gigabytes.
        let n = (&mut reader).take(HEADER_MAX).read_until(b'\n', &mut header).map_err(|e| bad(e.to_string()))?;
        if n == 0 {
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            return Ok(());
        }
        if header.last() != Some(&b'\n') {
            return Err(bad(format!("unterminated header {:?}", String::from_utf8_lossy(&header[..n.min(80)]))));
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
        if nl[0] != b'\n' {
            return Err(bad(format!("object {oid} is longer than its header says ({size} bytes)")));
        }
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

/// Reads commits, trees and tags for the walks, through keytrail's own reader of the object store
/// ([`ObjectStore`]: no pack is mapped, so memory does not grow with the packs), and through
/// libgit2 only for what that reader does not find. Objects known to be damaged are refused:
/// libgit2 loops forever on a truncated loose object (see [`crate::source::pack::read_loose`]) or
/// a cycle of deltas.
#[derive(Clone, Copy)]
pub struct Objects<'r> {
    pub repo: &'r Repository,
    pub store: &'r ObjectStore,
    pub damaged: &'r HashSet<Oid>,
}

/// Annotated tags followed before giving up: a hand-made tag can name itself, ids not being
/// re-hashed.
const MAX_TAG_DEPTH: usize = 64;

/// Trees nested deeper than this are not descended into (git's own `core.maxTreeDepth`); a
/// hand-made tree can hold itself, ids not being re-hashed.
const MAX_TREE_DEPTH: usize = 4096;

/// What the walks need of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub id: Oid,
    pub tree: Oid,
    pub parents: Vec<Oid>,
}

impl Commit {
    /// Parses a commit as strictly as libgit2 does up to its committer: `tree`, any `parent`s,
    /// `author` and `committer`, in that order.
    pub fn parse(id: Oid, data: &[u8]) -> Result<Commit, String> {
        let mut lines = data.split(|&b| b == b'\n');
        let tree = lines.next().and_then(|l| hex_after(l, b"tree ")).ok_or("failed to parse commit: no tree")?;
        let mut parents = Vec::new();
        let mut line = lines.next();
        while let Some(l) = line.filter(|l| l.starts_with(b"parent ")) {
            parents.push(hex_after(l, b"parent ").ok_or("failed to parse commit: a malformed parent")?);
            line = lines.next();
        }
        if !line.is_some_and(|l| l.starts_with(b"author ")) {
            return Err("failed to parse commit: no author".into());
        }
        if !lines.next().is_some_and(|l| l.starts_with(b"committer ")) {
            return Err("failed to parse commit: no committer".into());
        }
        Ok(Commit { id, tree, parents })
    }
}

/// The id written in hex after `key` on `line`, and nothing else.
fn hex_after(line: &[u8], key: &[u8]) -> Option<Oid> {
    store::full_hex_id(line.strip_prefix(key)?)
}

/// A tree, its entries checked once as it is read and parsed again as they are iterated.
#[derive(Clone)]
pub struct Tree {
    id: Oid,
    data: Arc<Vec<u8>>,
}

/// One entry of a tree. Its kind comes from its mode, as libgit2 and git decide it: a directory
/// is a tree, a gitlink a commit, anything else a blob.
#[derive(Debug, Clone, Copy)]
pub struct TreeEntry<'a> {
    pub name: &'a [u8],
    pub id: Oid,
    pub kind: ObjectType,
}

impl Tree {
    /// Checks every entry of a tree read as `id`.
    pub fn parse(id: Oid, data: Arc<Vec<u8>>) -> Result<Tree, String> {
        let mut rest = &data[..];
        while !rest.is_empty() {
            next_entry(&mut rest).map_err(|why| format!("failed to parse tree: {why}"))?;
        }
        Ok(Tree { id, data })
    }

    pub fn id(&self) -> Oid {
        self.id
    }

    pub fn iter(&self) -> impl Iterator<Item = TreeEntry<'_>> {
        let mut rest = &self.data[..];
        std::iter::from_fn(move || if rest.is_empty() { None } else { next_entry(&mut rest).ok() })
    }

    /// The entry named `name`.
    pub fn get(&self, name: &[u8]) -> Option<TreeEntry<'_>> {
        self.iter().find(|e| e.name == name)
    }
}

/// Parses the tree entry at the start of `rest` (`<octal mode> <name>\0<20-byte id>`) and moves
/// past it.
fn next_entry<'a>(rest: &mut &'a [u8]) -> Result<TreeEntry<'a>, &'static str> {
    let space = rest.iter().position(|&b| b == b' ').ok_or("can't parse filemode")?;
    let digits = &rest[..space];
    if digits.is_empty() || digits.len() > 7 || digits.iter().any(|b| !(b'0'..=b'7').contains(b)) {
        return Err("can't parse filemode");
    }
    let mode = digits.iter().fold(0u32, |m, b| (m << 3) | u32::from(b - b'0'));
    let after = &rest[space + 1..];
    let nul = after.iter().position(|&b| b == 0).filter(|&n| n > 0).ok_or("can't parse filename")?;
    let id = after.get(nul + 1..nul + 21).ok_or("truncated entry")?;
    let id = Oid::from_bytes(id).map_err(|_| "truncated entry")?;
    let kind = match mode & 0o170000 {
        0o040000 => ObjectType::Tree,
        0o160000 => ObjectType::Commit,
        _ => ObjectType::Blob,
    };
    let entry = TreeEntry { name: &after[..nul], id, kind };
    *rest = &after[nul + 21..];
    Ok(entry)
}

/// The id an annotated tag points to (its first line, `object <hex>`).
fn tag_target(data: &[u8]) -> Option<Oid> {
    data.split(|&b| b == b'\n').next().and_then(|l| hex_after(l, b"object "))
}

impl<'r> Objects<'r> {
    fn check(&self, oid: Oid) -> Result<(), git2::Error> {
        if self.damaged.contains(&oid) {
            return Err(git2::Error::from_str("the object is damaged"));
        }
        Ok(())
    }

    /// Object `oid`'s kind and content: from keytrail's reader, or from libgit2 when that reader
    /// does not find it (a pack index of another version, say).
    fn read(&self, oid: Oid) -> Result<store::Object, git2::Error> {
        self.check(oid)?;
        match self.store.read(oid) {
            Ok(object) => Ok(object),
            Err(StoreError::Missing) => {
                let odb = self.repo.odb()?;
                let object = odb.read(oid)?;
                Ok((object.kind(), Arc::new(object.data().to_vec())))
            }
            Err(StoreError::Damaged(why)) => Err(git2::Error::from_str(&why)),
        }
    }

    fn kind(&self, oid: Oid) -> Result<ObjectType, git2::Error> {
        self.check(oid)?;
        match self.store.kind(oid) {
            Ok(kind) => Ok(kind),
            Err(StoreError::Missing) => Ok(self.repo.odb()?.read_header(oid)?.1),
            Err(StoreError::Damaged(why)) => Err(git2::Error::from_str(&why)),
        }
    }

    /// Object `oid`, which must be of `kind`.
    fn read_as(&self, oid: Oid, kind: ObjectType) -> Result<Arc<Vec<u8>>, git2::Error> {
        match self.read(oid)? {
            (k, data) if k == kind => Ok(data),
            (k, _) => Err(git2::Error::from_str(&format!("it is a {k}, not a {kind}"))),
        }
    }

    pub fn commit(&self, oid: Oid) -> Result<Commit, git2::Error> {
        let data = self.read_as(oid, ObjectType::Commit)?;
        let mut commit = Commit::parse(oid, &data).map_err(|e| git2::Error::from_str(&e))?;
        if let Some(parents) = self.store.grafted_parents(oid) {
            commit.parents = parents.to_vec();
        }
        Ok(commit)
    }

    pub fn tree(&self, oid: Oid) -> Result<Tree, git2::Error> {
        let data = self.read_as(oid, ObjectType::Tree)?;
        Tree::parse(oid, data).map_err(|e| git2::Error::from_str(&e))
    }

    /// The commit `oid` names once annotated tags are followed; `None` for a tree or a blob.
    pub fn commit_of(&self, oid: Oid) -> Result<Option<Oid>, git2::Error> {
        let mut id = oid;
        for _ in 0..MAX_TAG_DEPTH {
            match self.kind(id)? {
                ObjectType::Commit => return Ok(Some(id)),
                ObjectType::Tag => {
                    let data = self.read_as(id, ObjectType::Tag)?;
                    id = tag_target(&data).ok_or_else(|| git2::Error::from_str("failed to parse tag: no object"))?;
                }
                _ => return Ok(None),
            }
        }
        Err(git2::Error::from_str("tags nested too deep"))
    }
}

/// A subtree that could not be read while diffing: its path, its id and why.
struct Unreadable {
    path: Vec<u8>,
    id: Oid,
    message: String,
}

/// The trees entered on the way down to a subtree, innermost first.
struct Chain {
    id: Oid,
    depth: usize,
    up: Option<Rc<Chain>>,
}

impl Chain {
    fn holds(&self, id: Oid) -> bool {
        let mut link = Some(self);
        while let Some(c) = link {
            if c.id == id {
                return true;
            }
            link = c.up.as_deref();
        }
        false
    }
}

/// A pair of subtrees still to compare.
struct Pending {
    old: Option<Tree>,
    new: Option<Tree>,
    prefix: Vec<u8>,
    chain: Option<Rc<Chain>>,
}

/// Collects blob changes between two trees, skipping identical subtrees. A subtree that cannot be
/// read is recorded in `unreadable` and passed over, so one damaged tree costs only its own files.
/// The descent keeps its own stack, so no depth of nesting can overflow the thread's, and a tree
/// that holds itself (possible when ids are not re-hashed) is entered once.
fn diff_trees(
    objects: &Objects<'_>,
    old: Option<&Tree>,
    new: Option<&Tree>,
    out: &mut Vec<Change>,
    unreadable: &mut Vec<Unreadable>,
) {
    let root = new.or(old).map(|t| Rc::new(Chain { id: t.id(), depth: 1, up: None }));
    let mut pending = vec![Pending { old: old.cloned(), new: new.cloned(), prefix: Vec::new(), chain: root }];
    while let Some(Pending { old, new, prefix, chain }) = pending.pop() {
        let join = |name: &[u8]| {
            let mut p = prefix.clone();
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(name);
            p
        };
        let subtree = |id: Oid, path: &[u8], unreadable: &mut Vec<Unreadable>| {
            let depth = chain.as_ref().map_or(0, |c| c.depth);
            let read = if depth >= MAX_TREE_DEPTH {
                Err(git2::Error::from_str(&format!("nested deeper than {MAX_TREE_DEPTH} trees")))
            } else if chain.as_ref().is_some_and(|c| c.holds(id)) {
                Err(git2::Error::from_str("the tree holds itself"))
            } else {
                objects.tree(id)
            };
            match read {
                Ok(t) => Some(t),
                Err(e) => {
                    unreadable.push(Unreadable { path: path.to_vec(), id, message: e.message().to_string() });
                    None
                }
            }
        };
        let down =
            |id: Oid| Some(Rc::new(Chain { id, depth: chain.as_ref().map_or(1, |c| c.depth + 1), up: chain.clone() }));
        let mut old_entries: HashMap<&[u8], (Oid, ObjectType)> = HashMap::new();
        if let Some(t) = &old {
            for e in t.iter() {
                old_entries.insert(e.name, (e.id, e.kind));
            }
        }
        if let Some(t) = &new {
            for e in t.iter() {
                let name = e.name;
                let before = old_entries.remove(name);
                if before.is_some_and(|(id, _)| id == e.id) {
                    continue;
                }
                let path = join(name);
                let old_blob = before.filter(|(_, k)| *k == ObjectType::Blob).map(|(id, _)| id);
                let old_tree = before.filter(|(_, k)| *k == ObjectType::Tree).map(|(id, _)| id);
                match e.kind {
                    ObjectType::Blob => out.push(Change { path: path.clone(), old: old_blob, new: Some(e.id) }),
                    ObjectType::Tree => {
                        if let Some(sub) = subtree(e.id, &path, unreadable) {
                            let old_sub = old_tree.and_then(|id| subtree(id, &path, unreadable));
                            let chain = down(e.id);
                            pending.push(Pending { old: old_sub, new: Some(sub), prefix: path.clone(), chain });
                        }
                    }
                    _ => {}
                }
                if e.kind != ObjectType::Blob {
                    if let Some(ob) = old_blob {
                        out.push(Change { path: path.clone(), old: Some(ob), new: None });
                    }
                }
                if e.kind != ObjectType::Tree {
                    if let Some(id) = old_tree {
                        if let Some(old_sub) = subtree(id, &path, unreadable) {
                            pending.push(Pending { old: Some(old_sub), new: None, prefix: path, chain: down(id) });
                        }
                    }
                }
            }
        }
        for (name, (id, kind)) in old_entries {
            let path = join(name);
            match kind {
                ObjectType::Blob => out.push(Change { path, old: Some(id), new: None }),
                ObjectType::Tree => {
                    if let Some(sub) = subtree(id, &path, unreadable) {
                        pending.push(Pending { old: Some(sub), new: None, prefix: path, chain: down(id) });
                    }
                }
                _ => {}
            }
        }
    }
}

/// What walking every ref found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Every commit reachable from a ref or HEAD, parents before children, each once.
    pub commits: Vec<Oid>,
    /// Damage, which leaves the scan incomplete: a ref or a commit that cannot be read.
    pub errors: Vec<String>,
    /// What is unusual but not damage: HEAD on a branch with no commit while other refs exist,
    /// a symbolic ref to a ref that does not exist.
    pub notes: Vec<String>,
}

/// Where one ref leads.
enum Tip {
    Commit(Oid),
    /// A tag of a tree or a blob: nothing to walk, nothing wrong.
    NotACommit,
    /// A symbolic ref to a ref that does not exist (a note).
    Dangling(String),
    /// A ref that cannot be followed (an error).
    Broken(String),
}

fn tip_of(objects: &Objects<'_>, r: &git2::Reference<'_>, name: &str) -> Tip {
    // Resolving looks a ref up again by name: for a direct ref (nearly all of them) that is a
    // second lookup of what is already at hand.
    let looked_up;
    let resolved = match r.kind() {
        Some(git2::ReferenceType::Direct) => r,
        _ => match r.resolve() {
            Ok(x) => {
                looked_up = x;
                &looked_up
            }
            Err(e) if e.code() == git2::ErrorCode::NotFound => {
                let to = r.symbolic_target_bytes().map(String::from_utf8_lossy).unwrap_or_default();
                return Tip::Dangling(format!("{name} points to {to}, which does not exist"));
            }
            Err(e) => return Tip::Broken(format!("{name} cannot be resolved: {}", e.message())),
        },
    };
    let Some(target) = resolved.target() else {
        return Tip::Broken(format!("{name} resolves to no object"));
    };
    match objects.commit_of(target) {
        Ok(Some(commit)) => Tip::Commit(commit),
        Ok(None) => Tip::NotACommit,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            Tip::Broken(format!("{name} points to {target}, which is missing"))
        }
        Err(e) => Tip::Broken(format!("{name} points to {target}, which cannot be read: {}", e.message())),
    }
}

/// Every commit reachable from any ref (and HEAD). A ref or commit that cannot be read is named
/// and left out, and everything else is still walked.
///
/// git2's revwalk would stop at the first damaged commit, and yields no commit at all when
/// grafts make the history a cycle; this walk cuts a cycle where it closes instead.
pub fn all_commits(objects: &Objects<'_>) -> Walk {
    let repo = objects.repo;
    let mut walk = Walk::default();
    let mut tips = Vec::new();
    let mut unborn_head = None;
    match repo.find_reference("HEAD") {
        Ok(head) => match tip_of(objects, &head, "HEAD") {
            Tip::Commit(c) => tips.push(c),
            Tip::NotACommit => {}
            Tip::Dangling(message) => unborn_head = Some(message),
            Tip::Broken(message) => walk.errors.push(message),
        },
        Err(e) => walk.errors.push(format!("HEAD cannot be read: {}", e.message())),
    }
    let mut listed = HashSet::new();
    match repo.references() {
        Ok(refs) => {
            for r in refs.flatten() {
                let name = String::from_utf8_lossy(r.name_bytes()).into_owned();
                match tip_of(objects, &r, &format!("ref {name}")) {
                    Tip::Commit(c) => tips.push(c),
                    Tip::NotACommit => {}
                    Tip::Dangling(message) => walk.notes.push(message),
                    Tip::Broken(message) => walk.errors.push(message),
                }
                listed.insert(name);
            }
        }
        Err(e) => walk.errors.push(format!("cannot list the refs: {}", e.message())),
    }
    unlisted_refs(repo, &listed, &mut walk.errors);
    if let Some(message) = unborn_head.filter(|_| !listed.is_empty()) {
        walk.notes.push(format!("{message} (a branch with no commit yet); every other ref is scanned"));
    }
    let shallow = shallow_commits(repo);
    walk_commits(objects, &tips, &shallow, &mut walk);
    walk
}

/// Loose ref files git2 does not list because it cannot parse them, each named in `errors`.
fn unlisted_refs(repo: &Repository, listed: &HashSet<String>, errors: &mut Vec<String>) {
    let mut pending = vec![(repo.commondir().join("refs"), "refs".to_string())];
    while let Some((dir, name)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let Some(file) = e.file_name().to_str().map(str::to_string) else { continue };
            let full = format!("{name}/{file}");
            match e.file_type() {
                Ok(t) if t.is_dir() => pending.push((e.path(), full)),
                Ok(t) if t.is_file() && !file.ends_with(".lock") && !listed.contains(&full) => {
                    if let Err(err) = repo.find_reference(&full) {
                        errors.push(format!("ref {full} cannot be read: {}", err.message()));
                    }
                }
                _ => {}
            }
        }
    }
}

/// The commits a shallow clone has without their parents (`.git/shallow`).
fn shallow_commits(repo: &Repository) -> HashSet<Oid> {
    let Ok(text) = std::fs::read_to_string(repo.commondir().join("shallow")) else { return HashSet::new() };
    text.lines().filter_map(|l| Oid::from_str(l.trim()).ok()).collect()
}

/// Adds every commit reachable from `tips` to `walk.commits`, parents before children (a
/// depth-first walk, so no commit date is trusted), each once.
fn walk_commits(objects: &Objects<'_>, tips: &[Oid], shallow: &HashSet<Oid>, walk: &mut Walk) {
    // false while a commit is on the stack, true once it is done: a parent found on the stack
    // closes a cycle and is not entered again.
    let mut state: HashMap<Oid, bool> = HashMap::new();
    let parents_of = |oid: Oid, child: Option<Oid>, errors: &mut Vec<String>| -> Option<Vec<Oid>> {
        match objects.commit(oid) {
            Ok(_) if shallow.contains(&oid) => Some(Vec::new()),
            // Reversed, so that the first parent is walked first.
            Ok(c) => Some(c.parents.into_iter().rev().collect()),
            Err(e) => {
                let whose = child.map(|c| format!(" (a parent of {c})")).unwrap_or_default();
                let what = if e.code() == git2::ErrorCode::NotFound {
                    "is missing".to_string()
                } else {
                    format!("cannot be read: {}", e.message())
                };
                errors.push(format!("commit {oid}{whose} {what}; the history behind it is not scanned"));
                None
            }
        }
    };
    for &tip in tips {
        if state.contains_key(&tip) {
            continue;
        }
        let Some(parents) = parents_of(tip, None, &mut walk.errors) else {
            state.insert(tip, true);
            continue;
        };
        state.insert(tip, false);
        let mut stack = vec![(tip, parents)];
        while let Some(top) = stack.last_mut() {
            let child = top.0;
            let Some(parent) = top.1.pop() else {
                stack.pop();
                state.insert(child, true);
                walk.commits.push(child);
                continue;
            };
            if state.contains_key(&parent) {
                continue;
            }
            match parents_of(parent, Some(child), &mut walk.errors) {
                Some(grandparents) => {
                    state.insert(parent, false);
                    stack.push((parent, grandparents));
                }
                None => {
                    state.insert(parent, true);
                }
            }
        }
    }
}

/// Commits between two releases of the pack maps' pages in the provenance walk. The walk's own
/// reads map nothing ([`ObjectStore`]), but libgit2 maps pack windows and whole indexes for what
/// it is still asked: the blobs of a `--range` or push scan ([`LazyBlobs`]) and the authors of
/// commits that introduce a secret.
const RELEASE_PACKS_EVERY_COMMITS: usize = 8;

/// Finds where each matched secret entered the history among `commits` (parents first).
/// `scan_blob` gives a blob's findings; a blob too large to read is named in `report.skipped`
/// with the path and commit where it appeared.
pub fn introductions(
    objects: &Objects<'_>,
    commits: &[Oid],
    mut scan_blob: impl FnMut(Oid) -> BlobScan,
    report: &mut Report,
) -> Vec<Finding> {
    let mut findings_of = |oid: Oid| match scan_blob(oid) {
        BlobScan::Findings(f) => Ok(f),
        BlobScan::TooLarge { size, limit } => Err((size, limit)),
    };
    let repo_path = objects.repo.path().to_path_buf();
    let mut out = Vec::new();
    let mut changes = Vec::new();
    let mut fps_cache: HashMap<Oid, HashSet<String>> = HashMap::new();
    let mut fingerprints =
        |oid: Oid, findings_of: &mut dyn FnMut(Oid) -> Result<Vec<Finding>, (u64, u64)>| -> HashSet<String> {
            fps_cache
                .entry(oid)
                .or_insert_with(|| findings_of(oid).unwrap_or_default().into_iter().map(|f| f.fingerprint).collect())
                .clone()
        };
    let mut unreadable = Vec::new();
    let mut reported: HashSet<Oid> = HashSet::new();
    for (n, &cid) in commits.iter().enumerate() {
        if n % RELEASE_PACKS_EVERY_COMMITS == 0 {
            crate::source::pack::release_mapped_packs();
        }
        // A commit, its tree, its parents' trees, and what changed against the first parent.
        let read = objects.commit(cid).and_then(|commit| {
            let tree = objects.tree(commit.tree)?;
            // An unreadable first parent leaves nothing to diff against: all is new.
            let parents: Vec<Option<Tree>> =
                commit.parents.iter().map(|&p| objects.commit(p).and_then(|c| objects.tree(c.tree)).ok()).collect();
            changes.clear();
            let first = parents.first().and_then(Option::as_ref);
            diff_trees(objects, first, Some(&tree), &mut changes, &mut unreadable);
            Ok((commit, parents))
        });
        // A damaged tree is named once, however many commits share it.
        for u in unreadable.drain(..) {
            if reported.insert(u.id) {
                report.errors.push(Notice {
                    path: repo_path.display().to_string(),
                    message: format!(
                        "tree {} at {} (commit {}) cannot be read: {}; the files under it are not scanned",
                        u.id,
                        path_for_message(&u.path),
                        &cid.to_string()[..12],
                        u.message
                    ),
                });
            }
        }
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
                Err((size, limit)) => {
                    report.stats.skipped_too_large += 1;
                    report.skipped.push(Notice {
                        path: crate::source::fs::bytes_path_string(&change.path),
                        message: format!(
                            "blob {new} in commit {} is {} (--max-file-size {}), over the size limit; not scanned",
                            &cid.to_string()[..12],
                            crate::source::fs::human_bytes(size),
                            crate::source::fs::human_bytes(limit)
                        ),
                    });
                    continue;
                }
            };
            if found.is_empty() || removed.contains(&new) {
                continue;
            }
            let mut before: HashSet<String> = change.old.map(|o| fingerprints(o, &mut findings_of)).unwrap_or_default();
            for other in parents.iter().skip(1).flatten() {
                if let Some((id, ObjectType::Blob)) = entry_at(objects, other, &change.path) {
                    before.extend(fingerprints(id, &mut findings_of));
                }
            }
            let path = crate::source::fs::bytes_path_string(&change.path);
            for mut f in found {
                if before.contains(&f.fingerprint) {
                    continue;
                }
                let p = provenance.get_or_insert_with(|| provenance_of(objects.repo, commit.id));
                f.path = path.clone();
                f.history = Some(p.clone());
                out.push(f);
            }
        }
    }
    out
}

/// Who wrote commit `id` and when, read through libgit2 for its parsing of signatures and
/// summaries (only commits that introduce a secret are asked, and keytrail has read each whole
/// already). A commit libgit2 cannot parse still gives its id.
fn provenance_of(repo: &Repository, id: Oid) -> Provenance {
    let Ok(commit) = repo.find_commit(id) else {
        return Provenance {
            commit: id.to_string(),
            author: String::new(),
            email: String::new(),
            date: String::new(),
            summary: String::new(),
            present_at_head: false,
        };
    };
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

/// A path in a message: control characters escaped, and the middle of a very long one left out.
fn path_for_message(path: &[u8]) -> String {
    let path = crate::finding::escape_control(&crate::source::fs::bytes_path_string(path));
    let chars: Vec<char> = path.chars().collect();
    if chars.len() <= 160 {
        return path;
    }
    let head: String = chars[..80].iter().collect();
    let tail: String = chars[chars.len() - 60..].iter().collect();
    format!("{head}…{tail}")
}

/// The entry at `path` (`/`-separated) in `tree`, its subtrees read through `objects`.
fn entry_at(objects: &Objects<'_>, tree: &Tree, path: &[u8]) -> Option<(Oid, ObjectType)> {
    let mut current = tree.clone();
    let mut parts = path.split(|&b| b == b'/').peekable();
    while let Some(name) = parts.next() {
        let (id, kind) = {
            let e = current.get(name)?;
            (e.id, e.kind)
        };
        if parts.peek().is_none() {
            return Some((id, kind));
        }
        if kind != ObjectType::Tree {
            return None;
        }
        current = objects.tree(id).ok()?;
    }
    None
}

/// Fingerprints of every secret in HEAD's tree.
pub fn fingerprints_at_head(objects: &Objects<'_>, blobs: &BlobFindings) -> HashSet<String> {
    let mut fps = HashSet::new();
    let Some(target) = objects.repo.head().ok().and_then(|h| h.target()) else { return fps };
    let Ok(Some(commit)) = objects.commit_of(target) else { return fps };
    let Ok(tree) = objects.commit(commit).and_then(|c| objects.tree(c.tree)) else { return fps };
    // Each tree once: a hand-made tree can hold itself.
    let mut seen = HashSet::from([tree.id()]);
    let mut pending = vec![tree];
    while let Some(tree) = pending.pop() {
        for entry in tree.iter() {
            match entry.kind {
                ObjectType::Blob => {
                    if let Some(found) = blobs.get(&entry.id) {
                        fps.extend(found.iter().map(|f| f.fingerprint.clone()));
                    }
                }
                ObjectType::Tree if seen.insert(entry.id) => {
                    if let Ok(sub) = objects.tree(entry.id) {
                        pending.push(sub);
                    }
                }
                _ => {}
            }
        }
    }
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
    /// Blobs are read by keytrail's own reader: libgit2 follows a delta cycle forever, and loops
    /// on a truncated loose object.
    store: ObjectStore,
    /// Whether an object reads whole (see [`LazyBlobs::whole`]).
    whole: HashMap<Oid, bool>,
    matcher: &'r Matcher,
    max_blob_size: u64,
    show_secrets: bool,
    cache: HashMap<Oid, Vec<Finding>>,
    pub blobs: u64,
    pub blob_bytes: u64,
    /// Blobs that could not be read, each with why.
    pub unreadable: Vec<(Oid, String)>,
    /// Staged blobs passed over for size: path, id, size, limit.
    pub too_large: Vec<(String, Oid, u64, u64)>,
}

impl<'r> LazyBlobs<'r> {
    pub fn new(repo: &'r Repository, matcher: &'r Matcher, max_blob_size: u64, show_secrets: bool) -> Self {
        LazyBlobs {
            repo,
            store: ObjectStore::of_repository(repo).with_limit(max_blob_size),
            whole: HashMap::new(),
            matcher,
            max_blob_size,
            show_secrets,
            cache: HashMap::new(),
            blobs: 0,
            blob_bytes: 0,
            unreadable: Vec::new(),
            too_large: Vec::new(),
        }
    }

    /// Whether libgit2 may read `oid`: a packed object, or a loose one that reads whole.
    pub fn whole(&mut self, oid: Oid) -> bool {
        if let Some(&w) = self.whole.get(&oid) {
            return w;
        }
        let w = match self.store.loose_path(oid) {
            Some(path) => crate::source::pack::read_loose(&path, u64::MAX).is_ok(),
            None => true,
        };
        self.whole.insert(oid, w);
        w
    }

    pub fn findings(&mut self, oid: Oid) -> Vec<Finding> {
        match self.scan(oid) {
            BlobScan::Findings(f) => f,
            BlobScan::TooLarge { .. } => Vec::new(),
        }
    }

    pub fn scan(&mut self, oid: Oid) -> BlobScan {
        if let Some(f) = self.cache.get(&oid) {
            return BlobScan::Findings(f.clone());
        }
        // The size comes from headers first (a loose blob's, or a packed one's and its deltas'),
        // so an oversize blob is never inflated.
        let found = match self.store.blob_size(oid) {
            Ok(Some(size)) if size > self.max_blob_size => {
                return BlobScan::TooLarge { size, limit: self.max_blob_size }
            }
            Ok(Some(_)) => match self.store.read(oid) {
                Ok((_, data)) => {
                    self.blobs += 1;
                    self.blob_bytes += data.len() as u64;
                    match_blob(self.matcher, &data, self.show_secrets)
                }
                Err(e) => {
                    self.unreadable.push((oid, e.to_string()));
                    Vec::new()
                }
            },
            Ok(None) => {
                let kind = self.store.kind(oid).map_or_else(|_| "object".to_string(), |k| k.to_string());
                self.unreadable.push((oid, format!("a {kind}, where a blob was expected")));
                Vec::new()
            }
            Err(StoreError::Damaged(why)) => {
                self.unreadable.push((oid, why));
                Vec::new()
            }
            Err(StoreError::Missing) => match self.scan_with_libgit2(oid) {
                Ok(found) => found,
                Err(too_large) => return too_large,
            },
        };
        self.cache.insert(oid, found.clone());
        BlobScan::Findings(found)
    }

    /// A blob keytrail's reader does not find (in a pack it cannot open, say), read by libgit2:
    /// its header first, and no more inflated than it declares.
    fn scan_with_libgit2(&mut self, oid: Oid) -> Result<Vec<Finding>, BlobScan> {
        let read = self.repo.odb().and_then(|odb| odb.read_header(oid)).and_then(|(size, _)| {
            if size as u64 > self.max_blob_size {
                return Ok(Err(size as u64));
            }
            self.repo.find_blob(oid).map(Ok)
        });
        match read {
            Ok(Ok(b)) => {
                self.blobs += 1;
                self.blob_bytes += b.size() as u64;
                Ok(match_blob(self.matcher, b.content(), self.show_secrets))
            }
            Ok(Err(size)) => Err(BlobScan::TooLarge { size, limit: self.max_blob_size }),
            Err(e) => {
                self.unreadable.push((oid, e.message().to_string()));
                Ok(Vec::new())
            }
        }
    }
}

/// A commit selection: everything reachable from `include` and from none of `exclude`.
///
/// Unsorted: a topological revwalk yields no commit at all when grafts make the history a cycle,
/// where an unsorted one visits each commit once and ends; the order does not matter to callers.
pub fn commits_between(repo: &Repository, include: &[Oid], exclude: &[Oid]) -> Result<Vec<Oid>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::NONE)?;
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
pub fn range_commits(objects: &Objects<'_>, spec: &str) -> Result<(Vec<Oid>, Oid), String> {
    let repo = objects.repo;
    let (base, head, symmetric) = match spec.split_once("...") {
        Some((b, h)) => (b, h, true),
        None => match spec.split_once("..") {
            Some((b, h)) => (b, h, false),
            None => return Err(format!("`{spec}` is not a range: use BASE..HEAD or BASE...HEAD")),
        },
    };
    let resolve = |rev: &str| -> Result<Oid, String> {
        let rev = if rev.is_empty() { "HEAD" } else { rev };
        let commit = repo.revparse_single(rev).and_then(|o| objects.commit_of(o.id()));
        match commit {
            Ok(Some(c)) => Ok(c),
            Ok(None) => Err(format!("`{rev}` is not a commit")),
            Err(e) => Err(format!("`{rev}`: {}", e.message())),
        }
    };
    let head = resolve(head)?;
    let exclude = if !base.is_empty() && base.bytes().all(|b| b == b'0') {
        other_ref_tips(objects, head)
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
/// branch being created. Replace refs do not count: a replacement is a local view of history,
/// and one whose parent is the new branch would otherwise hide the whole branch.
pub fn other_ref_tips(objects: &Objects<'_>, tip: Oid) -> Vec<Oid> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    if let Ok(refs) = objects.repo.references() {
        for r in refs.flatten() {
            if r.name_bytes().starts_with(b"refs/replace/") {
                continue;
            }
            if let Some(c) = ref_commit(objects, &r) {
                if c != tip && seen.insert(c) {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// The commit a ref leads to, if it leads to one that can be read.
pub fn ref_commit(objects: &Objects<'_>, r: &git2::Reference<'_>) -> Option<Oid> {
    let target = r.resolve().ok()?.target()?;
    objects.commit_of(target).ok()?
}

/// Whether `fingerprint` is in the blob at `path` in `commit`'s tree.
pub fn present_at(
    objects: &Objects<'_>,
    commit: Oid,
    path: &str,
    fingerprint: &str,
    blobs: &mut LazyBlobs<'_>,
) -> bool {
    let Ok(tree) = objects.commit(commit).and_then(|c| objects.tree(c.tree)) else { return false };
    let Some((id, ObjectType::Blob)) = entry_at(objects, &tree, path.as_bytes()) else { return false };
    blobs.findings(id).iter().any(|f| f.fingerprint == fingerprint)
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
        // A gitlink names a commit of the submodule's repository, not a blob of this one.
        if new.mode() == git2::FileMode::Commit {
            continue;
        }
        let Some(path) = new.path_bytes().map(crate::source::fs::bytes_path_string) else { continue };
        let found = match blobs.scan(new.id()) {
            BlobScan::Findings(found) => found,
            BlobScan::TooLarge { size, limit } => {
                blobs.too_large.push((path, new.id(), size, limit));
                continue;
            }
        };
        if found.is_empty() {
            continue;
        }
        // An earlier version that cannot be read whole is not handed to libgit2: every line counts as added.
        let old = Some(delta.old_file().id()).filter(|&o| !o.is_zero() && blobs.whole(o)).unwrap_or_else(Oid::zero);
        let added = added_lines(repo, old, new.id())?;
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
    use super::*;

    #[test]
    fn an_object_longer_than_its_header_stops_the_cat_file_reader() {
        let oid = "1234567890abcdef1234567890abcdef12345678";
        // Three bytes declared, then a MiB without a line break: what follows an object that
        // lies about its size must not be buffered as one header line.
        let mut stream = format!("{oid} blob 3\nabc").into_bytes();
        stream.extend(std::iter::repeat_n(0u8, 1 << 20));
        let (tx, _rx) = crossbeam_channel::unbounded();
        let (mut stats, mut too_large, mut damaged) = (Stats::default(), HashMap::new(), Vec::new());
        let read = read_stream(&stream[..], 10, &tx, &mut stats, &mut too_large, &mut damaged, Path::new("."));
        let message = read.map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(message.contains("longer than its header"), "{message}");

        let stream = format!("{oid} blob 3\nabc\n{}", "x".repeat(1 << 20)).into_bytes();
        let read = read_stream(&stream[..], 10, &tx, &mut stats, &mut too_large, &mut damaged, Path::new("."));
        let message = read.map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        assert!(message.contains("unterminated header"), "{message}");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00+00:00");
        assert_eq!(rfc3339(1_700_000_000, 60), "2023-11-14T23:13:20+01:00");
        assert_eq!(rfc3339(951_782_400, -330), "2000-02-28T18:30:00-05:30");
    }
}
