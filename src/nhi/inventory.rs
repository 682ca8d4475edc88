//! The lifecycle inventory: `.keytrail/inventory.toml`, one `[[identity]]` per non-human identity.
//!
//! Loading walks a `toml_edit::ImDocument` rather than deserializing with serde because every
//! problem must be reported at once with the line of the key that caused it, and serde stops at the
//! first error and forgets where keys were. Appending writes text after the existing bytes so that
//! the owners' comments and layout survive exactly.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{ImDocument, Item, TableLike, Value};

use super::date::{Date, Period};

/// The only file format version this code reads and writes.
pub const FORMAT_VERSION: i64 = 1;

const TOP_LEVEL_KEYS: &[&str] = &["version", "identity"];
const FIELDS: &[&str] = &[
    "id",
    "owner",
    "purpose",
    "kind",
    "provider",
    "fingerprints",
    "identifiers",
    "created",
    "last_rotated",
    "rotate_every",
    "expires",
    "status",
    "retire_when",
    "environments",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Rotating,
    Retired,
    Revoked,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Active, Status::Rotating, Status::Retired, Status::Revoked];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Rotating => "rotating",
            Status::Retired => "retired",
            Status::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum RetireWhen {
    Date(Date),
    Text(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub id: String,
    pub owner: String,
    pub purpose: Option<String>,
    pub kind: Option<String>,
    pub provider: Option<String>,
    pub fingerprints: Vec<String>,
    pub identifiers: Vec<String>,
    pub created: Option<Date>,
    pub last_rotated: Option<Date>,
    pub rotate_every: Option<Period>,
    pub expires: Option<Date>,
    pub status: Status,
    pub retire_when: Option<RetireWhen>,
    pub environments: Vec<String>,
    /// File and 1-based line of the entry's `[[identity]]` header.
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Default)]
pub struct Inventory {
    pub entries: Vec<Entry>,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{file}:{line}{}: {}{message}",
    column.map(|c| format!(":{c}")).unwrap_or_default(),
    entry.as_ref().map(|e| format!("identity `{e}`: ")).unwrap_or_default()
)]
pub struct InventoryError {
    pub file: PathBuf,
    pub line: usize,
    /// Given where the parser gives it.
    pub column: Option<usize>,
    pub entry: Option<String>,
    pub message: String,
}

pub use crate::finding::is_fingerprint;

/// Byte offset to 1-based line.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        Lines(std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }

    fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset).max(1)
    }
}

fn list(names: &[&str]) -> String {
    names.join(", ")
}

/// Where an earlier entry claimed an id or fingerprint, for pointing back at it.
struct Claim {
    id: String,
    file: PathBuf,
    line: usize,
}

/// State shared across all files of one `load`, so duplicates are found across files too.
struct Loader<'k> {
    known_kinds: &'k [&'k str],
    errors: Vec<InventoryError>,
    ids: HashMap<String, Claim>,
    fingerprints: HashMap<String, Claim>,
}

/// One file being read.
struct FileCx<'a> {
    path: &'a Path,
    lines: Lines,
}

impl FileCx<'_> {
    fn line(&self, span: Option<Range<usize>>, fallback: usize) -> usize {
        span.map_or(fallback, |s| self.lines.of(s.start))
    }

    fn key_line(&self, table: &dyn TableLike, key: &str, fallback: usize) -> usize {
        self.line(table.key(key).and_then(|k| k.span()), fallback)
    }

    fn error(&self, line: usize, entry: Option<&str>, message: String) -> InventoryError {
        InventoryError { file: self.path.to_path_buf(), line, column: None, entry: entry.map(str::to_owned), message }
    }
}

impl Inventory {
    /// Reads and merges the files in order (entries of later files follow). `known_kinds` is the
    /// list of valid NHI kind strings. Every problem in every file is returned together, so an
    /// owner fixes the file in one pass instead of one error per run.
    ///
    /// A path given twice (after resolving symlinks) is read once: otherwise each of its ids would
    /// be reported as a duplicate of itself.
    pub fn load(paths: &[PathBuf], known_kinds: &[&str]) -> Result<Inventory, Vec<InventoryError>> {
        let mut loader = Loader { known_kinds, errors: Vec::new(), ids: HashMap::new(), fingerprints: HashMap::new() };
        let mut inventory = Inventory::default();
        let mut seen = HashSet::new();
        for path in paths {
            if !seen.insert(fs::canonicalize(path).unwrap_or_else(|_| path.clone())) {
                continue;
            }
            match read_text(path) {
                Ok(Some(text)) => {
                    inventory.files.push(path.clone());
                    loader.file(path, &text, &mut inventory.entries);
                }
                Ok(None) => loader.errors.push(InventoryError {
                    file: path.clone(),
                    line: 1,
                    column: None,
                    entry: None,
                    message: "inventory file not found".to_owned(),
                }),
                Err(e) => loader.errors.push(e),
            }
        }
        if loader.errors.is_empty() {
            Ok(inventory)
        } else {
            Err(loader.errors)
        }
    }

    /// The inventory that one file holding `text` would load to; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str, known_kinds: &[&str]) -> Result<Inventory, Vec<InventoryError>> {
        let mut loader = Loader { known_kinds, errors: Vec::new(), ids: HashMap::new(), fingerprints: HashMap::new() };
        let mut inventory = Inventory { entries: Vec::new(), files: vec![path.to_path_buf()] };
        loader.file(path, text, &mut inventory.entries);
        if loader.errors.is_empty() {
            Ok(inventory)
        } else {
            Err(loader.errors)
        }
    }

    /// The entry listing this fingerprint, or else one listing any of these public identifiers
    /// (tried in the order given, so a caller can put the most specific identifier first).
    pub fn link(&self, fingerprint: &str, public_ids: &[String]) -> Option<&Entry> {
        if let Some(entry) = self.entries.iter().find(|e| e.fingerprints.iter().any(|f| f == fingerprint)) {
            return Some(entry);
        }
        public_ids
            .iter()
            .filter(|id| !id.is_empty())
            .find_map(|id| self.entries.iter().find(|e| e.identifiers.iter().any(|i| i == id)))
    }
}

