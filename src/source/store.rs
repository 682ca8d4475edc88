//! Commits, trees and tags for the provenance walk, read from the object store in process, through
//! `pread` and without mapping any file.
//!
//! libgit2 maps each pack index whole and looks an object up by binary search in the map, so
//! every tree the walk reads faults in pages of the index. One commit of the ten-times benchmark
//! reads ~500 trees, which touch most of the index's pages again however often they are dropped:
//! 28 bytes an object, 67 MiB for its 2.4 million objects, stayed resident (BENCHMARKS.md,
//! "Memory"). Here a lookup first narrows the range of ids through a sample of every `step`-th id
//! of the index (at most [`MAX_SAMPLES`], read once, the first time the pack is asked), then reads
//! that one short run of ids and the object's offset with a call each. Pack entries are read the
//! same way and inflated into the heap, and decoded objects are kept in a cache of fixed size
//! ([`CACHE_BYTES`]), so what the walk holds no longer depends on the size of the packs.
//!
//! Damage is an error that says what is wrong, never a loop: a delta chain that comes back on
//! itself or runs longer than [`MAX_CHAIN`] ends, and nothing is inflated past what its header
//! declares, or past [`MAX_OBJECT`].
use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::{ObjectType, Oid};

use crate::source::fs::human_bytes;
use crate::source::{delta, pack};

/// Why an object could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// In none of the packs keytrail could open, nor loose.
    #[error("the object is not in the object store")]
    Missing,
    #[error("{0}")]
    Damaged(String),
}

fn damaged(message: impl Into<String>) -> StoreError {
    StoreError::Damaged(message.into())
}

/// The most ids sampled from one index: 512 KiB of samples, however many objects the pack holds.
pub const MAX_SAMPLES: usize = 1 << 16;

/// Ids between two samples, at least: a lookup reads this many ids (20 bytes each) at once.
const MIN_STEP: usize = 16;

/// Decoded objects kept for the next reads: a tree is read again as its child commit's parent
/// tree, and most trees are deltas on their neighbours. On the ten-times benchmark the walk took
/// 75 s with 1 MB, 32.6 s with 4 MiB and 32 s with 16 MiB, which cost 35 MiB more RSS on the
/// benchmark (the cache's maps and the allocator's slack on top of its 16 MiB).
pub const CACHE_BYTES: usize = 4 << 20;

/// The largest commit, tree or tag read, and the largest delta result on the way to one: a tree
/// of a million entries is ~40 MiB.
pub const MAX_OBJECT: u64 = 64 << 20;

/// The longest delta chain followed (git writes chains of at most 4,095 by its own limits).
pub const MAX_CHAIN: usize = 1 << 14;

/// Packs a delta chain may cross, each a base by id found in another pack. A repository's packs
/// hold their own bases (git completes a thin pack as it stores it), so this is only ever reached
/// by hand-made packs, whose chains could otherwise go from pack to pack without end.
const MAX_PACK_HOPS: usize = 8;

/// An object's kind and content.
pub type Object = (ObjectType, Arc<Vec<u8>>);

/// The object directories of a repository (its own and its alternates') and their packs.
pub struct ObjectStore {
    dirs: Vec<PathBuf>,
    packs: Vec<Pack>,
    cache: RefCell<Cache>,
    /// One zlib state for every entry, reset between them.
    inflater: RefCell<flate2::Decompress>,
    /// Parents given to commits by `info/grafts`, which libgit2 and git honour too.
    grafts: HashMap<Oid, Vec<Oid>>,
    /// The largest object read ([`MAX_OBJECT`] unless raised for blobs).
    limit: u64,
}

impl ObjectStore {
    /// The object store of `repo`, with its grafts.
    pub fn of_repository(repo: &git2::Repository) -> ObjectStore {
        let mut store = ObjectStore::open(pack::object_dirs_of(repo));
        if let Ok(text) = std::fs::read_to_string(repo.commondir().join("info").join("grafts")) {
            store.grafts = parse_grafts(&text);
        }
        store
    }

    /// The parents `info/grafts` gives commit `id`, in place of its own.
    pub fn grafted_parents(&self, id: Oid) -> Option<&[Oid]> {
        self.grafts.get(&id).map(Vec::as_slice)
    }

    /// Opens every pack of `dirs` (an object directory and its alternates). A pack that cannot be
    /// opened is left out: the blob scan names it, and its objects are looked for elsewhere.
    pub fn open(dirs: Vec<PathBuf>) -> ObjectStore {
        let mut packs = Vec::new();
        for dir in &dirs {
            // What cannot be listed or has no index is named by the blob scan.
            let indexes = pack::pack_indexes(dir, &mut Vec::new());
            packs.extend(indexes.iter().filter_map(|idx| Pack::open(idx).ok()));
        }
        ObjectStore {
            dirs,
            packs,
            cache: RefCell::new(Cache::default()),
            inflater: RefCell::new(flate2::Decompress::new(true)),
            grafts: HashMap::new(),
            limit: MAX_OBJECT,
        }
    }

    /// Reads objects up to `limit` bytes when that is more than [`MAX_OBJECT`]: blobs under a
    /// raised `--max-file-size`.
    pub fn with_limit(mut self, limit: u64) -> ObjectStore {
        self.limit = self.limit.max(limit);
        self
    }

