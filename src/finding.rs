//! One occurrence of a secret: where it is, what rule found it, and the only forms of the secret
//! keytrail ever keeps — a redacted display string and a one-way fingerprint. The raw bytes never
//! leave the scanning function unless the user asked for `--show-secrets`.
use std::ops::Range;
use std::sync::OnceLock;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::matcher::decode::{Encoding, View};
use crate::matcher::RawMatch;
use crate::nhi::{Governance, InventoryLink, Nhi, Risk};
use crate::rules::{NhiKind, Rule, Severity};

/// Versioned so that a future change of hashing cannot silently unlink inventories and baselines.
pub const FINGERPRINT_VERSION: &str = "kt1";
/// The prefix of fingerprints keyed with an organisation's secret (`KEYTRAIL_FINGERPRINT_KEY`):
/// distinct, so that keyed and unkeyed fingerprints are never taken for one another.
pub const KEYED_FINGERPRINT_VERSION: &str = "kt1k";

static FINGERPRINT_KEY: OnceLock<Vec<u8>> = OnceLock::new();

/// Keys every fingerprint of this process with `key` (HMAC-SHA-256): without the key, nobody can
/// test guesses of a low-entropy password against a committed fingerprint. Set once, before any
/// scanning; a second call is ignored and returns false.
pub fn set_fingerprint_key(key: &[u8]) -> bool {
    FINGERPRINT_KEY.set(key.to_vec()).is_ok()
}

/// A one-way, value-only fingerprint: the same secret anywhere (any file, line or commit) has the
/// same fingerprint, and the fingerprint does not reveal the secret.
pub fn fingerprint(secret: &[u8]) -> String {
    use hmac::Mac;
    const DOMAIN: &[u8] = b"keytrail-fingerprint-v1\0";
    let (prefix, digest) = match FINGERPRINT_KEY.get() {
        Some(key) => {
            // HMAC takes keys of any length; the error case cannot occur.
            let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
            mac.update(DOMAIN);
            mac.update(secret);
            (KEYED_FINGERPRINT_VERSION, mac.finalize().into_bytes())
        }
        None => {
            let mut h = Sha256::new();
            h.update(DOMAIN);
            h.update(secret);
            (FINGERPRINT_VERSION, h.finalize())
        }
    };
    let mut out = String::with_capacity(prefix.len() + 1 + 32);
    out.push_str(prefix);
    out.push(':');
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `kt1:` (or keyed, `kt1k:`) and 32 lowercase hex digits, the forms keytrail prints; anything else
/// would never match a finding, so it is a mistake worth reporting.
pub fn is_fingerprint(s: &str) -> bool {
    s.strip_prefix("kt1:")
        .or_else(|| s.strip_prefix("kt1k:"))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// What is shown of a secret when it is not to be printed: a vendor prefix that identifies the
/// kind of token (`ghp_`, `xoxb-`, `AKIA`, a PEM header) and a fixed mask that hides its length.
pub fn redact(secret: &[u8]) -> String {
    const MASK: &str = "********";
    let text = String::from_utf8_lossy(secret);
    if let Some(rest) = text.strip_prefix("-----BEGIN ") {
        let header: String = rest.chars().take_while(|&c| c != '\n' && c != '\r' && c != '\\').collect();
        if header.ends_with("-----") && header.len() < 64 {
            return format!("-----BEGIN {header}{MASK}");
        }
    }
    format!("{}{MASK}", visible_prefix(&text))
}

fn visible_prefix(text: &str) -> &str {
    let bytes = text.as_bytes();
    // A vendor prefix is a run of letter-only segments each ended by `_` or `-` (`sk_live_`,
    // `glpat-`, `xoxb-`, `sk-ant-`); a segment with digits (a team or account id) is not shown.
    let mut cut = 0;
    while let Some(len) = bytes[cut..].iter().position(|&b| b == b'_' || b == b'-') {
        let segment = &bytes[cut..cut + len];
        if segment.is_empty() || !segment.iter().all(u8::is_ascii_alphabetic) || cut + len + 1 > 16 {
            break;
        }
        cut += len + 1;
    }
    if cut >= 3 && bytes.len() - cut >= 12 {
        return &text[..cut];
    }
    // Upper-case key ids (`AKIA…`, `ASIA…`) are identified by their first four letters.
    if bytes.len() >= 16
        && bytes[..4].iter().all(u8::is_ascii_uppercase)
        && bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return &text[..4];
    }
    ""
}

/// Byte offsets of line starts, built only for blobs that have matches.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(hay: &[u8]) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', hay).map(|p| p + 1));
        LineIndex { starts }
    }

    /// 1-based line and 1-based column counted in characters (UTF-8 scalar values; each invalid
    /// byte counts as one).
    pub fn position(&self, hay: &[u8], offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let col = hay[start..offset].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
        (line, col)
    }

    pub fn line_span(&self, hay: &[u8], line: usize) -> Range<usize> {
        let start = self.starts[line - 1];
        let mut end = self.starts.get(line).map_or(hay.len(), |&s| s - 1);
        if end > start && hay[end - 1] == b'\r' {
            end -= 1;
        }
        start..end
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Companion {
    pub name: String,
    /// Redacted unless `--show-secrets`.
    pub secret: String,
    pub line: usize,
    pub column: usize,
}

/// One occurrence of a secret.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub rule_name: String,
    pub provider: String,
    pub nhi_kind: NhiKind,
    pub severity: Severity,
    /// Relative to the scanned root, `/`-separated.
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    /// The column just after the secret's last character (exclusive, as in SARIF).
    pub end_column: usize,
    /// Redacted unless `--show-secrets`.
    pub secret: String,
    /// The line the secret starts on, with the secret redacted and control characters escaped.
    pub snippet: String,
    /// Shannon entropy of the secret, bits per character, rounded to 3 decimals.
    pub entropy: f64,
    pub fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub companion: Option<Companion>,
    /// Where the blob came from.
    pub source: Source,
    /// The encoding the secret was found under (base64, string escapes, percent, UTF-16);
    /// absent when it sits in the file as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// For a secret in history (or a working-tree secret that history also holds): the commit that
    /// introduced it at this path.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub history: Option<crate::source::git::Provenance>,
    /// What the secret says about its identity.
    pub nhi: Nhi,
    /// The inventory entry that claims this secret; null when it is unmanaged.
    pub inventory: Option<InventoryLink>,
    pub governance: Governance,
    /// OWASP NHI Top 10 risks the secret's identity shows.
    pub risks: Vec<Risk>,
}

