//! Kill -9 between boundaries: a child process drives a Zeph session through `PagedSession`
//! on the SQLite store and acknowledges each request; the parent kills it at a random point,
//! reopens the store, checks that every acknowledged request's pages and audit records are
//! there, and continues the session to its end.
//!
//! `PAGEVM_CRASH_ITERATIONS=N` sets the number of kill points (default 12),
//! `PAGEVM_CRASH_SEED=S` the seed of the kill delays.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a test harness: the child reports acknowledgements on stdout"
)]

#[path = "common/history.rs"]
mod history;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use page_core::{PageId, Repr};
use page_store_contract::crash::{answered_listing, env_u64};
use page_store_sqlite::SqliteStore;
use page_writeback::CopyStore;
use pagevm_zeph::{PagedSession, SessionConfig, ZephTokens, orphaned_pairs, read_page};
use serde_json::json;

use crate::history::{history, log, requests};

const CHILD_VAR: &str = "PAGEVM_ZEPH_CRASH_CHILD";
const TURNS: usize = 24;
const BUDGET: usize = 3_000;
const CONVERSATION: i64 = 7;

fn session(store: SqliteStore) -> PagedSession<SqliteStore> {
    PagedSession::start(
        store,
        ZephTokens::new(),
        SessionConfig::new(CONVERSATION).unwrap(),
    )
    .unwrap()
}

/// The child: every request of the history, acknowledged as `ACK <end> <audit rows committed>`.
fn child(path: &Path) {
    let h = history(TURNS, true);
    let mut s = session(SqliteStore::open(path).unwrap());
    let mut out = std::io::stdout().lock();
    let mut previous: Vec<(PageId, Repr)> = Vec::new();
    // Level changes seen at earlier requests: committed by the next request's boundary.
    let (mut committed, mut pending) = (0usize, 0usize);
    for end in requests(&h) {
        let prompt = s.assemble(&h[..end], BUDGET, 1_700_000_000).unwrap();
        committed += pending;
        let now: BTreeMap<&PageId, Repr> = prompt
            .assembly
            .placed
            .iter()
            .map(|p| (&p.page, p.level))
            .collect();
        pending = previous
            .iter()
            .filter(|(p, l)| now.get(p).copied().unwrap_or(Repr::None) != *l)
            .count();
        previous = prompt
            .assembly
            .placed
            .iter()
            .map(|p| (p.page.clone(), p.level))
            .collect();
        writeln!(out, "ACK {end} {committed}").unwrap();
        out.flush().unwrap();
    }
    s.end().map_err(|e| e.0).unwrap();
    writeln!(out, "DONE").unwrap();
}

/// The audit rows the store holds.
fn audit_rows(store: &SqliteStore) -> usize {
    store
        .boundary_seqs()
        .unwrap()
        .into_iter()
        .map(|seq| store.export_boundary(seq).unwrap().audit.len())
        .sum()
}

/// After a kill that acknowledged up to `end` with `audits` rows committed: every page of
/// `h[..end]` is stored once and reads back in full, the audit rows are there; then the
/// session continues to the end of the history and writes no page again.
fn check(path: &Path, acked: Option<(usize, usize)>) {
    let h = history(TURNS, true);
    let store = SqliteStore::open(path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let (end, audits) = acked.unwrap_or((0, 0));
    assert!(audit_rows(&store) >= audits, "audit rows lost");
    let mut stored = BTreeMap::new();
    for t in 0..TURNS {
        let row = 100 + 4 * t;
        for (at, id) in [
            (row + 1, format!("zeph-c7-m{}", row + 1)),
            (row + 3, format!("zeph-c7-m{}-t0", row + 2)),
        ] {
            if at >= end {
                continue;
            }
            let page = PageId::new(id).unwrap();
            let versions = store.page_versions(&page).unwrap();
            assert_eq!(versions.len(), 1, "{page}: {versions:?}");
            stored.insert(page, versions);
        }
    }
    let mut s = session(store);
    for (page, _) in stored.iter().filter(|(p, _)| p.as_str().ends_with("-t0")) {
        let row: usize = page.as_str()["zeph-c7-m".len()..page.as_str().len() - 3]
            .parse()
            .unwrap();
        let text = read_page(s.engine(), &json!({"page": page.as_str()})).unwrap();
        assert_eq!(text, log(&format!("module_{}", (row - 102) / 4), 60));
    }
    for e in requests(&h).into_iter().filter(|&e| e >= end) {
        let prompt = s.assemble(&h[..e], BUDGET, 1_700_000_001).unwrap();
        assert!(prompt.tokens <= BUDGET);
        assert_eq!(orphaned_pairs(&prompt.messages), 0);
    }
    let (_, store) = s.end().map_err(|e| e.0).unwrap();
    for (page, versions) in stored {
        assert_eq!(
            store.page_versions(&page).unwrap(),
            versions,
            "{page} rewritten"
        );
    }
}

fn main() {
    if answered_listing() {
        return;
    }
    #[expect(
        clippy::disallowed_methods,
        reason = "selects the child role of this test binary"
    )]
    if let Ok(path) = std::env::var(CHILD_VAR) {
        child(Path::new(&path));
        return;
    }
    let iterations = env_u64("PAGEVM_CRASH_ITERATIONS", 12);
    let mut seed = env_u64("PAGEVM_CRASH_SEED", 0x7a65_7068);
    let exe = std::env::current_exe().unwrap();
    let requests = requests(&history(TURNS, true)).len();
    let (mut acked_total, mut finished) = (0usize, 0usize);
    for i in 0..iterations {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pagevm.db");
        let mut child = Command::new(&exe)
            .env(CHILD_VAR, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        // A splitmix step: the kill lands after 1..=requests acknowledgements, then 0..4 ms on.
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let wait_acks = 1 + usize::try_from(z % requests as u64).unwrap();
        let mut lines = Vec::new();
        let mut line = String::new();
        while lines.len() < wait_acks && stdout.read_line(&mut line).unwrap() > 0 {
            lines.push(std::mem::take(&mut line));
        }
        std::thread::sleep(Duration::from_micros((z >> 32) % 4_000));
        // On Unix, `kill` sends SIGKILL: no destructor, no flush, no rollback runs.
        child.kill().unwrap();
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() && out.status.code().is_some() {
            panic!(
                "child {i} failed by itself: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let all: String = lines.concat() + &rest;
        finished += usize::from(all.lines().any(|l| l == "DONE"));
        let acked = all.lines().rev().find_map(|l| {
            let mut w = l.split(' ');
            match (w.next(), w.next(), w.next()) {
                (Some("ACK"), Some(end), Some(audits)) => {
                    Some((end.parse().unwrap(), audits.parse().unwrap()))
                }
                _ => None,
            }
        });
        acked_total += usize::from(acked.is_some());
        check(&path, acked);
    }
    println!(
        "crash: {iterations} kill points, {acked_total} after an acknowledged request, \
         {finished} children finished before the kill"
    );
    assert!(acked_total > 0, "no child acknowledged a request");
}