/// Reads a file as UTF-8, naming it and the line of the first bad byte on failure. A missing file
/// is `None` rather than an error because `load` reports it and `append` creates it.
fn read_text(path: &Path) -> Result<Option<String>, InventoryError> {
    let error = |line, message| InventoryError { file: path.to_path_buf(), line, column: None, entry: None, message };
    match crate::source::fs::read_settings_file(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok(Some(text)),
            Err(e) => {
                let bytes = e.as_bytes();
                let valid = e.utf8_error().valid_up_to();
                let line = 1 + bytes[..valid].iter().filter(|&&b| b == b'\n').count();
                Err(error(line, "file is not valid UTF-8".to_owned()))
            }
        },
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(error(1, format!("cannot read inventory file: {}", crate::source::fs::io_message(&e)))),
    }
}

/// The document, or where it is broken and why, without quoting the broken line.
fn parse_document(text: &str) -> Result<ImDocument<&str>, (usize, usize, String)> {
    ImDocument::parse(text).map_err(|e| {
        let (line, column) = crate::config::position(text.as_bytes(), e.span().map_or(0, |s| s.start));
        (line, column, format!("invalid TOML: {}", crate::config::toml_reason(e.message())))
    })
}

impl Loader<'_> {
    fn file(&mut self, path: &Path, text: &str, entries: &mut Vec<Entry>) {
        let cx = FileCx { path, lines: Lines::new(text) };
        let doc = match parse_document(text) {
            Ok(doc) => doc,
            Err((line, column, message)) => {
                self.errors.push(InventoryError { column: Some(column), ..cx.error(line, None, message) });
                return;
            }
        };
        let root = doc.as_table();
        for (key, item) in root.iter() {
            let line = cx.line(root.key(key).and_then(|k| k.span()).or_else(|| item.span()), 1);
            match key {
                "version" => match item.as_integer() {
                    Some(FORMAT_VERSION) => {}
                    Some(n) => self.errors.push(cx.error(
                        line,
                        None,
                        format!("unsupported `version` {n}; this keytrail reads version {FORMAT_VERSION}"),
                    )),
                    None => self.errors.push(cx.error(
                        line,
                        None,
                        format!("`version` must be the integer {FORMAT_VERSION}, found {}", item.type_name()),
                    )),
                },
                "identity" => self.identities(&cx, item, line, entries),
                _ => self.errors.push(cx.error(
                    line,
                    None,
                    format!("unknown top-level key `{key}`; known keys: {}", list(TOP_LEVEL_KEYS)),
                )),
            }
        }
        if !root.contains_key("version") {
            self.errors.push(cx.error(1, None, format!("missing `version = {FORMAT_VERSION}`")));
        }
    }

    fn identities(&mut self, cx: &FileCx, item: &Item, line: usize, entries: &mut Vec<Entry>) {
        match item {
            Item::ArrayOfTables(tables) => {
                for table in tables.iter() {
                    let header = cx.line(table.span(), line);
                    self.entry(cx, table, header, entries);
                }
            }
            // `identity = [{ id = "a", … }]` is the same data in TOML's other spelling.
            Item::Value(Value::Array(array)) if array.iter().all(Value::is_inline_table) => {
                for value in array.iter() {
                    if let Value::InlineTable(table) = value {
                        let header = cx.line(table.span(), line);
                        self.entry(cx, table, header, entries);
                    }
                }
            }
            other => self.errors.push(cx.error(
                line,
                None,
                format!("`identity` must be an array of tables ([[identity]]), found {}", other.type_name()),
            )),
        }
    }

    fn entry(&mut self, cx: &FileCx, table: &dyn TableLike, header: usize, entries: &mut Vec<Entry>) {
        let before = self.errors.len();
        // Known before the other fields so that every error in the entry can name it.
        let id = table.get("id").and_then(Item::as_str).filter(|id| !id.trim().is_empty());
        let mut entry = Entry {
            id: id.unwrap_or_default().to_owned(),
            owner: String::new(),
            purpose: None,
            kind: None,
            provider: None,
            fingerprints: Vec::new(),
            identifiers: Vec::new(),
            created: None,
            last_rotated: None,
            rotate_every: None,
            expires: None,
            status: Status::Active,
            retire_when: None,
            environments: Vec::new(),
            file: cx.path.to_path_buf(),
            line: header,
        };
        let mut fingerprint_lines = Vec::new();
        let mut f = Fields { cx, errors: &mut self.errors, entry: id };

        for (key, item) in table.iter() {
            let line = cx.key_line(table, key, header);
            match key {
                "id" => {
                    if let Some(s) = f.string(key, item, line) {
                        if s.trim().is_empty() {
                            f.error(line, "`id` is empty".to_owned());
                        }
                    }
                }
                "owner" => {
                    if let Some(s) = f.string(key, item, line) {
                        if s.trim().is_empty() {
                            f.error(line, "`owner` is empty".to_owned());
                        }
                        entry.owner = s;
                    }
                }
                "purpose" => entry.purpose = f.string(key, item, line),
                "provider" => entry.provider = f.string(key, item, line),
                "kind" => {
                    entry.kind = f.string(key, item, line);
                    if let Some(kind) = entry.kind.as_deref().filter(|k| !self.known_kinds.contains(k)) {
                        f.error(line, format!("unknown kind `{kind}`; known kinds: {}", list(self.known_kinds)));
                    }
                }
                "fingerprints" => {
                    for (fp, fp_line) in f.strings(key, item, line) {
                        if is_fingerprint(&fp) {
                            fingerprint_lines.push(fp_line);
                            entry.fingerprints.push(fp);
                        } else {
                            // Not echoed: a secret pasted where its fingerprint belongs is the
                            // likely mistake.
                            f.error(
                                fp_line,
                                "bad fingerprint; expected `kt1:` (or keyed, `kt1k:`) followed by 32 lowercase hex digits".into(),
                            );
                        }
                    }
                }
                "identifiers" => entry.identifiers = f.strings(key, item, line).into_iter().map(|(s, _)| s).collect(),
                "environments" => entry.environments = f.strings(key, item, line).into_iter().map(|(s, _)| s).collect(),
                "created" => entry.created = f.date(key, item, line),
                "last_rotated" => entry.last_rotated = f.date(key, item, line),
                "expires" => entry.expires = f.date(key, item, line),
                "rotate_every" => {
                    if let Some(s) = f.string(key, item, line) {
                        entry.rotate_every = Period::parse(&s);
                        if entry.rotate_every.is_none() {
                            f.error(
                                line,
                                format!(
                                    "bad `rotate_every` `{s}`; expected a positive whole number and a unit \
                                     d, w, m or y, such as \"90d\""
                                ),
                            );
                        }
                    }
                }
                "status" => {
                    if let Some(s) = f.string(key, item, line) {
                        match Status::parse(&s) {
                            Some(status) => entry.status = status,
                            None => {
                                let valid: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
                                f.error(line, format!("unknown status `{s}`; valid: {}", list(&valid)));
                            }
                        }
                    }
                }
                "retire_when" => entry.retire_when = f.retire_when(key, item, line),
                _ => f.error(line, format!("unknown field `{key}`; known fields: {}", list(FIELDS))),
            }
        }
        for required in ["id", "owner"] {
            if !table.contains_key(required) {
                f.error(header, format!("missing required field `{required}`"));
            }
        }

        let Some(id) = id else {
            return;
        };
        let id_line = cx.key_line(table, "id", header);
        match self.ids.get(id) {
            Some(first) => self.errors.push(cx.error(
                id_line,
                Some(id),
                format!("duplicate id; first defined at {}:{}", first.file.display(), first.line),
            )),
            None => {
                self.ids.insert(id.to_owned(), Claim { id: id.to_owned(), file: cx.path.to_path_buf(), line: id_line });
            }
        }
        for (fp, &line) in entry.fingerprints.iter().zip(&fingerprint_lines) {
            match self.fingerprints.get(fp) {
                // The same id listing it twice, or a duplicate entry already reported above.
                Some(first) if first.id == id => {}
                Some(first) => self.errors.push(cx.error(
                    line,
                    Some(id),
                    format!(
                        "fingerprint {fp} is also listed under identity `{}` at {}:{}",
                        first.id,
                        first.file.display(),
                        first.line
                    ),
                )),
                None => {
                    self.fingerprints
                        .insert(fp.clone(), Claim { id: id.to_owned(), file: cx.path.to_path_buf(), line });
                }
            }
        }
        if self.errors.len() == before {
            entries.push(entry);
        }
    }
}