    /// The object `id`, whole.
    pub fn read(&self, id: Oid) -> Result<Object, StoreError> {
        if let Some(hit) = self.cache.borrow().by_id(id) {
            return Ok(hit);
        }
        match self.locate(id)? {
            Some(Location::Packed(p, offset)) => {
                let object = self.read_packed(p, offset, 0)?;
                self.cache.borrow_mut().name(p, offset, id);
                Ok(object)
            }
            Some(Location::Loose(path)) => pack::read_loose_object(&path, self.limit)
                .map(|(kind, data)| (kind, Arc::new(data)))
                .map_err(|e| damaged(e.message)),
            None => Err(StoreError::Missing),
        }
    }

    /// The kind of object `id`, read from headers only where it is packed (a blob is never
    /// inflated to tell it is one).
    pub fn kind(&self, id: Oid) -> Result<ObjectType, StoreError> {
        if let Some((kind, _)) = self.cache.borrow().by_id(id) {
            return Ok(kind);
        }
        match self.locate(id)? {
            Some(Location::Packed(p, offset)) => self.packed_kind(p, offset, 0),
            Some(Location::Loose(path)) => match pack::read_loose(&path, 0) {
                Ok(pack::Loose::Other(kind)) => Ok(kind),
                Ok(_) => Ok(ObjectType::Blob),
                Err(e) => Err(damaged(e.message)),
            },
            None => Err(StoreError::Missing),
        }
    }

    /// The size of blob `id`, from headers and a delta's first bytes, without inflating it;
    /// `None` when `id` is not a blob.
    pub fn blob_size(&self, id: Oid) -> Result<Option<u64>, StoreError> {
        match self.locate(id)? {
            Some(Location::Packed(p, offset)) => {
                if self.packed_kind(p, offset, 0)? != ObjectType::Blob {
                    return Ok(None);
                }
                let pack = &self.packs[p];
                let header = pack.header_at(offset)?;
                match header.base {
                    Base::Whole(_) => Ok(Some(header.size)),
                    _ => pack.delta_result_size(&header, &mut self.inflater.borrow_mut()).map(Some),
                }
            }
            Some(Location::Loose(path)) => match pack::read_loose(&path, 0) {
                Ok(pack::Loose::TooLarge(size)) => Ok(Some(size)),
                Ok(pack::Loose::Blob(data)) => Ok(Some(data.len() as u64)),
                Ok(pack::Loose::Other(_)) => Ok(None),
                Err(e) => Err(damaged(e.message)),
            },
            None => Err(StoreError::Missing),
        }
    }

    /// The file of loose object `id`, if it has one.
    pub fn loose_path(&self, id: Oid) -> Option<PathBuf> {
        pack::loose_path(&self.dirs, id)
    }

    fn locate(&self, id: Oid) -> Result<Option<Location>, StoreError> {
        let Ok(raw) = <[u8; 20]>::try_from(id.as_bytes()) else { return Err(damaged("not a SHA-1 id")) };
        for (p, pack) in self.packs.iter().enumerate() {
            // An index that cannot be read is passed over: the blob scan names it.
            if let Ok(Some(offset)) = pack.index.lookup(&raw) {
                return Ok(Some(Location::Packed(p, offset)));
            }
        }
        Ok(self.loose_path(id).map(Location::Loose))
    }

    /// The object at `offset` of pack `p`: the delta chain is followed down to a base that is
    /// cached or whole, then the deltas are applied back up, each result cached.
    fn read_packed(&self, p: usize, offset: u64, hops: usize) -> Result<Object, StoreError> {
        let pack = &self.packs[p];
        // Each delta with the bytes read at its start, which hold the whole stream of most.
        let mut chain: Vec<(EntryHeader, Vec<u8>)> = Vec::new();
        let mut by_id = HashSet::new();
        let mut at = offset;
        let (kind, mut data) = loop {
            if let Some(hit) = self.cache.borrow().get(p, at) {
                break hit;
            }
            if chain.len() > MAX_CHAIN {
                return Err(damaged(format!("a chain of more than {MAX_CHAIN} deltas")));
            }
            // A chain longer than git makes keeps no bytes: it would hold 4 KiB a link.
            let (header, read) = pack.entry_at(at, chain.len() < KEEP_READ_LINKS)?;
            match header.base {
                Base::Whole(kind) => {
                    let data = Arc::new(pack.inflate(
                        header.data_at,
                        header.size,
                        self.limit,
                        &read,
                        &mut self.inflater.borrow_mut(),
                    )?);
                    self.cache.borrow_mut().insert(p, at, kind, &data);
                    break (kind, data);
                }
                Base::Offset(base) => {
                    chain.push((header, read));
                    at = base;
                }
                Base::Id(id) => match self.base_by_id(p, &id, &mut by_id, hops)? {
                    BaseAt::Here(base) => {
                        chain.push((header, read));
                        at = base;
                    }
                    BaseAt::Elsewhere(base_id, location) => {
                        let base = match location {
                            Location::Packed(q, o) => self.read_packed(q, o, hops + 1)?,
                            Location::Loose(_) => self.read(base_id)?,
                        };
                        chain.push((header, read));
                        break base;
                    }
                },
            }
        };
        let mut out = Vec::new();
        for (header, read) in chain.iter().rev() {
            let delta = pack.inflate(header.data_at, header.size, self.limit, read, &mut self.inflater.borrow_mut())?;
            delta::apply(&data, &delta, &mut out, self.limit).map_err(|e| match e {
                delta::DeltaError::OverBudget => damaged(format!("a delta result over {}", human_bytes(self.limit))),
                delta::DeltaError::Corrupt(why) => damaged(format!("a corrupt delta: {why}")),
            })?;
            data = Arc::new(std::mem::take(&mut out));
            self.cache.borrow_mut().insert(p, header.offset, kind, &data);
        }
        Ok((kind, data))
    }

