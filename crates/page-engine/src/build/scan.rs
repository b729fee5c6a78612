//! Line scanning for the builders: error lines, file paths, identifiers and commands, found
//! by plain character tests (no regex engine, linear time, bounded output).

use std::sync::LazyLock;

/// Whether a line reports a failure: compiler and test errors, tracebacks, panics.
///
/// Whether the line contains one of `error`, `Error`, `ERROR`, `FAILED`, `FAIL:`, `panicked`,
/// `Traceback`, `Exception`, `fatal:`, `failed`, `No such file` or `not found` (the tests'
/// `ERROR_MARKERS`), found in one walk over its bytes that tries only the markers starting
/// with the byte at hand (twelve substring searches per line were a tenth of the ingest time).
pub(crate) fn is_error_line(line: &str) -> bool {
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

/// What makes a line an error line: the oracle for [`is_error_line`], which dispatches on each
/// marker's first byte.
#[cfg(test)]
const ERROR_MARKERS: [&str; 12] = [
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
    // A path has a `/` or an extension's `.`: a line with neither (most log lines) is not split.
    let candidate = line.bytes().any(|b| b == b'/' || b == b'.');
    let line = if candidate { line } else { "" };
    Words::new(line, &PATH_SEPARATORS, is_path_separator)
        // Trimming only shortens a word, and a path has at least three bytes.
        .filter(|w| w.len() >= 3)
        .map(|w| w.trim_end_matches([':', '.', ';']))
        // The same test per word, before the costlier suffix strip: the stripped word is a prefix.
        .filter(|w| w.len() >= 3 && w.bytes().any(|b| b == b'/' || b == b'.'))
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
    Words::new(line, &IDENTIFIER_SEPARATORS, is_identifier_separator)
        // Trimming only shortens a word, and an identifier has at least four bytes.
        .filter(|w| w.len() >= 4)
        .map(|w| w.trim_matches(':'))
        .filter(|w| is_identifier(w))
}

/// Where identifier words end: anything but a letter, a digit, `_` or `:`.
fn is_identifier_separator(c: char) -> bool {
    !(c.is_alphanumeric() || c == '_' || c == ':')
}

/// Where path words end: whitespace, quotes, brackets, `,` and `=`.
fn is_path_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\'' | '`' | '(' | ')' | ',' | '[' | ']' | '<' | '>' | '='
        )
}

/// A separator test tabulated for the ASCII characters.
type AsciiTable = [bool; 128];

fn ascii_table(separator: fn(char) -> bool) -> AsciiTable {
    std::array::from_fn(|b| separator(char::from(b as u8)))
}

static IDENTIFIER_SEPARATORS: LazyLock<AsciiTable> =
    LazyLock::new(|| ascii_table(is_identifier_separator));
static PATH_SEPARATORS: LazyLock<AsciiTable> = LazyLock::new(|| ascii_table(is_path_separator));

/// `line.split(separator)`, the same words, with ASCII characters tested through a table
/// instead of being decoded and classified one by one (splitting was a third of the scan).
struct Words<'a> {
    line: &'a str,
    /// Where the next word starts; past the end once the last word was returned.
    start: usize,
    ascii: &'static AsciiTable,
    separator: fn(char) -> bool,
}

impl<'a> Words<'a> {
    fn new(line: &'a str, ascii: &'static AsciiTable, separator: fn(char) -> bool) -> Self {
        Self {
            line,
            start: 0,
            ascii,
            separator,
        }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.line.as_bytes();
        let start = self.start;
        let ascii = self.ascii;
        let mut i = start;
        loop {
            // The next separator or non-ASCII byte: a tight loop over the bytes.
            let rest = bytes.get(i..)?;
            let Some(k) = rest.iter().position(|&b| b >= 128 || ascii[usize::from(b)]) else {
                self.start = bytes.len() + 1;
                return Some(&self.line[start..]);
            };
            i += k;
            let width = if bytes[i] < 128 {
                1
            } else {
                // A multi-byte character starts here (`i` is always a character boundary).
                match self.line[i..].chars().next() {
                    Some(c) if (self.separator)(c) => c.len_utf8(),
                    Some(c) => {
                        i += c.len_utf8();
                        continue;
                    }
                    // Not reached (`i` is before the end); ends the words rather than loop.
                    None => bytes.len() + 1 - i,
                }
            };
            self.start = i + width;
            return Some(&self.line[start..i]);
        }
    }
}

