use std::path::{Path, PathBuf};

use anyhow::Context;
use keytrail::config::Config;
use keytrail::finding::escape_control;
use keytrail::matcher::Matcher;
use keytrail::rules::{builtin_files, Loader, RuleSet};

use super::{write_stdout, ListFormat, Status};

pub fn list(format: ListFormat) -> anyhow::Result<Status> {
    let set = RuleSet::builtin().context("the built-in rules are invalid")?;
    write_stdout(|out| match format {
        ListFormat::Json => {
            let rows: Vec<_> = set
                .rules()
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "name": r.name, "provider": r.provider, "nhi_kind": r.nhi_kind,
                        "severity": r.severity, "description": r.description, "keywords": r.keywords,
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &rows)?;
            writeln!(out)
        }
        ListFormat::Text => {
            let w_id = set.rules().iter().map(|r| r.id.len()).max().unwrap_or(2).max(2);
            let w_p = set.rules().iter().map(|r| r.provider.len()).max().unwrap_or(8).max(8);
            let w_k = set.rules().iter().map(|r| r.nhi_kind.as_str().len()).max().unwrap_or(8).max(8);
            writeln!(out, "{:w_id$}  {:w_p$}  {:w_k$}  DESCRIPTION", "ID", "PROVIDER", "NHI KIND")?;
            for r in set.rules() {
                writeln!(out, "{:w_id$}  {:w_p$}  {:w_k$}  {}", r.id, r.provider, r.nhi_kind.as_str(), r.name)?;
            }
            Ok(())
        }
    })?;
    Ok(Status::Clean)
}

pub fn check(files: &[PathBuf]) -> anyhow::Result<Status> {
    let mut loader = Loader::default();
    let mut file_count = files.len();
    if files.is_empty() {
        for (name, text) in builtin_files() {
            loader.add_text(name, text);
        }
        file_count = builtin_files().len();
    }
    let mut unreadable = Vec::new();
    for f in files {
        if let Err(e) = loader.add_file(f) {
            unreadable.push(e.to_string());
        }
    }
    let (set, mut problems) = loader.finish_partial();
    let count = set.len();
    // The loader compiled every regex already; what is left is running the examples.
    let matcher = Matcher::new(set)?;
    problems.extend(matcher.check_examples());
    problems.sort();
    log::debug!("{} rules from {file_count} file(s), {} problem(s)", count, problems.len());
    for u in &unreadable {
        say!("error: {u}");
    }
    for p in &problems {
        say!("error: {p}");
    }
    if problems.is_empty() && unreadable.is_empty() {
        say!("{count} rules in {file_count} file(s): all valid, every example behaves");
        Ok(Status::Clean)
    } else {
        say!("{} problem(s) found", problems.len() + unreadable.len());
        Ok(Status::Error)
    }
}

/// Validates a settings file: every key, then its rules' examples through the matcher the scan
/// would build (built-in rules it disables left out, so a replacement is checked on its own).
pub fn check_config(path: &Path) -> anyhow::Result<Status> {
    let builtin = RuleSet::builtin().context("the built-in rules are invalid")?;
    let checked = Config::load(path).and_then(|config| {
        let set = config.rule_set(builtin)?;
        Ok((config, set))
    });
    let (config, set) = match checked {
        Ok(ok) => ok,
        Err(e) => {
            say!("error: {e}");
            return Ok(Status::Error);
        }
    };
    let matcher = Matcher::new(set)?;
    let own: Vec<&str> = config.rules.iter().map(|r| r.id.as_str()).collect();
    let problems: Vec<_> = matcher
        .check_examples()
        .into_iter()
        .filter(|p| p.rule_id.as_deref().is_some_and(|id| own.contains(&id)))
        .collect();
    for p in &problems {
        say!("error: {p}");
    }
    if problems.is_empty() {
        say!(
            "{}: valid; {} rule(s) of its own, {} built-in rule(s) disabled; every example behaves",
            escape_control(&path.display().to_string()),
            config.rules.len(),
            config.disabled_rules.len()
        );
        Ok(Status::Clean)
    } else {
        say!("{} problem(s) found", problems.len());
        Ok(Status::Error)
    }
}
