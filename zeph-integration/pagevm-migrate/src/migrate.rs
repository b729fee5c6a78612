//! The migration run: plans each conversation, builds its pages with page-engine and commits
//! them through page-writeback's journal in bounded boundaries, skipping pages the store
//! already holds (idempotence and resumption).

use std::sync::Arc;

use page_core::{
    Boundary, Page, PageId, Repr, Scope, SessionId, SessionPageTable, TokenCounter, TypeTable,
};
use page_engine::{BuildConfig, RepresentationBuilder};
use page_tokenizer::{Encoding, FastBpeCounter};
use page_writeback::{
    AccessControl, BoundaryContext, FieldSchemas, MemoryStore, PageStore, ReprChange, Store,
    Writeback,
};

use crate::build::{Job, build_all, build_err};
use crate::error::MigrateError;
use crate::plan::{Unit, plan};
use crate::report::{Diagnostic, DiagnosticKind, MigrationReport, Progress};
use crate::source::ZephDb;

/// What to migrate and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateOptions {
    /// Only this conversation (`--conversation`); all when `None`.
    pub conversation: Option<i64>,
    /// The most pages one boundary commits. Smaller boundaries lose less work to a crash;
    /// larger ones commit faster. Default 512.
    pub batch_pages: usize,
    /// Threads; `None`: the machine's available parallelism. With one, everything runs on
    /// the calling thread; with more, a reader thread reads and plans, the calling thread
    /// checks and commits, and `threads - 1` threads build the next boundary meanwhile.
    /// The output does not depend on it.
    pub threads: Option<std::num::NonZeroUsize>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        Self {
            conversation: None,
            batch_pages: 512,
            threads: None,
        }
    }
}

/// The builder Zeph migrations use: `cl100k_base` counts (what Zeph's token counter uses) from
/// the fast counter (the same counts as tiktoken-rs, checked in page-tokenizer's tests),
/// default type table and build configuration.
///
/// # Errors
/// [`MigrateError::Build`] when the build configuration is refused.
pub fn zeph_builder() -> Result<RepresentationBuilder<FastBpeCounter>, MigrateError> {
    RepresentationBuilder::new(
        FastBpeCounter::new(Encoding::Cl100kBase),
        TypeTable::default(),
        BuildConfig::default(),
    )
    .map_err(|e| MigrateError::Build {
        page: String::new(),
        detail: e.to_string(),
    })
}

/// Migrates `zeph` into `store`: every conversation (or `options.conversation`), pages the
/// store does not hold yet, committed in boundaries of at most `options.batch_pages` pages.
/// Running it again creates nothing; after an interruption it continues.
///
/// # Errors
/// [`MigrateError`]: reading the Zeph database, building a page, or a boundary that could
/// not commit (what was committed before it stays; a re-run continues there).
pub fn migrate<S: Store, C: TokenCounter + Sync>(
    zeph: &ZephDb,
    store: &S,
    builder: &RepresentationBuilder<C>,
    options: &MigrateOptions,
    progress: &mut dyn Progress,
) -> Result<MigrationReport, MigrateError> {
    run(zeph, store, Some(store), builder, options, progress)
}

/// Like [`migrate`] but commits nothing: reports what a migration into `store` would do
/// (pass an empty `page_writeback::MemoryStore` when there is no store yet).
///
/// # Errors
/// As [`migrate`], except commits.
pub fn dry_run<S: PageStore, C: TokenCounter + Sync>(
    zeph: &ZephDb,
    store: &S,
    builder: &RepresentationBuilder<C>,
    options: &MigrateOptions,
    progress: &mut dyn Progress,
) -> Result<MigrationReport, MigrateError> {
    // Nothing is committed: no target store (its type is only named).
    run(
        zeph,
        store,
        None::<&MemoryStore>,
        builder,
        options,
        progress,
    )
}

/// How many boundaries the builder thread may be ahead of the commits. Boundaries differ in
/// size (a compaction's few pages, then up to `batch_pages`), so a deeper queue keeps both
/// stages busy: on the 100k-message bench, 1 gave 6.8 s wall, 3 gave 5.5 s, 8 gave 4.5 s.
/// Memory: at most one more than this many boundaries of pages in flight.
const LOOKAHEAD: usize = 8;

/// What the committing side does next, in the order a sequential run would do it.
enum Step {
    /// Commit a boundary (built already, or being built on the builder thread).
    Commit(Job),
    /// Report a conversation's messages as processed (after its last boundary).
    Messages(u64),
}

