//! Scopes: whether a page belongs to one session or is shared by a project's sessions.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::PageError;
use crate::ids::{ProjectId, SessionId};

/// Who a page belongs to. Writeback checks that the active principal may write it.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Scope {
    /// Private to one session.
    Session(SessionId),
    /// Shared by every session of a project.
    Project(ProjectId),
}

impl Scope {
    /// The kind of this scope.
    #[must_use]
    pub const fn kind(&self) -> ScopeKind {
        match self {
            Scope::Session(_) => ScopeKind::Session,
            Scope::Project(_) => ScopeKind::Project,
        }
    }
}

impl Scope {
    /// The id without its kind: with `kind().code()`, the two columns a store keeps a scope in.
    #[must_use]
    pub fn id_str(&self) -> &str {
        match self {
            Scope::Session(id) => id.as_str(),
            Scope::Project(id) => id.as_str(),
        }
    }

    /// The scope a store's two columns name: a [`ScopeKind`] code and an id.
    ///
    /// # Errors
    /// [`PageError::InvalidId`] for an id that fails its type's checks or a kind that is not
    /// `session` or `project`.
    pub fn from_parts(kind: &str, id: &str) -> Result<Self, PageError> {
        match kind {
            "session" => SessionId::new(id).map(Scope::Session),
            "project" => ProjectId::new(id).map(Scope::Project),
            _ => Err(PageError::InvalidId {
                field: "scope kind",
                reason: "not session or project",
            }),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Session(id) => write!(f, "session:{id}"),
            Scope::Project(id) => write!(f, "project:{id}"),
        }
    }
}

/// The kind of a [`Scope`], without its id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// Private to one session.
    Session,
    /// Shared by a project.
    Project,
}

impl ScopeKind {
    /// The stable code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            ScopeKind::Session => "session",
            ScopeKind::Project => "project",
        }
    }
}
