//! Command-line definitions and dispatch; the library does the work.
mod inventory;
mod rules;
mod scan;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

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
}

#[derive(Subcommand)]
enum HookCommand {
    /// Scan the commits `git push` is sending that the remote does not have. Reads git's
    /// pre-push lines (`<local ref> <local sha> <remote ref> <remote sha>`) from standard input.
    PrePush {
        /// The remote's name, as git passes it.
        remote: Option<String>,
        /// The remote's URL, as git passes it (unused).
        url: Option<String>,
    },
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
    /// Skip (and count) files larger than this: bytes, or with K/M/G, KiB/MiB/GiB, KB/MB/GB.
    #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = parse_size)]
    max_file_size: u64,
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
    Check { files: Vec<PathBuf> },
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

pub fn run() -> anyhow::Result<Status> {
    let cli = Cli::parse();
    match cli.command {
        Command::Scan(args) => scan::run(args, None),
        Command::Hook(HookCommand::PrePush { remote, url: _ }) => {
            let updates = scan::read_push_lines(io::stdin().lock())?;
            let selection = keytrail::source::history::Selection::Push { updates, remote };
            scan::run(ScanArgs::parse_from_defaults(), Some(selection))
        }
        Command::Inventory(command) => inventory::run(command),
        Command::Rules(RulesCommand::List { format }) => rules::list(format),
        Command::Rules(RulesCommand::Check { files }) => rules::check(&files),
    }
}

/// Parses `10MiB`, `512K`, `2GB`, `1000`.
fn parse_size(s: &str) -> Result<u64, String> {
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

pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::parse_size;

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
}
