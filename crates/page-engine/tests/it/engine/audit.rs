//! Every level change between prompts is an audit row in the store and a tracing event, and
//! a failed commit keeps its rows for the next boundary.

use super::*;

#[test]
fn every_level_change_between_prompts_is_audited_in_the_store_and_traced() {
    // Also: ingest, assembly and commit events carry what a person debugging needs.
    let events = Events::default();
    let store = MemoryStore::new();
    let placed = collecting(&events, || {
        let mut e = engine(&store);
        let placed: Vec<Vec<(PageId, Repr)>> = churn_session(&mut e)
            .iter()
            .map(|a| a.placed.iter().map(|p| (p.page.clone(), p.level)).collect())
            .collect();
        e.session_end().map_err(|e| e.0).unwrap();
        placed
    });
    // What changed between consecutive prompts, page by page, in order: a page left out and
    // shown again comes back from `none`.
    let mut want: std::collections::BTreeMap<PageId, Vec<(Repr, Repr)>> = Default::default();
    let mut gone = std::collections::BTreeSet::new();
    for pair in placed.windows(2) {
        for (page, from) in &pair[0] {
            let to = pair[1]
                .iter()
                .find(|(p, _)| p == page)
                .map_or(Repr::None, |(_, l)| *l);
            if to != *from {
                want.entry(page.clone()).or_default().push((*from, to));
            }
            if to == Repr::None {
                gone.insert(page.clone());
            }
        }
        for (page, to) in &pair[1] {
            if gone.remove(page) {
                want.entry(page.clone())
                    .or_default()
                    .push((Repr::None, *to));
            }
        }
    }
    assert!(
        !want.is_empty(),
        "the budget made levels change: {placed:?}"
    );
    let mut audited = 0;
    for (page, changes) in &want {
        let records = page_writeback::HistoryStore::audit_trail(&store, page).unwrap();
        for r in &records {
            // Levels are monotone in cost, so the full size bounds both ends of a change.
            let c = &r.change;
            assert!(
                c.full_tokens >= c.tokens_before.max(c.tokens_after),
                "{c:?}"
            );
            assert!(c.full_tokens.get() > 0, "{c:?}");
        }
        let trail: Vec<(Repr, Repr)> = records
            .iter()
            .map(|r| (r.change.from, r.change.to))
            .collect();
        assert_eq!(&trail, changes, "{page}");
        audited += trail.len();
    }
    let traced = events.named("context.pagevm.page_level");
    assert_eq!(traced.len(), audited);
    // The other events a person debugging the session reads, with their fields.
    let all = events.0.lock().unwrap().clone();
    let named = |name: &str| -> Vec<&Traced> { all.iter().filter(|(n, _)| n == name).collect() };
    assert_eq!(named("context.pagevm.assemble").len(), 8, "one per prompt");
    assert!(
        named("context.pagevm.ingest").len() >= 10,
        "rules, task, calls, results"
    );
    // Every prompt's turn boundary and the session end.
    assert!(named("context.pagevm.commit").len() >= 9);
    for (name, keys) in [
        (
            "context.pagevm.assemble",
            &[
                "session",
                "turn",
                "budget",
                "tokens",
                "pages",
                "prefix_churn",
            ][..],
        ),
        (
            "context.pagevm.ingest",
            &["session", "page", "page_type", "tokens_full"][..],
        ),
        (
            "context.pagevm.commit",
            &["session", "boundary", "seq", "pages", "audit_rows"][..],
        ),
    ] {
        for (_, fields) in named(name) {
            for key in keys {
                assert!(fields.contains_key(*key), "{name} lacks {key}: {fields:?}");
            }
        }
    }
    // Every audit row was committed by some boundary.
    let rows: usize = named("context.pagevm.commit")
        .iter()
        .map(|(_, f)| f["audit_rows"].parse::<usize>().unwrap())
        .sum();
    assert_eq!(rows, audited);
    for key in [
        "session",
        "turn",
        "page",
        "page_type",
        "level_before",
        "level_after",
        "tokens_before",
        "tokens_after",
        "full_tokens",
        "reason",
    ] {
        assert!(traced.iter().all(|f| f.contains_key(key)), "{key}");
    }
}

/// The in-memory store, whose commits fail while `failing` is set.
struct Flaky {
    inner: MemoryStore,
    failing: std::sync::atomic::AtomicBool,
}

