//! Files are read and matched in windows, so a large file costs one window of memory, not its size.
//!
//! Consecutive windows overlap. Window `k` keeps the findings that start before its *cut*, a line
//! start at least `overlap` bytes before its end; window `k + 1` begins a few lines before that
//! cut (so a secret's keyword context and an allow marker on the line above are still in view)
//! and keeps the findings from the cut on. A secret shorter than the overlap is therefore found
//! exactly once, wherever the boundary falls. Line and column numbers are those of the whole
//! file. What a window cannot see: a rule whose keyword may sit anywhere in a blob
//! (`keyword_anywhere`) finds its secret only when the keyword is within the same window.
use std::io::{self, Read};
use std::sync::OnceLock;

use crate::finding::Finding;
use crate::matcher::decode;
use crate::matcher::{Matcher, MatcherError};
use crate::scan::{is_binary, text_findings};

/// The window a file is read in. Files up to this size are read (and matched) whole.
pub const DEFAULT_WINDOW: usize = 8 << 20;
/// How much consecutive windows share: longer than any credential, PEM blocks included.
pub const DEFAULT_OVERLAP: usize = 256 << 10;
/// Lines of the previous window repeated before a cut: a rule's keyword may sit two lines above
/// its secret, and an allow marker on the line above.
const CONTEXT_LINES: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub size: usize,
    pub overlap: usize,
}

impl Default for Window {
    fn default() -> Self {
        Window { size: DEFAULT_WINDOW, overlap: DEFAULT_OVERLAP }
    }
}

impl Window {
    /// A window of `size` bytes (at least 64, rounded down to even so UTF-16 units are never
    /// split), overlapping by a quarter of it at most.
    pub fn new(size: usize) -> Window {
        let size = size.max(64) & !1;
        Window { size, overlap: DEFAULT_OVERLAP.min(size / 4) & !1 }
    }

    /// The default window, or `KEYTRAIL_READ_WINDOW` bytes: a knob for tests and for machines
    /// short of memory, read once.
    pub fn from_env() -> Window {
        static WINDOW: OnceLock<Window> = OnceLock::new();
        *WINDOW.get_or_init(|| {
            match std::env::var("KEYTRAIL_READ_WINDOW").ok().and_then(|v| crate::config::parse_size(&v).ok()) {
                Some(size) => Window::new(usize::try_from(size).unwrap_or(usize::MAX)),
                None => Window::default(),
            }
        })
    }
}

/// What reading one file gave.
#[derive(Debug)]
pub enum Outcome {
    /// A NUL in the first 8 KiB (and not UTF-16): not matched.
    Binary,
    /// More than the limit was read (the file grew past it while being read).
    TooLarge(u64),
    Scanned {
        bytes: u64,
        findings: Vec<Finding>,
        /// A rule that failed on this file (reported once per file).
        error: Option<MatcherError>,
    },
}

/// How lines and columns are counted in the raw bytes of a window.
#[derive(Clone, Copy, Debug)]
enum Units {
    Bytes,
    Utf16 { little: bool },
}

impl Units {
    fn width(self) -> usize {
        match self {
            Units::Bytes => 1,
            Units::Utf16 { .. } => 2,
        }
    }

    fn code(self, b: &[u8], i: usize) -> u16 {
        match self {
            Units::Bytes => u16::from(b[i]),
            Units::Utf16 { little: true } => u16::from_le_bytes([b[i], b[i + 1]]),
            Units::Utf16 { little: false } => u16::from_be_bytes([b[i], b[i + 1]]),
        }
    }

    fn newlines(self, b: &[u8]) -> usize {
        match self {
            Units::Bytes => memchr::memchr_iter(b'\n', b).count(),
            Units::Utf16 { .. } => (0..b.len() / 2).filter(|&k| self.code(b, 2 * k) == 0x0A).count(),
        }
    }

    /// The offset just after the last line break of `b`.
    fn after_last_newline(self, b: &[u8]) -> Option<usize> {
        match self {
            Units::Bytes => memchr::memrchr(b'\n', b).map(|i| i + 1),
            Units::Utf16 { .. } => (0..b.len() / 2).rev().find(|&k| self.code(b, 2 * k) == 0x0A).map(|k| 2 * k + 2),
        }
    }

    /// Characters as finding columns count them: UTF-8 scalar values (an invalid byte counts as
    /// one), or UTF-16 code units less the second half of each surrogate pair.
    fn chars(self, b: &[u8]) -> usize {
        match self {
            Units::Bytes => b.iter().filter(|&&x| x & 0xC0 != 0x80).count(),
            Units::Utf16 { .. } => {
                (0..b.len() / 2).filter(|&k| !(0xDC00..0xE000).contains(&self.code(b, 2 * k))).count()
            }
        }
    }