/// Typed reads of one entry's fields, recording an error (and returning nothing) on a bad value.
struct Fields<'a, 'b> {
    cx: &'a FileCx<'a>,
    errors: &'b mut Vec<InventoryError>,
    entry: Option<&'a str>,
}

impl Fields<'_, '_> {
    fn error(&mut self, line: usize, message: String) {
        self.errors.push(self.cx.error(line, self.entry, message));
    }

    fn string(&mut self, key: &str, item: &Item, line: usize) -> Option<String> {
        match item.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.error(line, format!("`{key}` must be a string, found {}", item.type_name()));
                None
            }
        }
    }

    /// Each string with its own line, so a bad element of a multi-line array is pointed at exactly.
    fn strings(&mut self, key: &str, item: &Item, line: usize) -> Vec<(String, usize)> {
        let Some(array) = item.as_array() else {
            self.error(line, format!("`{key}` must be an array of strings, found {}", item.type_name()));
            return Vec::new();
        };
        let mut out = Vec::new();
        for value in array.iter() {
            let value_line = self.cx.line(value.span(), line);
            match value.as_str() {
                Some(s) => out.push((s.to_owned(), value_line)),
                None => self.error(
                    value_line,
                    format!("`{key}` must be an array of strings, found {} in it", value.type_name()),
                ),
            }
        }
        out
    }

    /// A TOML date, or a `"YYYY-MM-DD"` string, which people type just as often. A TOML date-time
    /// gives its date as written, like [`Date::parse`].
    fn date(&mut self, key: &str, item: &Item, line: usize) -> Option<Date> {
        match item.as_value() {
            Some(Value::Datetime(dt)) => {
                let date = dt.value().date.and_then(|d| Date::from_ymd(d.year.into(), d.month.into(), d.day.into()));
                if date.is_none() {
                    self.bad_date(key, &dt.value().to_string(), line);
                }
                date
            }
            Some(Value::String(s)) => {
                let date = Date::parse(s.value());
                if date.is_none() {
                    self.bad_date(key, s.value(), line);
                }
                date
            }
            _ => {
                self.error(line, format!("`{key}` must be a date such as 2025-01-10, found {}", item.type_name()));
                None
            }
        }
    }

    fn bad_date(&mut self, key: &str, value: &str, line: usize) {
        self.error(line, format!("bad date in `{key}`: `{value}`; expected a date such as 2025-01-10"));
    }

    /// Free text, unless it is a date: a string shaped like `YYYY-MM-DD…` that is not a real date
    /// is reported rather than kept as text, since it was surely meant as one.
    fn retire_when(&mut self, key: &str, item: &Item, line: usize) -> Option<RetireWhen> {
        if let Some(Value::String(s)) = item.as_value() {
            if let Some(date) = Date::parse(s.value()) {
                return Some(RetireWhen::Date(date));
            }
            if looks_like_date(s.value()) {
                self.bad_date(key, s.value(), line);
                return None;
            }
            return Some(RetireWhen::Text(s.value().to_owned()));
        }
        match item.as_value() {
            Some(Value::Datetime(_)) => self.date(key, item, line).map(RetireWhen::Date),
            _ => {
                self.error(line, format!("`{key}` must be a string or a date, found {}", item.type_name()));
                None
            }
        }
    }
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

/// A new entry for [`append`].
#[derive(Clone, Debug, Default)]
pub struct NewEntry {
    pub id: String,
    pub owner: String,
    pub kind: Option<String>,
    pub provider: Option<String>,
    pub fingerprints: Vec<String>,
    pub identifiers: Vec<String>,
    pub created: Option<Date>,
    pub environments: Vec<String>,
    /// One line written above the entry as `# …`.
    pub comment: Option<String>,
}

const NEW_FILE_HEADER: &str = "\
# keytrail inventory: one [[identity]] entry per non-human identity (machine credential).
# keytrail links the secrets it finds to these entries by fingerprint or public identifier.
version = 1
";

