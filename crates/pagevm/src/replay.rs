//! `pagevm replay`: replays recorded agent sessions (any format page-import reads) under the
//! policies and prints faults, retention of specifics and token totals per session.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use page_core::TypeTable;
use page_engine::{BuildConfig, RepresentationBuilder};
use page_import::{Format, import_file};
use page_policy::PolicyId;
use page_replay::{Budget, Directory, ReplayReport, Trace, replay_session};
use page_tokenizer::{BpeCounter, Encoding};

/// What `pagevm replay` was asked.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) trace: PathBuf,
    pub(crate) format: Option<Format>,
    pub(crate) budget: Budget,
    pub(crate) policies: Vec<PolicyId>,
    pub(crate) directory: Directory,
    pub(crate) json: bool,
}

/// Parses `--format`: `auto` detects per file.
pub(crate) fn parse_format(s: &str) -> Result<Option<Format>> {
    if s == "auto" {
        return Ok(None);
    }
    Ok(Some(s.parse::<Format>()?))
}

/// Parses `--policy`: a policy code, or `all` for the six.
pub(crate) fn parse_policies(s: &str) -> Result<Vec<PolicyId>> {
    if s == "all" {
        return Ok(PolicyId::ALL.to_vec());
    }
    match s.parse::<PolicyId>() {
        Ok(p) => Ok(vec![p]),
        Err(e) => bail!("--policy {s:?}: {e} (or \"all\")"),
    }
}

/// The exact token counter and builders the engine uses.
pub(crate) fn builder() -> Result<RepresentationBuilder<BpeCounter>> {
    Ok(RepresentationBuilder::new(
        BpeCounter::new(Encoding::O200kBase).context("loading the o200k tokenizer")?,
        TypeTable::default(),
        BuildConfig::default(),
    )?)
}

pub(crate) fn run(req: &Request) -> Result<()> {
    let builder = builder()?;
    let mut reports: Vec<ReplayReport> = Vec::new();
    let mut stderr = std::io::stderr().lock();
    let found = page_import::find_traces(&req.trace)?;
    for skipped in &found.skipped {
        writeln!(stderr, "{skipped}")?;
    }
    if found.files.is_empty() {
        bail!("no trace files under {}", req.trace.display());
    }
    let single = req.trace.is_file();
    for file in found.files {
        let transcript = match import_file(&file, req.format) {
            Ok(t) => t,
            // One file asked for: its error is the command's. In a directory: note and go on.
            Err(e) if single => return Err(e.into()),
            Err(e) => {
                writeln!(stderr, "skipped: {e}")?;
                continue;
            }
        };
        for d in &transcript.diagnostics {
            writeln!(stderr, "{}: {d}", file.display())?;
        }
        if transcript.sessions.is_empty() {
            writeln!(
                stderr,
                "{}: no session to replay as {} ({} diagnostics)",
                file.display(),
                transcript.format,
                transcript.diagnostics.len()
            )?;
        }
        for session in &transcript.sessions {
            for &policy in &req.policies {
                match replay_session(
                    session,
                    transcript.format.name(),
                    &builder,
                    req.budget,
                    policy,
                    req.directory,
                    Trace::Drop,
                ) {
                    Ok(r) => reports.push(r.report),
                    Err(e) => writeln!(stderr, "{}: skipped: {e}", file.display())?,
                }
            }
        }
    }
    if reports.is_empty() {
        bail!("no sessions found in {}", req.trace.display());
    }
    let mut stdout = std::io::stdout().lock();
    if req.json {
        let mut text = serde_json::to_string_pretty(&reports)?;
        text.push('\n');
        stdout.write_all(text.as_bytes())?;
    } else {
        stdout.write_all(table(&reports).as_bytes())?;
    }
    Ok(())
}

/// The human-readable table: one row per session and policy.
pub(crate) fn table(reports: &[ReplayReport]) -> String {
    let mut out = String::from(
        "| session | format | policy | budget | turns | calls | faults | min fits | paths res/rec/total | commands res/rec/total | identifiers res/rec/total | history tokens | assembled mean |\n|---|---|---|---:|---:|---:|---:|---|---|---|---|---:|---:|\n",
    );
    for r in reports {
        let k =
            |c: page_replay::KindRetention| format!("{}/{}/{}", c.resident, c.recoverable, c.total);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |",
            r.session,
            r.format,
            r.policy,
            r.budget,
            r.turns,
            r.tool_calls,
            r.total_faults,
            r.min_fidelity_fits,
            k(r.retention.paths),
            k(r.retention.commands),
            k(r.retention.identifiers),
            r.tokens.full_history,
            r.tokens.assembled_mean,
        );
    }
    out
}