/// A queued step of the committing side.
enum Queued {
    /// A boundary: its job when it is built inline at commit time, `None` when the builder
    /// thread has it and sends it back built (in the order it was given).
    Commit(Option<Job>),
    /// See [`Step::Messages`].
    Messages(u64),
}

/// Where pages are built: inline, or on a builder thread up to [`LOOKAHEAD`] boundaries ahead
/// of the commits.
enum Builder<'r, C> {
    Inline {
        builder: &'r RepresentationBuilder<C>,
        types: &'r TypeTable,
    },
    Thread {
        jobs: std::sync::mpsc::SyncSender<Job>,
        built: std::sync::mpsc::Receiver<(Job, Vec<Result<Page, MigrateError>>)>,
    },
}

/// The committing side of a run: the journal of the conversation being committed and the
/// steps still to do.
struct Committer<'a, S: Store> {
    target: Option<&'a S>,
    schemas: Arc<FieldSchemas>,
    journal: Option<(i64, Writeback<&'a S>)>,
    pending: std::collections::VecDeque<Queued>,
    in_flight: usize,
}

fn run<R: PageStore, S: Store, C: TokenCounter + Sync>(
    zeph: &ZephDb,
    existing: &R,
    target: Option<&S>,
    builder: &RepresentationBuilder<C>,
    options: &MigrateOptions,
    progress: &mut dyn Progress,
) -> Result<MigrationReport, MigrateError> {
    let all = zeph.conversations()?;
    let conversations = match options.conversation {
        Some(c) if all.contains(&c) => vec![c],
        Some(c) => return Err(MigrateError::UnknownConversation(c)),
        None => all,
    };
    progress.start(zeph.count_messages(options.conversation)?);
    let schemas = Arc::new(FieldSchemas::builtin().map_err(|e| MigrateError::Build {
        page: String::new(),
        detail: format!("field schemas: {e}"),
    })?);
    let types = TypeTable::default();
    let mut report = MigrationReport {
        schema: Some(zeph.schema().clone()),
        dry_run: target.is_none(),
        ..MigrationReport::default()
    };
    for c in zeph.conversations_without_row()? {
        if conversations.contains(&c) {
            report.diagnostics.push(Diagnostic {
                conversation: c,
                message: None,
                kind: DiagnosticKind::MissingConversation,
                detail: format!(
                    "messages name conversation {c}, which has no conversations row; they are migrated as that conversation"
                ),
            });
        }
    }
    let threads = options
        .threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, std::num::NonZeroUsize::get);
    let mut committer = Committer {
        target,
        schemas,
        journal: None,
        pending: std::collections::VecDeque::new(),
        in_flight: 0,
    };
    if threads <= 1 {
        let mut build = Builder::Inline {
            builder,
            types: &types,
        };
        let plans = conversations
            .iter()
            .map(|&c| zeph.conversation(c).map(|conv| (c, plan(&conv))));
        produce(
            plans,
            existing,
            options,
            &mut report,
            &mut |step, report| committer.push(step, &mut build, report, progress),
        )?;
        committer.drain(0, &mut build, &mut report, progress)?;
        return Ok(report);
    }
    // Three stages: a reader thread reads and plans conversations (on its own read-only
    // connection); this thread checks the store and commits; a builder thread builds the next
    // boundaries (on `threads - 1` threads) while this one commits earlier ones. Commits happen
    // in the same order as a sequential run, so the store's contents, the report and the
    // progress calls do not depend on `threads`.
    let reader_db = ZephDb::open(zeph.path())?;
    let (plans_tx, plans_rx) = std::sync::mpsc::sync_channel(2);
    let (jobs_tx, jobs_rx) = std::sync::mpsc::sync_channel::<Job>(LOOKAHEAD);
    let (built_tx, built_rx) = std::sync::mpsc::sync_channel(LOOKAHEAD);
    let types = &types;
    let conversations = &conversations;
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            for &c in conversations {
                let planned = reader_db.conversation(c).map(|conv| (c, plan(&conv)));
                let failed = planned.is_err();
                // The committing side hangs up when it stops early.
                if plans_tx.send(planned).is_err() || failed {
                    break;
                }
            }
        });
        let worker = s.spawn(move || {
            for job in jobs_rx {
                let pages = build_all(builder, types, &job, threads - 1);
                if built_tx.send((job, pages)).is_err() {
                    break;
                }
            }
        });
        let mut build: Builder<'_, C> = Builder::Thread {
            jobs: jobs_tx,
            built: built_rx,
        };
        let result = produce(
            plans_rx.iter(),
            existing,
            options,
            &mut report,
            &mut |step, report| committer.push(step, &mut build, report, progress),
        )
        .and_then(|()| committer.drain(0, &mut build, &mut report, progress));
        // Closing the channels stops the reader and the builder (also when this side failed
        // midway).
        drop(build);
        drop(plans_rx);
        let joined = (worker.join(), reader.join());
        result?;
        match joined {
            (Ok(()), Ok(())) => Ok(()),
            _ => Err(build_err("(batch)", "a reader or builder thread panicked")),
        }
    })?;
    Ok(report)
}

