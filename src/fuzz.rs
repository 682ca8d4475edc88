//! The bodies of the `cargo fuzz` targets in `fuzz/`, one function per target.
//!
//! They live in the library so that `tests/fuzz_corpus.rs` replays every corpus and regression
//! file through exactly the code the fuzzer ran. Each takes arbitrary bytes, drives one parser or
//! the whole matcher, and panics only when an invariant of the result is broken: a parser that
//! returns an error on bad input is doing its job.
use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;

use crate::config::Config;
use crate::finding::Finding;
use crate::matcher::decode::{self, Encoding, View};
use crate::matcher::Matcher;
use crate::nhi::date::Date;
use crate::nhi::inventory::{self, Inventory};
use crate::rules::{Loader, NhiKind, RuleSet, SECRET_GROUP};

/// What `redact` always ends with: a mask that hides the secret's length.
const MASK: &str = "********";

fn builtin() -> &'static RuleSet {
    static SET: OnceLock<RuleSet> = OnceLock::new();
    SET.get_or_init(|| RuleSet::builtin().expect("the built-in rules load"))
}

fn builtin_matcher() -> &'static Matcher {
    static MATCHER: OnceLock<Matcher> = OnceLock::new();
    MATCHER.get_or_init(|| Matcher::new(builtin().clone()).expect("the built-in rules build a matcher"))
}

/// Lines as git and [`crate::finding::LineIndex`] count them: a last line without a newline counts.
fn line_count(text: &[u8]) -> usize {
    let breaks = memchr::memchr_iter(b'\n', text).count();
    breaks + usize::from(text.last().is_some_and(|&b| b != b'\n'))
}

/// The characters of each line (with a `\r` before its `\n`), as columns count them.
fn line_widths(text: &[u8]) -> Vec<usize> {
    text.split(|&b| b == b'\n').map(|l| l.iter().filter(|&&b| b & 0xC0 != 0x80).count()).collect()
}

/// `true` when `s` holds nothing a terminal would act on.
fn is_inert(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c))
}

/// The whole matcher on one blob: UTF-16 transcoding, every decoder, every built-in rule. Every
/// finding must lie inside the blob, show its secret only redacted, and carry a terminal-safe
/// snippet; the same scan with `show_secrets` must find the same things.
pub fn matcher(data: &[u8]) {
    let m = builtin_matcher();
    let found = crate::scan::blob_findings(m, data, "fuzz.txt", false).expect("built-in regexes compile");
    if found.is_empty() {
        return;
    }
    let shown = crate::scan::blob_findings(m, data, "fuzz.txt", true).expect("built-in regexes compile");
    let key = |f: &Finding| (f.rule_id.clone(), f.line, f.column, f.end_line, f.end_column, f.fingerprint.clone());
    assert_eq!(
        found.iter().map(key).collect::<Vec<_>>(),
        shown.iter().map(key).collect::<Vec<_>>(),
        "show_secrets changed what was found"
    );
    // Positions are in the text as scanned: UTF-16 is transcoded first.
    let transcoded = decode::utf16_text(data);
    let hay = transcoded.as_deref().unwrap_or(data);
    let widths = line_widths(hay);
    let lines = line_count(hay);
    let within =
        |line: usize, column: usize| line >= 1 && line <= lines && column >= 1 && column <= widths[line - 1] + 1;
    for (f, raw) in found.iter().zip(&shown) {
        let at = format!("{} at {}:{}", f.rule_id, f.line, f.column);
        assert!(within(f.line, f.column), "{at}: start outside the blob ({lines} lines)");
        assert!(within(f.end_line, f.end_column), "{at}: end {}:{} outside the blob", f.end_line, f.end_column);
        assert!((f.line, f.column) <= (f.end_line, f.end_column), "{at}: ends before it starts");
        assert!(inventory::is_fingerprint(&f.fingerprint), "{at}: fingerprint {}", f.fingerprint);
        assert!((0.0..=8.0).contains(&f.entropy), "{at}: entropy {}", f.entropy);
        assert!(f.secret.ends_with(MASK), "{at}: secret shown unredacted");
        assert!(raw.secret.len() <= 8 || f.secret != raw.secret, "{at}: redaction kept the whole secret");
        assert!(is_inert(&f.snippet) && is_inert(&raw.snippet), "{at}: snippet holds control characters");
        if let (Some(c), Some(rc)) = (&f.companion, &raw.companion) {
            assert!(within(c.line, c.column), "{at}: companion outside the blob");
            assert!(c.secret.ends_with(MASK), "{at}: companion shown unredacted");
            assert!(rc.secret.len() <= 8 || c.secret != rc.secret, "{at}: companion redaction kept it whole");
        }
    }
    // No snippet shows a secret found as it stands on its line, its own or another's. (A secret
    // found decoded is not in the blob as such, so it cannot leak through the encoded text.)
    for (g, raw) in found.iter().zip(&shown) {
        let plain = g.encoding.is_none_or(|e| e == Encoding::Utf16);
        if !plain || raw.secret.len() <= 8 || raw.secret.contains('\u{FFFD}') {
            continue;
        }
        for f in found.iter().filter(|f| f.line == g.line) {
            assert!(
                !f.snippet.contains(raw.secret.as_str()),
                "the snippet of {} at {}:{} shows the secret of {} at {}:{}",
                f.rule_id,
                f.line,
                f.column,
                g.rule_id,
                g.line,
                g.column
            );
        }
    }
}

