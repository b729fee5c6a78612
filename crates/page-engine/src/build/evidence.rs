//! Evidence pages from tool results: full output, salient lines, a structured digest, a pointer.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use page_core::{PageId, PageType, Repr, Representation, TokenCounter, ToolSignature};

use super::RepresentationBuilder;
use super::scan::{FirstDistinct, clip, identifiers_in, is_error_line, paths_in};

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

/// Outputs at least this long are counted on a second thread while the lower levels are built:
/// spawning costs tens of microseconds, counting 64 KiB a few milliseconds.
const PARALLEL_MIN_BYTES: usize = 64 * 1024;

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
    /// The error lines the compressed form keeps (line index and text), chosen in the same
    /// pass: errors are the first class filled, and choosing them needs nothing from later
    /// lines. At most `budget / 2` entries, as every kept line costs at least two bytes.
    salient: Salient<'a>,
}

impl Scan<'_> {
    /// The pointer form: page id, tool, status, the full text's digest (12 hex digits) and size.
    fn pointer(
        &self,
        id: &PageId,
        tool: &str,
        status: &str,
        digest: &page_core::ContentDigest,
    ) -> String {
        format!(
            "[page {id} · {tool} · status: {status} · {} · {} bytes, {} lines]",
            &digest.to_hex()[..12],
            self.bytes,
            self.lines
        )
    }
}

impl ToolResult<'_> {
    /// How the call ended, as every degraded form states it: `ok`, `error`, `error (exit N)`
    /// or `exit N`. The tool name and this status are what Zeph's own `ToolOutput` invariant
    /// requires a compacted tool output to keep, so every level below `full` carries both.
    fn status(&self) -> String {
        match (self.is_error, self.exit_code) {
            (true, Some(c)) => format!("error (exit {c})"),
            (true, None) => "error".to_owned(),
            (false, Some(c)) if c != 0 => format!("exit {c}"),
            (false, _) => "ok".to_owned(),
        }
    }
}

/// The compressed form's line selection: a byte budget filled greedily, one priority class
/// after another (errors, lines naming a listed path, head and tail lines), each class in line
/// order, skipping lines that no longer fit.
#[derive(Clone)]
struct Salient<'a> {
    budget: usize,
    used: usize,
    max_line_chars: usize,
    kept: Vec<(usize, &'a str)>,
}

impl<'a> Salient<'a> {
    /// What keeping `line` costs: its clipped length and a newline.
    fn cost(&self, line: &str) -> usize {
        line.len().min(self.max_line_chars) + 1
    }

    fn offer(&mut self, i: usize, line: &'a str) {
        let len = self.cost(line);
        if self.used + len <= self.budget {
            self.used += len;
            self.kept.push((i, line));
        }
    }

    /// Whether `line` would fit, without classifying it.
    fn fits(&self, line: &str) -> bool {
        self.used + self.cost(line) <= self.budget
    }
}

