//! page-tokenizer's integration tests, in one binary: known counts and counting properties
//! (`counts`), and the fast counter against the reference (`fast`).

mod counts;
mod fast;
