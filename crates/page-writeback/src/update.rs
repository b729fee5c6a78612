//! Typed updates: the only shape in which the harness may ask for durable state to change.

use std::fmt;

use page_core::{PageId, Scope, ToolCallId};

use crate::error::UpdateError;

/// The longest field path accepted, in bytes.
const MAX_FIELD_PATH_LEN: usize = 128;

/// The longest principal id accepted, in bytes.
const MAX_PRINCIPAL_LEN: usize = 128;

/// The name of a field of a page's field document (`goal`, `steps`, `rules`, `args`, …).
///
/// One or more segments of `[a-z0-9_]`, separated by `.`, each starting with a letter. Only the
/// first segment names a field of the page type's schema; further segments address keys inside
/// a map field. The built-in schemas use single-segment paths.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(String);

impl FieldPath {
    /// Validates and wraps `path`.
    ///
    /// # Errors
    /// [`UpdateError::InvalidFieldPath`] when `path` is empty, too long or has a segment that is
    /// not lowercase snake case.
    pub fn new(path: impl Into<String>) -> Result<Self, UpdateError> {
        let path = path.into();
        let invalid = |reason: &'static str| UpdateError::InvalidFieldPath {
            path: path.clone(),
            reason,
        };
        if path.is_empty() {
            return Err(invalid("it is empty"));
        }
        if path.len() > MAX_FIELD_PATH_LEN {
            return Err(invalid("it is longer than 128 bytes"));
        }
        for segment in path.split('.') {
            let mut chars = segment.chars();
            if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
                return Err(invalid("each segment must start with a lowercase letter"));
            }
            if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                return Err(invalid("segments may only hold a-z, 0-9 and _"));
            }
        }
        Ok(Self(path))
    }

    /// The path as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first segment: the field of the page type's schema.
    #[must_use]
    pub fn root(&self) -> &str {
        self.0.split('.').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FieldPath({:?})", self.0)
    }
}

/// Who asks for a write: an agent, a sub-agent, a tool, the user. Access is granted per
/// principal in [`crate::AccessControl`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrincipalId(String);

impl PrincipalId {
    /// Validates and wraps `id`.
    ///
    /// # Errors
    /// [`UpdateError::InvalidPrincipal`] when `id` is empty, longer than 128 bytes or contains
    /// control characters or white space.
    pub fn new(id: impl Into<String>) -> Result<Self, UpdateError> {
        let id = id.into();
        if id.is_empty()
            || id.len() > MAX_PRINCIPAL_LEN
            || id.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(UpdateError::InvalidPrincipal(id));
        }
        Ok(Self(id))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PrincipalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrincipalId({:?})", self.0)
    }
}

/// The committed version of one `(page, field)`: 0 while the field has never been written,
/// +1 per committed update of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FieldVersion(u64);

impl FieldVersion {
    /// The version of a field that was never written.
    pub const ABSENT: FieldVersion = FieldVersion(0);

    /// Wraps a raw version.
    #[must_use]
    pub const fn new(v: u64) -> Self {
        Self(v)
    }

    /// The raw version.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The version after one more committed update.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for FieldVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What an update does to its field.
///
/// Only [`Op::Append`], [`Op::Merge`] and [`Op::SetWithVersion`] can be committed. The
/// destructive ops exist so that a caller's request to remove or overwrite is journalled and
/// rejected with `DESTRUCTIVE_OP` instead of being impossible to express (and so silently
/// turned into something else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Adds one item at the end of a list field.
    Append,
    /// Adds or updates keys of a map field; never removes a key.
    Merge,
    /// Replaces the field's value if its committed version equals `expected`.
    SetWithVersion {
        /// The version the writer last saw.
        expected: FieldVersion,
    },
    /// Replaces the field's value unconditionally. Always rejected: it would overwrite
    /// committed content.
    Overwrite,
    /// Removes the field. Always rejected.
    Remove,
}

