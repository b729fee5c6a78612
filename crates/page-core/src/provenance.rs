//! Provenance: where a page came from, and the canonical signatures that identify tool calls.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::ContentDigest;
use crate::error::PageError;
use crate::ids::{MessageId, ToolCallId};

/// The origin of a page. Writeback requires it to resolve; pointers dereference through it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Provenance {
    /// A tool call and its result.
    ToolCall {
        /// The harness's id of the call.
        call_id: ToolCallId,
        /// Tool name plus canonical arguments: equal signatures are equivalent calls.
        signature: ToolSignature,
    },
    /// A span of transcript messages.
    Transcript {
        /// First message of the span.
        first: MessageId,
        /// Last message of the span (equal to `first` for a single message).
        last: MessageId,
        /// Time of the first message, milliseconds since the Unix epoch, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_ms: Option<i64>,
        /// Time of the last message, milliseconds since the Unix epoch, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_ms: Option<i64>,
    },
    /// A file, or a range of its lines.
    File {
        /// The path as the agent named it.
        path: String,
        /// First and last line (1-based, inclusive), when the page covers only part of the file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lines: Option<(u32, u32)>,
    },
    /// Imported from another system (a Zeph database row, a trace file, a memory backend).
    Import {
        /// A locator in that system, e.g. `zeph:conversation/3/message/41`.
        source: String,
    },
}

/// A tool call's identity for duplicate detection: the tool name plus its arguments as
/// canonical JSON (object keys sorted by byte order, no insignificant white space).
///
/// Canonicalisation is done here, not by `serde_json`'s map type, because a crate elsewhere in
/// the build enabling `serde_json/preserve_order` would silently change key order.
///
/// ```
/// use page_core::ToolSignature;
///
/// let a = ToolSignature::from_json_text("grep", r#"{"pattern": "fn main", "path": "src"}"#)?;
/// let b = ToolSignature::from_json_text("grep", r#"{"path":"src","pattern":"fn main"}"#)?;
/// assert_eq!(a, b);
/// assert_eq!(a.as_str(), r#"grep({"path":"src","pattern":"fn main"})"#);
/// assert!(ToolSignature::from_json_text("grep", "{not json").is_err());
/// # Ok::<(), page_core::PageError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(
    description = "A tool call's identity: `name(canonical-json-args)`, object keys sorted by byte order, no insignificant white space."
)]
pub struct ToolSignature {
    /// `name(canonical-args)`.
    text: String,
    name_len: usize,
}

impl ToolSignature {
    /// The signature of a call to `tool` with arguments `args`.
    ///
    /// # Errors
    /// [`PageError::InvalidSignature`] when the tool name is empty or contains `(`, or control
    /// characters.
    pub fn new(tool: &str, args: &Value) -> Result<Self, PageError> {
        if tool.is_empty() || tool.contains('(') || tool.chars().any(char::is_control) {
            return Err(PageError::InvalidSignature(format!(
                "tool name {tool:?} must be non-empty, without '(' or control characters"
            )));
        }
        Ok(Self::of_usable_name(tool, args))
    }

    /// The signature of `tool`, a name [`Self::new`] accepts, with `args`.
    fn of_usable_name(tool: &str, args: &Value) -> Self {
        let mut text = String::with_capacity(tool.len() + 32);
        text.push_str(tool);
        text.push('(');
        write_canonical(args, &mut text);
        text.push(')');
        Self {
            text,
            name_len: tool.len(),
        }
    }

    /// The signature of a call whose arguments arrive as JSON text (as most transcripts store
    /// them). Empty text means "no arguments" (`{}`).
    ///
    /// # Errors
    /// [`PageError::InvalidSignature`] naming the JSON error when `args_json` is not JSON.
    pub fn from_json_text(tool: &str, args_json: &str) -> Result<Self, PageError> {
        let args = if args_json.trim().is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_str(args_json).map_err(|e| {
                PageError::InvalidSignature(format!("arguments of {tool:?} are not JSON: {e}"))
            })?
        };
        Self::new(tool, &args)
    }

    /// The signature of a call as a harness recorded it, whatever it recorded: the one rule
    /// every path that turns a call into a page follows. Arguments that are JSON text are
    /// canonicalised as in [`Self::from_json_text`] (empty text: no arguments); any other
    /// text is signed as one JSON string, so equal malformed calls still match. A tool name
    /// page-core could not use has each `(` and control character replaced by `_` (empty:
    /// `tool`).
    ///
    /// ```
    /// use page_core::ToolSignature;
    ///
    /// assert_eq!(ToolSignature::of_call("grep", r#"{"path": "src"}"#).as_str(), r#"grep({"path":"src"})"#);
    /// assert_eq!(ToolSignature::of_call("sh", "ls -la").as_str(), r#"sh("ls -la")"#);
    /// assert_eq!(ToolSignature::of_call("f(x)", "").as_str(), "f_x)({})");
    /// ```
    #[must_use]
    pub fn of_call(tool: &str, args_text: &str) -> Self {
        let tool: String = tool
            .chars()
            .map(|c| if c == '(' || c.is_control() { '_' } else { c })
            .collect();
        let tool = if tool.is_empty() { "tool" } else { &tool };
        let args = if args_text.trim().is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_str(args_text).unwrap_or_else(|_| Value::String(args_text.to_owned()))
        };
        Self::of_usable_name(tool, &args)
    }

    /// The tool name.
    #[must_use]
    pub fn tool(&self) -> &str {
        &self.text[..self.name_len]
    }

    /// The full canonical text, `name(args)`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The digest of the canonical text: a short, fixed-size key for indexes.
    #[must_use]
    pub fn digest(&self) -> ContentDigest {
        ContentDigest::of(self.text.as_bytes())
    }
}

impl TryFrom<String> for ToolSignature {
    type Error = PageError;

    fn try_from(s: String) -> Result<Self, PageError> {
        let bad = || PageError::InvalidSignature(format!("{s:?} is not of the form name(json)"));
        let open = s.find('(').ok_or_else(bad)?;
        let args = s[open + 1..].strip_suffix(')').ok_or_else(bad)?;
        let sig = Self::from_json_text(&s[..open], args)?;
        if sig.text != s {
            return Err(PageError::InvalidSignature(format!(
                "{s:?} is not canonical (expected {:?})",
                sig.text
            )));
        }
        Ok(sig)
    }
}

impl From<ToolSignature> for String {
    fn from(sig: ToolSignature) -> String {
        sig.text
    }
}

impl fmt::Display for ToolSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ToolSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ToolSignature({:?})", self.text)
    }
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_json_string(s, out),
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}
