//! Reads every object of a repository in process: each pack along its delta trees (every blob
//! decoded once, on all cores, `delta.rs`), then the loose objects.
//!
//! This replaced piping `git cat-file --batch-all-objects --batch --unordered` into the matchers,
//! where most of keytrail's time went into copying the blobs through the pipe; the traversal
//! decodes the benchmark's 1.87 GB of blobs in less time than `cat-file` takes to write them to
//! /dev/null (BENCHMARKS.md). `cat-file` stays as the fallback for an object format other than
//! SHA-1.
//!
//! Damage costs only what is damaged: a pack that cannot be read at all is named and skipped, a
//! pack that fails part-way (or holds an object too large to decode in memory) is read object by
//! object, header first, and every loose object is read here, never by libgit2, which loops
//! forever on a truncated one. What cannot be read is named.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use git2::{ObjectType, Oid, Repository};
use gix_hash::ObjectId;

use crate::finding::Finding;
use crate::matcher::Matcher;
use crate::scan::Stats;
use crate::source::delta;
use crate::source::git::{match_blob, BlobFindings, GitOptions, HistoryBlobs};

/// Why the in-process read gave up; the caller falls back to `git cat-file`.
#[derive(Debug)]
pub struct Unsupported(pub String);

/// What reading the object store gave: the blobs' results, counts, and what could not be read.
pub struct ObjectScan {
    pub blobs: HistoryBlobs,
    pub stats: Stats,
    /// Damage (a pack or an object that cannot be read), each message naming what.
    pub errors: Vec<String>,
}

/// What a loose object holds, as keytrail reads it.
#[derive(Debug)]
pub enum Loose {
    /// A blob within the size limit, and its content.
    Blob(Vec<u8>),
    /// A blob over the size limit (its declared size): only its header was inflated.
    TooLarge(u64),
    /// Another kind of object, inflated to its end and found whole.
    Other(ObjectType),
}

/// Why a loose object cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LooseError {
    pub message: String,
    /// Its zlib stream ends early: libgit2 would loop forever reading it.
    pub truncated: bool,
    /// Its header names a blob: libgit2 reads blobs only where keytrail asks it to.
    pub blob: bool,
}

impl std::fmt::Display for LooseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl LooseError {
    fn new(message: impl Into<String>) -> Self {
        LooseError { message: message.into(), truncated: false, blob: false }
    }
}

/// Object directories nested through `info/alternates` deeper than this are not followed
/// (git's own limit).
const MAX_ALTERNATE_DEPTH: usize = 5;

/// The largest single buffer a pack traversal may allocate (or the size limit, when larger). A
/// pack holding an object over it is read one object at a time instead, each object's size read
/// from its header first, so a blob that inflates to gigabytes is passed over without inflating it.
const DECODE_BUDGET: u64 = 64 << 20;

/// How many unreadable objects of one pack (or of the loose objects) are named one by one.
const DAMAGED_NAMED: usize = 10;

/// Matches every blob in the repository's object store, each once. A pack or object that cannot
/// be read is named in the result's errors and the rest is still read.
pub fn scan_objects(repo: &Repository, matcher: &Matcher, opts: &GitOptions) -> Result<ObjectScan, Unsupported> {
    if let Ok(config) = repo.config() {
        if let Ok(format) = config.get_string("extensions.objectformat") {
            if !format.eq_ignore_ascii_case("sha1") {
                return Err(Unsupported(format!("object format {format}")));
            }
        }
    }
    let threads = opts.worker_threads();
    let sink = Sink::new(matcher, opts);
    let mut errors = Vec::new();
    let mut seen = Seen::default();
    // Objects libgit2 must not be asked for (it would loop forever on them): the provenance walk
    // treats them as unreadable.
    let mut damaged_ids = HashSet::new();
    let dirs = object_dirs(&repo.commondir().join("objects"));
    let mut packs = 0;
    for dir in &dirs {
        for idx_path in pack_indexes(dir, &mut errors) {
            if scan_pack(repo.path(), &idx_path, &sink, &mut seen, threads, &mut errors, &mut damaged_ids)? {
                packs += 1;
            }
        }
    }
    let mut loose = Vec::new();
    for dir in &dirs {
        loose_objects(dir, &seen, &mut loose, &mut errors)?;
    }
    let damaged = scan_loose(&loose, Some(&sink), threads);
    damaged_ids.extend(damaged.iter().map(|(oid, _)| *oid));
    errors.extend(name_damaged(damaged.into_iter().map(|(oid, e)| (oid, e.message)).collect(), "loose objects"));
    let stats =
        Stats { blobs: sink.blobs.into_inner(), blob_bytes: sink.blob_bytes.into_inner(), packs, ..Stats::default() };
    let findings = sink.findings.into_inner().unwrap_or_else(|p| p.into_inner());
    let too_large = sink.too_large.into_inner().unwrap_or_else(|p| p.into_inner());
    let blobs = HistoryBlobs { findings, too_large, limit: opts.max_blob_size, damaged: damaged_ids };
    Ok(ObjectScan { blobs, stats, errors })
}

