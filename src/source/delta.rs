//! Decodes the blobs of one pack along its delta trees, a slice of the pack at a time, with each
//! slice's trees held in flat arrays.
//!
//! gix's `cache::delta::Tree` keeps a 48-byte item and a heap-allocated list of children for every
//! object of the pack, plus a sorted copy of the index while it is built: about 80 bytes an object
//! for the whole traversal, so memory grew with the history (190 MiB of the 317 MiB peak on the
//! ten-times benchmark, BENCHMARKS.md "Memory"). Here the pack is cut by offset into slices of at
//! most [`SLICE_OBJECTS`] objects, and only one slice's trees exist at a time, 24 bytes an object.
//! A delta whose base lies in another slice has that base decoded from the pack once per slice.
//!
//! Two things come for free with trees of our own: the trees under a commit, tree or tag are never
//! decoded (a delta has its base's kind, so nothing below them is a blob), and a delta whose base
//! is its only remaining child reuses the base's buffer, so a long chain holds two buffers, not one
//! per link.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use gix_pack::data::decode::entry::ResolvedBase;
use gix_pack::data::entry::Header;

/// The most objects whose trees are held at once. 256 Ki objects (~9 MiB of trees and ids) keep a pack
/// the size of the history benchmark (231,563 objects) in one slice, where nothing is decoded
/// twice; a larger pack costs one more pass over its index per slice and the bases decoded again
/// at slice edges (git writes a delta family together, so they are few).
pub const SLICE_OBJECTS: usize = 1 << 18;

const NONE: u32 = u32::MAX;
/// Marks a parent that is a base outside the slice (its number in `Slice::external`).
const EXTERNAL: u32 = 1 << 31;

/// How a pack's traversal ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// An object (or a delta's result) is larger than the decode budget.
    OverBudget,
    /// Damage, with what was found.
    Failed(String),
}

/// What the traversal needs besides the pack: its index, the budget, and where blobs go.
pub struct Walk<'a> {
    pub index: &'a gix_pack::index::File,
    pub pack: &'a gix_pack::data::File,
    /// No object, delta or delta result larger than this is decoded.
    pub budget: u64,
    pub threads: usize,
    /// Receives every blob, with its position in the index, from a decoding thread.
    pub blob: &'a (dyn Fn(&[u8; 20], &[u8]) + Sync),
    /// Called after each slice and every [`RELEASE_EVERY`] decoded bytes, to drop mapped pages.
    pub release: &'a (dyn Fn() + Sync),
}

/// Decoded bytes between two calls of `Walk::release`.
const RELEASE_EVERY: u64 = 64 << 20;
/// Bytes of the pack whose entry headers are read between two calls of `Walk::release`.
const HEADERS_RELEASE_EVERY: u64 = 16 << 20;

/// Index entries read front to back between two releases of the maps' pages (1.25 MiB of ids,
/// 256 KiB of offsets).
const INDEX_RELEASE_EVERY: u32 = 1 << 16;

