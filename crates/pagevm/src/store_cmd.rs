//! `pagevm store`: whole-store operations. `pagevm store copy --from SRC --to DST [--json]`
//! copies a store to another (SQLite ↔ PostgreSQL, or SQLite to SQLite) with its history:
//! every boundary with its sequence number, the journal, the audit and fault logs, the blobs.
//! Idempotent and resumable (page-writeback's `copy_store`), with a progress bar on a terminal.

use std::io::{IsTerminal as _, Write as _};

use anyhow::{Context as _, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use page_writeback::StoreUrl;

use crate::store_url::OpenStore;

/// The `pagevm store` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Copy a whole store into another (created if absent), keeping its history; copying again
    /// copies nothing, an interrupted copy continues.
    Copy {
        /// The store to read: a file path, `sqlite:PATH` or a `postgres://` URL.
        #[arg(long)]
        from: StoreUrl,
        /// The store to write: empty, or an earlier copy of the same source.
        #[arg(long)]
        to: StoreUrl,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(command: &StoreCommand) -> Result<()> {
    match command {
        StoreCommand::Copy { from, to, json } => copy(from, to, *json),
    }
}

fn copy(from: &StoreUrl, to: &StoreUrl, json: bool) -> Result<()> {
    anyhow::ensure!(from != to, "--from and --to name the same store ({from})");
    let source = OpenStore::open_existing(from)?
        .with_context(|| format!("the store {from} does not exist"))?;
    let target = OpenStore::open_for_load(to)?;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} boundaries")
            .context("progress bar template")?,
    );
    let counts = page_writeback::copy_store(source.store(), target.store(), &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .with_context(|| format!("copying {from} to {to}"))?;
    target.finish(to)?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "boundaries_copied": counts.boundaries,
            "boundaries_present": counts.boundaries_present,
            "entries_copied": counts.entries,
            "faults_copied": counts.faults,
            "blobs_copied": counts.blobs,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        writeln!(
            out,
            "Copied {from} to {to}: {} boundaries ({} already there), {} uncommitted journal \
             entries, {} faults, {} unreferenced blobs",
            counts.boundaries,
            counts.boundaries_present,
            counts.entries,
            counts.faults,
            counts.blobs
        )?;
    }
    Ok(())
}
