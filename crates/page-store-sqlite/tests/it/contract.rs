//! The store contract suite (page-store-contract) on real SQLite files.

#[path = "../common/backend.rs"]
mod backend;

use backend::SqliteBackend;
use page_store_contract as contract;

#[test]
fn round_trip() {
    contract::round_trip(&SqliteBackend::default());
}

#[test]
fn blobs_are_content_addressed() {
    contract::blobs_are_content_addressed(&SqliteBackend::default());
}

#[test]
fn shared_project_page_is_stored_once() {
    contract::shared_project_page_is_stored_once(&SqliteBackend::default());
}

#[test]
fn bad_input() {
    contract::bad_input(&SqliteBackend::default());
}

#[test]
fn journal_semantics() {
    contract::journal_semantics(&SqliteBackend::default());
}

#[test]
fn copy_round_trip() {
    contract::copy_round_trip(&SqliteBackend::default());
}

#[test]
fn model() {
    contract::model(&SqliteBackend::default(), 48);
}

#[test]
fn threads_commit_the_union() {
    contract::threads_commit_the_union(&SqliteBackend::default(), 6, 3, 10, 5);
}

#[test]
fn processes_commit_the_union() {
    contract::processes_commit_the_union(
        &SqliteBackend::default(),
        "contract::processes_commit_the_union",
        4,
        2,
        8,
        5,
    );
}

#[test]
fn a_repeated_boundary_is_written_once() {
    contract::a_repeated_boundary_is_written_once(&SqliteBackend::default());
}