/// Appends entries to the inventory file at `path` (creating it, and its directory, with a short
/// header comment and `version = 1` when missing), with `status = "active"`.
///
/// The new text goes after the existing bytes, which are never rewritten: the file is owned by
/// people whose comments and layout must survive. The result is parsed before anything is written,
/// and nothing is written when there is nothing to add, so a repeated call leaves the file as it
/// was. Ids already in the file (or earlier in `entries`) are skipped. An entry with an empty id or
/// owner, a malformed fingerprint, or a fingerprint that another id already lists is an error and
/// nothing is written, because the file would then fail to load. Returns the number added.
pub fn append(path: &Path, entries: &[NewEntry]) -> Result<usize, InventoryError> {
    let error = |line, entry: Option<&str>, message| InventoryError {
        file: path.to_path_buf(),
        line,
        column: None,
        entry: entry.map(str::to_owned),
        message,
    };
    let existing = read_text(path)?;
    let original = existing.as_deref().unwrap_or_default();
    // Lines of the existing file, to point at an entry that already claims a fingerprint.
    let mut ids = HashSet::new();
    let mut fingerprints: HashMap<String, Claim> = HashMap::new();
    // A file that exists but holds nothing yet (only comments, or `touch`ed) still needs a version.
    let mut needs_version = existing.is_none();
    if existing.is_some() {
        let doc = parse_document(original)
            .map_err(|(line, column, message)| InventoryError { column: Some(column), ..error(line, None, message) })?;
        needs_version = doc.as_table().is_empty();
        let lines = Lines::new(original);
        match doc.as_table().get("identity") {
            None => {}
            Some(Item::ArrayOfTables(tables)) => {
                for table in tables.iter() {
                    let Some(id) = table.get("id").and_then(Item::as_str) else { continue };
                    ids.insert(id.to_owned());
                    let listed = table.get("fingerprints").and_then(Item::as_array);
                    for value in listed.into_iter().flat_map(|a| a.iter()) {
                        if let Some(fp) = value.as_str() {
                            let line = value.span().map_or(1, |s| lines.of(s.start));
                            fingerprints
                                .insert(fp.to_owned(), Claim { id: id.to_owned(), file: path.to_path_buf(), line });
                        }
                    }
                }
            }
            Some(item) => {
                let line = doc.as_table().key("identity").and_then(|k| k.span()).map_or(1, |s| lines.of(s.start));
                return Err(error(
                    line,
                    None,
                    format!(
                        "`identity` must be an array of tables ([[identity]]) to append entries, found {}",
                        item.type_name()
                    ),
                ));
            }
        }
    }

    // Match the file's line endings so a CRLF file does not end up mixed.
    let nl = if original.contains("\r\n") { "\r\n" } else { "\n" };
    let mut text = String::new();
    if !original.is_empty() && !original.ends_with('\n') {
        text.push_str(nl);
    }
    if existing.is_none() {
        text.push_str(NEW_FILE_HEADER);
    } else if needs_version {
        let _ = write!(text, "version = {FORMAT_VERSION}{nl}");
    }
    let mut added = 0;
    for new in entries {
        if ids.contains(&new.id) {
            continue;
        }
        let id = Some(new.id.as_str());
        if new.id.trim().is_empty() {
            return Err(error(1, None, "cannot append an identity with an empty id".to_owned()));
        }
        if new.owner.trim().is_empty() {
            return Err(error(1, id, "cannot append an identity with an empty owner".to_owned()));
        }
        for fp in &new.fingerprints {
            if !is_fingerprint(fp) {
                return Err(error(
                    1,
                    id,
                    "bad fingerprint; expected `kt1:` (or keyed, `kt1k:`) followed by 32 lowercase hex digits"
                        .to_string(),
                ));
            }
            if let Some(claim) = fingerprints.get(fp).filter(|c| c.id != new.id) {
                return Err(error(
                    claim.line,
                    id,
                    format!("fingerprint {fp} is already listed under identity `{}`", claim.id),
                ));
            }
        }
        let tail = if text.is_empty() { original } else { text.as_str() };
        if !tail.is_empty() && !tail.ends_with(&format!("{nl}{nl}")) {
            text.push_str(nl);
        }
        write_entry(&mut text, new, nl);
        ids.insert(new.id.clone());
        for fp in &new.fingerprints {
            fingerprints.insert(fp.clone(), Claim { id: new.id.clone(), file: path.to_path_buf(), line: 1 });
        }
        added += 1;
    }
    if existing.is_some() && added == 0 {
        return Ok(0);
    }

    let combined = format!("{original}{text}");
    if let Err((line, _, message)) = parse_document(&combined) {
        return Err(error(line, None, format!("appending would make the file unreadable: {message}")));
    }
    let written = if existing.is_some() {
        // Append mode writes only the new bytes: the existing ones are not even rewritten.
        fs::OpenOptions::new().append(true).open(path).and_then(|mut f| f.write_all(text.as_bytes()))
    } else {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        dir.map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::OpenOptions::new().write(true).create_new(true).open(path))
            .and_then(|mut f| f.write_all(combined.as_bytes()))
    };
    written.map_err(|e| error(1, None, format!("cannot write inventory file: {e}")))?;
    Ok(added)
}

