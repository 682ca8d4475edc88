//! The one pipeline: sources yield blobs, the matcher finds raw matches, and each becomes a
//! [`Finding`]; the [`Report`] collects them with what was scanned and skipped, sorted so that
//! output never depends on thread timing.
use std::path::PathBuf;

use serde::Serialize;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::config::Config;
use crate::finding::{Finding, LineIndex, SecretSpans};
use crate::matcher::decode::{self, Encoding, View};
use crate::matcher::{Matcher, MatcherError};
use crate::source;
use crate::source::history;
use crate::source::known::Known;

#[derive(Clone, Debug)]
pub struct ScanOptions {
    pub roots: Vec<PathBuf>,
    /// Honour `.gitignore`, `.ignore` and `.git/info/exclude`.
    pub respect_ignore: bool,
    pub max_file_size: u64,
    /// Worker threads; 0 picks one per core.
    pub threads: usize,
    pub show_secrets: bool,
    pub history: HistoryMode,
    /// Scan only this part of the history of the first root's repository.
    pub selection: Option<history::Selection>,
    /// Counters the caller may watch while the scan runs.
    pub progress: Arc<Progress>,
}

/// What a running scan has read so far, updated by every worker thread; a progress bar reads it.
#[derive(Debug, Default)]
pub struct Progress {
    pub files: AtomicU64,
    pub bytes: AtomicU64,
    pub blobs: AtomicU64,
    pub blob_bytes: AtomicU64,
}

impl Progress {
    pub fn file(&self, bytes: u64) {
        self.files.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn blob(&self, bytes: u64) {
        self.blobs.fetch_add(1, Ordering::Relaxed);
        self.blob_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Whether a scan reads git history as well as files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HistoryMode {
    /// Files, and the full history of every repository found at or under a root.
    #[default]
    Both,
    /// Files only.
    Off,
    /// History only.
    Only,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            roots: vec![PathBuf::from(".")],
            respect_ignore: true,
            max_file_size: 10 * 1024 * 1024,
            threads: 0,
            show_secrets: false,
            history: HistoryMode::Both,
            selection: None,
            progress: Arc::default(),
        }
    }
}

/// Counts of what a scan read and what it passed over, so nothing is skipped silently.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub skipped_binary: u64,
    pub skipped_too_large: u64,
    pub skipped_symlinks: u64,
    pub skipped_allowlisted: u64,
    /// Findings dropped because `.keytrailignore` lists their fingerprint.
    pub ignored: u64,
    /// Matches dropped because the settings allowlist their value (regex or stopword).
    pub allowlisted_secrets: u64,
    /// Findings left out because `--baseline` lists them.
    pub baselined: u64,
    pub unreadable: u64,
    /// Git repositories whose history was read.
    pub repositories: u64,
    pub commits: u64,
    /// Unique history blobs read (each once, however many commits hold it).
    pub blobs: u64,
    pub blob_bytes: u64,
    /// Pack files decoded in process; a repository whose object store could not be read that
    /// way completely is read through `git cat-file` and adds none.
    pub packs: u64,
    /// Working-tree files answered from history because their blob was already matched.
    pub files_from_history: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.files += o.files;
        self.bytes += o.bytes;
        self.skipped_binary += o.skipped_binary;
        self.skipped_too_large += o.skipped_too_large;
        self.skipped_symlinks += o.skipped_symlinks;
        self.skipped_allowlisted += o.skipped_allowlisted;
        self.allowlisted_secrets += o.allowlisted_secrets;
        self.baselined += o.baselined;
        self.ignored += o.ignored;
        self.unreadable += o.unreadable;
        self.repositories += o.repositories;
        self.commits += o.commits;
        self.blobs += o.blobs;
        self.blob_bytes += o.blob_bytes;
        self.packs += o.packs;
        self.files_from_history += o.files_from_history;
    }
}

/// An input that could not be scanned, or was passed over for a reason worth telling.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Notice {
    pub path: String,
    pub message: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// The findings grouped by secret, with exposure, inventory link and risks (filled by
    /// [`crate::nhi::assess`]).
    pub identities: Vec<crate::nhi::Identity>,
    pub stats: Stats,
    /// Inputs that could not be read: they make the scan incomplete.
    pub errors: Vec<Notice>,
    /// Inputs passed over on purpose (too large, symlinks out of the tree, broken symlinks).
    pub skipped: Vec<Notice>,
}

