//! Scanned content and file names are data, never markup or terminal control: text output and
//! stderr escape control characters, SARIF paths are URI references, Markdown cells cannot inject
//! columns, links or HTML.
mod common;

use std::path::Path;

use common::{git, git_cmd, keytrail, write, Fake};

/// Names a terminal or a Markdown renderer would act on. Each holds a secret file of its own.
const HOSTILE_NAMES: &[&str] = &[
    "esc\x1b[31mred\x1b[0m.env",
    "title\x1b]0;pwned\x07.env",
    "csi\u{9b}2J-c1\u{85}.env",
    "back\rspace.env",
    "new\nline.env",
    "bidi\u{202e}vne.txt",
    "isolate\u{2066}x\u{2069}.env",
    "a|b.env",
    "back\\|slash.env",
    "<img src=x onerror=alert(1)>.env",
    "[x](javascript:alert(1)).env",
    "`tick`*star*_under_#hash!.env",
    "100% sure?#frag.env",
    "c:drive.env",
    "ünï code.env",
];

/// What the terminal must not receive: C0 controls but line feed, DEL, C1 controls, bidi overrides
/// and isolates.
fn forbidden(c: char) -> bool {
    (c.is_control() && c != '\n') || ('\u{202A}'..='\u{202E}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// The SGR colour codes keytrail's text output and stderr messages use.
const OWN_SGR: &[&str] =
    &["\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[33m", "\x1b[34m", "\x1b[36m", "\x1b[1;31m"];

/// A repository whose file names, file contents, commit message and author all carry terminal
/// control sequences, with one secret in each file; some committed, some only staged.
fn hostile_repo() -> tempfile::TempDir {
    let dir = common::repo();
    let d = dir.path();
    let mut fake = Fake::new(77);
    let content = |fake: &mut Fake| {
        format!(
            "\x1b]0;owned\x07\x1b[2J # \u{202e}evil\u{2066} \u{9b}31m\r\nGITHUB_TOKEN={}  # \x1b[8mhidden\x1b[0m\n",
            fake.github_pat()
        )
    };
    for name in HOSTILE_NAMES {
        write(d, &format!("committed/{name}"), content(&mut fake));
    }
    // A file too large to scan and a broken symlink: each is named in a notice on stderr.
    write(d, "committed/big\x1b[5mblink.txt", "x".repeat(4096));
    std::os::unix::fs::symlink("/nonexistent\x1b[31m", d.join("committed/dangling\x1b[41m")).unwrap();
    git(d, &["add", "-A"]);
    let out = git_cmd(d)
        .args(["commit", "-q", "-m", "subject \x1b[31mred\x1b[0m \u{202e}x\n\nbody"])
        .env("GIT_AUTHOR_NAME", "Mallory \x1b[2J\u{9b}H")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in HOSTILE_NAMES {
        write(d, &format!("staged/{name}"), content(&mut fake));
    }
    git(d, &["add", "-A"]);
    dir
}

fn output(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = keytrail().args(args).current_dir(dir).env_remove("RUST_LOG").output().unwrap();
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("output is UTF-8");
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn assert_no_control(what: &str, text: &str) {
    let bad: Vec<(usize, char)> = text.char_indices().filter(|(_, c)| forbidden(*c)).take(5).collect();
    assert!(bad.is_empty(), "{what} holds control characters {bad:?}:\n{}", text.escape_debug());
}

/// Every ESC in `text` starts one of keytrail's own colour codes.
fn assert_only_own_colours(what: &str, text: &str) {
    let mut rest = text;
    let mut seen = 0;
    while let Some(i) = rest.find('\x1b') {
        rest = &rest[i..];
        let own = OWN_SGR.iter().find(|s| rest.starts_with(**s));
        assert!(
            own.is_some(),
            "{what}: an escape keytrail did not write: {:?}",
            rest.chars().take(12).collect::<String>()
        );
        rest = &rest[own.unwrap().len()..];
        seen += 1;
    }
    assert!(seen > 0, "{what}: no colour at all with --color always");
    let without: String = OWN_SGR.iter().fold(text.to_string(), |t, s| t.replace(s, ""));
    assert_no_control(what, &without);
}

#[test]
fn text_output_and_stderr_carry_no_control_character_from_names_or_content() {
    let repo = hostile_repo();
    let d = repo.path();
    let scans: &[&[&str]] = &[
        &["scan", "--max-file-size", "1K", "--color", "never"],
        &["scan", "--history-only", "--color", "never"],
        &["scan", "--staged", "--color", "never"],
        &["hook", "pre-commit", "--color", "never"],
        &["baseline", "-o", "baseline.toml"],
        &["inventory", "check"],
    ];
    for args in scans {
        let (code, out, err) = output(d, args);
        assert!(code == 0 || code == 1, "{args:?}: {code}\n{err}");
        assert_no_control(&format!("{args:?} stdout"), &out);
        assert_no_control(&format!("{args:?} stderr"), &err);
    }
    let (code, out, err) = output(d, &["scan", "--max-file-size", "1K", "--color", "never"]);
    assert_eq!(code, 1, "{err}");
    // The names are there, escaped visibly, and so are the notices.
    for name in HOSTILE_NAMES {
        let shown = keytrail::finding::escape_control(name);
        assert!(out.contains(&format!("committed/{shown}:2:")), "{shown} missing from\n{out}");
    }
    assert!(out.contains(r"esc\u{1b}[31mred\u{1b}[0m.env"), "{out}");
    assert!(out.contains(r"bidi\u{202e}vne.txt"), "{out}");
    assert!(out.contains(r"new\u{a}line.env"), "{out}");
    assert!(err.contains(r"skipped: committed/big\u{1b}[5mblink.txt"), "{err}");
    assert!(err.contains(r"committed/dangling\u{1b}[41m"), "{err}");
    let (_, out, _) = output(d, &["scan", "--history-only", "--color", "never"]);
    assert!(out.contains(r"Mallory \u{1b}[2J\u{9b}H"), "{out}");
    assert!(out.contains(r"subject \u{1b}[31mred\u{1b}[0m \u{202e}x"), "{out}");

    // With colour, the only escapes are keytrail's own colour codes.
    for args in [&["scan", "--max-file-size", "1K"][..], &["hook", "pre-commit"]] {
        let (code, out, err) = output(d, &[args, &["--color", "always"][..]].concat());
        assert_eq!(code, 1, "{err}");
        assert_only_own_colours(&format!("{args:?} stdout"), &out);
        if args[0] == "hook" {
            assert_only_own_colours(&format!("{args:?} stderr"), &err);
        }
    }

    // `inventory sync` names each secret's place in a comment of a file people review.
    let (code, _, err) = output(d, &["inventory", "sync"]);
    assert_eq!(code, 0, "{err}");
    let inventory = std::fs::read_to_string(d.join(".keytrail/inventory.toml")).unwrap();
    assert!(inventory.contains(r"new\u{a}line.env"), "{inventory}");
    assert_no_control("inventory sync", &inventory);

    // Debug logs, dependencies' lines included, are escaped too.
    let out = keytrail().args(["scan", "--color", "never"]).current_dir(d).env("RUST_LOG", "trace").output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("[DEBUG "), "{err}");
    assert_no_control("RUST_LOG=trace stderr", &err);
}

#[test]
fn the_hook_message_offers_an_ignore_line_that_matches_the_hostile_path() {
    let repo = hostile_repo();
    let (code, _, err) = output(repo.path(), &["hook", "pre-commit", "--color", "never"]);
    assert_eq!(code, 1, "{err}");
    assert_no_control("hook stderr", &err);
    // The controls are `?` in the glob, which matches them.
    assert!(err.contains("staged/esc?[[]31mred?[[]0m.env"), "{err}");
    let lines: Vec<&str> = err.lines().filter_map(|l| l.trim().strip_prefix("echo '")).collect();
    assert_eq!(lines.len(), HOSTILE_NAMES.len(), "{err}");
    let ignore: String = lines.iter().map(|l| format!("{}\n", l.split('\'').next().unwrap())).collect();
    write(repo.path(), ".keytrailignore", ignore);
    let (code, _, err) = output(repo.path(), &["hook", "pre-commit"]);
    assert_eq!(code, 0, "every offered line must silence its finding:\n{err}");
}

/// RFC 3986 `relative-part` with only unreserved characters, `/` and percent-encoded bytes.
fn is_plain_uri_path(uri: &str) -> bool {
    let b = uri.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() => i += 3,
            c if c.is_ascii_alphanumeric() || b"-._~/".contains(&c) => i += 1,
            _ => return false,
        }
    }
    true
}

