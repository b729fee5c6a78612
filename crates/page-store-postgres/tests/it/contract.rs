//! The store contract suite (page-store-contract) on PostgreSQL, one fresh database per test.

use page_store_contract as contract;

use crate::backend::PgBackend;

#[test]
fn round_trip() {
    contract::round_trip(&PgBackend::new());
}

#[test]
fn blobs_are_content_addressed() {
    contract::blobs_are_content_addressed(&PgBackend::new());
}

#[test]
fn shared_project_page_is_stored_once() {
    contract::shared_project_page_is_stored_once(&PgBackend::new());
}

#[test]
fn bad_input() {
    contract::bad_input(&PgBackend::new());
}

#[test]
fn journal_semantics() {
    contract::journal_semantics(&PgBackend::new());
}

#[test]
fn copy_round_trip() {
    contract::copy_round_trip(&PgBackend::new());
}

#[test]
fn model() {
    contract::model(&PgBackend::new(), 32);
}

#[test]
fn threads_commit_the_union() {
    contract::threads_commit_the_union(&PgBackend::new(), 8, 3, 10, 5);
}

#[test]
fn processes_commit_the_union() {
    contract::processes_commit_the_union(
        &PgBackend::new(),
        "contract::processes_commit_the_union",
        6,
        2,
        8,
        5,
    );
}

#[test]
fn a_repeated_boundary_is_written_once() {
    contract::a_repeated_boundary_is_written_once(&PgBackend::new());
}