/// Where a view came from must be a span of the text it was decoded from.
fn check_origin(hay: &[u8], v: &View) {
    assert!(v.origin.start <= v.origin.end && v.origin.end <= hay.len(), "origin {:?} outside {}", v.origin, hay.len());
}

fn is_base64_char(b: u8) -> bool {
    decode::base64_value(b).is_some()
}

/// UTF-16 transcoding and base64 views, as [`crate::scan::blob_findings`] runs them (one nested
/// level included): each view is a maximal base64 run of 16 or more characters of the text it
/// came from, decoding to printable text no longer than three quarters of the run.
pub fn decode_base64(data: &[u8]) {
    let transcoded = decode::utf16_text(data);
    if let Some(text) = &transcoded {
        assert!(std::str::from_utf8(text).is_ok(), "UTF-16 transcoded to invalid UTF-8");
        if data.starts_with(&[0xFF, 0xFE]) || data.starts_with(&[0xFE, 0xFF]) {
            // A line feed is one code unit, so transcoding keeps the lines as they were.
            let body = &data[2..];
            let little = data[0] == 0xFF;
            let feeds = body.chunks_exact(2).filter(|c| if little { c == b"\n\0" } else { c == b"\0\n" }).count();
            assert_eq!(feeds, memchr::memchr_iter(b'\n', text).count(), "transcoding changed the lines");
        }
    }
    let hay = transcoded.as_deref().unwrap_or(data);
    let mut views = Vec::new();
    decode::base64_views(hay, &mut views);
    check_base64_views(hay, &views);
    for v in &views {
        let mut inner = Vec::new();
        decode::base64_views(&v.bytes, &mut inner);
        check_base64_views(&v.bytes, &inner);
    }
}

fn check_base64_views(hay: &[u8], views: &[View]) {
    let mut last_end = 0;
    let mut total = 0;
    for v in views {
        check_origin(hay, v);
        assert_eq!(v.encoding, Encoding::Base64);
        let run = &hay[v.origin.clone()];
        assert!(run.len() >= 16, "run {:?} shorter than 16", v.origin);
        assert!(run.iter().all(|&b| is_base64_char(b)), "run {:?} holds a non-base64 byte", v.origin);
        assert!(v.origin.start == 0 || !is_base64_char(hay[v.origin.start - 1]), "run {:?} not maximal", v.origin);
        assert!(hay.get(v.origin.end).is_none_or(|&b| !is_base64_char(b)), "run {:?} not maximal", v.origin);
        assert!(v.origin.start >= last_end, "runs overlap or are out of order");
        last_end = v.origin.end;
        assert!(v.bytes.len() <= run.len() * 3 / 4, "decoded longer than its run");
        assert!(!v.bytes.is_empty(), "empty view");
        assert!(
            v.bytes.iter().all(|&b| (0x20..0x7f).contains(&b) || matches!(b, b'\n' | b'\r' | b'\t')),
            "decoded view is not text"
        );
        total += v.bytes.len();
    }
    assert!(total <= 4 << 20, "decoded {total} bytes, over the budget");
}

/// Line views with every line taken (no keyword filter): each is one whole line of the input.
fn line_views(data: &[u8], encoding: Encoding, decoder: fn(&[u8]) -> Option<Vec<u8>>) {
    let mut views = Vec::new();
    decode::line_views(data, |_| true, &mut views);
    for v in views.iter().filter(|v| v.encoding == encoding) {
        check_origin(data, v);
        let line = &data[v.origin.clone()];
        assert!(!line.contains(&b'\n'), "view {:?} spans lines", v.origin);
        assert!(v.origin.start == 0 || data[v.origin.start - 1] == b'\n', "view {:?} starts mid-line", v.origin);
        assert!(v.origin.end == data.len() || data[v.origin.end] == b'\n', "view {:?} ends mid-line", v.origin);
        assert_eq!(Some(&v.bytes), decoder(line).as_ref(), "view {:?} is not its line decoded", v.origin);
    }
    let mut seen = HashSet::new();
    assert!(views.iter().all(|v| seen.insert((v.origin.clone(), v.encoding as u8))), "a line decoded twice");
}