/// Which kind of input a finding was read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A file on disk.
    #[default]
    Worktree,
    /// A blob in git history.
    History,
    /// A staged (index) blob.
    Staged,
}

/// A secret as output shows it: in full only when asked.
fn shown_secret(secret: &[u8], show_secrets: bool) -> String {
    if show_secrets {
        String::from_utf8_lossy(secret).into_owned()
    } else {
        redact(secret)
    }
}

impl Finding {
    /// Builds the finding for `m` in `hay`; the only place raw secret bytes are turned into output.
    /// `secrets` are the spans of every secret found in `hay`, masked in the snippet too.
    pub fn new(
        rule: &Rule,
        m: &RawMatch,
        hay: &[u8],
        lines: &LineIndex,
        path: String,
        show_secrets: bool,
        secrets: &SecretSpans,
    ) -> Finding {
        let nhi = Nhi::read(rule, hay, m.secret.clone());
        Finding::at(rule, m, hay, lines, path, show_secrets, nhi, secrets)
    }

    /// The finding for `m` in `hay`, with its identity already read.
    #[allow(clippy::too_many_arguments)]
    fn at(
        rule: &Rule,
        m: &RawMatch,
        hay: &[u8],
        lines: &LineIndex,
        path: String,
        show_secrets: bool,
        nhi: Nhi,
        secrets: &SecretSpans,
    ) -> Finding {
        let secret = &hay[m.secret.clone()];
        let (line, column) = lines.position(hay, m.secret.start);
        let (end_line, end_column) = lines.position(hay, m.secret.end);
        let shown = |s: &[u8]| shown_secret(s, show_secrets);
        let companion = m.companion.as_ref().zip(rule.companion.as_ref()).map(|(span, c)| {
            let (cl, cc) = lines.position(hay, span.start);
            Companion { name: c.name.clone(), secret: shown(&hay[span.clone()]), line: cl, column: cc }
        });
        Finding {
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            provider: rule.provider.clone(),
            nhi_kind: rule.nhi_kind,
            severity: rule.severity,
            path,
            line,
            column,
            end_line,
            end_column,
            secret: shown(secret),
            snippet: snippet(hay, lines, line, m, show_secrets, secrets),
            entropy: (m.entropy * 1000.0).round() / 1000.0,
            fingerprint: fingerprint(secret),
            companion,
            source: Source::Worktree,
            encoding: None,
            history: None,
            nhi,
            inventory: None,
            governance: Governance::Unmanaged,
            risks: Vec::new(),
        }
    }

