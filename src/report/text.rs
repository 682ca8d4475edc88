use std::io::{self, Write};

use super::{EmitContext, Emitter};
use crate::finding::{escape_control, Finding, Source};
use crate::rules::Severity;
use crate::scan::Report;

/// What a person reads in a terminal: files first, then history findings grouped under the commit
/// that introduced them.
pub struct Text;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const CYAN: &str = "\x1b[36m";
const YELLOW: &str = "\x1b[33m";

fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "\x1b[1;31m",
        Severity::High => "\x1b[31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[34m",
    }
}

impl Emitter for Text {
    fn emit(&self, report: &Report, ctx: &EmitContext<'_>, out: &mut dyn Write) -> io::Result<()> {
        let paint = |code: &'static str| if ctx.color { code } else { "" };
        for f in report.findings.iter().filter(|f| f.source != Source::History) {
            finding(f, ctx, out, "")?;
        }
        // History findings by commit, oldest first, each commit once.
        let mut history: Vec<&Finding> = report.findings.iter().filter(|f| f.source == Source::History).collect();
        history.sort_by(|a, b| {
            let key = |f: &&Finding| f.history.as_ref().map(|h| (h.date.clone(), h.commit.clone()));
            key(a).cmp(&key(b)).then_with(|| a.sort_key().cmp(&b.sort_key()))
        });
        let mut current: Option<&str> = None;
        for f in history {
            let Some(h) = &f.history else { continue };
            if current != Some(h.commit.as_str()) {
                current = Some(h.commit.as_str());
                writeln!(
                    out,
                    "{}commit {}{}  {} <{}>  {}",
                    paint(YELLOW),
                    escape_control(&h.commit),
                    paint(RESET),
                    escape_control(&h.author),
                    escape_control(&h.email),
                    escape_control(&h.date)
                )?;
                writeln!(out, "    {}", escape_control(&h.summary))?;
                writeln!(out)?;
            }
            finding(f, ctx, out, "    ")?;
        }
        Ok(())
    }
}

fn finding(f: &Finding, ctx: &EmitContext<'_>, out: &mut dyn Write, indent: &str) -> io::Result<()> {
    let paint = |code: &'static str| if ctx.color { code } else { "" };
    let reset = paint(RESET);
    let place = match (&f.history, f.source) {
        (Some(h), Source::History) if h.present_at_head => "  (still at HEAD)",
        (Some(_), Source::History) => "  (history only)",
        _ => "",
    };
    writeln!(
        out,
        "{indent}{}{}:{}:{}{reset}  {}{}{reset}  {}{}{reset}{place}",
        paint(BOLD),
        escape_control(&f.path),
        f.line,
        f.column,
        paint(severity_colour(f.severity)),
        f.severity,
        paint(CYAN),
        escape_control(&f.rule_id),
    )?;
    // Rules of a scanned repository's own settings file are scanned content too.
    writeln!(
        out,
        "{indent}    {} · {} · {}",
        escape_control(&f.rule_name),
        f.nhi_kind.label(),
        escape_control(&f.provider)
    )?;
    writeln!(out, "{indent}    {}│{reset} {}", paint(DIM), f.snippet)?;
    if ctx.show_secrets {
        // The snippet holds only the first line; a multi-line secret is printed whole.
        let secret: Vec<String> = f.secret.lines().map(escape_control).collect();
        writeln!(out, "{indent}    secret: {}", secret.join(&format!("\n{indent}            ")))?;
    }
    if let Some(c) = &f.companion {
        let (name, secret) = (escape_control(&c.name), escape_control(&c.secret));
        writeln!(out, "{indent}    {}{name} at line {}: {secret}{reset}", paint(DIM), c.line)?;
    }
    if let (Some(h), Source::Worktree) = (&f.history, f.source) {
        writeln!(
            out,
            "{indent}    {}committed in {} by {} on {}{reset}",
            paint(DIM),
            escape_control(h.commit.get(..12).unwrap_or(&h.commit)),
            escape_control(&h.author),
            escape_control(&h.date)
        )?;
    }
    let owner = match &f.inventory {
        Some(link) => {
            format!("{} `{}`, owned by {} ({})", f.governance.as_str(), link.id, link.owner, link.status.as_str())
        }
        None => f.governance.as_str().to_string(),
    };
    writeln!(out, "{indent}    identity {} · {}", escape_control(&f.nhi.identifier), escape_control(&owner))?;
    if !f.risks.is_empty() {
        let risks: Vec<String> = f.risks.iter().map(|r| format!("{} {}", r.id.as_str(), r.id.name())).collect();
        writeln!(out, "{indent}    risks {}", risks.join(", "))?;
    }
    writeln!(out, "{indent}    {}fingerprint {}{reset}", paint(DIM), f.fingerprint)?;
    writeln!(out)
}
