//! Scopes: whether a page belongs to one session or is shared by a project's sessions.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
