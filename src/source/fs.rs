//! The working-tree source: a parallel walk (the `ignore` crate, as ripgrep uses) that reads each
//! file once and matches it on the walking thread, so reading and matching overlap across cores.
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};

use crate::config::Config;
use crate::matcher::Matcher;
use crate::scan::{Notice, Report, ScanOptions};
use crate::source::known::Known;
use crate::source::reader::{scan_windows, Outcome, Window};

pub fn scan_root(
    matcher: &Matcher,
    config: &Config,
    options: &ScanOptions,
    root: &Path,
    several_roots: bool,
    known: &Known,
) -> Report {
    let shared = Mutex::new(Report::default());
    // A root named on the command line is followed when it is a symlink, as the walk itself does:
    // taken as a file, the folder it leads to would report every finding under the link's name.
    let meta = match std::fs::metadata(root).or_else(|_| std::fs::symlink_metadata(root)) {
        Ok(m) => m,
        Err(e) => {
            let mut r = Report::default();
            r.stats.unreadable += 1;
            r.errors.push(Notice { path: display_root(root), message: io_message(&e) });
            return r;
        }
    };
    let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let ctx = Context {
        matcher,
        config,
        options,
        root,
        canonical_root,
        prefix: if several_roots || !meta.is_dir() { Some(display_root(root)) } else { None },
        root_is_file: !meta.is_dir(),
        known,
    };
    let mut builder = WalkBuilder::new(root);
    let respect = options.respect_ignore;
    builder
        .hidden(false)
        .follow_links(false)
        .parents(respect)
        .ignore(respect)
        .git_ignore(respect)
        .git_exclude(respect)
        .git_global(false)
        .require_git(false)
        .threads(options.threads)
        .filter_entry(|e| !(e.file_name() == ".git" && e.file_type().is_some_and(|t| t.is_dir())));
    let mut visitors = Visitors { ctx: &ctx, shared: &shared };
    builder.build_parallel().visit(&mut visitors);
    shared.into_inner().unwrap_or_else(|p| p.into_inner())
}

struct Context<'a> {
    matcher: &'a Matcher,
    config: &'a Config,
    options: &'a ScanOptions,
    root: &'a Path,
    canonical_root: PathBuf,
    /// Prepended to relative paths when several roots are scanned (or the root is a file), so
    /// paths stay unambiguous.
    prefix: Option<String>,
    root_is_file: bool,
    /// Tracked files whose blob history already matched.
    known: &'a Known,
}

impl Context<'_> {
    /// `path` relative to the root, without the several-roots prefix.
    fn root_relative(&self, path: &Path) -> String {
        slash_path(path.strip_prefix(self.root).unwrap_or(path))
    }

    fn relative(&self, path: &Path) -> String {
        if self.root_is_file {
            return self.prefix.clone().unwrap_or_default();
        }
        let rel = path.strip_prefix(self.root).unwrap_or(path);
        let rel = slash_path(rel);
        match &self.prefix {
            Some(p) if p == "." || p.is_empty() => rel,
            // The root itself (a folder that could not be listed): its own name, not `closed/`.
            Some(p) if rel.is_empty() => p.clone(),
            Some(p) => format!("{}/{rel}", p.trim_end_matches('/')),
            None => rel,
        }
    }
}

struct Visitors<'a, 'b> {
    ctx: &'b Context<'a>,
    shared: &'b Mutex<Report>,
}

impl<'s, 'a: 's, 'b: 's> ParallelVisitorBuilder<'s> for Visitors<'a, 'b> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(Worker {
            ctx: self.ctx,
            shared: self.shared,
            local: Report::default(),
            buf: Vec::new(),
            stores: Default::default(),
        })
    }
}

/// One walking thread's state: a reusable read buffer and its own report, merged when it ends.
struct Worker<'a, 'b> {
    ctx: &'b Context<'a>,
    shared: &'b Mutex<Report>,
    local: Report,
    buf: Vec<u8>,
    /// This thread's readers of the object stores of `ctx.known`'s repositories.
    stores: std::collections::HashMap<PathBuf, crate::source::store::ObjectStore>,
}

