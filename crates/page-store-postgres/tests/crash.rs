//! Crash consistency of PostgreSQL clients: the contract suite's SIGKILL test
//! (`page_store_contract::crash`) on a fresh database of the test server, 100 kill points by
//! default. The killed process is the client; the server must keep every acknowledged
//! boundary and show nothing of a transaction the kill cut short.

#[path = "common/backend.rs"]
mod backend;

fn main() {
    page_store_contract::crash::run(&backend::PgBackend::new(), 100);
}