/// Where decoded blobs go, shared by every decoding thread.
struct Sink<'a> {
    matcher: &'a Matcher,
    opts: &'a GitOptions,
    findings: Mutex<BlobFindings>,
    too_large: Mutex<HashMap<Oid, u64>>,
    blobs: AtomicU64,
    blob_bytes: AtomicU64,
}

impl<'a> Sink<'a> {
    fn new(matcher: &'a Matcher, opts: &'a GitOptions) -> Self {
        Sink {
            matcher,
            opts,
            findings: Mutex::new(HashMap::new()),
            too_large: Mutex::new(HashMap::new()),
            blobs: AtomicU64::new(0),
            blob_bytes: AtomicU64::new(0),
        }
    }

    /// Adds what another sink collected (one pack's traversal, kept apart until it succeeded).
    fn absorb(&self, other: Sink<'_>) {
        lock(&self.findings).extend(other.findings.into_inner().unwrap_or_else(|p| p.into_inner()));
        lock(&self.too_large).extend(other.too_large.into_inner().unwrap_or_else(|p| p.into_inner()));
        self.blobs.fetch_add(other.blobs.into_inner(), Ordering::Relaxed);
        self.blob_bytes.fetch_add(other.blob_bytes.into_inner(), Ordering::Relaxed);
    }

    /// Records a blob over the size limit; true when it is one (and must not be matched).
    fn oversize(&self, oid: Oid, size: u64) -> bool {
        let over = size > self.opts.max_blob_size;
        if over {
            lock(&self.too_large).insert(oid, size);
        }
        over
    }

    fn blob(&self, oid: Oid, data: &[u8]) {
        let size = data.len() as u64;
        if self.oversize(oid, size) {
            return;
        }
        self.blobs.fetch_add(1, Ordering::Relaxed);
        self.blob_bytes.fetch_add(size, Ordering::Relaxed);
        self.opts.progress.blob(size);
        let found: Vec<Finding> = match_blob(self.matcher, data, self.opts.show_secrets);
        if !found.is_empty() {
            lock(&self.findings).insert(oid, found);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn to_oid(id: &gix_hash::oid) -> Result<Oid, Unsupported> {
    Oid::from_bytes(id.as_bytes()).map_err(|e| Unsupported(e.message().to_string()))
}

/// The repository's object directory followed by its alternates, each once.
fn object_dirs(objects: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut seen = HashSet::new();
    let mut pending = vec![(objects.to_path_buf(), 0)];
    while let Some((dir, depth)) = pending.pop() {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if !seen.insert(key) {
            continue;
        }
        if depth < MAX_ALTERNATE_DEPTH {
            if let Ok(text) = std::fs::read_to_string(dir.join("info").join("alternates")) {
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                    pending.push((dir.join(line), depth + 1));
                }
            }
        }
        dirs.push(dir);
    }
    dirs
}

/// The pack indexes of an object directory. A pack without its index is named in `errors`: git
/// cannot read it either (`git index-pack` rebuilds the index).
pub fn pack_indexes(objects: &Path, errors: &mut Vec<String>) -> Vec<PathBuf> {
    let dir = objects.join("pack");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            errors.push(format!("cannot list {}: {e}; its packs are not read", dir.display()));
            return Vec::new();
        }
    };
    let files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    let with = |ext: &str| {
        let mut v: Vec<&PathBuf> = files.iter().filter(|p| p.extension().is_some_and(|x| x == ext)).collect();
        v.sort();
        v
    };
    for pack in with("pack") {
        if !pack.with_extension("idx").exists() {
            errors.push(format!(
                "pack {} has no index ({} is missing); its objects are not read",
                file_name(pack),
                file_name(&pack.with_extension("idx"))
            ));
        }
    }
    with("idx").into_iter().cloned().collect()
}

