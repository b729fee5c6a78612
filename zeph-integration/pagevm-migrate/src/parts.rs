//! Zeph's `messages.parts` JSON, read without Zeph's types: the current internally tagged form
//! (`{"kind":"tool_use",…}`) and the legacy externally tagged one (`{"ToolUse":{…}}`, before
//! v0.17.1), into one model. A row that is neither is corrupt, with the reason.

use serde_json::{Map, Value};

/// One message part, as much of it as migration needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    /// `text`, and the injected-memory kinds `recall`, `code_context`, `cross_session`
    /// (named by `kind`).
    Text { kind: &'static str, text: String },
    /// A `summary` part (deferred tool-pair summaries, summary messages).
    Summary(String),
    /// The legacy text-tool path: a tool's output in a user message.
    ToolOutput {
        tool: String,
        body: String,
        compacted_at: Option<i64>,
    },
    /// A native tool call on an assistant message.
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// A native tool result on a user message.
    ToolResult {
        id: String,
        content: String,
        is_error: bool,
    },
    /// An image: only its type and size are kept in text.
    Image { mime: String, bytes: usize },
    /// Thinking blocks: provider state, not content to page (Zeph never renders them into
    /// `content` either).
    Thinking,
    /// A Claude server-side compaction block.
    Compaction(String),
}

/// How a row's `parts` parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parsed {
    /// The current form.
    Current(Vec<Part>),
    /// The legacy externally tagged form.
    Legacy(Vec<Part>),
    /// Neither: the reason, naming the part.
    Corrupt(String),
}

fn legacy_kind(key: &str) -> Option<&'static str> {
    Some(match key {
        "Text" => "text",
        "ToolOutput" => "tool_output",
        "Recall" => "recall",
        "CodeContext" => "code_context",
        "Summary" => "summary",
        "CrossSession" => "cross_session",
        "ToolUse" => "tool_use",
        "ToolResult" => "tool_result",
        "Image" => "image",
        "ThinkingBlock" => "thinking_block",
        "RedactedThinkingBlock" => "redacted_thinking_block",
        "Compaction" => "compaction",
        _ => return None,
    })
}

/// Parses a `parts` column.
pub(crate) fn parse(raw: &str) -> Parsed {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed == "[]" {
        return Parsed::Current(Vec::new());
    }
    let value: Value = match serde_json::from_str(trimmed) {
        Ok(v) => v,
        Err(e) => return Parsed::Corrupt(format!("parts is not JSON: {e}")),
    };
    let Value::Array(items) = value else {
        return Parsed::Corrupt("parts is not a JSON array".to_owned());
    };
    let mut parts = Vec::with_capacity(items.len());
    let mut legacy = None;
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(mut obj) = item else {
            return Parsed::Corrupt(format!("part {i} is not an object"));
        };
        let (kind, fields, is_legacy) = if let Some(kind) = obj.remove("kind") {
            let Value::String(kind) = kind else {
                return Parsed::Corrupt(format!("part {i}: kind is not a string"));
            };
            (kind, obj, false)
        } else if obj.len() == 1 {
            let Some((key, inner)) = obj.into_iter().next() else {
                return Parsed::Corrupt(format!("part {i} is empty"));
            };
            let Some(kind) = legacy_kind(&key) else {
                return Parsed::Corrupt(format!("part {i}: unknown variant {key:?}"));
            };
            let fields = match inner {
                Value::Object(m) => m,
                // Zeph's compat reader wraps a non-object payload (an image) as `data`.
                other => Map::from_iter([("data".to_owned(), other)]),
            };
            (kind.to_owned(), fields, true)
        } else {
            return Parsed::Corrupt(format!("part {i} has no kind"));
        };
        if *legacy.get_or_insert(is_legacy) != is_legacy {
            return Parsed::Corrupt("parts mix the legacy and the current format".to_owned());
        }
        match part(&kind, fields) {
            Ok(p) => parts.push(p),
            Err(why) => return Parsed::Corrupt(format!("part {i} ({kind}): {why}")),
        }
    }
    if legacy == Some(true) {
        Parsed::Legacy(parts)
    } else {
        Parsed::Current(parts)
    }
}