    /// The kind at `offset` of pack `p`: a delta has its base's, found by headers alone.
    fn packed_kind(&self, p: usize, offset: u64, hops: usize) -> Result<ObjectType, StoreError> {
        let pack = &self.packs[p];
        let mut by_id = HashSet::new();
        let mut at = offset;
        for steps in 0..=MAX_CHAIN + 1 {
            if let Some((kind, _)) = self.cache.borrow().get(p, at) {
                return Ok(kind);
            }
            if steps > MAX_CHAIN {
                return Err(damaged(format!("a chain of more than {MAX_CHAIN} deltas")));
            }
            match pack.header_at(at)?.base {
                Base::Whole(kind) => return Ok(kind),
                Base::Offset(base) => at = base,
                Base::Id(id) => match self.base_by_id(p, &id, &mut by_id, hops)? {
                    BaseAt::Here(base) => at = base,
                    BaseAt::Elsewhere(_, Location::Packed(q, o)) => return self.packed_kind(q, o, hops + 1),
                    BaseAt::Elsewhere(base_id, Location::Loose(_)) => return self.kind(base_id),
                },
            }
        }
        Err(damaged(format!("a chain of more than {MAX_CHAIN} deltas")))
    }

    /// Where the base that a delta of pack `p` names by `id` is. In the same pack, its offset is
    /// added to `seen`: offsets only go down, so a chain can come back on itself only by id, and
    /// an offset met twice is a cycle. Elsewhere (a thin pack's base, or a loose one), no more
    /// than [`MAX_PACK_HOPS`] packs are crossed.
    fn base_by_id(&self, p: usize, id: &[u8; 20], seen: &mut HashSet<u64>, hops: usize) -> Result<BaseAt, StoreError> {
        match self.packs[p].index.lookup(id)? {
            Some(base) if seen.insert(base) => Ok(BaseAt::Here(base)),
            Some(_) => Err(damaged("its deltas are on a cycle of bases")),
            None if hops >= MAX_PACK_HOPS => Err(damaged("its delta chain crosses packs without end")),
            None => {
                let base_id = Oid::from_bytes(id).map_err(|e| damaged(e.message()))?;
                match self.locate(base_id)? {
                    Some(location) => Ok(BaseAt::Elsewhere(base_id, location)),
                    None => Err(damaged(format!("the base {base_id} of a delta is missing"))),
                }
            }
        }
    }
}

/// Where a delta's base named by id is.
enum BaseAt {
    /// At this offset of the delta's own pack.
    Here(u64),
    Elsewhere(Oid, Location),
}

/// `info/grafts`: a commit id then its parents' on each line; a line git would not take is
/// passed over, as git does.
fn parse_grafts(text: &str) -> HashMap<Oid, Vec<Oid>> {
    let mut grafts = HashMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let ids: Option<Vec<Oid>> = line.split_ascii_whitespace().map(|hex| full_hex_id(hex.as_bytes())).collect();
        if let Some(mut ids) = ids {
            let commit = ids.remove(0);
            grafts.insert(commit, ids);
        }
    }
    grafts
}

/// An object id written out in full: 40 hex digits and nothing else (`Oid::from_str` also takes
/// a shorter prefix).
pub fn full_hex_id(hex: &[u8]) -> Option<Oid> {
    if hex.len() != 40 {
        return None;
    }
    Oid::from_str(std::str::from_utf8(hex).ok()?).ok()
}

enum Location {
    Packed(usize, u64),
    Loose(PathBuf),
}

/// Reads into `buf` at `offset` until it is full or the file ends; how many bytes it read.
fn fill_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let n = read_at(file, &mut buf[done..], offset + done as u64)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

fn io_error(what: &str) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| damaged(format!("cannot read {what}: {e}"))
}

/// The header of a version 2 pack index: magic, version and the fan-out table.
const INDEX_HEADER: u64 = 8 + 256 * 4;

/// A pack index read through `pread`.
struct Index {
    file: File,
    /// How many ids start with a byte up to each value.
    fanout: Box<[u32; 256]>,
    count: usize,
    step: usize,
    /// The first 8 bytes (big-endian) of every `step`-th id, read on the first lookup.
    samples: OnceCell<Result<Vec<u64>, StoreError>>,
}

impl Index {
    fn open(path: &Path) -> Result<Index, StoreError> {
        let file = File::open(path).map_err(io_error("the index"))?;
        let mut head = [0u8; INDEX_HEADER as usize];
        if fill_at(&file, &mut head, 0).map_err(io_error("the index"))? != head.len() {
            return Err(damaged("the index is truncated"));
        }
        if head[..8] != [0xff, b't', b'O', b'c', 0, 0, 0, 2] {
            return Err(damaged("not a version 2 pack index"));
        }
        let mut fanout = Box::new([0u32; 256]);
        for (i, slot) in fanout.iter_mut().enumerate() {
            let at = 8 + 4 * i;
            *slot = u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        }
        if fanout.windows(2).any(|w| w[0] > w[1]) {
            return Err(damaged("the index's fan-out table is not in order"));
        }
        let count = fanout[255] as usize;
        let len = file.metadata().map_err(io_error("the index"))?.len();
        // Ids, checksums and offsets, then the two trailing hashes.
        if len < INDEX_HEADER + count as u64 * 28 + 40 {
            return Err(damaged(format!("the index is truncated: {len} bytes for {count} objects")));
        }
        let step = MIN_STEP.max(count.div_ceil(MAX_SAMPLES));
        Ok(Index { file, fanout, count, step, samples: OnceCell::new() })
    }

