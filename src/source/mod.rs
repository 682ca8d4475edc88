//! Where blobs come from.
pub mod delta;
pub mod fs;
pub mod git;
pub mod history;
pub mod known;
pub mod pack;
pub mod reader;
pub mod store;