    /// 1-based line and column of offset `at` of `b`, as findings give them.
    fn position(self, b: &[u8], at: usize) -> (usize, usize) {
        let head = &b[..at];
        let from = self.after_last_newline(head).unwrap_or(0);
        (1 + self.newlines(head), 1 + self.chars(&head[from..]))
    }

    fn align(self, offset: usize) -> usize {
        offset & !(self.width() - 1)
    }

    /// Where a full window's findings end (`cut`) and where the next window starts (`next`).
    fn boundaries(self, buf: &[u8], overlap: usize) -> (usize, usize) {
        let target = self.align(buf.len() - overlap);
        let lo = self.align(target.saturating_sub(overlap));
        let cut = self.after_last_newline(&buf[lo..target]).map_or(target, |i| lo + i);
        let floor = self.align(cut.saturating_sub(overlap));
        let mut next = cut;
        for _ in 0..CONTEXT_LINES {
            if next < floor + self.width() {
                break;
            }
            match self.after_last_newline(&buf[floor..next - self.width()]) {
                Some(i) => next = floor + i,
                None => {
                    next = floor;
                    break;
                }
            }
        }
        (cut, next)
    }
}

/// Reads `reader` window by window (at most `limit` bytes: one more makes it
/// [`Outcome::TooLarge`]) and matches each window, `buf` being the reusable window buffer.
pub fn scan_windows(
    matcher: &Matcher,
    reader: impl Read,
    limit: u64,
    path: &str,
    show_secrets: bool,
    window: Window,
    buf: &mut Vec<u8>,
) -> io::Result<Outcome> {
    let mut reader = reader.take(limit.saturating_add(1));
    buf.clear();
    let mut total = 0u64;
    let mut units = None;
    // Lines wholly before `buf[0]`, and characters between the start of its line and `buf[0]`.
    let (mut lines_before, mut carry) = (0usize, 0usize);
    // Findings before this position of the window belong to the previous one.
    let mut keep_from = (1usize, 1usize);
    let mut findings = Vec::new();
    let mut error = None;
    loop {
        let want = window.size - buf.len();
        let got = (&mut reader).take(want as u64).read_to_end(buf)?;
        total += got as u64;
        if total > limit {
            return Ok(Outcome::TooLarge(total));
        }
        let eof = got < want;
        let units = match units {
            Some(u) => u,
            None => {
                if is_binary(buf) {
                    return Ok(Outcome::Binary);
                }
                let u = match decode::utf16_order(buf) {
                    Some(order) => {
                        buf.drain(..order.bom);
                        Units::Utf16 { little: order.little }
                    }
                    None => Units::Bytes,
                };
                *units.insert(u)
            }
        };
        let (cut, next) = if eof { (buf.len(), buf.len()) } else { units.boundaries(buf, window.overlap) };
        let keep_before = if eof { (usize::MAX, usize::MAX) } else { units.position(buf, cut) };
        let found = match units {
            Units::Bytes => text_findings(matcher, buf, false, path, show_secrets),
            Units::Utf16 { little } => {
                text_findings(matcher, &decode::utf16_decode(buf, little), true, path, show_secrets)
            }
        };
        match found {
            Ok(found) => findings.extend(
                found
                    .into_iter()
                    .filter(|f| (f.line, f.column) >= keep_from && (f.line, f.column) < keep_before)
                    .map(|f| shifted(f, lines_before, carry)),
            ),
            Err(e) => {
                error.get_or_insert(e);
            }
        }
        if eof {
            break;
        }
        let skipped = &buf[..next];
        carry = match units.after_last_newline(skipped) {
            Some(i) => units.chars(&skipped[i..]),
            None => carry + units.chars(skipped),
        };
        lines_before += units.newlines(skipped);
        keep_from = units.position(&buf[next..], cut - next);
        buf.drain(..next);
    }
    Ok(Outcome::Scanned { bytes: total, findings, error })
}