/// String escapes: undoing them only ever shortens the text, and leaves it alone when there are
/// none; line views of escapes are whole lines, decoded.
pub fn decode_escapes(data: &[u8]) {
    if let Some(out) = decode::unescape(data) {
        assert!(out.len() < data.len(), "unescaping did not shorten the text");
    }
    if !data.contains(&b'\\') {
        assert_eq!(decode::unescape(data), None, "no backslash, yet something was unescaped");
    }
    line_views(data, Encoding::Escapes, decode::unescape);
}

/// Percent-decoding: each `%XX` becomes one byte, so the text shrinks by two bytes per escape and
/// a decoded `%` is never read again.
pub fn decode_percent(data: &[u8]) {
    match decode::percent_decode(data) {
        Some(out) => {
            let removed = data.len() - out.len();
            assert!(removed > 0 && removed % 2 == 0, "decoding removed {removed} bytes");
            assert!(removed / 2 <= memchr::memchr_iter(b'%', data).count(), "more bytes decoded than `%` signs");
        }
        None => {
            let escape = data.windows(3).any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit());
            assert!(!escape, "a %XX escape was left undecoded");
        }
    }
    line_views(data, Encoding::Percent, decode::percent_decode);
}

/// A rule file: either problems, or rules whose ids are unique kebab-case, whose keywords are long
/// enough and whose regexes compile with a `secret` group; those rules build a matcher, and
/// `rules check` runs their examples through it.
pub fn rules(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut loader = Loader::default();
    loader.add_text("fuzz.toml", &text);
    let (set, problems) = loader.finish_partial();
    let mut ids = HashSet::new();
    for rule in set.rules() {
        assert!(ids.insert(rule.id.as_str()), "duplicate id `{}` kept", rule.id);
        assert!(!rule.id.is_empty() && !rule.id.starts_with('-'), "bad id `{}` kept", rule.id);
        assert!(rule.keywords.iter().all(|k| k.trim().len() >= 3), "`{}`: short keyword kept", rule.id);
        assert!(rule.line >= 1 && rule.line <= text.lines().count().max(1), "`{}`: line {}", rule.id, rule.line);
        let re = crate::rules::build_regex(&rule.regex).expect("a kept rule's regex compiles");
        assert!(re.capture_names().flatten().any(|n| n == SECRET_GROUP), "`{}`: no secret group", rule.id);
    }
    for p in &problems {
        assert!(p.line.is_none_or(|l| l >= 1), "problem at line 0: {p}");
    }
    if problems.is_empty() && !set.is_empty() {
        let m = Matcher::new(set).expect("valid rules build a matcher");
        let _ = m.check_examples();
    }
}

/// `.keytrail.toml`: parses or fails with a line inside the file; a parsed file's rules are valid
/// and combine with the built-in set (or name the clash), and its allowlists answer.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count().max(1);
    match Config::parse(Path::new("dir/.keytrail.toml"), &text) {
        Err(crate::config::ConfigError::Parse { line, .. }) => {
            assert!(line >= 1 && line <= lines + 1, "error at line {line} of {lines}")
        }
        Err(_) => {}
        Ok(config) => {
            for (_, line) in &config.disabled_rules {
                assert!(*line >= 1 && *line <= lines, "disable_rules line {line} of {lines}");
            }
            for p in &config.inventory {
                assert!(p.starts_with("dir"), "inventory path {} not resolved against the file", p.display());
            }
            let _ = config.rule_set(builtin().clone());
            for line in text.lines().take(64) {
                let _ = config.path_allowed(line);
                let _ = config.value_allowlist.allows(line.as_bytes());
            }
        }
    }
}

