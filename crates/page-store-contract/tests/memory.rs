//! The contract suite on the in-memory reference store (a store compared with itself in the
//! model test still checks the independent fold of the journal).

use page_store_contract::{self as contract, MemoryBackend};

#[test]
fn round_trip() {
    contract::round_trip(&MemoryBackend::default());
}

#[test]
fn blobs_are_content_addressed() {
    contract::blobs_are_content_addressed(&MemoryBackend::default());
}

#[test]
fn shared_project_page_is_stored_once() {
    contract::shared_project_page_is_stored_once(&MemoryBackend::default());
}

#[test]
fn bad_input() {
    contract::bad_input(&MemoryBackend::default());
}

#[test]
fn journal_semantics() {
    contract::journal_semantics(&MemoryBackend::default());
}

#[test]
fn copy_round_trip() {
    contract::copy_round_trip(&MemoryBackend::default());
}

#[test]
fn model() {
    contract::model(&MemoryBackend::default(), 48);
}

#[test]
fn threads_commit_the_union() {
    contract::threads_commit_the_union(&MemoryBackend::default(), 6, 3, 10, 5);
}

#[test]
fn a_repeated_boundary_is_written_once() {
    contract::a_repeated_boundary_is_written_once(&MemoryBackend::default());
}
