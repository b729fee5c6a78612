//! Model-based test: random sequences of stage / validate / commit / touch / reopen run against
//! a store and against the in-memory reference store, compared after every step; and the
//! committed fields checked against an independent fold of the committed journal.

use std::collections::BTreeMap;

use page_core::{PageId, SessionPageTable};
use page_writeback::{
    EntryState, FieldPath, FieldState, FieldVersion, HistoryStore, JournalStore, MemoryStore, Op,
    PageStore, Writeback, apply_op,
};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;

use crate::Backend;
use crate::fixture::{id, sid, table, touch, turn, update, writeback};

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
        Just(r#""üñí \u0000 'q' \\ ""#),
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

struct Pair<'b, B: Backend> {
    backend: &'b B,
    location: String,
    real: Writeback<B::Store>,
    memory: Writeback<MemoryStore>,
    real_pages: SessionPageTable,
    memory_pages: SessionPageTable,
    turn: u64,
    touches: u64,
}

const PAGES: [&str; 4] = ["plan-s1", "rules-s1", "ev-s1", "pref"];

impl<B: Backend> Pair<'_, B> {
    fn apply(&mut self, step: &Step) {
        match step {
            Step::Stage {
                kind,
                field,
                op,
                value,
            } => {
                let u = update("s1", kind, field, *op, value);
                let a = self.real.stage(u.clone()).unwrap();
                let b = self.memory.stage(u).unwrap();
                assert_eq!(a, b);
            }
            Step::Validate => {
                let a = self.real.validate(&self.real_pages).unwrap();
                let b = self.memory.validate(&self.memory_pages).unwrap();
                assert_eq!(a, b);
            }
            Step::Commit => {
                self.turn += 1;
                let a = self
                    .real
                    .commit_boundary(turn(self.turn), &mut self.real_pages, Vec::new())
                    .unwrap();
                let b = self
                    .memory
                    .commit_boundary(turn(self.turn), &mut self.memory_pages, Vec::new())
                    .unwrap();
                assert_eq!(a, b);
            }
            Step::Touch => {
                self.touches += 1;
                let text = format!("plan touched {}", self.touches);
                touch(&mut self.real_pages, "plan-s1", &text);
                touch(&mut self.memory_pages, "plan-s1", &text);
            }
            Step::Reopen => {
                // Both processes "crash": pending entries are recovered from the journal.
                let memory_store = self.memory.store().clone();
                self.real = writeback(self.backend.open(&self.location), "s1");
                self.memory = writeback(memory_store, "s1");
                let a = self.real.recover().unwrap();
                let b = self.memory.recover().unwrap();
                assert_eq!(a, b);
            }
        }
    }

    fn compare(&self) {
        let s = self.real.store();
        let m = self.memory.store();
        let entries = s.entries(&sid("s1")).unwrap();
        assert_eq!(entries, m.entries(&sid("s1")).unwrap());
        for p in PAGES {
            let p = id(p);
            assert_eq!(s.fields(&p).unwrap(), m.fields(&p).unwrap());
            assert_eq!(s.page(&p).unwrap(), m.page(&p).unwrap());
            assert_eq!(
                s.page_versions(&p).unwrap(),
                HistoryStore::page_versions(m, &p).unwrap()
            );
        }
        assert_eq!(
            s.boundaries(&sid("s1")).unwrap(),
            HistoryStore::boundaries(m, &sid("s1")).unwrap()
        );
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
            self.real_pages
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

/// `cases` random sequences of up to 40 steps (seeded: the same sequences every run), each
/// on a new store of `backend`, compared with [`MemoryStore`] after every step.
pub fn model<B: Backend>(backend: &B, cases: u32) {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&prop::collection::vec(step(), 1..40), |steps| {
        let location = backend.create();
        let mut pair = Pair {
            backend,
            real: writeback(backend.open(&location), "s1"),
            location,
            memory: writeback(MemoryStore::new(), "s1"),
            real_pages: table("s1"),
            memory_pages: table("s1"),
            turn: 0,
            touches: 0,
        };
        for step in &steps {
            pair.apply(step);
            pair.compare();
        }
        assert_eq!(pair.backend.integrity(pair.real.store()), "ok");
        Ok(())
    });
    if let Err(e) = result {
        panic!("the store differs from the reference model: {e}");
    }
}
