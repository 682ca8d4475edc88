//! `.keytrail.toml`: a project's own settings, read from the scan root or named with `--config`.
//!
//! ```toml
//! max_file_size = "5MiB"                 # files (and blobs) larger are skipped and counted
//! inventory = ".keytrail/inventory.toml" # or a list; relative to this file
//! disable_rules = ["generic-password-assignment"]
//!
//! [allowlist]
//! paths = ["tests/fixtures/**"]          # globs relative to the scan root
//! values = ['''^AKIA[A-Z2-7]{8}EXAMPLE$'''] # regexes; a secret any of them matches is dropped
//! stopwords = ["example", "dummy"]       # a secret containing one (any case) is dropped
//!
//! [[rule]]                               # extra rules, in the format of keytrail's rules/*.toml
//! id = "acme-api-key"
//! ```
//!
//! Unknown keys are errors with their line, so a typo never silently turns a setting off. A rule
//! listed in `disable_rules` may be redefined under the same id by a `[[rule]]` here.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::rules::{build_regex, Loader, Rule, RuleProblem, RuleSet};

pub const DEFAULT_FILE: &str = ".keytrail.toml";

/// Files (and history blobs) larger than this are skipped unless the settings or flags say
/// otherwise: generated bundles and data dumps cost time and rarely hold hand-written secrets.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 10 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The cause is part of the message, not a `source`: an error chain would print it twice.
    #[error("cannot read {path}: {}", crate::source::fs::io_message(.error))]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    /// A discovered settings file that would reach outside the scanned tree.
    #[error("{path} {message}")]
    Untrusted { path: PathBuf, message: String },
    #[error("{path}: allowlist path glob `{glob}` is invalid: {message}")]
    Glob { path: PathBuf, glob: String, message: String },
    #[error("{path}: {} problem(s) in its rules:\n{}", problems.len(), list(problems))]
    Rules { path: PathBuf, problems: Vec<RuleProblem> },
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn position(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before[line_start..].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
    (line, column)
}

/// Where a settings-type file (settings, baseline, ignore list, rules) stops being UTF-8 text.
#[derive(Debug)]
pub struct NotUtf8 {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// `bytes` as text, or where its first invalid byte is: such files are written by hand in UTF-8,
/// and read lossily, other bytes would become entries that quietly match nothing.
pub fn settings_text(bytes: Vec<u8>) -> Result<String, NotUtf8> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let (line, column) = position(valid, valid.len());
        NotUtf8 { line, column, message: format!("not UTF-8 text (invalid byte at offset {})", valid.len()) }
    })
}

