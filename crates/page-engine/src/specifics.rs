//! The specifics a text mentions (file paths and identifiers): what users complain compaction
//! loses, and what later turns refer back to.

use std::collections::{BTreeSet, HashMap};

use crate::build::scan::{identifiers_in, paths_in};

/// Distinct file paths and identifiers mentioned in a text, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Specifics {
    /// Path-like words (`src/lib.rs`, `Cargo.toml`), without `:line:col` suffixes.
    pub paths: BTreeSet<String>,
    /// Identifier-like words (`snake_case`, `CamelCase`, `a::b::c`, `E0308`).
    pub identifiers: BTreeSet<String>,
}

/// Scans `text` with the same rules the evidence builder uses for its structured form, so what
/// counts as "mentioned" and what a structured representation keeps agree.
///
/// ```
/// let s = page_engine::specifics("error[E0425] in src/main.rs:3:1 calling parse_args");
/// assert!(s.paths.contains("src/main.rs"));
/// assert!(s.identifiers.contains("parse_args") && s.identifiers.contains("E0425"));
/// ```
#[must_use]
pub fn specifics(text: &str) -> Specifics {
    let mut s = Specifics::default();
    for line in text.lines() {
        s.paths.extend(paths_in(line).map(str::to_owned));
        s.identifiers
            .extend(identifiers_in(line).map(str::to_owned));
    }
    s
}

/// Which page a mention of a specific cites: the latest page that held it, since a later read
/// of the same file or a later run of the same command supersedes an earlier one. The one
/// citation rule of every path that demands cited pages (the Zeph adapter's selection, the
/// replay's workloads).
///
/// ```
/// let mut c = page_engine::Citations::default();
/// c.hold(&1, ["src/a.rs", "parse"]);
/// c.hold(&2, ["src/a.rs"]);
/// assert_eq!(c.cited(["src/a.rs", "parse", "unknown"]), [1, 2]);
/// ```
#[derive(Debug, Clone)]
pub struct Citations<P> {
    latest: HashMap<String, P>,
}

impl<P> Default for Citations<P> {
    fn default() -> Self {
        Self {
            latest: HashMap::new(),
        }
    }
}

impl<P: Clone + Ord> Citations<P> {
    /// Records that `page` holds `specifics`: from now on it is what they cite.
    pub fn hold<'a>(&mut self, page: &P, specifics: impl IntoIterator<Item = &'a str>) {
        for s in specifics {
            self.latest.insert(s.to_owned(), page.clone());
        }
    }

    /// The pages a text mentioning `specifics` cites, sorted and without repeats.
    pub fn cited<'a>(&self, specifics: impl IntoIterator<Item = &'a str>) -> Vec<P> {
        let mut out: Vec<P> = specifics
            .into_iter()
            .filter_map(|s| self.latest.get(s).cloned())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The shell command of a tool call whose arguments carry one (`command` or `cmd`), as a
/// string or as an argv list (Codex's `shell` tool and `local_shell_call`); a `bash -lc` /
/// `sh -c` wrapper is unwrapped to the script it runs. Trimmed; a multi-line command is kept
/// whole. The one rule for what command a call ran, wherever a command is a specific.
///
/// ```
/// use serde_json::json;
/// assert_eq!(page_engine::command_of(&json!({"command": " cargo test "})).as_deref(), Some("cargo test"));
/// assert_eq!(page_engine::command_of(&json!({"cmd": ["bash", "-lc", "ls src"]})).as_deref(), Some("ls src"));
/// assert_eq!(page_engine::command_of(&json!({"path": "src/lib.rs"})), None);
/// ```
#[must_use]
pub fn command_of(args: &serde_json::Value) -> Option<String> {
    let raw = ["command", "cmd"].iter().find_map(|k| args.get(k))?;
    let cmd = match raw {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(argv) => {
            let argv: Vec<&str> = argv.iter().filter_map(serde_json::Value::as_str).collect();
            match argv.as_slice() {
                [shell, flag, script]
                    if ["bash", "sh", "zsh", "/bin/bash", "/bin/sh"].contains(shell)
                        && ["-c", "-lc"].contains(flag) =>
                {
                    (*script).to_owned()
                }
                _ => argv.join(" "),
            }
        }
        _ => return None,
    };
    Some(cmd.trim().to_owned()).filter(|c| !c.is_empty())
}

/// What a page can be cited by, each list sorted and without repeats: the specifics of its
/// full text and of the text that renders with it, and its call's command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageSpecifics {
    /// File paths and the shell command its call ran: what a later turn most often needs
    /// back (a path to open, a command to rerun).
    pub key: Vec<String>,
    /// Identifiers (`snake_case`, `CamelCase`, `a::b`, error codes).
    pub identifiers: Vec<String>,
    /// Those (of `key` and `identifiers`) the page shows at every level it renders at: its
    /// call's command (the tool use renders whole) and those of the text that travels with
    /// it. Only leaving the page out hides them.
    pub framed: Vec<String>,
}

impl PageSpecifics {
    /// The specifics of a page whose full text is `full`, whose call ran `command`, and with
    /// which `frame` renders at every level.
    #[must_use]
    pub fn of(full: &str, command: Option<String>, frame: &str) -> Self {
        let mut s = specifics(full);
        let f = specifics(frame);
        let mut framed: Vec<String> = f
            .paths
            .iter()
            .chain(&f.identifiers)
            .cloned()
            .chain(command.clone())
            .collect();
        framed.sort_unstable();
        framed.dedup();
        s.paths.extend(f.paths);
        s.identifiers.extend(f.identifiers);
        let mut key: Vec<String> = s.paths.into_iter().chain(command).collect();
        key.sort_unstable();
        key.dedup();
        Self {
            key,
            // A BTreeSet: already sorted and distinct.
            identifiers: s.identifiers.into_iter().collect(),
            framed,
        }
    }

    /// Every specific: the key ones, then the identifiers.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.key.iter().chain(&self.identifiers).map(String::as_str)
    }
}
