//! Field schemas per page type: generated from Rust types with schemars, checked with
//! jsonschema, offline only.
//!
//! Each page type has a field document (a plan's `goal`, `current_step`, `steps`; an evidence
//! page's `tool`, `args`, `status`, …). The document types below exist only to generate
//! their JSON Schema; validation checks one field's value at a time against the `properties`
//! entry of that field, with the document's `$defs` alongside.

use std::collections::BTreeMap;

use jsonschema::Validator;
use page_core::{MessageId, PageType, ScopeKind};
use schemars::{JsonSchema, schema_for};
use serde_json::{Map, Value};

use crate::error::SchemaError;

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "only its generated schema is used")]
struct RulesFields {
    /// The rules, in the order they were given.
    #[schemars(length(max = 512), inner(length(min = 1, max = 4096)))]
    rules: Vec<String>,
    /// Where the rules come from (a file, the user).
    #[schemars(length(max = 1024))]
    source: String,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[expect(dead_code, reason = "only its generated schema is used")]
enum PlanStatus {
    Active,
    Done,
    Abandoned,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "only its generated schema is used")]
struct PlanFields {
    /// What the task is for.
    #[schemars(length(min = 1, max = 4096))]
    goal: String,
    /// Index into `steps` of the step being worked on.
    current_step: u32,
    /// The steps, in order.
    #[schemars(length(max = 256), inner(length(min = 1, max = 4096)))]
    steps: Vec<String>,
    /// Whether the plan is still being followed.
    status: PlanStatus,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "only its generated schema is used")]
struct PreferenceFields {
    /// What the preference is about.
    #[schemars(length(min = 1, max = 256))]
    key: String,
    /// The preferred value: any JSON value.
    value: Value,
    /// Whether it holds for the session or the project.
    scope: ScopeKind,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[expect(dead_code, reason = "only its generated schema is used")]
enum EvidenceStatus {
    Ok,
    Error,
    Partial,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "only its generated schema is used")]
struct EvidenceFields {
    /// The tool that produced the evidence.
    #[schemars(length(min = 1, max = 256))]
    tool: String,
    /// Its arguments.
    args: BTreeMap<String, Value>,
    /// How the call ended.
    status: EvidenceStatus,
    /// Files the evidence is about.
    #[schemars(length(max = 1024), inner(length(min = 1, max = 4096)))]
    paths: Vec<String>,
    /// What was learned.
    #[schemars(length(max = 16384))]
    summary: String,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "only its generated schema is used")]
struct Span {
    first: MessageId,
    last: MessageId,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "only its generated schema is used")]
struct ConversationFields {
    /// The messages covered.
    span: Span,
    /// The conversation text (or its summary).
    #[schemars(length(max = 65536))]
    text: String,
}

/// The JSON Schema of a page type's field document, generated from the Rust types above.
#[must_use]
pub fn builtin_schema(page_type: PageType) -> Value {
    match page_type {
        PageType::Bootstrap | PageType::Constraint => schema_for!(RulesFields),
        PageType::Plan => schema_for!(PlanFields),
        PageType::Preference => schema_for!(PreferenceFields),
        PageType::Evidence => schema_for!(EvidenceFields),
        PageType::Conversation => schema_for!(ConversationFields),
    }
    .to_value()
}

/// Compiled validators for every field of every page type.
///
/// Built once (compiling is the slow part) and shared; validation is then a lookup and a walk
/// of the value. Validation is offline: a schema with a `$ref` to anything but itself is refused
/// at build time, and the validators are built with jsonschema's offline retriever as well.
pub struct FieldSchemas {
    fields: BTreeMap<PageType, BTreeMap<String, Validator>>,
}

impl std::fmt::Debug for FieldSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (t, fields) in &self.fields {
            m.entry(t, &fields.keys().collect::<Vec<_>>());
        }
        m.finish()
    }
}

impl FieldSchemas {
    /// The schemas generated from this crate's field document types.
    ///
    /// # Errors
    /// [`SchemaError`] if a generated schema does not compile (a bug, caught by the tests).
    pub fn builtin() -> Result<Self, SchemaError> {
        Self::from_schemas(PageType::ALL.map(|t| (t, builtin_schema(t))))
    }