impl Report {
    pub fn merge(&mut self, other: Report) {
        self.findings.extend(other.findings);
        self.stats.add(&other.stats);
        self.errors.extend(other.errors);
        self.skipped.extend(other.skipped);
    }

    /// Puts everything in the one order every output uses.
    pub fn finish(&mut self) {
        self.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.findings.dedup_by(|a, b| a.sort_key() == b.sort_key() && a.history == b.history);
        self.errors.sort();
        self.errors.dedup();
        self.skipped.sort();
        self.skipped.dedup();
    }
}

/// How many leading bytes are searched for a NUL to call a blob binary (git's own heuristic).
const BINARY_SNIFF: usize = 8 * 1024;

/// Whether a blob is binary (a NUL in its first 8 KiB); binary blobs are not matched.
pub fn is_binary(hay: &[u8]) -> bool {
    let head = &hay[..hay.len().min(BINARY_SNIFF)];
    memchr::memchr(0, head).is_some() && decode::utf16_text(head).is_none()
}

/// The findings in one blob, each located at `path`: in the text as it is, and in its decoded
/// candidates (UTF-16 text, base64 runs, lines with string escapes or percent-encoding).
pub fn blob_findings(
    matcher: &Matcher,
    hay: &[u8],
    path: &str,
    show_secrets: bool,
) -> Result<Vec<Finding>, MatcherError> {
    match decode::utf16_text(hay) {
        Some(text) => text_findings(matcher, &text, true, path, show_secrets),
        None => text_findings(matcher, hay, false, path, show_secrets),
    }
}

/// The findings in `hay`, text as it is or (`transcoded`) UTF-16 text already turned into UTF-8.
pub fn text_findings(
    matcher: &Matcher,
    hay: &[u8],
    transcoded: bool,
    path: &str,
    show_secrets: bool,
) -> Result<Vec<Finding>, MatcherError> {
    let mut views = Vec::new();
    decode::base64_views(hay, &mut views);
    decode::line_views(hay, |line| matcher.has_keyword(line), &mut views);
    // A base64 value can hold another (a Kubernetes Secret holding a Docker config): one level more.
    let mut nested = Vec::new();
    for v in views.iter().filter(|v| v.encoding == Encoding::Base64) {
        let mut inner = Vec::new();
        decode::base64_views(&v.bytes, &mut inner);
        nested.extend(inner.into_iter().map(|i| View { origin: v.origin.clone(), ..i }));
    }
    views.append(&mut nested);

    let matches = matcher.find(hay)?;
    if let Some(m) = matches.first().filter(|_| panic_with_secret_for_tests()) {
        panic!("test hook: {}", String::from_utf8_lossy(&hay[m.secret.clone()]));
    }
    let mut decoded = Vec::new();
    for v in &views {
        for m in matcher.find(&v.bytes)? {
            // Undoing `\n` in a string literal makes new line starts, where line-anchored generic
            // rules would read test fixtures and format strings as configuration files.
            if v.encoding != Encoding::Base64 && matcher.rule(m.rule).nhi_kind.is_generic() {
                continue;
            }
            decoded.push((v, m));
        }
    }
    if matches.is_empty() && decoded.is_empty() {
        return Ok(Vec::new());
    }
    let lines = LineIndex::new(hay);
    // Every secret's span, so that a snippet masks the other secrets on its line too; a decoded
    // secret's is the encoded text it came from.
    let spans = SecretSpans::new(
        matches
            .iter()
            .flat_map(|m| std::iter::once(m.secret.clone()).chain(m.companion.clone()))
            .chain(decoded.iter().map(|(v, _)| v.origin.clone()))
            .collect(),
    );
    let mut found: Vec<Finding> = matches
        .iter()
        .map(|m| Finding::new(matcher.rule(m.rule), m, hay, &lines, path.to_string(), show_secrets, &spans))
        .collect();
    if transcoded {
        for f in &mut found {
            f.encoding = Some(Encoding::Utf16);
        }
    }
    for (v, m) in decoded {
        let rule = matcher.rule(m.rule);
        let f = Finding::from_view(rule, &m, v, hay, &lines, path.to_string(), show_secrets, &spans);
        if found.iter().any(|o| o.rule_id == f.rule_id && o.line == f.line && o.fingerprint == f.fingerprint) {
            continue;
        }
        // Undoing escapes gives the real value (a PEM key's line breaks, not `\n`): it replaces
        // what the same rule matched in the escaped text of that line.
        if matches!(v.encoding, Encoding::Escapes | Encoding::Percent) {
            found.retain(|o| !(o.rule_id == f.rule_id && o.line == f.line && o.encoding.is_none()));
        }
        found.push(f);
    }
    drop_generic_on_specific_lines(&mut found);
    found.retain(|f| !suppressed_inline(hay, &lines, f.line));
    Ok(found)
}

