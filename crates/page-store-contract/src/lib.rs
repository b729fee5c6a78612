//! The store contract suite: generic tests that every implementation of page-writeback's
//! storage traits passes, whatever it stores in (memory, SQLite, PostgreSQL).
//!
//! A store crate describes how to make and reopen its stores with a [`Backend`] and calls each
//! test function from one `#[test]` of its own: [`round_trip`], [`blobs_are_content_addressed`],
//! [`shared_project_page_is_stored_once`], [`bad_input`], [`journal_semantics`],
//! [`copy_round_trip`] (a whole store copied in and out, idempotent and resumable),
//! [`model`] (proptest against [`MemoryStore`]), [`threads_commit_the_union`],
//! [`processes_commit_the_union`] (the test binary re-run as writer processes), and
//! [`crash::run`] (SIGKILLed writer processes, for a `harness = false` test binary). A failed
//! check panics with what differs, like an assertion in a test.
//!
//! This crate is a dev-dependency only (`publish = false`); it links no store but the
//! in-memory one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "a test suite: a failed check is a panic that names what differs"
)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use page_writeback::{CopyStore, MemoryStore};

pub mod bench;
mod cases;
mod copy;
pub mod crash;
pub mod fixture;
mod model;
mod union;

pub use crate::cases::{
    a_repeated_boundary_is_written_once, bad_input, blobs_are_content_addressed, journal_semantics,
    round_trip, shared_project_page_is_stored_once,
};
pub use crate::copy::copy_round_trip;
pub use crate::model::model;
pub use crate::union::{
    processes_commit_the_union, threads_commit_the_union, threads_commit_the_union_disturbed,
};

/// How a store implementation makes and reopens its stores.
pub trait Backend: Sync {
    /// The store.
    type Store: CopyStore + Send + Sync;

    /// Makes a new, empty store and returns its location: a string [`Backend::open`] (in this
    /// process or in a child process given the same backend) opens.
    fn create(&self) -> String;

    /// Opens another handle to the store at `location`, as a restarted process would.
    fn open(&self, location: &str) -> Self::Store;

    /// The backend's own consistency check of the store at `location`: `ok` or the problems.
    fn integrity(&self, store: &Self::Store) -> String;

    /// Waits until the store has decided everything the killed process `pid` had sent it: a
    /// client-server store may still be running a transaction (even a `COMMIT`) of a client
    /// that died. Embedded stores have nothing to wait for (the default).
    fn settle(&self, _location: &str, _pid: u32) {}

    /// Whether a store survives its process (child-process tests need that).
    fn durable(&self) -> bool {
        true
    }
}

/// The in-memory store as a [`Backend`]: a location names a store held by the backend, and
/// "reopening" gives another handle to it. Not durable.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    stores: Mutex<BTreeMap<String, MemoryStore>>,
}

impl Backend for MemoryBackend {
    type Store = MemoryStore;

    fn create(&self) -> String {
        let mut stores = self.stores.lock().unwrap();
        let location = format!("memory-{}", stores.len());
        stores.insert(location.clone(), MemoryStore::new());
        location
    }

    fn open(&self, location: &str) -> MemoryStore {
        self.stores.lock().unwrap()[location].clone()
    }

    fn integrity(&self, _store: &MemoryStore) -> String {
        "ok".to_owned()
    }

    fn durable(&self) -> bool {
        false
    }
}