impl Op {
    /// The stable code: `append`, `merge`, `set_with_version`, `overwrite`, `remove`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Op::Append => "append",
            Op::Merge => "merge",
            Op::SetWithVersion { .. } => "set_with_version",
            Op::Overwrite => "overwrite",
            Op::Remove => "remove",
        }
    }

    /// The expected version of a `set_with_version`, else `None`.
    #[must_use]
    pub const fn expected_version(self) -> Option<FieldVersion> {
        match self {
            Op::SetWithVersion { expected } => Some(expected),
            Op::Append | Op::Merge | Op::Overwrite | Op::Remove => None,
        }
    }

    /// Rebuilds an op from its code and, for `set_with_version`, the expected version (as a
    /// store keeps them).
    ///
    /// # Errors
    /// [`UpdateError::UnknownOp`] for an unknown code or a `set_with_version` without version.
    pub fn from_code(code: &str, expected: Option<FieldVersion>) -> Result<Self, UpdateError> {
        match (code, expected) {
            ("append", _) => Ok(Op::Append),
            ("merge", _) => Ok(Op::Merge),
            ("set_with_version", Some(expected)) => Ok(Op::SetWithVersion { expected }),
            ("overwrite", _) => Ok(Op::Overwrite),
            ("remove", _) => Ok(Op::Remove),
            _ => Err(UpdateError::UnknownOp(code.to_owned())),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::SetWithVersion { expected } => write!(f, "set_with_version@{expected}"),
            other => f.write_str(other.code()),
        }
    }
}

/// What an update's claim rests on. It must resolve to a page or a tool call that exists
/// (committed, or among the pages of the boundary being committed).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EvidenceRef {
    /// A page.
    Page(PageId),
    /// A tool call, identified by the harness's call id (recorded in evidence pages'
    /// provenance).
    ToolCall(ToolCallId),
}

impl EvidenceRef {
    /// `page:<id>` or `tool_call:<id>`.
    #[must_use]
    pub fn to_code(&self) -> String {
        match self {
            EvidenceRef::Page(id) => format!("page:{id}"),
            EvidenceRef::ToolCall(id) => format!("tool_call:{id}"),
        }
    }

    /// Parses the form written by [`EvidenceRef::to_code`].
    ///
    /// # Errors
    /// [`UpdateError::InvalidEvidenceRef`] when the prefix is unknown or the id is invalid.
    pub fn from_code(code: &str) -> Result<Self, UpdateError> {
        let bad = || UpdateError::InvalidEvidenceRef(code.to_owned());
        if let Some(id) = code.strip_prefix("page:") {
            PageId::new(id).map(EvidenceRef::Page).map_err(|_| bad())
        } else if let Some(id) = code.strip_prefix("tool_call:") {
            ToolCallId::new(id)
                .map(EvidenceRef::ToolCall)
                .map_err(|_| bad())
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for EvidenceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_code())
    }
}

/// One typed update: `(page, field path, op, value, scope, evidence_ref, principal)`.
///
/// The value is kept as the JSON text the caller gave, unparsed: text that is not JSON, or
/// that is too large, is still journalled, and then rejected with `SCHEMA` by validation.
/// An update is inert until validated and committed at a boundary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Update {
    page: PageId,
    field: FieldPath,
    op: Op,
    value: String,
    scope: Scope,
    evidence: EvidenceRef,
    principal: PrincipalId,
}

impl Update {
    /// An update of `page.field` by `principal`, claiming `scope`, backed by `evidence`.
    /// `value_json` is the op's operand as JSON text: the item for `append`, an object of keys
    /// for `merge`, the new value for `set_with_version` and `overwrite`, ignored for `remove`.
    #[must_use]
    pub fn new(
        page: PageId,
        field: FieldPath,
        op: Op,
        value_json: impl Into<String>,
        scope: Scope,
        evidence: EvidenceRef,
        principal: PrincipalId,
    ) -> Self {
        Self {
            page,
            field,
            op,
            value: value_json.into(),
            scope,
            evidence,
            principal,
        }
    }

    /// The target page.
    #[must_use]
    pub fn page(&self) -> &PageId {
        &self.page
    }

    /// The target field.
    #[must_use]
    pub fn field(&self) -> &FieldPath {
        &self.field
    }

    /// The op.
    #[must_use]
    pub const fn op(&self) -> Op {
        self.op
    }

    /// The operand as the JSON text given.
    #[must_use]
    pub fn value_json(&self) -> &str {
        &self.value
    }

    /// The scope the writer claims.
    #[must_use]
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// What the update rests on.
    #[must_use]
    pub fn evidence(&self) -> &EvidenceRef {
        &self.evidence
    }

    /// Who asks.
    #[must_use]
    pub fn principal(&self) -> &PrincipalId {
        &self.principal
    }
}
