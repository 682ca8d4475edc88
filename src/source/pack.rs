//! Reads every object of a repository in process: each pack along its delta tree (every object
//! decoded exactly once, on all cores, with no cache misses), then the loose objects.
//!
//! This replaced piping `git cat-file --batch-all-objects --batch --unordered` into the matchers:
//! on the history benchmark the pack traversal decodes the 1.87 GB of blobs in 0.34 s, where
//! `cat-file` alone takes 1.4 s to write them to /dev/null and most of keytrail's time went into
//! copying them through the pipe (BENCHMARKS.md). `cat-file` stays as the fallback: any object
//! store this module cannot read completely (a damaged pack, an index without its pack, an object
//! format other than SHA-1) is read through it instead, and it names what is damaged.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use git2::{ObjectType, Oid, Repository};
use gix_hash::ObjectId;
use gix_pack::cache::delta::{traverse, Tree};

use crate::finding::Finding;
use crate::matcher::Matcher;
use crate::scan::Stats;
use crate::source::git::{match_blob, BlobFindings, GitOptions, HistoryBlobs};

/// Why the in-process read gave up; the caller falls back to `git cat-file`.
#[derive(Debug)]
pub struct Unsupported(pub String);

/// Object directories nested through `info/alternates` deeper than this are not followed
/// (git's own limit).
const MAX_ALTERNATE_DEPTH: usize = 5;

/// Matches every blob in the repository's object store, each once.
pub fn scan_objects(
    repo: &Repository,
    matcher: &Matcher,
    opts: &GitOptions,
) -> Result<(HistoryBlobs, Stats), Unsupported> {
    if let Ok(config) = repo.config() {
        if let Ok(format) = config.get_string("extensions.objectformat") {
            if !format.eq_ignore_ascii_case("sha1") {
                return Err(Unsupported(format!("object format {format}")));
            }
        }
    }
    let threads = opts.worker_threads();
    let sink = Sink {
        matcher,
        opts,
        findings: Mutex::new(HashMap::new()),
        too_large: Mutex::new(HashMap::new()),
        blobs: AtomicU64::new(0),
        blob_bytes: AtomicU64::new(0),
    };
    let mut seen = Seen::default();
    let dirs = object_dirs(&repo.commondir().join("objects"));
    let mut packs = 0;
    for dir in &dirs {
        for idx_path in pack_indexes(dir)? {
            traverse_pack(&idx_path, &sink, &mut seen, threads)?;
            packs += 1;
        }
    }
    let mut loose = Vec::new();
    for dir in &dirs {
        loose_objects(dir, &seen, &mut loose)?;
    }
    scan_loose(repo.path(), &loose, &sink, threads)?;
    let stats =
        Stats { blobs: sink.blobs.into_inner(), blob_bytes: sink.blob_bytes.into_inner(), packs, ..Stats::default() };
    let findings = sink.findings.into_inner().unwrap_or_else(|p| p.into_inner());
    let too_large = sink.too_large.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((HistoryBlobs { findings, too_large }, stats))
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

impl Sink<'_> {
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

fn pack_indexes(objects: &Path) -> Result<Vec<PathBuf>, Unsupported> {
    let dir = objects.join("pack");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Unsupported(format!("{}: {e}", dir.display()))),
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .collect();
    found.sort();
    Ok(found)
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

fn traverse_pack(idx_path: &Path, sink: &Sink<'_>, seen: &mut Seen, threads: usize) -> Result<(), Unsupported> {
    let failed = |e: &dyn std::fmt::Display| Unsupported(format!("{}: {e}", idx_path.display()));
    let index = gix_pack::index::File::at(idx_path, gix_hash::Kind::Sha1).map_err(|e| failed(&e))?;
    let pack =
        gix_pack::data::File::at(idx_path.with_extension("pack"), gix_hash::Kind::Sha1).map_err(|e| failed(&e))?;
    let earlier = &*seen;
    let bad_id = AtomicBool::new(false);
    let interrupt = AtomicBool::new(false);
    // gix's `traverse_with_index` keeps a 112-byte item per object in the delta tree for the whole
    // traversal (a copy of its index entry and statistics); the same tree holding each object's
    // 4-byte index position takes 48, and the ids are read from the index when an object is
    // decoded. On the ten-times benchmark that is about 150 MiB less (BENCHMARKS.md, "Memory").
    let mut by_offset: Vec<(u64, u32)> = (0..index.num_objects()).map(|i| (index.pack_offset_at_index(i), i)).collect();
    by_offset.sort_unstable();
    let tree = Tree::from_offsets_in_pack(
        pack.path(),
        by_offset.into_iter().map(|(_, i)| i),
        &|&i| index.pack_offset_at_index(i),
        &|id| Ok(index.lookup(id).map(|i| index.pack_offset_at_index(i))),
        &mut gix_utils::progress::Discard,
        &interrupt,
        gix_hash::Kind::Sha1,
    )
    .map_err(|e| failed(&e))?;
    let pages = PackPages::new(&pack);
    let traversed = tree
        .traverse(
            |range, pack: &gix_pack::data::File| pack.entry_slice(range),
            &pack,
            pack.pack_end() as u64,
            |&mut i: &mut u32, _progress, object: traverse::Context<'_>| {
                pages.decoded(object.decompressed.len());
                // Object ids are not re-hashed: neither does `git cat-file`, and hashing every
                // object would cost more than decoding it.
                let id = index.oid_at_index(i);
                if object.entry.header.as_kind() == Some(gix_object::Kind::Blob) && !earlier.contains(id) {
                    match to_oid(id) {
                        Ok(oid) => sink.blob(oid, object.decompressed),
                        Err(_) => bad_id.store(true, Ordering::Relaxed),
                    }
                }
                Ok(())
            },
            traverse::Options {
                object_progress: Box::new(gix_utils::progress::Discard),
                size_progress: &mut gix_utils::progress::Discard,
                thread_limit: Some(threads),
                should_interrupt: &interrupt,
                object_hash: gix_hash::Kind::Sha1,
                alloc_limit_bytes: None,
            },
        )
        .map_err(|e| failed(&e))?;
    // The traversal hands the tree back; it is not needed.
    drop(traversed);
    if bad_id.into_inner() {
        return Err(failed(&"an object id that is not SHA-1"));
    }
    seen.indexes.push(index);
    Ok(())
}