/// `f`, found in a window that starts `lines_before` lines and `carry` characters into the file,
/// placed in the whole file.
fn shifted(mut f: Finding, lines_before: usize, carry: usize) -> Finding {
    if f.line == 1 {
        f.column += carry;
    }
    if f.end_line == 1 {
        f.end_column += carry;
    }
    f.line += lines_before;
    f.end_line += lines_before;
    if let Some(c) = &mut f.companion {
        if c.line == 1 {
            c.column += carry;
        }
        c.line += lines_before;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;
    use crate::scan::blob_findings;

    fn matcher() -> Matcher {
        Matcher::new(RuleSet::builtin().expect("built-in rules")).expect("matcher")
    }

    type Key = (String, usize, usize, usize, usize, String);

    fn keys(found: &[Finding]) -> Vec<Key> {
        let mut k: Vec<Key> = found
            .iter()
            .map(|f| (f.rule_id.clone(), f.line, f.column, f.end_line, f.end_column, f.fingerprint.clone()))
            .collect();
        k.sort();
        k
    }

    fn windowed(m: &Matcher, hay: &[u8], size: usize) -> Vec<Finding> {
        let mut buf = Vec::new();
        match scan_windows(m, hay, u64::MAX - 1, "f", false, Window::new(size), &mut buf).expect("read") {
            Outcome::Scanned { findings, error: None, .. } => findings,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Text with GitHub tokens (checksummed, built here) and AWS keys at many offsets, on short
    /// lines, on long lines and mid-line, so window boundaries fall everywhere.
    fn corpus(seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alnum = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut out = Vec::new();
        for i in 0..400 {
            let filler = (next() % 90) as usize;
            out.extend((0..filler).map(|_| b"lorem ipsum dolor "[(next() % 18) as usize]));
            match next() % 4 {
                0 => {
                    let body: Vec<u8> = (0..30).map(|_| alnum[(next() % 62) as usize]).collect();
                    let check = crate::matcher::checksum::base62_crc32(&body);
                    out.extend_from_slice(b" token = ghp_");
                    out.extend_from_slice(&body);
                    out.extend_from_slice(&check);
                }
                1 => {
                    let id: Vec<u8> =
                        (0..16).map(|_| b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[(next() % 32) as usize]).collect();
                    out.extend_from_slice(b" aws_access_key_id = AKIA");
                    out.extend_from_slice(&id);
                }
                _ => {}
            }
            if i % 7 != 3 {
                out.push(b'\n');
            }
        }
        out
    }

    #[test]
    fn windows_find_what_the_whole_file_does() {
        let m = matcher();
        for seed in 1..6u64 {
            let hay = corpus(seed);
            let whole = blob_findings(&m, &hay, "f", false).expect("scan");
            assert!(whole.len() > 50, "the corpus plants secrets");
            for size in [64 * 1024, 4096, 1000, 333] {
                assert_eq!(keys(&windowed(&m, &hay, size)), keys(&whole), "seed {seed}, window {size}");
            }
        }
    }

    #[test]
    fn one_long_line_keeps_columns() {
        let m = matcher();
        let hay: Vec<u8> = corpus(9).into_iter().map(|b| if b == b'\n' { b' ' } else { b }).collect();
        let whole = blob_findings(&m, &hay, "f", false).expect("scan");
        assert!(whole.iter().all(|f| f.line == 1) && whole.len() > 50);
        assert_eq!(keys(&windowed(&m, &hay, 2048)), keys(&whole));
    }

    #[test]
    fn utf16_files_are_windowed_on_code_units() {
        let m = matcher();
        let text = String::from_utf8(corpus(3)).expect("ascii");
        let whole = blob_findings(&m, text.as_bytes(), "f", false).expect("scan");
        for little in [true, false] {
            let mut hay = if little { vec![0xFF, 0xFE] } else { vec![0xFE, 0xFF] };
            for u in text.encode_utf16() {
                hay.extend(if little { u.to_le_bytes() } else { u.to_be_bytes() });
            }
            let found = windowed(&m, &hay, 4001);
            assert!(found.iter().all(|f| f.encoding == Some(decode::Encoding::Utf16)));
            assert_eq!(keys(&found), keys(&whole), "little-endian: {little}");
        }
    }

    #[test]
    fn limits_and_binary() {
        let m = matcher();
        let mut buf = Vec::new();
        let hay = corpus(2);
        let limit = hay.len() as u64 - 1;
        assert!(matches!(
            scan_windows(&m, &hay[..], limit, "f", false, Window::new(1000), &mut buf),
            Ok(Outcome::TooLarge(n)) if n == limit + 1
        ));
        let mut bin = hay.clone();
        bin[100] = 0;
        assert!(matches!(
            scan_windows(&m, &bin[..], u64::MAX, "f", false, Window::new(1000), &mut buf),
            Ok(Outcome::Binary)
        ));
        // A NUL after the first window is text like any other byte.
        let mut late = hay.clone();
        late[9000] = 0;
        assert!(matches!(
            scan_windows(&m, &late[..], u64::MAX, "f", false, Window::new(1000), &mut buf),
            Ok(Outcome::Scanned { .. })
        ));
    }
}
