//! Baselines: the findings a team has accepted for now, so a scan reports only what is new.
//!
//! An entry is a fingerprint and a path: no line, commit or date, so edits, rebases and squashes
//! leave it valid, and no secret, so the file can be committed. Entries are sorted and written one
//! per line with a trailing comma, so regenerating an unchanged repository gives the same bytes
//! and two branches that each add entries rarely touch the same lines.
use std::collections::{BTreeMap, HashMap, HashSet};

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::finding::Finding;

pub const VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    // The cause is part of the message, not a `source`: an error chain would print it twice.
    #[error("cannot read baseline {path}: {}", crate::source::fs::io_message(.error))]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid { path: PathBuf, line: usize, column: usize, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBaseline {
    version: toml::Spanned<i64>,
    #[serde(default)]
    findings: Vec<toml::Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    fingerprint: String,
    path: String,
    /// Informational: which rule found it when the baseline was written.
    #[serde(default)]
    #[allow(dead_code)]
    rule: Option<String>,
}

#[derive(Debug, Default)]
pub struct Baseline {
    /// Fingerprint → the paths it is accepted at.
    entries: HashMap<String, HashSet<String>>,
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let bytes = crate::source::fs::read_settings_file(path)
            .map_err(|error| BaselineError::Read { path: path.to_path_buf(), error })?;
        let text = crate::config::settings_text(bytes).map_err(|e| BaselineError::Invalid {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            message: format!("{}: not a baseline file", e.message),
        })?;
        Baseline::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Baseline, BaselineError> {
        let invalid = |offset: usize, message: String| {
            let (line, column) = crate::config::position(text.as_bytes(), offset);
            BaselineError::Invalid { path: path.to_path_buf(), line, column, message }
        };
        let raw: RawBaseline = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            invalid(offset, crate::config::with_key(text, offset, &crate::config::toml_reason(e.message())))
        })?;
        if *raw.version.get_ref() != VERSION {
            return Err(invalid(
                raw.version.span().start,
                format!(
                    "baseline version {} is not supported (this keytrail reads version {VERSION})",
                    raw.version.get_ref()
                ),
            ));
        }
        let mut entries: HashMap<String, HashSet<String>> = HashMap::new();
        for e in raw.findings {
            let start = e.span().start;
            let e = e.into_inner();
            if !crate::nhi::inventory::is_fingerprint(&e.fingerprint) {
                // Not echoed: a secret pasted where its fingerprint belongs is the likely mistake.
                return Err(invalid(
                    start,
                    "`fingerprint` is not a keytrail fingerprint (kt1:… or kt1k:…)".to_string(),
                ));
            }
            entries.entry(e.fingerprint).or_default().insert(e.path);
        }
        Ok(Baseline { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.values().map(HashSet::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the baseline accepts `f`: the same secret at the same path.
    pub fn contains(&self, f: &Finding) -> bool {
        self.contains_at(&f.fingerprint, &f.path)
    }

    pub fn contains_at(&self, fingerprint: &str, path: &str) -> bool {
        self.entries.get(fingerprint).is_some_and(|paths| paths.contains(path))
    }
}

/// The baseline file for `findings`.
pub fn render(findings: &[Finding]) -> String {
    render_entries(findings.iter().map(|f| (f.path.as_str(), f.fingerprint.as_str(), f.rule_id.as_str())))
}

/// The baseline file for `(path, fingerprint, rule)` entries: one line per distinct path and
/// fingerprint (the first rule named wins), sorted by path, then fingerprint.
pub fn render_entries<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> String {
    let mut rows: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for (path, fingerprint, rule) in entries {
        rows.entry((path, fingerprint)).or_insert(rule);
    }
    let mut out = String::from(
        "# keytrail baseline: findings accepted for now. `keytrail scan --baseline FILE` reports\n\
         # only what is not listed here; regenerate with `keytrail baseline -o FILE`.\n\
         # An entry is a fingerprint (a hash, not the secret) and the path it was found at.\n",
    );
    out.push_str(&format!("version = {VERSION}\n"));
    out.push_str("findings = [\n");
    for ((path, fingerprint), rule) in rows {
        out.push_str(&format!(
            "  {{ path = {}, fingerprint = {}, rule = {} }},\n",
            toml_string(path),
            toml_string(fingerprint),
            toml_string(rule)
        ));
    }
    out.push_str("]\n");
    out
}

/// A TOML basic string; paths may hold quotes, backslashes or control characters.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::fingerprint;

    #[test]
    fn render_is_sorted_deduplicated_and_reads_back() {
        let one = fingerprint(b"one");
        let two = fingerprint(b"two");
        let a = ("src/b.py", one.as_str(), "r1");
        let b = ("src/a \"quoted\".py", two.as_str(), "r2");
        let text = render_entries([a, b, a]);
        assert_eq!(text, render_entries([b, a]), "order of findings does not matter");
        assert_eq!(text.matches("fingerprint =").count(), 2);
        assert!(text.find("quoted").unwrap() < text.find("src/b.py").unwrap());
        let baseline = Baseline::parse(Path::new("b.toml"), &text).unwrap();
        assert!(baseline.contains_at(&one, "src/b.py") && baseline.contains_at(&two, "src/a \"quoted\".py"));
        assert!(!baseline.contains_at(&one, "src/c.py"), "same secret, new place");
    }

    #[test]
    fn errors_name_their_line() {
        let err = Baseline::parse(Path::new("b.toml"), "version = 2\n").unwrap_err().to_string();
        assert!(err.starts_with("b.toml:1:11: baseline version 2"), "{err}");
        let text = "version = 1\nfindings = [\n  { path = \"a\", fingerprint = \"nope\" },\n]\n";
        let err = Baseline::parse(Path::new("b.toml"), text).unwrap_err().to_string();
        assert!(err.starts_with("b.toml:3:3: `fingerprint` is not a keytrail fingerprint"), "{err}");
        let err = Baseline::parse(Path::new("b.toml"), "version = 1\nline = 3\n").unwrap_err().to_string();
        assert!(err.starts_with("b.toml:2:1: unknown field `line`"), "{err}");
        let text = "version = 1\nfindings = [\n  { path = 3, fingerprint = \"kt1:\" },\n]\n";
        let err = Baseline::parse(Path::new("b.toml"), text).unwrap_err().to_string();
        assert!(err.starts_with("b.toml:3:12: `findings[0].path`: invalid type: integer"), "{err}");
    }
}
