//! The five deterministic checks of a staged update (schema, page, scope and principal,
//! provenance, version), then the semantic validators: what `validate` and
//! `commit_boundary` decide each entry by.

use std::collections::BTreeMap;

use page_core::{
    Page, PageId, PageType, PinClass, Provenance, Scope, SessionPageTable, ToolCallId,
};
use serde_json::Value;

use crate::error::StoreError;
use crate::journal::{FieldState, JournalEntry, ReasonCode, Rejection, ValidatedUpdate};
use crate::ops::{OpError, apply_op};
use crate::store::Store;
use crate::update::{EvidenceRef, FieldPath, Op};

use super::Writeback;

struct PageFacts {
    page_type: PageType,
    scope: Scope,
    pin: PinClass,
}

impl PageFacts {
    fn of(p: &Page) -> Self {
        Self {
            page_type: p.page_type(),
            scope: p.scope().clone(),
            pin: p.pin(),
        }
    }
}

impl<S: Store> Writeback<S> {
    fn page_facts(
        &self,
        id: &PageId,
        pages: &SessionPageTable,
    ) -> Result<Option<PageFacts>, StoreError> {
        if let Some(p) = pages.get(id) {
            return Ok(Some(PageFacts::of(p)));
        }
        Ok(self.store.page(id)?.as_ref().map(PageFacts::of))
    }

    fn evidence_resolves(
        &self,
        evidence: &EvidenceRef,
        pages: &SessionPageTable,
    ) -> Result<bool, StoreError> {
        match evidence {
            EvidenceRef::Page(id) => Ok(pages.get(id).is_some() || self.store.page(id)?.is_some()),
            EvidenceRef::ToolCall(id) => {
                Ok(pages.iter().any(|p| is_call(p, id)) || self.store.tool_call_exists(id)?)
            }
        }
    }

    /// The five checks, in order, then the semantic validators. The outer `Result` is a store
    /// failure, the inner one the verdict.
    pub(super) fn check(
        &self,
        entry: &JournalEntry,
        pages: &SessionPageTable,
        overlay: &BTreeMap<(PageId, FieldPath), FieldState>,
    ) -> Result<Result<(ValidatedUpdate, FieldState), Rejection>, StoreError> {
        let u = entry.update();
        let reject = |code, detail: String| Ok(Err(Rejection::new(code, detail)));

        // 1. SCHEMA: size, page, field, JSON, shape.
        let len = u.value_json().len();
        if len > self.config.max_value_bytes {
            return reject(
                ReasonCode::Schema,
                format!(
                    "value is {len} bytes, the limit is {}",
                    self.config.max_value_bytes
                ),
            );
        }
        let Some(facts) = self.page_facts(u.page(), pages)? else {
            return reject(ReasonCode::Schema, format!("unknown page {}", u.page()));
        };
        let field = u.field();
        if field.as_str() != field.root() {
            return reject(
                ReasonCode::Schema,
                format!(
                    "nested field path {field} is not supported; write {}",
                    field.root()
                ),
            );
        }
        if !self.schemas.has_field(facts.page_type, field.as_str()) {
            return reject(
                ReasonCode::Schema,
                format!("{} has no field {:?}", facts.page_type, field.as_str()),
            );
        }
        let value: Value = if matches!(u.op(), Op::Remove) {
            Value::Null
        } else {
            match serde_json::from_str(u.value_json()) {
                Ok(v) => v,
                Err(e) => return reject(ReasonCode::Schema, format!("value is not JSON: {e}")),
            }
        };
        let key = (u.page().clone(), field.clone());
        let current = match overlay.get(&key) {
            Some(s) => Some(s.clone()),
            None => self.store.field(u.page(), field)?,
        };
        let mut destructive = None;
        let next = match apply_op(current.as_ref(), u.op(), &value) {
            Ok(next) => {
                if let Err(e) = self
                    .schemas
                    .check(facts.page_type, field.as_str(), &next.value)
                {
                    return reject(ReasonCode::Schema, e);
                }
                Some(next)
            }
            Err(OpError::Shape(e)) => return reject(ReasonCode::Schema, e),
            Err(OpError::Destructive(e)) => {
                if matches!(u.op(), Op::SetWithVersion { .. } | Op::Overwrite)
                    && let Err(e) = self.schemas.check(facts.page_type, field.as_str(), &value)
                {
                    return reject(ReasonCode::Schema, e);
                }
                destructive = Some(e);
                None
            }
        };

        // 2. PROVENANCE.
        if !self.evidence_resolves(u.evidence(), pages)? {
            return reject(
                ReasonCode::Provenance,
                format!("evidence {} does not resolve", u.evidence()),
            );
        }

        // 3. SCOPE_DENIED.
        if u.scope() != &facts.scope {
            return reject(
                ReasonCode::ScopeDenied,
                format!(
                    "page {} is in {}, the update claims {}",
                    u.page(),
                    facts.scope,
                    u.scope()
                ),
            );
        }
        if !self.access.allows(u.principal(), u.scope()) {
            return reject(
                ReasonCode::ScopeDenied,
                format!("principal {} may not write {}", u.principal(), u.scope()),
            );
        }

        // 4. DESTRUCTIVE_OP.
        let (Some(next), None) = (next, &destructive) else {
            let detail = destructive.unwrap_or_else(|| "op is destructive".to_owned());
            return reject(ReasonCode::DestructiveOp, detail);
        };

        // 5. POLICY.
        if facts.pin == PinClass::Hard
            && let Some(cur) = &current
            && let Some(lost) = dropped(&cur.value, &next.value)
        {
            return reject(
                ReasonCode::Policy,
                format!(
                    "{} on hard-pinned page {} would drop {lost} from {field}",
                    u.op().code(),
                    u.page()
                ),
            );
        }

        for v in &self.validators {
            if let Err(e) = v.check(u, &value, &next) {
                return reject(ReasonCode::Semantic, format!("{}: {e}", v.name()));
            }
        }
        Ok(Ok((
            ValidatedUpdate::new(entry.id(), u.clone(), value, facts.page_type),
            next,
        )))
    }
}

fn is_call(p: &Page, id: &ToolCallId) -> bool {
    matches!(p.provenance(), Provenance::ToolCall { call_id, .. } if call_id == id)
}

/// What of `old` is missing from `new`, if anything: a hard-pinned page's content may grow or
/// change, never shrink.
fn dropped(old: &Value, new: &Value) -> Option<String> {
    match (old, new) {
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .find(|item| !b.contains(item))
            .map(|item| format!("list item {item}")),
        (Value::Object(a), Value::Object(b)) => a
            .keys()
            .find(|k| !b.contains_key(*k))
            .map(|k| format!("key {k:?}")),
        (Value::String(a), Value::String(b)) if !a.is_empty() && b.is_empty() => {
            Some("its text".to_owned())
        }
        (Value::Null, _) | (_, Value::Null) => (!old.is_null()).then(|| "its value".to_owned()),
        _ => None,
    }
}
