//! Command-line definitions and dispatch; the library does the work.

/// `eprintln!` through [`say`]: never panics, and quoted content cannot drive the terminal.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say(&format!($($arg)*))
    };
}

mod inventory;
mod progress;
mod rules;
mod scan;

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use keytrail::report::Format;

#[derive(Parser)]
#[command(
    name = "keytrail",
    version,
    about = "Find leaked credentials and the non-human identities they belong to",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan files for credentials.
    Scan(ScanArgs),
    /// List or validate detection rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Git hooks.
    #[command(subcommand)]
    Hook(HookCommand),
    /// Keep the lifecycle inventory of non-human identities in step with what is in the code.
    #[command(subcommand)]
    Inventory(inventory::InventoryCommand),
    /// Write a baseline: every finding of PATH accepted for now, for `scan --baseline` to leave
    /// out. Sorted, without secrets, lines or dates: an unchanged repository gives the same bytes.
    Baseline(BaselineArgs),
}

#[derive(clap::Args)]
struct BaselineArgs {
    /// Directory or file to scan.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Write the baseline to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Settings file (default: .keytrail.toml in PATH, if present).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Files only, not git history.
    #[arg(long)]
    no_history: bool,
}

#[derive(Subcommand)]
enum HookCommand {
    /// Scan what the next commit would add (the index over HEAD). On a finding it exits 1 and
    /// says how to get the commit through; for `.git/hooks/pre-commit` or the pre-commit framework.
    PreCommit {
        #[command(flatten)]
        output: HookOutput,
    },
    /// Scan the commits `git push` is sending that the remote does not have. Reads git's
    /// pre-push lines (`<local ref> <local sha> <remote ref> <remote sha>`) from standard input.
    ///
    /// Under the pre-commit framework (`PRE_COMMIT_TO_REF` set) it scans
    /// `PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF` instead, or, with no FROM_REF, the commits of TO_REF
    /// that the remote's tracking refs lack.
    PrePush {
        /// The remote's name, as git passes it.
        remote: Option<String>,
        /// The remote's URL, as git passes it (unused).
        url: Option<String>,
        #[command(flatten)]
        output: HookOutput,
    },
}

/// What a hook lets the user choose about its output.
#[derive(clap::Args)]
struct HookOutput {
    /// When to colour the output; NO_COLOR in the environment means never for `auto`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Settings file (default: .keytrail.toml at the repository root, if present).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl HookOutput {
    fn scan_args(self) -> ScanArgs {
        let mut args = ScanArgs::parse_from_defaults();
        args.color = self.color;
        args.config = self.config;
        args.hook = true;
        args
    }
}

#[derive(clap::Args)]
pub struct ScanArgs {
    /// Files or directories to scan.
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print secrets in full. Without this, every format shows only a redacted prefix.
    #[arg(long)]
    show_secrets: bool,
    /// Scan only what the index adds over HEAD: the content of the next commit.
    #[arg(long, conflicts_with_all = ["range", "no_history", "history_only"])]
    staged: bool,
    /// Scan only the secrets introduced by the commits of BASE..HEAD (or BASE...HEAD, from their
    /// merge base); an all-zero BASE means the commits no other ref has.
    #[arg(long, value_name = "BASE..HEAD", conflicts_with_all = ["no_history", "history_only"])]
    range: Option<String>,
    /// Scan files only, not git history.
    #[arg(long, conflicts_with = "history_only")]
    no_history: bool,
    /// Scan git history only, not the files on disk.
    #[arg(long)]
    history_only: bool,
    /// Also scan files that .gitignore, .ignore and .git/info/exclude leave out.
    #[arg(long)]
    no_ignore: bool,
    /// Skip (and count) files larger than this: bytes, or with K/M/G, KiB/MiB/GiB, KB/MB/GB
    /// [default: max_file_size in the settings, else 10MiB].
    #[arg(long, value_name = "SIZE", value_parser = keytrail::config::parse_size)]
    max_file_size: Option<u64>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
    /// Settings file (default: .keytrail.toml in the first scanned directory, if present).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Lifecycle inventory of non-human identities (default: .keytrail/inventory.toml in the first
    /// scanned directory, if present). Repeatable; entries of all files are merged.
    #[arg(long, value_name = "FILE")]
    inventory: Vec<PathBuf>,
    /// When to colour text output; NO_COLOR in the environment means never for `auto`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Print no summary on standard error.
    #[arg(short, long)]
    quiet: bool,
    /// Also write the report in another format to a file, from the same scan:
    /// `--report sarif=keytrail.sarif --report markdown=summary.md`. Repeatable.
    #[arg(long, value_name = "FORMAT=FILE", value_parser = parse_report)]
    report: Vec<(Format, PathBuf)>,
    /// Web address of the repository, e.g. https://github.com/OWNER/REPO: Markdown reports link
    /// each finding to its file and line at the commit that holds it.
    #[arg(long, value_name = "URL")]
    link_base: Option<String>,
    /// Report only findings whose fingerprint and path are not in this baseline file (written
    /// by `keytrail baseline`).
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Run as a git hook: a blocked commit or push says how to get through.
    #[arg(skip)]
    hook: bool,
}

impl ScanArgs {
    /// The defaults of `keytrail scan`, for commands that scan without taking its flags.
    fn parse_from_defaults() -> ScanArgs {
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ScanArgs,
        }
        Wrapper::parse_from(["keytrail"]).args
    }
}