impl Drop for Worker<'_, '_> {
    fn drop(&mut self) {
        let local = std::mem::take(&mut self.local);
        match self.shared.lock() {
            Ok(mut s) => s.merge(local),
            Err(p) => p.into_inner().merge(local),
        }
    }
}

impl ParallelVisitor for Worker<'_, '_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        match entry {
            Ok(e) => self.visit_entry(&e),
            Err(err) => {
                let (path, message) = split_walk_error(&err);
                let path = path.map(|p| self.ctx.relative(&p)).unwrap_or_else(|| display_root(self.ctx.root));
                self.local.stats.unreadable += 1;
                self.local.errors.push(Notice { path, message });
            }
        }
        WalkState::Continue
    }
}

impl Worker<'_, '_> {
    fn visit_entry(&mut self, entry: &DirEntry) {
        let Some(ft) = entry.file_type() else { return };
        if ft.is_dir() {
            return;
        }
        let rel = self.ctx.relative(entry.path());
        if ft.is_symlink() {
            self.skip_symlink(entry.path(), rel);
            return;
        }
        if !ft.is_file() {
            // FIFOs, sockets and devices would block or never end.
            self.local.skipped.push(Notice { path: rel, message: "not a regular file".into() });
            return;
        }
        if self.ctx.config.path_allowed(&rel) {
            self.local.stats.skipped_allowlisted += 1;
            return;
        }
        self.scan_file(entry.path(), rel);
    }

    /// Symlinks are never followed: one inside the tree points at a file the walk reaches anyway,
    /// one leading out of it would let a scanned repository read the scanning machine.
    fn skip_symlink(&mut self, path: &Path, rel: String) {
        self.local.stats.skipped_symlinks += 1;
        let message = match std::fs::canonicalize(path) {
            Err(e) => {
                let target = std::fs::read_link(path).map(|t| path_string(t.as_os_str())).unwrap_or_default();
                if e.raw_os_error() == Some(libc::ELOOP) {
                    format!("symlink loop (to {target})")
                } else {
                    format!("broken symlink (to {target})")
                }
            }
            Ok(target) if !target.starts_with(&self.ctx.canonical_root) => {
                "symlink to outside the scanned tree, not followed".into()
            }
            Ok(_) => return,
        };
        self.local.skipped.push(Notice { path: rel, message });
    }

    fn scan_file(&mut self, path: &Path, rel: String) {
        let max = self.ctx.options.max_file_size;
        if !self.ctx.known.trees.is_empty() {
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                let root_rel = self.ctx.root_relative(path);
                if meta.len() <= max {
                    if let Some(found) = self.ctx.known.lookup(&root_rel, &meta, &mut self.stores) {
                        self.local.stats.files += 1;
                        self.local.stats.bytes += meta.len();
                        self.local.stats.files_from_history += 1;
                        self.ctx.options.progress.file(meta.len());
                        self.local.findings.extend(found.into_iter().map(|mut f| {
                            f.path = rel.clone();
                            f
                        }));
                        return;
                    }
                }
            }
        }
        let window = Window::from_env();
        let result = open_regular(path).and_then(|(f, len)| {
            if len > max {
                return Ok(Outcome::TooLarge(len));
            }
            scan_windows(self.ctx.matcher, f, max, &rel, self.ctx.options.show_secrets, window, &mut self.buf)
        });
        // Leave no more than one window behind per thread after an odd file.
        self.buf.shrink_to(window.size);
        match result {
            Err(e) => {
                self.local.stats.unreadable += 1;
                self.local.errors.push(Notice { path: rel, message: io_message(&e) });
            }
            Ok(Outcome::TooLarge(len)) => {
                self.local.stats.skipped_too_large += 1;
                self.local.skipped.push(Notice {
                    path: rel,
                    message: format!("{} is over the {} limit", human_bytes(len), human_bytes(max)),
                });
            }
            Ok(Outcome::Binary) => self.local.stats.skipped_binary += 1,
            Ok(Outcome::Scanned { bytes, findings, error }) => {
                self.local.stats.files += 1;
                self.local.stats.bytes += bytes;
                self.ctx.options.progress.file(bytes);
                self.local.findings.extend(findings);
                if let Some(e) = error {
                    self.local.errors.push(Notice { path: "<rules>".into(), message: e.to_string() });
                }
            }
        }
    }
}

