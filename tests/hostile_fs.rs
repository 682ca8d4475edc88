//! Files, file names, settings and rules made to hurt, each run through the real binary. Every run
//! must end: no panic, a message on stderr naming what was skipped or unreadable, the rest of the
//! tree still scanned (a secret planted beside the bad input is still found), and the documented
//! exit status: 0 nothing found, 1 findings, 2 an error and nothing found (or bad settings, which
//! stop the scan before it starts).
#![cfg(unix)]
mod common;

use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{keytrail, write, Fake};
use serde_json::Value;

/// Far beyond any scan here: only a keytrail blocked on a FIFO or a device ever reaches it. It is
/// a guard against hanging the suite, not a timing check.
const HANG: Duration = Duration::from_secs(120);

/// One finished run of keytrail.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Checks what every run must satisfy, whatever it was given.
    fn new(out: std::process::Output) -> Run {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code().unwrap_or(-1);
        assert_ne!(code, -1, "keytrail was killed: blocked for {HANG:?}, or died on a signal\n{stderr}");
        assert!(!stderr.contains("panicked"), "keytrail panicked:\n{stderr}");
        assert!((0..=2).contains(&code), "exit status {code} is none of 0, 1, 2:\n{stderr}");
        Run { code, stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }

    /// Where `secret` was found, as (path, line); needs `--show-secrets`.
    fn located(&self, secret: &str) -> Vec<(String, u64)> {
        let json = self.json();
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["secret"] == secret)
            .map(|f| (f["path"].as_str().unwrap().to_string(), f["line"].as_u64().unwrap()))
            .collect()
    }

    fn stat(&self, name: &str) -> u64 {
        self.json()["stats"][name].as_u64().unwrap()
    }

    fn assert_stderr(&self, needle: &str) {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", self.stderr);
    }
}

/// `keytrail ARGS` in `dir`.
fn run_in(dir: &Path, args: &[&OsStr]) -> Run {
    Run::new(keytrail().args(args).current_dir(dir).timeout(HANG).output().unwrap())
}

/// `keytrail scan --format json --show-secrets ARGS` in `dir`.
fn scan(dir: &Path, args: &[&str]) -> Run {
    let mut all: Vec<&OsStr> = ["scan", "--format", "json", "--show-secrets"].map(OsStr::new).to_vec();
    all.extend(args.iter().map(OsStr::new));
    run_in(dir, &all)
}

fn keytrail_in(dir: &Path, args: &[&str]) -> Run {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    run_in(dir, &args)
}

fn secret(seed: u64) -> String {
    Fake::new(seed).github_pat()
}

fn token_line(secret: &str) -> String {
    format!("GITHUB_TOKEN={secret}\n")
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A folder in memory where there is one (`/dev/shm`), for trees of very many files: creating
/// them on a disk can take far longer than scanning them.
fn memory_tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempdir())
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// git's rule, which keytrail follows: a NUL in the first 8 KiB makes a file binary, and binary
/// files are counted, not matched. A NUL further in does not: the text after it is scanned.
#[test]
fn a_nul_past_the_first_8_kib_hides_nothing() {
    let dir = tempdir();
    let d = dir.path();
    let (late, early) = (secret(1), secret(2));
    let mut bytes = b"# filler\n".repeat(1000);
    assert_eq!(bytes.len(), 9000);
    bytes.push(0);
    bytes.extend_from_slice(format!("\n{}", token_line(&late)).as_bytes());
    write(d, "late-nul.txt", &bytes);
    let mut binary = b"# filler\n".repeat(10);
    binary.push(0);
    binary.extend_from_slice(format!("\n{}", token_line(&early)).as_bytes());
    write(d, "early-nul.bin", &binary);

    let run = scan(d, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.located(&late), [("late-nul.txt".to_string(), 1002)]);
    assert!(run.located(&early).is_empty(), "a NUL in the first 8 KiB makes a file binary");
    assert_eq!(run.stat("skipped_binary"), 1);
}

#[test]
fn invalid_utf8_around_a_secret() {
    let dir = tempdir();
    let s = secret(3);
    // Overlong, truncated, surrogate and out-of-range sequences, and a lone continuation byte; the
    // secret is flanked by invalid bytes with no space between.
    let mut bytes = b"caf\xe9 \xc0\xaf \xed\xa0\x80 \xf8\x88\x80\x80\x80\n".to_vec();
    bytes.extend_from_slice(b"GITHUB_TOKEN=\xff");
    bytes.extend_from_slice(s.as_bytes());
    bytes.extend_from_slice(b"\xfe\x80\xc3\n\xe2\x82\n");
    write(dir.path(), "mixed.env", &bytes);

    let run = scan(dir.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.located(&s), [("mixed.env".to_string(), 2)]);
}

