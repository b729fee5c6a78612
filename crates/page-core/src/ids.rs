//! Identifier newtypes: validated once at construction, cheap to clone and compare.

use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::PageError;

/// The longest identifier accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;

fn check_id(field: &'static str, s: &str) -> Result<(), PageError> {
    let invalid = |reason| PageError::InvalidId { field, reason };
    if s.is_empty() {
        return Err(invalid("it is empty"));
    }
    if s.len() > MAX_ID_LEN {
        return Err(invalid("it is longer than 256 bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid("it contains a control character"));
    }
    if s.trim() != s {
        return Err(invalid("it has leading or trailing white space"));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        ///
        /// Non-empty, at most [`MAX_ID_LEN`] bytes, no control characters, no surrounding
        /// white space. Ordered by byte value, which is also Rust's and Python's `str` order.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates and wraps `s`.
            ///
            /// # Errors
            #[doc = concat!("[`PageError::InvalidId`] naming `", $field, "` when `s` is not a valid id.")]
            pub fn new(s: impl AsRef<str>) -> Result<Self, PageError> {
                let s = s.as_ref();
                check_id($field, s)?;
                Ok(Self(Arc::from(s)))
            }

            /// The id as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = PageError;

            fn try_from(s: String) -> Result<Self, PageError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.as_ref().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }
    };
}

id_type!(
    /// The stable identity of a page: unchanged by updates, unique within a page table.
    PageId,
    "page_id"
);
id_type!(
    /// One agent session.
    SessionId,
    "session_id"
);
id_type!(
    /// A project whose pages are shared across sessions.
    ProjectId,
    "project_id"
);
id_type!(
    /// The harness's id of one tool call (e.g. a `tool_use` block id).
    ToolCallId,
    "tool_call_id"
);
id_type!(
    /// The harness's id of one transcript message.
    MessageId,
    "message_id"
);
