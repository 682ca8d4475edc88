//! Rules are data: TOML files (built-in ones embedded from `rules/` at build time) describing each
//! credential format. This module parses and validates them; it never compiles a regex for
//! scanning, which the matcher does lazily.
mod kind;

use std::collections::HashSet;
use std::path::Path;

pub use kind::{NhiKind, Severity};

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// Compiled regexes larger than this are rejected rather than allowed to exhaust memory.
pub const REGEX_SIZE_LIMIT: usize = 10 * 1024 * 1024;

/// The name of the capture group holding the secret in every rule's regex.
pub const SECRET_GROUP: &str = "secret";

/// A format check applied to a rule's secret capture after the regex matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// GitHub and npm tokens: last 6 chars are the base62 CRC32 of the 30 before them.
    Crc32Base62,
    /// JSON Web Token structure: three base64url parts, a JSON header with `alg`.
    Jwt,
}

impl Checksum {
    pub const NAMES: &'static [&'static str] = &["crc32_base62", "jwt"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "crc32_base62" => Some(Checksum::Crc32Base62),
            "jwt" => Some(Checksum::Jwt),
            _ => None,
        }
    }
}

/// A second part of a credential looked for near the main match (an AWS secret next to its key id).
#[derive(Clone, Debug)]
pub struct Companion {
    pub name: String,
    pub regex: String,
    pub within_lines: u32,
    pub required: bool,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub description: String,
    pub provider: String,
    pub nhi_kind: NhiKind,
    pub severity: Severity,
    pub keywords: Vec<String>,
    /// A keyword anywhere in a blob lets the regex run on the whole blob, not only on the lines
    /// around the keyword: for a keyword that marks a whole file (a Kubernetes Secret's `type:`)
    /// rather than the text next to the secret.
    pub keyword_anywhere: bool,
    /// OWASP NHI risks every finding of this rule shows besides secret leakage (NHI4 for passwords
    /// in URLs and basic-auth forms).
    pub risks: Vec<crate::nhi::RiskId>,
    pub regex: String,
    pub min_entropy: Option<f64>,
    pub checksum: Option<Checksum>,
    pub companion: Option<Companion>,
    pub examples: Vec<String>,
    pub negative_examples: Vec<String>,
    /// The file the rule came from, for messages.
    pub source: String,
    /// 1-based line of the rule's table in that file.
    pub line: usize,
}

/// One thing wrong with a rule file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleProblem {
    pub file: String,
    pub line: Option<usize>,
    pub rule_id: Option<String>,
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(id) = &self.rule_id {
            write!(f, ": rule `{id}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{count} problem(s) in rule files:\n{}", list_problems(.problems))]
    Invalid { count: usize, problems: Vec<RuleProblem> },
    // The cause is part of the message, not a `source`: an error chain would print it twice.
    #[error("cannot read rule file {path}: {}", crate::source::fs::io_message(.error))]
    Read { path: String, error: std::io::Error },
}

fn list_problems(problems: &[RuleProblem]) -> String {
    problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
}

/// An ordered, validated set of rules with unique ids.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// The rules compiled into the binary.
    pub fn builtin() -> Result<RuleSet, RuleError> {
        // The built-in regexes are compiled by the test suite and `rules check`; compiling them here
        // would make every run pay for the whole catalogue.
        let mut loader = Loader { compile_regexes: false, ..Loader::default() };
        for (name, text) in BUILTIN_RULE_FILES {
            loader.add_text(name, text);
        }
        loader.finish()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    pub fn into_rules(self) -> Vec<Rule> {
        self.rules
    }

    pub fn from_rules(rules: Vec<Rule>) -> RuleSet {
        RuleSet { rules }
    }
}

/// Collects rules from several files, gathering every problem instead of stopping at the first.
pub struct Loader {
    rules: Vec<Rule>,
    problems: Vec<RuleProblem>,
    compile_regexes: bool,
}

impl Default for Loader {
    fn default() -> Self {
        Loader { rules: Vec::new(), problems: Vec::new(), compile_regexes: true }
    }
}