/// The objects already read: the indexes of the packs traversed so far, asked by binary search.
/// A set of their ids grew with the history (88 MiB for the 2.4 million objects of the ten-times
/// benchmark) where the indexes are file-backed and already mapped.
#[derive(Default)]
struct Seen {
    indexes: Vec<gix_pack::index::File>,
}

impl Seen {
    fn contains(&self, id: &gix_hash::oid) -> bool {
        self.indexes.iter().any(|i| i.lookup(id).is_some())
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reads one pack's blobs: along its delta trees when every object fits the decode budget and
/// the pack is sound, else one object at a time. False when the pack could not be read at all (named
/// in `errors`).
fn scan_pack(
    git_dir: &Path,
    idx_path: &Path,
    sink: &Sink<'_>,
    seen: &mut Seen,
    threads: usize,
    errors: &mut Vec<String>,
    damaged_ids: &mut HashSet<Oid>,
) -> Result<bool, Unsupported> {
    let pack_path = idx_path.with_extension("pack");
    let (idx_name, pack_name) = (file_name(idx_path), file_name(&pack_path));
    if !pack_path.exists() {
        errors.push(format!("pack index {idx_name} has no pack ({pack_name} is missing)"));
        return Ok(false);
    }
    let index = match gix_pack::index::File::at(idx_path, gix_hash::Kind::Sha1) {
        Ok(i) => i,
        Err(e) => {
            errors.push(format!("pack index {idx_name} cannot be read ({e}); the objects of {pack_name} are not read"));
            return Ok(false);
        }
    };
    let budget = usize::try_from(sink.opts.max_blob_size.max(DECODE_BUDGET)).unwrap_or(usize::MAX);
    let pack = match gix_pack::data::File::at(&pack_path, gix_hash::Kind::Sha1) {
        Ok(p) => p.with_alloc_limit_bytes(Some(budget)),
        Err(e) => {
            errors.push(format!("pack {pack_name} cannot be read ({e}); its objects are not read"));
            return Ok(false);
        }
    };
    // The index records the checksum of its pack, and the pack ends with it: comparing the two
    // (without hashing anything) catches a truncated pack and an index of another pack. git and
    // libgit2 refuse such a pack whole, so its objects could not be tied to commits anyway.
    if index.pack_checksum() != pack.checksum() || index.num_objects() != pack.num_objects() {
        errors.push(format!(
            "pack {pack_name} does not match its index {idx_name} (truncated, or the index of another pack); \
             its objects are not read"
        ));
        return Ok(false);
    }
    let earlier = &*seen;
    let local = Sink::new(sink.matcher, sink.opts);
    let traversal = traverse_pack(&index, &pack, &local, earlier, threads)?;
    if let delta::Outcome::Failed(why) = &traversal {
        errors.push(format!("pack {pack_name} is damaged ({why}); its objects are read one by one"));
    }
    if let delta::Outcome::Done = traversal {
        sink.absorb(local);
    } else {
        let (ids, mut damaged) = readable_by_id(&index, &pack, earlier)?;
        damaged_ids.extend(damaged.iter().map(|(oid, _)| *oid));
        damaged.extend(scan_by_id(git_dir, &ids, sink, threads));
        damaged.sort_by_key(|(oid, _)| *oid);
        errors.extend(name_damaged(damaged, &format!("pack {pack_name}")));
    }
    seen.indexes.push(index);
    Ok(true)
}

/// Splits the objects of a pack that failed its traversal (those not read from an earlier pack)
/// into the ones to read by id through libgit2 and the damaged ones, with why. An object whose
/// delta chain is broken within the pack, above all one that loops (deltas naming each other as
/// base by id), is not handed to libgit2: it follows such a chain forever, as git does. A base
/// missing from this pack is left to libgit2, which looks in the other packs too.
#[allow(clippy::type_complexity)]
fn readable_by_id(
    index: &gix_pack::index::File,
    pack: &gix_pack::data::File,
    earlier: &Seen,
) -> Result<(Vec<Oid>, Vec<(Oid, String)>), Unsupported> {
    // The entries are spread over the whole pack: its pages are dropped as the check goes, or a
    // large pack would sit whole in RSS.
    const RELEASE_EVERY_ENTRIES: usize = 1 << 10;
    let pages = MappedPages::of(index, pack);
    let mut inflate = gix_zlib::Inflate::default();
    let in_pack = |id: &gix_hash::oid| {
        Ok(delta::entry_by_id(index, pack, id)?.map(gix_pack::data::decode::header::ResolvedBase::InPack))
    };
    let (mut ids, mut damaged) = (Vec::new(), Vec::new());
    for (n, e) in index.iter().enumerate().filter(|(_, e)| !earlier.contains(&e.oid)) {
        if n % RELEASE_EVERY_ENTRIES == RELEASE_EVERY_ENTRIES - 1 {
            pages.release();
        }
        let oid = to_oid(&e.oid)?;
        match pack.entry(e.pack_offset).and_then(|entry| pack.decode_header(entry, &mut inflate, &in_pack)) {
            Err(err) if !err.classify().is_not_found() => damaged.push((oid, err.probable_cause().to_string())),
            _ => ids.push(oid),
        }
    }
    pages.release();
    Ok((ids, damaged))
}

/// Decodes every blob of a pack along its delta trees (`delta::Walk`), dropping the pages of the
/// pack's and the index's maps as it goes. Short of `Done`, the pack is read object by object.
fn traverse_pack(
    index: &gix_pack::index::File,
    pack: &gix_pack::data::File,
    sink: &Sink<'_>,
    earlier: &Seen,
    threads: usize,
) -> Result<delta::Outcome, Unsupported> {
    let bad_id = AtomicBool::new(false);
    let pages = MappedPages::of(index, pack);
    let blob = |id: &[u8; 20], data: &[u8]| {
        // Object ids are not re-hashed: neither does `git cat-file`, and hashing every object
        // would cost more than decoding it.
        let id = gix_hash::oid::from_bytes_unchecked(id);
        if !earlier.contains(id) {
            match to_oid(id) {
                Ok(oid) => sink.blob(oid, data),
                Err(_) => bad_id.store(true, Ordering::Relaxed),
            }
        }
    };
    let release = || pages.release();
    let budget = pack.alloc_limit_bytes.map_or(u64::MAX, |b| b as u64);
    let walk = delta::Walk { index, pack, budget, threads, blob: &blob, release: &release };
    let outcome = walk.run();
    if bad_id.into_inner() {
        return Err(Unsupported(format!("{}: an object id that is not SHA-1", index.path().display())));
    }
    Ok(outcome)
}

/// The pages of a pack's and its index's maps that reading touched. They count in the process's
/// RSS until unmapped, and a traversal reads the whole pack and index: on the ten-times benchmark,
/// 1.4 GiB of RSS that is only page cache. The traversal drops them all (`MADV_DONTNEED`) after
/// each slice and every 64 MiB decoded; the few still needed fault back in from the page cache.
struct MappedPages {
    /// (start, length) of each map.
    maps: Vec<(usize, usize)>,
}

impl MappedPages {
    fn of(index: &gix_pack::index::File, pack: &gix_pack::data::File) -> Self {
        let mut maps = Vec::new();
        if let Some(map) = pack.entry_slice(0..pack.data_len() as u64) {
            maps.push((map.as_ptr() as usize, map.len()));
        }
        maps.extend(index_map(index));
        MappedPages { maps }
    }

    #[cfg(unix)]
    fn release(&self) {
        for &(start, len) in &self.maps {
            // SAFETY: a read-only, file-backed map of a pack or index that nothing writes to.
            // MADV_DONTNEED only drops its pages: a later read faults the same bytes back in from
            // the page cache, so slices into the map held by other threads stay valid and
            // unchanged.
            unsafe {
                libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
            }
        }
    }

    #[cfg(not(unix))]
    fn release(&self) {}
}

/// Drops the resident pages of every read-only map of a pack or pack index in the process
/// (`MADV_DONTNEED`), libgit2's included: libgit2 maps an index whole (28 bytes an object, 64 MiB
/// on the ten-times benchmark) and packs in windows, and what it reads by id is all over them, so
/// their pages would stay resident and grow with the history. Only maps without write permission
/// are touched, whose pages fault back in unchanged from the page cache.
pub fn release_mapped_packs() {
    let Some(maps) = process_maps() else { return };
    for map in maps.lines().filter_map(Mapping::parse) {
        if map.read_only && (map.path.ends_with(".pack") || map.path.ends_with(".idx")) {
            // SAFETY: a file-backed map without write permission; MADV_DONTNEED drops its pages
            // and a later read faults the same bytes back in from the page cache.
            unsafe {
                libc::madvise(map.start as *mut libc::c_void, map.end - map.start, libc::MADV_DONTNEED);
            }
        }
    }
}

/// Where the map of a pack index lies (gix keeps it private): the read-only map of the index
/// file that holds its first object id. Elsewhere than Linux its pages are left alone (28 bytes
/// an object).
fn index_map(index: &gix_pack::index::File) -> Option<(usize, usize)> {
    if index.num_objects() == 0 {
        return None;
    }
    let inode = file_inode(index.path())?;
    let at = index.oid_at_index(0).as_bytes().as_ptr() as usize;
    let maps = process_maps()?;
    let map = maps.lines().filter_map(Mapping::parse).find(|m| m.start <= at && at < m.end)?;
    (map.read_only && map.inode == inode).then_some((map.start, map.end - map.start))
}

/// The process's memory maps (`/proc/self/maps`), where there are such.
fn process_maps() -> Option<String> {
    if cfg!(target_os = "linux") {
        std::fs::read_to_string("/proc/self/maps").ok()
    } else {
        None
    }
}

#[cfg(unix)]
fn file_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

#[cfg(not(unix))]
fn file_inode(_: &Path) -> Option<u64> {
    None
}

/// One line of `/proc/self/maps`: `start-end perms offset dev inode path`.
struct Mapping<'a> {
    start: usize,
    end: usize,
    read_only: bool,
    inode: u64,
    path: &'a str,
}

impl<'a> Mapping<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        let inode = fields.nth(2)?.parse().ok()?;
        Some(Mapping {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            read_only: perms.starts_with("r-"),
            inode,
            path: fields.next().unwrap_or(""),
        })
    }
}

