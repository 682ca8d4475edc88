use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::sync::Arc;

use anyhow::Context;
use keytrail::baseline::Baseline;
use keytrail::config::{Config, DEFAULT_MAX_FILE_SIZE};
use keytrail::matcher::Matcher;
use keytrail::nhi::assess;
use keytrail::nhi::date::Date;
use keytrail::nhi::inventory::Inventory;
use keytrail::report::{EmitContext, Format};
use keytrail::rules::{NhiKind, RuleSet, Severity};
use keytrail::scan::{scan, HistoryMode, Report, ScanOptions};
use keytrail::source::fs::human_bytes;
use keytrail::source::history::Selection;
use keytrail::suppress::IgnoreList;

use super::progress::ProgressLine;
use super::{stdout_is_terminal, write_file, write_output, ScanArgs, Status};

/// The inventory file read by default, relative to the first scanned directory.
pub const DEFAULT_INVENTORY: &str = ".keytrail/inventory.toml";

/// How many skipped inputs are named one by one before the rest are only counted.
const SKIPPED_SHOWN: usize = 20;

/// A finished, assessed scan and what it ran with.
pub struct Scanned {
    pub report: Report,
    pub matcher: Matcher,
    pub inventory: Inventory,
    /// The inventory file `inventory sync` writes: the first `--inventory`, else the default path
    /// under the first scanned directory.
    pub inventory_target: PathBuf,
    /// The size limit in force: the flag's, else the settings', else the default.
    pub max_file_size: u64,
    pub seconds: f64,
}

