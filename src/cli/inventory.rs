//! `keytrail inventory sync | check | export`: the lifecycle inventory against what a scan found.
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use keytrail::nhi::date::Date;
use keytrail::nhi::inventory::{append, Entry, NewEntry, Status as EntryStatus};
use keytrail::nhi::{Governance, Identity};
use keytrail::report::markdown::cell;

use super::scan::{scan_and_assess, Scanned};
use super::{write_output, write_stdout, ScanArgs, Status};

#[derive(Subcommand)]
pub enum InventoryCommand {
    /// Scan, then add an entry (owner "unassigned") for every identity no entry claims. Existing
    /// entries, their order and comments are left as they are.
    Sync(InventoryScan),
    /// Scan and report drift: unmanaged identities, offboarding failures, overdue rotations, and
    /// entries whose secrets appear nowhere any more. Exits 1 if there is any.
    Check(InventoryScan),
    /// The inventory joined with what the scan found: one row per identity.
    Export {
        #[command(flatten)]
        scan: InventoryScan,
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to FILE instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub struct InventoryScan {
    /// Directory (repository) to scan.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Inventory file (default: .keytrail/inventory.toml in PATH). Repeatable; `sync` writes to
    /// the first.
    #[arg(long, value_name = "FILE")]
    inventory: Vec<PathBuf>,
    /// Scan files only, not git history (first-seen dates then stay unknown).
    #[arg(long)]
    no_history: bool,
    /// Settings file (default: .keytrail.toml in PATH, if present).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
    Markdown,
}

impl InventoryScan {
    fn scan(&self) -> anyhow::Result<Scanned> {
        let mut args = ScanArgs::parse_from_defaults();
        args.paths = vec![self.path.clone()];
        args.inventory = self.inventory.clone();
        args.no_history = self.no_history;
        args.config = self.config.clone();
        args.threads = self.threads;
        scan_and_assess(&args, None)
    }
}

pub fn run(command: InventoryCommand) -> anyhow::Result<Status> {
    match command {
        InventoryCommand::Sync(scan) => sync(&scan),
        InventoryCommand::Check(scan) => check(&scan),
        InventoryCommand::Export { scan, format, output } => export(&scan, format, output),
    }
}

/// The id a synced entry gets: readable, and unique because it carries part of the fingerprint.
fn new_id(identity: &Identity) -> String {
    let short = identity.fingerprint.rsplit(':').next().unwrap_or(&identity.fingerprint);
    let short = &short[..short.len().min(8)];
    format!("{}-{}-{short}", identity.provider, identity.kind.as_str().replace('_', "-"))
}

fn sync(scan: &InventoryScan) -> anyhow::Result<Status> {
    let scanned = scan.scan()?;
    let new: Vec<NewEntry> = scanned
        .report
        .identities
        .iter()
        .filter(|i| i.inventory.is_none())
        .map(|i| {
            let first = i.locations.first();
            let place = first.map(|l| format!(" at {}:{}", l.path, l.line)).unwrap_or_default();
            let more =
                if i.locations.len() > 1 { format!(" (and {} more)", i.locations.len() - 1) } else { String::new() };
            NewEntry {
                id: new_id(i),
                owner: "unassigned".to_string(),
                kind: Some(i.kind.as_str().to_string()),
                provider: Some(i.provider.clone()),
                fingerprints: vec![i.fingerprint.clone()],
                identifiers: i.public_ids.clone(),
                created: i.first_seen.as_deref().and_then(Date::parse),
                environments: i.environments.clone(),
                // Escaped: a file name's controls or bidi overrides would otherwise land raw in a
                // file people review.
                comment: Some(keytrail::finding::escape_control(&format!(
                    "{}: {}{place}{more}",
                    i.rule_name, i.identifier
                ))),
            }
        })
        .collect();
    let target = &scanned.inventory_target;
    log::debug!("{} unclaimed identities to append to {}", new.len(), target.display());
    let added = append(target, &new).map_err(|e| anyhow::anyhow!("{e}"))?;
    if added == 0 {
        say!("keytrail: {} already lists every identity found", target.display());
    } else {
        say!(
            "keytrail: added {added} identit{} to {} with owner \"unassigned\"; fill in owner, purpose and rotation",
            if added == 1 { "y" } else { "ies" },
            target.display()
        );
    }
    Ok(Status::Clean)
}

/// Inventory entries no finding links to.
fn unlinked_entries(scanned: &Scanned) -> impl Iterator<Item = &Entry> {
    scanned
        .inventory
        .entries
        .iter()
        .filter(|e| !scanned.report.identities.iter().any(|i| i.inventory.as_ref().is_some_and(|l| l.id == e.id)))
}

/// Inventory entries no finding links to, that still claim to be in use.
fn stale_entries(scanned: &Scanned) -> impl Iterator<Item = &Entry> {
    unlinked_entries(scanned).filter(|e| matches!(e.status, EntryStatus::Active | EntryStatus::Rotating))
}

fn check(scan: &InventoryScan) -> anyhow::Result<Status> {
    let scanned = scan.scan()?;
    let mut lines = Vec::new();
    for i in &scanned.report.identities {
        let at = i.locations.first().map(|l| format!("{}:{}", l.path, l.line)).unwrap_or_default();
        let why = |id: &str| {
            i.risks.iter().filter(|r| r.id.as_str() == id).map(|r| r.reason.clone()).collect::<Vec<_>>().join("; ")
        };
        match i.governance {
            Governance::Managed => {}
            Governance::Unmanaged => lines
                .push(format!("unmanaged: {} ({}) at {at}: no inventory entry claims it", i.identifier, i.rule_name)),
            Governance::OffboardingFailure => {
                lines.push(format!("offboarding failure: {} at {at}: {}", i.identifier, why("NHI1")))
            }
            Governance::RotationOverdue => {
                lines.push(format!("rotation overdue: {} at {at}: {}", i.identifier, why("NHI7")))
            }
        }
    }
    for e in stale_entries(&scanned) {
        if e.fingerprints.is_empty() && e.identifiers.is_empty() {
            lines.push(format!(
                "unverifiable: entry `{}` ({}:{}) lists no fingerprints or identifiers to look for",
                e.id,
                e.file.display(),
                e.line
            ));
        } else {
            lines.push(format!(
                "not found: entry `{}` ({}:{}) is {} but none of its secrets is in the code or history: a candidate to retire",
                e.id,
                e.file.display(),
                e.line,
                e.status.as_str()
            ));
        }
    }
    let clean = keytrail::finding::escape_control;
    write_stdout(|out| {
        for l in &lines {
            writeln!(out, "{}", clean(l))?;
        }
        Ok(())
    })
    .context("cannot write to standard output")?;
    say!(
        "keytrail: {} identit{} found, {} inventory entr{}: {}",
        scanned.report.identities.len(),
        if scanned.report.identities.len() == 1 { "y" } else { "ies" },
        scanned.inventory.entries.len(),
        if scanned.inventory.entries.len() == 1 { "y" } else { "ies" },
        if lines.is_empty() { "no drift".to_string() } else { format!("{} problem(s)", lines.len()) }
    );
    Ok(if lines.is_empty() { Status::Clean } else { Status::Findings })
}

/// One row of `inventory export`.
#[derive(Serialize)]
struct Row {
    id: Option<String>,
    owner: Option<String>,
    kind: String,
    provider: String,
    identifier: Option<String>,
    status: String,
    governance: Option<Governance>,
    risks: Vec<String>,
    locations: usize,
    first_seen: Option<String>,
    /// `head` (in the current code), `history` (only in past commits) or `absent` (an entry whose
    /// secrets were not found).
    presence: &'static str,
    fingerprint: Option<String>,
}

fn rows(scanned: &Scanned) -> Vec<Row> {
    let entry = |id: &str| scanned.inventory.entries.iter().find(|e| e.id == id);
    let mut rows: Vec<Row> = scanned
        .report
        .identities
        .iter()
        .map(|i| Row {
            id: i.inventory.as_ref().map(|l| l.id.clone()),
            owner: i.inventory.as_ref().map(|l| l.owner.clone()),
            kind: i.kind.as_str().to_string(),
            provider: i.provider.clone(),
            identifier: Some(i.identifier.clone()),
            status: i.inventory.as_ref().map_or("unmanaged", |l| l.status.as_str()).to_string(),
            governance: Some(i.governance),
            risks: i.risks.iter().map(|r| r.id.as_str().to_string()).collect(),
            locations: i.locations.len(),
            first_seen: i.first_seen.clone().or_else(|| {
                i.inventory.as_ref().and_then(|l| entry(&l.id)).and_then(|e| e.created).map(|d| d.to_string())
            }),
            presence: if i.at_head { "head" } else { "history" },
            fingerprint: Some(i.fingerprint.clone()),
        })
        .collect();
    let absent: Vec<Row> = unlinked_entries(scanned)
        .map(|e| Row {
            id: Some(e.id.clone()),
            owner: Some(e.owner.clone()),
            kind: e.kind.clone().unwrap_or_default(),
            provider: e.provider.clone().unwrap_or_default(),
            identifier: e.identifiers.first().cloned(),
            status: e.status.as_str().to_string(),
            governance: None,
            risks: Vec::new(),
            locations: 0,
            first_seen: e.created.map(|d| d.to_string()),
            presence: "absent",
            fingerprint: e.fingerprints.first().cloned(),
        })
        .collect();
    rows.extend(absent);
    rows
}

const COLUMNS: [&str; 12] = [
    "id",
    "owner",
    "kind",
    "provider",
    "identifier",
    "status",
    "governance",
    "risks",
    "locations",
    "first_seen",
    "presence",
    "fingerprint",
];

fn cells(r: &Row) -> [String; 12] {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    [
        opt(&r.id),
        opt(&r.owner),
        r.kind.clone(),
        r.provider.clone(),
        opt(&r.identifier),
        r.status.clone(),
        r.governance.map(|g| g.as_str().to_string()).unwrap_or_default(),
        r.risks.join(" "),
        r.locations.to_string(),
        opt(&r.first_seen),
        r.presence.to_string(),
        opt(&r.fingerprint),
    ]
}

/// RFC 4180: quote a field holding a comma, quote or line break; double the quotes.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_export(rows: &[Row], format: ExportFormat, out: &mut dyn Write) -> io::Result<()> {
    match format {
        ExportFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, rows)?;
            writeln!(out)
        }
        ExportFormat::Csv => {
            writeln!(out, "{}", COLUMNS.join(","))?;
            for r in rows {
                let line: Vec<String> = cells(r).iter().map(|c| csv_field(c)).collect();
                writeln!(out, "{}", line.join(","))?;
            }
            Ok(())
        }
        ExportFormat::Markdown => {
            writeln!(out, "| {} |", COLUMNS.join(" | "))?;
            writeln!(out, "|{}", "---|".repeat(COLUMNS.len()))?;
            for r in rows {
                let line: Vec<String> = cells(r).iter().map(|c| cell(c)).collect();
                writeln!(out, "| {} |", line.join(" | "))?;
            }
            Ok(())
        }
    }
}

fn export(scan: &InventoryScan, format: ExportFormat, output: Option<PathBuf>) -> anyhow::Result<Status> {
    let scanned = scan.scan()?;
    let rows = rows(&scanned);
    write_output(output.as_deref(), |out| write_export(&rows, format, out))?;
    Ok(Status::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_markdown_escaping() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