/// Takes each conversation's plan, in order, skips the pages the store holds and hands its
/// boundaries to `step`.
fn produce<R: PageStore>(
    plans: impl Iterator<Item = Result<(i64, crate::plan::Plan), MigrateError>>,
    existing: &R,
    options: &MigrateOptions,
    report: &mut MigrationReport,
    step: &mut dyn FnMut(Step, &mut MigrationReport) -> Result<(), MigrateError>,
) -> Result<(), MigrateError> {
    let batch = options.batch_pages.max(1);
    for planned in plans {
        let (c, plan) = planned?;
        let n = &plan.counts;
        report.conversations += 1;
        report.messages_read += n.messages_read;
        report.tool_groups += n.tool_groups;
        report.orphaned_tool_parts += n.orphaned_tool_parts;
        report.corrupt_rows += n.corrupt_rows;
        report.legacy_rows += n.legacy_rows;
        report.summaries += n.summaries;
        report.archives += n.archives;
        report.skipped_deleted += n.skipped_deleted;
        report.compactions += n.compactions;
        report.diagnostics.extend(plan.diagnostics.iter().cloned());
        let messages = n.messages_read;

        let session = SessionId::new(crate::ids::session(c))
            .map_err(|e| build_err(&format!("session of conversation {c}"), e))?;
        let scope = Scope::Session(session);
        let mut units = plan.units;
        let cuts: Vec<usize> = boundaries(&units, batch).iter().map(|g| g.len()).collect();
        // Take the units out back to front so each boundary owns its own.
        let mut groups = Vec::with_capacity(cuts.len());
        for len in cuts.into_iter().rev() {
            groups.push(units.split_off(units.len() - len));
        }
        for (ordinal, group) in groups.into_iter().rev().enumerate() {
            let head = group.first().and_then(|u| u.compacted.clone());
            let newest_ms = group.iter().map(|u| u.time_ms).max().unwrap_or(0);
            let mut todo = Vec::with_capacity(group.len());
            for unit in group {
                let id = PageId::new(&unit.id).map_err(|e| build_err(&unit.id, e))?;
                if existing.page(&id)?.is_some() {
                    report.pages_existing += 1;
                } else {
                    todo.push((id, unit));
                }
            }
            if todo.is_empty() {
                continue;
            }
            let job = Job {
                conversation: c,
                ordinal,
                scope: scope.clone(),
                todo,
                head,
                newest_ms,
            };
            step(Step::Commit(job), report)?;
        }
        step(Step::Messages(messages), report)?;
    }
    Ok(())
}

impl<'a, S: Store> Committer<'a, S> {
    /// Queues `step`, hands a boundary to the builder thread, and does the queued steps that
    /// no longer need to wait (with a builder thread, up to [`LOOKAHEAD`] boundaries stay with
    /// it so that it builds while earlier ones commit).
    fn push<C: TokenCounter + Sync>(
        &mut self,
        step: Step,
        build: &mut Builder<'_, C>,
        report: &mut MigrationReport,
        progress: &mut dyn Progress,
    ) -> Result<(), MigrateError> {
        match step {
            Step::Commit(job) => {
                let queued = match build {
                    Builder::Inline { .. } => Some(job),
                    // The builder only hangs up after this side does, or when it panicked.
                    Builder::Thread { jobs, .. } => {
                        jobs.send(job)
                            .map_err(|_| build_err("(batch)", "the page builder thread stopped"))?;
                        None
                    }
                };
                self.pending.push_back(Queued::Commit(queued));
                self.in_flight += 1;
            }
            Step::Messages(n) => self.pending.push_back(Queued::Messages(n)),
        }
        // Inline, a boundary is built and committed at once, exactly as a sequential run.
        let keep = match build {
            Builder::Inline { .. } => 0,
            Builder::Thread { .. } => LOOKAHEAD,
        };
        self.drain(keep, build, report, progress)
    }