#[test]
fn utf16_with_and_without_a_byte_order_mark() {
    let dir = tempdir();
    let d = dir.path();
    let mut expected = Vec::new();
    for (seed, name, little, bom) in [
        (10, "le-bom.env", true, true),
        (11, "le.env", true, false),
        (12, "be-bom.env", false, true),
        (13, "be.env", false, false),
    ] {
        let s = secret(seed);
        let text = format!("# written by a Windows tool\r\n{}", token_line(&s));
        let mut bytes = Vec::new();
        if bom {
            bytes.extend_from_slice(if little { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] });
        }
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&if little { unit.to_le_bytes() } else { unit.to_be_bytes() });
        }
        write(d, name, &bytes);
        expected.push((s, name));
    }

    let run = scan(d, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = run.json();
    for (s, name) in expected {
        assert_eq!(run.located(&s), [(name.to_string(), 2)], "{name}");
        let finding = json["findings"].as_array().unwrap().iter().find(|f| f["secret"] == s.as_str()).unwrap();
        assert_eq!(finding["encoding"], "utf16", "{name}");
    }
}

/// FIFOs, sockets and devices would block a read or never end one: they are named and passed
/// over, in a tree and as roots named on the command line.
#[test]
fn fifos_sockets_and_devices_are_skipped_by_name_and_never_opened() {
    let dir = tempdir();
    let d = dir.path();
    let s = secret(20);
    write(d, "app.env", token_line(&s));
    let fifo = d.join("pipe");
    assert_eq!(unsafe { libc::mkfifo(c_path(&fifo).as_ptr(), 0o644) }, 0, "{}", std::io::Error::last_os_error());
    let _socket = std::os::unix::net::UnixListener::bind(d.join("app.sock")).unwrap();
    // A node of /dev/zero's kind: read, it would never end. Creating one takes CAP_MKNOD.
    let device = d.join("zero");
    let made = unsafe { libc::mknod(c_path(&device).as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 5)) } == 0;
    if !made {
        eprintln!(
            "note: mknod is not permitted here ({}): no character device inside the tree; /dev/zero as a root still is one",
            std::io::Error::last_os_error()
        );
    }

    let run = scan(d, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.located(&s), [("app.env".to_string(), 1)]);
    run.assert_stderr("skipped: pipe: not a regular file");
    run.assert_stderr("skipped: app.sock: not a regular file");
    if made {
        run.assert_stderr("skipped: zero: not a regular file");
    }

    for root in ["pipe", "/dev/null", "/dev/zero"] {
        let run = scan(d, &[root]);
        assert_eq!(run.code, 0, "{root}: {}", run.stderr);
        run.assert_stderr(&format!("skipped: {root}: not a regular file"));
    }
}