    fn names_at(&self, i: usize) -> u64 {
        INDEX_HEADER + i as u64 * 20
    }

    fn samples(&self) -> Result<&[u64], StoreError> {
        let samples = self.samples.get_or_init(|| {
            let mut samples = Vec::with_capacity(self.count.div_ceil(self.step));
            let mut prefix = [0u8; 8];
            for i in (0..self.count).step_by(self.step) {
                if fill_at(&self.file, &mut prefix, self.names_at(i)).map_err(io_error("the index"))? != 8 {
                    return Err(damaged("the index is truncated"));
                }
                samples.push(u64::from_be_bytes(prefix));
            }
            Ok(samples)
        });
        samples.as_deref().map_err(Clone::clone)
    }

    /// The pack offset of `id`, if the pack holds it.
    fn lookup(&self, id: &[u8; 20]) -> Result<Option<u64>, StoreError> {
        let first = usize::from(id[0]);
        let lo = if first == 0 { 0 } else { self.fanout[first - 1] as usize };
        let hi = self.fanout[first] as usize;
        if lo >= hi {
            return Ok(None);
        }
        let key = u64::from_be_bytes([id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]]);
        // The sample before the first one not below `key` is below `id`, so `id` is after it.
        let below = self.samples()?.partition_point(|&s| s < key);
        let mut start = if below == 0 { lo } else { ((below - 1) * self.step + 1).max(lo) };
        let mut names = vec![0u8; self.step * 20];
        while start < hi {
            let end = (start + self.step).min(hi);
            let run = &mut names[..(end - start) * 20];
            if fill_at(&self.file, run, self.names_at(start)).map_err(io_error("the index"))? != run.len() {
                return Err(damaged("the index is truncated"));
            }
            let (mut a, mut b) = (0, end - start);
            while a < b {
                let m = (a + b) / 2;
                match run[m * 20..m * 20 + 20].cmp(&id[..]) {
                    std::cmp::Ordering::Less => a = m + 1,
                    std::cmp::Ordering::Greater => b = m,
                    std::cmp::Ordering::Equal => return self.offset(start + m).map(Some),
                }
            }
            if a < end - start {
                return Ok(None);
            }
            // Past the end of the run: equal samples can hide `id` further on.
            start = end;
        }
        Ok(None)
    }

    /// The pack offset of the `i`-th id: 31 bits, or an index into the table of 64-bit offsets.
    fn offset(&self, i: usize) -> Result<u64, StoreError> {
        let offsets_at = INDEX_HEADER + self.count as u64 * 24;
        let mut small = [0u8; 4];
        if fill_at(&self.file, &mut small, offsets_at + i as u64 * 4).map_err(io_error("the index"))? != 4 {
            return Err(damaged("the index is truncated"));
        }
        let small = u32::from_be_bytes(small);
        if small & 0x8000_0000 == 0 {
            return Ok(u64::from(small));
        }
        let large_at = INDEX_HEADER + self.count as u64 * 28 + u64::from(small & 0x7fff_ffff) * 8;
        let mut large = [0u8; 8];
        if fill_at(&self.file, &mut large, large_at).map_err(io_error("the index"))? != 8 {
            return Err(damaged("the index's table of large offsets is truncated"));
        }
        Ok(u64::from_be_bytes(large))
    }
}

/// A pack and its index.
struct Pack {
    index: Index,
    data: File,
}

impl Pack {
    fn open(idx: &Path) -> Result<Pack, StoreError> {
        let index = Index::open(idx)?;
        let data = File::open(idx.with_extension("pack")).map_err(io_error("the pack"))?;
        let mut head = [0u8; 12];
        if fill_at(&data, &mut head, 0).map_err(io_error("the pack"))? != 12
            || &head[..4] != b"PACK"
            || !matches!(head[4..8], [0, 0, 0, 2] | [0, 0, 0, 3])
        {
            return Err(damaged("not a version 2 or 3 pack"));
        }
        Ok(Pack { index, data })
    }

    fn header_at(&self, offset: u64) -> Result<EntryHeader, StoreError> {
        let mut buf = [0u8; ENTRY_HEADER_MAX];
        let n = fill_at(&self.data, &mut buf, offset).map_err(io_error("the pack"))?;
        parse_entry_header(&buf[..n], offset)
    }

    /// The header of the entry at `offset` and, when `keep`, the bytes read after it: one read
    /// of [`ENTRY_READ`] holds the whole zlib stream of most deltas and trees.
    fn entry_at(&self, offset: u64, keep: bool) -> Result<(EntryHeader, Vec<u8>), StoreError> {
        if !keep {
            return Ok((self.header_at(offset)?, Vec::new()));
        }
        let mut read = vec![0u8; ENTRY_READ];
        let n = fill_at(&self.data, &mut read, offset).map_err(io_error("the pack"))?;
        read.truncate(n);
        let header = parse_entry_header(&read[..n.min(ENTRY_HEADER_MAX)], offset)?;
        read.drain(..(header.data_at - offset) as usize);
        Ok((header, read))
    }