fn write_entry(out: &mut String, e: &NewEntry, nl: &str) {
    if let Some(comment) = &e.comment {
        // One line, as promised: a newline in the text would end the comment and start TOML.
        let one_line: String = comment.chars().map(|c| if c.is_control() && c != '\t' { ' ' } else { c }).collect();
        let one_line = one_line.trim();
        if !one_line.is_empty() {
            let _ = write!(out, "# {one_line}{nl}");
        }
    }
    let _ = write!(out, "[[identity]]{nl}id = {}{nl}owner = {}{nl}", quote(&e.id), quote(&e.owner));
    for (key, value) in [("kind", &e.kind), ("provider", &e.provider)] {
        if let Some(v) = value {
            let _ = write!(out, "{key} = {}{nl}", quote(v));
        }
    }
    for (key, values) in [("fingerprints", &e.fingerprints), ("identifiers", &e.identifiers)] {
        if !values.is_empty() {
            let _ = write!(out, "{key} = {}{nl}", quote_all(values));
        }
    }
    if let Some(created) = e.created {
        let _ = write!(out, "created = {created}{nl}");
    }
    let _ = write!(out, "status = \"{}\"{nl}", Status::Active.as_str());
    if !e.environments.is_empty() {
        let _ = write!(out, "environments = {}{nl}", quote_all(&e.environments));
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn quote_all(values: &[String]) -> String {
    format!("[{}]", values.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const KINDS: &[&str] = &["api_key", "service_account", "ssh_key"];
    const FP_A: &str = "kt1:0123456789abcdef0123456789abcdef";
    const FP_B: &str = "kt1:fedcba9876543210fedcba9876543210";

    /// A directory removed on drop; std only, since the module's dependencies are fixed.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("keytrail-inventory-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, text).expect("write test file");
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Loads the files and returns the errors as displayed, with each file's path shortened to
    /// its name so the expectations read like what a user sees.
    fn errors_of(files: &[(&str, &str)]) -> Vec<String> {
        let dir = TempDir::new();
        let paths: Vec<_> = files.iter().map(|(name, text)| dir.write(name, text)).collect();
        match Inventory::load(&paths, KINDS) {
            Ok(inv) => panic!("expected errors, loaded {} entries", inv.entries.len()),
            Err(errors) => errors.iter().map(|e| e.to_string().replace(&format!("{}/", dir.0.display()), "")).collect(),
        }
    }

    fn errors(text: &str) -> Vec<String> {
        errors_of(&[("inventory.toml", text)])
    }

    fn load_one(text: &str) -> Inventory {
        let dir = TempDir::new();
        let path = dir.write("inventory.toml", text);
        match Inventory::load(&[path], KINDS) {
            Ok(inv) => inv,
            Err(errors) => panic!("unexpected errors: {errors:#?}"),
        }
    }

    fn date(y: i32, m: u32, d: u32) -> Date {
        Date::from_ymd(y, m, d).expect("valid test date")
    }

    const FULL: &str = r#"version = 1

# The live Stripe key.
[[identity]]
id = "payments-stripe-live"            # unique, required
owner = "team-payments"
purpose = "charges cards from checkout"
kind = "api_key"
provider = "stripe"
fingerprints = ["kt1:0123456789abcdef0123456789abcdef"]
identifiers = ["AKIAEXAMPLE"]
created = 2025-01-10
last_rotated = 2026-06-01
rotate_every = "90d"
expires = 2027-01-01
status = "active"
retire_when = "checkout v1 is shut down"
environments = ["prod"]

[[identity]]
id = "ci-deployer"
owner = "team-platform"
status = "rotating"
created = "2024-03-01"
retire_when = 2030-01-01
"#;

    #[test]
    fn loads_every_field() {
        let inv = load_one(FULL);
        assert_eq!(inv.entries.len(), 2);
        let e = &inv.entries[0];
        assert_eq!(e.id, "payments-stripe-live");
        assert_eq!(e.owner, "team-payments");
        assert_eq!(e.purpose.as_deref(), Some("charges cards from checkout"));
        assert_eq!(e.kind.as_deref(), Some("api_key"));
        assert_eq!(e.provider.as_deref(), Some("stripe"));
        assert_eq!(e.fingerprints, [FP_A]);
        assert_eq!(e.identifiers, ["AKIAEXAMPLE"]);
        assert_eq!(e.created, Some(date(2025, 1, 10)));
        assert_eq!(e.last_rotated, Some(date(2026, 6, 1)));
        assert_eq!(e.rotate_every, Some(Period::Days(90)));
        assert_eq!(e.expires, Some(date(2027, 1, 1)));
        assert_eq!(e.status, Status::Active);
        assert_eq!(e.retire_when, Some(RetireWhen::Text("checkout v1 is shut down".into())));
        assert_eq!(e.environments, ["prod"]);
        assert_eq!(e.line, 4);
        assert!(e.file.ends_with("inventory.toml"));

        let e = &inv.entries[1];
        assert_eq!((e.id.as_str(), e.line, e.status), ("ci-deployer", 20, Status::Rotating));
        assert_eq!(e.created, Some(date(2024, 3, 1)));
        assert_eq!(e.retire_when, Some(RetireWhen::Date(date(2030, 1, 1))));
        assert_eq!((e.purpose.clone(), e.rotate_every, e.expires), (None, None, None));
        assert!(e.fingerprints.is_empty() && e.environments.is_empty());
    }

    #[test]
    fn defaults_and_alternative_spellings() {
        let inv = load_one(
            "version = 1\nidentity = [\n  { id = \"a\", owner = \"o\" },\n  { id = \"b\", owner = \"o\", \
             retire_when = \"2026-02-01\", expires = 2026-03-01T10:00:00+05:00 },\n]\n",
        );
        assert_eq!(inv.entries.iter().map(|e| (e.id.as_str(), e.line)).collect::<Vec<_>>(), [("a", 3), ("b", 4)]);
        assert_eq!(inv.entries[0].status, Status::Active);
        assert_eq!(inv.entries[1].retire_when, Some(RetireWhen::Date(date(2026, 2, 1))));
        assert_eq!(inv.entries[1].expires, Some(date(2026, 3, 1)));
        assert!(load_one("version = 1\n").entries.is_empty());
    }

    #[test]
    fn bad_toml_reports_the_parser_line() {
        let got = errors("version = 1\n\n[[identity]]\nid = \"a\nowner = \"o\"\n");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("inventory.toml:4:8: invalid TOML: "), "{got:?}");
        assert!(!got[0].contains('\n'), "{got:?}");
        let got = errors("version = 1\n[[identity]]\nid = \"a\"\nid = \"b\"\n");
        assert!(got[0].starts_with("inventory.toml:4:1: invalid TOML: duplicate key `id`"), "{got:?}");
    }

    #[test]
    fn version_must_be_one() {
        assert_eq!(
            errors("# no version\n\n[[identity]]\nid = \"a\"\nowner = \"o\"\n"),
            ["inventory.toml:1: missing `version = 1`"]
        );
        assert_eq!(
            errors("\n\nversion = 2\n"),
            ["inventory.toml:3: unsupported `version` 2; this keytrail reads version 1"]
        );
        assert_eq!(errors("version = \"1\"\n"), ["inventory.toml:1: `version` must be the integer 1, found string"]);
    }

    #[test]
    fn unknown_top_level_keys_and_shapes() {
        assert_eq!(
            errors("version = 1\nowner = \"x\"\n\n[defaults]\nstatus = \"active\"\n"),
            [
                "inventory.toml:2: unknown top-level key `owner`; known keys: version, identity",
                "inventory.toml:4: unknown top-level key `defaults`; known keys: version, identity",
            ]
        );
        assert_eq!(
            errors("version = 1\n[identity]\nid = \"a\"\n"),
            ["inventory.toml:2: `identity` must be an array of tables ([[identity]]), found table"]
        );
        assert_eq!(
            errors("version = 1\nidentity = [1]\n"),
            ["inventory.toml:2: `identity` must be an array of tables ([[identity]]), found array"]
        );
    }

    #[test]
    fn unknown_field_is_named_with_the_known_ones() {
        assert_eq!(
            errors("version = 1\n[[identity]]\nid = \"a\"\nowner = \"o\"\nrotate = \"90d\"\n"),
            ["inventory.toml:5: identity `a`: unknown field `rotate`; known fields: id, owner, purpose, kind, \
             provider, fingerprints, identifiers, created, last_rotated, rotate_every, expires, status, \
             retire_when, environments"]
        );
    }

    #[test]
    fn missing_or_empty_id_and_owner() {
        assert_eq!(
            errors("version = 1\n\n[[identity]]\nowner = \"o\"\n\n[[identity]]\nid = \"b\"\n"),
            [
                "inventory.toml:3: missing required field `id`",
                "inventory.toml:6: identity `b`: missing required field `owner`",
            ]
        );
        assert_eq!(
            errors("version = 1\n[[identity]]\nowner = \"o\"\nid = \"\"\n"),
            ["inventory.toml:4: `id` is empty"]
        );
        assert_eq!(
            errors("version = 1\n[[identity]]\nid = \"a\"\nowner = \" \"\n"),
            ["inventory.toml:4: identity `a`: `owner` is empty"]
        );
    }

    #[test]
    fn wrong_value_types() {
        let text = "version = 1\n[[identity]]\nid = 7\nowner = \"o\"\npurpose = true\nidentifiers = \"AKIA\"\n\
                    environments = [\"prod\", 3]\ncreated = 20250110\nretire_when = 1.5\nstatus = [\"active\"]\n";
        assert_eq!(
            errors(text),
            [
                "inventory.toml:3: `id` must be a string, found integer",
                "inventory.toml:5: `purpose` must be a string, found boolean",
                "inventory.toml:6: `identifiers` must be an array of strings, found string",
                "inventory.toml:7: `environments` must be an array of strings, found integer in it",
                "inventory.toml:8: `created` must be a date such as 2025-01-10, found integer",
                "inventory.toml:9: `retire_when` must be a string or a date, found float",
                "inventory.toml:10: `status` must be a string, found array",
            ]
        );
        assert_eq!(
            errors("version = 1\n[[identity]]\nid = \"a\"\nowner = \"o\"\n[identity.meta]\nx = 1\n"),
            ["inventory.toml:5: identity `a`: unknown field `meta`; known fields: id, owner, purpose, kind, \
             provider, fingerprints, identifiers, created, last_rotated, rotate_every, expires, status, \
             retire_when, environments"]
        );
    }

    #[test]
    fn unknown_status_and_kind() {
        let text = "version = 1\n[[identity]]\nid = \"a\"\nowner = \"o\"\nstatus = \"paused\"\nkind = \"apikey\"\n";
        assert_eq!(
            errors(text),
            [
                "inventory.toml:5: identity `a`: unknown status `paused`; valid: active, rotating, retired, revoked",
                "inventory.toml:6: identity `a`: unknown kind `apikey`; known kinds: api_key, service_account, ssh_key",
            ]
        );
    }

    #[test]
    fn bad_dates() {
        let text = "version = 1\n[[identity]]\nid = \"a\"\nowner = \"o\"\ncreated = \"2025-13-01\"\n\
                    last_rotated = 12:00:00\nexpires = \"next year\"\nretire_when = \"2026-02-30\"\n";
        assert_eq!(errors(text), [
            "inventory.toml:5: identity `a`: bad date in `created`: `2025-13-01`; expected a date such as 2025-01-10",
            "inventory.toml:6: identity `a`: bad date in `last_rotated`: `12:00:00`; expected a date such as 2025-01-10",
            "inventory.toml:7: identity `a`: bad date in `expires`: `next year`; expected a date such as 2025-01-10",
            "inventory.toml:8: identity `a`: bad date in `retire_when`: `2026-02-30`; expected a date such as 2025-01-10",
        ]);
        // TOML itself rejects an impossible date literal, with the parser's line.
        let got = errors("version = 1\n[[identity]]\nid = \"a\"\nowner = \"o\"\ncreated = 2025-02-30\n");
        assert!(got[0].starts_with("inventory.toml:5:19: invalid TOML: "), "{got:?}");
    }

    #[test]
    fn bad_rotate_every() {
        assert_eq!(
            errors("version = 1\n[[identity]]\nid = \"a\"\nowner = \"o\"\nrotate_every = \"90 days\"\n"),
            ["inventory.toml:5: identity `a`: bad `rotate_every` `90 days`; expected a positive whole number and a \
             unit d, w, m or y, such as \"90d\""]
        );
        assert_eq!(
            errors("version = 1\n[[identity]]\nid = \"a\"\nowner = \"o\"\nrotate_every = 90\n"),
            ["inventory.toml:5: identity `a`: `rotate_every` must be a string, found integer"]
        );
    }

    #[test]
    fn bad_fingerprint_points_at_its_own_line() {
        let text = format!(
            "version = 1\n[[identity]]\nid = \"a\"\nowner = \"o\"\nfingerprints = [\n  \"{FP_A}\",\n  \
             \"kt1:0123456789ABCDEF0123456789ABCDEF\",\n  \"kt1:0123\",\n]\n"
        );
        assert_eq!(
            errors(&text),
            [
                "inventory.toml:7: identity `a`: bad fingerprint; expected `kt1:` (or keyed, `kt1k:`) followed by 32 lowercase hex digits",
                "inventory.toml:8: identity `a`: bad fingerprint; expected `kt1:` (or keyed, `kt1k:`) followed by 32 lowercase hex digits",
            ]
        );
    }

    #[test]
    fn duplicate_ids_and_shared_fingerprints() {
        let text = format!(
            "version = 1\n[[identity]]\nid = \"a\"\nowner = \"o\"\nfingerprints = [\"{FP_A}\"]\n\n\
             [[identity]]\nid = \"b\"\nowner = \"o\"\nfingerprints = [\"{FP_B}\", \"{FP_A}\"]\n\n\
             [[identity]]\nowner = \"o\"\nid = \"a\"\n"
        );
        assert_eq!(
            errors(&text),
            [
                format!(
                    "inventory.toml:10: identity `b`: fingerprint {FP_A} is also listed under identity `a` at \
                     inventory.toml:5"
                ),
                "inventory.toml:14: identity `a`: duplicate id; first defined at inventory.toml:3".to_owned(),
            ]
        );
        // Listing a fingerprint twice under one id is harmless.
        load_one(&format!(
            "version = 1\n[[identity]]\nid = \"a\"\nowner = \"o\"\nfingerprints = [\"{FP_A}\", \"{FP_A}\"]\n"
        ));
    }

    #[test]
    fn duplicates_across_files() {
        let first = format!("version = 1\n\n[[identity]]\nid = \"a\"\nowner = \"o\"\nfingerprints = [\"{FP_A}\"]\n");
        let second =
            format!("version = 1\n[[identity]]\nid = \"a\"\nowner = \"p\"\n[[identity]]\nid = \"c\"\nowner = \"p\"\nfingerprints = [\"{FP_A}\"]\n");
        assert_eq!(
            errors_of(&[("one.toml", &first), ("two.toml", &second)]),
            [
                "two.toml:3: identity `a`: duplicate id; first defined at one.toml:4".to_owned(),
                format!("two.toml:8: identity `c`: fingerprint {FP_A} is also listed under identity `a` at one.toml:6"),
            ]
        );
    }

    #[test]
    fn all_problems_in_all_files_together() {
        let got = errors_of(&[
            ("one.toml", "version = 3\n[[identity]]\nid = \"a\"\n"),
            ("two.toml", "version = 1\n[[identity\n"),
            ("three.toml", "version = 1\nextra = 1\n"),
        ]);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0], "one.toml:1: unsupported `version` 3; this keytrail reads version 1");
        assert_eq!(got[1], "one.toml:2: identity `a`: missing required field `owner`");
        assert!(got[2].starts_with("two.toml:2:11: invalid TOML: "), "{got:?}");
        assert_eq!(got[3], "three.toml:2: unknown top-level key `extra`; known keys: version, identity");
    }

    #[test]
    fn missing_and_unreadable_files_are_named() {
        let dir = TempDir::new();
        let missing = dir.0.join("nope").join("inventory.toml");
        let bad = dir.0.join("bad.toml");
        fs::write(&bad, b"version = 1\n# caf\xe9\n").expect("write");
        let errors = Inventory::load(&[missing.clone(), bad.clone()], KINDS).expect_err("must fail");
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].to_string(), format!("{}:1: inventory file not found", missing.display()));
        assert_eq!(errors[1].to_string(), format!("{}:2: file is not valid UTF-8", bad.display()));
    }

    #[test]
    fn merges_files_in_order_and_reads_a_repeated_path_once() {
        let dir = TempDir::new();
        let one = dir.write("one.toml", "version = 1\n[[identity]]\nid = \"b\"\nowner = \"o\"\n");
        let two = dir.write("two.toml", "version = 1\n[[identity]]\nid = \"a\"\nowner = \"o\"\n");
        let inv = Inventory::load(&[one.clone(), two.clone(), one.clone()], KINDS).expect("loads");
        assert_eq!(inv.files, [one.clone(), two.clone()]);
        let got: Vec<_> = inv.entries.iter().map(|e| (e.id.as_str(), e.file.clone(), e.line)).collect();
        assert_eq!(got, [("b", one, 2), ("a", two, 2)]);
    }

    #[test]
    fn link_by_fingerprint_then_identifier() {
        let inv = load_one(&format!(
            "version = 1\n[[identity]]\nid = \"by-id\"\nowner = \"o\"\nidentifiers = [\"AKIAEXAMPLE\", \
             \"ci@proj.iam.gserviceaccount.com\"]\n[[identity]]\nid = \"by-fp\"\nowner = \"o\"\n\
             fingerprints = [\"{FP_A}\"]\n"
        ));
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(inv.link(FP_A, &ids(&["AKIAEXAMPLE"])).map(|e| e.id.as_str()), Some("by-fp"));
        assert_eq!(inv.link(FP_B, &ids(&["other", "AKIAEXAMPLE"])).map(|e| e.id.as_str()), Some("by-id"));
        assert_eq!(inv.link(FP_B, &ids(&["ci@proj.iam.gserviceaccount.com"])).map(|e| e.id.as_str()), Some("by-id"));
        assert!(inv.link(FP_B, &ids(&["akiaexample", ""])).is_none());
        assert!(inv.link(FP_B, &[]).is_none());
    }

    fn new_entry(id: &str, fingerprints: &[&str]) -> NewEntry {
        NewEntry {
            id: id.to_owned(),
            owner: "team-payments".to_owned(),
            kind: Some("api_key".to_owned()),
            provider: Some("stripe".to_owned()),
            fingerprints: fingerprints.iter().map(|s| s.to_string()).collect(),
            identifiers: vec!["AKIA\"quoted\"\\".to_owned()],
            created: Some(date(2025, 1, 10)),
            environments: vec!["prod".to_owned(), "staging".to_owned()],
            comment: Some("found in src/pay.rs:12\nsecond line".to_owned()),
        }
    }

    #[test]
    fn append_keeps_every_existing_byte() {
        let dir = TempDir::new();
        let original = "# Inventory  \n\n  version=1   # odd spacing\n\n[[identity]] # first\n  id='old'\n  owner = \
                        \"o\"\n  fingerprints = [\n    \"kt1:00000000000000000000000000000000\", # trailing comma\n  ]\n\
                        # a trailing comment without a newline";
        let path = dir.write("inventory.toml", original);
        let added = append(&path, &[new_entry("new", &[FP_A]), new_entry("old", &[FP_B]), new_entry("new", &[])]);
        assert_eq!(added.expect("appends"), 1);
        let after = fs::read_to_string(&path).expect("read");
        assert!(after.starts_with(original), "{after}");
        assert_eq!(
            &after[original.len()..],
            format!(
                "\n\n# found in src/pay.rs:12 second line\n[[identity]]\nid = \"new\"\nowner = \"team-payments\"\n\
                 kind = \"api_key\"\nprovider = \"stripe\"\nfingerprints = [\"{FP_A}\"]\n\
                 identifiers = [\"AKIA\\\"quoted\\\"\\\\\"]\ncreated = 2025-01-10\nstatus = \"active\"\n\
                 environments = [\"prod\", \"staging\"]\n"
            )
        );

        let inv = Inventory::load(std::slice::from_ref(&path), KINDS).expect("result loads");
        let e = &inv.entries[1];
        assert_eq!((e.id.as_str(), e.line, e.status), ("new", 14, Status::Active));
        assert_eq!(e.identifiers, ["AKIA\"quoted\"\\"]);
        assert_eq!(e.created, Some(date(2025, 1, 10)));

        assert_eq!(append(&path, &[new_entry("new", &[FP_A]), new_entry("old", &[])]).expect("no-op"), 0);
        assert_eq!(fs::read_to_string(&path).expect("read"), after);
    }

    #[test]
    fn append_keeps_crlf_line_endings() {
        let dir = TempDir::new();
        let original = "version = 1\r\n";
        let path = dir.write("inventory.toml", original);
        let mut e = new_entry("a", &[]);
        e.comment = None;
        e.identifiers.clear();
        e.environments.clear();
        assert_eq!(append(&path, &[e]).expect("appends"), 1);
        let after = fs::read_to_string(&path).expect("read");
        assert_eq!(
            after,
            "version = 1\r\n\r\n[[identity]]\r\nid = \"a\"\r\nowner = \"team-payments\"\r\nkind = \"api_key\"\r\n\
             provider = \"stripe\"\r\ncreated = 2025-01-10\r\nstatus = \"active\"\r\n"
        );
    }

    #[test]
    fn append_creates_the_file_and_directory() {
        let dir = TempDir::new();
        let path = dir.0.join("repo").join(".keytrail").join("inventory.toml");
        assert_eq!(append(&path, &[new_entry("a", &[FP_A]), new_entry("b", &[FP_B])]).expect("creates"), 2);
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(NEW_FILE_HEADER), "{text}");
        let inv = Inventory::load(std::slice::from_ref(&path), KINDS).expect("loads");
        assert_eq!(inv.entries.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(append(&path, &[new_entry("a", &[FP_A])]).expect("no-op"), 0);
        assert_eq!(fs::read_to_string(&path).expect("read"), text);

        // With nothing to add, a missing file is still created, ready for hand edits.
        let empty = dir.0.join("other").join("inventory.toml");
        assert_eq!(append(&empty, &[]).expect("creates"), 0);
        assert_eq!(fs::read_to_string(&empty).expect("read"), NEW_FILE_HEADER);
        Inventory::load(&[empty], KINDS).expect("loads");
    }

    #[test]
    fn append_to_an_empty_file_adds_the_version() {
        let dir = TempDir::new();
        let path = dir.write("inventory.toml", "# ours\n");
        assert_eq!(append(&path, &[new_entry("a", &[])]).expect("appends"), 1);
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("# ours\nversion = 1\n\n# found"), "{text}");
        Inventory::load(&[path], KINDS).expect("loads");
    }

    #[test]
    fn append_refuses_what_would_not_load_and_writes_nothing() {
        let dir = TempDir::new();
        let original = format!("version = 1\n\n[[identity]]\nid = \"a\"\nowner = \"o\"\nfingerprints = [\"{FP_A}\"]\n");
        let path = dir.write("inventory.toml", &original);
        let shown = |r: Result<usize, InventoryError>| match r {
            Ok(n) => panic!("expected an error, added {n}"),
            Err(e) => e.to_string().replace(&format!("{}/", dir.0.display()), ""),
        };
        assert_eq!(
            shown(append(&path, &[new_entry("ok", &[FP_B]), new_entry("b", &[FP_A])])),
            format!("inventory.toml:6: identity `b`: fingerprint {FP_A} is already listed under identity `a`")
        );
        assert_eq!(
            shown(append(&path, &[new_entry("b", &["kt1:xyz"])])),
            "inventory.toml:1: identity `b`: bad fingerprint; expected `kt1:` (or keyed, `kt1k:`) followed by 32 lowercase hex digits"
        );
        assert_eq!(
            shown(append(&path, &[new_entry("", &[])])),
            "inventory.toml:1: cannot append an identity with an empty id"
        );
        let mut no_owner = new_entry("c", &[]);
        no_owner.owner.clear();
        assert_eq!(
            shown(append(&path, &[no_owner])),
            "inventory.toml:1: identity `c`: cannot append an identity with an empty owner"
        );
        assert_eq!(fs::read_to_string(&path).expect("read"), original);

        let inline = dir.write("inline.toml", "version = 1\n\nidentity = [{ id = \"a\", owner = \"o\" }]\n");
        assert_eq!(
            shown(append(&inline, &[new_entry("b", &[])])),
            "inline.toml:3: `identity` must be an array of tables ([[identity]]) to append entries, found array"
        );
        let broken = dir.write("broken.toml", "version = 1\n[[identity]\n");
        assert!(shown(append(&broken, &[new_entry("b", &[])])).starts_with("broken.toml:2:11: invalid TOML: "));
        assert_eq!(fs::read_to_string(&broken).expect("read"), "version = 1\n[[identity]\n");
    }
}
