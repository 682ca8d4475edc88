//! Emitters: each turns a finished [`Report`] into one output format and does nothing else.
mod json;
pub mod markdown;
mod sarif;
mod text;

use std::io::{self, Write};

use crate::rules::Rule;
use crate::scan::Report;

pub use json::{Json, JsonLines};
pub use markdown::Markdown;
pub use sarif::Sarif;
pub use text::Text;

/// What an emitter may need besides the report.
pub struct EmitContext<'a> {
    /// Every rule the scan ran with, to describe the ones that produced results.
    pub rules: &'a [Rule],
    /// Whether to use ANSI colours (text only).
    pub color: bool,
    /// The user asked for secrets in full (`--show-secrets`); findings already hold them so.
    pub show_secrets: bool,
    /// Web address of the repository (`https://github.com/OWNER/REPO`): Markdown links each finding
    /// to `BASE/blob/COMMIT/PATH#LLINE`.
    pub link_base: Option<String>,
    /// The commit links use for findings that carry none (files of the working tree).
    pub head_commit: Option<String>,
}

pub trait Emitter {
    fn emit(&self, report: &Report, ctx: &EmitContext<'_>, out: &mut dyn Write) -> io::Result<()>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Jsonl,
    Sarif,
    Markdown,
}

impl Format {
    pub fn emitter(self) -> Box<dyn Emitter> {
        match self {
            Format::Text => Box::new(Text),
            Format::Json => Box::new(Json),
            Format::Jsonl => Box::new(JsonLines),
            Format::Sarif => Box::new(Sarif),
            Format::Markdown => Box::new(Markdown),
        }
    }
}