    /// The finding for a match `m` inside `view`, a decoded form of `hay[view.origin]`: located at
    /// the encoded text, identified (fingerprint, redacted value) by the decoded secret.
    #[allow(clippy::too_many_arguments)]
    pub fn from_view(
        rule: &Rule,
        m: &RawMatch,
        view: &View,
        hay: &[u8],
        lines: &LineIndex,
        path: String,
        show_secrets: bool,
        secrets: &SecretSpans,
    ) -> Finding {
        let at = RawMatch { rule: m.rule, secret: view.origin.clone(), companion: None, entropy: m.entropy };
        let nhi = Nhi::read(rule, &view.bytes, m.secret.clone());
        let mut f = Finding::at(rule, &at, hay, lines, path, show_secrets, nhi, secrets);
        let secret = &view.bytes[m.secret.clone()];
        let shown = |s: &[u8]| shown_secret(s, show_secrets);
        f.secret = shown(secret);
        f.fingerprint = fingerprint(secret);
        f.companion = m.companion.as_ref().zip(rule.companion.as_ref()).map(|(span, c)| Companion {
            name: c.name.clone(),
            secret: shown(&view.bytes[span.clone()]),
            line: f.line,
            column: f.column,
        });
        f.encoding = Some(view.encoding);
        f
    }

    /// The order every output uses: path, line, column, rule.
    pub fn sort_key(&self) -> (&str, usize, usize, &str) {
        (&self.path, self.line, self.column, &self.rule_id)
    }
}

const SNIPPET_MAX: usize = 160;

/// The secret's first line, with every secret on it (the match, its companion and what other
/// findings matched there) masked.
/// The spans of every secret found in a blob, sorted, so that the secrets on one line are found
/// without a pass over all of them: a file of many secrets would otherwise cost their number
/// squared.
pub struct SecretSpans {
    spans: Vec<Range<usize>>,
    /// The furthest end among `spans[..=i]`: ascending, so it can be searched.
    reach: Vec<usize>,
}

impl SecretSpans {
    pub fn new(mut spans: Vec<Range<usize>>) -> SecretSpans {
        spans.sort_by_key(|r| (r.start, r.end));
        let mut furthest = 0;
        let reach = spans
            .iter()
            .map(|r| {
                furthest = furthest.max(r.end);
                furthest
            })
            .collect();
        SecretSpans { spans, reach }
    }

    /// The spans that overlap `range`, and perhaps a few more before it.
    fn overlapping(&self, range: Range<usize>) -> impl Iterator<Item = &Range<usize>> {
        let end = self.spans.partition_point(|r| r.start < range.end);
        let start = self.reach[..end].partition_point(|&e| e <= range.start);
        self.spans[start..end].iter()
    }
}

/// Repeats of a secret shorter than this are left in a snippet: a short value (a PIN, `admin`) would
/// mask ordinary words.
const MIN_MASKED_REPEAT: usize = 8;