/// Loose objects (`xx/yyyy…` files) not already read from a pack, with their files.
fn loose_objects(
    objects: &Path,
    seen: &Seen,
    out: &mut Vec<(Oid, PathBuf)>,
    errors: &mut Vec<String>,
) -> Result<(), Unsupported> {
    let entries = match std::fs::read_dir(objects) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            errors.push(format!("cannot list {}: {e}; its loose objects are not read", objects.display()));
            return Ok(());
        }
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(prefix) = name.to_str().filter(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit())) else {
            continue;
        };
        let files = match std::fs::read_dir(entry.path()) {
            Ok(f) => f,
            Err(e) => {
                errors.push(format!("cannot list {}: {e}; its loose objects are not read", entry.path().display()));
                continue;
            }
        };
        for file in files.filter_map(Result::ok) {
            let rest = file.file_name();
            let Some(rest) = rest.to_str().filter(|r| r.len() == 38 && r.bytes().all(|b| b.is_ascii_hexdigit())) else {
                continue;
            };
            let Ok(id) = ObjectId::from_hex(format!("{prefix}{rest}").as_bytes()) else { continue };
            if !seen.contains(&id) {
                out.push((to_oid(&id)?, file.path()));
            }
        }
    }
    Ok(())
}

/// Reads packed objects by id through libgit2, one repository handle per thread (handles are not
/// shared across threads): each object's header first, so a blob over the size limit is never
/// inflated (libgit2 inflates a packed object no further than its header's size). Returns the
/// objects that could not be read, with why.
fn scan_by_id(git_dir: &Path, oids: &[Oid], sink: &Sink<'_>, threads: usize) -> Vec<(Oid, String)> {
    in_parts(oids, threads, |part, damaged| {
        let read = |damaged: &mut Vec<(Oid, String)>| -> Result<(), git2::Error> {
            let repo = Repository::open(git_dir)?;
            let odb = repo.odb()?;
            for &oid in part {
                if let Err(e) = scan_one(&odb, oid, sink) {
                    damaged.push((oid, e.message().to_string()));
                }
            }
            Ok(())
        };
        if let Err(e) = read(damaged) {
            damaged.extend(part.iter().map(|&oid| (oid, e.message().to_string())));
        }
    })
}