impl Flaky {
    fn fail(&self, on: bool) {
        self.failing.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

impl page_writeback::BlobStore for Flaky {
    fn put_blob(
        &self,
        bytes: &[u8],
    ) -> Result<page_core::ContentDigest, page_writeback::StoreError> {
        self.inner.put_blob(bytes)
    }
    fn get_blob(
        &self,
        digest: &page_core::ContentDigest,
    ) -> Result<Option<Vec<u8>>, page_writeback::StoreError> {
        self.inner.get_blob(digest)
    }
}

impl PageStore for Flaky {
    fn page(&self, id: &PageId) -> Result<Option<page_core::Page>, page_writeback::StoreError> {
        self.inner.page(id)
    }
    fn tool_call_exists(&self, id: &ToolCallId) -> Result<bool, page_writeback::StoreError> {
        self.inner.tool_call_exists(id)
    }
    fn field(
        &self,
        page: &PageId,
        field: &FieldPath,
    ) -> Result<Option<page_writeback::FieldState>, page_writeback::StoreError> {
        self.inner.field(page, field)
    }
    fn fields(
        &self,
        page: &PageId,
    ) -> Result<
        std::collections::BTreeMap<FieldPath, page_writeback::FieldState>,
        page_writeback::StoreError,
    > {
        self.inner.fields(page)
    }
    fn search(
        &self,
        scope: &Scope,
        needle: &str,
    ) -> Result<Vec<PageId>, page_writeback::StoreError> {
        self.inner.search(scope, needle)
    }
}

impl JournalStore for Flaky {
    fn stage(
        &self,
        session: &SessionId,
        updates: &[Update],
    ) -> Result<Vec<page_writeback::EntryId>, page_writeback::StoreError> {
        self.inner.stage(session, updates)
    }
    fn record_outcomes(
        &self,
        outcomes: &[(page_writeback::EntryId, EntryState)],
    ) -> Result<(), page_writeback::StoreError> {
        self.inner.record_outcomes(outcomes)
    }
    fn commit(
        &self,
        batch: &page_writeback::CommitBatch,
    ) -> Result<page_writeback::CommitReceipt, page_writeback::StoreError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(page_writeback::StoreError::backend(std::io::Error::other(
                "disk full",
            )));
        }
        self.inner.commit(batch)
    }
    fn entries(
        &self,
        session: &SessionId,
    ) -> Result<Vec<page_writeback::JournalEntry>, page_writeback::StoreError> {
        self.inner.entries(session)
    }
    fn record_fault(
        &self,
        fault: &page_writeback::FaultRecord,
    ) -> Result<(), page_writeback::StoreError> {
        self.inner.record_fault(fault)
    }
}

#[test]
fn a_failed_commit_is_a_traced_flush_miss_and_its_audit_rows_wait_for_the_next_boundary() {
    let events = Events::default();
    let store = Flaky {
        inner: MemoryStore::new(),
        failing: std::sync::atomic::AtomicBool::new(false),
    };
    collecting(&events, || {
        let config = EngineConfig::new(
            SessionId::new("s1").unwrap(),
            PrincipalId::new("agent").unwrap(),
        );
        let mut e = Engine::session_start(&store, COUNTER.clone(), config).unwrap();
        let assemblies = churn_session(&mut e);
        // The last prompt's level changes wait for the next boundary, which fails.
        let pending: usize = {
            let (last, before) = (&assemblies[7].placed, &assemblies[6].placed);
            before
                .iter()
                .filter(|b| !last.iter().any(|a| a.page == b.page && a.level == b.level))
                .count()
        };
        assert!(pending > 0, "the last prompt changed levels");
        store.fail(true);
        let err = e.prompt_assemble(TokenCount::new(1_600)).unwrap_err();
        assert!(matches!(err, EngineError::FlushMiss(_)), "{err}");
        let misses = events.named("context.pagevm.flush_miss");
        assert_eq!(misses.len(), 1);
        let fields = &misses[0];
        assert_eq!(fields["audit_rows"], pending.to_string());
        assert!(fields["reason"].contains("disk full"), "{fields:?}");
        // The store's own error, traced where page-writeback called it.
        let store_errors = events.named("context.pagevm.store_error");
        assert_eq!(store_errors.len(), 1);
        assert!(
            store_errors[0]["error"].contains("disk full"),
            "{store_errors:?}"
        );
        // The store comes back: the next boundary commits the rows that waited.
        store.fail(false);
        e.prompt_assemble(TokenCount::new(1_600)).unwrap();
        let last = events
            .0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(n, _)| n == "context.pagevm.commit")
            .cloned();
        let (_, commit) = last.unwrap();
        assert_eq!(commit["audit_rows"], pending.to_string());
    });
}

#[test]
fn rules_pushed_below_their_minimum_are_audited_as_below_minimum() {
    let store = MemoryStore::new();
    let mut e = engine(&store);
    let rules = e
        .add_rules(RulesKind::Bootstrap, SYSTEM, "system prompt")
        .unwrap();
    e.user_message("Review the crate.").unwrap();
    let roomy = e.prompt_assemble(TokenCount::new(4_000)).unwrap();
    assert!(roomy.unmet.is_empty());
    // A budget of one token leaves no room for the rules at any level: invariant pressure.
    let starved = e.prompt_assemble(TokenCount::new(1)).unwrap();
    assert!(
        starved.unmet.iter().any(|(p, _)| *p == rules),
        "{:?}",
        starved.unmet
    );
    let back = e.prompt_assemble(TokenCount::new(4_000)).unwrap();
    assert!(back.unmet.is_empty());
    e.session_end().map_err(|e| e.0).unwrap();
    let trail: Vec<(Repr, String)> = page_writeback::HistoryStore::audit_trail(&store, &rules)
        .unwrap()
        .into_iter()
        .map(|r| (r.change.to, r.change.reason))
        .collect();
    assert_eq!(
        trail,
        [
            (Repr::None, "below_minimum".to_owned()),
            (Repr::Full, "raised".to_owned()),
        ]
    );
}
