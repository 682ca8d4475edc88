//! One occurrence of a secret: where it is, what rule found it, and the only forms of the secret
//! keytrail ever keeps — a redacted display string and a one-way fingerprint. The raw bytes never
//! leave the scanning function unless the user asked for `--show-secrets`.
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::matcher::decode::{Encoding, View};
use crate::matcher::RawMatch;
use crate::nhi::{Governance, InventoryLink, Nhi, Risk};
use crate::rules::{NhiKind, Rule, Severity};

/// Versioned so that a future change of hashing cannot silently unlink inventories and baselines.
pub const FINGERPRINT_VERSION: &str = "kt1";

/// A one-way, value-only fingerprint: the same secret anywhere (any file, line or commit) has the
/// same fingerprint, and the fingerprint does not reveal the secret.
pub fn fingerprint(secret: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"keytrail-fingerprint-v1\0");
    h.update(secret);
    let digest = h.finalize();
    let mut out = String::with_capacity(4 + 32);
    out.push_str(FINGERPRINT_VERSION);
    out.push(':');
    for b in &digest[..16] {
        out.push_str(&format!("{b:02x}"));
    }
    out
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

    /// The 1-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
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

/// The secrets found in one blob, by the lines they touch: a snippet masks every one on its line,
/// not only its own, and every repeat there of one of their values.
#[derive(Debug, Default)]
pub struct SecretSpans {
    by_line: HashMap<usize, Vec<Range<usize>>>,
}

impl SecretSpans {
    pub fn new(hay: &[u8], lines: &LineIndex, spans: impl IntoIterator<Item = Range<usize>>) -> SecretSpans {
        let mut by_line: HashMap<usize, Vec<Range<usize>>> = HashMap::new();
        let mut searched = HashSet::new();
        for span in spans {
            let first = lines.line_of(span.start);
            let last = lines.line_of(span.end.saturating_sub(1).max(span.start));
            for line in first..=last {
                by_line.entry(line).or_default().push(span.clone());
            }
            // A value repeated on its line, matched once (the repeat glued to a word) or not at
            // all, is the same secret.
            let value = &hay[span.clone()];
            if first == last && !value.is_empty() && searched.insert((first, value)) {
                let text = lines.line_span(hay, first);
                let repeats = memchr::memmem::find_iter(&hay[text.clone()], value)
                    .map(|p| text.start + p..text.start + p + value.len())
                    .filter(|r| *r != span);
                by_line.entry(first).or_default().extend(repeats);
            }
        }
        SecretSpans { by_line }
    }

    fn on(&self, line: usize) -> &[Range<usize>] {
        self.by_line.get(&line).map_or(&[], Vec::as_slice)
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
    /// `secrets` are every secret found in `hay`, masked in the snippet too.
    pub fn new(
        rule: &Rule,
        m: &RawMatch,
        hay: &[u8],
        lines: &LineIndex,
        secrets: &SecretSpans,
        path: String,
        show_secrets: bool,
    ) -> Finding {
        let nhi = Nhi::read(rule, hay, m.secret.clone());
        Finding::at(rule, m, hay, lines, secrets, path, show_secrets, nhi)
    }

    /// The finding for `m` in `hay`, with its identity already read.
    #[allow(clippy::too_many_arguments)]
    fn at(
        rule: &Rule,
        m: &RawMatch,
        hay: &[u8],
        lines: &LineIndex,
        secrets: &SecretSpans,
        path: String,
        show_secrets: bool,
        nhi: Nhi,
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
            snippet: snippet(hay, lines, line, m, secrets, show_secrets),
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
        secrets: &SecretSpans,
        path: String,
        show_secrets: bool,
    ) -> Finding {
        let at = RawMatch { rule: m.rule, secret: view.origin.clone(), companion: None, entropy: m.entropy };
        let nhi = Nhi::read(rule, &view.bytes, m.secret.clone());
        let mut f = Finding::at(rule, &at, hay, lines, secrets, path, show_secrets, nhi);
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

/// The secret's first line, with every secret on it masked: the match, its companion, and the
/// blob's other `secrets` there.
fn snippet(
    hay: &[u8],
    lines: &LineIndex,
    line: usize,
    m: &RawMatch,
    secrets: &SecretSpans,
    show_secrets: bool,
) -> String {
    let span = lines.line_span(hay, line);
    let mut masks: Vec<Range<usize>> = Vec::new();
    if !show_secrets {
        masks.push(m.secret.clone());
        masks.extend(m.companion.clone());
        masks.extend(secrets.on(line).iter().cloned());
    }
    // Sorted and merged, so one sweep along the line finds the mask at each byte.
    masks.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(masks.len());
    for r in masks {
        match merged.last_mut() {
            Some(last) if r.start < last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let mut masks = merged.into_iter().filter(|r| r.end > span.start).peekable();
    let mut out = Vec::with_capacity(span.len());
    let mut focus = None;
    let mut i = span.start;
    while i < span.end {
        // The secret may start inside a mask that began before it: the focus is that mask then.
        if focus.is_none() && i >= m.secret.start {
            focus = Some(out.len());
        }
        match masks.peek() {
            Some(mask) if mask.start <= i => {
                out.extend_from_slice(redact(&hay[mask.clone()]).as_bytes());
                i = mask.end.min(span.end).max(i + 1);
                masks.next();
            }
            _ => {
                out.push(hay[i]);
                i += 1;
            }
        }
    }
    // Lossy decoding can only lengthen the text before `focus`, so clamp to a char boundary.
    let text = String::from_utf8_lossy(&out);
    let focus = focus.unwrap_or(out.len());
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
    fn a_snippet_masks_every_secret_on_its_line() {
        let rule = r#"
[[rule]]
id = "demo-key"
name = "Demo key"
description = "d"
provider = "demo"
nhi_kind = "api_key"
keywords = ["demo_"]
regex = '''\b(?P<secret>demo_[A-Za-z0-9]{12})\b'''
examples = ["demo_Q8zK2mP4xR7w"]
negative_examples = ["demo_short"]
"#;
        let mut loader = crate::rules::Loader::default();
        loader.add_text("t.toml", rule);
        let m = crate::matcher::Matcher::new(loader.finish().unwrap()).unwrap();
        let (a, b) = ("demo_Q8zK2mP4xR7w", "demo_Zk3pQ9rT2wXy");
        // The last `a` is glued to a word character, so the rule does not match it there.
        let hay = format!("A={a} B={b} old=x{a}\nnext line {b}\n");
        let found = crate::scan::blob_findings(&m, hay.as_bytes(), "f", false).unwrap();
        assert_eq!(found.len(), 3, "{found:#?}");
        for f in &found {
            assert!(!f.snippet.contains(a) && !f.snippet.contains(b), "{}", f.snippet);
        }
        assert_eq!(found[0].snippet, "A=demo_******** B=demo_******** old=xdemo_********");
        let shown = crate::scan::blob_findings(&m, hay.as_bytes(), "f", true).unwrap();
        assert_eq!(shown[1].snippet, format!("A={a} B={b} old=x{a}"));
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
