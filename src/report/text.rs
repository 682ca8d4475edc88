use std::io::{self, Write};

use super::{EmitContext, Emitter};
use crate::finding::escape_control;
use crate::rules::Severity;
use crate::scan::Report;

/// What a person reads in a terminal: one block per finding.
pub struct Text;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const CYAN: &str = "\x1b[36m";

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
        let reset = paint(RESET);
        for f in &report.findings {
            writeln!(
                out,
                "{}{}:{}:{}{}  {}{}{}  {}{}{}",
                paint(BOLD),
                escape_control(&f.path),
                f.line,
                f.column,
                reset,
                paint(severity_colour(f.severity)),
                f.severity,
                reset,
                paint(CYAN),
                f.rule_id,
                reset,
            )?;
            writeln!(out, "    {} · {} · {}", f.rule_name, f.nhi_kind.label(), f.provider)?;
            writeln!(out, "    {}│{} {}", paint(DIM), reset, f.snippet)?;
            if ctx.show_secrets {
                // The snippet holds only the first line; a multi-line secret is printed whole.
                let secret: Vec<String> = f.secret.lines().map(escape_control).collect();
                let secret = secret.join("\n            ");
                writeln!(out, "    secret: {secret}")?;
            }
            if let Some(c) = &f.companion {
                writeln!(out, "    {}{} at line {}: {}{}", paint(DIM), c.name, c.line, c.secret, reset)?;
            }
            writeln!(out, "    {}fingerprint {}{}", paint(DIM), f.fingerprint, reset)?;
            writeln!(out)?;
        }
        Ok(())
    }
}