/// The pages of a pack's map that the traversal touched. They count in the process's RSS until
/// unmapped, and the traversal reads the whole pack: on the ten-times benchmark, 1.4 GiB of RSS
/// that is only page cache. Every `RELEASE_EVERY` decoded bytes they are all dropped
/// (`MADV_DONTNEED`); the few still needed fault back in from the page cache.
struct PackPages<'a> {
    map: &'a [u8],
    decoded: AtomicU64,
}

const RELEASE_EVERY: u64 = 64 << 20;

impl<'a> PackPages<'a> {
    fn new(pack: &'a gix_pack::data::File) -> Self {
        PackPages { map: pack.entry_slice(0..pack.data_len() as u64).unwrap_or(&[]), decoded: AtomicU64::new(0) }
    }

    fn decoded(&self, bytes: usize) {
        let before = self.decoded.fetch_add(bytes as u64, Ordering::Relaxed);
        if before / RELEASE_EVERY != (before + bytes as u64) / RELEASE_EVERY {
            self.release();
        }
    }

    #[cfg(unix)]
    fn release(&self) {
        // SAFETY: a read-only map of a pack file that nothing writes to. MADV_DONTNEED only drops
        // the map's pages: a later read faults the same bytes back in from the page cache, so
        // slices into the map held by other threads stay valid and unchanged.
        unsafe {
            libc::madvise(self.map.as_ptr() as *mut libc::c_void, self.map.len(), libc::MADV_DONTNEED);
        }
    }

    #[cfg(not(unix))]
    fn release(&self) {}
}

/// Loose objects (`xx/yyyy…` files) not already read from a pack.
fn loose_objects(objects: &Path, seen: &Seen, out: &mut Vec<Oid>) -> Result<(), Unsupported> {
    let entries = match std::fs::read_dir(objects) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Unsupported(format!("{}: {e}", objects.display()))),
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(prefix) = name.to_str().filter(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit())) else {
            continue;
        };
        let files = std::fs::read_dir(entry.path()).map_err(|e| Unsupported(format!("{}: {e}", objects.display())))?;
        for file in files.filter_map(Result::ok) {
            let rest = file.file_name();
            let Some(rest) = rest.to_str().filter(|r| r.len() == 38 && r.bytes().all(|b| b.is_ascii_hexdigit())) else {
                continue;
            };
            let Ok(id) = ObjectId::from_hex(format!("{prefix}{rest}").as_bytes()) else { continue };
            if !seen.contains(&id) {
                out.push(to_oid(&id)?);
            }
        }
    }
    Ok(())
}

/// Reads loose objects through libgit2, one repository handle per thread (handles are not shared
/// across threads).
fn scan_loose(git_dir: &Path, oids: &[Oid], sink: &Sink<'_>, threads: usize) -> Result<(), Unsupported> {
    if oids.is_empty() {
        return Ok(());
    }
    let chunk = oids.len().div_ceil(threads.max(1));
    std::thread::scope(|s| {
        let workers: Vec<_> = oids
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Result<(), Unsupported> {
                    let failed = |e: git2::Error| Unsupported(e.message().to_string());
                    let repo = Repository::open(git_dir).map_err(failed)?;
                    let odb = repo.odb().map_err(failed)?;
                    for &oid in part {
                        let (size, kind) = odb.read_header(oid).map_err(failed)?;
                        if kind != ObjectType::Blob {
                            continue;
                        }
                        if sink.oversize(oid, size as u64) {
                            continue;
                        }
                        sink.blob(oid, odb.read(oid).map_err(failed)?.data());
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or_else(|_| Err(Unsupported("a loose-object reader stopped".into()))))
    })
}
