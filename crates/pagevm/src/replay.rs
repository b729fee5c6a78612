//! `pagevm replay`: replays recorded agent sessions (any format page-import reads) under the
//! policies and prints faults, retention of specifics and token totals per session.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use page_core::TypeTable;
use page_engine::{BuildConfig, RepresentationBuilder};
use page_import::{Format, import_file};
use page_policy::{CacheMode, PolicyId, Pricing};
use page_replay::{Budget, Directory, Measures, ReplayReport, Trace, replay_session};
use page_tokenizer::{BpeCounter, Encoding};

/// What `pagevm replay` was asked.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) trace: PathBuf,
    pub(crate) format: Option<Format>,
    pub(crate) budget: Budget,
    pub(crate) policies: Vec<PolicyId>,
    /// The directory settings to replay under, in order.
    pub(crate) directories: Vec<Directory>,
    pub(crate) measures: Measures,
    /// Where to write every billed request.
    pub(crate) requests: Option<PathBuf>,
    pub(crate) json: bool,
}

/// Parses `--directory`: `on`, `off`, or `both` (off, then on).
pub(crate) fn parse_directory(s: &str) -> Result<Vec<Directory>> {
    Ok(match s {
        "on" => vec![Directory::On],
        "off" => vec![Directory::Off],
        "both" => vec![Directory::Off, Directory::On],
        other => bail!("--directory {other:?}: expected on, off or both"),
    })
}

/// Parses `--preset`, the price overrides and `--cache-mode`.
pub(crate) fn parse_measures(
    preset: &str,
    read: Option<f64>,
    write: Option<f64>,
    mode: &str,
    keep_requests: bool,
) -> Result<Measures> {
    let mut pricing = Pricing::preset(preset).context("--preset")?;
    if read.is_some() || write.is_some() {
        pricing = pricing
            .with_prices(read.unwrap_or(pricing.read), write.unwrap_or(pricing.write))
            .context("--read-price/--write-price")?;
    }
    let cache_mode: CacheMode = mode.parse().context("--cache-mode")?;
    Ok(Measures {
        trace: Trace::Drop,
        pricing,
        cache_mode,
        keep_requests,
    })
}

/// Parses `--format`: `auto` detects per file.
pub(crate) fn parse_format(s: &str) -> Result<Option<Format>> {
    if s == "auto" {
        return Ok(None);
    }
    Ok(Some(s.parse::<Format>()?))
}

/// Parses `--policy`: a policy code, or `all` for every policy.
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
    // Created before the work starts, so a path that cannot be written fails at once.
    let mut dump = match &req.requests {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("--requests {}", path.display()))?,
        )),
        None => None,
    };
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
            for (&policy, &directory) in req
                .policies
                .iter()
                .flat_map(|p| req.directories.iter().map(move |d| (p, d)))
            {
                match replay_session(
                    session,
                    transcript.format.name(),
                    &builder,
                    req.budget,
                    policy,
                    directory,
                    &req.measures,
                ) {
                    Ok(r) => {
                        if let Some(out) = &mut dump {
                            for record in &r.requests {
                                let line = serde_json::json!({
                                    "session": r.report.session,
                                    "policy": r.report.policy,
                                    "request": record.request,
                                    "at_ms": record.at_ms,
                                    "items": record.items,
                                });
                                writeln!(out, "{line}")?;
                            }
                        }
                        reports.push(r.report);
                    }
                    Err(e) => writeln!(stderr, "{}: skipped: {e}", file.display())?,
                }
            }
        }
    }
    if let Some(mut out) = dump {
        out.flush()?;
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

/// The human-readable table: one row per session and policy. Retention's middle figure counts
/// specifics a handle or the directory names (names, not content); quality by content and
/// billed input are measured at every recorded request.
pub(crate) fn table(reports: &[ReplayReport]) -> String {
    let mut out = String::from(
        "| session | format | policy | directory | budget | turns | calls | faults | min fits | paths res/names/total | commands res/names/total | identifiers res/names/total | hits/page-ins/faults | edit anchors | billed input | × no compaction | cache read | rewrites /100 | history tokens | assembled mean |\n|---|---|---|---|---:|---:|---:|---:|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let k =
            |c: page_replay::KindRetention| format!("{}/{}/{}", c.resident, c.recoverable, c.total);
        let q = &r.quality;
        let anchors = if q.edit_anchors == 0 {
            "-".to_owned()
        } else {
            format!(
                "{:.0}% of {} ({} refetch)",
                q.edit_anchor_coverage * 100.0,
                q.edit_anchors,
                q.edit_refetches
            )
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{}/{} | {} | {:.1} | {:.3} | {:.3} | {:.2} | {} | {:.2} |",
            r.session,
            r.format,
            r.policy,
            if r.directory { "on" } else { "off" },
            r.budget,
            r.turns,
            r.tool_calls,
            r.total_faults,
            r.min_fidelity_fits,
            k(r.retention.paths),
            k(r.retention.commands),
            k(r.retention.identifiers),
            q.hits,
            q.page_ins,
            q.faults,
            anchors,
            r.cost.billed_input,
            r.cost.ratio_to_no_compaction,
            r.cost.cache_read_share,
            r.cost.prefix_rewrites_per_100,
            r.tokens.full_history,
            r.tokens.assembled_mean,
        );
    }
    out
}
