//! Line scanning for the builders: error lines, file paths, identifiers and commands, found
//! by plain character tests (no regex engine, linear time, bounded output).

/// Whether a line reports a failure: compiler and test errors, tracebacks, panics.
pub(crate) fn is_error_line(line: &str) -> bool {
    // The same answer as `ERROR_MARKERS.iter().any(|m| line.contains(m))` in one pass: a
    // marker can only start at a byte that begins one, and most bytes begin none.
    let bytes = line.as_bytes();
    (0..bytes.len()).any(|i| {
        let rest = &bytes[i..];
        match bytes[i] {
            b'e' => rest.starts_with(b"error"),
            b'E' => {
                rest.starts_with(b"Error")
                    || rest.starts_with(b"ERROR")
                    || rest.starts_with(b"Exception")
            }
            b'F' => rest.starts_with(b"FAILED") || rest.starts_with(b"FAIL:"),
            b'p' => rest.starts_with(b"panicked"),
            b'T' => rest.starts_with(b"Traceback"),
            b'f' => rest.starts_with(b"fatal:") || rest.starts_with(b"failed"),
            b'N' => rest.starts_with(b"No such file"),
            b'n' => rest.starts_with(b"not found"),
            _ => false,
        }
    })
}

/// The substrings that make a line an error line.
#[cfg(test)]
pub(crate) const ERROR_MARKERS: [&str; 12] = [
    "error",
    "Error",
    "ERROR",
    "FAILED",
    "FAIL:",
    "panicked",
    "Traceback",
    "Exception",
    "fatal:",
    "failed",
    "No such file",
    "not found",
];

/// File-path-like words: contain a `/` or end in a known source/config extension, made of path
/// characters, optionally followed by `:line[:col]`, which is dropped.
pub(crate) fn paths_in(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '`' | '(' | ')' | ',' | '[' | ']' | '<' | '>' | '='
            )
    })
    .map(|w| w.trim_end_matches([':', '.', ';']))
    .filter_map(|w| {
        let w = strip_line_suffix(w);
        is_path(w).then_some(w)
    })
}

fn strip_line_suffix(w: &str) -> &str {
    let mut end = w.len();
    // Drop up to two trailing `:digits` groups (`src/lib.rs:10:5`).
    for _ in 0..2 {
        let head = &w[..end];
        match head.rfind(':') {
            Some(i) if i + 1 < head.len() && head[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
                end = i;
            }
            _ => break,
        }
    }
    &w[..end]
}

fn is_path(w: &str) -> bool {
    const EXTENSIONS: [&str; 24] = [
        ".rs", ".py", ".js", ".ts", ".tsx", ".go", ".java", ".c", ".h", ".cc", ".cpp", ".rb",
        ".toml", ".json", ".yaml", ".yml", ".md", ".txt", ".lock", ".sh", ".cfg", ".ini", ".html",
        ".css",
    ];
    if w.len() < 3 || w.len() > 200 || w.contains("://") {
        return false;
    }
    if !w
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '~' | '@' | '+'))
    {
        return false;
    }
    let has_letter = w.chars().any(char::is_alphabetic);
    let slashy = w.contains('/')
        && !w.starts_with("//")
        && w.trim_matches('/').contains(|c: char| c.is_alphanumeric());
    let ext = EXTENSIONS
        .iter()
        .any(|e| w.ends_with(e) && w.len() > e.len());
    has_letter && (slashy || ext)
}

/// Identifier-like words worth keeping: `snake_case`, `CamelCase` with an inner capital,
/// `path::to::item`, error codes like `E0308`.
pub(crate) fn identifiers_in(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .map(|w| w.trim_matches(':'))
        .filter(|w| is_identifier(w))
}

fn is_identifier(w: &str) -> bool {
    if w.len() < 4 || w.len() > 80 {
        return false;
    }
    let Some(first) = w.chars().next() else {
        return false;
    };
    if !(first.is_alphabetic() || first == '_') {
        return false;
    }
    let qualified = w.contains("::") && !w.contains(":::");
    let snake = w.contains('_') && w.chars().any(char::is_alphabetic) && !w.contains(':');
    let camel = !w.contains(':')
        && first.is_uppercase()
        && w.chars().skip(1).any(char::is_uppercase)
        && w.chars().any(char::is_lowercase);
    let code = !w.contains(':')
        && first.is_ascii_uppercase()
        && w.len() <= 8
        && w[1..].bytes().all(|b| b.is_ascii_digit());
    qualified || snake || camel || code
}