    /// Compiles caller-supplied document schemas (an object schema with `properties` per page
    /// type). Page types left out accept no field.
    ///
    /// # Errors
    /// [`SchemaError::RemoteRef`] for a `$ref` that is not local, [`SchemaError::NoProperties`]
    /// for a schema without `properties`, [`SchemaError::Invalid`] for one jsonschema refuses.
    pub fn from_schemas(
        schemas: impl IntoIterator<Item = (PageType, Value)>,
    ) -> Result<Self, SchemaError> {
        let mut fields = BTreeMap::new();
        for (page_type, schema) in schemas {
            let props = schema
                .get("properties")
                .and_then(Value::as_object)
                .ok_or(SchemaError::NoProperties { page_type })?;
            let defs = schema.get("$defs").cloned();
            let dialect = schema.get("$schema").cloned();
            let mut compiled = BTreeMap::new();
            for (field, sub) in props {
                if let Some(reference) =
                    find_remote_ref(sub).or_else(|| defs.as_ref().and_then(find_remote_ref))
                {
                    return Err(SchemaError::RemoteRef {
                        page_type,
                        field: field.clone(),
                        reference,
                    });
                }
                let mut doc = Map::new();
                if let Some(d) = &dialect {
                    doc.insert("$schema".to_owned(), d.clone());
                }
                if let Some(d) = &defs {
                    doc.insert("$defs".to_owned(), d.clone());
                }
                doc.insert("allOf".to_owned(), Value::Array(vec![sub.clone()]));
                let validator = jsonschema::options()
                    .offline()
                    .build(&Value::Object(doc))
                    .map_err(|e| SchemaError::Invalid {
                        page_type,
                        field: field.clone(),
                        message: e.to_string(),
                    })?;
                compiled.insert(field.clone(), validator);
            }
            fields.insert(page_type, compiled);
        }
        Ok(Self { fields })
    }

    /// Whether `page_type` has a field named `field`.
    #[must_use]
    pub fn has_field(&self, page_type: PageType, field: &str) -> bool {
        self.fields
            .get(&page_type)
            .is_some_and(|f| f.contains_key(field))
    }

    /// The fields of `page_type`, sorted.
    pub fn fields(&self, page_type: PageType) -> impl Iterator<Item = &str> {
        self.fields
            .get(&page_type)
            .into_iter()
            .flat_map(|f| f.keys().map(String::as_str))
    }

    /// Checks a whole field document of `page_type`: an object holding every field of the
    /// type and no other, each valid. This is how a model-written structured representation
    /// is held to the same schema as the updates the journal validates.
    ///
    /// # Errors
    /// The first problem: not an object, a missing or unknown field, or a field's violation.
    pub fn check_document(&self, page_type: PageType, doc: &Value) -> Result<(), String> {
        let Value::Object(map) = doc else {
            return Err(format!("a {page_type} document must be a JSON object"));
        };
        for field in self.fields(page_type) {
            if !map.contains_key(field) {
                return Err(format!("{page_type} document lacks the field {field:?}"));
            }
        }
        for (field, value) in map {
            self.check(page_type, field, value)?;
        }
        Ok(())
    }

    /// Checks `value` against the schema of `page_type.field`; the error names the first
    /// violation and where it is.
    pub(crate) fn check(
        &self,
        page_type: PageType,
        field: &str,
        value: &Value,
    ) -> Result<(), String> {
        let Some(validator) = self.fields.get(&page_type).and_then(|f| f.get(field)) else {
            return Err(format!("{page_type} has no field {field:?}"));
        };
        match validator.validate(value) {
            Ok(()) => Ok(()),
            Err(e) => {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() {
                    String::new()
                } else {
                    format!(" at {at}")
                };
                Err(format!("{page_type}.{field}{at}: {}", e.masked()))
            }
        }
    }
}

/// The first `$ref` / `$dynamicRef` in `v` that does not point inside the document.
fn find_remote_ref(v: &Value) -> Option<String> {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                if (k == "$ref" || k == "$dynamicRef")
                    && let Value::String(s) = val
                    && !s.starts_with('#')
                {
                    return Some(s.clone());
                }
                if let Some(r) = find_remote_ref(val) {
                    return Some(r);
                }
            }
            None
        }
        Value::Array(items) => items.iter().find_map(find_remote_ref),
        _ => None,
    }
}