/// The built-in rule files, as (name, text), for `rules check` to validate.
pub fn builtin_files() -> &'static [(&'static str, &'static str)] {
    BUILTIN_RULE_FILES
}

const KNOWN_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "provider",
    "nhi_kind",
    "severity",
    "keywords",
    "keyword_anywhere",
    "risks",
    "regex",
    "min_entropy",
    "checksum",
    "companion",
    "examples",
    "negative_examples",
];
const COMPANION_KEYS: &[&str] = &["name", "regex", "within_lines", "required"];

impl Loader {
    pub fn add_file(&mut self, path: &Path) -> Result<(), RuleError> {
        let shown = path.display().to_string();
        let bytes = crate::source::fs::read_settings_file(path)
            .map_err(|error| RuleError::Read { path: shown.clone(), error })?;
        match crate::config::settings_text(bytes) {
            Ok(text) => self.add_text(&shown, &text),
            Err(e) => self.problem(&shown, Some(e.line), None, e.message),
        }
        Ok(())
    }

    pub fn add_text(&mut self, file: &str, text: &str) {
        #[derive(serde::Deserialize)]
        struct RawFile {
            #[serde(default)]
            rule: Vec<toml::Spanned<toml::Table>>,
        }
        let doc: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                let line = e.span().map(|s| line_of(text, s.start));
                return self.problem(file, line, None, format!("invalid TOML: {}", e.message()));
            }
        };
        for key in doc.keys().filter(|k| *k != "rule") {
            self.problem(
                file,
                None,
                None,
                format!("unknown top-level key `{key}` (rule files hold `[[rule]]` tables)"),
            );
        }
        let raw: RawFile = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let line = e.span().map(|s| line_of(text, s.start));
                return self.problem(file, line, None, format!("`rule` must be an array of tables: {}", e.message()));
            }
        };
        if raw.rule.is_empty() {
            self.problem(file, None, None, "no `[[rule]]` tables".into());
        }
        self.add_tables(file, text, raw.rule);
    }

    /// Adds `[[rule]]` tables read from `text` (another file's, such as `.keytrail.toml`).
    pub fn add_tables(&mut self, file: &str, text: &str, tables: Vec<toml::Spanned<toml::Table>>) {
        for spanned in tables {
            let line = line_of(text, spanned.span().start);
            self.add_table(file, line, spanned.into_inner());
        }
    }

    fn problem(&mut self, file: &str, line: Option<usize>, rule_id: Option<&str>, message: String) {
        self.problems.push(RuleProblem { file: file.to_string(), line, rule_id: rule_id.map(str::to_string), message });
    }

    fn add_table(&mut self, file: &str, line: usize, table: toml::Table) {
        let mut t = TableReader { table: &table, prefix: "", problems: Vec::new() };
        let id = t.string("id");
        let name = t.string("name");
        let description = t.string("description");
        let provider = t.string("provider");
        let kind_text = t.string("nhi_kind");
        let severity_text = t.optional_string("severity");
        let keywords = t.string_list("keywords", true);
        let keyword_anywhere = t.optional_bool("keyword_anywhere").unwrap_or(false);
        let risk_names = t.string_list("risks", false);
        let regex = t.string("regex");
        let min_entropy = t.optional_float("min_entropy");
        let checksum_text = t.optional_string("checksum");
        let examples = t.string_list("examples", true);
        let negative_examples = t.string_list("negative_examples", true);
        let companion = match table.get("companion") {
            None => None,
            Some(toml::Value::Table(c)) => {
                let mut ct = TableReader { table: c, prefix: "companion.", problems: Vec::new() };
                let cname = ct.string("name");
                let cregex = ct.string("regex");
                let within = ct.optional_integer("within_lines").unwrap_or(3);
                let required = ct.optional_bool("required").unwrap_or(false);
                for key in c.keys().filter(|k| !COMPANION_KEYS.contains(&k.as_str())) {
                    ct.problems.push(format!("unknown key `companion.{key}`"));
                }
                if !(0..=50).contains(&within) {
                    ct.problems.push(format!("`companion.within_lines` must be between 0 and 50, not {within}"));
                }
                t.problems.extend(ct.problems);
                Some(Companion { name: cname, regex: cregex, within_lines: within.clamp(0, 50) as u32, required })
            }
            Some(_) => {
                t.problems.push("`companion` must be a table".into());
                None
            }
        };
        for key in table.keys().filter(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            t.problems.push(format!("unknown key `{key}`"));
        }
        let mut problems = t.problems;

        if !id.is_empty() && !is_kebab(&id) {
            problems.push(format!("id `{id}` must be kebab-case ASCII (a-z, 0-9, -)"));
        }
        if !provider.is_empty()
            && !provider.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        {
            problems.push(format!("provider `{provider}` must be a lowercase slug"));
        }
        let mut risks = Vec::new();
        for name in &risk_names {
            match crate::nhi::RiskId::parse(name) {
                Some(r) => risks.push(r),
                None => {
                    problems.push(format!("unknown risk `{name}` (expected an OWASP NHI Top 10 id, NHI1 to NHI10)"))
                }
            }
        }
        let nhi_kind = NhiKind::parse(&kind_text);
        if nhi_kind.is_none() && !kind_text.is_empty() {
            let all: Vec<_> = NhiKind::ALL.iter().map(|k| k.as_str()).collect();
            problems.push(format!("unknown nhi_kind `{kind_text}` (expected one of: {})", all.join(", ")));
        }
        let severity = match severity_text.as_deref() {
            None => Some(Severity::High),
            Some(s) => Severity::parse(s),
        };
        if severity.is_none() {
            problems.push(format!(
                "unknown severity `{}` (expected critical, high, medium or low)",
                severity_text.unwrap_or_default()
            ));
        }
        let checksum = checksum_text.as_deref().map(|c| (c, Checksum::parse(c)));
        if let Some((text, None)) = checksum {
            problems.push(format!("unknown checksum `{text}` (expected one of: {})", Checksum::NAMES.join(", ")));
        }
        if let Some(e) = min_entropy {
            if !(0.0..=8.0).contains(&e) {
                problems.push(format!("min_entropy {e} is outside 0–8 bits per character"));
            }
        }
        for kw in &keywords {
            if kw.trim().len() < 3 {
                problems
                    .push(format!("keyword `{kw}` is shorter than 3 characters: it would make the prefilter useless"));
            }
        }
        if !regex.is_empty() && self.compile_regexes {
            if let Err(e) = check_regex(&regex, true) {
                problems.push(format!("regex: {e}"));
            }
        }
        if let Some(c) = &companion {
            if !c.regex.is_empty() && self.compile_regexes {
                if let Err(e) = check_regex(&c.regex, true) {
                    problems.push(format!("companion.regex: {e}"));
                }
            }
        }
        for (i, ex) in examples.iter().enumerate() {
            let lower = ex.to_ascii_lowercase();
            if !keywords.is_empty() && !keywords.iter().any(|k| lower.contains(&k.to_ascii_lowercase())) {
                problems.push(format!(
                    "example {} contains none of the rule's keywords, so the prefilter would never try the rule on it",
                    i + 1
                ));
            }
        }

        let shown_id = if id.is_empty() { None } else { Some(id.as_str()) };
        if !problems.is_empty() {
            for p in problems {
                self.problem(file, Some(line), shown_id, p);
            }
            return;
        }
        self.rules.push(Rule {
            id,
            name,
            description,
            provider,
            nhi_kind: nhi_kind.unwrap_or(NhiKind::GenericSecret),
            severity: severity.unwrap_or_default(),
            keywords,
            keyword_anywhere,
            risks,
            regex,
            min_entropy,
            checksum: checksum.and_then(|(_, c)| c),
            companion,
            examples,
            negative_examples,
            source: file.to_string(),
            line,
        });
    }

    /// Adds already-validated rules (e.g. the built-in set) ahead of those still to be loaded.
    pub fn extend(&mut self, rules: impl IntoIterator<Item = Rule>) {
        self.rules.extend(rules);
    }

    /// Checks ids are unique across everything loaded and returns the set, or every problem found.
    pub fn finish(self) -> Result<RuleSet, RuleError> {
        let (set, problems) = self.finish_partial();
        if problems.is_empty() {
            Ok(set)
        } else {
            Err(RuleError::Invalid { count: problems.len(), problems })
        }
    }

    /// The valid rules (a duplicate id keeps its first definition) and every problem found.
    pub fn finish_partial(mut self) -> (RuleSet, Vec<RuleProblem>) {
        let mut seen = HashSet::new();
        let mut rules = Vec::with_capacity(self.rules.len());
        for r in self.rules {
            if seen.insert(r.id.clone()) {
                rules.push(r);
            } else {
                self.problems.push(RuleProblem {
                    file: r.source.clone(),
                    line: Some(r.line),
                    rule_id: Some(r.id.clone()),
                    message: "duplicate rule id".into(),
                });
            }
        }
        self.problems.sort();
        (RuleSet { rules }, self.problems)
    }
}