    /// Does queued steps in order until at most `keep` boundaries are still queued.
    fn drain<C: TokenCounter + Sync>(
        &mut self,
        keep: usize,
        build: &mut Builder<'_, C>,
        report: &mut MigrationReport,
        progress: &mut dyn Progress,
    ) -> Result<(), MigrateError> {
        loop {
            match self.pending.front() {
                None => return Ok(()),
                Some(Queued::Commit(_)) if self.in_flight <= keep => return Ok(()),
                Some(_) => {}
            }
            match self.pending.pop_front() {
                None => return Ok(()),
                Some(Queued::Messages(n)) => progress.messages(n),
                Some(Queued::Commit(queued)) => {
                    self.in_flight -= 1;
                    let (job, pages) = match (queued, &*build) {
                        (Some(job), Builder::Inline { builder, types }) => {
                            let pages = build_all(builder, types, &job, 1);
                            (job, pages)
                        }
                        (None, Builder::Thread { built, .. }) => built
                            .recv()
                            .map_err(|_| build_err("(batch)", "the page builder thread stopped"))?,
                        _ => {
                            return Err(build_err("(batch)", "a boundary was lost"));
                        }
                    };
                    self.commit(job, pages, report, progress)?;
                }
            }
        }
    }

    /// Commits one built boundary (or, in a dry run, only counts it).
    fn commit(
        &mut self,
        job: Job,
        pages: Vec<Result<Page, MigrateError>>,
        report: &mut MigrationReport,
        progress: &mut dyn Progress,
    ) -> Result<(), MigrateError> {
        let c = job.conversation;
        let mut table = SessionPageTable::new();
        let mut changes = Vec::new();
        for ((_, unit), page) in job.todo.iter().zip(pages) {
            let page = page?;
            if let Some(k) = &unit.compacted {
                let levels = page.levels();
                let low = levels.min_fidelity();
                changes.push(ReprChange {
                    page: page.id().clone(),
                    page_type: page.page_type(),
                    from: Repr::Full,
                    to: low,
                    tokens_before: levels.get(Repr::Full).unwrap_or_default(),
                    tokens_after: levels.get(low).unwrap_or_default(),
                    full_tokens: levels.get(Repr::Full).unwrap_or_default(),
                    reason: k.reason.clone(),
                });
            }
            table.insert(page).map_err(|e| build_err(&unit.id, e))?;
        }
        if table.is_empty() {
            return Ok(());
        }
        let pages = table.len();
        let audit = changes.len() as u64;
        let Some(store) = self.target else {
            report.pages_created += pages as u64;
            report.audit_records += audit;
            return Ok(());
        };
        if self.journal.as_ref().is_none_or(|(jc, _)| *jc != c) {
            let Scope::Session(session) = &job.scope else {
                return Err(build_err("(batch)", "a migration scope is a session"));
            };
            self.journal = Some((
                c,
                Writeback::new(
                    store,
                    session.clone(),
                    AccessControl::new(),
                    Arc::clone(&self.schemas),
                ),
            ));
        }
        let Some((_, journal)) = self.journal.as_mut() else {
            return Ok(());
        };
        let head = job.head.as_ref();
        let context = BoundaryContext {
            boundary: head.map_or(Boundary::Turn, |k| Boundary::Compaction(k.kind)),
            turn: job.ordinal as u64 + 1,
            time_ms: head.map_or(job.newest_ms, |k| k.time_ms),
        };
        let committed = journal
            .commit_boundary(context, &mut table, changes)
            .map_err(|e| MigrateError::Commit {
                conversation: c,
                source: Box::new(e),
            })?;
        // A concurrent migration of the same source may have committed this boundary since
        // its pages were looked up: the store then stored nothing twice, and neither do we count.
        if committed.stored_pages == 0 {
            report.pages_existing += pages as u64;
            return Ok(());
        }
        report.pages_created += committed.stored_pages as u64;
        report.pages_existing += (pages - committed.stored_pages) as u64;
        report.audit_records += audit;
        report.boundaries += 1;
        progress.committed(c, pages);
        Ok(())
    }
}

/// Splits units into boundaries: runs of units with the same compaction (or none), at most
/// `max` each. A function of the units only, so a re-run cuts the same boundaries.
fn boundaries(units: &[Unit], max: usize) -> Vec<&[Unit]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=units.len() {
        let cut = i == units.len()
            || i - start >= max
            || units[i].compacted.as_ref().map(|k| k.group)
                != units[start].compacted.as_ref().map(|k| k.group);
        if cut && i > start {
            out.push(&units[start..i]);
            start = i;
        }
    }
    out
}
