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
    #[error("{path}:{line}: {message}")]
    Parse { path: PathBuf, line: usize, message: String },
}

#[derive(Debug, Default)]
pub struct IgnoreList {
    entries: Vec<(String, Option<GlobMatcher>)>,
}

impl IgnoreList {
    pub fn load(path: &Path) -> Result<IgnoreList, IgnoreError> {
        let bytes = crate::source::fs::read_settings_file(path)
            .map_err(|error| IgnoreError::Read { path: path.to_path_buf(), error })?;
        // Fingerprints and globs are ASCII or UTF-8 paths: other bytes mean the wrong file, and read
        // lossily they would turn into entries that quietly match nothing.
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            IgnoreError::Parse {
                path: path.to_path_buf(),
                line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
                message: format!("not UTF-8 text (invalid byte at offset {})", valid.len()),
            }
        })?;
        IgnoreList::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<IgnoreList, IgnoreError> {
        let mut entries = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let error = |message: String| IgnoreError::Parse { path: path.to_path_buf(), line: n + 1, message };
            let line = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let fingerprint = words.next().unwrap_or_default();
            if !crate::nhi::inventory::is_fingerprint(fingerprint) {
                return Err(error(format!("`{fingerprint}` is not a keytrail fingerprint (kt1: and 32 hex digits)")));
            }
            let glob = match words.next() {
                None => None,
                Some(g) => {
                    Some(Glob::new(g).map_err(|e| error(format!("path glob `{g}` is invalid: {e}")))?.compile_matcher())
                }
            };
            if let Some(extra) = words.next() {
                return Err(error(format!("unexpected `{extra}`: a line is a fingerprint and at most one path glob")));
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
        assert!(err.to_string().starts_with(".keytrailignore:1: `kt1:zz` is not"), "{err}");
        let err = IgnoreList::parse(&format!("\n{fp} a b\n"), Path::new("i")).unwrap_err();
        assert!(err.to_string().starts_with("i:2: unexpected `b`"), "{err}");
        let err = IgnoreList::parse(&format!("{fp} [\n"), Path::new("i")).unwrap_err();
        assert!(err.to_string().contains("path glob `[` is invalid"), "{err}");
    }
}
