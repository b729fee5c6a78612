//! `pagevm migrate`: imports an existing Zeph database into a pagevm store, read-only on the
//! Zeph side, with a progress bar on a terminal and a JSON report on request.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::{Context as _, Result};
use indicatif::{ProgressBar, ProgressStyle};
use page_writeback::MemoryStore;
use pagevm_migrate::{MigrateOptions, MigrationReport, Progress, ZephDb, zeph_builder};

use page_writeback::StoreUrl;

use crate::store_url::OpenStore;

/// Messages processed, on an `indicatif` bar (hidden when stderr is not a terminal).
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&mut self, total_messages: u64) {
        self.0.set_length(total_messages);
    }

    fn messages(&mut self, n: u64) {
        self.0.inc(n);
    }

    fn committed(&mut self, conversation: i64, pages: usize) {
        self.0
            .set_message(format!("conversation {conversation}: +{pages} pages"));
    }
}

/// The options of `pagevm migrate`.
pub(crate) struct Args<'a> {
    pub(crate) zeph_db: &'a Path,
    pub(crate) store: &'a StoreUrl,
    pub(crate) conversation: Option<i64>,
    pub(crate) dry_run: bool,
    pub(crate) json: bool,
}

pub(crate) fn run(args: &Args<'_>) -> Result<()> {
    let zeph = ZephDb::open(args.zeph_db)?;
    if let StoreUrl::Sqlite(path) = args.store {
        zeph.refuse_as_store(path)?;
    }
    let builder = zeph_builder()?;
    let options = MigrateOptions {
        conversation: args.conversation,
        ..MigrateOptions::default()
    };
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} messages {msg}")
            .context("progress bar template")?,
    );
    let mut progress = Bar(bar);
    let report = if args.dry_run {
        // A dry run never creates the store: an absent one is an empty one.
        match OpenStore::open_existing(args.store)? {
            Some(store) => {
                pagevm_migrate::dry_run(&zeph, &store.store(), &builder, &options, &mut progress)?
            }
            None => pagevm_migrate::dry_run(
                &zeph,
                &MemoryStore::new(),
                &builder,
                &options,
                &mut progress,
            )?,
        }
    } else {
        // A migration loads many pages in a row and can be re-run: for SQLite a larger cache,
        // fewer checkpoints and no fsync per boundary; `finish` makes it durable.
        let store = OpenStore::open_for_load(args.store)?;
        let report =
            pagevm_migrate::migrate(&zeph, &store.store(), &builder, &options, &mut progress)?;
        store.finish(args.store)?;
        report
    };
    progress.0.finish_and_clear();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write_text(&mut out, args, &report)?;
    }
    Ok(())
}

fn write_text(out: &mut impl std::io::Write, args: &Args<'_>, r: &MigrationReport) -> Result<()> {
    let migration = r.schema.as_ref().map_or(0, |s| s.migration);
    writeln!(
        out,
        "{} {} (Zeph schema at migration {migration}){}",
        if r.dry_run {
            "Would migrate"
        } else {
            "Migrated"
        },
        args.zeph_db.display(),
        if r.dry_run {
            String::new()
        } else {
            format!(" into {}", args.store)
        },
    )?;
    writeln!(
        out,
        "  {} conversations, {} messages read ({} soft-deleted skipped)",
        r.conversations, r.messages_read, r.skipped_deleted
    )?;
    writeln!(
        out,
        "  {} pages {} ({} already in the store), {} tool groups, {} summaries, {} archives",
        r.pages_created,
        if r.dry_run { "to create" } else { "created" },
        r.pages_existing,
        r.tool_groups,
        r.summaries,
        r.archives
    )?;
    writeln!(
        out,
        "  {} compactions kept as {} audit records; {} boundaries committed",
        r.compactions, r.audit_records, r.boundaries
    )?;
    writeln!(
        out,
        "  {} orphaned tool parts, {} corrupt rows, {} legacy-format rows",
        r.orphaned_tool_parts, r.corrupt_rows, r.legacy_rows
    )?;
    for d in &r.diagnostics {
        let at = d
            .message
            .map_or_else(String::new, |m| format!(" message {m}"));
        writeln!(
            out,
            "  conversation {}{at}: {}: {}",
            d.conversation,
            d.kind.code(),
            d.detail
        )?;
    }
    Ok(())
}
