//! Labels, hard negatives, and the marker scheme that ties a planted value to its line numbers.
//!
//! A generator wraps each planted value with `Corpus::s` (a secret) or `Corpus::n` (a hard
//! negative) while it builds a file's text with `format!`; `Corpus::file` then strips the markers
//! and records the 1-based line range each value ended up on.
#![allow(dead_code)]
use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Family {
    Cloud,
    SourceControlCi,
    Messaging,
    PaymentsSaas,
    Ai,
    KeysTokens,
    ConfigCredentials,
}

pub const FAMILIES: [Family; 7] = [
    Family::Cloud,
    Family::SourceControlCi,
    Family::Messaging,
    Family::PaymentsSaas,
    Family::Ai,
    Family::KeysTokens,
    Family::ConfigCredentials,
];

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Cloud => "cloud",
            Family::SourceControlCi => "source_control_ci",
            Family::Messaging => "messaging",
            Family::PaymentsSaas => "payments_saas",
            Family::Ai => "ai",
            Family::KeysTokens => "keys_tokens",
            Family::ConfigCredentials => "config_credentials",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Label {
    pub repo: &'static str,
    pub path: String,
    pub first_line: usize,
    pub last_line: usize,
    pub family: Family,
    pub format: String,
    /// History repo only: the commit that introduced the value at this path.
    pub commit: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Negative {
    pub repo: &'static str,
    pub path: String,
    pub first_line: usize,
    pub last_line: usize,
    /// The family whose rules the negative tempts (for per-family precision), if any.
    pub family: Option<Family>,
    pub kind: String,
}

enum Pending {
    Secret(Family, String),
    Negative(Option<Family>, String),
}

/// One generated tree (the monorepo, or the files of one commit of the history repo).
pub struct Corpus {
    pub repo: &'static str,
    pending: Vec<Pending>,
    /// path -> bytes, in insertion order of paths kept by BTreeMap ordering
    pub files: BTreeMap<String, Vec<u8>>,
    pub labels: Vec<Label>,
    pub negatives: Vec<Negative>,
}

const OPEN_S: char = '\u{1}';
const OPEN_N: char = '\u{4}';
const MID: char = '\u{2}';
const CLOSE: char = '\u{3}';

impl Corpus {
    pub fn new(repo: &'static str) -> Corpus {
        Corpus { repo, pending: Vec::new(), files: BTreeMap::new(), labels: Vec::new(), negatives: Vec::new() }
    }

    /// Marks `value` as a planted secret of `family`/`format`.
    pub fn s(&mut self, family: Family, format: &str, value: impl AsRef<str>) -> String {
        self.pending.push(Pending::Secret(family, format.to_string()));
        format!("{OPEN_S}{}{MID}{}{CLOSE}", self.pending.len() - 1, value.as_ref())
    }

    /// Marks `value` as a hard negative: any finding on its lines is a false positive.
    pub fn n(&mut self, family: Option<Family>, kind: &str, value: impl AsRef<str>) -> String {
        self.pending.push(Pending::Negative(family, kind.to_string()));
        format!("{OPEN_N}{}{MID}{}{CLOSE}", self.pending.len() - 1, value.as_ref())
    }

    /// Strips the markers of `text`, records labels and negatives for `path`, returns the text.
    pub fn take(&mut self, path: &str, text: &str) -> String {
        let text = text.strip_prefix('\n').unwrap_or(text);
        let mut out = String::with_capacity(text.len());
        let mut line = 1usize;
        let mut stack: Vec<(usize, usize)> = Vec::new(); // (pending index, first line)
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                OPEN_S | OPEN_N => {
                    let mut id = String::new();
                    for d in chars.by_ref() {
                        if d == MID {
                            break;
                        }
                        id.push(d);
                    }
                    stack.push((id.parse().unwrap(), line));
                }
                CLOSE => {
                    let (id, first) = stack.pop().expect("unbalanced marker");
                    // A value that ends with a newline ends on the line before.
                    let last = if out.ends_with('\n') && line > first { line - 1 } else { line };
                    match &self.pending[id] {
                        Pending::Secret(family, format) => self.labels.push(Label {
                            repo: self.repo,
                            path: path.to_string(),
                            first_line: first,
                            last_line: last,
                            family: *family,
                            format: format.clone(),
                            commit: None,
                        }),
                        Pending::Negative(family, kind) => self.negatives.push(Negative {
                            repo: self.repo,
                            path: path.to_string(),
                            first_line: first,
                            last_line: last,
                            family: *family,
                            kind: kind.clone(),
                        }),
                    }
                }
                _ => {
                    if c == '\n' {
                        line += 1;
                    }
                    out.push(c);
                }
            }
        }
        assert!(stack.is_empty(), "unbalanced marker in {path}");
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// Adds a UTF-8 text file.
    pub fn file(&mut self, path: &str, text: impl AsRef<str>) {
        let clean = self.take(path, text.as_ref());
        assert!(self.files.insert(path.to_string(), clean.into_bytes()).is_none(), "duplicate {path}");
    }

    /// Adds a UTF-16LE file with a byte-order mark and CRLF line ends (as Windows tools write it).
    pub fn file_utf16(&mut self, path: &str, text: impl AsRef<str>) {
        let clean = self.take(path, text.as_ref()).replace('\n', "\r\n");
        let mut bytes = vec![0xFF, 0xFE];
        for u in clean.encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        assert!(self.files.insert(path.to_string(), bytes).is_none(), "duplicate {path}");
    }

    pub fn write_to(&self, dir: &std::path::Path) {
        for (path, bytes) in &self.files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
    }
}

pub fn labels_json(labels: &[Label]) -> serde_json::Value {
    serde_json::Value::Array(
        labels
            .iter()
            .map(|l| {
                let mut v = serde_json::json!({
                    "path": l.path,
                    "first_line": l.first_line,
                    "last_line": l.last_line,
                    "family": l.family.name(),
                    "format": l.format,
                    "repo": l.repo,
                });
                if let Some(c) = &l.commit {
                    v["commit"] = serde_json::json!(c);
                }
                v
            })
            .collect(),
    )
}

pub fn negatives_json(negs: &[Negative]) -> serde_json::Value {
    serde_json::Value::Array(
        negs.iter()
            .map(|n| {
                serde_json::json!({
                    "path": n.path,
                    "first_line": n.first_line,
                    "last_line": n.last_line,
                    "family": n.family.map(|f| f.name()),
                    "kind": n.kind,
                    "repo": n.repo,
                })
            })
            .collect(),
    )
}
