//! Model-written representations, admitted only when they pass the same checks as the
//! deterministic ones: the page type's field schema, the evidence invariants and the cost
//! order of the degradation path. Anything else is rejected with its reason and the
//! deterministic representation stays.

use std::collections::BTreeMap;

use page_core::{PageId, PageType, Repr, Representation, TokenCounter};
use page_writeback::FieldSchemas;
use serde_json::Value;

/// A tool result as a summarizer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryInput<'a> {
    /// Tool name.
    pub tool: &'a str,
    /// The call's arguments as JSON text.
    pub args_json: &'a str,
    /// The output, verbatim.
    pub output: &'a str,
    /// Whether the tool reported an error.
    pub is_error: bool,
}

/// What a summarizer proposes. Either part may be absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelSummary {
    /// A shorter text for the `compressed` level.
    pub compressed: Option<String>,
    /// A field document of the evidence schema (`tool`, `args`, `status`, `paths`,
    /// `summary`) for the `structured` level.
    pub structured: Option<Value>,
}

/// Writes compressed and structured representations with a model. Implementations own their
/// timeouts: an error (a failure, a timeout, a refusal) simply keeps the deterministic
/// representations.
pub trait Summarizer: Send + Sync {
    /// A stable name, recorded in the representation it wrote.
    fn name(&self) -> &str;

    /// Proposes representations for one tool result.
    ///
    /// # Errors
    /// Why there is no proposal; the engine keeps the deterministic representations.
    fn summarize(&self, input: &SummaryInput<'_>) -> Result<ModelSummary, String>;
}

/// A proposal, or part of one, the engine refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRejection {
    /// The page it was for.
    pub page: PageId,
    /// The level it was for (`none` when the summarizer itself failed).
    pub level: Repr,
    /// Why it was refused.
    pub reason: String,
}

/// What a model-written representation must keep of the deterministic one.
pub(crate) struct EvidenceFacts<'a> {
    pub(crate) tool: &'a str,
    pub(crate) is_error: bool,
    pub(crate) paths: &'a [String],
}

/// Applies the admissible parts of `summary` to `reprs`; returns what was refused.
pub(crate) fn admit(
    page: &PageId,
    summary: Result<ModelSummary, String>,
    facts: &EvidenceFacts<'_>,
    reprs: &mut BTreeMap<Repr, Representation>,
    schemas: &FieldSchemas,
    counter: &dyn TokenCounter,
    name: &str,
) -> Vec<SummaryRejection> {
    let reject = |level, reason: String| SummaryRejection {
        page: page.clone(),
        level,
        reason,
    };
    let summary = match summary {
        Ok(s) => s,
        Err(reason) => return vec![reject(Repr::None, format!("summarizer {name}: {reason}"))],
    };
    let mut out = Vec::new();
    if let Some(doc) = summary.structured {
        match structured_text(&doc, facts, schemas, name) {
            Ok(text) => {
                if let Err(reason) = place(reprs, Repr::Structured, text, counter) {
                    out.push(reject(Repr::Structured, reason));
                }
            }
            Err(reason) => out.push(reject(Repr::Structured, reason)),
        }
    }
    if let Some(text) = summary.compressed {
        let missing: Vec<&str> = facts
            .paths
            .iter()
            .map(String::as_str)
            .filter(|p| !text.contains(p))
            .collect();
        if text.trim().is_empty() {
            out.push(reject(Repr::Compressed, "it is empty".to_owned()));
        } else if !missing.is_empty() {
            out.push(reject(
                Repr::Compressed,
                format!("it drops the path(s) {}", missing.join(", ")),
            ));
        } else if let Err(reason) = place(reprs, Repr::Compressed, text, counter) {
            out.push(reject(Repr::Compressed, reason));
        }
    }
    out
}

/// The structured text of a valid document: its schema, tool, status and paths checked.
fn structured_text(
    doc: &Value,
    facts: &EvidenceFacts<'_>,
    schemas: &FieldSchemas,
    name: &str,
) -> Result<String, String> {
    schemas.check_document(PageType::Evidence, doc)?;
    if doc.get("tool").and_then(Value::as_str) != Some(facts.tool) {
        return Err(format!("its tool is not {:?}", facts.tool));
    }
    let status = if facts.is_error { "error" } else { "ok" };
    if doc.get("status").and_then(Value::as_str) != Some(status) {
        return Err(format!("its status is not {status:?}"));
    }
    let listed: Vec<&str> = doc
        .get("paths")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let missing: Vec<&str> = facts
        .paths
        .iter()
        .map(String::as_str)
        .filter(|p| !listed.contains(p))
        .collect();
    if !missing.is_empty() {
        return Err(format!("it drops the path(s) {}", missing.join(", ")));
    }
    // serde_json's map is ordered by key, so the text is a function of the document.
    Ok(format!("summary by {name}: {doc}"))
}

/// Puts `text` at `level` if the path's cost order still holds (each level no dearer than the
/// one above, no cheaper than the one below).
fn place(
    reprs: &mut BTreeMap<Repr, Representation>,
    level: Repr,
    text: String,
    counter: &dyn TokenCounter,
) -> Result<(), String> {
    let tokens = counter.count(&text);
    let above = reprs
        .iter()
        .filter(|(r, _)| **r > level)
        .map(|(_, rep)| rep.tokens())
        .min();
    let below = reprs
        .iter()
        .filter(|(r, _)| **r < level)
        .map(|(_, rep)| rep.tokens())
        .max();
    if above.is_some_and(|a| tokens > a) {
        return Err(format!(
            "it costs {} tokens, more than the level above",
            tokens.get()
        ));
    }
    if below.is_some_and(|b| tokens < b) {
        return Err(format!(
            "it costs {} tokens, less than the level below",
            tokens.get()
        ));
    }
    reprs.insert(level, Representation::new(text, tokens));
    Ok(())
}
