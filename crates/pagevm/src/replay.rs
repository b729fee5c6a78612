//! `pagevm replay`: replays recorded agent sessions (any format page-import reads) under the
//! policies and prints faults, retention of specifics and token totals per session.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use page_core::TypeTable;
use page_engine::{BuildConfig, RepresentationBuilder};
use page_import::{Format, import};
use page_policy::PolicyId;
use page_replay::{Budget, Directory, ReplayReport, replay_session};
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

/// The trace files under `path`: the file itself, or every file below a directory in sorted
/// order, leaving out licences and provenance notes.
pub(crate) fn trace_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let p = entry
                .with_context(|| format!("reading {}", dir.display()))?
                .path();
            if p.is_dir() {
                stack.push(p);
            } else if is_trace(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        bail!("no trace files under {}", path.display());
    }
    Ok(out)
}

fn is_trace(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let upper = name.to_ascii_uppercase();
    !(upper.starts_with("LICENSE")
        || upper.starts_with("SOURCES")
        || upper.starts_with("README")
        || name.starts_with('.'))
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
    for file in trace_files(&req.trace)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let transcript =
            import(&text, req.format).with_context(|| format!("{}", file.display()))?;
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
                ) {
                    Ok(r) => reports.push(r.report),
                    Err(e) => writeln!(stderr, "{}: skipped: {e}", file.display())?,
                }
            }
        }
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