/// Runs `work` on `items` split into one part per thread, and gathers the objects each part
/// reports (the unreadable ones), in object-id order.
fn in_parts<T: Sync, E: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&[T], &mut Vec<(Oid, E)>) + Sync,
) -> Vec<(Oid, E)> {
    if items.is_empty() {
        return Vec::new();
    }
    let chunk = items.len().div_ceil(threads.max(1));
    let gathered = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for part in items.chunks(chunk) {
            let (gathered, work) = (&gathered, &work);
            s.spawn(move || {
                let mut local = Vec::new();
                work(part, &mut local);
                lock(gathered).extend(local);
            });
        }
    });
    let mut gathered = gathered.into_inner().unwrap_or_else(|p| p.into_inner());
    gathered.sort_by_key(|(oid, _)| *oid);
    gathered
}

fn scan_one(odb: &git2::Odb<'_>, oid: Oid, sink: &Sink<'_>) -> Result<(), git2::Error> {
    let (size, kind) = odb.read_header(oid)?;
    if kind != ObjectType::Blob || sink.oversize(oid, size as u64) {
        return Ok(());
    }
    sink.blob(oid, odb.read(oid)?.data());
    Ok(())
}

/// Names the first few unreadable objects of `place` and counts the rest, so a badly damaged
/// pack gives a readable report rather than one line per object.
pub fn name_damaged(damaged: Vec<(Oid, String)>, place: &str) -> Vec<String> {
    let n = damaged.len();
    let mut out: Vec<String> = damaged
        .into_iter()
        .take(DAMAGED_NAMED)
        .map(|(oid, message)| format!("object {oid} ({place}) cannot be read: {message}; skipped"))
        .collect();
    if n > DAMAGED_NAMED {
        out.push(format!("… and {} more objects of {place} cannot be read", n - DAMAGED_NAMED));
    }
    out
}

