//! Model-based test: random sequences of stage / validate / commit / reopen run against the
//! SQLite store and against the in-memory reference store, compared after every step; and the
//! committed fields checked against an independent fold of the committed journal.

use std::collections::BTreeMap;
use std::path::Path;

use page_core::{PageId, Repr, Representation, SessionPageTable};
use page_store_sqlite::SqliteStore;
use page_writeback::{
    EntryState, FieldPath, FieldState, FieldVersion, JournalStore, MemoryStore, Op, PageStore,
    Writeback, apply_op,
};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use serde_json::Value;

use crate::support::{self, id, sid, table, turn, update};

#[derive(Debug, Clone)]
enum Step {
    Stage {
        kind: &'static str,
        field: &'static str,
        op: Op,
        value: &'static str,
    },
    Validate,
    Commit,
    /// Changes the plan page's content, making it dirty with a new version.
    Touch,
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    let target = prop_oneof![
        Just(("plan", "steps")),
        Just(("plan", "goal")),
        Just(("plan", "current_step")),
        Just(("rules", "rules")),
        Just(("ev", "args")),
        Just(("ev", "paths")),
        Just(("pref", "value")),
        Just(("ghost", "steps")),
    ];
    let op = prop_oneof![
        4 => Just(Op::Append),
        2 => Just(Op::Merge),
        3 => (0u64..4).prop_map(|v| Op::SetWithVersion { expected: FieldVersion::new(v) }),
        1 => Just(Op::Remove),
        1 => Just(Op::Overwrite),
    ];
    let value = prop_oneof![
        Just(r#""text""#),
        Just(r#"["a", "b"]"#),
        Just(r#"{"k": 1}"#),
        Just(r#"{"k": null}"#),
        Just("3"),
        Just("not json"),
    ];
    prop_oneof![
        8 => (target, op, value).prop_map(|((kind, field), op, value)| Step::Stage { kind, field, op, value }),
        2 => Just(Step::Validate),
        3 => Just(Step::Commit),
        1 => Just(Step::Touch),
        1 => Just(Step::Reopen),
    ]
}

struct Pair {
    sqlite: Writeback<SqliteStore>,
    memory: Writeback<MemoryStore>,
    sqlite_pages: SessionPageTable,
    memory_pages: SessionPageTable,
    turn: u64,
}

const PAGES: [&str; 4] = ["plan-s1", "rules-s1", "ev-s1", "pref"];

fn open(path: &Path) -> Writeback<SqliteStore> {
    support::writeback(SqliteStore::open(path).unwrap(), "s1")
}

impl Pair {
    fn apply(&mut self, step: &Step, path: &Path) {
        match step {
            Step::Stage {
                kind,
                field,
                op,
                value,
            } => {
                let u = update("s1", kind, field, *op, value);
                let a = self.sqlite.stage(u.clone()).unwrap();
                let b = self.memory.stage(u).unwrap();
                assert_eq!(a, b);
            }
            Step::Validate => {
                let a = self.sqlite.validate(&self.sqlite_pages).unwrap();
                let b = self.memory.validate(&self.memory_pages).unwrap();
                assert_eq!(a, b);
            }
            Step::Commit => {
                self.turn += 1;
                let a = self
                    .sqlite
                    .commit_boundary(turn(self.turn), &mut self.sqlite_pages, Vec::new())
                    .unwrap();
                let b = self
                    .memory
                    .commit_boundary(turn(self.turn), &mut self.memory_pages, Vec::new())
                    .unwrap();
                assert_eq!(a, b);
            }
            Step::Touch => {
                for pages in [&mut self.sqlite_pages, &mut self.memory_pages] {
                    let plan = pages.get(&id("plan-s1")).unwrap();
                    let v = plan.version();
                    let reps: BTreeMap<Repr, Representation> = plan
                        .representations()
                        .map(|(r, rep)| {
                            (
                                r,
                                Representation::new(format!("plan v{}", v + 1), rep.tokens()),
                            )
                        })
                        .collect();
                    pages.update(&id("plan-s1"), reps).unwrap();
                }
            }
            Step::Reopen => {
                // Both processes "crash": pending entries are recovered from the journal.
                let memory_store = self.memory.store().clone();
                self.sqlite = open(path);
                self.memory = support::writeback(memory_store, "s1");
                let a = self.sqlite.recover().unwrap();
                let b = self.memory.recover().unwrap();
                assert_eq!(a, b);
            }
        }
    }

    fn compare(&self) {
        let s = self.sqlite.store();
        let m = self.memory.store();
        let entries = s.entries(&sid("s1")).unwrap();
        assert_eq!(entries, m.entries(&sid("s1")).unwrap());
        for p in PAGES {
            let p = id(p);
            let fields = s.fields(&p).unwrap();
            assert_eq!(fields, m.fields(&p).unwrap());
            assert_eq!(s.page(&p).unwrap(), m.page(&p).unwrap());
            let versions: Vec<u64> = m
                .page_versions(&p)
                .unwrap()
                .iter()
                .map(page_core::Page::version)
                .collect();
            assert_eq!(s.page_versions(&p).unwrap(), versions);
        }
        // Independent model: the committed fields are the fold of the committed entries, in
        // commit order; nothing else (pending, rejected) left a trace.
        let mut committed: Vec<_> = entries
            .iter()
            .filter_map(|e| match e.state() {
                EntryState::Committed(seq) => Some((*seq, e.id(), e.update().clone())),
                _ => None,
            })
            .collect();
        committed.sort_by_key(|(seq, id, _)| (*seq, *id));
        let mut model: BTreeMap<(PageId, FieldPath), FieldState> = BTreeMap::new();
        for (_, _, u) in committed {
            let key = (u.page().clone(), u.field().clone());
            let value: Value = serde_json::from_str(u.value_json()).unwrap();
            let next = apply_op(model.get(&key), u.op(), &value).unwrap();
            model.insert(key, next);
        }
        let mut stored = BTreeMap::new();
        for p in PAGES {
            for (f, state) in s.fields(&id(p)).unwrap() {
                stored.insert((id(p), f), state);
            }
        }
        assert_eq!(stored, model);
        assert_eq!(
            self.sqlite_pages
                .dirty()
                .map(|p| p.id().clone())
                .collect::<Vec<_>>(),
            self.memory_pages
                .dirty()
                .map(|p| p.id().clone())
                .collect::<Vec<_>>()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_store_matches_the_reference_model(steps in prop::collection::vec(step(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.db");
        let mut pair = Pair {
            sqlite: open(&path),
            memory: support::writeback(MemoryStore::new(), "s1"),
            sqlite_pages: table("s1"),
            memory_pages: table("s1"),
            turn: 0,
        };
        for step in &steps {
            pair.apply(step, &path);
            pair.compare();
        }
        assert_eq!(pair.sqlite.store().integrity_check().unwrap(), "ok");
    }
}
