//! Integration tests of page-core: one binary, one module per feature.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking on an unexpected error"
)]

mod props;
mod schema;
mod tables;
mod validation;

use std::collections::BTreeMap;

use page_core::{
    MessageId, PageId, PageSpec, PageType, Provenance, Repr, Representation, Scope, SessionId,
    TokenCount,
};

/// A spec of `page_type` with a representation of `tokens[level]` tokens for each given level.
pub(crate) fn spec(page_type: PageType, tokens: &[(Repr, u32)]) -> PageSpec {
    let reprs: BTreeMap<Repr, Representation> = tokens
        .iter()
        .map(|&(r, n)| {
            (
                r,
                Representation::new(format!("{r} text"), TokenCount::new(n)),
            )
        })
        .collect();
    PageSpec::new(
        PageId::new("p1").unwrap(),
        page_type,
        Scope::Session(SessionId::new("s1").unwrap()),
        Provenance::Transcript {
            first: MessageId::new("m1").unwrap(),
            last: MessageId::new("m2").unwrap(),
            start_ms: Some(1_700_000_000_000),
            end_ms: None,
        },
        reprs,
    )
}
