//! Integration tests of page-store-postgres on a real server (`PAGEVM_TEST_PG_URL`, started by
//! `scripts/pg-test-server`): one binary, one module per feature.

#[path = "../common/backend.rs"]
mod backend;
mod contract;
mod server;