    /// The size of what the delta of `header` makes: the second number of the delta's own
    /// header, inflated from its first bytes.
    fn delta_result_size(&self, header: &EntryHeader, z: &mut flate2::Decompress) -> Result<u64, StoreError> {
        // Two sizes of at most ten bytes each.
        let mut out = [0u8; 20];
        let mut input = [0u8; 512];
        let (mut pos, mut got) = (header.data_at, 0);
        z.reset(true);
        while got < out.len() {
            let filled = fill_at(&self.data, &mut input, pos).map_err(io_error("the pack"))?;
            if filled == 0 {
                break;
            }
            let (in_before, out_before) = (z.total_in(), z.total_out());
            let status = z
                .decompress(&input[..filled], &mut out[got..], flate2::FlushDecompress::None)
                .map_err(|e| damaged(format!("a corrupt zlib stream: {e}")))?;
            pos += z.total_in() - in_before;
            got += (z.total_out() - out_before) as usize;
            if status == flate2::Status::StreamEnd || (z.total_in() == in_before && z.total_out() == out_before) {
                break;
            }
        }
        let mut at = 0;
        let sizes = delta::delta_size(&out[..got], &mut at).and_then(|_| delta::delta_size(&out[..got], &mut at));
        sizes.map_err(|_| damaged(format!("the delta at offset {} has no whole header", header.offset)))
    }

    /// Inflates the zlib stream at `at`, which must give exactly `size` bytes; `read` is what is
    /// already read of it.
    fn inflate(
        &self,
        at: u64,
        size: u64,
        limit: u64,
        read: &[u8],
        z: &mut flate2::Decompress,
    ) -> Result<Vec<u8>, StoreError> {
        if size > limit {
            return Err(damaged(format!(
                "an entry of {}, over the {} read here",
                human_bytes(size),
                human_bytes(limit)
            )));
        }
        let mut out = Vec::with_capacity(size as usize + 1);
        z.reset(true);
        let mut more = Vec::new();
        let mut pos = at + read.len() as u64;
        let mut input = read;
        loop {
            if input.is_empty() {
                if more.is_empty() {
                    more = vec![0u8; (size as usize + 64).clamp(512, 64 << 10)];
                }
                let filled = fill_at(&self.data, &mut more, pos).map_err(io_error("the pack"))?;
                if filled == 0 {
                    return Err(damaged("the pack ends inside an entry"));
                }
                pos += filled as u64;
                input = &more[..filled];
            }
            let (in_before, out_before) = (z.total_in(), z.total_out());
            let status = z
                .decompress_vec(input, &mut out, flate2::FlushDecompress::None)
                .map_err(|e| damaged(format!("a corrupt zlib stream: {e}")))?;
            input = &input[(z.total_in() - in_before) as usize..];
            if out.len() as u64 > size {
                return Err(damaged(format!("an entry longer than the {size} bytes its header declares")));
            }
            if status == flate2::Status::StreamEnd {
                break;
            }
            if z.total_in() == in_before && z.total_out() == out_before && !input.is_empty() {
                return Err(damaged("a corrupt zlib stream: no progress"));
            }
        }
        if out.len() as u64 != size {
            return Err(damaged(format!("an entry of {} bytes where its header declares {size}", out.len())));
        }
        Ok(out)
    }
}

/// The longest entry header: a type and size in at most 10 bytes, then a base id of 20.
const ENTRY_HEADER_MAX: usize = 32;

/// Bytes read at once at the start of an entry.
const ENTRY_READ: usize = 4096;

/// Links of a delta chain that keep the bytes read at their start until their delta is applied.
const KEEP_READ_LINKS: usize = 64;

/// What a pack entry's header says.
#[derive(Debug, PartialEq, Eq)]
pub struct EntryHeader {
    pub offset: u64,
    /// Its inflated size: the object's, or the delta's.
    pub size: u64,
    /// Where its zlib stream starts.
    pub data_at: u64,
    pub base: Base,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Base {
    /// Not a delta: an object of this kind.
    Whole(ObjectType),
    /// A delta on the entry at this offset.
    Offset(u64),
    /// A delta on the object of this id.
    Id([u8; 20]),
}

/// Parses the header of the pack entry at `offset` from its first bytes.
pub fn parse_entry_header(buf: &[u8], offset: u64) -> Result<EntryHeader, StoreError> {
    let truncated = || damaged(format!("the entry at offset {offset} is truncated"));
    let mut bytes = buf.iter().copied();
    let mut c = bytes.next().ok_or_else(truncated)?;
    let kind = (c >> 4) & 7;
    let mut size = u64::from(c & 15);
    let mut shift = 4;
    while c & 0x80 != 0 {
        c = bytes.next().ok_or_else(truncated)?;
        if shift > 57 {
            return Err(damaged(format!("the entry at offset {offset} declares a size over 64 bits")));
        }
        size |= u64::from(c & 0x7f) << shift;
        shift += 7;
    }
    let base = match kind {
        1 => Base::Whole(ObjectType::Commit),
        2 => Base::Whole(ObjectType::Tree),
        3 => Base::Whole(ObjectType::Blob),
        4 => Base::Whole(ObjectType::Tag),
        6 => {
            c = bytes.next().ok_or_else(truncated)?;
            let mut back = u64::from(c & 0x7f);
            while c & 0x80 != 0 {
                c = bytes.next().ok_or_else(truncated)?;
                back =
                    back.checked_add(1).and_then(|b| b.checked_mul(128)).map(|b| b | u64::from(c & 0x7f)).ok_or_else(
                        || damaged(format!("the entry at offset {offset} names a base offset over 64 bits")),
                    )?;
            }
            if back == 0 || back > offset {
                return Err(damaged(format!("the entry at offset {offset} names a base outside the pack")));
            }
            Base::Offset(offset - back)
        }
        7 => {
            let mut id = [0u8; 20];
            for b in &mut id {
                *b = bytes.next().ok_or_else(truncated)?;
            }
            Base::Id(id)
        }
        other => return Err(damaged(format!("the entry at offset {offset} has unknown type {other}"))),
    };
    let consumed = buf.len() - bytes.len();
    Ok(EntryHeader { offset, size, data_at: offset + consumed as u64, base })
}

/// Decoded objects by (pack, offset), the oldest dropped first once they pass [`CACHE_BYTES`],
/// and the ids of those read by id, so that reading one again costs no lookup in the index.
#[derive(Default)]
struct Cache {
    objects: HashMap<(usize, u64), Cached>,
    order: VecDeque<(usize, u64)>,
    bytes: usize,
    ids: HashMap<Oid, (usize, u64)>,
}

struct Cached {
    kind: ObjectType,
    data: Arc<Vec<u8>>,
    id: Option<Oid>,
}

impl Cache {
    fn get(&self, pack: usize, offset: u64) -> Option<Object> {
        self.objects.get(&(pack, offset)).map(|c| (c.kind, Arc::clone(&c.data)))
    }

