//! Evidence pages from tool results: full output, salient lines, a structured digest, a pointer.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use page_core::{
    ContentDigest, PageId, PageType, Repr, Representation, TokenCounter, ToolSignature,
};

use super::scan::{FirstDistinct, clip, identifiers_in, is_error_line, paths_in};
use super::{BuildError, RepresentationBuilder};

/// One tool call and its result, as the harness saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResult<'a> {
    /// The tool's name.
    pub tool: &'a str,
    /// The call's arguments as JSON text (empty for none).
    pub args_json: &'a str,
    /// What the tool returned, verbatim.
    pub output: &'a str,
    /// Whether the harness marked the result as an error.
    pub is_error: bool,
    /// The process exit code, for tools that run commands.
    pub exit_code: Option<i32>,
}

/// The representations of an evidence page and the call's canonical signature.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceReprs {
    /// Tool name plus canonical arguments; equal signatures are duplicate calls.
    pub signature: ToolSignature,
    /// One representation per level of the evidence path.
    pub representations: BTreeMap<Repr, Representation>,
    /// The file paths the structured form lists (first distinct ones, in order): what any
    /// replacement of the structured or compressed form must keep.
    pub paths: Vec<String>,
}

/// Everything one pass over the output learns.
struct Scan<'a> {
    bytes: usize,
    lines: usize,
    head: Vec<&'a str>,
    tail: std::collections::VecDeque<&'a str>,
    errors: FirstDistinct<'a>,
    paths: FirstDistinct<'a>,
    // Identifiers on error lines are the ones a reader needs; the rest only fill up.
    error_identifiers: FirstDistinct<'a>,
    identifiers: FirstDistinct<'a>,
}

impl<C: TokenCounter> RepresentationBuilder<C> {
    /// Builds an evidence page's representations from a tool result.
    ///
    /// - `full`: the output verbatim.
    /// - `compressed`: the salient lines (errors, lines naming paths, the first and last
    ///   lines) in their original order, within `compressed_ratio` of the output's size.
    /// - `structured`: tool, canonical arguments, status, byte and line counts, file paths,
    ///   error lines, identifiers, head and tail.
    /// - `pointer`: a handle naming the page, tool, digest and size, which the engine
    ///   dereferences from the store.
    ///
    /// One pass over the output; memory beyond the output itself is bounded by the config's
    /// limits, so a 10 MB output costs what its text and token count cost.
    ///
    /// # Errors
    /// [`BuildError::Signature`] when the arguments are not JSON or the tool name is unusable.
    pub fn evidence(
        &self,
        id: &PageId,
        result: &ToolResult<'_>,
    ) -> Result<EvidenceReprs, BuildError> {
        let signature =
            ToolSignature::from_json_text(result.tool, result.args_json).map_err(|source| {
                BuildError::Signature {
                    tool: result.tool.to_owned(),
                    source,
                }
            })?;
        let scan = self.scan(result.output);
        let digest = ContentDigest::of(result.output.as_bytes());
        let representations = self.assemble(PageType::Evidence, |level| match level {
            Repr::Full => Some(result.output.to_owned()),
            Repr::Compressed => Some(self.salient_lines(result.output, &scan)),
            Repr::Structured => Some(self.structured_evidence(&signature, result, &scan)),
            Repr::Pointer => Some(format!(
                "[page {id} · {} · {} · {} bytes, {} lines]",
                signature.tool(),
                &digest.to_hex()[..12],
                scan.bytes,
                scan.lines
            )),
            Repr::None => None,
        });
        Ok(EvidenceReprs {
            signature,
            representations,
            paths: scan.paths.items().iter().map(|p| (*p).to_owned()).collect(),
        })
    }

