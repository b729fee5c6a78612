//! The page directory of a replayed session, as a harness would keep it: rebuilt at each
//! compaction from what was ingested before it, never from what comes later.

use std::collections::{BTreeMap, HashMap};

use page_core::{PageId, PageType, PinClass, Repr, TokenCount, TokenCounter};
use page_engine::RepresentationBuilder;
use page_policy::{Existence, LevelTokens, WorkloadPage};

use crate::{DIRECTORY_PAGE, Mention, ReplayError, SpecificKind};

/// One version of the directory: the page that lists what was mentioned before `created`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryVersion {
    /// Its position in the workload's pages.
    pub page: usize,
    /// The turn it is built at (0, or a compaction); it exists until the next version.
    pub created: usize,
    /// It lists the first `listed` specifics of [`crate::Converted::mentioned`] (those
    /// mentioned before `created`).
    pub listed: usize,
}

impl DirectoryVersion {
    /// Whether the directory at `level` names `kind` together with the pages that hold it (so
    /// one `read_page` of the holder serves it; otherwise the directory must be read first).
    #[must_use]
    pub fn names_holders(level: Repr, kind: SpecificKind) -> bool {
        match level {
            Repr::Full => true,
            Repr::Compressed => kind != SpecificKind::Identifier,
            _ => false,
        }
    }
}

/// What a directory is built from.
pub(crate) struct DirectorySource<'a> {
    pub(crate) session: &'a str,
    pub(crate) mentioned: &'a [Mention],
    /// Page id → the turn that created it.
    pub(crate) created: &'a HashMap<PageId, usize>,
}

/// The page id of directory version `k`.
pub(crate) fn version_id(k: usize) -> String {
    if k == 0 {
        DIRECTORY_PAGE.to_owned()
    } else {
        format!("{DIRECTORY_PAGE}-{k}")
    }
}

/// Builds the version that exists over the turns `[created, retired)`: every specific
/// mentioned before `created`, in first-mention order, with the pages created before it that
/// hold it. Levels: `full` lists paths, commands and identifiers with their pages;
/// `compressed` paths and commands with their pages; `structured` paths and commands alone;
/// `pointer` names the directory. Commands are written JSON-escaped so a multi-line command
/// stays one line. A level never costs less than the one below it (it takes that level's text
/// instead), so the page satisfies the cost invariant.
pub(crate) fn build<C: TokenCounter>(
    src: &DirectorySource<'_>,
    builder: &RepresentationBuilder<C>,
    id: &str,
    created: usize,
    retired: Option<usize>,
) -> Result<(WorkloadPage, BTreeMap<Repr, String>, usize), ReplayError> {
    let id = PageId::new(id).map_err(|source| ReplayError::Id {
        session: src.session.to_owned(),
        source,
    })?;
    let mut counts = [0usize; 3];
    let (mut full, mut compressed, mut structured) = (String::new(), String::new(), String::new());
    let listed = src.mentioned.partition_point(|m| m.turn < created);
    for m in &src.mentioned[..listed] {
        let key = match m.kind {
            SpecificKind::Command => serde_json::Value::String(m.text.clone()).to_string(),
            _ => m.text.clone(),
        };
        let pages = m
            .holders
            .iter()
            .filter(|p| src.created.get(*p).is_some_and(|&c| c < created))
            .map(PageId::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let (tag, i) = match m.kind {
            SpecificKind::Path => ("path", 0),
            SpecificKind::Command => ("cmd", 1),
            SpecificKind::Identifier => ("id", 2),
        };
        counts[i] += 1;
        let line = format!("{tag} {key} -> {pages}\n");
        full.push_str(&line);
        if m.kind != SpecificKind::Identifier {
            compressed.push_str(&line);
            structured.push_str(&key);
            structured.push('\n');
        }
    }
    // The pointer is what stays resident: as short as a handle can be. The counts head the
    // structured form.
    let pointer = format!("[{id}]");
    let structured = format!(
        "{id}: {} paths, {} commands, {} identifiers\n{structured}",
        counts[0], counts[1], counts[2]
    );
    let counter = builder.counter();
    let mut texts = BTreeMap::new();
    let mut tokens = LevelTokens::default();
    let mut below: Option<(String, TokenCount)> = None;
    for (level, text) in [
        (Repr::Pointer, pointer),
        (Repr::Structured, structured),
        (Repr::Compressed, compressed),
        (Repr::Full, full),
    ] {
        let n = counter.count(&text);
        let (text, n) = match below.take() {
            Some((t, m)) if m.get() > n.get() => (t, m),
            _ => (text, n),
        };
        match level {
            Repr::Pointer => tokens.pointer = Some(n),
            Repr::Structured => tokens.structured = Some(n),
            Repr::Compressed => tokens.compressed = Some(n),
            _ => tokens.full = Some(n),
        }
        texts.insert(level, text.clone());
        below = Some((text, n));
    }
    let turn = |t: usize| u32::try_from(t).unwrap_or(u32::MAX);
    let page = WorkloadPage {
        id,
        page_type: PageType::Evidence,
        pin: Some(PinClass::Hard),
        min_fidelity: None,
        tokens,
        base_utility: page_engine::base_utility(PageType::Evidence),
        // Rebuilt from the store's pages, never by re-running a tool.
        recompute_cost: 1.0,
        scope: None,
        session: None,
        tool_signature: None,
        dirty: false,
        exists: Some(Existence {
            created: turn(created),
            retired: retired.map(turn),
        }),
    };
    Ok((page, texts, listed))
}