/// Cuts `line` to at most `max` characters, marking the cut with `…`.
pub(crate) fn clip(line: &str, max: usize) -> String {
    let line = line.trim_end();
    match line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_owned(),
    }
}

/// Keeps the first `max` distinct items, in order of first appearance.
pub(crate) struct FirstDistinct<'a> {
    items: Vec<&'a str>,
    max: usize,
    seen_more: usize,
}

impl<'a> FirstDistinct<'a> {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            items: Vec::new(),
            max,
            seen_more: 0,
        }
    }

    pub(crate) fn push(&mut self, item: &'a str) {
        if self.items.contains(&item) {
            return;
        }
        if self.items.len() < self.max {
            self.items.push(item);
        } else {
            self.seen_more += 1;
        }
    }

    /// `a, b, c` plus `(+N more)` when items were dropped; `None` when empty.
    pub(crate) fn render(&self) -> Option<String> {
        if self.items.is_empty() {
            return None;
        }
        let mut s = self.items.join(", ");
        if self.seen_more > 0 {
            s.push_str(&format!(" (+{} more)", self.seen_more));
        }
        Some(s)
    }

    pub(crate) fn items(&self) -> &[&'a str] {
        &self.items
    }

    /// Counts items that were dropped elsewhere (when lists are merged), for `(+N more)`.
    pub(crate) fn add_dropped(&mut self, n: usize) {
        self.seen_more += n;
    }

    /// How many distinct items did not fit.
    pub(crate) fn dropped(&self) -> usize {
        self.seen_more
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use proptest::prelude::*;

    use super::*;

    fn is_error_line_by_contains(line: &str) -> bool {
        ERROR_MARKERS.iter().any(|m| line.contains(m))
    }

    #[test]
    fn error_lines_match_the_marker_list() {
        for (line, want) in [
            ("error[E0308]: mismatched types", true),
            ("FAILURE", false),
            ("test x ... FAILED", true),
            ("FAIL: test_x", true),
            ("FAIL", false),
            ("thread 'main' panicked at src/main.rs", true),
            ("Traceback (most recent call last):", true),
            ("ValueError: x", true),
            ("fatal: not a git repository", true),
            ("bash: x: No such file or directory", true),
            ("command not found", true),
            ("not foun", false),
            ("all good, 3 passed", false),
            ("", false),
        ] {
            assert_eq!(is_error_line(line), want, "{line:?}");
            assert_eq!(is_error_line_by_contains(line), want, "{line:?}");
        }
    }

    proptest! {
        // Lines built from marker fragments and neighbours, so near-misses are common.
        #[test]
        fn error_lines_are_the_lines_containing_a_marker(
            parts in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(ERROR_MARKERS.to_vec()).prop_map(str::to_owned),
                    proptest::sample::select(ERROR_MARKERS.to_vec())
                        .prop_flat_map(|m| (Just(m), 0..m.len()))
                        .prop_map(|(m, n)| m[..n].to_owned()),
                    "[a-zA-Z :é]{0,6}",
                ],
                0..6,
            )
        ) {
            let line = parts.concat();
            prop_assert_eq!(is_error_line(&line), is_error_line_by_contains(&line));
        }
    }

    #[test]
    fn finds_paths_identifiers_and_errors() {
        let text = "error[E0308]: mismatched types\n  --> crates/page-core/src/lib.rs:10:5\nSee Cargo.toml and https://example.com/x.rs\nfn select_representations in page_policy::selector::Selector (CamelCase, ok)";
        let mut out = String::new();
        for line in text.lines() {
            let paths: Vec<_> = paths_in(line).collect();
            let ids: Vec<_> = identifiers_in(line).collect();
            out.push_str(&format!(
                "{} paths={paths:?} ids={ids:?}\n",
                is_error_line(line)
            ));
        }
        expect![[r#"
            true paths=[] ids=["E0308"]
            false paths=["crates/page-core/src/lib.rs"] ids=[]
            false paths=["Cargo.toml"] ids=[]
            false paths=[] ids=["select_representations", "page_policy::selector::Selector", "CamelCase"]
        "#]]
        .assert_eq(&out);
    }

    #[test]
    fn clip_marks_the_cut() {
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc   ", 3), "abc");
        assert_eq!(clip("äöüß", 2), "äö…");
    }
}