fn is_identifier(w: &str) -> bool {
    if w.len() < 4 || w.len() > 80 {
        return false;
    }
    if w.is_ascii() {
        let bytes = w.as_bytes();
        // Most words are plain lowercase words: without `_` or `:` only the shapes that start
        // with a capital (camel case, error codes) remain.
        if !bytes[0].is_ascii_uppercase() && !bytes.iter().any(|&b| b == b'_' || b == b':') {
            return false;
        }
        return is_ascii_identifier(bytes);
    }
    let mut chars = w.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    identifier_shape(first, chars, w.len())
}

/// What [`identifier_shape`] asks of a character: a `char`, or an ASCII byte (the fast path,
/// without decoding).
trait Glyph: Copy {
    fn is(self, ascii: u8) -> bool;
    fn alphabetic(self) -> bool;
    fn lowercase(self) -> bool;
    fn uppercase(self) -> bool;
    fn ascii_uppercase(self) -> bool;
    fn ascii_digit(self) -> bool;
}

impl Glyph for char {
    fn is(self, ascii: u8) -> bool {
        self == char::from(ascii)
    }
    fn alphabetic(self) -> bool {
        self.is_alphabetic()
    }
    fn lowercase(self) -> bool {
        self.is_lowercase()
    }
    fn uppercase(self) -> bool {
        self.is_uppercase()
    }
    fn ascii_uppercase(self) -> bool {
        self.is_ascii_uppercase()
    }
    fn ascii_digit(self) -> bool {
        self.is_ascii_digit()
    }
}

impl Glyph for u8 {
    fn is(self, ascii: u8) -> bool {
        self == ascii
    }
    fn alphabetic(self) -> bool {
        self.is_ascii_alphabetic()
    }
    fn lowercase(self) -> bool {
        self.is_ascii_lowercase()
    }
    fn uppercase(self) -> bool {
        self.is_ascii_uppercase()
    }
    fn ascii_uppercase(self) -> bool {
        self.is_ascii_uppercase()
    }
    fn ascii_digit(self) -> bool {
        self.is_ascii_digit()
    }
}

/// [`is_identifier`] for an ASCII word of 4 to 80 bytes, on bytes.
fn is_ascii_identifier(w: &[u8]) -> bool {
    let Some((&first, rest)) = w.split_first() else {
        return false;
    };
    identifier_shape(first, rest.iter().copied(), w.len())
}