    fn by_id(&self, id: Oid) -> Option<Object> {
        self.ids.get(&id).and_then(|&(pack, offset)| self.get(pack, offset))
    }

    /// Records that the object at (`pack`, `offset`), if cached, is `id`.
    fn name(&mut self, pack: usize, offset: u64, id: Oid) {
        if let Some(c) = self.objects.get_mut(&(pack, offset)) {
            if c.id.is_none() {
                c.id = Some(id);
                self.ids.insert(id, (pack, offset));
            }
        }
    }

    fn insert(&mut self, pack: usize, offset: u64, kind: ObjectType, data: &Arc<Vec<u8>>) {
        let len = data.len();
        if len > CACHE_BYTES / 8 || self.objects.contains_key(&(pack, offset)) {
            return;
        }
        while self.bytes + len > CACHE_BYTES {
            let Some(key) = self.order.pop_front() else { break };
            if let Some(old) = self.objects.remove(&key) {
                self.bytes -= old.data.len();
                if let Some(id) = old.id {
                    self.ids.remove(&id);
                }
            }
        }
        self.objects.insert((pack, offset), Cached { kind, data: Arc::clone(data), id: None });
        self.order.push_back((pack, offset));
        self.bytes += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entry_headers() {
        // A tree of 300 bytes: 300 = 0b1_0010_1100, low 4 bits in the first byte.
        let h = parse_entry_header(&[0xa0 | 0x0c, 0x12, 0xff], 100).unwrap();
        assert_eq!(h, EntryHeader { offset: 100, size: 300, data_at: 102, base: Base::Whole(ObjectType::Tree) });
        // An offset delta of 5 bytes whose base is 0x80 + 1 bytes back (two-byte offset).
        let h = parse_entry_header(&[0x65, 0x80, 0x01], 1000).unwrap();
        assert_eq!(h.base, Base::Offset(1000 - 129));
        assert_eq!(h.data_at, 1003);
        let mut refd = vec![0x75];
        refd.extend([7u8; 20]);
        assert_eq!(parse_entry_header(&refd, 12).unwrap().base, Base::Id([7; 20]));
    }

    #[test]
    fn refuses_damaged_entry_headers() {
        let bad = |buf: &[u8], offset| parse_entry_header(buf, offset).unwrap_err().to_string();
        assert!(bad(&[], 12).contains("truncated"));
        assert!(bad(&[0xb5], 12).contains("truncated"));
        assert!(bad(&[0x05], 12).contains("unknown type 0"));
        assert!(bad(&[0x55], 12).contains("unknown type 5"));
        assert!(bad(&[0x65, 0x7f], 100).contains("outside the pack"));
        assert!(bad(&[0x65, 0x00], 100).contains("outside the pack"));
        assert!(bad(&[0xf5; 16], 12).contains("over 64 bits"));
        let mut long_offset = vec![0x65];
        long_offset.extend([0xff; 12]);
        long_offset.push(0);
        assert!(bad(&long_offset, u64::MAX).contains("over 64 bits"));
        assert!(bad(&[0x75, 1, 2], 12).contains("truncated"));
    }

    /// A version 2 pack index of `names` (sorted here) at `offsets`, large ones in their table.
    fn index_file(dir: &Path, entries: &[([u8; 20], u64)]) -> PathBuf {
        let mut entries = entries.to_vec();
        entries.sort();
        let mut out = vec![0xff, b't', b'O', b'c', 0, 0, 0, 2];
        for byte in 0..256 {
            let upto = entries.iter().filter(|(n, _)| usize::from(n[0]) <= byte).count() as u32;
            out.extend(upto.to_be_bytes());
        }
        entries.iter().for_each(|(n, _)| out.extend(n));
        entries.iter().for_each(|_| out.extend([0u8; 4]));
        let mut large = Vec::new();
        for (_, offset) in &entries {
            if *offset < 0x8000_0000 {
                out.extend((*offset as u32).to_be_bytes());
            } else {
                out.extend((0x8000_0000 | large.len() as u32).to_be_bytes());
                large.push(*offset);
            }
        }
        large.iter().for_each(|o| out.extend(o.to_be_bytes()));
        out.extend([0u8; 40]);
        let path = dir.join("pack-test.idx");
        std::fs::write(&path, out).unwrap();
        path
    }

    #[test]
    fn finds_every_id_of_an_index_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        // Runs of ids sharing their first 8 bytes straddle the samples; the ids around them differ.
        let mut entries = Vec::new();
        for n in 0..1000u32 {
            let mut name = [0u8; 20];
            name[0] = (n % 7) as u8 * 40;
            if n % 3 == 0 {
                name[1..8].copy_from_slice(&[9; 7]);
            } else {
                name[4..8].copy_from_slice(&n.to_be_bytes());
            }
            name[16..20].copy_from_slice(&n.to_be_bytes());
            entries.push((name, 12 + u64::from(n) * 100));
        }
        entries.push(([0xff; 20], 5_000_000_000));
        entries.push(([0x01; 20], 0x8000_0000));
        let index = Index::open(&index_file(dir.path(), &entries)).unwrap();
        assert_eq!(index.step, MIN_STEP);
        for (name, offset) in &entries {
            assert_eq!(index.lookup(name).unwrap(), Some(*offset), "{name:?}");
            let mut other = *name;
            other[19] ^= 0x80;
            assert_eq!(index.lookup(&other).unwrap(), None, "{other:?}");
        }
        assert_eq!(index.lookup(&[0; 20]).unwrap(), None);
        assert_eq!(index.lookup(&[0xfe; 20]).unwrap(), None);
    }

