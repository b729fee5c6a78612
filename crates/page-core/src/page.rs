//! The page record: a typed, scoped, provenanced unit of agent state with its representations.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::digest::ContentDigest;
use crate::error::PageError;
use crate::ids::PageId;
use crate::levels::LevelCosts;
use crate::page_type::{DegradationPath, PageType, PinClass};
use crate::provenance::Provenance;
use crate::repr::Repr;
use crate::scope::Scope;
use crate::tokens::TokenCount;
use crate::type_table::TypeTable;

/// One representation of a page: its text, its exact token cost and the digest of the text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "RepresentationSpec", into = "RepresentationSpec")]
pub struct Representation {
    content: String,
    tokens: TokenCount,
    digest: ContentDigest,
}

impl Representation {
    /// A representation of `content` that costs `tokens` (counted by the caller's
    /// [`crate::TokenCounter`]).
    #[must_use]
    pub fn new(content: impl Into<String>, tokens: TokenCount) -> Self {
        let content = content.into();
        let digest = ContentDigest::of(content.as_bytes());
        Self {
            content,
            tokens,
            digest,
        }
    }

    /// The text as it would appear in a prompt.
    #[must_use]
    pub fn content(&self) -> &str {
        &self.content
    }

    /// Its exact token cost.
    #[must_use]
    pub const fn tokens(&self) -> TokenCount {
        self.tokens
    }

    /// The BLAKE3 digest of the content.
    #[must_use]
    pub const fn digest(&self) -> ContentDigest {
        self.digest
    }
}

/// The serialized form of a [`Representation`]. A digest, when given, must match the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepresentationSpec {
    /// The text.
    pub content: String,
    /// Its token cost.
    pub tokens: TokenCount,
    /// BLAKE3 of `content`; recomputed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<ContentDigest>,
}

impl TryFrom<RepresentationSpec> for Representation {
    type Error = PageError;

    /// # Errors
    /// [`PageError::DigestMismatch`] (level reported as `none`; [`Page::from_spec`] names the
    /// real level) when the given digest is not the content's.
    fn try_from(spec: RepresentationSpec) -> Result<Self, PageError> {
        let rep = Representation::new(spec.content, spec.tokens);
        match spec.digest {
            Some(d) if d != rep.digest => Err(PageError::DigestMismatch { level: Repr::None }),
            _ => Ok(rep),
        }
    }
}

impl From<Representation> for RepresentationSpec {
    fn from(r: Representation) -> Self {
        Self {
            content: r.content,
            tokens: r.tokens,
            digest: Some(r.digest),
        }
    }
}

/// A page: stable id, type, scope, provenance, pin, representations for every level of its
/// degradation path, version, dirty flag, recompute cost and base utility.
///
/// Only constructible through [`Page::from_spec`] (or deserialization, which calls it), so every
/// `Page` satisfies the invariants of [`LevelCosts`] and has content for each of its levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "PageSpec", into = "PageSpec")]
pub struct Page {
    id: PageId,
    scope: Scope,
    provenance: Provenance,
    pin: PinClass,
    levels: LevelCosts,
    // Indexed by `Repr::index`; `Some` exactly for the levels on the path.
    reprs: [Option<Representation>; 5],
    version: u64,
    dirty: bool,
    recompute_cost: f64,
    base_utility: f64,
}

/// The raw, serialized form of a page. Fields left out take the type table's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageSpec {
    /// Stable id.
    pub id: PageId,
    /// Page type.
    #[serde(rename = "type")]
    pub page_type: PageType,
    /// Owner.
    pub scope: Scope,
    /// Origin.
    pub provenance: Provenance,
    /// Pin class; the type's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinClass>,
    /// Minimum fidelity; the type's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_fidelity: Option<Repr>,
    /// Degradation path from `full` downward; the type's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degradation_path: Option<Vec<Repr>>,
    /// One representation per level on the path.
    pub representations: BTreeMap<Repr, RepresentationSpec>,
    /// Version counter, starting at 1.
    #[serde(default = "first_version")]
    pub version: u64,
    /// Whether the page has changes not yet committed to the store.
    #[serde(default = "dirty_by_default")]
    pub dirty: bool,
    /// What re-creating the content costs (re-running a tool), in utility units.
    #[serde(default)]
    pub recompute_cost: f64,
    /// Utility independent of recency and pins.
    #[serde(default)]
    pub base_utility: f64,
}

const fn first_version() -> u64 {
    1
}

const fn dirty_by_default() -> bool {
    true
}

impl PageSpec {
    /// A new page's spec (version 1, dirty) with the type's defaults and zero costs/utility.
    #[must_use]
    pub fn new(
        id: PageId,
        page_type: PageType,
        scope: Scope,
        provenance: Provenance,
        representations: BTreeMap<Repr, Representation>,
    ) -> Self {
        Self {
            id,
            page_type,
            scope,
            provenance,
            pin: None,
            min_fidelity: None,
            degradation_path: None,
            representations: representations
                .into_iter()
                .map(|(r, rep)| (r, rep.into()))
                .collect(),
            version: first_version(),
            dirty: true,
            recompute_cost: 0.0,
            base_utility: 0.0,
        }
    }
}

pub(crate) fn check_number(field: &'static str, value: f64) -> Result<f64, PageError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(PageError::InvalidNumber { field, value })
    }
}