/// Whether a word of `len` bytes, `first` then `rest`, has one of the four identifier shapes:
/// `a::b` (not `a:::b`), `snake_case`, `CamelCase`, or an error code (`E0425`).
fn identifier_shape<G: Glyph>(first: G, rest: impl Iterator<Item = G>, len: usize) -> bool {
    if !(first.alphabetic() || first.is(b'_')) {
        return false;
    }
    // One walk over the word collects what the four shapes test.
    let mut colons = 0usize; // length of the current run of `:`
    let (mut colon, mut double, mut triple) = (false, false, false);
    let mut underscore = first.is(b'_');
    let mut alphabetic = first.alphabetic();
    let mut lowercase = first.lowercase();
    let (mut inner_upper, mut digits_only) = (false, true);
    for c in rest {
        if c.is(b':') {
            colons += 1;
            colon = true;
            double |= colons >= 2;
            triple |= colons >= 3;
        } else {
            colons = 0;
        }
        underscore |= c.is(b'_');
        alphabetic |= c.alphabetic();
        lowercase |= c.lowercase();
        inner_upper |= c.uppercase();
        digits_only &= c.ascii_digit();
    }
    let qualified = double && !triple;
    let snake = underscore && alphabetic && !colon;
    let camel = !colon && first.uppercase() && inner_upper && lowercase;
    let code = !colon && first.ascii_uppercase() && len <= 8 && digits_only;
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

    use super::*;

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

    /// The error test as first written: a substring search per marker.
    fn is_error_line_oracle(line: &str) -> bool {
        ERROR_MARKERS.iter().any(|m| line.contains(m))
    }

    /// The identifier test as first written: a walk per shape.
    fn is_identifier_oracle(w: &str) -> bool {
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

    /// The path scan as first written: every word stripped and tested.
    fn paths_in_oracle(line: &str) -> Vec<&str> {
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
        .collect()
    }

    /// The identifier scan as first written.
    fn identifiers_in_oracle(line: &str) -> Vec<&str> {
        line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map(|w| w.trim_matches(':'))
            .filter(|w| is_identifier_oracle(w))
            .collect()
    }

    // Markers, their near misses, paths, identifier shapes and non-ASCII letters.
    const LINE: &str = "(error|Erro|ERROR|FAILED|FAIL:|FAIL|panicked|Traceback|Exception|fatal:|failed|No such file|not found|not foun|src/a.rs:1:2|Cargo.toml|a::b|a:::b|E0308|Ab1|snake_case|CamelCase|ÄbcDé|_x_|[a-zA-Z0-9_:./ -]{0,12}|\\PC{0,4}|[ ,\\(\\[<=\"'`]|[\t\u{b}\u{c}\r\u{85}\u{a0}\u{2028}\u{3000}]|[é中Ǆ٣]){0,5}";

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        #[test]
        fn single_walk_scans_match_the_first_versions(line in LINE) {
            proptest::prop_assert_eq!(is_error_line(&line), is_error_line_oracle(&line));
            proptest::prop_assert_eq!(paths_in(&line).collect::<Vec<_>>(), paths_in_oracle(&line));
            proptest::prop_assert_eq!(identifiers_in(&line).collect::<Vec<_>>(), identifiers_in_oracle(&line));
            for w in line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                let w = w.trim_matches(':');
                proptest::prop_assert_eq!(is_identifier(w), is_identifier_oracle(w), "{:?}", w);
            }
        }

        #[test]
        fn single_walk_scans_match_on_any_text(line in "\\PC{0,80}") {
            proptest::prop_assert_eq!(is_error_line(&line), is_error_line_oracle(&line));
            proptest::prop_assert_eq!(paths_in(&line).collect::<Vec<_>>(), paths_in_oracle(&line));
            proptest::prop_assert_eq!(identifiers_in(&line).collect::<Vec<_>>(), identifiers_in_oracle(&line));
            for w in line.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                proptest::prop_assert_eq!(is_identifier(w), is_identifier_oracle(w), "{:?}", w);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn words_are_the_words_of_str_split(line in "([a-z:_/. ,=\\t\\r]|\\PC){0,40}") {
            proptest::prop_assert_eq!(
                Words::new(&line, &IDENTIFIER_SEPARATORS, is_identifier_separator).collect::<Vec<_>>(),
                line.split(is_identifier_separator).collect::<Vec<_>>()
            );
            proptest::prop_assert_eq!(
                Words::new(&line, &PATH_SEPARATORS, is_path_separator).collect::<Vec<_>>(),
                line.split(is_path_separator).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn every_marker_makes_an_error_line() {
        for m in ERROR_MARKERS {
            assert!(is_error_line(&format!("x {m} y")), "{m}");
            assert!(!is_error_line(&m[..m.len() - 1]), "{m} cut short");
        }
    }

    #[test]
    fn clip_marks_the_cut() {
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc   ", 3), "abc");
        assert_eq!(clip("äöüß", 2), "äö…");
    }
}
