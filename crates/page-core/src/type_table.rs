//! The per-type table of minimum fidelities, paths, pins and scopes, with validated overrides.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::PageError;
use crate::page_type::{DegradationPath, PageType, PinClass, TypePolicy};
use crate::repr::Repr;
use crate::scope::ScopeKind;

/// The rules for every page type. [`TypeTable::default`] is the paper's Table 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeTable {
    rows: [TypePolicy; 6],
}

impl Default for TypeTable {
    fn default() -> Self {
        Self {
            rows: PageType::ALL.map(PageType::defaults),
        }
    }
}

impl TypeTable {
    /// Table 1 with the overrides of `config` applied, each checked.
    ///
    /// # Errors
    /// The first override that is invalid: a path that does not start at `full` or is not
    /// descending ([`PageError::InvalidPath`]), or a minimum fidelity not on the resulting path
    /// ([`PageError::MinFidelityOffPath`]).
    pub fn from_config(config: &TypeTableConfig) -> Result<Self, PageError> {
        let mut table = Self::default();
        for (&page_type, o) in &config.overrides {
            let base = table.get(page_type);
            let path = match &o.degradation_path {
                Some(levels) => DegradationPath::new(page_type, levels)?,
                None => base.path(),
            };
            let row = TypePolicy::new(
                page_type,
                o.min_fidelity.unwrap_or(base.min_fidelity()),
                path,
                o.pin.unwrap_or(base.default_pin()),
                o.scope.unwrap_or(base.default_scope()),
            )?;
            table.rows[type_index(page_type)] = row;
        }
        Ok(table)
    }

    /// The rules for `page_type`.
    #[must_use]
    pub fn get(&self, page_type: PageType) -> TypePolicy {
        self.rows[type_index(page_type)]
    }
}

fn type_index(page_type: PageType) -> usize {
    match page_type {
        PageType::Bootstrap => 0,
        PageType::Constraint => 1,
        PageType::Plan => 2,
        PageType::Preference => 3,
        PageType::Evidence => 4,
        PageType::Conversation => 5,
    }
}

/// Overrides of Table 1, as read from configuration. Unnamed types keep their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeTableConfig {
    /// Per-type overrides, keyed by the type's code.
    #[serde(default)]
    pub overrides: BTreeMap<PageType, TypeOverride>,
}

/// The fields of one Table 1 row that configuration may replace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeOverride {
    /// New minimum fidelity; must lie on the (possibly new) path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_fidelity: Option<Repr>,
    /// New degradation path, written from `full` downward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degradation_path: Option<Vec<Repr>>,
    /// New default pin class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinClass>,
    /// New default scope kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeKind>,
}
