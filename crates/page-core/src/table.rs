//! The session page table: every page of a session, resident or not, with its recency.

use std::collections::{BTreeMap, HashMap};

use crate::error::TableError;
use crate::ids::PageId;
use crate::page::Representation;
use crate::page::{Page, check_number};
use crate::repr::Repr;

/// All pages of a session, in insertion order, with a recency score per page.
///
/// Iteration is in insertion order, which is also creation order: the selector's tie-breaks and
/// prefix-stable prompt order both rely on it being deterministic.
#[derive(Debug, Clone, Default)]
pub struct SessionPageTable {
    entries: Vec<Entry>,
    index: HashMap<PageId, usize>,
}

#[derive(Debug, Clone)]
struct Entry {
    page: Page,
    recency: f64,
}

impl SessionPageTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a new page with recency 0.
    ///
    /// # Errors
    /// [`TableError::DuplicatePage`] when a page with that id is present; the table is unchanged.
    pub fn insert(&mut self, page: Page) -> Result<(), TableError> {
        if self.index.contains_key(page.id()) {
            return Err(TableError::DuplicatePage(page.id().to_string()));
        }
        self.index.insert(page.id().clone(), self.entries.len());
        self.entries.push(Entry { page, recency: 0.0 });
        Ok(())
    }

    /// Replaces a page's representations after its content changed. The id, type and path stay;
    /// the version goes up by one and the page becomes dirty. Returns the new version.
    ///
    /// # Errors
    /// [`TableError::UnknownPage`], or [`TableError::Invalid`] when the new representations
    /// break the page's invariants; the page is unchanged on error.
    pub fn update(
        &mut self,
        id: &PageId,
        representations: BTreeMap<Repr, Representation>,
    ) -> Result<u64, TableError> {
        let entry = self.entry_mut(id)?;
        entry.page.replace_representations(representations)?;
        Ok(entry.page.version())
    }

    /// Clears the dirty flag if the page is still at `version` (the version that was
    /// committed). Returns whether the page is now clean; a page updated after the commit was
    /// staged stays dirty, so that update is not lost.
    ///
    /// ```
    /// # use std::collections::BTreeMap;
    /// # use page_core::*;
    /// # let rep = |t: &str, n| Representation::new(t, TokenCount::new(n));
    /// # let reps = || BTreeMap::from([(Repr::Full, rep("Use tabs.", 4)), (Repr::Structured, rep("indent=tabs", 3))]);
    /// # let spec = PageSpec::new(PageId::new("c1")?, PageType::Constraint,
    /// #     Scope::Session(SessionId::new("s")?), Provenance::Import { source: "doc".into() }, reps());
    /// let mut table = SessionPageTable::new();
    /// table.insert(Page::from_spec(spec, &TypeTable::default())?)?;
    /// let id = PageId::new("c1")?;
    /// // A writeback of version 1 is staged, then the page changes again before it commits.
    /// let v2 = table.update(&id, reps())?;
    /// assert!(!table.mark_clean(&id, 1)?); // still dirty: version 2 is not committed
    /// assert!(table.mark_clean(&id, v2)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TableError::UnknownPage`].
    pub fn mark_clean(&mut self, id: &PageId, version: u64) -> Result<bool, TableError> {
        Ok(self.entry_mut(id)?.page.mark_clean(version))
    }

    /// The page with id `id`.
    #[must_use]
    pub fn get(&self, id: &PageId) -> Option<&Page> {
        self.index.get(id).map(|&i| &self.entries[i].page)
    }

    /// The position of `id` in insertion order.
    #[must_use]
    pub fn position(&self, id: &PageId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The page at `position` in insertion order (see [`SessionPageTable::position`]) and its
    /// recency: a caller that keeps positions reads without hashing the id again.
    #[must_use]
    pub fn at(&self, position: usize) -> Option<(&Page, f64)> {
        self.entries.get(position).map(|e| (&e.page, e.recency))
    }

    /// Number of pages.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every page, in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Page> {
        self.entries.iter().map(|e| &e.page)
    }

    /// The dirty pages, in insertion order.
    pub fn dirty(&self) -> impl Iterator<Item = &Page> {
        self.iter().filter(|p| p.is_dirty())
    }

    /// The recency score of `id`.
    #[must_use]
    pub fn recency(&self, id: &PageId) -> Option<f64> {
        self.index.get(id).map(|&i| self.entries[i].recency)
    }

    /// Sets the recency score of `id`.
    ///
    /// # Errors
    /// [`TableError::UnknownPage`], or [`TableError::Invalid`] for a negative or non-finite score.
    pub fn set_recency(&mut self, id: &PageId, recency: f64) -> Result<(), TableError> {
        let recency = check_number("recency", recency)?;
        self.entry_mut(id)?.recency = recency;
        Ok(())
    }

    /// Multiplies every recency by `factor` and zeroes those that fall below `floor`.
    ///
    /// Both are the policy's constants (the paper: ×0.88, floor 1e-4); the table only stores.
    pub fn decay_recency(&mut self, factor: f64, floor: f64) {
        for e in &mut self.entries {
            let r = e.recency * factor;
            e.recency = if r.is_finite() && r >= floor { r } else { 0.0 };
        }
    }

    fn entry_mut(&mut self, id: &PageId) -> Result<&mut Entry, TableError> {
        match self.index.get(id) {
            Some(&i) => Ok(&mut self.entries[i]),
            None => Err(TableError::UnknownPage(id.to_string())),
        }
    }
}