#[derive(Subcommand)]
enum RulesCommand {
    /// List the built-in rules: id, provider, NHI kind, description.
    List {
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Validate rule files (the built-in ones when no FILE is given) and run their examples.
    Check {
        files: Vec<PathBuf>,
        /// Validate this settings file (.keytrail.toml) instead: every key, its rules and their
        /// examples, run with the built-in rules it leaves on.
        #[arg(long, value_name = "FILE", conflicts_with = "files")]
        config: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ListFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub fn enabled(self, stream_is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stream_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
}

/// keytrail's exit statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Nothing found.
    Clean = 0,
    /// Findings.
    Findings = 1,
    /// An error: bad arguments or settings, or inputs that could not be read and nothing found.
    Error = 2,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// Writes a line to stderr. Messages quote what keytrail read (a bad value in a settings file, a
/// path, a symlink's target), so control characters are shown as escapes; a stderr closed early
/// (`2>&1 | head`) is not worth a panic.
pub fn say(message: &str) {
    let _ = writeln!(io::stderr(), "{}", visible(message));
}

/// `message` with every control character but the line break escaped.
fn visible(message: &str) -> String {
    message.split('\n').map(keytrail::finding::escape_control).collect::<Vec<_>>().join("\n")
}

pub fn run() -> anyhow::Result<Status> {
    let cli = Cli::parse();
    fingerprint_key_from_env()?;
    match cli.command {
        Command::Scan(args) => scan::run(args, None),
        Command::Hook(HookCommand::PreCommit { output }) => {
            scan::run(output.scan_args(), Some(keytrail::source::history::Selection::Staged))
        }
        Command::Hook(HookCommand::PrePush { remote, url: _, output }) => {
            let selection = match scan::pre_commit_push_selection(|name| std::env::var(name).ok()) {
                Some(selection) => selection,
                None => {
                    let updates = scan::read_push_lines(io::stdin().lock())?;
                    keytrail::source::history::Selection::Push { updates, remote }
                }
            };
            scan::run(output.scan_args(), Some(selection))
        }
        Command::Inventory(command) => inventory::run(command),
        Command::Baseline(b) => scan::write_baseline(b.path, b.output, b.config, b.no_history),
        Command::Rules(RulesCommand::List { format }) => rules::list(format),
        Command::Rules(RulesCommand::Check { files: _, config: Some(config) }) => rules::check_config(&config),
        Command::Rules(RulesCommand::Check { files, config: None }) => rules::check(&files),
    }
}

/// The environment variable holding an organisation's fingerprint key.
pub const FINGERPRINT_KEY_VAR: &str = "KEYTRAIL_FINGERPRINT_KEY";

/// Keys fingerprints with `KEYTRAIL_FINGERPRINT_KEY` when it is set. An empty or short value is an
/// error rather than a silent fall-back to unkeyed fingerprints: a CI secret that failed to
/// resolve arrives as an empty string.
fn fingerprint_key_from_env() -> anyhow::Result<()> {
    let Some(key) = std::env::var_os(FINGERPRINT_KEY_VAR) else { return Ok(()) };
    let key = key.as_encoded_bytes();
    if key.len() < 16 {
        anyhow::bail!(
            "{FINGERPRINT_KEY_VAR} is set but holds {} bytes; a fingerprint key needs at least 16 (32 random bytes, \
             e.g. `openssl rand -hex 32`, is a good choice)",
            key.len()
        );
    }
    keytrail::finding::set_fingerprint_key(key);
    Ok(())
}

/// Parses `FORMAT=FILE` for `--report`.
fn parse_report(s: &str) -> Result<(Format, PathBuf), String> {
    let (format, file) =
        s.split_once('=').ok_or_else(|| format!("`{s}`: expected FORMAT=FILE, e.g. sarif=keytrail.sarif"))?;
    let format = Format::from_str(format, true).map_err(|_| {
        let names: Vec<String> = Format::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|v| v.get_name().to_string())
            .collect();
        format!("`{format}` is not a format (one of {})", names.join(", "))
    })?;
    if file.is_empty() {
        return Err(format!("`{s}`: the file name is missing"));
    }
    Ok((format, PathBuf::from(file)))
}

/// Writes to stdout, treating a closed pipe (`keytrail scan | head`) as the reader being done.
pub fn write_stdout(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let stdout = io::stdout();
    let mut lock = io::BufWriter::new(stdout.lock());
    let result = f(&mut lock).and_then(|_| lock.flush());
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes to `path` through a buffer; an error names the file.
pub fn write_file(path: &Path, f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut w = io::BufWriter::new(file);
    f(&mut w).and_then(|_| w.flush()).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes to the `-o FILE` a command was given, else to stdout.
pub fn write_output(output: Option<&Path>, f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    match output {
        Some(path) => write_file(path, f),
        None => write_stdout(f).context("cannot write to standard output"),
    }
}

pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_specs() {
        assert_eq!(parse_report("sarif=out/k.sarif"), Ok((Format::Sarif, "out/k.sarif".into())));
        assert_eq!(parse_report("markdown=a=b.md"), Ok((Format::Markdown, "a=b.md".into())));
        assert!(parse_report("sarif").unwrap_err().contains("FORMAT=FILE"));
        assert!(parse_report("pdf=x").unwrap_err().contains("one of text, json"));
        assert!(parse_report("json=").is_err());
    }
}
