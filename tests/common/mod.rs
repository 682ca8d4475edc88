//! Fake credentials built at test time (never committed), and helpers to run the real binary.
#![allow(dead_code)]
use std::path::Path;

use assert_cmd::Command;

/// A small deterministic generator, so snapshots are stable without any secret in the source.
pub struct Fake(u64);

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl Fake {
    pub fn new(seed: u64) -> Fake {
        Fake(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char).collect()
    }

    pub fn alnum(&mut self, n: usize) -> String {
        self.chars(ALNUM, n)
    }

    /// A `ghp_` token with a valid CRC32 checksum.
    pub fn github_pat(&mut self) -> String {
        let body = self.alnum(30);
        let check = keytrail::matcher::checksum::base62_crc32(body.as_bytes());
        format!("ghp_{body}{}", std::str::from_utf8(&check).unwrap())
    }

    /// A `ghp_` token whose checksum is wrong.
    pub fn github_pat_bad_checksum(&mut self) -> String {
        let mut t = self.github_pat().into_bytes();
        t[10] = if t[10] == b'a' { b'b' } else { b'a' };
        String::from_utf8(t).unwrap()
    }

    pub fn aws_key_id(&mut self) -> String {
        format!("AKIA{}", self.chars(UPPER32, 16))
    }

    pub fn aws_secret(&mut self) -> String {
        self.chars(B64, 40)
    }

    pub fn stripe_live(&mut self) -> String {
        format!("sk_{}_{}", "live", self.alnum(32))
    }

    pub fn slack_bot(&mut self) -> String {
        let a: String = self.chars(b"0123456789", 12);
        let b: String = self.chars(b"0123456789", 13);
        format!("xoxb-{a}-{b}-{}", self.alnum(24))
    }

    pub fn password(&mut self) -> String {
        format!("{}#{}9", self.alnum(12), self.alnum(4))
    }

    pub fn pem_private_key(&mut self) -> String {
        // DER-encoded keys open with a SEQUENCE header, so real bodies start with `MII`.
        let mut lines: Vec<String> = (0..6).map(|_| self.chars(B64, 64)).collect();
        lines[0].replace_range(..16, "MIIEowIBAAKCAQEA");
        format!("-----BEGIN {}-----\n{}\n-----END RSA PRIVATE KEY-----\n", "RSA PRIVATE KEY", lines.join("\n"))
    }
}

pub fn keytrail() -> Command {
    let mut cmd = Command::cargo_bin("keytrail").unwrap();
    cmd.env_remove("NO_COLOR").env("RUST_BACKTRACE", "0");
    cmd
}

/// Runs keytrail in `dir`: exit status (-1 if killed), stdout and stderr.
pub fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = keytrail().args(args).current_dir(dir).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

pub fn write(dir: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A small project with one secret of several kinds, each in its natural place.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub secrets: Vec<String>,
}

pub fn project() -> Project {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fake::new(7);
    let gh = f.github_pat();
    let (key_id, key_secret) = (f.aws_key_id(), f.aws_secret());
    let stripe = f.stripe_live();
    let slack = f.slack_bot();
    let db_password = f.password();
    let pem = f.pem_private_key();
    let d = dir.path();
    write(d, ".github/workflows/release.yml", format!("jobs:\n  release:\n    env:\n      GH_TOKEN: {gh}\n"));
    write(
        d,
        "config/aws.ini",
        format!("[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {key_secret}\n"),
    );
    write(d, "src/billing.py", format!("import stripe\n\nstripe.api_key = \"{stripe}\"\n"));
    write(
        d,
        "deploy/.env",
        format!("SLACK_BOT_TOKEN={slack}\nDATABASE_URL=postgres://billing:{db_password}@db.internal:5432/billing\n"),
    );
    write(d, "keys/deploy_key.pem", &pem);
    write(d, "README.md", "Nothing secret here. Set GH_TOKEN=${GH_TOKEN} in CI.\n");
    let secrets = vec![gh, key_id, key_secret, stripe, slack, db_password, pem.lines().nth(1).unwrap().to_string()];
    Project { dir, secrets }
}

/// `git` in `dir` with a fixed author, committer and date, and no user or system config.
pub fn git_cmd(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Ada Dev")
        .env("GIT_AUTHOR_EMAIL", "ada@example.test")
        .env("GIT_COMMITTER_NAME", "Ada Dev")
        .env("GIT_COMMITTER_EMAIL", "ada@example.test")
        .env("GIT_AUTHOR_DATE", "2025-03-01T12:00:00+01:00")
        .env("GIT_COMMITTER_DATE", "2025-03-01T12:00:00+01:00")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    cmd
}

