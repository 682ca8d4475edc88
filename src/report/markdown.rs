use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::io::{self, Write};

use super::{EmitContext, Emitter};
use crate::finding::{escape_control, Finding, Source};
use crate::nhi::{Governance, Identity, RiskId};
use crate::rules::Severity;
use crate::scan::Report;
use crate::source::fs::human_bytes;

/// A report for a pull-request comment or a GitHub job summary: counts first, then who owns what,
/// then the findings with links.
pub struct Markdown;

/// GitHub refuses a job summary over 1 MiB; stopping the findings table well before leaves room
/// for whatever else the step writes.
pub const MAX_BYTES: usize = 768 * 1024;

/// Rows beyond this make a table nobody reads; the JSON and SARIF reports keep them all.
pub const MAX_FINDING_ROWS: usize = 1000;

impl Emitter for Markdown {
    fn emit(&self, report: &Report, ctx: &EmitContext<'_>, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(render(report, ctx).as_bytes())
    }
}

fn render(report: &Report, ctx: &EmitContext<'_>) -> String {
    let mut md = String::new();
    let findings = &report.findings;
    let identities = &report.identities;
    // A key id and its secret are two identities with one identifier; the reader wants it once.
    let unmanaged_count = identities.iter().filter(|i| i.governance == Governance::Unmanaged).count();
    let mut seen = HashSet::new();
    let unmanaged: Vec<&Identity> = identities
        .iter()
        .filter(|i| i.governance == Governance::Unmanaged && seen.insert(i.identifier.as_str()))
        .collect();
    let _ = writeln!(md, "## keytrail\n");
    let _ = writeln!(md, "{}\n", scanned_line(report));
    if findings.is_empty() {
        let _ = writeln!(md, "**No secrets found.**");
        notices(&mut md, report);
        return md;
    }
    let _ = writeln!(
        md,
        "**{} finding{}** of **{} identit{}**, {} unmanaged. {}\n",
        findings.len(),
        plural(findings.len(), "", "s"),
        identities.len(),
        plural(identities.len(), "y", "ies"),
        unmanaged_count,
        severity_counts(findings)
    );

    let mut by_kind: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for f in findings {
        by_kind.entry(f.nhi_kind.label()).or_default().0 += 1;
    }
    for i in identities {
        by_kind.entry(i.kind.label()).or_default().1 += 1;
    }
    let _ = writeln!(md, "### By kind of identity\n\n| kind | identities | findings |\n|---|---:|---:|");
    for (kind, (f, i)) in &by_kind {
        let _ = writeln!(md, "| {} | {i} | {f} |", cell(kind));
    }

    let mut by_risk: BTreeMap<RiskId, usize> = BTreeMap::new();
    for i in identities {
        for r in &i.risks {
            *by_risk.entry(r.id).or_default() += 1;
        }
    }
    if !by_risk.is_empty() {
        let _ = writeln!(md, "\n### By OWASP Non-Human Identity risk\n\n| risk | identities |\n|---|---:|");
        for (risk, n) in &by_risk {
            let _ = writeln!(md, "| [{} {}]({}) | {n} |", risk.as_str(), cell(risk.name()), risk.help_uri());
        }
    }

    if !unmanaged.is_empty() {
        let _ = writeln!(
            md,
            "\n### Unmanaged identities\n\nNo inventory entry claims these: nobody is on record as their owner.\n\n\
             | identity | kind | provider | first found at | exposure |\n|---|---|---|---|---|"
        );
        for i in unmanaged.iter().take(MAX_FINDING_ROWS) {
            let at = i.locations.first().map(|l| format!("`{}:{}`", code(&l.path), l.line)).unwrap_or_default();
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {at} | {} |",
                code(&i.identifier),
                cell(i.kind.label()),
                cell(&i.provider),
                i.where_found()
            );
        }
        if unmanaged.len() > MAX_FINDING_ROWS {
            let _ = writeln!(md, "\n…and {} more unmanaged identities.", unmanaged.len() - MAX_FINDING_ROWS);
        }
    }

    let _ = writeln!(
        md,
        "\n### Findings\n\n| severity | where | credential | identity | owner | introduced |\n|---|---|---|---|---|---|"
    );
    let mut shown = 0;
    for f in findings {
        let row = finding_row(f, ctx);
        if shown == MAX_FINDING_ROWS || md.len() + row.len() > MAX_BYTES {
            break;
        }
        md.push_str(&row);
        shown += 1;
    }
    if shown < findings.len() {
        let _ = writeln!(
            md,
            "\n…and {} more findings, left out to keep this report short; the JSON and SARIF reports list them all.",
            findings.len() - shown
        );
    }
    notices(&mut md, report);
    md
}

