//! Where in a blob a rule's regex is worth running.
//!
//! A keyword hit says a rule may match *near* it, not anywhere in the blob: `token` on line 900 of
//! a source file says nothing about line 10. Running each candidate rule's regex only on the lines
//! around its keyword hits keeps the cost of the catalogue proportional to the hits, not to the
//! size of every blob that happens to contain a common word. Matches found this way are exactly the
//! matches a whole-blob search finds that lie within [`CONTEXT_LINES`] lines of a keyword (for
//! rules whose matches stay on one line) or within the rule's longest match of one; rules whose
//! matches can run over lines without bound (PEM blocks, JSON documents) keep the whole blob.
use std::ops::Range;

use regex_syntax::hir::{Class, Hir, HirKind};

/// Lines either side of a keyword's line searched for a match. Rules whose keyword is context
/// rather than part of the token (`discord … token = "…"`) rely on it; two lines cover a key and
/// its value written on consecutive lines, or a value on the line after its provider's name.
pub const CONTEXT_LINES: usize = 2;

/// Beyond this share of a blob, one search of the whole blob is cheaper than many windows.
const WHOLE_BLOB_SHARE: usize = 2;

/// How far from a keyword hit one rule's match can reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Matches never cross a line break.
    Line,
    /// Matches may cross lines but are never longer than this many bytes.
    Bytes(usize),
    /// Matches may cross lines without bound.
    Blob,
}

impl Reach {
    /// The reach of a regex, read off its syntax; `Blob` when it cannot be parsed (the regex
    /// itself then reports the error when compiled).
    pub fn of(pattern: &str) -> Reach {
        let parsed = regex_syntax::ParserBuilder::new().unicode(false).utf8(false).build().parse(pattern);
        let Ok(hir) = parsed else { return Reach::Blob };
        if !can_match_newline(&hir) {
            return Reach::Line;
        }
        match hir.properties().maximum_len() {
            Some(n) => Reach::Bytes(n),
            None => Reach::Blob,
        }
    }
}

fn can_match_newline(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(lit) => lit.0.contains(&b'\n'),
        HirKind::Class(Class::Bytes(c)) => c.ranges().iter().any(|r| r.start() <= b'\n' && b'\n' <= r.end()),
        HirKind::Class(Class::Unicode(c)) => c.ranges().iter().any(|r| r.start() <= '\n' && '\n' <= r.end()),
        HirKind::Repetition(r) => r.max != Some(0) && can_match_newline(&r.sub),
        HirKind::Capture(c) => can_match_newline(&c.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().any(can_match_newline),
    }
}

