//! Edit anchors: the old text a recorded edit had to quote exactly, which the agent can only
//! have copied from context (or must read the file again to get).

use serde_json::Value;

/// An edit whose anchor lines are less present than this in its context counts as a refetch:
/// the agent would have had to read the file again to quote it.
pub const COVERAGE_FLOOR: f64 = 0.9;

/// Whether an edit with `lines` anchor lines, `known` of them in earlier history, is measured:
/// its old text came from history (at least half of it) rather than from the agent's own
/// knowledge of the file.
#[must_use]
pub fn came_from_history(known: usize, lines: usize) -> bool {
    lines > 0 && known * 2 >= lines
}

/// Whether a measured edit with `present` of its `lines` anchor lines in context is a refetch
/// (under [`COVERAGE_FLOOR`]).
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "line counts are small")]
pub fn is_refetch(present: usize, lines: usize) -> bool {
    (present as f64) < COVERAGE_FLOOR * lines as f64
}

/// An anchor line shorter than this (trimmed) is not counted: `}` or `else:` occur almost
/// anywhere and would make every context look like it held the file.
const MIN_ANCHOR_CHARS: usize = 6;

/// The anchor lines of a tool call, by the edit forms the importers see: Claude Code `Edit`
/// and `MultiEdit` (`old_string`), `str_replace` editors (`old_str`), SWE-agent's
/// `edit {search, replace}` and `edit 'search' 'replace'`, and Codex `apply_patch` (the
/// context and removed lines of each hunk, as `input` or inside a shell command). Empty when
/// the call is not an edit or quotes no old text (a line-range edit).
#[must_use]
pub fn of_call(args_json: &str) -> Vec<String> {
    let Ok(args) = serde_json::from_str::<Value>(args_json) else {
        return Vec::new();
    };
    let mut old = Vec::new();
    for key in ["old_string", "old_str", "search"] {
        if let Some(s) = args.get(key).and_then(Value::as_str) {
            old.push(s.to_owned());
        }
    }
    if let Some(edits) = args.get("edits").and_then(Value::as_array) {
        for e in edits {
            if let Some(s) = e.get("old_string").and_then(Value::as_str) {
                old.push(s.to_owned());
            }
        }
    }
    for key in ["input", "patch", "command", "cmd"] {
        let text = match args.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(argv)) => argv
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
            _ => continue,
        };
        if text.contains("*** Begin Patch") {
            old.push(patch_old_text(&text));
        } else if let Some(search) = quoted_edit_search(&text) {
            old.push(search);
        }
    }
    lines(&old.join("\n"))
}

/// The anchor lines of an assistant message: the SEARCH halves of aider's
/// `<<<<<<< SEARCH` / `=======` / `>>>>>>> REPLACE` blocks.
#[must_use]
pub fn of_message(text: &str) -> Vec<String> {
    let mut old = String::new();
    let mut inside = false;
    for line in text.lines() {
        let marker = line.trim_end();
        if marker.starts_with("<<<<<<< SEARCH") {
            inside = true;
        } else if inside && marker == "=======" {
            inside = false;
        } else if inside {
            old.push_str(line);
            old.push('\n');
        }
    }
    lines(&old)
}

/// Lines an `apply_patch` envelope expects to find: context (` `) and removed (`-`) lines of
/// the files it updates.
fn patch_old_text(patch: &str) -> String {
    let mut out = String::new();
    let mut updating = false;
    for line in patch.lines() {
        if line.starts_with("*** ") {
            updating = line.starts_with("*** Update File:");
            continue;
        }
        if !updating || line.starts_with("@@") {
            continue;
        }
        if let Some(rest) = line.strip_prefix(' ').or_else(|| line.strip_prefix('-')) {
            out.push_str(rest);
            out.push('\n');
        }
    }
    out
}

/// The search text of SWE-agent's `edit 'search' 'replace'` command (single or double
/// quotes, backslash escapes); `None` for a line-range `edit N:M`.
fn quoted_edit_search(command: &str) -> Option<String> {
    let rest = command.trim_start().strip_prefix("edit")?.trim_start();
    let mut chars = rest.chars();
    let quote = chars.next().filter(|c| *c == '\'' || *c == '"')?;
    let mut out = String::new();
    let mut escaped = false;
    for c in chars {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' && quote == '"' {
            escaped = true;
        } else if c == quote {
            return Some(out);
        } else {
            out.push(c);
        }
    }
    None
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.chars().count() >= MIN_ANCHOR_CHARS)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_edit_form_yields_its_old_lines() {
        let cases: &[(&str, &[&str])] = &[
            (
                r#"{"file_path":"a.rs","old_string":"fn main() {\n    run();\n}","new_string":"x"}"#,
                &["fn main() {", "run();"],
            ),
            (
                r#"{"edits":[{"old_string":"let alpha = 1;","new_string":""}]}"#,
                &["let alpha = 1;"],
            ),
            (
                r#"{"command":"str_replace","path":"/a.py","old_str":"return total\n"}"#,
                &["return total"],
            ),
            (
                r#"{"search":"def division(a, b)","replace":"y"}"#,
                &["def division(a, b)"],
            ),
            (
                r#"{"command":"edit 'return int(value)' 'return round(value)'"}"#,
                &["return int(value)"],
            ),
            (r#"{"command":"edit 4:4\ndef f():\nend_of_edit"}"#, &[]),
            (
                r#"{"input":"*** Begin Patch\n*** Update File: a.py\n@@ def f\n context_line\n-removed_line\n+added_line\n*** Add File: b.py\n+new_file_line\n*** End Patch"}"#,
                &["context_line", "removed_line"],
            ),
            (
                r#"{"command":["apply_patch","*** Begin Patch\n*** Update File: a.py\n-old_value = 1\n+new\n*** End Patch"]}"#,
                &["old_value = 1"],
            ),
            (r#"{"command":"cargo test --workspace"}"#, &[]),
            ("not json", &[]),
        ];
        for (args, want) in cases {
            assert_eq!(of_call(args), *want, "{args}");
        }
    }

    #[test]
    fn aider_search_blocks_yield_their_search_half() {
        let text = "Change it:\n\nsrc/a.py\n```python\n<<<<<<< SEARCH\ndef total(xs):\n    return sum(xs)\n=======\ndef total(xs):\n    return sum(xs, 0)\n>>>>>>> REPLACE\n```\n";
        assert_eq!(of_message(text), ["def total(xs):", "return sum(xs)"]);
        assert!(of_message("no edits here").is_empty());
    }
}