impl Walk<'_> {
    /// Decodes every blob of the pack once (bases at slice edges excepted), in parallel, in
    /// slices of [`SLICE_OBJECTS`] objects or `KEYTRAIL_PACK_SLICE` (a knob for tests, read once).
    pub fn run(&self) -> Outcome {
        static SLICE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let objects = *SLICE.get_or_init(|| {
            std::env::var("KEYTRAIL_PACK_SLICE")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or(SLICE_OBJECTS)
        });
        self.run_in_slices(objects)
    }

    fn run_in_slices(&self, slice_objects: usize) -> Outcome {
        for range in self.slices(slice_objects) {
            let outcome = match self.slice(range) {
                Ok(slice) => self.decode(&slice),
                Err(outcome) => outcome,
            };
            (self.release)();
            if outcome != Outcome::Done {
                return outcome;
            }
        }
        Outcome::Done
    }

    /// Cuts the pack's offsets into ranges of at most `max` objects each (more only when that many
    /// objects share one of 65,536 equal stretches of the pack), from a histogram of the offsets,
    /// so nothing per object is kept to cut it.
    fn slices(&self, max: usize) -> Vec<Range<u64>> {
        let n = self.index.num_objects();
        if n as usize <= max {
            return std::iter::once(0..u64::MAX).collect();
        }
        const BUCKETS: usize = 1 << 16;
        let width = (self.pack.pack_end() as u64).div_ceil(BUCKETS as u64).max(1);
        let mut counts = vec![0usize; BUCKETS];
        for i in 0..n {
            let bucket = (self.index.pack_offset_at_index(i) / width) as usize;
            counts[bucket.min(BUCKETS - 1)] += 1;
            if i % INDEX_RELEASE_EVERY == INDEX_RELEASE_EVERY - 1 {
                (self.release)();
            }
        }
        (self.release)();
        let mut ranges = Vec::new();
        let (mut start, mut held) = (0u64, 0usize);
        for (bucket, &count) in counts.iter().enumerate() {
            if held > 0 && held + count > max {
                let end = bucket as u64 * width;
                ranges.push(start..end);
                (start, held) = (end, 0);
            }
            held += count;
        }
        ranges.push(start..u64::MAX);
        ranges
    }

    /// Reads the headers of the objects in `range` and links each delta to its base.
    fn slice(&self, range: Range<u64>) -> Result<Slice, Outcome> {
        let mut by_offset: Vec<(u64, u32)> = Vec::new();
        for i in 0..self.index.num_objects() {
            let offset = self.index.pack_offset_at_index(i);
            if range.contains(&offset) {
                by_offset.push((offset, i));
            }
            if i % INDEX_RELEASE_EVERY == INDEX_RELEASE_EVERY - 1 {
                (self.release)();
            }
        }
        by_offset.sort_unstable();
        let offsets: Vec<u64> = by_offset.iter().map(|&(o, _)| o).collect();
        let positions: Vec<u32> = by_offset.iter().map(|&(_, i)| i).collect();
        drop(by_offset);
        let ids = self.ids(&positions)?;
        drop(positions);
        let n = offsets.len();
        let mut parents = vec![NONE; n];
        let mut blob_roots = Vec::new();
        let mut external: Vec<u64> = Vec::new();
        let mut external_of = std::collections::HashMap::new();
        let mut touched = 0u64;
        for (node, &offset) in offsets.iter().enumerate() {
            let entry = self.pack.entry(offset).map_err(|e| failed(&e))?;
            if entry.decompressed_size > self.budget {
                return Err(Outcome::OverBudget);
            }
            let base = match entry.header {
                Header::Blob => {
                    blob_roots.push(node as u32);
                    continue;
                }
                Header::Tree | Header::Commit | Header::Tag => continue,
                Header::OfsDelta { base_distance } => Header::verified_base_pack_offset(offset, base_distance)
                    .ok_or_else(|| Outcome::Failed(format!("the delta at offset {offset} points before the pack")))?,
                Header::RefDelta { base_id } => match self.index.lookup(base_id) {
                    Some(i) => self.index.pack_offset_at_index(i),
                    None => return Err(Outcome::Failed(format!("the base {base_id} of a delta is not in the pack"))),
                },
            };
            parents[node] = if range.contains(&base) {
                match offsets.binary_search(&base) {
                    Ok(parent) => parent as u32,
                    Err(_) => {
                        return Err(Outcome::Failed(format!(
                            "the delta at offset {offset} has a base at {base}, where no object starts"
                        )))
                    }
                }
            } else {
                let next = external.len() as u32;
                let e = *external_of.entry(base).or_insert(next);
                if e == next {
                    external.push(base);
                }
                EXTERNAL | e
            };
            // Reading the headers touches the slice's whole stretch of the pack map.
            if offset - touched > HEADERS_RELEASE_EVERY {
                (self.release)();
                touched = offset;
            }
        }
        drop(external_of);
        let mut first_child = vec![NONE; n];
        let mut external_first = vec![NONE; external.len()];
        let mut next_sibling = vec![NONE; n];
        // Backwards, so that each list of children runs in pack order.
        for node in (0..n).rev() {
            let parent = parents[node];
            let head = match parent {
                NONE => continue,
                p if p & EXTERNAL != 0 => &mut external_first[(p & !EXTERNAL) as usize],
                p => &mut first_child[p as usize],
            };
            next_sibling[node] = *head;
            *head = node as u32;
        }
        let mut slice = Slice { offsets, ids, first_child, next_sibling, roots: Vec::new() };
        // Every object must hang below a base object or a base outside the slice; what does not
        // is on a cycle of deltas naming each other by id.
        // Each tree is counted once: blob roots keep their count as the tree's weight.
        let mut reached = 0;
        let mut blob_roots = blob_roots.into_iter().peekable();
        for node in (0..n).filter(|&node| parents[node] == NONE) {
            let weight = 1 + slice.count_below(slice.first_child[node]);
            reached += weight;
            if blob_roots.next_if_eq(&(node as u32)).is_some() {
                slice.roots.push(Root { start: Start::Object(node as u32), weight });
            }
        }
        drop(parents);
        for (e, &base) in external.iter().enumerate() {
            let weight = slice.count_below(external_first[e]);
            reached += weight;
            slice.roots.push(Root { start: Start::External { offset: base, first_child: external_first[e] }, weight });
        }
        if reached != n {
            return Err(Outcome::Failed(format!("{} objects are deltas on a cycle of bases", n - reached)));
        }
        // The largest trees first, so no thread is left with one at the end.
        slice.roots.sort_unstable_by_key(|r| std::cmp::Reverse(r.weight));
        Ok(slice)
    }

    /// The ids of the objects at index `positions`, copied in index order: the index's ids are
    /// read front to back once a slice, their pages dropped as the copy goes, and decoding never
    /// touches the index. Looked up there as each blob was decoded, in no order, they kept 33 MiB
    /// of the ten-times benchmark's index resident.
    fn ids(&self, positions: &[u32]) -> Result<Vec<[u8; 20]>, Outcome> {
        let mut in_index_order: Vec<u32> = (0..positions.len() as u32).collect();
        in_index_order.sort_unstable_by_key(|&node| positions[node as usize]);
        let mut ids = vec![[0u8; 20]; positions.len()];
        let mut released_at = 0;
        for &node in &in_index_order {
            let position = positions[node as usize];
            let id = self.index.oid_at_index(position).as_bytes();
            ids[node as usize] = id.try_into().map_err(|_| Outcome::Failed("an object id that is not SHA-1".into()))?;
            if position - released_at >= INDEX_RELEASE_EVERY {
                (self.release)();
                released_at = position;
            }
        }
        (self.release)();
        Ok(ids)
    }

    fn decode(&self, slice: &Slice) -> Outcome {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let decoded = AtomicU64::new(0);
        let outcome = Mutex::new(Outcome::Done);
        let threads = self.threads.clamp(1, slice.roots.len().max(1));
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let mut worker = Worker::default();
                    while !stop.load(Ordering::Relaxed) {
                        let Some(root) = slice.roots.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
                        if let Err(e) = worker.tree(self, slice, root, &decoded) {
                            let mut held = outcome.lock().unwrap_or_else(|p| p.into_inner());
                            if *held == Outcome::Done {
                                *held = e;
                            }
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        outcome.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a decoded object towards the next release of mapped pages. Each counts for at least
    /// `ENTRY_WEIGHT` bytes: reading an entry maps the pages around it too (a 64 KiB fault-around,
    /// or a whole large folio of the page cache), and the trees are decoded in no pack order, so
    /// small objects alone mapped 90 MiB of the benchmark's pack between two releases.
    fn decoded(&self, counter: &AtomicU64, bytes: usize) {
        const ENTRY_WEIGHT: u64 = 32 << 10;
        let bytes = bytes as u64 + ENTRY_WEIGHT;
        let before = counter.fetch_add(bytes, Ordering::Relaxed);
        if before / RELEASE_EVERY != (before + bytes) / RELEASE_EVERY {
            (self.release)();
        }
    }
}

/// The entry of the object `id` when it is in this pack: how a delta that names its base by id
/// (REF_DELTA) finds it.
pub fn entry_by_id(
    index: &gix_pack::index::File,
    pack: &gix_pack::data::File,
    id: &gix_hash::oid,
) -> gix_error::Result<Option<gix_pack::data::Entry>> {
    index.lookup(id).map(|i| pack.entry(index.pack_offset_at_index(i))).transpose()
}

fn failed(e: &gix_error::Error) -> Outcome {
    if e.classify().is_resource_exhausted() {
        Outcome::OverBudget
    } else {
        Outcome::Failed(e.probable_cause().to_string())
    }
}

/// One slice's delta trees: per object in pack order its offset, id, first child and next
/// sibling; and the trees to decode, blob trees only.
struct Slice {
    offsets: Vec<u64>,
    ids: Vec<[u8; 20]>,
    first_child: Vec<u32>,
    next_sibling: Vec<u32>,
    roots: Vec<Root>,
}

impl Slice {
    /// The objects below the first of a list of siblings, each counted once.
    fn count_below(&self, first: u32) -> usize {
        let mut count = 0;
        let mut pending = vec![first];
        while let Some(mut node) = pending.pop() {
            while node != NONE {
                count += 1;
                let child = self.first_child[node as usize];
                if child != NONE {
                    pending.push(child);
                }
                node = self.next_sibling[node as usize];
            }
        }
        count
    }
}

struct Root {
    start: Start,
    /// Objects in the tree: the order trees are handed out in.
    weight: usize,
}

enum Start {
    /// A base object of the slice (a blob).
    Object(u32),
    /// A base in another slice, decoded from the pack for its children here.
    External { offset: u64, first_child: u32 },
}

/// A decoding thread's reusable state.
#[derive(Default)]
struct Worker {
    inflate: gix_zlib::Inflate,
    delta: Vec<u8>,
    spare: Vec<Vec<u8>>,
}

impl Worker {
    fn buffer(&mut self) -> Vec<u8> {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b
    }

    /// Decodes one tree: its base, then every delta below it, depth first.
    fn tree(&mut self, walk: &Walk<'_>, slice: &Slice, root: &Root, decoded: &AtomicU64) -> Result<(), Outcome> {
        let mut data = self.buffer();
        let first = match root.start {
            Start::Object(node) => {
                let entry = walk.pack.entry(slice.offsets[node as usize]).map_err(|e| failed(&e))?;
                data.resize(entry.decompressed_size as usize, 0);
                walk.pack.decompress_entry(&entry, &mut self.inflate, &mut data).map_err(|e| failed(&e))?;
                (walk.blob)(&slice.ids[node as usize], &data);
                walk.decoded(decoded, data.len());
                slice.first_child[node as usize]
            }
            Start::External { offset, first_child } => {
                let in_pack = |id: &gix_hash::oid| entry_by_id(walk.index, walk.pack, id);
                let entry = walk.pack.entry(offset).map_err(|e| failed(&e))?;
                let header = walk
                    .pack
                    .decode_header(entry.clone(), &mut self.inflate, &|id| {
                        Ok(in_pack(id)?.map(gix_pack::data::decode::header::ResolvedBase::InPack))
                    })
                    .map_err(|e| failed(&e))?;
                if header.kind != gix_object::Kind::Blob {
                    self.spare.push(data);
                    return Ok(());
                }
                if header.object_size > walk.budget {
                    return Err(Outcome::OverBudget);
                }
                walk.pack
                    .decode_entry(
                        entry,
                        &mut data,
                        &mut self.inflate,
                        &|id, _| Ok(in_pack(id)?.map(ResolvedBase::InPack)),
                        &mut gix_pack::cache::Never,
                    )
                    .map_err(|e| failed(&e))?;
                first_child
            }
        };
        // Each frame: a decoded object and the next of its children to decode.
        let mut stack: Vec<(Vec<u8>, u32)> = vec![(data, first)];
        while let Some(top) = stack.len().checked_sub(1) {
            let child = stack[top].1;
            if child == NONE {
                if let Some((buffer, _)) = stack.pop() {
                    self.spare.push(buffer);
                }
                continue;
            }
            let sibling = slice.next_sibling[child as usize];
            stack[top].1 = sibling;
            let entry = walk.pack.entry(slice.offsets[child as usize]).map_err(|e| failed(&e))?;
            self.delta.resize(entry.decompressed_size as usize, 0);
            walk.pack.decompress_entry(&entry, &mut self.inflate, &mut self.delta).map_err(|e| failed(&e))?;
            let mut out = self.buffer();
            apply(&stack[top].0, &self.delta, &mut out, walk.budget).map_err(|e| match e {
                DeltaError::OverBudget => Outcome::OverBudget,
                DeltaError::Corrupt(why) => {
                    Outcome::Failed(format!("the delta at offset {} is corrupt: {why}", slice.offsets[child as usize]))
                }
            })?;
            (walk.blob)(&slice.ids[child as usize], &out);
            walk.decoded(decoded, out.len());
            if sibling == NONE {
                // The base has no other child left: its buffer goes back before the child's
                // children are decoded, so a chain holds two buffers at a time, not its length.
                if let Some((buffer, _)) = stack.pop() {
                    self.spare.push(buffer);
                }
            }
            let grandchild = slice.first_child[child as usize];
            if grandchild == NONE {
                self.spare.push(out);
            } else {
                stack.push((out, grandchild));
            }
        }
        Ok(())
    }
}

/// Why a delta could not be applied.
#[derive(Debug, PartialEq, Eq)]
pub enum DeltaError {
    /// Its result is larger than the budget.
    OverBudget,
    Corrupt(&'static str),
}

/// Reads one of the two sizes that open a delta (little-endian base-128).
pub(crate) fn delta_size(delta: &[u8], at: &mut usize) -> Result<u64, DeltaError> {
    let mut size = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *delta.get(*at).ok_or(DeltaError::Corrupt("its header is truncated"))?;
        *at += 1;
        size |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(size);
        }
    }
    Err(DeltaError::Corrupt("a size in its header is longer than 64 bits"))
}

/// Applies a git delta to `base`, writing the result to `out` (cleared first). The result's size
/// is checked against `budget` before anything is allocated, and every copy and insert against
/// the sizes the delta declares.
pub fn apply(base: &[u8], delta: &[u8], out: &mut Vec<u8>, budget: u64) -> Result<(), DeltaError> {
    let mut at = 0;
    let base_size = delta_size(delta, &mut at)?;
    let result_size = delta_size(delta, &mut at)?;
    if base_size != base.len() as u64 {
        return Err(DeltaError::Corrupt("its base has another size than it declares"));
    }
    if result_size > budget {
        return Err(DeltaError::OverBudget);
    }
    let result_size = usize::try_from(result_size).map_err(|_| DeltaError::OverBudget)?;
    out.clear();
    out.reserve_exact(result_size);
    while let Some(&op) = delta.get(at) {
        at += 1;
        let bytes = if op & 0x80 != 0 {
            // A copy from the base: which of four offset and three size bytes follow is in `op`.
            let mut field = |bits: u8, shift: u32, value: &mut usize| -> Result<(), DeltaError> {
                if op & bits != 0 {
                    let byte = *delta.get(at).ok_or(DeltaError::Corrupt("a copy is truncated"))?;
                    at += 1;
                    *value |= usize::from(byte) << shift;
                }
                Ok(())
            };
            let (mut offset, mut size) = (0usize, 0usize);
            for (bit, shift) in [(0x01, 0), (0x02, 8), (0x04, 16), (0x08, 24)] {
                field(bit, shift, &mut offset)?;
            }
            for (bit, shift) in [(0x10, 0), (0x20, 8), (0x40, 16)] {
                field(bit, shift, &mut size)?;
            }
            if size == 0 {
                size = 0x10000;
            }
            let end = offset.checked_add(size).ok_or(DeltaError::Corrupt("a copy overflows"))?;
            base.get(offset..end).ok_or(DeltaError::Corrupt("a copy reaches past its base"))?
        } else if op != 0 {
            let end = at + usize::from(op);
            let bytes = delta.get(at..end).ok_or(DeltaError::Corrupt("an insert is truncated"))?;
            at = end;
            bytes
        } else {
            return Err(DeltaError::Corrupt("it holds the reserved instruction 0"));
        };
        if out.len() + bytes.len() > result_size {
            return Err(DeltaError::Corrupt("it makes more bytes than it declares"));
        }
        out.extend_from_slice(bytes);
    }
    if out.len() != result_size {
        return Err(DeltaError::Corrupt("it makes fewer bytes than it declares"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(mut n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    fn delta(base: usize, result: usize, ops: &[u8]) -> Vec<u8> {
        [size(base), size(result), ops.to_vec()].concat()
    }

    #[test]
    fn copies_and_inserts() {
        let base = b"0123456789";
        // copy 4 bytes from offset 2, insert "ab", copy 3 from offset 7
        let d = delta(10, 9, &[0x91, 2, 4, 2, b'a', b'b', 0x91, 7, 3]);
        let mut out = Vec::new();
        apply(base, &d, &mut out, 100).unwrap();
        assert_eq!(out, b"2345ab789");
    }

    #[test]
    fn size_zero_copy_means_64_kib() {
        let base = vec![7u8; 0x10000];
        let d = delta(0x10000, 0x10000, &[0x80]);
        let mut out = Vec::new();
        apply(&base, &d, &mut out, 1 << 20).unwrap();
        assert_eq!(out, base);
    }

    #[test]
    fn refuses_damage_and_oversize() {
        let base = b"0123456789";
        let mut out = Vec::new();
        let cases: [(Vec<u8>, DeltaError); 8] = [
            (delta(9, 2, &[2, b'a', b'b']), DeltaError::Corrupt("its base has another size than it declares")),
            (delta(10, 2, &[3, b'a', b'b']), DeltaError::Corrupt("an insert is truncated")),
            (delta(10, 2, &[0x91, 9]), DeltaError::Corrupt("a copy is truncated")),
            (delta(10, 2, &[0x91, 9, 2]), DeltaError::Corrupt("a copy reaches past its base")),
            (delta(10, 2, &[0]), DeltaError::Corrupt("it holds the reserved instruction 0")),
            (delta(10, 1, &[2, b'a', b'b']), DeltaError::Corrupt("it makes more bytes than it declares")),
            (delta(10, 3, &[2, b'a', b'b']), DeltaError::Corrupt("it makes fewer bytes than it declares")),
            (delta(10, 1000, &[]), DeltaError::OverBudget),
        ];
        for (d, want) in cases {
            assert_eq!(apply(base, &d, &mut out, 999), Err(want), "{d:?}");
        }
        assert_eq!(
            apply(base, &[0x80; 11], &mut out, 999),
            Err(DeltaError::Corrupt("a size in its header is longer than 64 bits"))
        );
        assert_eq!(apply(base, &[], &mut out, 999), Err(DeltaError::Corrupt("its header is truncated")));
    }
}
