//! Copying a whole store in and out of a backend: everything reads back the same, a second
//! copy copies nothing, an interrupted copy resumes, and the copy takes new commits after it.

use page_core::{FaultKind, PageId, Scope, SessionId};
use page_writeback::{
    BlobStore, CopyCounts, CopyStore, FaultRecord, FieldVersion, JournalStore, MemoryStore, Op,
    PageStore, copy_store,
};
use pretty_assertions::assert_eq;

use crate::Backend;
use crate::fixture::{change, id, sid, table, touch, turn, update, writeback};

const SESSIONS: [&str; 2] = ["c1", "c2"];

/// A store with a history: two sessions of boundaries with appends, versioned sets, rejections,
/// audit rows and page versions, a pending entry, faults (one of a session that never staged)
/// and a blob no page references.
fn source() -> MemoryStore {
    let store = MemoryStore::new();
    for (k, s) in SESSIONS.iter().enumerate() {
        let mut wb = writeback(&store, s);
        let mut pages = table(s);
        for b in 0..4u64 {
            wb.stage(update(
                s,
                "plan",
                "steps",
                Op::Append,
                &format!("\"{s}-{b}\""),
            ))
            .unwrap();
            wb.stage(update(
                s,
                "plan",
                "goal",
                Op::SetWithVersion {
                    expected: FieldVersion::new(b),
                },
                &format!("\"goal {b}\""),
            ))
            .unwrap();
            wb.stage(update(s, "plan", "steps", Op::Remove, "\"x\""))
                .unwrap();
            if b % 2 == 1 {
                touch(&mut pages, &format!("plan-{s}"), &format!("plan {s} v{b}"));
            }
            wb.commit_boundary(turn(b + 1), &mut pages, vec![change(s, &format!("r{b}"))])
                .unwrap();
        }
        // Staged, never committed.
        wb.stage(update(s, "ev", "paths", Op::Append, "\"pending\""))
            .unwrap();
        store
            .record_fault(&FaultRecord {
                session: sid(s),
                kind: FaultKind::Refetch,
                page: Some(id(&format!("ev-{s}"))),
                tool_call: None,
                turn: 2,
                time_ms: 2000 + k as i64,
                detail: format!("fault of {s}"),
            })
            .unwrap();
    }
    store
        .record_fault(&FaultRecord {
            session: sid("quiet"),
            kind: FaultKind::Refetch,
            page: None,
            tool_call: None,
            turn: 1,
            time_ms: 1,
            detail: "a session that only faulted".to_owned(),
        })
        .unwrap();
    store.put_blob(b"a blob no page references").unwrap();
    store
}

/// Everything the traits read, as one comparable text.
fn dump(store: &dyn CopyStore) -> String {
    let mut out = Vec::new();
    out.push(format!("sessions {:?}", store.sessions().unwrap()));
    out.push(format!(
        "boundary seqs {:?}",
        store.boundary_seqs().unwrap()
    ));
    for s in store.sessions().unwrap() {
        out.push(format!(
            "{s} boundaries {:?}",
            store.boundaries(&s).unwrap()
        ));
        out.push(format!("{s} entries {:?}", store.entries(&s).unwrap()));
        out.push(format!("{s} faults {:?}", store.faults(&s).unwrap()));
    }
    for s in SESSIONS {
        for p in ["plan", "rules", "ev"] {
            let page = id(&format!("{p}-{s}"));
            out.push(format!("{page} {:?}", store.page(&page).unwrap()));
            out.push(format!(
                "{page} versions {:?}",
                store.page_versions(&page).unwrap()
            ));
            out.push(format!("{page} fields {:?}", store.fields(&page).unwrap()));
            out.push(format!(
                "{page} audit {:?}",
                store.audit_trail(&page).unwrap()
            ));
        }
    }
    out.push(format!("pref {:?}", store.page(&id("pref")).unwrap()));
    let digests = store.blob_digests().unwrap();
    for d in &digests {
        out.push(format!("blob {d:?} {:?}", store.get_blob(d).unwrap()));
    }
    out.join("\n")
}

/// A store copied into `backend` and back out reads the same as the original; copying again
/// copies nothing; a copy interrupted after some boundaries resumes; the copy takes new
/// boundaries after the copied ones.
pub fn copy_round_trip<B: Backend>(backend: &B) {
    let src = source();
    let want = dump(&src);
    let n = src.boundary_seqs().unwrap().len() as u64;

    // Interrupted after two boundaries, then resumed.
    let dst = backend.open(&backend.create());
    for seq in src.boundary_seqs().unwrap().into_iter().take(2) {
        assert!(
            dst.import_boundary(&src.export_boundary(seq).unwrap())
                .unwrap()
        );
    }
    let mut calls = 0;
    let counts = copy_store(&src, &dst, &mut |done, total| {
        calls += 1;
        assert_eq!((done, total), (calls, n));
    })
    .unwrap();
    assert_eq!(
        counts,
        CopyCounts {
            boundaries: n - 2,
            boundaries_present: 2,
            entries: 2 * 4 + 2,
            faults: 3,
            blobs: 1,
        }
    );
    assert_eq!(dump(&dst), want);
    assert_eq!(backend.integrity(&dst), "ok");
    // Again: nothing new.
    let again = copy_store(&src, &dst, &mut |_, _| {}).unwrap();
    assert_eq!(
        again,
        CopyCounts {
            boundaries_present: n,
            ..CopyCounts::default()
        }
    );
    // And back out into memory.
    let back = MemoryStore::new();
    copy_store(&dst, &back, &mut |_, _| {}).unwrap();
    assert_eq!(dump(&back), want);

    // The copy goes on: a writer recovers the pending entry and commits after the copied
    // boundaries, with new sequence numbers and entry ids.
    let mut wb = writeback(&dst, "c1");
    assert_eq!(wb.recover().unwrap(), 1);
    let mut pages = table("c1");
    let report = wb.commit_boundary(turn(9), &mut pages, Vec::new()).unwrap();
    assert_eq!(report.seq.get(), n + 1);
    let staged = dst
        .stage(
            &sid("c2"),
            &[update("c2", "plan", "steps", Op::Append, "\"new\"")],
        )
        .unwrap();
    let max_id = SESSIONS
        .iter()
        .flat_map(|s| src.entries(&sid(s)).unwrap())
        .map(|e| e.id())
        .max()
        .unwrap();
    assert!(staged[0] > max_id, "{staged:?} after {max_id:?}");
    assert_eq!(
        dst.search(&Scope::Session(SessionId::new("c1").unwrap()), "plan c1 v3")
            .unwrap(),
        vec![PageId::new("plan-c1").unwrap()]
    );
}
