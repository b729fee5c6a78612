//! `pagevm audit --store STORE [--session ID] [--json]`: every representation change a store
//! recorded, oldest first: the boundary that committed it (sequence number, kind, turn, time),
//! the session, the page and its type, the level and tokens before and after, the page's full tokens, and the reason.
//!
//! It reads the store through page-writeback's traits, boundary by boundary (the audit rows
//! each boundary committed), so every backend answers the same way.

use std::io::Write as _;

use anyhow::{Context as _, Result};
use page_core::SessionId;
use page_writeback::{AuditRecord, CopyStore};

use page_writeback::StoreUrl;

use crate::store_url::OpenStore;

pub(crate) fn run(store: &StoreUrl, session: Option<&str>, json: bool) -> Result<()> {
    let session = session
        .map(|s| SessionId::new(s).with_context(|| format!("--session {s:?}")))
        .transpose()?;
    let open = OpenStore::open_existing(store)?
        .with_context(|| format!("the store {store} does not exist"))?;
    let records = records(open.store(), session.as_ref())
        .with_context(|| format!("reading the audit log of {store}"))?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&to_json(&records))?)?;
    } else if records.is_empty() {
        writeln!(out, "No representation changes recorded in {store}.")?;
    } else {
        write!(out, "{}", table(&records))?;
    }
    Ok(())
}

/// The audit records of every boundary (of `session` only, when given), in commit order.
/// A session the store does not know is an error naming the ones it does.
fn records(store: &dyn CopyStore, session: Option<&SessionId>) -> Result<Vec<AuditRecord>> {
    if let Some(s) = session {
        let known = store.sessions()?;
        if !known.contains(s) {
            let names: Vec<&str> = known.iter().map(SessionId::as_str).collect();
            anyhow::bail!(
                "no session {s} in the store (sessions: {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            );
        }
    }
    let mut out = Vec::new();
    for seq in store.boundary_seqs()? {
        let boundary = store.export_boundary(seq)?;
        if session.is_some_and(|s| *s != boundary.session) {
            continue;
        }
        out.extend(boundary.audit.into_iter().map(|change| AuditRecord {
            seq,
            session: boundary.session.clone(),
            change,
            boundary: boundary.context.boundary,
            turn: boundary.context.turn,
            time_ms: boundary.context.time_ms,
        }));
    }
    Ok(out)
}

fn to_json(records: &[AuditRecord]) -> serde_json::Value {
    records
        .iter()
        .map(|r| {
            let c = &r.change;
            serde_json::json!({
                "seq": r.seq.get(),
                "session": r.session.as_str(),
                "boundary": r.boundary.to_string(),
                "turn": r.turn,
                "time_ms": r.time_ms,
                "page": c.page.as_str(),
                "page_type": c.page_type.to_string(),
                "level_before": c.from.to_string(),
                "level_after": c.to.to_string(),
                "tokens_before": c.tokens_before.get(),
                "tokens_after": c.tokens_after.get(),
                "full_tokens": c.full_tokens.get(),
                "reason": c.reason,
            })
        })
        .collect()
}

/// The records as aligned columns, one line each.
fn table(records: &[AuditRecord]) -> String {
    let header = [
        "seq", "time_ms", "session", "boundary", "turn", "page", "type", "level", "tokens", "full",
        "reason",
    ]
    .map(str::to_owned);
    let rows: Vec<[String; 11]> = records
        .iter()
        .map(|r| {
            let c = &r.change;
            [
                r.seq.get().to_string(),
                r.time_ms.to_string(),
                r.session.to_string(),
                r.boundary.to_string(),
                r.turn.to_string(),
                c.page.to_string(),
                c.page_type.to_string(),
                format!("{} -> {}", c.from, c.to),
                format!("{} -> {}", c.tokens_before.get(), c.tokens_after.get()),
                c.full_tokens.get().to_string(),
                c.reason.clone(),
            ]
        })
        .collect();
    let mut width = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&width)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    let changes = records.len();
    let sessions: std::collections::BTreeSet<&SessionId> =
        records.iter().map(|r| &r.session).collect();
    out.push_str(&format!(
        "{changes} representation change{} in {} session{}\n",
        if changes == 1 { "" } else { "s" },
        sessions.len(),
        if sessions.len() == 1 { "" } else { "s" }
    ));
    out
}