fn finding_row(f: &Finding, ctx: &EmitContext<'_>) -> String {
    let place = format!("{}:{}", f.path, f.line);
    let commit = f.history.as_ref().map(|h| h.commit.as_str());
    let place = match (&ctx.link_base, commit.or(ctx.head_commit.as_deref())) {
        (Some(base), Some(rev)) => {
            format!("[`{}`]({}/blob/{rev}/{}#L{})", code(&place), base.trim_end_matches('/'), url_path(&f.path), f.line)
        }
        _ => format!("`{}`", code(&place)),
    };
    let owner = match &f.inventory {
        Some(link) => format!("{} ({})", cell(&link.owner), link.status.as_str()),
        None => "**unmanaged**".to_string(),
    };
    let owner = match f.governance {
        Governance::OffboardingFailure | Governance::RotationOverdue => {
            format!("{owner}, {}", f.governance.as_str())
        }
        _ => owner,
    };
    let introduced = match (&f.history, f.source) {
        (Some(h), _) => {
            let head = if f.source == Source::History && !h.present_at_head { ", history only" } else { "" };
            format!("{} {}{head}", &h.commit[..h.commit.len().min(10)], h.date.get(..10).unwrap_or(&h.date))
        }
        (None, Source::Staged) => "staged".to_string(),
        (None, _) => "not committed".to_string(),
    };
    // Only with --show-secrets: a summary or PR comment is read by more people than the code.
    let secret = if ctx.show_secrets { format!(" `{}`", code(&f.secret)) } else { String::new() };
    format!(
        "| {} | {place} | {} ({}){secret} | `{}` | {owner} | {introduced} |\n",
        f.severity,
        cell(&f.rule_name),
        cell(f.nhi_kind.label()),
        code(&f.nhi.identifier)
    )
}

fn scanned_line(report: &Report) -> String {
    let st = &report.stats;
    let mut parts = Vec::new();
    if st.files > 0 || st.commits == 0 {
        parts.push(format!("{} file{} ({})", st.files, plural(st.files as usize, "", "s"), human_bytes(st.bytes)));
    }
    if st.repositories > 0 {
        parts.push(format!(
            "{} commit{} ({} blobs, {})",
            st.commits,
            plural(st.commits as usize, "", "s"),
            st.blobs,
            human_bytes(st.blob_bytes)
        ));
    }
    format!("Scanned {}.", parts.join(" and "))
}

fn severity_counts(findings: &[Finding]) -> String {
    let counts: Vec<String> = Severity::ALL
        .iter()
        .filter_map(|s| {
            let n = findings.iter().filter(|f| f.severity == *s).count();
            (n > 0).then(|| format!("{n} {s}"))
        })
        .collect();
    format!("Severity: {}.", counts.join(", "))
}

/// Inputs that could not be read make the report incomplete; say so where the reader looks.
fn notices(md: &mut String, report: &Report) {
    if report.errors.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n> [!WARNING]\n> {} input(s) could not be read, so this scan is incomplete:",
        report.errors.len()
    );
    for e in report.errors.iter().take(20) {
        let _ = writeln!(md, "> - `{}`: {}", code(&e.path), cell(&e.message));
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Text safe in a table cell: no column breaks, no HTML, no links or emphasis from scanned content.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in escape_control(&s.replace(['\n', '\r'], " ")).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '|' | '[' | ']' | '*' | '_' | '`' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text inside a code span in a table cell: only a backtick or a pipe could end it early. Inside
/// the span a backslash is literal, but GitHub splits table rows first, and there `\\|` is an
/// escaped backslash before a column break: a backslash before a pipe is shown as `\u{5c}`.
/// Line breaks and other controls are shown escaped, as in text output.
fn code(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let escaped = escape_control(s);
    let mut chars = escaped.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => out.push('\''),
            '|' => out.push_str("\\|"),
            '\\' if chars.peek() == Some(&'|') => out.push_str("\\u{5c}"),
            c => out.push(c),
        }
    }
    out
}

/// A repository path as a URL path: every byte but unreserved characters and `/` percent-encoded.
fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table_or_inject_markup() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(cell("<img src=x>"), "&lt;img src=x&gt;");
        assert_eq!(cell("[x](http://e)"), "\\[x\\](http://e)");
        assert_eq!(code("a`b|c"), "a'b\\|c");
        assert_eq!(code("a\\|b\nc\\d"), "a\\u{5c}\\|b\\u{a}c\\d");
    }

    #[test]
    fn paths_become_url_paths() {
        assert_eq!(url_path("src/a b(1).py"), "src/a%20b%281%29.py");
        assert_eq!(url_path("dir/é.txt"), "dir/%C3%A9.txt");
    }
}