/// A thread rewrites, truncates, deletes and recreates files and a folder while scans run.
/// Whatever a scan meets (a file gone between listing and reading, one shorter than listed), it
/// ends with a sane status, names only those files in its errors, and finds the secret that stays
/// put. (No hook lets a test delete a file exactly between the walk and the read; the churn makes
/// it likely instead.)
#[test]
fn files_that_vanish_or_shrink_during_the_scan() {
    let dir = tempdir();
    let d = dir.path().to_path_buf();
    let stable = secret(30);
    write(&d, "stable/app.env", token_line(&stable));
    let churn = d.join("churn");
    // Long enough to be read in several calls, so a file can shrink under a read in progress.
    let mut moving = "# filler line\n".repeat(5000);
    moving.push_str(&token_line(&secret(31)));
    let names: Vec<PathBuf> = (0..200).map(|i| churn.join(format!("sub{}/f{i}.env", i % 4))).collect();
    for n in &names {
        write(&d, n.strip_prefix(&d).unwrap().to_str().unwrap(), &moving);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let stop = stop.clone();
        let churn = churn.clone();
        std::thread::spawn(move || {
            let mut round = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for (i, n) in names.iter().enumerate() {
                    let _ = match (round + i) % 4 {
                        0 => fs::write(n, &moving),
                        1 => File::options().write(true).open(n).and_then(|f| f.set_len(7)),
                        2 => fs::remove_file(n),
                        _ => fs::create_dir_all(n.parent().unwrap()).and_then(|_| fs::write(n, "short\n")),
                    };
                }
                if round % 8 == 7 {
                    let _ = fs::remove_dir_all(churn.join("sub3"));
                }
                round += 1;
            }
        })
    };
    for _ in 0..3 {
        let run = scan(&d, &["--threads", "2"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(run.located(&stable), [("stable/app.env".to_string(), 1)]);
        for e in run.json()["errors"].as_array().unwrap() {
            assert!(e["path"].as_str().unwrap().starts_with("churn/"), "an error outside the churn: {e}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    churner.join().unwrap();
}

/// Runs the binary as an unprivileged user when the tests run as root (CI containers), whom file
/// permissions do not stop; `bin` is a folder the binary is linked into so that user can run it.
fn unprivileged(bin: &Path, home: &Path) -> assert_cmd::Command {
    if unsafe { libc::geteuid() } != 0 {
        return keytrail();
    }
    let linked = bin.join("keytrail");
    if !linked.exists() {
        let program = PathBuf::from(keytrail().get_program());
        if fs::hard_link(&program, &linked).is_err() {
            fs::copy(&program, &linked).unwrap();
        }
        fs::set_permissions(bin, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&linked, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let probe = std::process::Command::new("setpriv").arg("--version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "running as root, where permissions are not enforced: `setpriv` (util-linux) is needed to check unreadable files"
    );
    let mut cmd = assert_cmd::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&linked)
        .env_remove("NO_COLOR")
        .env("RUST_BACKTRACE", "0")
        .env("HOME", home);
    cmd
}

#[test]
fn unreadable_files_and_directories_are_errors_by_name() {
    let dir = tempdir();
    let bin = tempdir();
    let d = dir.path();
    let (readable, locked, hidden) = (secret(40), secret(41), secret(42));
    write(d, "ok.env", token_line(&readable));
    write(d, "locked.env", token_line(&locked));
    write(d, "closed/inner.env", token_line(&hidden));
    fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(d.join("locked.env"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(d.join("closed"), fs::Permissions::from_mode(0o000)).unwrap();

    let scan_as_user = |args: &[&str]| {
        let mut cmd = unprivileged(bin.path(), d);
        cmd.args(["scan", "--format", "json", "--show-secrets"]).args(args).current_dir(d).timeout(HANG);
        Run::new(cmd.output().unwrap())
    };
    let run = scan_as_user(&[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.located(&readable), [("ok.env".to_string(), 1)]);
    assert!(run.located(&locked).is_empty() && run.located(&hidden).is_empty(), "permissions were not enforced");
    run.assert_stderr("error: locked.env: Permission denied");
    run.assert_stderr("error: closed: Permission denied");
    assert_eq!(run.stat("unreadable"), 2);

    let run = scan_as_user(&["locked.env", "closed"]);
    assert_eq!(run.code, 2, "nothing found and inputs unreadable: {}", run.stderr);
    run.assert_stderr("error: locked.env: Permission denied");
    run.assert_stderr("error: closed: Permission denied");

    // Without this, a test run by a user other than root could not delete the tree.
    fs::set_permissions(d.join("closed"), fs::Permissions::from_mode(0o755)).unwrap();
}

/// Symlinks in the tree are never followed: a loop cannot trap the walk, and a link leading out of
/// the tree cannot make a scanned repository read the scanning machine. A root named on the
/// command line is followed, and named like the folder it leads to.
#[test]
fn symlinks_loops_outside_and_dangling() {
    use std::os::unix::fs::symlink;
    let base = tempdir();
    let b = base.path();
    let (inside, outside) = (secret(50), secret(51));
    write(b, "tree/app.env", token_line(&inside));
    write(b, "outside/credentials.env", token_line(&outside));
    let t = b.join("tree");
    symlink("loop-b", t.join("loop-a")).unwrap();
    symlink("loop-a", t.join("loop-b")).unwrap();
    symlink("self", t.join("self")).unwrap();
    symlink(".", t.join("here")).unwrap();
    symlink("../outside/credentials.env", t.join("out-file")).unwrap();
    symlink(b.join("outside"), t.join("out-dir")).unwrap();
    symlink("does-not-exist", t.join("dangling")).unwrap();
    symlink("tree", b.join("tree-link")).unwrap();

    let run = scan(&t, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.located(&inside), [("app.env".to_string(), 1)]);
    assert!(run.located(&outside).is_empty(), "a symlink out of the tree was followed");
    for line in [
        "skipped: loop-a: symlink loop (to loop-b)",
        "skipped: loop-b: symlink loop (to loop-a)",
        "skipped: self: symlink loop (to self)",
        "skipped: out-file: symlink to outside the scanned tree, not followed",
        "skipped: out-dir: symlink to outside the scanned tree, not followed",
        "skipped: dangling: broken symlink (to does-not-exist)",
    ] {
        run.assert_stderr(line);
    }
    assert_eq!(run.stat("skipped_symlinks"), 7);

    let run = scan(b, &["tree-link"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.located(&inside), [("app.env".to_string(), 1)]);
    fs::create_dir(b.join("other")).unwrap();
    let run = scan(b, &["tree-link", "other"]);
    assert_eq!(run.located(&inside), [("tree-link/app.env".to_string(), 1)]);
    assert!(run.located(&outside).is_empty(), "a symlink out of the tree was followed");
}

#[test]
fn a_hundred_thousand_files_in_one_directory() {
    let dir = memory_tempdir();
    let many = dir.path().join("many");
    fs::create_dir(&many).unwrap();
    for i in 0..100_000 {
        fs::write(many.join(format!("f{i:06}.txt")), "nothing to see\n").unwrap();
    }
    let s = secret(60);
    fs::write(many.join("f054321.txt"), token_line(&s)).unwrap();

    let run = scan(dir.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.located(&s), [("many/f054321.txt".to_string(), 1)]);
    assert_eq!(run.stat("files"), 100_000);
}

/// Makes `depth` nested folders called `name` under `base`, and `file` holding `content` at the
/// bottom, through directory descriptors: the full path may be longer than the system allows.
fn nested_at(base: &Path, name: &str, depth: usize, file: &str, content: &[u8]) {
    let name = CString::new(name).unwrap();
    let mut dir = File::open(base).unwrap();
    for _ in 0..depth {
        assert_eq!(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) }, 0);
        let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
        assert!(fd >= 0, "{}", std::io::Error::last_os_error());
        dir = unsafe { File::from_raw_fd(fd) };
    }
    let file = CString::new(file).unwrap();
    let fd = unsafe { libc::openat(dir.as_raw_fd(), file.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o644) };
    assert!(fd >= 0, "{}", std::io::Error::last_os_error());
    unsafe { File::from_raw_fd(fd) }.write_all(content).unwrap();
}

#[test]
fn a_300_deep_directory_chain() {
    let dir = tempdir();
    let s = secret(70);
    nested_at(dir.path(), "d", 300, "deep.env", token_line(&s).as_bytes());
    let run = scan(dir.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.located(&s), [(format!("{}deep.env", "d/".repeat(300)), 1)]);
}

/// A chain whose full path is longer than PATH_MAX (4096 bytes on Linux) cannot be opened by
/// path: its bottom is reported as unreadable, never passed over in silence, and the rest of the
/// tree is scanned.
#[test]
fn a_chain_deeper_than_path_max_is_reported_not_skipped() {
    let dir = tempdir();
    let (deep, shallow) = (secret(71), secret(72));
    let name = "n".repeat(100);
    nested_at(dir.path(), &name, 60, "deep.env", token_line(&deep).as_bytes());
    write(dir.path(), "shallow.env", token_line(&shallow));

    let run = scan(dir.path(), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.located(&shallow), [("shallow.env".to_string(), 1)]);
    run.assert_stderr("File name too long");
    let errors = run.json()["errors"].as_array().unwrap().clone();
    assert!(errors.iter().any(|e| e["path"].as_str().unwrap().starts_with(&format!("{name}/{name}/"))), "{errors:?}");
}

/// Names with line breaks, terminal controls, bytes that are not UTF-8 and a leading dash are
/// scanned like any other, and JSON names each one without loss: control characters as JSON
/// escapes, bytes that are not UTF-8 as `\xNN` (see `keytrail::source::fs::path_string`).
#[test]
fn hostile_file_names_are_scanned_and_named_exactly() {
    let dir = tempdir();
    let d = dir.path();
    let cases: [(&[u8], &str); 7] = [
        (b"new\nline.env", "new\nline.env"),
        (b"ctl-\x1b[31m-\x07-\r.env", "ctl-\u{1b}[31m-\u{7}-\r.env"),
        (b"bad-\xff\xfe.env", "bad-\\xff\\xfe.env"),
        (b"twin-\xff.env", "twin-\\xff.env"),
        (b"twin-\xfe.env", "twin-\\xfe.env"),
        (b"dir-\xc3/inner.env", "dir-\\xc3/inner.env"),
        (b"-x", "-x"),
    ];
    let mut planted = Vec::new();
    for (i, (raw, shown)) in cases.iter().enumerate() {
        let path = d.join(OsStr::from_bytes(raw));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let s = secret(80 + i as u64);
        fs::write(&path, token_line(&s)).unwrap();
        planted.push((s, *shown));
    }

    let run = scan(d, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for (s, shown) in &planted {
        assert_eq!(run.located(s), [(shown.to_string(), 1)], "{shown:?}");
    }
    assert_eq!(run.stat("unreadable"), 0, "{}", run.stderr);

    let dash = &planted.last().unwrap().0;
    let run = scan(d, &["--", "-x"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.located(dash), [("-x".to_string(), 1)]);

    let text = keytrail_in(d, &["scan"]);
    assert_eq!(text.code, 1, "{}", text.stderr);
}

/// A rule whose regex would compile to more than the size limit is refused with its file and id,
/// quickly and without the memory it asks for, whether it comes from a rule file or the settings.
#[test]
fn a_huge_user_regex_is_refused_by_file_and_rule() {
    let words: Vec<String> = (0..300).map(|i| format!("{}{i}", (b'a' + (i % 26) as u8) as char)).collect();
    let cases = [
        ("huge-alternation", format!("(?P<secret>acme_(?:{}){{1000}})", words.join("|"))),
        ("huge-repetition", r"(?P<secret>acme_\w{5000}{5000})".to_string()),
    ];
    for (id, regex) in cases {
        let dir = tempdir();
        let d = dir.path();
        let rule = format!(
            "[[rule]]\nid = \"{id}\"\nname = \"Acme key\"\ndescription = \"d\"\nprovider = \"acme\"\n\
             nhi_kind = \"api_key\"\nkeywords = [\"acme_\"]\nregex = '''{regex}'''\n\
             examples = [\"k = acme_x\"]\nnegative_examples = [\"nothing\"]\n"
        );
        write(d, "rules.toml", &rule);
        write(d, ".keytrail.toml", format!("# settings\n{rule}"));
        write(d, "app.env", token_line(&secret(90)));
        let expected = format!("rule `{id}`: regex: compiles to more than");

        let run = keytrail_in(d, &["rules", "check", "rules.toml"]);
        assert_eq!(run.code, 2, "{id}: {}", run.stderr);
        run.assert_stderr(&format!("rules.toml:1: {expected}"));
        let run = keytrail_in(d, &["rules", "check", "--config", ".keytrail.toml"]);
        assert_eq!(run.code, 2, "{id}: {}", run.stderr);
        run.assert_stderr(&format!(".keytrail.toml:2: {expected}"));
        let run = scan(d, &[]);
        assert_eq!(run.code, 2, "{id}: {}", run.stderr);
        run.assert_stderr(&format!(".keytrail.toml:2: {expected}"));
    }
}

/// Every setting given a value of the wrong type: the scan stops before it starts, naming the
/// file, the line and the key.
#[test]
fn settings_of_the_wrong_type_name_file_line_and_key() {
    let cases = [
        ("max_file_size = true", "2:17", "`max_file_size`: invalid type: boolean, expected a size: a whole number of bytes, or text such as"),
        ("max_file_size = -1", "2:17", "`max_file_size`: invalid value: integer, expected a size: a whole number of bytes, or text such as"),
        ("max_file_size = 1.5", "2:17", "`max_file_size`: invalid type: floating point, expected a size: a whole number of bytes, or text such as"),
        ("max_file_size = \"ten\"", "2:17", "max_file_size is not a size (try 10MiB, 512K or 1000000; units K, M, G, KiB, MiB, GiB, KB, MB or GB)"),
        ("inventory = 3", "2:13", "`inventory`: invalid type: integer, expected a file name, or a list of file names"),
        ("inventory = [\n  \"a.toml\",\n  3,\n]", "4:3", "`inventory[1]`: invalid type: integer, expected a string"),
        ("disable_rules = \"x\"", "2:17", "`disable_rules`: invalid type: string, expected a sequence"),
        ("disable_rules = [1]", "2:18", "`disable_rules[0]`: invalid type: integer, expected a string"),
        ("disable_rules = [\"no-such-rule\"]", "2", "rule `no-such-rule`: disable_rules names no built-in rule"),
        ("allowlist = 1", "2:13", "`allowlist`: invalid type: integer, expected a table of `paths`, `values` and `stopwords`"),
        ("[allowlist]\npaths = \"x\"", "3:9", "`allowlist.paths`: invalid type: string, expected a sequence"),
        ("[allowlist]\npaths = [\"[\"]", "3:10", "allowlist path glob `[` is invalid: error parsing glob '[': unclosed character class; missing ']'"),
        ("[allowlist]\nvalues = 1", "3:10", "`allowlist.values`: invalid type: integer, expected a sequence"),
        ("[allowlist]\nvalues = [\"(\"]", "3:11", "allowlist value regex `(` is invalid: regex parse error:"),
        ("[allowlist]\nstopwords = [true]", "3:14", "`allowlist.stopwords[0]`: invalid type: boolean, expected a string"),
        ("[allowlist]\ncolour = 1", "3:1", "unknown field `colour`, expected one of `paths`, `values`, `stopwords`"),
        ("rule = 1", "2:8", "`rule`: invalid type: integer, expected `[[rule]]` tables (a `[rule]` table is one table, not a list of them)"),
        ("[rule]\nid = \"x\"", "2:1", "`rule`: invalid type: map, expected `[[rule]]` tables (a `[rule]` table is one table, not a list of them)"),
        ("rule = [1]", "2:9", "`rule[0]`: invalid type: integer, expected a map"),
        ("stopwords = []", "2:1", "unknown field `stopwords`, expected one of `max_file_size`, `inventory`, `disable_rules`, `allowlist`, `rule`"),
        ("max_file_size = ", "2:17", "invalid string; expected `\"`, `'`"),
    ];
    let dir = tempdir();
    let d = dir.path();
    write(d, "app.env", token_line(&secret(100)));
    for (setting, line, message) in cases {
        write(d, ".keytrail.toml", format!("# settings\n{setting}\n"));
        let expected = format!(".keytrail.toml:{line}: {message}");
        let run = keytrail_in(d, &["rules", "check", "--config", ".keytrail.toml"]);
        assert_eq!(run.code, 2, "{setting}: {}", run.stderr);
        run.assert_stderr(&expected);
        let run = scan(d, &[]);
        assert_eq!(run.code, 2, "{setting}: {}", run.stderr);
        run.assert_stderr(&expected);
        assert_eq!(run.stdout, "", "nothing is scanned with settings in error");
    }
}

/// A rule with every field of the wrong type: each problem names the file, the rule's line and the
/// key, from a rule file and from the settings alike.
#[test]
fn rule_fields_of_the_wrong_type_name_each_key() {
    let rule = "[[rule]]\nid = \"wrong\"\nname = []\ndescription = {}\nprovider = 1.5\nnhi_kind = true\n\
                severity = 3\nkeywords = \"acme_\"\nkeyword_anywhere = \"yes\"\nrisks = [7]\nregex = 1\n\
                min_entropy = \"high\"\nchecksum = 1\ncompanion = 1\nexamples = [1]\nnegative_examples = 2\n";
    let expected = [
        "`name` must be a string, not array",
        "`description` must be a string, not table",
        "`provider` must be a string, not float",
        "`nhi_kind` must be a string, not boolean",
        "`severity` must be a string, not integer",
        "`keywords` must be an array of strings, not string",
        "`keyword_anywhere` must be true or false, not string",
        "`risks[0]` must be a string, not integer",
        "`regex` must be a string, not integer",
        "`min_entropy` must be a number, not string",
        "`checksum` must be a string, not integer",
        "`companion` must be a table",
        "`examples[0]` must be a string, not integer",
        "`negative_examples` must be an array of strings, not integer",
    ];
    let dir = tempdir();
    let d = dir.path();
    write(d, "rules.toml", rule);
    write(d, ".keytrail.toml", format!("# settings\n{rule}"));
    for (args, shown) in [
        (&["rules", "check", "rules.toml"][..], "rules.toml:1"),
        (&["rules", "check", "--config", ".keytrail.toml"][..], ".keytrail.toml:2"),
        (&["scan"][..], ".keytrail.toml:2"),
    ] {
        let run = keytrail_in(d, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        for message in expected {
            run.assert_stderr(&format!("{shown}: rule `wrong`: {message}"));
        }
    }
}

/// Bytes no text editor wrote: an executable's header, NULs, invalid UTF-8 and a terminal escape.
const GARBAGE: &[u8] = b"# looks like text\n\x7fELF\x02\x01\x01\x00\xff\xfe\x1b[2J\x07\x00\xc3\x28 garbage\n";

#[test]
fn rule_and_settings_files_that_are_not_utf8() {
    let dir = tempdir();
    let d = dir.path();
    write(d, "rules.toml", GARBAGE);
    let run = keytrail_in(d, &["rules", "check", "rules.toml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr("rules.toml:2: not UTF-8 text (invalid byte at offset 26)");

    write(d, ".keytrail.toml", GARBAGE);
    write(d, "app.env", token_line(&secret(110)));
    let run = scan(d, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr(".keytrail.toml:2:9: not UTF-8 text (invalid byte at offset 26)");
    let run = keytrail_in(d, &["rules", "check", "--config", ".keytrail.toml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr(".keytrail.toml:2:9: not UTF-8 text (invalid byte at offset 26)");
}

#[test]
fn an_inventory_that_is_not_utf8_or_has_wrong_types() {
    let dir = tempdir();
    let d = dir.path();
    write(d, "app.env", token_line(&secret(120)));
    write(d, ".keytrail/inventory.toml", GARBAGE);
    let run = scan(d, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr("the inventory is invalid; nothing was scanned");
    run.assert_stderr(".keytrail/inventory.toml:2: file is not valid UTF-8");

    write(
        d,
        ".keytrail/inventory.toml",
        "version = \"1\"\n\n[[identity]]\nid = 3\nkind = []\nowner = 1\nfingerprints = \"kt1:\"\ncreated = true\n",
    );
    let run = scan(d, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for line in [
        ".keytrail/inventory.toml:1: `version` must be the integer 1, found string",
        ".keytrail/inventory.toml:4: `id` must be a string, found integer",
        ".keytrail/inventory.toml:5: `kind` must be a string, found array",
        ".keytrail/inventory.toml:6: `owner` must be a string, found integer",
        ".keytrail/inventory.toml:7: `fingerprints` must be an array of strings, found string",
    ] {
        run.assert_stderr(line);
    }
}

#[test]
fn an_ignore_file_and_a_baseline_of_binary_garbage() {
    let dir = tempdir();
    let d = dir.path();
    write(d, "app.env", token_line(&secret(130)));
    write(d, ".keytrailignore", GARBAGE);
    let run = scan(d, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr(".keytrailignore:2:9: not UTF-8 text (invalid byte at offset 26)");

    // Valid UTF-8 that is still garbage: what is quoted back cannot drive the terminal.
    write(d, ".keytrailignore", "\u{1b}[2J\u{7}kt1:oops\n");
    let run = scan(d, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr(".keytrailignore:1:1: not a keytrail fingerprint (kt1: or kt1k: and 32 hex digits)");
    assert!(!run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{7}'), "{:?}", run.stderr);
    fs::remove_file(d.join(".keytrailignore")).unwrap();

    write(d, "baseline.toml", GARBAGE);
    let run = scan(d, &["--baseline", "baseline.toml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr("baseline.toml:2:9: not UTF-8 text (invalid byte at offset 26): not a baseline file");
    write(d, "baseline.toml", "version = 1\nfindings = [{ path = 1, fingerprint = \"kt1:\" }]\n");
    let run = scan(d, &["--baseline", "baseline.toml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr("baseline.toml:2:22: `findings[0].path`: invalid type: integer, expected a string");
}

/// Settings and baselines naming a device or a FIFO: an endless one is cut off at a bound instead
/// of filling memory, and a FIFO nobody writes to reads as empty instead of blocking.
#[test]
fn settings_files_that_are_devices_or_fifos() {
    let dir = tempdir();
    let d = dir.path();
    write(d, "app.env", token_line(&secret(140)));
    assert_eq!(unsafe { libc::mkfifo(c_path(&d.join("pipe.toml")).as_ptr(), 0o644) }, 0);

    let run = scan(d, &["--baseline", "/dev/zero"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr("cannot read baseline /dev/zero: longer than 128 MiB");
    let run = scan(d, &["--baseline", "pipe.toml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr("pipe.toml:1:1: missing field `version`");

    // Named with --config, settings are trusted to point anywhere (found in the tree, they may not).
    write(d, ".keytrail.toml", "inventory = [\"/dev/zero\", \"pipe.toml\"]\n");
    let run = scan(d, &["--config", ".keytrail.toml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr("/dev/zero:1: cannot read inventory file: longer than 128 MiB");
    run.assert_stderr("pipe.toml:1: missing `version = 1`");

    let run = keytrail_in(d, &["rules", "check", "pipe.toml", "/dev/zero"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr("pipe.toml: no `[[rule]]` tables");
    run.assert_stderr("cannot read rule file /dev/zero: longer than 128 MiB");
}

/// `keytrail scan --format json --show-secrets ARGS` in `dir`, reading files in windows of `window`
/// bytes (`KEYTRAIL_READ_WINDOW`).
fn scan_windowed(dir: &Path, window: &str, args: &[&str]) -> Run {
    let out = keytrail()
        .args(["scan", "--format", "json", "--show-secrets"])
        .args(args)
        .env("KEYTRAIL_READ_WINDOW", window)
        .current_dir(dir)
        .timeout(HANG)
        .output()
        .unwrap();
    Run::new(out)
}

/// A 2 GiB file of one line, over the default limit, is skipped by its size alone: it is never
/// read, so the file can be sparse. Its only real bytes are a secret at each end, which a read
/// would find (the first 8 KiB are text, so it would not pass for binary either); they must not
/// be reported. (Scanning 2 GiB with a raised limit is a matter of minutes in a debug build, so
/// that is measured by hand with a release build, not here.)
#[test]
fn a_2_gib_file_over_the_limit_is_skipped_by_its_size_unread() {
    use std::os::unix::fs::FileExt;
    let dir = tempdir();
    let d = dir.path();
    let (head, tail, beside) = (secret(150), secret(151), secret(152));
    let size: u64 = 2 << 30;
    let huge = File::create(d.join("huge.log")).unwrap();
    huge.set_len(size).unwrap();
    let mut start = format!("GITHUB_TOKEN={head} ").into_bytes();
    start.resize(16 << 10, b'a');
    huge.write_all_at(&start, 0).unwrap();
    let end = format!(" GITHUB_TOKEN={tail}\n");
    huge.write_all_at(end.as_bytes(), size - end.len() as u64).unwrap();
    drop(huge);
    write(d, "app.env", token_line(&beside));

    let run = scan(d, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.located(&beside), [("app.env".to_string(), 1)]);
    assert!(run.located(&head).is_empty() && run.located(&tail).is_empty(), "the 2 GiB file was read");
    run.assert_stderr("skipped: huge.log: 2 GiB is over the 10 MiB limit");
    assert_eq!(run.stat("skipped_too_large"), 1);

    let run = scan(d, &["huge.log"]);
    assert_eq!(run.code, 0, "skipped by its size is no error: {}", run.stderr);
    run.assert_stderr("skipped: huge.log: 2 GiB is over the 10 MiB limit");
}

/// Ten million short lines (20 MB, read in several windows) with a secret on the first and on the
/// last line, which has no line break after it: both found once, at their line numbers.
#[test]
fn ten_million_short_lines_keep_their_line_numbers() {
    let dir = tempdir();
    let d = dir.path();
    let (first, last) = (secret(160), secret(161));
    let mut bytes = token_line(&first).into_bytes();
    bytes.extend_from_slice(&b"x\n".repeat(10_000_000 - 2));
    bytes.extend_from_slice(format!("GITHUB_TOKEN={last}").as_bytes());
    write(d, "lines.txt", &bytes);

    for window in ["8M", "1M"] {
        let run = scan_windowed(d, window, &["--max-file-size", "64M"]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(run.located(&first), [("lines.txt".to_string(), 1)], "window {window}");
        assert_eq!(run.located(&last), [("lines.txt".to_string(), 10_000_000)], "window {window}");
        assert_eq!(run.stat("bytes"), bytes.len() as u64);
    }
}

/// Secrets packed so that window ends fall inside many of them, read through windows of a few KiB:
/// each is found exactly once, at the line and column it has in the whole file. Lines of varying
/// length (so each window ends at a different place in a line) and one long line (where no line
/// break lets the window end between secrets) in UTF-8, and the same lines in UTF-16.
#[test]
fn secrets_across_window_boundaries_are_found_once_in_place() {
    let dir = tempdir();
    let d = dir.path();
    let mut lines = String::new();
    let mut expected_lines = Vec::new();
    for i in 0..300u64 {
        let s = secret(1000 + i);
        let indent = " ".repeat((i * 7 % 23) as usize);
        lines.push_str(&format!("{indent}GITHUB_TOKEN={s}\n"));
        expected_lines.push((s, i + 1, indent.len() as u64 + 14));
    }
    write(d, "lines.env", &lines);
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in lines.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    write(d, "lines-utf16.env", &utf16);
    let mut one_line = String::new();
    let mut expected_columns = Vec::new();
    for i in 0..300u64 {
        let s = secret(2000 + i);
        one_line.push_str(&" ".repeat((i * 5 % 11) as usize));
        one_line.push_str("GITHUB_TOKEN=");
        expected_columns.push((s.clone(), one_line.len() as u64 + 1));
        one_line.push_str(&s);
        one_line.push(';');
    }
    write(d, "one-line.env", &one_line);

    for window in ["1K", "4K", "4099"] {
        let run = scan_windowed(d, window, &[]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let json = run.json();
        let found = json["findings"].as_array().unwrap();
        let at = |s: &str| -> Vec<(String, u64, u64)> {
            found
                .iter()
                .filter(|f| f["secret"] == s)
                .map(|f| {
                    let path = f["path"].as_str().unwrap().to_string();
                    (path, f["line"].as_u64().unwrap(), f["column"].as_u64().unwrap())
                })
                .collect()
        };
        for (s, line, column) in &expected_lines {
            let mut places = at(s);
            places.sort();
            let expected = [("lines-utf16.env".to_string(), *line, *column), ("lines.env".to_string(), *line, *column)];
            assert_eq!(places, expected, "window {window}, line {line}");
        }
        for (s, column) in &expected_columns {
            assert_eq!(at(s), [("one-line.env".to_string(), 1, *column)], "window {window}");
        }
        assert_eq!(found.len(), 900, "window {window}: no finding twice, none extra");
    }
}

/// A scanned tree's own settings cannot make keytrail read files elsewhere on the machine: not
/// through an inventory path leading out, nor by being a symlink. Named with flags, they can.
#[test]
fn settings_of_a_scanned_tree_stay_inside_it() {
    let outer = tempdir();
    let d = &outer.path().join("repo");
    write(&outer.path().join("outside"), "inventory.toml", "version = 1\n");
    write(d, "app.env", token_line(&secret(120)));
    for inventory in ["../outside/inventory.toml", "/etc/passwd"] {
        write(d, ".keytrail.toml", format!("inventory = \"{inventory}\"\n"));
        let run = scan(d, &[]);
        assert_eq!(run.code, 2, "{inventory}: {}", run.stderr);
        run.assert_stderr("names an inventory outside the scanned tree");
    }
    std::fs::remove_file(d.join(".keytrail.toml")).unwrap();
    write(&outer.path().join("outside"), "settings.toml", "max_file_size = 100\n");
    std::os::unix::fs::symlink(outer.path().join("outside/settings.toml"), d.join(".keytrail.toml")).unwrap();
    let run = scan(d, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_stderr(".keytrail.toml is a symlink");
    let named = outer.path().join("outside/settings.toml");
    let run = scan(d, &["--config", named.to_str().unwrap()]);
    assert_eq!(run.code, 1, "named with --config, it is read: {}", run.stderr);
}
