//! Working-tree files whose content the history scan already matched.
//!
//! A tracked file whose size, mtime and inode equal its index entry's (and whose entry is not
//! racily clean, i.e. older than the index file itself) holds the blob the index names, unless a
//! filter (LFS, line-ending conversion) changed it on checkout; checking that the blob's size equals
//! the file's rules that out. Such a file is answered from the history results without being read,
//! so a blob at HEAD is matched once, not once per source.
use std::collections::HashMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use git2::{Oid, Repository};

use crate::finding::Finding;
use crate::source::git::{BlobScan, HistoryBlobs};
use crate::source::store::ObjectStore;

struct IndexStat {
    oid: Oid,
    size: u32,
    mtime: (i64, u32),
    ino: u32,
}

/// One repository's index and history results, as seen from a scan root.
pub struct KnownTree {
    git_dir: PathBuf,
    /// The root is inside the work tree at this repository-relative folder ("" at the top).
    within: Option<String>,
    /// The work tree is this root-relative folder.
    below: Option<String>,
    entries: HashMap<Vec<u8>, IndexStat>,
    index_mtime: (i64, u32),
    blobs: Arc<HistoryBlobs>,
}

impl KnownTree {
    /// Reads `repo`'s index; `None` when there is none to trust (bare, unreadable, no mtime).
    pub fn new(repo: &Repository, root: &Path, blobs: Arc<HistoryBlobs>) -> Option<KnownTree> {
        let workdir = std::fs::canonicalize(repo.workdir()?).ok()?;
        let root = std::fs::canonicalize(root).ok()?;
        let index_meta = std::fs::metadata(repo.path().join("index")).ok()?;
        let index_mtime = mtime_of(&index_meta)?;
        let (within, below) = if let Ok(inside) = root.strip_prefix(&workdir) {
            (Some(crate::source::fs::slash_path(inside)), None)
        } else if let Ok(under) = workdir.strip_prefix(&root) {
            (None, Some(crate::source::fs::slash_path(under)))
        } else {
            return None;
        };
        let index = repo.index().ok()?;
        let mut entries = HashMap::with_capacity(index.len());
        for e in index.iter() {
            // Bits 12–13 of the flags are the merge stage; only stage 0 is a plain checkout.
            if (e.flags >> 12) & 3 != 0 {
                continue;
            }
            let stat = IndexStat {
                oid: e.id,
                size: e.file_size,
                mtime: (e.mtime.seconds() as i64, e.mtime.nanoseconds()),
                ino: e.ino,
            };
            entries.insert(e.path, stat);
        }
        Some(KnownTree { git_dir: repo.path().to_path_buf(), within, below, entries, index_mtime, blobs })
    }

    fn repo_path(&self, root_rel: &str) -> Option<String> {
        match (&self.within, &self.below) {
            (Some(w), _) if w.is_empty() => Some(root_rel.to_string()),
            (Some(w), _) => Some(format!("{w}/{root_rel}")),
            (None, Some(b)) if b.is_empty() => Some(root_rel.to_string()),
            (None, Some(b)) => root_rel.strip_prefix(b.as_str())?.strip_prefix('/').map(str::to_string),
            (None, None) => None,
        }
    }
}

/// Every known tree of one scan root.
#[derive(Default)]
pub struct Known {
    pub trees: Vec<KnownTree>,
}

impl Known {
    /// The findings of the file at `root_rel` if its content is a blob history already matched.
    pub fn lookup(
        &self,
        root_rel: &str,
        meta: &Metadata,
        stores: &mut HashMap<PathBuf, ObjectStore>,
    ) -> Option<Vec<Finding>> {
        let mtime = mtime_of(meta)?;
        for tree in &self.trees {
            let Some(repo_rel) = tree.repo_path(root_rel) else { continue };
            let Some(stat) = tree.entries.get(repo_rel.as_bytes()) else { continue };
            let same_stat = stat.size == meta.len() as u32 && stat.mtime == mtime && stat.ino == ino_of(meta);
            if !same_stat || stat.mtime >= tree.index_mtime {
                return None;
            }
            if !stores.contains_key(&tree.git_dir) {
                let repo = Repository::open(&tree.git_dir).ok()?;
                stores.insert(tree.git_dir.clone(), ObjectStore::of_repository(&repo));
            }
            // The blob's size, which a clean filter (line endings, say) makes differ from the
            // file's; read by keytrail's own reader, since libgit2 would map the pack index
            // whole and leave it resident (56 MiB on the ten-times benchmark).
            let size = stores.get(&tree.git_dir)?.blob_size(stat.oid).ok()??;
            if size != meta.len() {
                return None;
            }
            return match tree.blobs.scan(stat.oid) {
                BlobScan::Findings(f) => Some(f),
                BlobScan::TooLarge { .. } => None,
            };
        }
        None
    }
}

#[cfg(unix)]
fn mtime_of(meta: &Metadata) -> Option<(i64, u32)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.mtime(), meta.mtime_nsec() as u32))
}

#[cfg(not(unix))]
fn mtime_of(_: &Metadata) -> Option<(i64, u32)> {
    None
}

#[cfg(unix)]
fn ino_of(meta: &Metadata) -> u32 {
    use std::os::unix::fs::MetadataExt;
    meta.ino() as u32
}

#[cfg(not(unix))]
fn ino_of(_: &Metadata) -> u32 {
    0
}
