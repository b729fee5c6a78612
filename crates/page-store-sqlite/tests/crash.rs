//! Crash consistency on a real database file: the contract suite's SIGKILL test
//! (`page_store_contract::crash`), 200 kill points by default.

#[path = "common/backend.rs"]
mod backend;

fn main() {
    page_store_contract::crash::run(&backend::SqliteBackend::default(), 200);
}