/// Opens `path` for reading only if it is still a regular file: between the walk and the open, a
/// file can be swapped for a FIFO (whose open would wait for a writer forever) or a symlink (which
/// could lead out of the tree). Gives the file and its length.
fn open_regular(path: &Path) -> std::io::Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok((f, meta.len()))
}

fn split_walk_error(err: &ignore::Error) -> (Option<PathBuf>, String) {
    match err {
        ignore::Error::WithPath { path, err } => (Some(path.clone()), split_walk_error(err).1),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => split_walk_error(err),
        ignore::Error::Io(e) => (None, io_message(e)),
        ignore::Error::Loop { child, .. } => (Some(child.clone()), "symlink loop".into()),
        other => (None, other.to_string()),
    }
}

/// The most a settings, rule, inventory, baseline or ignore file may hold. Far above any real one;
/// it keeps a path that leads to `/dev/zero` or a huge file from taking all memory.
pub const MAX_SETTINGS_FILE: u64 = 128 << 20;

/// Reads a file keytrail is configured with, whole, without ever waiting or growing unbounded: a
/// FIFO with no writer reads as empty instead of blocking the open (one being written to, as from
/// `--baseline <(git show main:baseline.toml)`, reads as usual), and anything longer than
/// [`MAX_SETTINGS_FILE`] (an endless device included) is an error.
pub fn read_settings_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // Non-blocking was for the open only: reads of a pipe should wait for its writer.
        // SAFETY: plain fcntl calls on a descriptor this function owns.
        unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
    }
    let mut bytes = Vec::new();
    file.take(MAX_SETTINGS_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SETTINGS_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("longer than {}, too large for this kind of file", human_bytes(MAX_SETTINGS_FILE)),
        ));
    }
    Ok(bytes)
}

/// An I/O error without Rust's `(os error N)` noise.
pub fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// `p` as findings, notices and reports name it: `/`-separated, through [`path_string`].
pub fn slash_path(p: &Path) -> String {
    let s = path_string(p.as_os_str());
    if std::path::MAIN_SEPARATOR == '/' {
        s
    } else {
        s.replace(std::path::MAIN_SEPARATOR, "/")
    }
}

/// A file name as text. Valid UTF-8 is kept as it is, control characters included (each output
/// format escapes those its own way: JSON as `\n` or `\u001b`, text through
/// [`crate::finding::escape_control`]). Each byte that is not part of valid UTF-8 becomes `\xNN`
/// (two lowercase hex digits), Python's `backslashreplace`: unlike U+FFFD it keeps two names that
/// differ only in such bytes apart and says which bytes to look for. The one ambiguity left is a
/// valid name that spells such an escape itself, holding the four characters `\xff`.
pub fn path_string(name: &std::ffi::OsStr) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        bytes_path_string(name.as_bytes())
    }
    #[cfg(not(unix))]
    {
        // Windows names are UTF-16; only unpaired surrogates fail, and they have no bytes to show.
        name.to_string_lossy().into_owned()
    }
}

/// [`path_string`] of a name given as bytes (a git tree entry's path).
pub fn bytes_path_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

pub fn display_root(root: &Path) -> String {
    let s = slash_path(root);
    match s.strip_prefix("./") {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => s,
    }
}

/// `1.5 MiB`-style sizes for messages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(10 * 1024 * 1024), "10 MiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn invalid_utf8_in_names_is_escaped_not_replaced() {
        assert_eq!(bytes_path_string(b"plain/\x1b[31m\n.txt"), "plain/\x1b[31m\n.txt");
        assert_eq!(bytes_path_string(b"bad\xff\xfe.txt"), "bad\\xff\\xfe.txt");
        assert_ne!(bytes_path_string(b"a\xff"), bytes_path_string(b"a\xfe"));
        // A truncated multi-byte sequence is escaped byte by byte; what follows is kept.
        assert_eq!(bytes_path_string(b"\xe2\x82z\xc3\xa9"), "\\xe2\\x82z\u{e9}");
    }

    #[test]
    fn root_display_drops_dot_slash() {
        assert_eq!(display_root(Path::new("./src")), "src");
        assert_eq!(display_root(Path::new(".")), ".");
    }
}