impl<C: TokenCounter> RepresentationBuilder<C> {
    /// Builds an evidence page's representations from a tool result.
    ///
    /// - `full`: the output verbatim.
    /// - `compressed`: a `[tool · status: …]` header, then the salient lines (errors, lines
    ///   naming paths, the first and last lines) in their original order, within
    ///   `compressed_ratio` of the output's size.
    /// - `structured`: tool, canonical arguments, status, byte and line counts, file paths,
    ///   error lines, identifiers, head and tail.
    /// - `pointer`: a handle naming the page, tool, status, digest and size, which the engine
    ///   dereferences from the store.
    ///
    /// One pass over the output (and a second over the lines that can still join the
    /// compressed form); memory beyond the output itself is bounded by the config's limits, so
    /// a 10 MB output costs what its text and token count cost. The full text is counted on a
    /// second thread while the rest is built when the output is long.
    ///
    /// The call is signed by [`ToolSignature::of_call`], so no call is refused: arguments
    /// that are not JSON are signed as a string, an unusable tool name is made usable.
    #[must_use]
    pub fn evidence(&self, id: &PageId, result: &ToolResult<'_>) -> EvidenceReprs {
        let signature = ToolSignature::of_call(result.tool, result.args_json);
        let output = result.output;
        let status = result.status();
        // The full text's count is most of the work; the lower levels need only a scan. For a
        // long output the two run side by side (the counter may split its share further).
        let whole = || Representation::new(output.to_owned(), self.counter.count(output));
        let lower = || {
            let scan = self.scan(output);
            let compressed = self.compressed_evidence(signature.tool(), &status, output, &scan);
            let structured = self.structured_evidence(&signature, &status, &scan);
            (scan, compressed, structured)
        };
        let (full, (scan, compressed, structured)) = if output.len() >= PARALLEL_MIN_BYTES {
            std::thread::scope(|s| {
                let counting = std::thread::Builder::new().spawn_scoped(s, whole);
                let lower = lower();
                match counting.map(std::thread::ScopedJoinHandle::join) {
                    Ok(Ok(full)) => (full, lower),
                    // Counting panicked: it would have on this thread too.
                    Ok(Err(panic)) => std::panic::resume_unwind(panic),
                    // The system refused a thread: count here.
                    Err(_) => (whole(), lower),
                }
            })
        } else {
            (whole(), lower())
        };
        // The pointer names the full text's digest, which building it already computed.
        let digest = full.digest();
        let (mut compressed, mut structured) = (Some(compressed), Some(structured));
        let representations =
            self.assemble_with_full(PageType::Evidence, full, |level| match level {
                Repr::Compressed => compressed.take(),
                Repr::Structured => structured.take(),
                Repr::Pointer => Some(scan.pointer(id, signature.tool(), &status, &digest)),
                Repr::Full | Repr::None => None,
            });
        EvidenceReprs {
            signature,
            representations,
            paths: scan.paths.items().iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn scan<'a>(&self, output: &'a str) -> Scan<'a> {
        let n = self.config.head_tail_lines;
        // Byte budget, not token budget: counting each line would double the ingest cost, and
        // the result is counted exactly once afterwards.
        let budget = ((output.len() as f64 * self.config.compressed_ratio) as usize)
            .min(self.config.max_compressed_bytes);
        let mut s = Scan {
            bytes: output.len(),
            lines: 0,
            head: Vec::with_capacity(n),
            tail: std::collections::VecDeque::with_capacity(n + 1),
            errors: FirstDistinct::new(self.config.max_error_lines),
            paths: FirstDistinct::new(self.config.max_paths),
            error_identifiers: FirstDistinct::new(self.config.max_identifiers),
            identifiers: FirstDistinct::new(self.config.max_identifiers),
            salient: Salient {
                budget,
                used: 0,
                max_line_chars: self.config.max_line_chars,
                kept: Vec::new(),
            },
        };
        for (i, line) in output.lines().enumerate() {
            s.lines += 1;
            // Head and tail are context for the error lines, so they skip blank lines and the
            // errors themselves, which are listed on their own.
            let error = is_error_line(line);
            for id in identifiers_in(line) {
                if error {
                    s.error_identifiers.push(id);
                } else {
                    s.identifiers.push(id);
                }
            }
            if error {
                s.errors.push(line.trim());
                s.salient.offer(i, line);
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

    /// The compressed form: a `[tool · status: …]` header over the salient lines.
    fn compressed_evidence(
        &self,
        tool: &str,
        status: &str,
        output: &str,
        scan: &Scan<'_>,
    ) -> String {
        format!(
            "[{tool} · status: {status}]\n{}",
            self.salient_lines(output, scan)
        )
    }

    /// The salient lines: the error lines chosen during the scan, then, in a second pass
    /// (which needs the final path list and line count), lines naming a listed path, then the
    /// first and last lines; kept lines in their original order, runs of dropped lines
    /// marked with their length.
    fn salient_lines(&self, output: &str, scan: &Scan<'_>) -> String {
        let n = self.config.head_tail_lines;
        let total = scan.lines;
        let paths = scan.paths.items();
        let mut salient = scan.salient.clone();
        // Head and tail lines are offered after every path line, so they wait here; at most
        // `2 * n` of them.
        let mut ends: Vec<(usize, &str)> = Vec::new();
        for (i, line) in output.lines().enumerate() {
            // The budget only fills up, so a line that does not fit now never will, whatever
            // its class: most lines of a long output end here, unclassified.
            if !salient.fits(line) {
                continue;
            }
            let end = i < n || i + n >= total;
            if line.trim().is_empty() {
                continue;
            }
            let names_path = paths.iter().any(|p| line.contains(p));
            if !names_path && !end {
                continue;
            }
            if is_error_line(line) {
                continue;
            }
            if names_path {
                salient.offer(i, line);
            } else {
                ends.push((i, line));
            }
        }
        for (i, line) in ends {
            salient.offer(i, line);
        }
        let mut kept = salient.kept;
        kept.sort_unstable_by_key(|&(i, _)| i);
        let max_chars = self.config.max_line_chars;
        let mut out = String::with_capacity(salient.used + 64);
        let mut next = 0usize;
        for (i, line) in kept {
            if i > next {
                let _ = writeln!(out, "[… {} lines]", i - next);
            }
            out.push_str(&clip(line, max_chars));
            out.push('\n');
            next = i + 1;
        }
        if total > next {
            let _ = writeln!(out, "[… {} lines]", total - next);
        }
        out
    }

    fn structured_evidence(
        &self,
        signature: &ToolSignature,
        status: &str,
        scan: &Scan<'_>,
    ) -> String {
        let max = self.config.max_line_chars;
        let mut s = String::new();
        let _ = writeln!(s, "tool: {}", signature.tool());
        let args = &signature.as_str()[signature.tool().len()..];
        let _ = writeln!(s, "call: {}", clip(args, max));
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

#[cfg(test)]
mod tests {
    use page_core::{TokenCount, TypeTable};
    use proptest::prelude::*;

    use super::*;
    use crate::BuildConfig;

    /// Counts bytes: the selection is by bytes, so tokens do not matter here.
    struct Bytes;

    impl TokenCounter for Bytes {
        fn count(&self, text: &str) -> TokenCount {
            TokenCount::new(u32::try_from(text.len()).unwrap_or(u32::MAX))
        }

        fn encoding(&self) -> &str {
            "bytes"
        }
    }

    /// The selection as first written (one walk per priority class, every class test on every
    /// line), kept as the oracle the single-pass selection must match byte for byte.
    fn oracle(config: &BuildConfig, output: &str, paths: &[&str], total: usize) -> String {
        let budget = ((output.len() as f64 * config.compressed_ratio) as usize)
            .min(config.max_compressed_bytes);
        let n = config.head_tail_lines;
        let max_chars = config.max_line_chars;
        let priority = |i: usize, line: &str| -> u8 {
            if line.trim().is_empty() {
                0
            } else if is_error_line(line) {
                3
            } else if paths.iter().any(|p| line.contains(p)) {
                2
            } else if i < n || i + n >= total {
                1
            } else {
                0
            }
        };
        let mut keep: Vec<usize> = Vec::new();
        let mut used = 0usize;
        for class in [3u8, 2, 1] {
            for (i, line) in output.lines().enumerate() {
                if priority(i, line) != class {
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
        let mut out = String::new();
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

    fn same_as_oracle(config: BuildConfig, output: &str) -> Result<(), TestCaseError> {
        let builder = RepresentationBuilder::new(Bytes, TypeTable::default(), config.clone())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let scan = builder.scan(output);
        let expected = oracle(&config, output, scan.paths.items(), scan.lines);
        prop_assert_eq!(builder.salient_lines(output, &scan), expected);
        Ok(())
    }

    // Log-like lines: errors, paths, blank and whitespace-only lines, CRLF, long lines.
    const LOG: &str = "((error: x|FAILED t|src/a.rs:1:2 y|see crates/b/src/c.rs|Cargo.toml|  |\\r|ok|test t ... ok|[a-z /.:]{0,30}|x{150,260}|ü{90,120})\\r?\\n){0,60}";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn salient_lines_match_the_class_by_class_selection(
            output in LOG,
            ratio in 0.05f64..=1.0,
            max_bytes in 0usize..2048,
            head_tail in 0usize..4,
            max_paths in 0usize..4,
            max_line_chars in 1usize..120,
        ) {
            let config = BuildConfig {
                compressed_ratio: ratio,
                max_compressed_bytes: max_bytes,
                head_tail_lines: head_tail,
                max_paths,
                max_line_chars,
                ..BuildConfig::default()
            };
            same_as_oracle(config, &output)?;
        }

        #[test]
        fn salient_lines_of_any_text_match_the_oracle(output in "(\\PC{0,50}\\n){0,30}", ratio in 0.05f64..=1.0) {
            same_as_oracle(BuildConfig { compressed_ratio: ratio, ..BuildConfig::default() }, &output)?;
        }
    }

    /// Evidence built the straightforward way: scan, then every level through `assemble`,
    /// counting the full text on the calling thread.
    fn serial_evidence<C: TokenCounter>(
        b: &RepresentationBuilder<C>,
        id: &PageId,
        result: &ToolResult<'_>,
    ) -> BTreeMap<Repr, Representation> {
        let signature = ToolSignature::of_call(result.tool, result.args_json);
        let scan = b.scan(result.output);
        let digest = page_core::ContentDigest::of(result.output.as_bytes());
        let (tool, status) = (signature.tool(), result.status());
        b.assemble(PageType::Evidence, |level| match level {
            Repr::Full => Some(result.output.to_owned()),
            Repr::Compressed => Some(b.compressed_evidence(tool, &status, result.output, &scan)),
            Repr::Structured => Some(b.structured_evidence(&signature, &status, &scan)),
            Repr::Pointer => Some(scan.pointer(id, tool, &status, &digest)),
            Repr::None => None,
        })
    }

    /// Long outputs (counted on a second thread) and short ones build what the serial
    /// construction builds.
    #[test]
    fn evidence_of_long_outputs_is_built_as_serially() {
        let builder =
            RepresentationBuilder::new(Bytes, TypeTable::default(), BuildConfig::default())
                .unwrap();
        let id = PageId::new("e").unwrap();
        let line = "error: x at src/a.rs:1:2\ntest t ... ok\n\n";
        for size in [0, 100, PARALLEL_MIN_BYTES - 1, PARALLEL_MIN_BYTES, 300_000] {
            let output: String = line.repeat(size / line.len() + 1)[..size].to_owned();
            let result = ToolResult {
                tool: "bash",
                args_json: r#"{"command":"cargo test"}"#,
                output: &output,
                is_error: false,
                exit_code: Some(0),
            };
            let built = builder.evidence(&id, &result);
            assert_eq!(
                built.representations,
                serial_evidence(&builder, &id, &result),
                "{size} bytes"
            );
        }
    }

    /// The recorded sessions shipped with the project, as if each were one tool output.
    #[test]
    fn salient_lines_of_recorded_sessions_match_the_oracle() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces");
        let mut dirs = vec![root];
        let mut seen = 0;
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for path in entries.flatten().map(|e| e.path()) {
                if path.is_dir() {
                    dirs.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    for ratio in [0.02, 0.1, 0.5] {
                        let config = BuildConfig {
                            compressed_ratio: ratio,
                            ..BuildConfig::default()
                        };
                        assert!(same_as_oracle(config, &text).is_ok(), "{}", path.display());
                    }
                    seen += 1;
                }
            }
        }
        assert!(seen >= 10, "the fixture sessions are missing");
    }
}