fn percent_decode(uri: &str) -> Vec<u8> {
    let b = uri.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&uri[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn sarif_locations_are_uri_references_that_decode_to_the_path() {
    let repo = hostile_repo();
    let (code, out, err) = output(repo.path(), &["scan", "-q", "--format", "sarif"]);
    assert_eq!(code, 1, "{err}");
    let sarif: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (_, json, _) = output(repo.path(), &["scan", "-q", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let paths: Vec<&str> = json["findings"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), paths.len());
    for (r, path) in results.iter().zip(&paths) {
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().unwrap();
        assert!(is_plain_uri_path(uri), "{uri:?} is not a plain relative URI for {path:?}");
        assert_eq!(percent_decode(uri), path.as_bytes(), "{uri}");
    }
    for name in HOSTILE_NAMES {
        assert!(paths.contains(&format!("committed/{name}").as_str()), "{name:?} not found");
    }
    assert!(is_plain_uri_path("a/b%20c") && !is_plain_uri_path("a b") && !is_plain_uri_path("a%2"));
}

/// `line` split into cells as GitHub does: on every pipe not escaped by a backslash, whatever
/// code spans say.
fn cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let cell = cells.last_mut().unwrap();
                cell.push(c);
                cell.extend(chars.next());
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells
}

/// `s` without its code spans (single backticks, which is all keytrail writes).
fn outside_code(s: &str) -> String {
    s.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

#[test]
fn markdown_cells_hold_hostile_names_as_text() {
    let repo = hostile_repo();
    let base = "https://github.com/acme/app";
    let (code, md, err) = output(repo.path(), &["scan", "-q", "--format", "markdown", "--link-base", base]);
    assert_eq!(code, 1, "{err}");
    assert_no_control("markdown", &md);
    let mut rows = 0;
    let mut header_cells = 0;
    for line in md.lines() {
        if line.starts_with("| severity |") {
            header_cells = cells(line).len();
        } else if header_cells > 0 && line.starts_with("| ") {
            rows += 1;
            assert_eq!(cells(line).len(), header_cells, "a name broke the row into other columns:\n{line}");
            // Link targets are not parsed for emphasis or HTML; they are checked below.
            let code_free = outside_code(line);
            let outside = code_free.split("](").map(|part| part.split_once(')').map_or(part, |(_, after)| after));
            let outside: String = outside.collect::<Vec<_>>().join(" ");
            for bad in ["<", ">", "javascript:", "](javascript", "*star*", "_under_"] {
                assert!(!outside.contains(bad), "{bad:?} outside a code span:\n{line}");
            }
            // The only link is keytrail's own, to an encoded path.
            let targets: Vec<&str> = code_free.split("](").skip(1).collect();
            assert_eq!(targets.len(), 1, "{line}");
            let target = targets[0].split(')').next().unwrap();
            assert!(target.starts_with(&format!("{base}/blob/")), "{target}");
            assert!(is_plain_uri_path(&target[base.len()..].replace("#L", "/")), "{target}");
        } else if header_cells > 0 && !line.starts_with("|---") {
            header_cells = 0;
        }
    }
    assert!(rows >= 2 * HOSTILE_NAMES.len(), "{rows} rows:\n{md}");
    for shown in ["<img src=x onerror=alert(1)>.env", "[x](javascript:alert(1)).env", r"back\u{5c}\|slash.env"] {
        assert!(md.contains(&format!("`committed/{shown}:2`")), "{shown} not in a code span:\n{md}");
    }
}