fn snippet(
    hay: &[u8],
    lines: &LineIndex,
    line: usize,
    m: &RawMatch,
    show_secrets: bool,
    secrets: &SecretSpans,
) -> String {
    let span = lines.line_span(hay, line);
    let mut masks: Vec<Range<usize>> = Vec::new();
    if !show_secrets {
        let mut spans: Vec<Range<usize>> = std::iter::once(m.secret.clone())
            .chain(m.companion.clone())
            .chain(secrets.overlapping(span.clone()).cloned())
            .filter(|r| r.start < span.end && span.start < r.end)
            .collect();
        // The same value again on the line (`A=tok B=tok`, matched once) is the same secret.
        let line_text = &hay[span.clone()];
        let repeats: Vec<Range<usize>> = spans
            .iter()
            .filter(|r| r.len() >= MIN_MASKED_REPEAT)
            .flat_map(|r| {
                let value = &hay[r.clone()];
                memchr::memmem::find_iter(line_text, value)
                    .map(move |at| span.start + at..span.start + at + value.len())
            })
            .collect();
        spans.extend(repeats);
        spans.sort_by_key(|r| (r.start, r.end));
        // Overlapping secrets are masked as one: a mask begun inside another would show a prefix.
        for r in spans {
            match masks.last_mut() {
                Some(last) if r.start < last.end => last.end = last.end.max(r.end),
                _ => masks.push(r),
            }
        }
    }
    let mut out = Vec::with_capacity(span.len());
    let mut focus = 0;
    let mut i = span.start;
    while i < span.end {
        // At the secret, or at the start of the mask that covers it.
        if i <= m.secret.start {
            focus = out.len();
        }
        if let Some(mask) = masks.iter().find(|r| r.start <= i && i < r.end) {
            out.extend_from_slice(redact(&hay[mask.start..mask.end]).as_bytes());
            i = mask.end.min(span.end).max(i + 1);
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    // Lossy decoding can only lengthen the text before `focus`, so clamp to a char boundary.
    let text = String::from_utf8_lossy(&out);
    let focus = (0..=focus.min(text.len())).rev().find(|&f| text.is_char_boundary(f)).unwrap_or(0);
    let clipped = clip(&text, focus, SNIPPET_MAX);
    escape_control(clipped.trim())
}

/// At most `max` characters of `text`, keeping `focus` (a byte offset) in view.
fn clip(text: &str, focus: usize, max: usize) -> String {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    if chars.len() <= max {
        return text.to_string();
    }
    let focus_char = chars.iter().position(|(b, _)| *b >= focus).unwrap_or(0);
    let start = focus_char.saturating_sub(max / 3).min(chars.len() - max);
    let end = start + max;
    let mut s = String::new();
    if start > 0 {
        s.push('…');
    }
    s.extend(chars[start..end].iter().map(|(_, c)| c));
    if end < chars.len() {
        s.push('…');
    }
    s
}

/// Replaces characters that a terminal would act on (C0/C1 controls, DEL, bidirectional overrides)
/// with visible escapes, so scanned content cannot drive the reader's terminal.
pub fn escape_control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push(' '),
            c if c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c) => {
                out.push_str(&c.escape_unicode().to_string())
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_spans_on_a_range_include_every_overlapping_one() {
        let all = vec![30..40, 0..100, 5..8, 50..60, 120..130, 45..52];
        let spans = SecretSpans::new(all.clone());
        for range in [0..10, 41..49, 55..56, 101..119, 100..125, 200..300] {
            let got: Vec<_> = spans
                .overlapping(range.clone())
                .filter(|r| r.start < range.end && range.start < r.end)
                .cloned()
                .collect();
            let mut want: Vec<_> = all.iter().filter(|r| r.start < range.end && range.start < r.end).cloned().collect();
            want.sort_by_key(|r| (r.start, r.end));
            assert_eq!(got, want, "{range:?}");
        }
    }

    #[test]
    fn fingerprint_is_stable_and_value_only() {
        let a = fingerprint(b"secret-value");
        assert_eq!(a, fingerprint(b"secret-value"));
        assert_ne!(a, fingerprint(b"secret-valuf"));
        assert!(a.starts_with("kt1:") && a.len() == 36, "{a}");
    }

    #[test]
    fn redaction_keeps_only_a_prefix() {
        // Built at run time so this file holds no credential-shaped literal.
        let body = "Zq8mT3vLk2Rw9XbN4cYp7HsJd1FgUe";
        assert_eq!(redact(format!("ghp_{body}000000").as_bytes()), "ghp_********");
        assert_eq!(redact(format!("sk_live_{body}").as_bytes()), "sk_live_********");
        assert_eq!(redact(format!("xoxb-1234567890-0987654321-{body}").as_bytes()), "xoxb-********");
        assert_eq!(redact(format!("AKIA{}", "Q3EGUIVNJ2W6TZ4B").as_bytes()), "AKIA********");
        assert_eq!(redact(format!("sk-ant-api03-{body}").as_bytes()), "sk-ant-********");
        assert_eq!(redact(b"hunter2!Sx9"), "********");
        assert_eq!(redact(b"-----BEGIN RSA PRIVATE KEY-----\nMIIE"), "-----BEGIN RSA PRIVATE KEY-----********");
        // A short dash-separated value shows nothing.
        assert_eq!(redact(b"ab-cdef"), "********");
    }

    #[test]
    fn positions_count_characters() {
        let hay = "é = x\nline2 ghp\r\nz".as_bytes();
        let idx = LineIndex::new(hay);
        assert_eq!(idx.position(hay, 0), (1, 1));
        assert_eq!(idx.position(hay, 5), (1, 5)); // 'x' is the 5th character, after a 2-byte é
        assert_eq!(idx.position(hay, 13), (2, 7));
        assert_eq!(&hay[idx.line_span(hay, 2)], b"line2 ghp");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("a\u{1b}[31mb\u{202e}c\td"), "a\\u{1b}[31mb\\u{202e}c d");
    }

    #[test]
    fn clip_keeps_focus_visible() {
        let long = format!("{}SECRET{}", "a".repeat(300), "b".repeat(300));
        let c = clip(&long, 300, 40);
        assert!(c.contains("SECRET"), "{c}");
        assert!(c.starts_with('…') && c.ends_with('…'));
    }
}
