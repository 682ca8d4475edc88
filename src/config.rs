//! `.keytrail.toml`: a project's own settings, read from the scan root or named with `--config`.
//!
//! Today it holds path allowlists; unknown keys are errors (with their line) so a typo never
//! silently turns a setting off.
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

pub const DEFAULT_FILE: &str = ".keytrail.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Parse { path: PathBuf, line: usize, message: String },
    #[error("{path}: allowlist path glob `{glob}` is invalid: {message}")]
    Glob { path: PathBuf, glob: String, message: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    allowlist: RawAllowlist,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowlist {
    /// Globs, relative to the scan root, of paths never reported.
    #[serde(default)]
    paths: Vec<String>,
}

/// The settings that shape a scan.
#[derive(Debug, Default)]
pub struct Config {
    /// Where the settings came from, if anywhere.
    pub source: Option<PathBuf>,
    pub allow_paths: Option<GlobSet>,
}

impl Config {
    /// Reads `explicit` if given, else `ROOT/.keytrail.toml` if it exists, else the defaults.
    pub fn discover(explicit: Option<&Path>, root: &Path) -> Result<Config, ConfigError> {
        match explicit {
            Some(p) => Config::load(p),
            None => {
                let candidate = if root.is_dir() { root.join(DEFAULT_FILE) } else { PathBuf::new() };
                if candidate.is_file() {
                    Config::load(&candidate)
                } else {
                    Ok(Config::default())
                }
            }
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Config::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.span().map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1),
            message: e.message().trim().to_string(),
        })?;
        let allow_paths = if raw.allowlist.paths.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for g in &raw.allowlist.paths {
                let glob = Glob::new(g).map_err(|e| ConfigError::Glob {
                    path: path.to_path_buf(),
                    glob: g.clone(),
                    message: e.to_string(),
                })?;
                b.add(glob);
            }
            Some(b.build().map_err(|e| ConfigError::Glob {
                path: path.to_path_buf(),
                glob: String::new(),
                message: e.to_string(),
            })?)
        };
        Ok(Config { source: Some(path.to_path_buf()), allow_paths })
    }

    pub fn path_allowed(&self, relative: &str) -> bool {
        self.allow_paths.as_ref().is_some_and(|g| g.is_match(relative))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_globs_match_relative_paths() {
        let c = Config::parse(Path::new("k.toml"), "[allowlist]\npaths = [\"rules/**\", \"**/*.snap\"]\n").unwrap();
        assert!(c.path_allowed("rules/aws.toml"));
        assert!(c.path_allowed("tests/snapshots/a.snap"));
        assert!(!c.path_allowed("src/main.rs"));
    }

    #[test]
    fn unknown_keys_name_their_line() {
        let err = Config::parse(Path::new("k.toml"), "[allowlist]\npaths = []\nfiles = 3\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("k.toml:3: unknown field `files`"), "{msg}");
    }
}