impl Page {
    /// Validates `spec`, filling absent fields from `types`.
    ///
    /// # Errors
    /// The first violated invariant, naming the field: an invalid path or minimum fidelity,
    /// a representation off the path or missing, decreasing costs, a digest that does not match,
    /// a negative or non-finite `recompute_cost` / `base_utility`.
    pub fn from_spec(spec: PageSpec, types: &TypeTable) -> Result<Self, PageError> {
        let row = types.get(spec.page_type);
        let path = match &spec.degradation_path {
            Some(levels) => DegradationPath::new(spec.page_type, levels)?,
            None => row.path(),
        };
        let min = spec.min_fidelity.unwrap_or(row.min_fidelity());
        let mut reprs: [Option<Representation>; 5] = Default::default();
        let mut costs = BTreeMap::new();
        for (level, rs) in spec.representations {
            if level == Repr::None {
                return Err(PageError::RepresentationOffPath {
                    level,
                    path: path.to_string(),
                });
            }
            let rep = Representation::try_from(rs).map_err(|e| match e {
                PageError::DigestMismatch { .. } => PageError::DigestMismatch { level },
                other => other,
            })?;
            costs.insert(level, rep.tokens);
            reprs[level.index()] = Some(rep);
        }
        let levels = LevelCosts::new(spec.page_type, path, min, &costs)?;
        Ok(Self {
            id: spec.id,
            scope: spec.scope,
            provenance: spec.provenance,
            pin: spec.pin.unwrap_or(row.default_pin()),
            levels,
            reprs,
            version: spec.version,
            dirty: spec.dirty,
            recompute_cost: check_number("recompute_cost", spec.recompute_cost)?,
            base_utility: check_number("base_utility", spec.base_utility)?,
        })
    }

    /// The full spec, with every default made explicit, so it round-trips without a type table.
    #[must_use]
    pub fn to_spec(&self) -> PageSpec {
        PageSpec {
            id: self.id.clone(),
            page_type: self.page_type(),
            scope: self.scope.clone(),
            provenance: self.provenance.clone(),
            pin: Some(self.pin),
            min_fidelity: Some(self.levels.min_fidelity()),
            degradation_path: Some(self.levels.path().ascending().rev().collect()),
            representations: self
                .representations()
                .map(|(r, rep)| (r, rep.clone().into()))
                .collect(),
            version: self.version,
            dirty: self.dirty,
            recompute_cost: self.recompute_cost,
            base_utility: self.base_utility,
        }
    }

    /// The stable id.
    #[must_use]
    pub fn id(&self) -> &PageId {
        &self.id
    }

    /// The page type.
    #[must_use]
    pub const fn page_type(&self) -> PageType {
        self.levels.page_type()
    }

    /// The owner.
    #[must_use]
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The origin.
    #[must_use]
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// The pin class.
    #[must_use]
    pub const fn pin(&self) -> PinClass {
        self.pin
    }

    /// Costs per level, path and minimum fidelity.
    #[must_use]
    pub const fn levels(&self) -> &LevelCosts {
        &self.levels
    }

    /// The representation at `level`, if the level is on the path.
    #[must_use]
    pub fn representation(&self, level: Repr) -> Option<&Representation> {
        self.reprs[level.index()].as_ref()
    }

    /// Every representation, ascending by level.
    pub fn representations(&self) -> impl Iterator<Item = (Repr, &Representation)> {
        Repr::RESIDENT
            .into_iter()
            .filter_map(|r| self.reprs[r.index()].as_ref().map(|rep| (r, rep)))
    }

    /// The version counter: 1 at creation, +1 per update.
    #[must_use]
    pub const fn version(&self) -> u64 {
        self.version
    }

    /// Whether the page has changes not yet committed.
    #[must_use]
    pub const fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The utility of keeping the page rather than re-creating it.
    #[must_use]
    pub const fn recompute_cost(&self) -> f64 {
        self.recompute_cost
    }

    /// Utility independent of recency and pins.
    #[must_use]
    pub const fn base_utility(&self) -> f64 {
        self.base_utility
    }

    /// Replaces the representations (the content changed), keeping id, type and path.
    pub(crate) fn replace_representations(
        &mut self,
        new: BTreeMap<Repr, Representation>,
    ) -> Result<(), PageError> {
        let costs = new.iter().map(|(&r, rep)| (r, rep.tokens)).collect();
        let levels = LevelCosts::new(
            self.page_type(),
            self.levels.path(),
            self.levels.min_fidelity(),
            &costs,
        )?;
        let mut reprs: [Option<Representation>; 5] = Default::default();
        for (r, rep) in new {
            reprs[r.index()] = Some(rep);
        }
        self.levels = levels;
        self.reprs = reprs;
        self.version += 1;
        self.dirty = true;
        Ok(())
    }

    pub(crate) fn mark_clean(&mut self, version: u64) -> bool {
        if self.version == version {
            self.dirty = false;
        }
        !self.dirty
    }
}

impl TryFrom<PageSpec> for Page {
    type Error = PageError;

    fn try_from(spec: PageSpec) -> Result<Self, PageError> {
        Page::from_spec(spec, &TypeTable::default())
    }
}

impl From<Page> for PageSpec {
    fn from(p: Page) -> Self {
        p.to_spec()
    }
}