/// The lifecycle inventory: every entry kept has an id and an owner, unique ids and well-formed
/// fingerprints, dates that print and read back the same, and is what [`Inventory::link`] finds.
pub fn inventory(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let kinds: Vec<&str> = NhiKind::ALL.iter().map(|k| k.as_str()).collect();
    let lines = text.lines().count().max(1);
    let inventory = match Inventory::parse(Path::new("inventory.toml"), &text, &kinds) {
        Ok(i) => i,
        Err(errors) => {
            assert!(!errors.is_empty(), "failed without saying why");
            for e in &errors {
                assert!(e.line >= 1 && e.line <= lines + 1, "error at line {} of {lines}: {e}", e.line);
            }
            return;
        }
    };
    let mut ids = HashSet::new();
    for e in &inventory.entries {
        assert!(!e.id.trim().is_empty() && !e.owner.trim().is_empty(), "entry without id or owner kept");
        assert!(ids.insert(e.id.as_str()), "duplicate id `{}` kept", e.id);
        assert!(e.fingerprints.iter().all(|f| inventory::is_fingerprint(f)), "`{}`: bad fingerprint kept", e.id);
        for fp in &e.fingerprints {
            assert_eq!(inventory.link(fp, &[]).map(|l| l.id.as_str()), Some(e.id.as_str()), "{fp} links elsewhere");
        }
        for date in [e.created, e.last_rotated, e.expires].into_iter().flatten() {
            assert_eq!(Date::parse(&date.to_string()), Some(date), "{date} does not read back");
            if let Some(p) = e.rotate_every {
                assert!(p.after(date) >= date, "{p} after {date} goes back in time");
            }
        }
        if let Some(p) = e.rotate_every {
            assert_eq!(crate::nhi::date::Period::parse(&p.to_string()), Some(p), "{p} does not read back");
        }
    }
}

/// The staged-diff line mapping on `(old, new)`, split by the input's first two bytes: every added
/// line is a line of `new`; a diff from nothing adds every line; a diff to itself adds none.
pub fn staged_lines(data: &[u8]) {
    let (old, new) = match data {
        [a, b, rest @ ..] => {
            let at = usize::from(u16::from_le_bytes([*a, *b])) % (rest.len() + 1);
            rest.split_at(at)
        }
        _ => (&[][..], data),
    };
    let Ok(added) = crate::source::git::added_lines_between(old, new) else { return };
    let lines = line_count(new);
    for &n in &added {
        assert!(n >= 1 && n <= lines, "line {n} added to a text of {lines} lines");
    }
    if old.is_empty() {
        assert_eq!(added.len(), lines, "a diff from nothing must add all {lines} lines");
    }
    if let Ok(same) = crate::source::git::added_lines_between(new, new) {
        assert!(same.is_empty(), "a diff of a text to itself adds {same:?}");
    }
}

/// Applying a git delta from a pack (`source::delta::apply`): the first two bytes (little-endian)
/// say how long the base is, the rest is the delta. It never reads outside the base or the delta,
/// and what it makes has the size the delta declares, no more than the budget.
pub fn delta(data: &[u8]) {
    use crate::source::delta::{apply, DeltaError};
    const BUDGET: u64 = 1 << 20;
    let Some((head, rest)) = data.split_first_chunk::<2>() else { return };
    let (base, delta) = rest.split_at(usize::from(u16::from_le_bytes(*head)).min(rest.len()));
    let mut out = vec![0xAA; 7];
    match apply(base, delta, &mut out, BUDGET) {
        Ok(()) => {
            assert!(out.len() as u64 <= BUDGET, "a result of {} bytes over the budget", out.len());
            // Every byte made comes from the base or the delta; a result with bytes from neither
            // would show a stale buffer.
            let mut known = [false; 256];
            for &b in base.iter().chain(delta) {
                known[usize::from(b)] = true;
            }
            assert!(out.iter().all(|&b| known[usize::from(b)]), "a byte from neither base nor delta");
        }
        Err(DeltaError::OverBudget | DeltaError::Corrupt(_)) => {}
    }
}

/// What the history walk parses of the objects it reads: a pack entry's header
/// (`source::store::parse_entry_header`, at an offset taken from the first byte), a tree and a
/// commit, all from the same bytes. None panics; a header's data starts inside the bytes after
/// its offset, and a tree that parses yields only entries with a name free of NUL.
pub fn objects(data: &[u8]) {
    use crate::source::git::{Commit, Tree};
    let offset = u64::from(data.first().copied().unwrap_or(0)) * 1000;
    if let Ok(header) = crate::source::store::parse_entry_header(data, offset) {
        let used = header.data_at - offset;
        assert!(used > 0 && used <= data.len() as u64, "a header of {used} bytes out of {}", data.len());
    }
    let id = git2::Oid::zero();
    if let Ok(tree) = Tree::parse(id, std::sync::Arc::new(data.to_vec())) {
        for entry in tree.iter() {
            assert!(!entry.name.is_empty() && !entry.name.contains(&0), "a tree entry named {:?}", entry.name);
        }
    }
    if let Ok(commit) = Commit::parse(id, data) {
        assert!(data.starts_with(b"tree "), "a commit without its tree line parsed");
        assert!(commit.parents.len() * 48 < data.len());
    }
}
