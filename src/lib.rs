//! keytrail finds leaked credentials and says which non-human identity each one is.
//!
//! The pipeline: a **source** (the file tree today; git history, the index and commit ranges
//! later) yields blobs of bytes; the **matcher** ([`matcher::Matcher`]) selects candidate rules
//! with a keyword prefilter and runs only their regexes, entropy floors and checksums; each
//! accepted match becomes a [`finding::Finding`] carrying a redacted secret and a value-only
//! fingerprint; the [`scan::Report`] sorts them; a [`report::Emitter`] formats the result.
//! Rules are data ([`rules`]), embedded from `rules/*.toml` at build time.
pub mod baseline;
pub mod config;
pub mod finding;
#[doc(hidden)]
pub mod fuzz;
pub mod matcher;
pub mod nhi;
pub mod report;
pub mod rules;
pub mod scan;
pub mod source;
pub mod suppress;