fn string(fields: &mut Map<String, Value>, key: &str) -> Result<String, String> {
    match fields.remove(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("{key} is not a string")),
        None => Err(format!("{key} is missing")),
    }
}

fn part(kind: &str, mut f: Map<String, Value>) -> Result<Part, String> {
    Ok(match kind {
        "text" | "recall" | "code_context" | "cross_session" => {
            let kind = match kind {
                "text" => "text",
                "recall" => "recall",
                "code_context" => "code_context",
                _ => "cross_session",
            };
            Part::Text {
                kind,
                text: string(&mut f, "text")?,
            }
        }
        "summary" => Part::Summary(string(&mut f, "text")?),
        "tool_output" => Part::ToolOutput {
            tool: string(&mut f, "tool_name")?,
            body: string(&mut f, "body")?,
            compacted_at: match f.remove("compacted_at") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => Some(n.as_i64().ok_or("compacted_at is not an integer")?),
                Some(_) => return Err("compacted_at is not an integer".to_owned()),
            },
        },
        "tool_use" => Part::ToolUse {
            id: string(&mut f, "id")?,
            name: string(&mut f, "name")?,
            input: f.remove("input").ok_or("input is missing")?,
        },
        "tool_result" => Part::ToolResult {
            id: string(&mut f, "tool_use_id")?,
            content: string(&mut f, "content")?,
            is_error: match f.remove("is_error") {
                None => false,
                Some(Value::Bool(b)) => b,
                Some(_) => return Err("is_error is not a boolean".to_owned()),
            },
        },
        "image" => {
            let data = string(&mut f, "data")?;
            Part::Image {
                mime: string(&mut f, "mime_type")?,
                // Base64: four characters carry three bytes.
                bytes: data.trim_end_matches('=').len() * 3 / 4,
            }
        }
        "thinking_block" | "redacted_thinking_block" => Part::Thinking,
        "compaction" => Part::Compaction(string(&mut f, "summary")?),
        other => return Err(format!("unknown kind {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            ("[]", "current 0"),
            (r#"[{"kind":"text","text":"hi"}]"#, "current 1"),
            (r#"[{"Text":{"text":"hi"}}]"#, "legacy 1"),
            (
                r#"[{"ToolUse":{"id":"c1","name":"bash","input":{"command":"ls"}}},{"Text":{"text":"x"}}]"#,
                "legacy 2",
            ),
            (
                r#"[{"kind":"tool_result","tool_use_id":"c1","content":"ok"}]"#,
                "current 1",
            ),
            (
                r#"[{"kind":"tool_output","tool_name":"bash","body":"flag{fake_fl"#,
                "corrupt: parts is not JSON",
            ),
            (r#"{"kind":"text"}"#, "corrupt: parts is not a JSON array"),
            (
                r#"[{"kind":"text"}]"#,
                "corrupt: part 0 (text): text is missing",
            ),
            (
                r#"[{"kind":"video","url":"x"}]"#,
                "corrupt: part 0 (video): unknown kind \"video\"",
            ),
            (
                r#"[{"Video":{"url":"x"}}]"#,
                "corrupt: part 0: unknown variant \"Video\"",
            ),
            (
                r#"[{"Text":{"text":"a"}},{"kind":"text","text":"b"}]"#,
                "corrupt: parts mix",
            ),
            (
                r#"[{"kind":"tool_result","tool_use_id":"c","content":"x","is_error":"yes"}]"#,
                "corrupt: part 0 (tool_result): is_error",
            ),
        ];
        for (raw, want) in cases {
            let got = match parse(raw) {
                Parsed::Current(p) => format!("current {}", p.len()),
                Parsed::Legacy(p) => format!("legacy {}", p.len()),
                Parsed::Corrupt(why) => format!("corrupt: {why}"),
            };
            assert!(got.starts_with(want), "{raw}: got {got:?}, want {want:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn text_round_trips(t in ".{0,100}") {
            let raw = serde_json::json!([{"kind": "text", "text": t}]).to_string();
            proptest::prop_assert_eq!(parse(&raw), Parsed::Current(vec![Part::Text { kind: "text", text: t }]));
        }
    }
}