/// Test hook, read once: with `KEYTRAIL_TEST_PANIC_WITH_SECRET=1` in the environment, the first
/// blob with a match panics with the matched secret in its message, so that tests can check a
/// panic never prints what it says (tests/leak.rs).
fn panic_with_secret_for_tests() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("KEYTRAIL_TEST_PANIC_WITH_SECRET").is_some_and(|v| v == "1"))
}

/// Markers that silence a finding on their own line; the gitleaks and detect-secrets spellings are
/// honoured too, so a team can switch scanners without touching its code.
const ALLOW_MARKERS: &[&str] = &["keytrail:allow", "gitleaks:allow", "pragma: allowlist secret"];
/// detect-secrets' marker for the line below it.
const ALLOW_NEXT_LINE: &str = "pragma: allowlist nextline secret";

/// Whether `line` (1-based) of `hay`, or the comment line above it, marks a finding there as
/// allowed.
fn suppressed_inline(hay: &[u8], lines: &LineIndex, line: usize) -> bool {
    let text = |n: usize| &hay[lines.line_span(hay, n)];
    let has = |t: &[u8], marker: &str| memchr::memmem::find(t, marker.as_bytes()).is_some();
    ALLOW_MARKERS.iter().any(|m| has(text(line), m)) || (line > 1 && has(text(line - 1), ALLOW_NEXT_LINE))
}

/// A vendor rule's finding from a decoded view covers the encoded span; a generic rule that
/// matched the same encoded text (a base64 value under `password:`) is the same secret.
fn drop_generic_on_specific_lines(found: &mut Vec<Finding>) {
    let specific: Vec<(usize, usize, usize)> = found
        .iter()
        .filter(|f| f.encoding.is_some() && !f.nhi_kind.is_generic())
        .map(|f| (f.line, f.column, f.end_column))
        .collect();
    if specific.is_empty() {
        return;
    }
    found.retain(|f| {
        !f.nhi_kind.is_generic()
            || !specific.iter().any(|&(line, start, end)| f.line == line && f.column < end && start < f.end_column)
    });
}

/// Scans one blob of bytes, appending its findings. A rule whose regex fails to compile is
/// reported as an error against that rule, once per blob, and the other rules still run.
pub fn scan_blob(matcher: &Matcher, hay: &[u8], path: &str, show_secrets: bool, report: &mut Report) {
    match blob_findings(matcher, hay, path, show_secrets) {
        Ok(found) => report.findings.extend(found),
        Err(e) => report.errors.push(Notice { path: "<rules>".into(), message: e.to_string() }),
    }
}

/// Scans every root: its files, and the history of each git repository at or under it.
pub fn scan(matcher: &Matcher, config: &Config, options: &ScanOptions) -> Report {
    let mut report = Report::default();
    if let Some(selection) = &options.selection {
        let root = options.roots.first().cloned().unwrap_or_else(|| PathBuf::from("."));
        let mut report = history::scan_selection(matcher, config, options, &root, selection);
        report.finish();
        return report;
    }
    let several = options.roots.len() > 1;
    for root in &options.roots {
        // History first, so files whose blob it already matched need not be read again.
        let (history, known) = match options.history {
            HistoryMode::Off => (Report::default(), Known::default()),
            _ => history::scan_root(matcher, config, options, root, several),
        };
        let mut files = Report::default();
        if options.history != HistoryMode::Only {
            files = source::fs::scan_root(matcher, config, options, root, several, &known);
        }
        history::merge_into(&mut files, history);
        report.merge(files);
    }
    report.finish();
    report
}