    #[test]
    fn refuses_indexes_that_are_not_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = index_file(dir.path(), &[([1; 20], 12), ([2; 20], 40)]);
        let whole = std::fs::read(&path).unwrap();
        for (bytes, why) in [
            (whole[..100].to_vec(), "truncated"),
            (whole[..whole.len() - 41].to_vec(), "truncated"),
            ([&[0xff, b't', b'O', b'c', 0, 0, 0, 1][..], &whole[8..]].concat(), "version 2"),
        ] {
            std::fs::write(&path, bytes).unwrap();
            let message = Index::open(&path).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(why), "{why}: {message}");
        }
        let mut unordered = whole.clone();
        unordered[8..12].copy_from_slice(&9u32.to_be_bytes());
        std::fs::write(&path, unordered).unwrap();
        assert!(Index::open(&path).err().is_some_and(|e| e.to_string().contains("not in order")));
    }

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.test", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every object of `repo` as libgit2 reads it and as the store does.
    fn assert_reads_as_libgit2(repo: &Path) {
        let git2_repo = git2::Repository::open(repo).unwrap();
        let odb = git2_repo.odb().unwrap();
        let store = ObjectStore::of_repository(&git2_repo);
        assert!(!store.packs.is_empty(), "the objects are packed");
        let listing = git(repo, &["cat-file", "--batch-all-objects", "--batch-check=%(objectname)"]);
        let ids: Vec<Oid> = listing.lines().map(|l| Oid::from_str(l).unwrap()).collect();
        assert!(ids.len() > 100, "{}", ids.len());
        // Twice: the second time from the cache, where the first filled it.
        for _ in 0..2 {
            for &id in &ids {
                let expected = odb.read(id).unwrap();
                let (kind, data) = store.read(id).unwrap();
                assert_eq!((kind, &data[..]), (expected.kind(), expected.data()), "{id}");
                assert_eq!(store.kind(id).unwrap(), kind, "{id}");
                let size = (kind == ObjectType::Blob).then_some(data.len() as u64);
                assert_eq!(store.blob_size(id).unwrap(), size, "{id}");
            }
        }
        let absent = Oid::from_str(&"ab".repeat(20)).unwrap();
        assert_eq!(store.read(absent), Err(StoreError::Missing));
        assert_eq!(store.kind(absent), Err(StoreError::Missing));
    }

    /// A history whose trees and files change a little from commit to commit, so that packing
    /// makes chains of deltas.
    fn history(dir: &Path) {
        git(dir, &["init", "-q", "-b", "main"]);
        for n in 0..40 {
            for f in 0..5 {
                let sub = dir.join(format!("d{}", (n + f) % 4));
                std::fs::create_dir_all(&sub).unwrap();
                let lines: String = (0..50).map(|l| format!("line {l} of file {f} {}\n", (l * n) % 7)).collect();
                std::fs::write(sub.join(format!("f{f}.txt")), lines).unwrap();
            }
            git(dir, &["add", "-A"]);
            git(dir, &["commit", "-q", "-m", &format!("commit {n}")]);
        }
        git(dir, &["tag", "-a", "-m", "a tag", "v1"]);
    }

    #[test]
    fn reads_every_object_of_a_packed_history_as_libgit2_does() {
        let dir = tempfile::tempdir().unwrap();
        history(dir.path());
        // Offset deltas, in chains.
        git(dir.path(), &["gc", "-q", "--aggressive"]);
        assert_reads_as_libgit2(dir.path());
        // Deltas on bases named by id: a pack written without --delta-base-offset.
        let packs = dir.path().join(".git/objects/pack");
        let idx = std::fs::read_dir(&packs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "idx"))
            .unwrap();
        let mut input = Vec::new();
        for line in git(dir.path(), &["cat-file", "--batch-all-objects", "--batch-check=%(objectname)"]).lines() {
            input.extend(line.as_bytes());
            input.push(b'\n');
        }
        let mut child = std::process::Command::new("git")
            .args(["pack-objects", "-q", "--window=50", "--depth=50", ".git/objects/pack/ref"])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), &input).unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        std::fs::remove_file(idx.with_extension("pack")).unwrap();
        std::fs::remove_file(idx).unwrap();
        assert_reads_as_libgit2(dir.path());
    }

    /// The header of a pack entry of `kind` (1 commit .. 7 REF_DELTA) inflating to `size`.
    fn entry_header(kind: u8, mut size: u64) -> Vec<u8> {
        let mut out = vec![(kind << 4) | (size & 15) as u8];
        size >>= 4;
        while size > 0 {
            *out.last_mut().unwrap() |= 0x80;
            out.push((size & 0x7f) as u8);
            size >>= 7;
        }
        out
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, data).unwrap();
        z.finish().unwrap()
    }

    /// A pack of hand-made entries (id, header and what follows it) with its index, in `dir`.
    fn hand_made_pack(dir: &Path, entries: &[([u8; 20], Vec<u8>)]) -> ObjectStore {
        let packs = dir.join("pack");
        std::fs::create_dir_all(&packs).unwrap();
        let mut pack = b"PACK\0\0\0\x02".to_vec();
        pack.extend((entries.len() as u32).to_be_bytes());
        let mut at = Vec::new();
        for (id, bytes) in entries {
            at.push((*id, pack.len() as u64));
            pack.extend(bytes);
        }
        pack.extend([0u8; 20]);
        let idx = index_file(&packs, &at);
        std::fs::write(idx.with_extension("pack"), pack).unwrap();
        ObjectStore::open(vec![dir.to_path_buf()])
    }

    #[test]
    fn damaged_packs_end_in_an_error_that_says_why() {
        let tree = b"100644 a\0aaaaaaaaaaaaaaaaaaaa".to_vec();
        let whole = |size: u64, stream: Vec<u8>| [entry_header(2, size), stream].concat();
        // A delta that copies the whole of a base of `tree.len()` bytes.
        let delta = [&[tree.len() as u8, tree.len() as u8, 0x90, tree.len() as u8][..]].concat();
        let by_id = |base: [u8; 20]| [entry_header(7, delta.len() as u64), base.to_vec(), zlib(&delta)].concat();
        type Entries = Vec<([u8; 20], Vec<u8>)>;
        let cases: Vec<(Entries, &str)> = vec![
            (vec![([1; 20], by_id([2; 20])), ([2; 20], by_id([1; 20]))], "cycle"),
            (vec![([1; 20], whole(tree.len() as u64 + 5, zlib(&tree)))], "where its header declares"),
            (vec![([1; 20], whole(4, zlib(&tree)))], "longer than the 4 bytes"),
            (vec![([1; 20], whole(tree.len() as u64, zlib(&tree)[..6].to_vec()))], "ends inside"),
            (vec![([1; 20], whole(tree.len() as u64, vec![0xff; 64]))], "corrupt zlib"),
            (vec![([1; 20], whole(MAX_OBJECT + 1, zlib(&tree)))], "over the"),
            (vec![([1; 20], by_id([9; 20]))], "is missing"),
        ];
        for (entries, why) in cases {
            let dir = tempfile::tempdir().unwrap();
            let store = hand_made_pack(dir.path(), &entries);
            if why == "ends inside" {
                // No trailer after it: the pack really ends.
                let pack = dir.path().join("pack/pack-test.pack");
                let len = std::fs::metadata(&pack).unwrap().len();
                std::fs::OpenOptions::new().write(true).open(&pack).unwrap().set_len(len - 20).unwrap();
            }
            let id = Oid::from_bytes(&[1; 20]).unwrap();
            let message = store.read(id).map(|_| "read".to_string()).unwrap_or_else(|e| e.to_string());
            assert!(message.contains(why), "{why}: {message}");
        }
        // The kind of a delta on a cycle is unknown too, found from headers alone.
        let dir = tempfile::tempdir().unwrap();
        let store = hand_made_pack(dir.path(), &[([1; 20], by_id([2; 20])), ([2; 20], by_id([1; 20]))]);
        let kind = store.kind(Oid::from_bytes(&[1; 20]).unwrap());
        assert!(kind.as_ref().is_err_and(|e| e.to_string().contains("cycle")), "{kind:?}");
        // And a sound delta on a sound base reads.
        let dir = tempfile::tempdir().unwrap();
        let store =
            hand_made_pack(dir.path(), &[([1; 20], by_id([2; 20])), ([2; 20], whole(tree.len() as u64, zlib(&tree)))]);
        let (kind, data) = store.read(Oid::from_bytes(&[1; 20]).unwrap()).unwrap();
        assert_eq!((kind, &data[..]), (ObjectType::Tree, &tree[..]));
    }

    #[test]
    fn reads_grafts_as_git_does() {
        let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let grafts = parse_grafts(&format!("# comment\n{a} {b} {c}\n\n{b}\nnot-an-id {c}\n{c} {}\n", &a[..39]));
        let id = |h: &str| Oid::from_str(h).unwrap();
        assert_eq!(grafts[&id(&a)], [id(&b), id(&c)]);
        assert!(grafts[&id(&b)].is_empty(), "a commit made a root");
        assert_eq!(grafts.len(), 2, "lines with a malformed id are passed over: {grafts:?}");
    }

    #[test]
    fn the_cache_drops_its_oldest_objects_past_its_size() {
        let mut cache = Cache::default();
        let chunk = Arc::new(vec![0u8; CACHE_BYTES / 8]);
        for offset in 0..10 {
            cache.insert(0, offset, ObjectType::Tree, &chunk);
        }
        assert!(cache.bytes <= CACHE_BYTES);
        assert!(cache.get(0, 0).is_none() && cache.get(0, 1).is_none());
        assert!(cache.get(0, 9).is_some());
        cache.insert(0, 99, ObjectType::Tree, &Arc::new(vec![0u8; CACHE_BYTES / 8 + 1]));
        assert!(cache.get(0, 99).is_none(), "an object over an eighth of the cache is not kept");
    }
}