    fn scan<'a>(&self, output: &'a str) -> Scan<'a> {
        let n = self.config.head_tail_lines;
        let mut s = Scan {
            bytes: output.len(),
            lines: 0,
            head: Vec::with_capacity(n),
            tail: std::collections::VecDeque::with_capacity(n + 1),
            errors: FirstDistinct::new(self.config.max_error_lines),
            paths: FirstDistinct::new(self.config.max_paths),
            error_identifiers: FirstDistinct::new(self.config.max_identifiers),
            identifiers: FirstDistinct::new(self.config.max_identifiers),
        };
        for line in output.lines() {
            s.lines += 1;
            // Head and tail are context for the error lines, so they skip blank lines and the
            // errors themselves, which are listed on their own.
            let error = is_error_line(line);
            for i in identifiers_in(line) {
                if error {
                    s.error_identifiers.push(i);
                } else {
                    s.identifiers.push(i);
                }
            }
            if error {
                s.errors.push(line.trim());
            } else if !line.trim().is_empty() {
                if s.head.len() < n {
                    s.head.push(line);
                } else {
                    s.tail.push_back(line);
                    if s.tail.len() > n {
                        s.tail.pop_front();
                    }
                }
            }
            for p in paths_in(line) {
                s.paths.push(p);
            }
        }
        s
    }

    fn salient_lines(&self, output: &str, scan: &Scan<'_>) -> String {
        // Byte budget, not token budget: counting each line would double the ingest cost, and
        // the result is counted exactly once afterwards.
        let budget = ((output.len() as f64 * self.config.compressed_ratio) as usize)
            .min(self.config.max_compressed_bytes);
        let n = self.config.head_tail_lines;
        let total = scan.lines;
        let max_chars = self.config.max_line_chars;
        let priority = |i: usize, line: &str| -> u8 {
            if line.trim().is_empty() {
                0
            } else if is_error_line(line) {
                3
            } else if scan.paths.items().iter().any(|p| line.contains(p)) {
                2
            } else if i < n || i + n >= total {
                1
            } else {
                0
            }
        };
        // Each line's class once (a byte per line), then one pass per class, highest first,
        // so errors are never crowded out by the first lines of a long log. `keep` holds only
        // what fits the budget.
        let classes: Vec<u8> = output
            .lines()
            .enumerate()
            .map(|(i, line)| priority(i, line))
            .collect();
        let mut keep: Vec<usize> = Vec::new();
        let mut used = 0usize;
        for class in [3u8, 2, 1] {
            for (i, line) in output.lines().enumerate() {
                if classes.get(i) != Some(&class) {
                    continue;
                }
                let len = line.len().min(max_chars) + 1;
                if used + len > budget {
                    continue;
                }
                used += len;
                keep.push(i);
            }
        }
        keep.sort_unstable();
        let mut out = String::with_capacity(used + 64);
        let mut next = keep.iter().copied().peekable();
        let mut skipped = 0usize;
        for (i, line) in output.lines().enumerate() {
            if next.peek() == Some(&i) {
                next.next();
                if skipped > 0 {
                    let _ = writeln!(out, "[… {skipped} lines]");
                    skipped = 0;
                }
                out.push_str(&clip(line, max_chars));
                out.push('\n');
            } else {
                skipped += 1;
            }
            if next.peek().is_none() && skipped == 0 && i + 1 < total {
                skipped = total - i - 1;
                break;
            }
        }
        if skipped > 0 {
            let _ = writeln!(out, "[… {skipped} lines]");
        }
        out
    }

    fn structured_evidence(
        &self,
        signature: &ToolSignature,
        result: &ToolResult<'_>,
        scan: &Scan<'_>,
    ) -> String {
        let max = self.config.max_line_chars;
        let mut s = String::new();
        let _ = writeln!(s, "tool: {}", signature.tool());
        let args = &signature.as_str()[signature.tool().len()..];
        let _ = writeln!(s, "call: {}", clip(args, max));
        let status = match (result.is_error, result.exit_code) {
            (true, Some(c)) => format!("error (exit {c})"),
            (true, None) => "error".to_owned(),
            (false, Some(c)) if c != 0 => format!("exit {c}"),
            (false, _) => "ok".to_owned(),
        };
        let _ = writeln!(s, "status: {status}");
        let _ = writeln!(s, "size: {} bytes, {} lines", scan.bytes, scan.lines);
        if let Some(p) = scan.paths.render() {
            let _ = writeln!(s, "paths: {p}");
        }
        let mut ids = FirstDistinct::new(self.config.max_identifiers);
        for i in scan
            .error_identifiers
            .items()
            .iter()
            .chain(scan.identifiers.items())
        {
            ids.push(i);
        }
        ids.add_dropped(scan.error_identifiers.dropped() + scan.identifiers.dropped());
        if let Some(i) = ids.render() {
            let _ = writeln!(s, "identifiers: {i}");
        }
        for e in scan.errors.items() {
            let _ = writeln!(s, "error: {}", clip(e, max));
        }
        for h in &scan.head {
            let _ = writeln!(s, "head: {}", clip(h, max));
        }
        for t in &scan.tail {
            let _ = writeln!(s, "tail: {}", clip(t, max));
        }
        s
    }
}
