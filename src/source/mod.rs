//! Where blobs come from.
pub mod fs;
