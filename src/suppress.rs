//! `.keytrailignore`: findings a team has judged harmless, by fingerprint.
//!
//! One fingerprint per line, optionally followed by a path glob that limits it to matching paths;
//! `#` starts a comment. A fingerprint is computed from the secret alone (no commit, path or line),
//! so an entry keeps working after rebases, squashes, moves and edits around the secret.
use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};

use crate::finding::Finding;

pub const DEFAULT_FILE: &str = ".keytrailignore";

#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    // The cause is part of the message, not a `source`: an error chain would print it twice.
    #[error("cannot read {path}: {}", crate::source::fs::io_message(.error))]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
}

#[derive(Debug, Default)]
pub struct IgnoreList {
    entries: Vec<(String, Option<GlobMatcher>)>,
}

impl IgnoreList {
    pub fn load(path: &Path) -> Result<IgnoreList, IgnoreError> {
        let bytes = crate::source::fs::read_settings_file(path)
            .map_err(|error| IgnoreError::Read { path: path.to_path_buf(), error })?;
        let text = crate::config::settings_text(bytes).map_err(|e| IgnoreError::Parse {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        IgnoreList::parse(&text, path)
    }

    /// Errors point at the word by line and column without quoting it: a line that is not an
    /// entry may be a secret pasted where its fingerprint belongs.
    pub fn parse(text: &str, path: &Path) -> Result<IgnoreList, IgnoreError> {
        let mut entries = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let error = |word: &str, message: String| IgnoreError::Parse {
                path: path.to_path_buf(),
                line: n + 1,
                // Every word is a slice of `raw`.
                column: raw[..word.as_ptr() as usize - raw.as_ptr() as usize].chars().count() + 1,
                message,
            };
            let line = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let fingerprint = words.next().unwrap_or_default();
            if !crate::nhi::inventory::is_fingerprint(fingerprint) {
                return Err(error(
                    fingerprint,
                    "not a keytrail fingerprint (kt1: or kt1k: and 32 hex digits)".to_string(),
                ));
            }
            let glob = match words.next() {
                None => None,
                Some(g) => Some(
                    Glob::new(g)
                        .map_err(|e| error(g, format!("the path glob is invalid: {}", e.kind())))?
                        .compile_matcher(),
                ),
            };
            if let Some(extra) = words.next() {
                return Err(error(
                    extra,
                    "unexpected text: a line is a fingerprint and at most one path glob".to_string(),
                ));
            }
            entries.push((fingerprint.to_string(), glob));
        }
        Ok(IgnoreList { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn ignores(&self, f: &Finding) -> bool {
        self.entries.iter().any(|(fp, glob)| *fp == f.fingerprint && glob.as_ref().is_none_or(|g| g.is_match(&f.path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_errors() {
        let fp = format!("kt1:{}", "ab".repeat(16));
        let list = IgnoreList::parse(
            &format!("# test fixtures\n{fp}   # the README example\n\n{fp} tests/**\n"),
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(list.entries.len(), 2);
        let err = IgnoreList::parse("kt1:zz\n", Path::new(".keytrailignore")).unwrap_err();
        assert_eq!(
            err.to_string(),
            ".keytrailignore:1:1: not a keytrail fingerprint (kt1: or kt1k: and 32 hex digits)"
        );
        let err = IgnoreList::parse(&format!("\n{fp} a b\n"), Path::new("i")).unwrap_err();
        assert!(err.to_string().starts_with(&format!("i:2:{}: unexpected text", fp.len() + 4)), "{err}");
        let err = IgnoreList::parse(&format!("  {fp} [abc\n"), Path::new("i")).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("i:1:{}: the path glob is invalid: unclosed", fp.len() + 4)),
            "{err}"
        );
        assert!(!err.to_string().contains("abc"), "{err}");
    }
}