/// The spans of `hay` a rule of reach `reach` has to be searched in, given the byte spans of its
/// keyword hits: whole lines, sorted and disjoint. One span covering the blob when the windows
/// would cover much of it anyway.
pub fn windows(hay: &[u8], reach: Reach, hits: impl IntoIterator<Item = Range<usize>>) -> Vec<Range<usize>> {
    let whole = || std::iter::once(0..hay.len()).collect();
    let margin = match reach {
        Reach::Blob => return whole(),
        Reach::Line => 0,
        Reach::Bytes(n) => n,
    };
    let mut spans: Vec<Range<usize>> = hits
        .into_iter()
        .map(|hit| {
            let from = hit.start.saturating_sub(margin);
            let to = hit.end.saturating_add(margin).min(hay.len());
            lines_around(hay, from..to, CONTEXT_LINES)
        })
        .collect();
    spans.sort_unstable_by_key(|s| s.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    let mut covered = 0;
    for s in spans {
        match merged.last_mut() {
            Some(last) if s.start <= last.end => {
                covered += s.end.saturating_sub(last.end);
                last.end = last.end.max(s.end);
            }
            _ => {
                covered += s.len();
                merged.push(s);
            }
        }
    }
    if covered * WHOLE_BLOB_SHARE >= hay.len() {
        return whole();
    }
    merged
}

/// `span` widened to whole lines, plus `lines` more lines before and after; ends after a line's
/// `\n`, so that `$`, `\b` and the like see the same bytes as in a search of the whole blob.
pub fn lines_around(hay: &[u8], span: Range<usize>, lines: usize) -> Range<usize> {
    let mut start = span.start.min(hay.len());
    for _ in 0..=lines {
        match memchr::memrchr(b'\n', &hay[..start]) {
            Some(p) => start = p,
            None => {
                start = 0;
                break;
            }
        }
    }
    if start > 0 || hay.first() == Some(&b'\n') {
        start = (start + 1).min(span.start);
    }
    let mut end = span.end.min(hay.len());
    for _ in 0..=lines {
        match memchr::memchr(b'\n', &hay[end..]) {
            Some(p) => end = end + p + 1,
            None => {
                end = hay.len();
                break;
            }
        }
    }
    start..end
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    #[test]
    fn reach_read_off_the_regex() {
        assert_eq!(Reach::of(r"ghp_[A-Za-z0-9]{36}"), Reach::Line);
        assert_eq!(Reach::of(r"(?m)^password[ \t]*=[ \t]*(?P<secret>\S+)$"), Reach::Line);
        assert_eq!(Reach::of(r"password\s*=\s*(?P<secret>\S+)"), Reach::Blob, "\\s takes line breaks");
        assert_eq!(Reach::of(r"key[^\n]{0,40}"), Reach::Line);
        assert_eq!(Reach::of(r"key\s{0,4}=\s{0,4}[a-z]{8}"), Reach::Bytes(3 + 4 + 1 + 4 + 8));
        assert_eq!(Reach::of(r"(?s)BEGIN.*?END"), Reach::Blob);
        assert_eq!(Reach::of(r"BEGIN[\s\S]*END"), Reach::Blob);
        assert_eq!(Reach::of(r"a\nb"), Reach::Bytes(3));
        assert_eq!(Reach::of(r"(unclosed"), Reach::Blob);
    }

    #[test]
    fn line_windows_cover_context_lines_and_merge() {
        let text: String =
            (0..40).map(|i| if i == 3 || i == 14 { format!("{i} key\n") } else { format!("{i}\n") }).collect();
        let hay = text.as_bytes();
        let first = text.find("key").unwrap();
        let second = text.rfind("key").unwrap();
        let w = windows(hay, Reach::Line, [first..first + 3, second..second + 3]);
        let shown: Vec<&str> = w.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(shown, vec!["1\n2\n3 key\n4\n5\n", "12\n13\n14 key\n15\n16\n"]);
        // Hits close together share one window.
        let w = windows(hay, Reach::Line, [first..first + 3, first + 2..first + 3]);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn windows_fall_back_to_the_whole_blob() {
        let hay = b"a key\nb\n";
        assert_eq!(windows(hay, Reach::Line, [2..5]), vec![0..hay.len()]);
        let long = format!("key\n{}", "x\n".repeat(100));
        assert_eq!(windows(long.as_bytes(), Reach::Blob, [0..3]), vec![0..long.len()]);
        assert_eq!(&long[windows(long.as_bytes(), Reach::Line, [0..3])[0].clone()], "key\nx\nx\n");
        // Six bytes past the keyword end inside the second `x` line; two more lines follow it.
        assert_eq!(windows(long.as_bytes(), Reach::Bytes(6), [0..3]), vec![0..14]);
    }

    #[test]
    fn lines_around_bounds() {
        let hay = b"a\nb\nc\nd\ne";
        let span = 4..5; // "c"
        assert_eq!(&hay[lines_around(hay, span.clone(), 0)], b"c\n");
        assert_eq!(&hay[lines_around(hay, span.clone(), 1)], b"b\nc\nd\n");
        assert_eq!(&hay[lines_around(hay, span, 9)], hay);
    }
}
