use std::io::{self, Write};

use super::{EmitContext, Emitter};
use crate::scan::Report;

/// One JSON document: findings, counts, errors and skipped inputs.
pub struct Json;

/// One finding per line, for streaming into other tools.
pub struct JsonLines;

impl Emitter for Json {
    fn emit(&self, report: &Report, _: &EmitContext<'_>, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, report)?;
        out.write_all(b"\n")
    }
}

impl Emitter for JsonLines {
    fn emit(&self, report: &Report, _: &EmitContext<'_>, out: &mut dyn Write) -> io::Result<()> {
        for f in &report.findings {
            serde_json::to_writer(&mut *out, f)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}