/// Loads settings, rules and inventory (any error stops here, before scanning), scans, and links
/// every finding to the inventory.
pub fn scan_and_assess(args: &ScanArgs, selection: Option<Selection>) -> anyhow::Result<Scanned> {
    let selection =
        selection.or_else(
            || {
                if args.staged {
                    Some(Selection::Staged)
                } else {
                    args.range.clone().map(Selection::Range)
                }
            },
        );
    let started = Instant::now();
    let first_root = args.paths.first().cloned().unwrap_or_else(|| ".".into());
    let mut config = Config::discover(args.config.as_deref(), &first_root)?;
    match &config.source {
        Some(path) => log::debug!("settings read from {}", path.display()),
        None => log::debug!("no settings file: defaults"),
    }
    let builtin = RuleSet::builtin().context("the built-in rules are invalid")?;
    let matcher = Matcher::new(config.rule_set(builtin)?)?.with_allowlist(config.take_value_allowlist());
    log::debug!(
        "{} rules: {} of the settings' own, {} built-in ones disabled; ready in {:.3}s",
        matcher.rules().len(),
        config.rules.len(),
        config.disabled_rules.len(),
        started.elapsed().as_secs_f64()
    );
    let max_file_size = args.max_file_size.or(config.max_file_size).unwrap_or(DEFAULT_MAX_FILE_SIZE);
    let root_dir = settings_dir(&first_root);
    let default_inventory = root_dir.join(DEFAULT_INVENTORY);
    let inventory_files: Vec<PathBuf> = if !args.inventory.is_empty() {
        args.inventory.clone()
    } else if !config.inventory.is_empty() {
        config.inventory.clone()
    } else if default_inventory.is_file() {
        vec![default_inventory.clone()]
    } else {
        Vec::new()
    };
    let kinds: Vec<&str> = NhiKind::ALL.iter().map(|k| k.as_str()).collect();
    let inventory = Inventory::load(&inventory_files, &kinds).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("the inventory is invalid; nothing was scanned:\n  {}", lines.join("\n  "))
    })?;
    log::debug!("inventory files {inventory_files:?}: {} entries", inventory.entries.len());
    let inventory_target = args.inventory.first().or(config.inventory.first()).cloned().unwrap_or(default_inventory);
    let baseline = match &args.baseline {
        Some(path) => Some(Baseline::load(path)?),
        None => None,
    };
    let ignore_file = root_dir.join(keytrail::suppress::DEFAULT_FILE);
    let ignores = if ignore_file.is_file() { IgnoreList::load(&ignore_file)? } else { IgnoreList::default() };
    log::debug!(
        "ignore file {}: {}; baseline {:?}: {} entries",
        ignore_file.display(),
        if ignores.is_empty() { "none or empty" } else { "read" },
        args.baseline,
        baseline.as_ref().map_or(0, Baseline::len)
    );
    let options = ScanOptions {
        roots: args.paths.clone(),
        respect_ignore: !args.no_ignore,
        max_file_size,
        threads: args.threads,
        show_secrets: args.show_secrets,
        history: if args.no_history {
            HistoryMode::Off
        } else if args.history_only {
            HistoryMode::Only
        } else {
            HistoryMode::Both
        },
        selection,
        progress: Arc::default(),
    };
    log::debug!(
        "scanning roots {:?}: history {:?}, selection {:?}, max file size {max_file_size} bytes, threads {}",
        options.roots,
        options.history,
        options.selection,
        options.threads
    );
    let scan_started = Instant::now();
    let line = ProgressLine::start(options.progress.clone(), !args.quiet);
    let mut report = scan(&matcher, &config, &options);
    drop(line);
    let st = &report.stats;
    log::debug!(
        "scan took {:.3}s: {} files, {} commits, {} blobs, {} packs; {} findings, {} errors, {} skipped",
        scan_started.elapsed().as_secs_f64(),
        st.files,
        st.commits,
        st.blobs,
        st.packs,
        report.findings.len(),
        report.errors.len(),
        report.skipped.len()
    );
    report.stats.allowlisted_secrets = matcher.allowlisted();
    // The inventory lists public identifiers (AWS key ids) that rules would report, and the
    // settings' own rules carry examples that must match: naming them there is the point.
    let own: Vec<String> =
        inventory_files.iter().chain(&config.source).filter_map(|f| relative_to(f, &first_root)).collect();
    report.findings.retain(|f| !own.contains(&f.path));
    let before = report.findings.len();
    report.findings.retain(|f| !ignores.ignores(f));
    report.stats.ignored = (before - report.findings.len()) as u64;
    if let Some(baseline) = &baseline {
        let before = report.findings.len();
        report.findings.retain(|f| !baseline.contains(f));
        report.stats.baselined = (before - report.findings.len()) as u64;
    }
    assess(&mut report, matcher.rules(), &inventory, Date::today());
    log::debug!(
        "{} findings after ignores ({}) and baseline ({}), {} identities",
        report.findings.len(),
        report.stats.ignored,
        report.stats.baselined,
        report.identities.len()
    );
    Ok(Scanned {
        report,
        matcher,
        inventory,
        inventory_target,
        max_file_size,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `file` relative to `root`, `/`-separated, as findings name paths; `None` when outside it.
fn relative_to(file: &Path, root: &Path) -> Option<String> {
    let file = file.canonicalize().ok()?;
    let root = root.canonicalize().ok()?;
    let rel = file.strip_prefix(&root).ok()?;
    Some(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
}

/// Where a scan of `root` looks for its inventory and ignore file: the root itself, or a file's
/// folder.
fn settings_dir(root: &Path) -> PathBuf {
    if root.is_file() {
        root.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        root.to_path_buf()
    }
}

pub fn run(args: ScanArgs, selection: Option<Selection>) -> anyhow::Result<Status> {
    let pushing = matches!(selection, Some(Selection::Push { .. } | Selection::Range(_)));
    let Scanned { report, matcher, seconds, max_file_size, .. } = scan_and_assess(&args, selection)?;
    let to_terminal = args.output.is_none() && stdout_is_terminal();
    let first_root = args.paths.first().cloned().unwrap_or_else(|| ".".into());
    let mut ctx = EmitContext {
        rules: matcher.rules(),
        color: args.format == Format::Text && args.color.enabled(to_terminal),
        show_secrets: args.show_secrets,
        head_commit: args.link_base.as_ref().and_then(|_| head_commit(&first_root)),
        link_base: args.link_base.clone(),
    };
    write_output(args.output.as_deref(), |out| args.format.emitter().emit(&report, &ctx, out))?;
    log::debug!("{:?} report written to {:?}", args.format, args.output.as_deref().unwrap_or(Path::new("-")));
    ctx.color = false;
    for (format, path) in &args.report {
        write_file(path, |out| format.emitter().emit(&report, &ctx, out))?;
        log::debug!("{format:?} report written to {path:?}");
    }

    if !args.quiet {
        let colour = args.color.enabled(io::stderr().is_terminal());
        summarize(&report, seconds, max_file_size, colour);
        if args.hook && !report.findings.is_empty() {
            ways_out(&report, pushing, colour);
        }
    }
    Ok(status(&report))
}

/// The commit HEAD points at in the repository holding `root`, for links to working-tree files.
fn head_commit(root: &Path) -> Option<String> {
    let repo = git2::Repository::discover(root).ok()?;
    let id = repo.head().ok()?.peel_to_commit().ok()?.id();
    Some(id.to_string())
}

/// What a blocked commit or push needs: each secret by place and kind, and the three ways through.
fn ways_out(report: &Report, pushing: bool, colour: bool) {
    let (bold, reset) = if colour { ("\x1b[1m", "\x1b[0m") } else { ("", "") };
    let clean = keytrail::finding::escape_control;
    let mut msg = String::new();
    let what = if pushing { "push" } else { "commit" };
    let n = report.findings.len();
    msg.push_str(&format!(
        "\n{bold}keytrail blocked this {what}{reset}: it adds {n} secret{}.\n",
        if n == 1 { "" } else { "s" }
    ));
    let mut fingerprints: Vec<(&str, &str)> = Vec::new();
    for f in &report.findings {
        let commit = f
            .history
            .as_ref()
            .map(|h| format!(" (commit {})", clean(h.commit.get(..10).unwrap_or(&h.commit))))
            .unwrap_or_default();
        msg.push_str(&format!(
            "  {}:{}  {} ({}){commit}\n",
            clean(&f.path),
            f.line,
            clean(&f.rule_name),
            f.nhi_kind.label()
        ));
        if !fingerprints.iter().any(|(fp, p)| *fp == f.fingerprint && *p == f.path) {
            fingerprints.push((&f.fingerprint, &f.path));
        }
    }
    msg.push_str(&format!("\nTo get this {what} through, do one of:\n"));
    let ignore = keytrail::suppress::DEFAULT_FILE;
    if pushing {
        msg.push_str(
            "  1. Remove the secret from the commits (edit them with `git rebase -i`, or `git reset` and commit again);\n",
        );
    } else {
        msg.push_str("  1. Remove the secret from the file (read it from the environment or a secret store), `git add` and commit again;\n");
    }
    msg.push_str("     if it was ever a real credential, rotate it too: it may have been copied already.\n");
    if pushing {
        // A marker added by a later commit leaves the secret in the pushed history.
        msg.push_str("  2. If it is not a secret (a test value, an example), mark its line with a `keytrail:allow` comment\n     in the commit that adds it (`git rebase -i`, then amend that commit).\n");
        msg.push_str(&format!("  3. Or record it as a known false positive in {ignore}, and commit that:\n"));
    } else {
        msg.push_str(
            "  2. If it is not a secret (a test value, an example), mark its line with a `keytrail:allow` comment.\n",
        );
        // Staged, because pre-commit hides unstaged changes from hooks while they run.
        msg.push_str(&format!("  3. Or record it as a known false positive in {ignore}, and stage that:\n"));
    }
    for (fp, path) in fingerprints {
        msg.push_str(&format!("       echo '{fp} {}' >> {ignore}\n", ignore_glob(path)));
    }
    msg.push_str(&format!("       git add {ignore}\n"));
    // Paths are cleaned above; the rest is keytrail's own text and colour codes.
    let _ = io::stderr().write_all(msg.as_bytes());
}

/// A path as a `.keytrailignore` glob that matches only itself, or little else: what the line
/// cannot hold as it is (whitespace, which splits it, `#`, which starts a comment, a quote, which
/// ends the shell's quoting) and what the terminal must not see are matched by `?`, one per byte as
/// globs match bytes.
fn ignore_glob(path: &str) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 4];
    for c in path.chars() {
        let text: &str = c.encode_utf8(&mut buf);
        if c.is_whitespace() || c == '#' || c == '\'' || keytrail::finding::escape_control(text) != text {
            out.extend(std::iter::repeat_n('?', text.len()));
            continue;
        }
        match c {
            '*' | '?' | '[' | ']' | '{' | '}' | '\\' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// The commits a pre-push hook run by the pre-commit framework must scan, read from the variables
/// it sets; `None` outside the framework (then git's own pre-push lines are on standard input).
pub fn pre_commit_push_selection(env: impl Fn(&str) -> Option<String>) -> Option<Selection> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let remote = var("PRE_COMMIT_REMOTE_NAME");
    match (var("PRE_COMMIT_FROM_REF"), var("PRE_COMMIT_TO_REF")) {
        (Some(from), Some(to)) => Some(Selection::Range(format!("{from}..{to}"))),
        (None, Some(to)) => Some(Selection::Push { updates: vec![(to, None)], remote }),
        // A branch whose history the remote has none of: pre-commit passes only the branch.
        (_, None) => var("PRE_COMMIT_LOCAL_BRANCH").map(|b| Selection::Push { updates: vec![(b, None)], remote }),
    }
}

fn status(report: &Report) -> Status {
    if !report.findings.is_empty() {
        Status::Findings
    } else if !report.errors.is_empty() {
        Status::Error
    } else {
        Status::Clean
    }
}

/// The end-of-scan account on stderr: errors by name, skipped inputs, and one summary line.
fn summarize(report: &Report, seconds: f64, max_file_size: u64, colour: bool) {
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let (red, yellow, reset) = if colour { ("\x1b[31m", "\x1b[33m", "\x1b[0m") } else { ("", "", "") };
    let clean = keytrail::finding::escape_control;
    // Messages quote paths and what git said, so they are escaped like the paths.
    for e in &report.errors {
        let _ = writeln!(err, "{red}error{reset}: {}: {}", clean(&e.path), clean(&e.message));
    }
    for s in report.skipped.iter().take(SKIPPED_SHOWN) {
        let _ = writeln!(err, "{yellow}skipped{reset}: {}: {}", clean(&s.path), clean(&s.message));
    }
    if report.skipped.len() > SKIPPED_SHOWN {
        let _ = writeln!(
            err,
            "{yellow}skipped{reset}: … and {} more (see --format json)",
            report.skipped.len() - SKIPPED_SHOWN
        );
    }
    let st = &report.stats;
    let mut by_severity = Vec::new();
    for sev in Severity::ALL {
        let n = report.findings.iter().filter(|f| f.severity == *sev).count();
        if n > 0 {
            by_severity.push(format!("{n} {sev}"));
        }
    }
    let findings = match report.findings.len() {
        0 => "no findings".to_string(),
        n => format!("{n} finding{} ({})", if n == 1 { "" } else { "s" }, by_severity.join(", ")),
    };
    let mut skipped = Vec::new();
    for (n, what) in [
        (st.skipped_binary, "binary".to_string()),
        (st.skipped_too_large, format!("over {}", human_bytes(max_file_size))),
        (st.skipped_symlinks, "symlinks".to_string()),
        (st.skipped_allowlisted, "allowlisted".to_string()),
        (st.ignored, "ignored by fingerprint".to_string()),
        (st.allowlisted_secrets, "allowlisted by value".to_string()),
        (st.baselined, "in the baseline".to_string()),
        (st.unreadable, "unreadable".to_string()),
    ] {
        if n > 0 {
            skipped.push(format!("{n} {what}"));
        }
    }
    let skipped = if skipped.is_empty() { String::new() } else { format!("; skipped {}", skipped.join(", ")) };
    let history = if st.repositories > 0 {
        format!(
            " and {} commit{} ({} unique blobs, {}) in {} repositor{}",
            st.commits,
            if st.commits == 1 { "" } else { "s" },
            st.blobs,
            human_bytes(st.blob_bytes),
            st.repositories,
            if st.repositories == 1 { "y" } else { "ies" }
        )
    } else {
        String::new()
    };
    let what = if st.files == 0 && st.commits == 0 && st.blobs > 0 {
        // `--staged`: no file or commit was read, only the index's new blobs.
        format!(
            "the staged changes ({} blob{}, {})",
            st.blobs,
            if st.blobs == 1 { "" } else { "s" },
            human_bytes(st.blob_bytes)
        )
    } else {
        format!("{} file{} ({}){history}", st.files, if st.files == 1 { "" } else { "s" }, human_bytes(st.bytes))
    };
    let _ = writeln!(err, "keytrail: scanned {what} in {seconds:.2}s: {findings}{skipped}");
}

/// Parses git's pre-push input: `<local ref> <local sha> <remote ref> <remote sha>` per line.
pub fn read_push_lines(input: impl io::BufRead) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let mut updates = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line.context("cannot read the pre-push lines on standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, local, _, remote] = fields[..] else {
            anyhow::bail!(
                "pre-push input line {}: expected `<local ref> <local sha> <remote ref> <remote sha>`, got {line:?}",
                n + 1
            );
        };
        updates.push((local.to_string(), Some(remote.to_string())));
    }
    Ok(updates)
}

/// `keytrail baseline`: every finding of `path` now, as a baseline file.
pub fn write_baseline(
    path: PathBuf,
    output: Option<PathBuf>,
    config: Option<PathBuf>,
    no_history: bool,
) -> anyhow::Result<Status> {
    let mut args = ScanArgs::parse_from_defaults();
    args.paths = vec![path];
    args.config = config;
    args.no_history = no_history;
    let Scanned { report, .. } = scan_and_assess(&args, None)?;
    let text = keytrail::baseline::render(&report.findings);
    write_output(output.as_deref(), |out| out.write_all(text.as_bytes()))?;
    let entries =
        report.findings.iter().map(|f| (&f.path, &f.fingerprint)).collect::<std::collections::HashSet<_>>().len();
    say!(
        "keytrail: baseline of {entries} entr{} ({} finding{}){}",
        if entries == 1 { "y" } else { "ies" },
        report.findings.len(),
        if report.findings.len() == 1 { "" } else { "s" },
        output
            .map(|f| format!(" written to {}", keytrail::finding::escape_control(&f.display().to_string())))
            .unwrap_or_default()
    );
    if !report.errors.is_empty() {
        for e in &report.errors {
            say!("error: {}: {}", e.path, e.message);
        }
        return Ok(Status::Error);
    }
    Ok(Status::Clean)
}