/// Builds a scanning regex with keytrail's dialect and limits.
pub fn build_regex(pattern: &str) -> Result<regex::bytes::Regex, regex::Error> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}

fn check_regex(pattern: &str, needs_secret: bool) -> Result<(), String> {
    let re = build_regex(pattern).map_err(|e| match e {
        regex::Error::CompiledTooBig(limit) => format!("compiles to more than {limit} bytes; simplify it"),
        other => other.to_string(),
    })?;
    if needs_secret && !re.capture_names().flatten().any(|n| n == SECRET_GROUP) {
        return Err(format!("has no named capture `(?P<{SECRET_GROUP}>…)`"));
    }
    Ok(())
}

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Reads typed fields out of a TOML table, recording a problem for each missing or mistyped one.
struct TableReader<'a> {
    table: &'a toml::Table,
    /// Prepended to key names in messages, for nested tables.
    prefix: &'static str,
    problems: Vec<String>,
}

impl TableReader<'_> {
    fn string(&mut self, key: &str) -> String {
        let p = self.prefix;
        match self.table.get(key) {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(toml::Value::String(_)) => {
                self.problems.push(format!("`{p}{key}` is empty"));
                String::new()
            }
            Some(v) => {
                self.problems.push(format!("`{p}{key}` must be a string, not {}", v.type_str()));
                String::new()
            }
            None => {
                self.problems.push(format!("missing field `{p}{key}`"));
                String::new()
            }
        }
    }

    fn optional_string(&mut self, key: &str) -> Option<String> {
        self.table.get(key).map(|_| self.string(key))
    }

    fn optional_float(&mut self, key: &str) -> Option<f64> {
        let p = self.prefix;
        match self.table.get(key)? {
            toml::Value::Float(f) => Some(*f),
            toml::Value::Integer(i) => Some(*i as f64),
            v => {
                self.problems.push(format!("`{p}{key}` must be a number, not {}", v.type_str()));
                None
            }
        }
    }

    fn optional_integer(&mut self, key: &str) -> Option<i64> {
        let p = self.prefix;
        match self.table.get(key)? {
            toml::Value::Integer(i) => Some(*i),
            v => {
                self.problems.push(format!("`{p}{key}` must be an integer, not {}", v.type_str()));
                None
            }
        }
    }

    fn optional_bool(&mut self, key: &str) -> Option<bool> {
        let p = self.prefix;
        match self.table.get(key)? {
            toml::Value::Boolean(b) => Some(*b),
            v => {
                self.problems.push(format!("`{p}{key}` must be true or false, not {}", v.type_str()));
                None
            }
        }
    }

    fn string_list(&mut self, key: &str, required: bool) -> Vec<String> {
        let p = self.prefix;
        match self.table.get(key) {
            None if required => {
                self.problems.push(format!("missing field `{p}{key}`"));
                Vec::new()
            }
            None => Vec::new(),
            Some(toml::Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        toml::Value::String(s) => out.push(s.clone()),
                        v => self.problems.push(format!("`{p}{key}[{i}]` must be a string, not {}", v.type_str())),
                    }
                }
                if required && out.is_empty() {
                    self.problems.push(format!("`{p}{key}` needs at least one entry"));
                }
                out
            }
            Some(v) => {
                self.problems.push(format!("`{p}{key}` must be an array of strings, not {}", v.type_str()));
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[rule]]
id = "demo-token"
name = "Demo token"
description = "A demo."
provider = "demo"
nhi_kind = "api_key"
keywords = ["demo_"]
regex = '''\b(?P<secret>demo_[a-z0-9]{8})\b'''
examples = ["x = demo_k3j9a8q2"]
negative_examples = ["demo_short"]
"#;

    #[test]
    fn loads_a_valid_rule() {
        let mut l = Loader::default();
        l.add_text("demo.toml", GOOD);
        let set = l.finish().unwrap();
        assert_eq!(set.len(), 1);
        let r = &set.rules()[0];
        assert_eq!(r.id, "demo-token");
        assert_eq!(r.nhi_kind, NhiKind::ApiKey);
        assert_eq!(r.severity, Severity::High);
        assert_eq!(r.line, 2);
    }

    #[test]
    fn reports_every_problem_with_file_line_and_id() {
        let text = r#"
[[rule]]
id = "bad-one"
name = "Bad"
description = "x"
provider = "demo"
nhi_kind = "laser_beam"
keywords = ["zz"]
regex = '''(?P<nope>[a-z'''
examples = ["nothing here"]
negative_examples = []
colour = "blue"

[[rule]]
id = "Bad_Two"
description = "x"
provider = "demo"
nhi_kind = "api_key"
keywords = ["two_"]
regex = '''two_[a-z]{4}'''
examples = ["two_abcd"]
negative_examples = ["x"]
"#;
        let mut l = Loader::default();
        l.add_text("broken.toml", text);
        let Err(RuleError::Invalid { problems, .. }) = l.finish() else { panic!("expected problems") };
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        let joined = text.join("\n");
        for needle in [
            "broken.toml:2: rule `bad-one`: unknown nhi_kind `laser_beam`",
            "broken.toml:2: rule `bad-one`: keyword `zz` is shorter than 3",
            "broken.toml:2: rule `bad-one`: regex:",
            "broken.toml:2: rule `bad-one`: `negative_examples` needs at least one entry",
            "broken.toml:2: rule `bad-one`: unknown key `colour`",
            "broken.toml:14: rule `Bad_Two`: missing field `name`",
            "broken.toml:14: rule `Bad_Two`: id `Bad_Two` must be kebab-case",
            "broken.toml:14: rule `Bad_Two`: regex: has no named capture",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
        }
    }

    #[test]
    fn duplicate_ids_are_reported() {
        let mut l = Loader::default();
        l.add_text("a.toml", GOOD);
        l.add_text("b.toml", GOOD);
        let Err(RuleError::Invalid { problems, .. }) = l.finish() else { panic!("expected problems") };
        assert!(problems.iter().any(|p| p.message == "duplicate rule id"));
    }

    #[test]
    fn invalid_toml_names_the_line() {
        let mut l = Loader::default();
        l.add_text("x.toml", "[[rule]]\nid = \"a\"\nname = \n");
        let Err(RuleError::Invalid { problems, .. }) = l.finish() else { panic!("expected problems") };
        assert_eq!(problems[0].line, Some(3), "{problems:?}");
    }

    #[test]
    fn oversized_regex_is_a_clear_error() {
        let huge = format!("(?P<secret>{})", "(?:a{1000}){1000}".repeat(20));
        let err = check_regex(&huge, true).unwrap_err();
        assert!(err.contains("more than"), "{err}");
    }
}