/// Reads loose objects on `threads` threads: blobs go to `sink` (when there is one), every other
/// object is inflated to its end to prove it whole. Returns the objects that could not be read.
fn scan_loose(loose: &[(Oid, PathBuf)], sink: Option<&Sink<'_>>, threads: usize) -> Vec<(Oid, LooseError)> {
    // Without a sink only the other objects matter: a blob's header is enough.
    let limit = sink.map_or(0, |s| s.opts.max_blob_size);
    in_parts(loose, threads, |part, damaged| {
        for (oid, path) in part {
            match read_loose(path, limit) {
                Ok(Loose::Blob(data)) => {
                    if let Some(sink) = sink {
                        sink.blob(*oid, &data);
                    }
                }
                Ok(Loose::TooLarge(size)) => {
                    if let Some(sink) = sink {
                        sink.oversize(*oid, size);
                    }
                }
                Ok(Loose::Other(_)) => {}
                Err(e) => damaged.push((*oid, e)),
            }
        }
    })
}

/// The loose objects of the repository that cannot be read whole, blobs judged by their header
/// only: what must be kept from libgit2 before a scan of part of the history (see [`read_loose`]).
pub fn damaged_loose_objects(repo: &Repository) -> Vec<(Oid, LooseError)> {
    let mut loose = Vec::new();
    let mut errors = Vec::new();
    for dir in object_dirs(&repo.commondir().join("objects")) {
        // Ids that are not SHA-1 cannot be listed; the repository would not have opened.
        let _ = loose_objects(&dir, &Seen::default(), &mut loose, &mut errors);
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    scan_loose(&loose, None, threads)
}

/// The repository's object directories: its own, then its alternates.
pub fn object_dirs_of(repo: &Repository) -> Vec<PathBuf> {
    object_dirs(&repo.commondir().join("objects"))
}

/// The file of loose object `oid`, if it has one in one of `dirs`.
pub fn loose_path(dirs: &[PathBuf], oid: Oid) -> Option<PathBuf> {
    let hex = oid.to_string();
    dirs.iter().map(|d| d.join(&hex[..2]).join(&hex[2..])).find(|p| p.is_file())
}

/// The longest loose-object header (`commit 18446744073709551615` and its NUL, with room).
const LOOSE_HEADER_MAX: usize = 64;

/// Reads the loose object file at `path`, inflating no more of it than needed: a blob over
/// `max_blob_size` only as far as its header, any other object to its end to check it whole
/// (without keeping it).
///
/// libgit2 is never handed a loose object keytrail has not read whole itself: libgit2 1.9 loops
/// forever on a loose object whose zlib stream ends early (`git_zstream_get_output` waits for
/// output that the exhausted input cannot give), so one truncated object would hang the scan.
pub fn read_loose(path: &Path, max_blob_size: u64) -> Result<Loose, LooseError> {
    inflate_loose(path, max_blob_size, false).map(|(loose, _)| loose)
}

/// Reads the loose object file at `path` whole, whatever its kind, as [`read_loose`] does; an
/// object over `max_size` is an error, found from its header before anything is allocated.
pub fn read_loose_object(path: &Path, max_size: u64) -> Result<(ObjectType, Vec<u8>), LooseError> {
    match inflate_loose(path, max_size, true)? {
        (Loose::Blob(data), _) => Ok((ObjectType::Blob, data)),
        (Loose::TooLarge(size), _) => Err(LooseError::new(format!("{size} bytes, over the {max_size} it may have"))),
        (Loose::Other(kind), body) => Ok((kind, body)),
    }
}

/// [`read_loose`], keeping the content of objects other than blobs too when `keep_all` (returned
/// beside `Loose::Other`, and held to `max_blob_size` like a blob).
fn inflate_loose(path: &Path, max_blob_size: u64, keep_all: bool) -> Result<(Loose, Vec<u8>), LooseError> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| LooseError::new(e.to_string()))?;
    let mut input = std::io::BufReader::with_capacity(64 << 10, file);
    let mut z = flate2::Decompress::new(true);
    let mut ended = false;
    // Inflates into `out`, reading the file as needed; how much it wrote. An end of the file
    // before the end of the stream is the damage libgit2 cannot handle.
    let mut inflate = |out: &mut [u8], ended: &mut bool| -> Result<usize, LooseError> {
        loop {
            let buf = input.fill_buf().map_err(|e| LooseError::new(e.to_string()))?;
            if buf.is_empty() {
                let message = "truncated: its zlib stream ends early".into();
                return Err(LooseError { message, truncated: true, blob: false });
            }
            let (in_before, out_before) = (z.total_in(), z.total_out());
            let status = z
                .decompress(buf, out, flate2::FlushDecompress::None)
                .map_err(|e| LooseError::new(format!("corrupt zlib stream: {e}")))?;
            let used = (z.total_in() - in_before) as usize;
            let wrote = (z.total_out() - out_before) as usize;
            input.consume(used);
            *ended = status == flate2::Status::StreamEnd;
            if wrote > 0 || *ended {
                return Ok(wrote);
            }
            if used == 0 {
                return Err(LooseError::new("corrupt zlib stream: no progress"));
            }
        }
    };
    let mut head = [0u8; LOOSE_HEADER_MAX];
    let mut filled = 0;
    let nul = loop {
        if let Some(i) = head[..filled].iter().position(|&b| b == 0) {
            break i;
        }
        if filled == head.len() || ended {
            return Err(LooseError::new("malformed header"));
        }
        // A few bytes at a time, so that a blob over the limit costs no more than its header.
        let want = (filled + 16).min(head.len());
        filled += inflate(&mut head[filled..want], &mut ended)?;
    };
    let header = std::str::from_utf8(&head[..nul]).map_err(|_| LooseError::new("malformed header"))?;
    let (kind, size) = header.split_once(' ').ok_or_else(|| LooseError::new("malformed header"))?;
    let size: u64 = size.parse().map_err(|_| LooseError::new(format!("malformed header {header:?}")))?;
    let kind = match kind {
        "blob" => ObjectType::Blob,
        "tree" => ObjectType::Tree,
        "commit" => ObjectType::Commit,
        "tag" => ObjectType::Tag,
        _ => return Err(LooseError::new(format!("unknown object type in header {header:?}"))),
    };
    let keep = kind == ObjectType::Blob || keep_all;
    if keep && size > max_blob_size {
        return Ok((Loose::TooLarge(size), Vec::new()));
    }
    let mut body = if keep { Vec::with_capacity(size as usize) } else { Vec::new() };
    let mut total = (filled - nul - 1) as u64;
    if keep {
        body.extend_from_slice(&head[nul + 1..filled]);
    }
    let mut scratch = vec![0u8; 64 << 10];
    while !ended && total <= size {
        // One byte past the declared size is enough to tell an object longer than its header.
        let room = (size + 1 - total).min(scratch.len() as u64) as usize;
        let n = inflate(&mut scratch[..room], &mut ended).map_err(|e| LooseError { blob: keep, ..e })?;
        total += n as u64;
        if keep && total <= size {
            body.extend_from_slice(&scratch[..n]);
        }
    }
    let mismatch = |message: String| LooseError { message, truncated: false, blob: keep };
    if total > size {
        return Err(mismatch(format!("longer than the {size} bytes its header declares")));
    }
    if total < size {
        return Err(mismatch(format!("{total} bytes where its header declares {size}")));
    }
    Ok(match kind {
        ObjectType::Blob => (Loose::Blob(body), Vec::new()),
        _ => (Loose::Other(kind), body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_of_proc_maps() {
        let pack = "7ff638c00000-7ff641b66000 r--s 00000000 fd:01 4474 /r/.git/objects/pack/pack-1.pack";
        let m = Mapping::parse(pack).unwrap();
        assert_eq!((m.start, m.end, m.read_only, m.inode), (0x7ff638c00000, 0x7ff641b66000, true, 4474));
        assert_eq!(m.path, "/r/.git/objects/pack/pack-1.pack");
        let heap = Mapping::parse("55d0c3a4e000-55d0c3a6f000 rw-p 00000000 00:00 0 [heap]").unwrap();
        assert!(!heap.read_only && heap.inode == 0 && heap.path == "[heap]");
        let anonymous = Mapping::parse("7f1110000000-7f1110021000 rw-p 00000000 00:00 0").unwrap();
        assert_eq!(anonymous.path, "");
        assert!(Mapping::parse("garbage").is_none());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_the_map_of_a_pack_index() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let blob = repo.blob(b"some content").unwrap();
        let mut builder = repo.packbuilder().unwrap();
        builder.insert_object(blob, None).unwrap();
        builder.write(&dir.path().join(".git/objects/pack"), 0o644).unwrap();
        let idx = std::fs::read_dir(dir.path().join(".git/objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "idx"))
            .unwrap();
        let index = gix_pack::index::File::at(&idx, gix_hash::Kind::Sha1).unwrap();
        let (start, len) = index_map(&index).expect("the index's map is found");
        let first = index.oid_at_index(0).as_bytes().as_ptr() as usize;
        assert!(start <= first && first < start + len);
        assert!(len >= std::fs::metadata(&idx).unwrap().len() as usize);
    }
}