/// Runs `git ARGS` in `dir`, failing the test if it fails; returns its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A new repository with `main` as its branch.
pub fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    dir
}

/// Commits everything in `dir`; returns the new commit's sha.
pub fn commit_all(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// `keytrail scan -q --format json EXTRA…` in `dir`, which must exit 0 or 1.
pub fn scan_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = keytrail().args(["scan", "-q", "--format", "json"]).args(extra).current_dir(dir).output().unwrap();
    assert!(out.status.code().unwrap() <= 1, "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn findings(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["findings"].as_array().unwrap().clone()
}

/// How long a scan of hostile input may run before it counts as hung: far beyond what any of
/// them needs, so only a hang reaches it.
pub const HANG: std::time::Duration = std::time::Duration::from_secs(120);

/// One run of `keytrail scan --format json` with the stderr summary on (no `-q`).
pub struct ScanRun {
    pub code: i32,
    pub json: serde_json::Value,
    pub stderr: String,
}

impl ScanRun {
    pub fn findings(&self) -> Vec<serde_json::Value> {
        findings(&self.json)
    }

    pub fn errors(&self) -> Vec<serde_json::Value> {
        self.json["errors"].as_array().unwrap().clone()
    }

    pub fn skipped(&self) -> Vec<serde_json::Value> {
        self.json["skipped"].as_array().unwrap().clone()
    }

    /// Lines of stderr that report an error.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.starts_with("error")).collect()
    }

    /// Lines of stderr that report something passed over.
    pub fn skipped_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.starts_with("skipped")).collect()
    }

    /// Paths of the findings, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut p: Vec<String> =
            self.findings().iter().map(|f| f["path"].as_str().unwrap_or_default().to_string()).collect();
        p.sort();
        p
    }
}

/// `keytrail scan --format json EXTRA…` in `dir`, held to what every scan of hostile input must
/// show: it ends (within [`HANG`]), does not panic, exits 0, 1 or 2, and writes JSON.
pub fn scan_run(dir: &Path, extra: &[&str]) -> ScanRun {
    scan_with(keytrail(), dir, extra)
}

/// [`scan_run`] with a prepared command (one with resource limits, say).
pub fn scan_with(mut cmd: Command, dir: &Path, extra: &[&str]) -> ScanRun {
    let out = cmd
        .args(["scan", "--format", "json", "--color", "never"])
        .args(extra)
        .current_dir(dir)
        .timeout(HANG)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    let code = out.status.code().unwrap_or_else(|| panic!("killed by a signal (hung, or aborted): {stderr}"));
    assert!(!stderr.contains("panicked"), "keytrail panicked: {stderr}");
    assert!((0..=2).contains(&code), "exit {code}: {stderr}");
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    ScanRun { code, json, stderr }
}

/// The first file of `repo`'s pack directory whose name ends in `.ext` (`pack` or `idx`).
pub fn pack_file(repo: &Path, ext: &str) -> std::path::PathBuf {
    std::fs::read_dir(repo.join(".git/objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == ext))
        .unwrap_or_else(|| panic!("no .{ext} file in {}", repo.display()))
}

pub fn loose_object_path(repo: &Path, oid: &str) -> std::path::PathBuf {
    repo.join(".git/objects").join(&oid[..2]).join(&oid[2..])
}

/// Overwrites a loose object with bytes that are not zlib.
pub fn corrupt_loose_object(repo: &Path, oid: &str) {
    let path = loose_object_path(repo, oid);
    assert!(path.is_file(), "{} is not a loose object", path.display());
    make_writable(&path);
    std::fs::write(&path, b"this is not a zlib stream, just garbage\n").unwrap();
}

/// git writes objects and packs read-only.
pub fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    perms.set_mode(perms.mode() | 0o200);
    std::fs::set_permissions(path, perms).unwrap();
}

/// Ways a loose object's file gets damaged.
#[derive(Clone, Copy, Debug)]
pub enum LooseDamage {
    /// Replaced by bytes that are not zlib at all.
    Garbage,
    /// Four bytes in the middle of its zlib stream overwritten.
    Overwritten,
    /// Cut in half.
    Truncated,
}

pub fn damage_loose_object(repo: &Path, oid: &str, damage: LooseDamage) {
    let path = loose_object_path(repo, oid);
    make_writable(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    match damage {
        LooseDamage::Garbage => return corrupt_loose_object(repo, oid),
        LooseDamage::Overwritten => {
            let mid = bytes.len() / 2;
            bytes[mid - 2..mid + 2].copy_from_slice(&[0xff; 4]);
        }
        LooseDamage::Truncated => bytes.truncate(bytes.len() / 2),
    }
    std::fs::write(&path, bytes).unwrap();
}