/// What a TOML parser or serde says went wrong, on one line and without the values it quotes from
/// the file (`invalid type: string "…"`, `unknown variant `…``): a value could be a secret, and
/// `file:line:column` already points at it. Keys (`unknown field `…``) and the names of what was
/// expected stay.
pub fn toml_reason(message: &str) -> String {
    // Backquoted words after these are values from the file; elsewhere they are keys, or what the
    // grammar or the schema expects (`expected one of `paths`, `values``).
    const FROM_FILE: &[&str] = &["unknown variant ", "integer ", "floating point ", "character ", "boolean "];
    let one_line = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    let mut out = String::with_capacity(one_line.len());
    let mut rest = one_line.as_str();
    while let Some(i) = rest.find(['"', '`']) {
        let (before, quoted) = rest.split_at(i);
        let quote = quoted.as_bytes()[0];
        // serde quotes strings with Rust's escapes: `\"` does not end one.
        let mut end = None;
        let mut escaped = false;
        for (j, b) in quoted.bytes().enumerate().skip(1) {
            match b {
                b'\\' if quote == b'"' && !escaped => escaped = true,
                b if b == quote && !escaped => {
                    end = Some(j);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else {
            // An unclosed quote: what follows it is dropped too.
            out.push_str(before.trim_end());
            rest = "";
            break;
        };
        out.push_str(before);
        if quote == b'"' || FROM_FILE.iter().any(|w| before.ends_with(w)) {
            out.truncate(out.trim_end().len());
        } else {
            out.push_str(&quoted[..=end]);
        }
        rest = &quoted[end + 1..];
    }
    out.push_str(rest);
    out
}

fn list(problems: &[RuleProblem]) -> String {
    problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    max_file_size: Option<toml::Spanned<SizeValue>>,
    #[serde(default)]
    inventory: Option<OneOrMany>,
    #[serde(default)]
    disable_rules: Vec<toml::Spanned<String>>,
    #[serde(default)]
    allowlist: RawAllowlist,
    #[serde(default)]
    rule: RuleTables,
}

/// `[[rule]]` tables, checked one by one by the rule loader.
#[derive(Debug, Default)]
struct RuleTables(Vec<toml::Spanned<toml::Table>>);

impl<'de> Deserialize<'de> for RuleTables {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RuleTables;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`[[rule]]` tables (a `[rule]` table is one table, not a list of them)")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RuleTables, A::Error> {
                let mut tables = Vec::new();
                while let Some(t) = seq.next_element()? {
                    tables.push(t);
                }
                Ok(RuleTables(tables))
            }
        }
        d.deserialize_seq(Visitor)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of `paths`, `values` and `stopwords`")]
struct RawAllowlist {
    #[serde(default)]
    paths: Vec<toml::Spanned<String>>,
    #[serde(default)]
    values: Vec<toml::Spanned<String>>,
    #[serde(default)]
    stopwords: Vec<String>,
}

// Both are read through visitors, not `#[serde(untagged)]`, whose error names neither the
// expected value nor the wrong one.
#[derive(Debug)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SizeValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size: a whole number of bytes, or text such as \"10MiB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<SizeValue, E> {
                Ok(SizeValue::Bytes(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<SizeValue, E> {
                u64::try_from(n)
                    .map(SizeValue::Bytes)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<SizeValue, E> {
                Ok(SizeValue::Text(s.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Debug)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a file name, or a list of file names")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(s.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element()? {
                    names.push(n);
                }
                Ok(OneOrMany::Many(names))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Secrets never reported whatever rule finds them: known test values and words that mark fakes.
#[derive(Debug, Default)]
pub struct ValueAllowlist {
    values: Option<regex::bytes::RegexSet>,
    /// Lowercased.
    stopwords: Vec<Vec<u8>>,
    /// How many matches were dropped, across every thread of a scan.
    dropped: AtomicU64,
}

impl ValueAllowlist {
    pub fn new(values: &[&str], stopwords: &[String]) -> Result<ValueAllowlist, regex::Error> {
        let values = if values.is_empty() {
            None
        } else {
            Some(
                regex::bytes::RegexSetBuilder::new(values)
                    .unicode(false)
                    .size_limit(crate::rules::REGEX_SIZE_LIMIT)
                    .dfa_size_limit(crate::rules::REGEX_SIZE_LIMIT)
                    .build()?,
            )
        };
        let stopwords =
            stopwords.iter().filter(|w| !w.is_empty()).map(|w| w.to_ascii_lowercase().into_bytes()).collect();
        Ok(ValueAllowlist { values, stopwords, dropped: AtomicU64::new(0) })
    }

    /// Whether `secret` is allowlisted; counts it when it is.
    pub fn allows(&self, secret: &[u8]) -> bool {
        let hit = self.values.as_ref().is_some_and(|set| set.is_match(secret))
            || (!self.stopwords.is_empty() && {
                let lower = secret.to_ascii_lowercase();
                self.stopwords.iter().any(|w| memchr::memmem::find(&lower, w).is_some())
            });
        if hit {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Matches dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The settings that shape a scan.
#[derive(Debug, Default)]
pub struct Config {
    /// Where the settings came from, if anywhere.
    pub source: Option<PathBuf>,
    pub allow_paths: Option<GlobSet>,
    /// Secrets never reported (`[allowlist] values` and `stopwords`), compiled; the matcher takes
    /// it with [`Config::take_value_allowlist`].
    pub value_allowlist: ValueAllowlist,
    pub max_file_size: Option<u64>,
    /// Inventory files, resolved against the settings file's folder.
    pub inventory: Vec<PathBuf>,
    /// Built-in rule ids switched off, with the line naming each.
    pub disabled_rules: Vec<(String, usize)>,
    /// The settings file's own rules, validated.
    pub rules: Vec<Rule>,
}

impl Config {
    /// Reads `explicit` if given, else `ROOT/.keytrail.toml` if it exists, else the defaults.
    pub fn discover(explicit: Option<&Path>, root: &Path) -> Result<Config, ConfigError> {
        match explicit {
            Some(p) => Config::load(p),
            None => {
                let candidate = if root.is_dir() { root.join(DEFAULT_FILE) } else { PathBuf::new() };
                if !candidate.is_file() {
                    return Ok(Config::default());
                }
                // A scanned tree is untrusted: its settings may not make keytrail read files
                // elsewhere on the machine, through a symlink or an inventory path.
                let untrusted =
                    |message: &str| ConfigError::Untrusted { path: candidate.clone(), message: message.into() };
                if std::fs::symlink_metadata(&candidate).is_ok_and(|m| m.file_type().is_symlink()) {
                    return Err(untrusted(
                        "is a symlink; a scanned tree's settings file must be a regular file (name one with --config)",
                    ));
                }
                let config = Config::load(&candidate)?;
                let inside = |p: &Path| {
                    p.strip_prefix(root).is_ok_and(|rest| {
                        rest.components()
                            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
                    })
                };
                if !config.inventory.iter().all(|p| inside(p)) {
                    return Err(untrusted(
                        "names an inventory outside the scanned tree (an absolute path or one through `..`); \
                         give it with --inventory, or name the settings file with --config",
                    ));
                }
                Ok(config)
            }
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = crate::source::fs::read_settings_file(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), error: source })?;
        let text = settings_text(bytes).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        Config::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let line_at = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let error = |offset: usize, message: String| {
            let (line, column) = position(text.as_bytes(), offset);
            ConfigError::Parse { path: path.to_path_buf(), line, column, message }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            error(offset, with_key(text, offset, &toml_reason(e.message())))
        })?;

        let allow_paths = if raw.allowlist.paths.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for g in &raw.allowlist.paths {
                let glob = Glob::new(g.get_ref()).map_err(|e| {
                    error(g.span().start, format!("allowlist path glob `{}` is invalid: {e}", g.get_ref()))
                })?;
                b.add(glob);
            }
            let start = raw.allowlist.paths[0].span().start;
            Some(b.build().map_err(|e| error(start, format!("allowlist path globs together are invalid: {e}")))?)
        };
        let patterns: Vec<&str> = raw.allowlist.values.iter().map(|v| v.get_ref().as_str()).collect();
        let value_allowlist = ValueAllowlist::new(&patterns, &raw.allowlist.stopwords).map_err(|set_error| {
            // The set's error does not say which pattern; compiling them one by one finds its line.
            for v in &raw.allowlist.values {
                if let Err(e) = build_regex(v.get_ref()) {
                    return error(v.span().start, format!("allowlist value regex `{}` is invalid: {e}", v.get_ref()));
                }
            }
            let start = raw.allowlist.values.first().map_or(0, |v| v.span().start);
            error(start, format!("allowlist values together are too large: {set_error}"))
        })?;
        let max_file_size = match raw.max_file_size {
            None => None,
            Some(s) => Some(match s.get_ref() {
                SizeValue::Bytes(n) => *n,
                SizeValue::Text(t) => parse_size(t).map_err(|_| {
                    error(
                        s.span().start,
                        "max_file_size is not a size (try 10MiB, 512K or 1000000; units K, M, G, KiB, MiB, GiB, \
                             KB, MB or GB)"
                            .to_string(),
                    )
                })?,
            }),
        };
        let base = path.parent().unwrap_or(Path::new(""));
        let inventory = match raw.inventory {
            None => Vec::new(),
            Some(OneOrMany::One(p)) => vec![base.join(p)],
            Some(OneOrMany::Many(ps)) => ps.iter().map(|p| base.join(p)).collect(),
        };
        let disabled_rules = raw.disable_rules.iter().map(|d| (d.get_ref().clone(), line_at(d.span().start))).collect();

        let shown = path.display().to_string();
        let mut loader = Loader::default();
        loader.add_tables(&shown, text, raw.rule.0);
        let (rules, problems) = loader.finish_partial();
        if !problems.is_empty() {
            return Err(ConfigError::Rules { path: path.to_path_buf(), problems });
        }
        Ok(Config {
            source: Some(path.to_path_buf()),
            allow_paths,
            value_allowlist,
            max_file_size,
            inventory,
            disabled_rules,
            rules: rules.into_rules(),
        })
    }

    pub fn path_allowed(&self, relative: &str) -> bool {
        self.allow_paths.as_ref().is_some_and(|g| g.is_match(relative))
    }

    /// `builtin` without the disabled rules and with the settings' own: an error names any
    /// disabled id that is no built-in rule, and any own rule whose id is taken by one still on.
    pub fn rule_set(&self, builtin: RuleSet) -> Result<RuleSet, ConfigError> {
        let path = self.source.clone().unwrap_or_default();
        let mut problems = Vec::new();
        for (id, line) in &self.disabled_rules {
            if builtin.get(id).is_none() {
                problems.push(RuleProblem {
                    file: path.display().to_string(),
                    line: Some(*line),
                    rule_id: Some(id.clone()),
                    message: "disable_rules names no built-in rule (see `keytrail rules list`)".into(),
                });
            }
        }
        let mut rules: Vec<Rule> =
            builtin.into_rules().into_iter().filter(|r| !self.disabled_rules.iter().any(|(d, _)| *d == r.id)).collect();
        for own in &self.rules {
            if rules.iter().any(|r| r.id == own.id) {
                problems.push(RuleProblem {
                    file: own.source.clone(),
                    line: Some(own.line),
                    rule_id: Some(own.id.clone()),
                    message: "is a built-in rule id: pick another, or list it in disable_rules to replace it".into(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError::Rules { path, problems });
        }
        rules.extend(self.rules.iter().cloned());
        Ok(RuleSet::from_rules(rules))
    }

    /// The value allowlist, for the matcher to own (it counts what it drops across threads).
    pub fn take_value_allowlist(&mut self) -> ValueAllowlist {
        std::mem::take(&mut self.value_allowlist)
    }
}

/// A TOML error's message led by the key it is about (`` `allowlist.values[1]`: invalid type… ``),
/// found from where in `text` the error points; unchanged when it points at no key, or is about a
/// missing or unknown field, which it names itself.
pub(crate) fn with_key(text: &str, offset: usize, message: &str) -> String {
    if message.starts_with("missing field") || message.starts_with("unknown field") {
        return message.to_string();
    }
    match toml_key_at(text, offset) {
        Some(key) => format!("`{key}`: {message}"),
        None => message.to_string(),
    }
}

/// The dotted path (`allowlist.values[1]`) of the innermost key whose name or value spans `offset`
/// in the TOML `text`.
fn toml_key_at(text: &str, offset: usize) -> Option<String> {
    use toml_edit::{Item, TableLike, Value};
    fn holds(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
        span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
    }
    fn in_table(t: &dyn TableLike, offset: usize, path: &mut String) -> bool {
        for (k, item) in t.iter() {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            if in_item(item, offset, path) || holds(t.key(k).and_then(|k| k.span()), offset) {
                return true;
            }
            path.truncate(len);
        }
        false
    }
    fn in_item(item: &Item, offset: usize, path: &mut String) -> bool {
        match item {
            Item::None => false,
            Item::Value(v) => in_value(v, offset, path),
            Item::Table(t) => in_table(t, offset, path) || holds(t.span(), offset),
            Item::ArrayOfTables(a) => a.iter().enumerate().any(|(i, t)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = in_table(t, offset, path) || holds(t.span(), offset);
                if !found {
                    path.truncate(len);
                }
                found
            }),
        }
    }
    fn in_value(v: &Value, offset: usize, path: &mut String) -> bool {
        match v {
            Value::InlineTable(t) => in_table(t, offset, path) || holds(v.span(), offset),
            Value::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    if in_value(item, offset, path) {
                        return true;
                    }
                    path.truncate(len);
                }
                holds(v.span(), offset)
            }
            _ => holds(v.span(), offset),
        }
    }
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut path = String::new();
    (in_table(doc.as_table(), offset, &mut path) && !path.is_empty()).then_some(path)
}

/// Parses `10MiB`, `512K`, `2GB`, `1000`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("`{s}` is not a size (try 10MiB, 512K or 1000000)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!("unknown size unit `{other}` in `{s}` (use K, M, G, KiB, MiB, GiB, KB, MB or GB)"))
        }
    };
    Ok((value * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("dir/k.toml"), text)
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("1.5M"), Ok(1572864));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10 parsecs").is_err());
    }

    #[test]
    fn parser_messages_lose_the_values_they_quote() {
        assert_eq!(toml_reason("invalid type: string \"a\\\"b\", expected u64"), "invalid type: string, expected u64");
        assert_eq!(
            toml_reason("unknown variant `zzz`, expected one of `low`, `high`"),
            "unknown variant, expected one of `low`, `high`"
        );
        assert_eq!(
            toml_reason("invalid type: integer `12345`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(toml_reason("invalid string\nexpected `\"`, `'`"), "invalid string; expected `\"`, `'`");
        assert_eq!(toml_reason("unknown field `path`, expected `paths`"), "unknown field `path`, expected `paths`");
        assert_eq!(toml_reason("cut \"short"), "cut");
        assert_eq!(position(b"ab\n\xc3\xa9x", 5), (2, 2));
    }

    #[test]
    fn allowlist_globs_match_relative_paths() {
        let c = parse("[allowlist]\npaths = [\"rules/**\", \"**/*.snap\"]\n").unwrap();
        assert!(c.path_allowed("rules/aws.toml"));
        assert!(c.path_allowed("tests/snapshots/a.snap"));
        assert!(!c.path_allowed("src/main.rs"));
    }

    #[test]
    fn unknown_keys_name_their_line() {
        let err = parse("[allowlist]\npaths = []\nfiles = 3\n").unwrap_err().to_string();
        assert!(err.starts_with("dir/k.toml:3:1: unknown field `files`"), "{err}");
        let err = parse("max_file_size = \"1MiB\"\n\nstopwords = []\n").unwrap_err().to_string();
        assert!(err.starts_with("dir/k.toml:3:1: unknown field `stopwords`"), "{err}");
    }

    #[test]
    fn wrong_values_name_their_line() {
        let err = parse("\nmax_file_size = \"ten\"\n").unwrap_err().to_string();
        assert!(err.starts_with("dir/k.toml:2:17: max_file_size is not a size"), "{err}");
        let err = parse("[allowlist]\nvalues = [\n  'ok',\n  '(unclosed',\n]\n").unwrap_err().to_string();
        assert!(err.starts_with("dir/k.toml:4:3: allowlist value regex `(unclosed` is invalid"), "{err}");
        let err = parse("disable_rules = \"one\"\n").unwrap_err().to_string();
        assert!(
            err.starts_with("dir/k.toml:1:17: `disable_rules`: invalid type: string, expected a sequence"),
            "{err}"
        );
    }

    #[test]
    fn wrong_types_name_their_key() {
        for (text, expected) in [
            ("max_file_size = true\n", "dir/k.toml:1:17: `max_file_size`: invalid type: boolean, expected a size"),
            ("\nmax_file_size = -1\n", "dir/k.toml:2:17: `max_file_size`: invalid value: integer, expected a size"),
            ("inventory = 3\n", "dir/k.toml:1:13: `inventory`: invalid type: integer, expected a file name"),
            ("inventory = [\n'a',\n3]\n", "dir/k.toml:3:1: `inventory[1]`: invalid type: integer"),
            ("allowlist = 1\n", "dir/k.toml:1:13: `allowlist`: invalid type: integer, expected a table"),
            ("[allowlist]\nvalues = ['a', 2]\n", "dir/k.toml:2:16: `allowlist.values[1]`: invalid type: integer"),
            ("[rule]\nid = 'x'\n", "dir/k.toml:1:1: `rule`: invalid type: map, expected `[[rule]]` tables"),
            ("[allowlist]\npaths = ['ok', '[']\n", "dir/k.toml:2:16: allowlist path glob `[` is invalid"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn settings_are_read() {
        let mut c = parse(
            "max_file_size = 2048\ninventory = [\"a.toml\", \"b/c.toml\"]\ndisable_rules = [\"x\"]\n\
             [allowlist]\nvalues = ['^EXAMPLE']\nstopwords = [\"Dummy\"]\n",
        )
        .unwrap();
        assert_eq!(c.max_file_size, Some(2048));
        assert_eq!(c.inventory, vec![PathBuf::from("dir/a.toml"), PathBuf::from("dir/b/c.toml")]);
        assert_eq!(c.disabled_rules, vec![("x".to_string(), 3)]);
        let allow = c.take_value_allowlist();
        assert!(allow.allows(b"EXAMPLE123"));
        assert!(allow.allows(b"abcDUMMYdef"));
        assert!(!allow.allows(b"abc123"));
        assert_eq!(allow.dropped(), 2);
    }

    #[test]
    fn own_rules_are_validated_and_may_replace_a_disabled_builtin() {
        let rule = |id: &str| {
            format!(
                "[[rule]]\nid = \"{id}\"\nname = \"Acme key\"\ndescription = \"d\"\nprovider = \"acme\"\n\
                 nhi_kind = \"api_key\"\nkeywords = [\"acme_\"]\nregex = '''(?P<secret>acme_[a-z0-9]{{16}})'''\n\
                 examples = [\"k = acme_0123456789abcdef\"]\nnegative_examples = [\"acme_short\"]\n"
            )
        };
        let builtin = RuleSet::builtin().unwrap();
        let c = parse(&rule("acme-key")).unwrap();
        let set = c.rule_set(builtin.clone()).unwrap();
        assert_eq!(set.len(), builtin.len() + 1);

        let taken = &builtin.rules()[0].id;
        let err = parse(&rule(taken)).unwrap().rule_set(builtin.clone()).unwrap_err().to_string();
        assert!(err.contains("is a built-in rule id"), "{err}");
        let replaced = parse(&format!("disable_rules = [\"{taken}\"]\n{}", rule(taken))).unwrap();
        assert_eq!(replaced.rule_set(builtin.clone()).unwrap().len(), builtin.len());

        let err = parse("disable_rules = [\"no-such-rule\"]\n").unwrap().rule_set(builtin).unwrap_err().to_string();
        assert!(err.contains("dir/k.toml:1: rule `no-such-rule`: disable_rules names no built-in rule"), "{err}");

        let err = parse("[[rule]]\nid = \"bad\"\nregex = \"(\"\n").unwrap_err().to_string();
        assert!(err.contains("dir/k.toml:1: rule `bad`:"), "{err}");
    }
}
